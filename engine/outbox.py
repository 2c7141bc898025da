"""The outbox relay: deliver pending ``outbox`` rows through a mailer, exactly once as far as SMTP allows.

States: pending → sending (claimed, with a lease in ``next_attempt_at``) → sent | pending (retry with
exponential backoff) | failed (after the last attempt, or refused for good). Claiming takes the rows with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any number of workers share the queue without waiting on
each other; a row whose lease ran out (its worker died mid-batch) is claimed again. Marking a row sent is
guarded by the lease value, so a worker that lost its lease can never mark (or finish sending) a row that
another worker has taken over. Each sent mail is an audit event on its case, in the same transaction.
"""

from __future__ import annotations

import logging
import os
import select
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from psycopg.pq import ExecStatus
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from engine import clock
from engine.audit import append_case_event, append_case_events
from engine.db import write_transaction
from engine.errors import Conflict, NotFound
from engine.mailer import AfterCommitRefusal, LeaseLost, PermanentFailure, build_message
from engine.models import Outbox

log = logging.getLogger(__name__)


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


def max_attempts() -> int:
    return int(_env_float("DELAKTIG_OUTBOX_MAX_ATTEMPTS", 8))


def backoff(attempts: int) -> timedelta:
    """Delay before attempt ``attempts + 1``: base · 2^(attempts−1), at most six hours."""
    base = _env_float("DELAKTIG_OUTBOX_BACKOFF", 30.0)
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), 6 * 3600))


def lease() -> timedelta:
    return timedelta(seconds=_env_float("DELAKTIG_OUTBOX_LEASE", 120.0))


@dataclass
class Claimed:
    id: int
    dedupe_key: str
    case_id: str | None
    payload: dict[str, Any]
    attempts: int
    lease_until: datetime


@dataclass
class RelayResult:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0


def claim(d, now: datetime | None = None, limit: int = 50) -> list[Claimed]:
    now = now or clock.now()
    until = clock.now() + lease()

    def work(s: Session) -> list[Claimed]:
        q = (
            sa.select(Outbox)
            .where(
                Outbox.kind == "email",
                Outbox.status.in_(("pending", "sending")),
                Outbox.next_attempt_at <= now,
            )
            .order_by(Outbox.next_attempt_at, Outbox.id)
            .limit(limit)
        )
        if d.dialect == "postgresql":
            q = q.with_for_update(skip_locked=True)
        rows = s.execute(q).scalars().all()
        if not rows:
            return []
        s.execute(
            sa.update(Outbox)
            .where(Outbox.id.in_([r.id for r in rows]))
            .values(status="sending", next_attempt_at=until)
            .execution_options(synchronize_session=False)
        )
        return [Claimed(r.id, r.dedupe_key, r.case_id, dict(r.payload), r.attempts, until) for r in rows]

    return d.transaction(work)


def _owned(row: Claimed):
    return sa.and_(Outbox.id == row.id, Outbox.status == "sending", Outbox.next_attempt_at == row.lease_until)


def _sent_event(row: Claimed) -> tuple[str, dict, str | None, str | None]:
    p = row.payload
    detail = {"to": p.get("to"), "subject": p.get("subject"), "outbox": row.dedupe_key}
    if p.get("reminder"):
        detail["reminder"] = p["reminder"]
    return (p.get("audit_kind") or "mail_sent", detail, p.get("element_id"), p.get("task_id"))


def mark_sent(d, rows: list[Claimed], extra=None, release=None) -> set[int]:
    """Mark a group of claimed rows sent in ONE transaction, with their audit events; returns the ids
    still owned (and so marked). One commit per group is what lets the relay keep up."""

    def work(s: Session) -> set[int]:
        now = clock.now()
        owned: set[int] = set()
        by_lease: dict[datetime, list[int]] = {}
        for row in rows:
            by_lease.setdefault(row.lease_until, []).append(row.id)
        for until, ids in by_lease.items():  # one statement per claim, not per row
            owned |= set(
                s.execute(
                    sa.update(Outbox)
                    .where(Outbox.id.in_(ids), Outbox.status == "sending", Outbox.next_attempt_at == until)
                    .values(status="sent", sent_at=now, attempts=Outbox.attempts + 1, last_error=None)
                    .returning(Outbox.id)
                    .execution_options(synchronize_session=False)
                ).scalars()
            )
        if extra is not None and owned:
            extra(s, owned)
        by_case: dict[str, list] = {}
        for row in rows:
            if row.id in owned and row.case_id:
                by_case.setdefault(row.case_id, []).append(_sent_event(row))
        for case_id in sorted(by_case):
            append_case_events(s, case_id, "system", by_case[case_id])
        return owned

    for attempt in range(3):  # a case being written at the same moment: try again (nothing was released)
        try:
            if release is not None and d.dialect == "postgresql":
                return _commit_then_release(d, work, release)
            owned = d.transaction(work)
            if release is not None:
                release(owned)
            return owned
        except Conflict:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _commit_then_release(d, work, release) -> set[int]:
    """PostgreSQL: write COMMIT to the server, call ``release`` (the SMTP dots), then read COMMIT's result.

    Once the COMMIT message has left this process the server commits even if we die, and the dots follow
    within microseconds; so a kill -9 almost never separates "marked sent" from "sent". (If the COMMIT
    itself fails after the dots went out, the rows are sent again later: at least once, never lost.)"""
    with write_transaction(), d.Session() as s:
        s.begin()
        owned = work(s)
        s.flush()
        raw = s.connection().connection.driver_connection
        pg = raw.pgconn
        if not pg.send_query(b"COMMIT") and pg.error_message:
            raise OperationalError("COMMIT", {}, Exception(pg.error_message.decode(errors="replace")))
        while pg.flush():  # psycopg keeps libpq non-blocking: push the bytes out ourselves
            select.select([], [pg.socket], [], 1.0)
        release(owned)
        error = None
        while True:
            pg.consume_input()
            if pg.is_busy():
                select.select([pg.socket], [], [], 1.0)
                continue
            result = pg.get_result()
            if result is None:
                break
            if result.status != ExecStatus.COMMAND_OK:
                error = (result.error_message or b"").decode(errors="replace")
        s.rollback()  # the server is idle again: psycopg sends nothing, SQLAlchemy forgets the transaction
        if error:
            raise OperationalError("COMMIT", {}, Exception(error))
        return owned


