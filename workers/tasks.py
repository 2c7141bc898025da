"""Celery tasks: thin callers of ``engine``. Each takes ids (and an optional ISO ``now`` so tests and
benchmarks can drive time across processes) and is safe to run twice."""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime

from engine import clock, outbox, reminders, routine_config, schedules, timers
from engine.app import Delaktig
from engine.errors import Conflict
from engine.mailer import from_env as mailer_from_env
from workers.celery_app import MAX_COUNTDOWN, app

log = logging.getLogger(__name__)
WAKE_BATCH = int(os.environ.get("DELAKTIG_WAKE_BATCH") or 100)
RELAY_BATCH = int(os.environ.get("DELAKTIG_RELAY_BATCH") or 50)
ARM_WITHIN = min(float(os.environ.get("DELAKTIG_ARM_SECONDS") or 15), MAX_COUNTDOWN)

_engine: Delaktig | None = None
_engine_pid: int | None = None
_lock = threading.Lock()


def engine() -> Delaktig:
    """One engine per process (created after a prefork child starts, never shared across a fork)."""
    global _engine, _engine_pid
    with _lock:
        if _engine is None or _engine_pid != os.getpid():
            _engine, _engine_pid = Delaktig.from_env(), os.getpid()
        return _engine


def _now(now: str | None) -> datetime | None:
    return datetime.fromisoformat(now) if now else None


# --- exact-time wake-ups --------------------------------------------------------------------------------
class _Armed:
    """Remembers which (case, due) wake-ups were enqueued, so a timer is armed once, not every tick.
    Redis (shared by all workers) when the broker is Redis; otherwise this process's memory."""

    def __init__(self) -> None:
        self.local: dict[str, float] = {}
        self.redis = None
        url = app.conf.broker_url or ""
        if url.startswith(("redis://", "rediss://")):
            import redis

            self.redis = redis.Redis.from_url(url, socket_timeout=2)

    def first(self, key: str) -> bool:
        if self.redis is not None:
            try:
                prefix = os.environ.get("DELAKTIG_REDIS_PREFIX", "")
                return bool(self.redis.set(f"{prefix}delaktig:armed:{key}", 1, nx=True, ex=MAX_COUNTDOWN * 2))
            except Exception:  # noqa: BLE001 - Redis down: the tick still wakes it a moment later
                return False
        stamp = time.monotonic()
        if len(self.local) > 10000:
            self.local = {k: v for k, v in self.local.items() if stamp - v < MAX_COUNTDOWN * 2}
        if key in self.local:
            return False
        self.local[key] = stamp
        return True


_armed: _Armed | None = None


def arm(case_id: str, due: datetime | None) -> bool:
    """Enqueue a wake-up at the timer's exact time when it is near (after the commit that set it)."""
    global _armed
    if due is None:
        return False
    delay = (due - clock.now()).total_seconds()
    if delay > ARM_WITHIN:
        return False
    _armed = _armed or _Armed()
    if not _armed.first(f"{case_id}:{due.isoformat()}"):
        return False
    # SpiffWorkflow fires a timer when its due time is strictly before now: a few ms past it.
    wake_case.apply_async(args=[case_id], countdown=min(max(delay, 0) + 0.005, MAX_COUNTDOWN))
    return True


@app.task(name="delaktig.tick")
def tick(now: str | None = None) -> int:
    """Wake every case whose next timer is due (in due order, SKIP LOCKED), then arm the near ones."""
    d = engine()
    moment = _now(now)
    woken = d.wake_due_cases(moment, limit=WAKE_BATCH)
    if woken >= WAKE_BATCH:
        tick.delay(now)  # more due than one batch: another worker continues in parallel
    if now is None:
        for case_id, due in timers.upcoming(d, ARM_WITHIN):
            arm(case_id, due)
    return woken


@app.task(name="delaktig.wake_case")
def wake_case(case_id: str, now: str | None = None) -> bool:
    d = engine()
    try:
        woken = d.wake_case(case_id, _now(now))
    except Conflict:
        woken = False  # another worker is on it
    if now is None:
        arm(case_id, timers.next_timer(d, case_id))
    return woken


# --- mail -------------------------------------------------------------------------------------------------
@app.task(name="delaktig.relay_outbox")
def relay_outbox(now: str | None = None) -> int:
    result = outbox.relay_batch(engine(), mailer_from_env(), _now(now), limit=RELAY_BATCH)
    if result.claimed >= RELAY_BATCH and not result.relay_down:
        relay_outbox.delay(now)  # a full batch: more are waiting, let any free worker continue
    return result.sent


@app.task(name="delaktig.intake_housekeeping")
def intake_housekeeping() -> dict:
    """Initiatives: follow their cases' states (and mail the initiator), purge contact data past retention,
    drop old idempotency keys, queue the twice-yearly report of unanswered initiatives."""
    from engine.initiatives import IntakeConfig, housekeeping

    return housekeeping(engine(), IntakeConfig.from_env())


@app.task(name="delaktig.scan_reminders")
def scan_reminders(now: str | None = None) -> int:
    d, config = engine(), routine_config.load()
    created = reminders.notify_assignments(d, config, _now(now)) + reminders.scan(d, config, _now(now))
    if created:
        relay_outbox.delay(now)
    return created


@app.task(name="delaktig.send_digests")
def send_digests(now: str | None = None) -> int:
    sent = reminders.send_digests(engine(), _now(now))
    if sent:
        relay_outbox.delay(now)
    return sent


# --- scheduled routines -------------------------------------------------------------------------------------
@app.task(name="delaktig.run_schedules")
def run_schedules(now: str | None = None) -> list[str]:
    started = schedules.run_due(engine(), routine_config.load(), _now(now))
    for s in started:
        log.info("schema %s: ärende %s startat för %s", s.schedule_key, s.case_id, s.occurrence)
    return [s.case_id for s in started]


@app.task(name="delaktig.start_routine")
def start_routine(schedule_key: str, actor: str = "system") -> str:
    return schedules.start_now(engine(), routine_config.load(), schedule_key, actor).case_id


# --- signals ------------------------------------------------------------------------------------------------
@app.task(name="delaktig.deliver_signals")
def deliver_signals() -> int:
    """BPMN signals a case threw that its own process did not deliver right after the commit (a crash, a
    busy receiver): ``engine.signals``. Idempotent: no case gets one signal twice."""
    return len(engine().deliver_pending_signals())
