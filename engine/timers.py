"""Queries the timer workers need besides ``Delaktig.wake_due_cases``: timers that are about to fire.

Both use the index on ``case.next_timer_at`` with a range, so their cost depends on how many timers are
due soon, not on how many cases wait.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from engine import clock
from engine.models import Case


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