def _mark_retry(d, row: Claimed, error: str, permanent: bool) -> str:
    attempts = row.attempts + 1
    status = "failed" if permanent or attempts >= max_attempts() else "pending"

    def work(s: Session) -> None:
        s.execute(
            sa.update(Outbox)
            .where(_owned(row))
            .values(
                status=status,
                attempts=attempts,
                last_error=error[:2000],
                next_attempt_at=clock.now() + backoff(attempts),
            )
        )
        if status == "failed" and row.case_id:
            append_case_event(
                s, row.case_id, "system", "mail_failed", {"to": row.payload.get("to"), "error": error[:500]}
            )

    d.transaction(work)
    return status


def _mark_refused_after_commit(d, row: Claimed, error: str) -> None:
    """The server refused the final dot after we had marked the row sent: make it visible as failed."""

    def work(s: Session) -> None:
        s.execute(
            sa.update(Outbox)
            .where(Outbox.id == row.id, Outbox.status == "sent")
            .values(status="failed", last_error=error[:2000], sent_at=None)
        )
        if row.case_id:
            append_case_event(
                s, row.case_id, "system", "mail_failed", {"to": row.payload.get("to"), "error": error[:500]}
            )

    d.transaction(work)


def _groups(rows: list[Claimed], size: int) -> list[dict[int, Claimed]]:
    """Split a claim into groups sent in parallel. A recipient appears at most once per group, and its
    next mail goes in a later group: the messages of a group reach the server in any order, the groups
    one after the other, so each person still gets their mails in outbox order (receipt before answer)."""
    groups: list[dict[int, Claimed]] = []
    last: dict[str, int] = {}
    for row in rows:
        to = str(row.payload.get("to"))
        index = next((i for i in range(last.get(to, -1) + 1, len(groups)) if len(groups[i]) < size), None)
        if index is None:
            groups.append({})
            index = len(groups) - 1
        groups[index][row.id] = row
        last[to] = index
    return groups


def relay_batch(d, mailer, now: datetime | None = None, limit: int = 50) -> RelayResult:
    """Claim up to ``limit`` due rows and send them in groups (one commit per group)."""
    rows = claim(d, now, limit)
    result = RelayResult(claimed=len(rows))
    if not rows:
        return result
    sender = d.settings.mail_from
    with mailer:
        for group in _groups(rows, max(1, getattr(mailer, "parallel", 1))):
            items = [(row.id, build_message(sender, row.payload, row.dedupe_key)) for row in group.values()]
            outcomes = mailer.send_many(
                items,
                lambda ids, extra, release, group=group: mark_sent(
                    d, [group[i] for i in ids], extra, release
                ),
            )
            for row_id, outcome in outcomes.items():
                row = group[row_id]
                if outcome is None:
                    result.sent += 1
                elif isinstance(outcome, LeaseLost):
                    log.warning("outbox %s: lease lost, another worker sends it", row.id)
                elif isinstance(outcome, AfterCommitRefusal):
                    _mark_refused_after_commit(d, row, f"{outcome.smtp_code} {outcome.smtp_error!r}")
                    result.failed += 1
                elif isinstance(outcome, PermanentFailure):
                    _mark_retry(d, row, str(outcome), permanent=True)
                    result.failed += 1
                else:  # any transport error: retry later with backoff
                    status = _mark_retry(d, row, f"{type(outcome).__name__}: {outcome}", permanent=False)
                    result.failed += status == "failed"
                    result.retried += status == "pending"
    return result


def pending_count(d, now: datetime | None = None) -> int:
    now = now or clock.now()
    with d.session() as s:
        return s.execute(
            sa.select(sa.func.count())
            .select_from(Outbox)
            .where(Outbox.status.in_(("pending", "sending")), Outbox.next_attempt_at <= now)
        ).scalar_one()


# --- admin ----------------------------------------------------------------------------------------------
def failed(d, limit: int = 200) -> list[Outbox]:
    with d.session() as s:
        rows = s.execute(
            sa.select(Outbox).where(Outbox.status == "failed").order_by(Outbox.id.desc()).limit(limit)
        ).scalars()
        return list(rows)


def retry(d, outbox_id: int, actor: str) -> None:
    """An administrator sends a failed mail again: back to pending, attempts from zero."""

    def work(s: Session) -> None:
        row = s.get(Outbox, outbox_id)
        if row is None:
            raise NotFound(f"utskicket {outbox_id} finns inte")
        if row.status != "failed":
            raise Conflict("Bara misslyckade utskick kan skickas om.")
        s.execute(
            sa.update(Outbox)
            .where(Outbox.id == outbox_id, Outbox.status == "failed")
            .values(status="pending", attempts=0, next_attempt_at=clock.now())
        )
        if row.case_id:
            append_case_event(
                s,
                row.case_id,
                actor,
                "mail_retry_requested",
                {"to": row.payload.get("to"), "outbox": row.dedupe_key},
            )

    d.transaction(work)
