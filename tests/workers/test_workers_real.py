"""Real Celery worker and beat processes on real Redis and PostgreSQL, mail to a real SMTP server."""

from __future__ import annotations

import time
from datetime import timedelta

import sqlalchemy as sa
from conftest import deploy, wait_for, worker_env

from engine import clock
from engine.models import AuditEvent, Case, Outbox, UserTask


def _audit(d, kind):
    with d.session() as s:
        return s.execute(sa.select(AuditEvent).where(AuditEvent.kind == kind)).scalars().all()


def _reminder_rows(d):
    from engine.reminder_models import Reminder

    with d.session() as s:
        rows = s.execute(sa.select(Reminder)).scalars().all()
        events = s.execute(sa.select(AuditEvent.id, AuditEvent.kind, AuditEvent.at)).all()
        return [(r.dedupe_key, r.created_at) for r in rows], events


def _outbox(d):
    with d.session() as s:
        return s.execute(sa.select(Outbox).order_by(Outbox.id)).scalars().all()


def test_overdue_reminder_arrives_exactly_once_even_with_two_beats(pg_d, pg_url, smtp, redis_db, procs):
    d = pg_d
    deploy(d, "arlig")
    d.add_user("hanna", "pw-hanna-1", ["handlaggare"], email="hanna@kommun.se")
    clock.set(clock.now() - timedelta(days=10))  # the task was created ten days ago: now overdue
    case = d.start_case("test_arlig")
    clock.reset()
    env = worker_env(pg_url, smtp, redis_db)
    procs("worker", env, "--concurrency=2")
    beats = [procs("beat", env), procs("beat", env)]
    wait_for(lambda: smtp.messages, 40, what="the reminder mail")
    time.sleep(3.5)  # three more reminder scans and several relay ticks
    assert smtp.to() == ["hanna@kommun.se"], _reminder_rows(d)
    assert str(smtp.messages[0]["Subject"]) == "Försenad uppgift: Se över rutinen"
    sent = _audit(d, "reminder_sent")
    assert [(e.case_id, e.detail["reminder"]) for e in sent] == [(case.id, "overdue")]
    leaders = [b.tail().count("leder nu") for b in beats]
    assert sorted(leaders) == [0, 1], [b.tail() for b in beats]
    assert d.verify_audit() == []


def test_kill_9_worker_mid_batch_every_reminder_exactly_once(pg_d, pg_url, smtp, redis_db, procs):
    d = pg_d
    n = 240
    now = clock.now()
    d.transaction(
        lambda s: s.execute(
            sa.insert(Outbox),
            [
                {
                    "dedupe_key": f"rem:test:{i}",
                    "kind": "email",
                    "case_id": None,
                    "payload": {"to": f"u{i}@kommun.se", "subject": f"Påminnelse {i}", "body": "Hej!"},
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for i in range(n)
            ],
        )
    )
    smtp.delay = 0.02  # slow enough that the kill lands mid-batch
    env = worker_env(pg_url, smtp, redis_db, DELAKTIG_OUTBOX_LEASE="3", DELAKTIG_RELAY_BATCH="20")
    worker = procs("worker", env, "--concurrency=2")
    procs("beat", env)
    wait_for(lambda: len(smtp.messages) >= 20, 40, interval=0.02, what="the first mails of the batch")
    worker.kill9()  # mid-batch: claimed rows stay "sending" until their lease ends
    received_at_kill = len(smtp.messages)
    assert received_at_kill < n
    with d.session() as s:  # what the dead worker left: claimed rows ("sending") and untouched ones
        left = s.execute(sa.select(sa.func.count()).where(Outbox.status != "sent")).scalar()
    assert left > 0
    again = procs("worker", env, "--concurrency=2")
    try:
        wait_for(lambda: len(smtp.messages) >= n, 60, what="all mails after the restart")
    except AssertionError:
        from collections import Counter

        print(Counter((r.status, r.attempts, r.last_error) for r in _outbox(d)), len(smtp.messages))
        print(again.tail())
        raise
    time.sleep(4)  # past the lease: anything left over would be sent again now
    ids = smtp.ids()
    assert len(ids) == n and len(set(ids)) == n
    assert sorted(smtp.to()) == sorted(f"u{i}@kommun.se" for i in range(n))
    assert {r.status for r in _outbox(d)} == {"sent"}


def test_smtp_refusing_for_a_while_is_retried_and_delivered(pg_d, pg_url, smtp, redis_db, procs):
    d = pg_d
    deploy(d, "skicka")
    smtp.refuse_first = 3
    d.start_case("test_skicka", business_key="INI-9", variables={"email": "medborgare@example.se"})
    env = worker_env(pg_url, smtp, redis_db, DELAKTIG_OUTBOX_BACKOFF="0.5", DELAKTIG_REMINDER_SECONDS="600")
    procs("worker", env, "--concurrency=2")
    procs("beat", env)
    wait_for(lambda: smtp.messages, 40, what="delivery after the refusals")
    time.sleep(1.5)
    assert smtp.refused == 3 and smtp.to() == ["medborgare@example.se"]
    (row,) = _outbox(d)
    assert row.status == "sent" and row.attempts >= 3 and row.last_error is None


def test_timer_fires_within_two_seconds_of_its_due_time(pg_d, pg_url, redis_db, procs):
    d = pg_d
    deploy(d, "timer")
    env = worker_env(pg_url, None, redis_db, DELAKTIG_TICK_SECONDS="1")
    procs("worker", env, "--concurrency=2")
    procs("beat", env)
    time.sleep(2)
    dues = [clock.now() + timedelta(seconds=s) for s in (3, 4, 4.5)]
    ids = [d.start_case("test_timer", variables={"due": due.isoformat()}).id for due in dues]

    def done():
        with d.session() as s:
            return (
                s.execute(
                    sa.select(sa.func.count()).where(Case.id.in_(ids), Case.status == "completed")
                ).scalar()
                == 3
            )

    wait_for(done, 30, what="the timers")
    fired = {e.case_id: e.at for e in _audit(d, "timer_fired")}
    lateness = [(fired[i] - due).total_seconds() for i, due in zip(ids, dues, strict=True)]
    assert all(0 <= late <= 2 for late in lateness), lateness


def test_redis_stopped_web_work_is_accepted_and_mail_goes_out_when_it_is_back(
    pg_d, pg_url, smtp, own_redis, procs
):
    d = pg_d
    deploy(d, "skicka")
    d.add_user("hanna", "pw-hanna-1", ["handlaggare"])
    env = worker_env(pg_url, smtp, own_redis.url, DELAKTIG_REMINDER_SECONDS="600")
    procs("worker", env, "--concurrency=2")
    procs("beat", env)
    d.start_case("test_skicka", business_key="INI-1", variables={"email": "a@example.se"})
    wait_for(lambda: smtp.messages, 30, what="the first mail while Redis runs")
    own_redis.stop()
    # The web tier needs no Redis: an initiative and a task completion are accepted meanwhile.
    case = d.start_case("test_skicka", business_key="INI-2", variables={"email": "b@example.se"})
    with d.session() as s:
        task_id = s.execute(sa.select(UserTask.id).where(UserTask.case_id == case.id)).scalar_one()
    d.complete_task(task_id, "hanna", {})
    time.sleep(2)
    assert smtp.to() == ["a@example.se"]
    own_redis.start()
    wait_for(lambda: len(smtp.messages) >= 2, 60, what="the mail written while Redis was down")
    assert sorted(smtp.to()) == ["a@example.se", "b@example.se"]
    with d.session() as s:
        assert s.get(Case, case.id).status == "completed"
