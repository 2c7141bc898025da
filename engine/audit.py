"""The audit log: append-only rows, hash-chained per case.

Each row's hash covers its content and the previous row's hash in the same chain (a case, "deploy", or an
initiative), so ``verify`` can prove no row was edited, removed or re-ordered; each chain's head (on the
case row, or in ``audit_head``) shows that its newest rows are still there. The database refuses UPDATE and DELETE on
the table (triggers in the migration); the chain catches what a superuser might do anyway.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import Conflict
from engine.models import AuditEvent, AuditHead, Case
from engine.rowio import RowIO, Statement

GENESIS = "0" * 64
INSERT_AUDIT_EVENT = Statement(
    "INSERT INTO audit_event (chain, seq, case_id, at, actor, kind, element_id, task_id, detail, prev_hash, "
    "hash) VALUES (:chain, :seq, :case_id, :at, :actor, :kind, :element_id, :task_id, :detail, :prev_hash, "
    ":hash)"
)
DEPLOY_CHAIN = "deploy"


def _digest(prev_hash: str, row: dict[str, Any]) -> str:
    body = orjson.dumps(
        [
            row["chain"],
            row["seq"],
            row["case_id"],
            row["at"].isoformat(),
            row["actor"],
            row["kind"],
            row["element_id"],
            row["task_id"],
            row["detail"],
        ],
        option=orjson.OPT_SORT_KEYS,
        default=str,
    )
    return hashlib.sha256(prev_hash.encode() + body).hexdigest()


@dataclass
class Chain:
    """The tail of one chain while a transaction appends to it."""

    name: str
    case_id: str | None
    seq: int
    hash: str


class AuditWriter:
    """Collects rows during one unit of work and inserts them in one statement."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def append(
        self,
        chain: Chain,
        at: datetime,
        actor: str,
        kind: str,
        element_id: str | None = None,
        task_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        row = {
            "chain": chain.name,
            "seq": chain.seq + 1,
            "case_id": chain.case_id,
            "at": at,
            "actor": actor,
            "kind": kind,
            "element_id": element_id,
            "task_id": task_id,
            "detail": orjson.loads(orjson.dumps(detail or {}, default=str)),
        }
        row["prev_hash"] = chain.hash
        row["hash"] = _digest(chain.hash, row)
        chain.seq, chain.hash = row["seq"], row["hash"]
        self.rows.append(row)

    def queue(self, io: RowIO) -> None:
        """Queue the collected rows on ``io`` (sent with its next flush)."""
        io.queue(
            INSERT_AUDIT_EVENT,
            [{**row, "at": io.when(row["at"]), "detail": io.json(row["detail"])} for row in self.rows],
        )
        self.rows = []

    def flush(self, session: Session) -> None:
        io = RowIO.of(session)
        self.queue(io)
        io.flush()


def open_chain(session: Session, name: str) -> Chain:
    """The tail of a chain that is not a case's (the deploy log, an initiative), from its head row: locked
    on PostgreSQL, so two writers append one after the other rather than both after the same row. Write
    the rows, then ``close_chain``, in the same transaction."""
    q = sa.select(AuditHead.seq, AuditHead.hash).where(AuditHead.chain == name)
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    head = session.execute(q).first()
    return Chain(name, None, head.seq if head else 0, head.hash if head else GENESIS)


