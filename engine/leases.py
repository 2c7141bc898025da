"""Named leases in the database: who leads (the beat), until when.

One row per name. ``acquire`` takes the lease when it is free or expired, and renews it when the caller
already holds it — one UPDATE (or INSERT) in its own short transaction, on SQLite and PostgreSQL alike, so
the embedded mode and production share the code. A beat that stops renewing loses the lease after its TTL
and another beat takes over.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import Conflict
from engine.reminder_models import WorkerLease


def acquire(d, name: str, holder: str, ttl: float, now: datetime | None = None) -> bool:
    now = now or clock.now()
    until = now + timedelta(seconds=ttl)

    def work(s: Session) -> bool:
        done = s.execute(
            sa.update(WorkerLease)
            .where(
                WorkerLease.name == name,
                sa.or_(WorkerLease.holder == holder, WorkerLease.expires_at < now),
            )
            .values(holder=holder, expires_at=until)
        )
        if done.rowcount == 1:
            return True
        if s.get(WorkerLease, name) is not None:
            return False  # held by someone else and not expired
        s.add(WorkerLease(name=name, holder=holder, expires_at=until))
        s.flush()
        return True

    try:
        return d.transaction(work)
    except (Conflict, IntegrityError):
        return False  # another beat inserted the row at the same moment: it leads


def release(d, name: str, holder: str) -> None:
    d.transaction(
        lambda s: s.execute(
            sa.delete(WorkerLease).where(WorkerLease.name == name, WorkerLease.holder == holder)
        )
    )


def holder_of(d, name: str) -> str | None:
    with d.session() as s:
        row = s.get(WorkerLease, name)
        return row.holder if row and row.expires_at >= clock.now() else None
