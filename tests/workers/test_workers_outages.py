"""Real Celery workers when a dependency hangs or vanishes (probe 8, F2 and F3): a hung SMTP server must
not stop timers, and a worker must survive Redis being killed and come back to work."""

from __future__ import annotations

import time
from datetime import timedelta

import sqlalchemy as sa
import yaml
from conftest import ROOT, deploy, wait_for, worker_env

from engine import clock
from engine.models import Case, Outbox


def completed(d, ids) -> bool:
    with d.session() as s:
        done = s.execute(
            sa.select(sa.func.count()).where(Case.id.in_(ids), Case.status == "completed")
        ).scalar()
    return done == len(ids)


def outbox_rows(d) -> list[Outbox]:
    with d.session() as s:
        return s.execute(sa.select(Outbox).order_by(Outbox.id)).scalars().all()


def insert_mail(d, n: int) -> None:
    now = clock.now()
    d.transaction(
        lambda s: s.execute(
            sa.insert(Outbox),
            [
                {
                    "dedupe_key": f"bulk{i}",
                    "kind": "email",
                    "payload": {"to": f"p{i}@example.se", "subject": "Hej", "body": "."},
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for i in range(n)
            ],
        )
    )


def test_hung_smtp_server_does_not_stop_timers_and_the_outage_shows(pg_d, pg_url, blackhole, redis_db, procs):
    """The SMTP server accepts connections and never answers. With the workers as production runs
    them (one for ``timers``, one for ``mail``), every timer still fires, and each mail row shows the
    outage in ``last_error`` and ``attempts``."""
    d = pg_d
    deploy(d, "timer")
    insert_mail(d, 120)
    env = worker_env(
        pg_url,
        None,
        redis_db,
        DELAKTIG_MAILER="smtp",
        DELAKTIG_SMTP_HOST="127.0.0.1",
        DELAKTIG_SMTP_PORT=str(blackhole.port),
        DELAKTIG_SMTP_TIMEOUT="4",
    )
    procs("worker", env, "-Q", "timers", "--concurrency=2")
    procs("worker", env, "-Q", "mail", "--concurrency=2")
    procs("beat", env)
    wait_for(lambda: blackhole.conns, 30, what="the relay connecting to the hung server")
    dues = [clock.now() + timedelta(seconds=s) for s in (3, 8, 15)]
    ids = [d.start_case("test_timer", variables={"due": due.isoformat()}).id for due in dues]
    wait_for(lambda: completed(d, ids), 90, interval=0.5, what="the timers while SMTP hangs")

    def outage_recorded():
        return all(r.attempts >= 1 and "RelayUnavailable" in (r.last_error or "") for r in outbox_rows(d))

    wait_for(outage_recorded, 120, interval=1, what="every mail row to record the outage")
    assert {r.status for r in outbox_rows(d)} == {"pending"}


def test_production_and_embedded_run_a_worker_per_queue():
    """A worker consuming both queues could have every process waiting on mail; so each queue has its
    own worker in docker compose and in ``delaktig up``."""
    from workers import embedded

    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]

    def queues(command: list[str]) -> str:
        return command[command.index("-Q") + 1]

    assert queues(services["worker"]["command"]) == "timers"
    assert queues(services["mail-worker"]["command"]) == "mail"
    for name in ("worker", "mail-worker", "beat"):
        assert services[name]["restart"] == "unless-stopped"  # F2: the supervisor restarts them
    workers = [c for c in embedded.commands() if "worker" in c]
    assert sorted(queues(c) for c in workers) == ["mail", "timers"]


def test_worker_survives_redis_killed_and_serves_again(pg_d, pg_url, smtp, own_redis, procs):
    """kill -9 of Redis while the worker holds an unacknowledged task (a relay on a slow SMTP server):
    the worker used to stop for good (kombu: AttributeError … 'hostname'). It must reconnect."""
    d = pg_d
    deploy(d, "skicka", "timer")
    env = worker_env(pg_url, smtp, own_redis.url, DELAKTIG_OUTBOX_LEASE="10")
    worker = procs("worker", env, "--concurrency=2")
    procs("beat", env)
    smtp.delay = 3  # the relay task is running (unacknowledged) when Redis goes
    d.start_case("test_skicka", business_key="INI-1", variables={"email": "a@example.se"})
    wait_for(lambda: any(r.status == "sending" for r in outbox_rows(d)), 30, what="a relay in flight")
    own_redis.kill9()
    wait_for(lambda: "Connection to broker lost" in worker.log.read_text(errors="replace"), 30)
    time.sleep(3)
    assert worker.p.poll() is None, worker.tail()
    smtp.delay = 0
    own_redis.start()
    due = clock.now() + timedelta(seconds=3)
    case = d.start_case("test_timer", variables={"due": due.isoformat()})
    wait_for(lambda: completed(d, [case.id]), 90, interval=0.5, what="a timer after Redis came back")
    wait_for(lambda: smtp.messages, 60, what="the mail")
    d.start_case("test_skicka", business_key="INI-2", variables={"email": "b@example.se"})
    wait_for(lambda: "b@example.se" in smtp.to(), 60, what="mail written after Redis came back")
    assert sorted(set(smtp.to())) == ["a@example.se", "b@example.se"]
    assert worker.p.poll() is None and "Unrecoverable error" not in worker.log.read_text(errors="replace")