def close_chain(session: Session, chain: Chain) -> None:
    """Move the chain's head to its newest row (``open_chain``)."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(AuditHead).values(chain=chain.name, seq=chain.seq, hash=chain.hash)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[AuditHead.chain], set_={"seq": chain.seq, "hash": chain.hash}
        )
    )


def deploy_chain(session: Session) -> Chain:
    return open_chain(session, DEPLOY_CHAIN)


def verify(session: Session, case_id: str | None = None) -> list[str]:
    """Return one message per broken chain (its first broken link); [] when everything is intact."""
    chains = (
        [case_id]
        if case_id
        else [
            c for (c,) in session.execute(sa.select(AuditEvent.chain).distinct().order_by(AuditEvent.chain))
        ]
    )
    if case_id is None:
        # A chain whose rows were all removed has none left to walk: compare with the heads.
        heads = [c for (c,) in session.execute(sa.select(Case.id).where(Case.audit_seq > 0))]
        heads += [c for (c,) in session.execute(sa.select(AuditHead.chain).where(AuditHead.seq > 0))]
        chains += [c for c in heads if c not in chains]
    broken = []
    for chain in chains:
        message = _verify_chain(session, chain)
        if message:
            broken.append(message)
    return broken


def _verify_chain(session: Session, chain: str) -> str | None:
    prev, expected_seq = GENESIS, 1
    label = "deploy log" if chain == DEPLOY_CHAIN else f"case {chain}"
    rows = session.execute(
        sa.select(AuditEvent).where(AuditEvent.chain == chain).order_by(AuditEvent.seq)
    ).scalars()
    for ev in rows:
        if ev.seq != expected_seq:
            return f"{label}: audit row #{expected_seq} is missing (next present is #{ev.seq}, id {ev.id}) — removed"
        row = {
            "chain": ev.chain,
            "seq": ev.seq,
            "case_id": ev.case_id,
            "at": ev.at,
            "actor": ev.actor,
            "kind": ev.kind,
            "element_id": ev.element_id,
            "task_id": ev.task_id,
            "detail": ev.detail,
        }
        if ev.prev_hash != prev:
            return f"{label}: audit row #{ev.seq} (id {ev.id}) does not link to row #{ev.seq - 1} — removed or reordered"
        if _digest(prev, row) != ev.hash:
            return (
                f"{label}: audit row #{ev.seq} (id {ev.id}, {ev.kind}) was edited — its hash does not match"
            )
        prev, expected_seq = ev.hash, expected_seq + 1
    head = session.execute(sa.select(Case.audit_seq, Case.audit_hash).where(Case.id == chain)).first()
    if head is None:
        head = session.execute(
            sa.select(AuditHead.seq, AuditHead.hash).where(AuditHead.chain == chain)
        ).first()
        if head is None and expected_seq > 1:
            return f"{label}: the chain has rows but no head — its head was removed"
    if head is not None and (head[0] != expected_seq - 1 or head[1] != prev):
        return (
            f"{label}: the chain ends at row #{expected_seq - 1} but its head is #{head[0]}"
            " — newest rows removed"
        )
    return None


def append_case_event(
    s: Session,
    case_id: str,
    actor: str,
    kind: str,
    detail: dict[str, Any],
    element_id: str | None = None,
    task_id: str | None = None,
) -> bool:
    """Append an audit row to a case from outside a case run (claims, mails sent, reminders)."""
    return append_case_events(s, case_id, actor, [(kind, detail, element_id, task_id)])


def append_case_events(
    s: Session, case_id: str, actor: str, events: list[tuple[str, dict, str | None, str | None]]
) -> bool:
    """Lock the case row, append the events to its chain, bump the head with a version check.
    False if the case is gone. Callers lock several cases in id order (no deadlocks)."""
    # The chain's head and the version only: a claim has no business loading the workflow blob.
    q = sa.select(Case.id, Case.version, Case.audit_seq, Case.audit_hash).where(Case.id == case_id)
    if s.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    case = s.execute(q).first()
    if case is None:
        return False
    chain = Chain(case.id, case.id, case.audit_seq, case.audit_hash or GENESIS)
    writer = AuditWriter()
    for kind, detail, element_id, task_id in events:
        writer.append(chain, clock.now(), actor, kind, element_id, task_id, detail)
    done = s.execute(
        sa.update(Case)
        .where(Case.id == case.id, Case.version == case.version)
        .values(version=case.version + 1, audit_seq=chain.seq, audit_hash=chain.hash)
    )
    if done.rowcount != 1:
        raise Conflict("Ärendet ändrades samtidigt; försök igen.")
    writer.flush(s)
    return True
