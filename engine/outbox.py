"""The outbox relay: deliver pending ``outbox`` rows through a mailer, once as far as SMTP allows.

States: pending → sending (claimed, with a lease in ``next_attempt_at``) → sent | pending (retry with
exponential backoff) | failed (a 5xx for this recipient or message, an address that cannot be sent to,
or still undelivered after the retry horizon) | uncertain (the final dot went out, the reply never came:
perhaps delivered, so not sent again by itself) | cancelled (a reminder whose task was closed before it
could be sent). Delivery is at least once in one narrow window: if the database connection is lost
while the mark-sent COMMIT is on its way, after the dots went out, the rows come back and are sent again
(the stable Message-ID lets a receiver recognise the repeat). Claiming takes the rows with
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
from engine.mailer import (
    AfterCommitRefusal,
    LeaseLost,
    PermanentFailure,
    RelayUnavailable,
    Uncertain,
    build_message,
    sender_header,
)
from engine.models import Outbox, UserTask

log = logging.getLogger(__name__)


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


def backoff(attempts: int) -> timedelta:
    """Delay before attempt ``attempts + 1``: base · 2^(attempts−1), at most ``DELAKTIG_OUTBOX_BACKOFF_MAX``
    (30 minutes), so mail goes out at most that long after a relay outage ends."""
    base = _env_float("DELAKTIG_OUTBOX_BACKOFF", 30.0)
    cap = _env_float("DELAKTIG_OUTBOX_BACKOFF_MAX", 1800.0)
    return timedelta(seconds=min(base * 2 ** min(max(attempts - 1, 0), 40), cap))


def gives_up(attempts: int) -> bool:
    """True when a temporary failure after ``attempts`` attempts is final: the waits so far span the
    retry horizon (``DELAKTIG_OUTBOX_RETRY_HOURS``, 72 hours: a relay down over a long weekend still
    delivers). ``DELAKTIG_OUTBOX_MAX_ATTEMPTS``, when set, caps the attempts instead."""
    if os.environ.get("DELAKTIG_OUTBOX_MAX_ATTEMPTS"):
        return attempts >= int(os.environ["DELAKTIG_OUTBOX_MAX_ATTEMPTS"])
    horizon = timedelta(hours=_env_float("DELAKTIG_OUTBOX_RETRY_HOURS", 72.0))
    waited = sum((backoff(i) for i in range(1, attempts + 1)), timedelta())
    return waited >= horizon


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
    relay_down: bool = False  # the run stopped because the relay itself could not be used


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
    status = "failed" if permanent or gives_up(attempts) else "pending"

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


def _mark_after_dot(d, row: Claimed, outcome: Exception) -> str:
    """The row was marked sent, then the final dot did not end in a 250. A 5xx fails it; a 4xx (or a dot
    that could not be written) sends it again with backoff; no reply at all makes it ``uncertain``."""
    if isinstance(outcome, Uncertain):
        status, error, kind = "uncertain", str(outcome), "mail_uncertain"
    else:
        code = outcome.smtp_code
        error = f"{code} {outcome.smtp_error!r}"
        status, kind = ("failed", "mail_failed") if code >= 500 else ("pending", "mail_deferred")
    attempts = row.attempts + 1  # mark_sent counted this attempt already
    if status == "pending" and gives_up(attempts):
        status, kind = "failed", "mail_failed"

    def work(s: Session) -> None:
        values: dict[str, Any] = {"status": status, "last_error": error[:2000]}
        if status != "uncertain":
            values.update(sent_at=None, next_attempt_at=clock.now() + backoff(attempts))
        s.execute(sa.update(Outbox).where(Outbox.id == row.id, Outbox.status == "sent").values(**values))
        if row.case_id:
            detail = {"to": row.payload.get("to"), "error": error[:500]}
            append_case_event(s, row.case_id, "system", kind, detail)

    d.transaction(work)
    return status


def _still_due(d, rows: list[Claimed]) -> list[Claimed]:
    """Just before a group goes to SMTP: cancel reminders whose task is no longer open (completed while
    the mail waited — a few seconds, or a whole relay outage), with a note on the case; return the rest."""
    task_ids = {r.payload["task_id"] for r in rows if r.payload.get("reminder") and r.payload.get("task_id")}
    if not task_ids:
        return rows
    with d.session() as s:
        open_ids = set(
            s.execute(sa.select(UserTask.id).where(UserTask.id.in_(task_ids), UserTask.state == "open"))
            .scalars()
            .all()
        )
    stale = [r for r in rows if r.payload.get("reminder") and r.payload.get("task_id") not in open_ids]
    if not stale:
        return rows

    def work(s: Session) -> None:
        for row in stale:
            done = s.execute(
                sa.update(Outbox)
                .where(_owned(row))
                .values(
                    status="cancelled", last_error="Uppgiften är inte längre öppen: påminnelsen skickas inte."
                )
            ).rowcount
            if done and row.case_id:
                detail = {"to": row.payload.get("to"), "reminder": row.payload["reminder"]}
                append_case_event(
                    s, row.case_id, "system", "reminder_cancelled", detail, None, row.payload["task_id"]
                )

    d.transaction(work)
    gone = {r.id for r in stale}
    return [r for r in rows if r.id not in gone]


class _Lease:
    """Keeps a claim's lease alive while it is being sent: renewed when a third of it has passed, so a
    slow server (seconds per message) cannot let another worker take the rows over mid-send."""

    def __init__(self, d, rows: list[Claimed]):
        self.d, self.rows = d, rows
        self.length = lease()
        self.renewed = clock.now()
        self.until = rows[0].lease_until if rows else None

    def renew(self) -> None:
        now = clock.now()
        if now - self.renewed < self.length / 3:
            return
        old, until = self.until, now + self.length
        ids = [r.id for r in self.rows if r.lease_until == old]

        def work(s: Session) -> set[int]:
            return set(
                s.execute(
                    sa.update(Outbox)
                    .where(Outbox.id.in_(ids), Outbox.status == "sending", Outbox.next_attempt_at == old)
                    .values(next_attempt_at=until)
                    .returning(Outbox.id)
                    .execution_options(synchronize_session=False)
                ).scalars()
            )

        kept = self.d.transaction(work) if ids else set()
        for row in self.rows:  # rows already finished keep their old value and so match nothing
            if row.id in kept:
                row.lease_until = until
        self.renewed, self.until = now, until


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
    """Claim up to ``limit`` due rows and send them in groups (one commit per group). When the relay
    itself is unavailable (no connection, no answer, authentication), the run stops at once and every
    row still claimed records that error and waits for its next attempt: the outage shows in
    ``last_error`` and ``attempts``, and a dead server costs one timeout per run, not one per mail."""
    rows = claim(d, now, limit)
    result = RelayResult(claimed=len(rows))
    if not rows:
        return result
    sender = d.settings.mail_from
    keep = _Lease(d, rows)
    down: RelayUnavailable | None = None
    try:
        sender_header(sender)
    except RelayUnavailable as err:  # a misconfigured sender: every row waits, with the error shown
        down, result.relay_down = err, True
    with mailer:
        for group in _groups(rows, max(1, getattr(mailer, "parallel", 1))):
            if down is not None:
                for row in group.values():
                    _count(result, _mark_retry(d, row, f"RelayUnavailable: {down}", permanent=False))
                continue
            keep.renew()
            items = []
            for row in _still_due(d, list(group.values())):
                try:
                    items.append((row.id, build_message(sender, row.payload, row.dedupe_key)))
                except Exception as err:  # noqa: BLE001 - deterministic: the same error every time
                    _mark_retry(d, row, f"{type(err).__name__}: {err}", permanent=True)
                    result.failed += 1
            if not items:
                continue
            outcomes = mailer.send_many(
                items,
                lambda ids, extra, release, group=group: mark_sent(
                    d, [group[i] for i in ids], extra, release
                ),
                before_each=keep.renew,
            )
            for row_id, outcome in outcomes.items():
                row = group[row_id]
                if outcome is None:
                    result.sent += 1
                elif isinstance(outcome, LeaseLost):
                    log.warning("outbox %s: lease lost, another worker sends it", row.id)
                elif isinstance(outcome, AfterCommitRefusal | Uncertain):
                    status = _mark_after_dot(d, row, outcome)
                    result.failed += status != "pending"
                    result.retried += status == "pending"
                elif isinstance(outcome, PermanentFailure):
                    _mark_retry(d, row, str(outcome), permanent=True)
                    result.failed += 1
                else:  # any transport error or 4xx: retry later with backoff
                    if isinstance(outcome, RelayUnavailable):
                        down, result.relay_down = outcome, True
                    _count(
                        result, _mark_retry(d, row, f"{type(outcome).__name__}: {outcome}", permanent=False)
                    )
    return result


def _count(result: RelayResult, status: str) -> None:
    result.failed += status == "failed"
    result.retried += status == "pending"


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
    """Mail that needs a person: failed for good, or ``uncertain`` (perhaps delivered)."""
    with d.session() as s:
        rows = s.execute(
            sa.select(Outbox)
            .where(Outbox.status.in_(("failed", "uncertain")))
            .order_by(Outbox.id.desc())
            .limit(limit)
        ).scalars()
        return list(rows)


def waiting(d) -> tuple[int, str | None]:
    """Mail that has failed temporarily and waits for its next attempt, and the newest error among it:
    a relay outage shows on the administrators' page before any mail fails for good."""
    retrying = sa.and_(Outbox.status.in_(("pending", "sending")), Outbox.attempts > 0)
    with d.session() as s:
        count = s.execute(sa.select(sa.func.count()).select_from(Outbox).where(retrying)).scalar_one()
        error = s.execute(
            sa.select(Outbox.last_error).where(retrying).order_by(Outbox.next_attempt_at.desc()).limit(1)
        ).scalar()
    return count, error


def retry(d, outbox_id: int, actor: str, accept_duplicate: bool = False) -> None:
    """An administrator sends a failed mail again: back to pending, attempts from zero. An ``uncertain``
    row may already have been delivered, so it is sent again only when ``accept_duplicate`` says the
    administrator accepts that the recipient may get it twice."""

    def work(s: Session) -> None:
        row = s.get(Outbox, outbox_id)
        if row is None:
            raise NotFound(f"utskicket {outbox_id} finns inte")
        if row.status not in ("failed", "uncertain"):
            raise Conflict("Bara misslyckade utskick kan skickas om.")
        if row.status == "uncertain" and not accept_duplicate:
            raise Conflict(
                "Utskicket kan redan ha kommit fram. Bekräfta att mottagaren kan få det två gånger."
            )
        s.execute(
            sa.update(Outbox)
            .where(Outbox.id == outbox_id, Outbox.status == row.status)
            .values(status="pending", attempts=0, next_attempt_at=clock.now(), sent_at=None)
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
