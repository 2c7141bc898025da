"""The Celery app: broker from the environment, JSON only, the beat schedule.

Broker: ``CELERY_BROKER_URL``, else ``REDIS_URL`` (production), else kombu's SQLAlchemy transport on a
SQLite file in the data directory (the embedded mode). Tasks take ids and are idempotent (the engine's
row locks and unique keys make a second run a no-op), so they are acknowledged late and re-delivered when
a worker dies. No task is ever delayed longer than ``MAX_COUNTDOWN``, far below Redis' visibility timeout:
long waits live in the database (``next_timer_at``, ``outbox.next_attempt_at``, reminder due dates).

Two queues: ``mail`` carries only the outbox relay (the one task that talks to an SMTP server and can
wait on it), ``timers`` everything else. A worker started without ``-Q`` consumes both; production and
``delaktig up`` run a separate small worker for ``mail``, so a hung or slow SMTP server can occupy only
that worker's processes and timers keep firing (docs/workers.md).
"""

from __future__ import annotations

import os

from celery import Celery
from kombu import Exchange, Queue

from engine.config import default_data_dir

VISIBILITY_TIMEOUT = 3600  # seconds; Redis re-delivers an unacknowledged task after this
MAX_COUNTDOWN = 60  # the longest countdown/eta any task uses (exact-time timer wake-ups)
TIMERS_QUEUE, MAIL_QUEUE = "timers", "mail"


def _seconds(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


def broker_url() -> str:
    return (
        os.environ.get("CELERY_BROKER_URL")
        or os.environ.get("REDIS_URL")
        or f"sqla+sqlite:///{default_data_dir() / 'broker.db'}"
    )


def beat_schedule() -> dict:
    def every(task: str, env: str, default: float) -> dict:
        interval = _seconds(env, default)
        # A tick that waited longer than two intervals is stale: the next one does the same work.
        return {"task": task, "schedule": interval, "options": {"expires": max(interval * 2, 2.0)}}

    return {
        "wake-due-timers": every("delaktig.tick", "DELAKTIG_TICK_SECONDS", 1.0),
        "relay-outbox": every("delaktig.relay_outbox", "DELAKTIG_RELAY_SECONDS", 2.0),
        "scan-reminders": every("delaktig.scan_reminders", "DELAKTIG_REMINDER_SECONDS", 60.0),
        "run-schedules": every("delaktig.run_schedules", "DELAKTIG_SCHEDULE_SECONDS", 60.0),
        "send-digests": every("delaktig.send_digests", "DELAKTIG_DIGEST_SECONDS", 300.0),
        "intake-housekeeping": every("delaktig.intake_housekeeping", "DELAKTIG_INTAKE_SECONDS", 120.0),
        "deliver-signals": every("delaktig.deliver_signals", "DELAKTIG_SIGNAL_SECONDS", 5.0),
    }


def make_app() -> Celery:
    app = Celery("delaktig", include=["workers.tasks"])
    url = broker_url()
    transport_options: dict = {"visibility_timeout": VISIBILITY_TIMEOUT}
    if os.environ.get("DELAKTIG_REDIS_PREFIX"):
        # Several deployments (or test runs) on one Redis database keep apart by key prefix.
        transport_options["global_keyprefix"] = os.environ["DELAKTIG_REDIS_PREFIX"]
    if url.startswith("sqla+"):
        # kombu hands these to SQLAlchemy's create_engine: wait for SQLite's lock instead of failing.
        transport_options = {"connect_args": {"timeout": 30}}
    if url.startswith(("redis://", "rediss://")):
        # kombu's Redis transport with the fix that keeps a worker alive when Redis goes away.
        app.conf.broker_transport = "workers.redis_transport:Transport"
    app.conf.update(
        broker_url=url,
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        # Keep reconnecting for as long as the broker is away (the default gives up after 100 tries).
        broker_connection_max_retries=None,
        # Each queue its own exchange and routing key: with Celery's defaults both would share one.
        task_queues=[Queue(q, Exchange(q), routing_key=q) for q in (TIMERS_QUEUE, MAIL_QUEUE)],
        task_default_queue=TIMERS_QUEUE,
        task_routes={"delaktig.relay_outbox": {"queue": MAIL_QUEUE}},
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=4,
        worker_hijack_root_logger=False,
        enable_utc=True,
        timezone="Europe/Stockholm",
        beat_scheduler="workers.beat:LeaderScheduler",
        beat_schedule=beat_schedule(),
        beat_max_loop_interval=5,
    )
    return app


app = make_app()
