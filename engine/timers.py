"""Queries the timer workers need besides ``Delaktig.wake_due_cases``: timers that are about to fire, and
what happens when a case's timer step fails.

The queries use the index on ``case.next_timer_at`` with a range, so their cost depends on how many timers
are due soon, not on how many cases wait.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from engine import audit, clock
from engine.models import AuditEvent, Case
from engine.personal import scrub


def upcoming(d, within: float, now: datetime | None = None, limit: int = 1000) -> list[tuple[str, datetime]]:
    """(case id, next timer) of active cases whose next timer falls in (now, now + within seconds]."""
    now = now or clock.now()
    with d.session() as s:
        rows = s.execute(
            sa.select(Case.id, Case.next_timer_at)
            .where(
                Case.next_timer_at > now,
                Case.next_timer_at <= now + timedelta(seconds=within),
                Case.status == "active",
            )
            .order_by(Case.next_timer_at)
            .limit(limit)
        )
        return [(r.id, r.next_timer_at) for r in rows]


def next_timer(d, case_id: str) -> datetime | None:
    with d.session() as s:
        return s.execute(
            sa.select(Case.next_timer_at).where(Case.id == case_id, Case.status == "active")
        ).scalar()


# After a failed timer step, the case's timers are tried again after these waits (the last one repeats):
# as Camunda's job executor retries a failed timer job, but never gives up for good — a timer whose
# failure a later release or a changed variable mends fires on its own.
RETRY_AFTER = (timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2), timedelta(days=1))
TIMER_FAILED = "timer_failed"


def next_try(now: datetime, attempt: int) -> datetime:
    """When a step that failed for the ``attempt``-th time (1, 2, …) is tried again: ``RETRY_AFTER``. The
    policy of failed timers, and of signal receivers whose step failed (``engine.signals``)."""
    return now + RETRY_AFTER[min(attempt, len(RETRY_AFTER)) - 1]


def record_failure(s, case_id: str, now: datetime, error: str, element_id: str | None) -> datetime | None:
    """A case whose due timers could not fire (its step was rolled back): an audit row says which
    attempt failed, where and why, and its ``next_timer_at`` moves to the next try, so the timer workers
    go on with the other cases instead of meeting this one first at every tick. None if the case has
    moved on meanwhile (another step saved it: its own next_timer_at stands)."""
    case = s.execute(
        sa.select(Case.next_timer_at, Case.audit_seq, Case.data).where(
            Case.id == case_id, Case.status == "active"
        )
    ).first()
    if case is None or case.next_timer_at is None or case.next_timer_at > now:
        return None
    last = s.execute(
        sa.select(AuditEvent.kind, AuditEvent.detail).where(
            AuditEvent.chain == case_id, AuditEvent.seq == case.audit_seq
        )
    ).first()
    attempt = (
        (last.detail or {}).get("attempt", 0) + 1 if last is not None and last.kind == TIMER_FAILED else 1
    )
    retry_at = next_try(now, attempt)
    # An error may quote a value (a JUEL error, a script's own message): personal data never reaches
    # the append-only log (engine.personal).
    detail = {
        "attempt": attempt,
        "error": scrub(error, case.data or {})[:500],
        "retry_at": retry_at.isoformat(),
    }
    audit.append_case_event(s, case_id, "system", TIMER_FAILED, detail, element_id)
    s.execute(sa.update(Case).where(Case.id == case_id).values(next_timer_at=retry_at))
    return retry_at
