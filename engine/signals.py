"""BPMN signals as Camunda 7 has them: a broadcast to every case and every signal start event.

A signal thrown by a case's step (intermediate throw or end event) reaches the catch events of that case
in the same step (SpiffWorkflow's own throw); the step also writes a ``pending_signal`` row in its
transaction (``engine.runtime.CaseRun._queue_signal``). ``POST /signal`` (``Delaktig.broadcast_signal``)
writes one too. A pending signal is then delivered — right after the commit, in the same process (best
effort), and by ``Delaktig.deliver_pending_signals``, which a periodic worker calls — to:

- every other active case waiting for it (``signal_subscription``: intermediate catch, boundary and
  event-based gateway events), each in its own transaction through the same path as every step
  (``open_case`` → act → step → project → save), with a ``signal_received`` audit row, the signal's
  variables set on the case (Camunda's ``setVariables``: on the executions it reaches);
- the latest version of every process whose start event is a signal start event of that name
  (``signal_start``), each a new case with a ``case_started`` audit row naming the signal and the
  variables as its start variables.

Delivery to one receiver is recorded in ``signal_delivery`` in the receiver's own transaction, and a
deliverer looks for that row (and for the pending signal itself) in one statement after locking the case:
the in-process delivery and the sweep can race without a case getting the same signal twice (a start
by a signal races on the delivery row's primary key instead). A receiver that fails (its step raises) is
rolled back, gets a ``signal_failed`` audit row (which attempt, why, when it is tried next: as a failed
timer's ``timer_failed``) and a ``failed`` delivery row, and the others still get the signal. The failed
ones are tried again with the timers' backoff (``engine.timers.next_try``: 5 minutes, 30 minutes, 2 hours,
then daily) by the sweep, each until it takes the signal once or no longer waits for it; cases that began
waiting after the signal went out do not get it then. Once no receiver is left the pending signal is
removed.
"""

from __future__ import annotations

import contextvars
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from SpiffWorkflow.bpmn import BpmnEvent
from sqlalchemy.orm import Session

from engine import activity_types, audit, clock, inbox, scope, timers, users
from engine import case_sql as q
from engine.audit import AuditWriter
from engine.definitions import latest_started_by
from engine.errors import Conflict, Forbidden, NotFound, Problem, ProcessError, ValidationFailed
from engine.models import Case, ProcessDefinition, Resource
from engine.personal import redact, scrub
from engine.rowio import RowIO
from engine.runtime import new_case, open_case, waiting_signals, with_initiator
from engine.signal_models import PendingSignal, SignalDelivery, SignalStart, SignalSubscription
from engine.workflow import json_safe, only_start_at, signal_definitions

log = logging.getLogger(__name__)

SIGNAL_RECEIVED = "signal_received"
SIGNAL_FAILED = "signal_failed"
MAX_CHAIN = 1000  # signals delivered after one commit, thrown on by the cases they reach; the rest: sweep
_CONFLICT_TRIES = 3


@dataclass
class SignalResult:
    """What one signal reached: the cases it woke, the cases it started (by a signal start event), and
    the receivers that failed to take it (``(case id or definition id, message)``). ``complete``: the
    pending signal is done (False: some receiver was busy; the sweep tries it again)."""

    name: str
    pending_signal_id: str | None = None
    woken: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    complete: bool = True


@dataclass(frozen=True)
class _Pending:
    id: str
    name: str
    variables: dict[str, Any]
    variable_types: dict[str, Any]
    source_case_id: str | None
    actor: str

    @property
    def checked(self) -> bool:
        """Whether the sender's rights are checked per receiver: a person's ``POST /signal``. A signal a
        diagram throws is the case's own doing, as in Camunda (no authorization on a throw event)."""
        return self.source_case_id is None and self.actor not in users.SYSTEM_ACTORS


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name or len(name) > 200 or "\x00" in name:
        raise ValidationFailed([Problem("name", "the signal name must be a text of 1 to 200 characters")])
    return name


def waiting_cases(s: Session, name: str, exclude: str | None = None) -> list[str]:
    q_ = (
        sa.select(SignalSubscription.case_id)
        .join(Case, Case.id == SignalSubscription.case_id)
        .where(SignalSubscription.signal_name == name, Case.status == "active")
        .distinct()
    )
    if exclude is not None:
        q_ = q_.where(SignalSubscription.case_id != exclude)
    return sorted(s.execute(q_).scalars())


def starting_definitions(s: Session, name: str) -> list[ProcessDefinition]:
    """The latest version of each process whose start event is a signal start event of ``name``."""
    return latest_started_by(s, SignalStart.signal_name, name)


# --- broadcast (POST /signal) ---------------------------------------------------------------------------
def broadcast(
    d,
    name: str,
    variables: dict[str, Any],
    actor: str,
    roles: set[str] | None,
    variable_types: dict[str, str | None] | None,
) -> SignalResult:
    """Write a pending signal (after checking a person may reach every receiver: nothing is written when
    one is refused) and deliver it at once. Nobody waiting and no start event: nothing to do, no error."""
    name = check_name(name)
    person = actor not in users.SYSTEM_ACTORS

    def work(s: Session) -> str | None:
        cases, definitions = waiting_cases(s, name), starting_definitions(s, name)
        if not cases and not definitions:
            return None
        if person:
            mine = roles if roles is not None else users.roles_of(s, actor)
            for case_id in cases:
                if inbox.case_access(s, case_id, actor, mine, set()) is None:
                    # No case id in the refusal: it is no one else's business which case waits.
                    raise Forbidden(
                        "Du deltar inte i ett av ärendena som väntar på signalen och kan inte skicka den."
                    )
            for definition in definitions:
                d._check_starter(s, definition, actor, mine)
        pending_id = str(uuid.uuid4())
        io = RowIO.of(s)
        io.queue(
            q.INSERT_PENDING_SIGNAL,
            {
                "id": pending_id,
                "name": name,
                "variables": io.json(json_safe(variables)),
                "variable_types": io.json({k: v for k, v in (variable_types or {}).items() if v}),
                "source_case_id": None,
                "element_id": None,
                "actor": actor,
                "created_at": io.when(clock.now()),
            },
        )
        return pending_id

    pending_id = d.transaction(work)
    if pending_id is None:
        return SignalResult(name)
    return drain(d, [pending_id])[0]


# --- delivery ----------------------------------------------------------------------------------------------
_draining: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("delaktig_signals", default=None)


def after_commit(d, pending_ids: list[str]) -> None:
    """Deliver the signals a transaction threw, right after its commit; best effort (the sweep delivers
    whatever is left). Inside a delivery already under way (a case the signal reached threw another),
    the new ones join its queue instead of nesting."""
    queue = _draining.get()
    if queue is not None:
        queue.extend(pending_ids)
        return
    if not getattr(d, "deliver_signals_after_commit", True):
        return
    try:
        drain(d, pending_ids)
    except Exception:  # noqa: BLE001 — the thrower's transaction is committed; the sweep will deliver
        log.exception("signals %s could not be delivered after the commit", pending_ids)


def drain(d, pending_ids: list[str]) -> list[SignalResult]:
    """Deliver ``pending_ids`` and whatever the cases they reach throw on, up to ``MAX_CHAIN``."""
    queue = list(pending_ids)
    token = _draining.set(queue)
    results = []
    try:
        while queue and len(results) < MAX_CHAIN:
            pending_id = queue.pop(0)
            try:
                results.append(deliver(d, pending_id))
            except Exception:  # noqa: BLE001 — one signal's trouble is not the next one's
                log.exception("signal %s could not be delivered", pending_id)
                results.append(SignalResult("?", pending_id, complete=False))
    finally:
        _draining.reset(token)
    return results


def deliver_pending(d, limit: int = 100) -> list[SignalResult]:
    """The sweep: deliver the pending signals, oldest first (those a crash or an outage left behind, those
    whose receivers were busy, and those with a failed receiver due to be tried again)."""
    now = clock.now()
    with d.session() as s:
        ids = list(
            s.execute(
                sa.select(PendingSignal.id)
                .where(sa.or_(PendingSignal.retry_at.is_(None), PendingSignal.retry_at <= now))
                .order_by(PendingSignal.created_at, PendingSignal.id)
                .limit(limit)
            ).scalars()
        )
    return drain(d, ids) if ids else []


def deliver(d, pending_id: str) -> SignalResult:
    """Deliver one pending signal to every receiver it has not reached yet and to the failed ones due to be
    tried again (each in its own transaction); remove it when none is left."""
    now = clock.now()
    with d.session() as s:
        row = s.get(PendingSignal, pending_id)
        if row is None:
            return SignalResult("?", pending_id)  # delivered and removed by someone else
        pending = _Pending(
            row.id,
            row.name,
            dict(row.variables or {}),
            dict(row.variable_types or {}),
            row.source_case_id,
            row.actor,
        )
        rows = s.execute(
            sa.select(
                SignalDelivery.target, SignalDelivery.outcome, SignalDelivery.case_id, SignalDelivery.retry_at
            ).where(SignalDelivery.pending_signal_id == pending_id)
        ).all()
        done = {r.target for r in rows}
        # A failed receiver's retry: a case's delivery row names the case, a start's none.
        targets = [
            ("case" if r.case_id == r.target else "start", r.target)
            for r in rows
            if r.outcome == "failed" and (r.retry_at is None or r.retry_at <= now)
        ]
        if row.retry_at is None:  # still the first round: every receiver waiting now
            cases = waiting_cases(s, pending.name, exclude=pending.source_case_id)
            definitions = [df.id for df in starting_definitions(s, pending.name)]
            targets = (
                [("case", c) for c in cases if c not in done]
                + [("start", df) for df in definitions if df not in done]
                + targets
            )
    result = SignalResult(pending.name, pending_id)
    errors = []
    for kind, target in targets:
        outcome, case_id, error = _deliver_one(d, pending, kind, target)
        if outcome == "delivered":
            result.woken.append(case_id)
        elif outcome == "started":
            result.started.append(case_id)
        elif outcome == "failed":
            result.failed.append((target, error))
        elif outcome == "retry":
            result.complete = False
            errors.append(f"{target}: {error}")
    if result.complete:
        d.transaction(lambda s: _close_round(s, pending_id))
    else:
        d.transaction(lambda s: _note_attempt(s, pending_id, "; ".join(errors)[:2000]))
    return result


def _deliver_one(d, pending: _Pending, kind: str, target: str) -> tuple[str, str | None, str | None]:
    """(outcome, case id, error) of delivering to one receiver: delivered, started, gone, forbidden and
    already (nothing to do), failed (recorded), retry (busy: left for the sweep)."""
    work = _to_case if kind == "case" else _start
    last: Exception | None = None
    for _ in range(_CONFLICT_TRIES):
        try:
            return d.transaction(lambda s: work(d, s, pending, target))
        except Conflict as err:  # a concurrent writer (or deliverer) got there first: look again
            last = err
        except NotFound:
            return "gone", None, None
        except Exception as err:  # noqa: BLE001 — one receiver's failure must not stop the others
            return "failed", None, _record_failure(d, pending, kind, target, err)
    return "retry", None, str(last)


_STATE = (
    "SELECT p.id, sd.outcome, sd.retry_at FROM pending_signal p LEFT JOIN signal_delivery sd "
    "ON sd.pending_signal_id = p.id AND sd.target = :target WHERE p.id = :id"
)
# PostgreSQL: the pending signal is share-locked until this transaction ends. Without it, a deliverer that
# finished every receiver could remove the pending signal and its delivery rows between this check and
# this transaction's own delivery row, which then met no key to collide with: a signal start ran twice.
_STATE_PG = sa.text(_STATE + " FOR SHARE OF p")
_STATE_ANY = sa.text(_STATE)  # SQLite: one writer at a time (BEGIN IMMEDIATE) already


def _still_owed(s: Session, pending: _Pending, target: str) -> bool:
    """Whether ``target`` still is to get the signal: the pending signal is there and has no delivery to it,
    or a failed one due to be tried again — asked in one statement (one snapshot), so a deliverer finishing
    meanwhile cannot slip in between."""
    query = _STATE_PG if s.get_bind().dialect.name == "postgresql" else _STATE_ANY
    row = s.execute(query, {"id": pending.id, "target": target}).first()
    if row is None:
        return False
    if row[1] == "failed":
        retry_at = RowIO.read_when(row[2])
        return retry_at is None or retry_at <= clock.now()
    return row[1] is None


def _delivery(io: RowIO, pending: _Pending, target: str, outcome: str, case_id: str | None, error=None):
    # A receiver tried again: its failed row makes way for what happened now (the same key). Sent at once:
    # on PostgreSQL the queued rows go as one statement, whose INSERT would still meet the row removed.
    io.session.execute(
        sa.delete(SignalDelivery).where(
            SignalDelivery.pending_signal_id == pending.id,
            SignalDelivery.target == target,
            SignalDelivery.outcome == "failed",
        )
    )
    io.queue(
        q.INSERT_SIGNAL_DELIVERY,
        {
            "pending_signal_id": pending.id,
            "target": target,
            "outcome": outcome,
            "case_id": case_id,
            "at": io.when(clock.now()),
            "error": error,
        },
    )


def _to_case(d, s: Session, pending: _Pending, case_id: str) -> tuple[str, str | None, str | None]:
    run = open_case(s, case_id, d.specs, pending.actor, AuditWriter())  # locked (FOR UPDATE) from here
    if not _still_owed(s, pending, case_id):
        return "already", case_id, None
    waiting = next(
        (
            (definition, task)
            for task in run.wf.event_manager.tasks.values()
            for definition in signal_definitions(task)
            if definition.name == pending.name
        ),
        None,
    )
    if run.case.status != "active" or waiting is None:
        _delivery(run.io, pending, case_id, "gone", case_id)
        return "gone", case_id, None
    if pending.checked:
        roles = users.roles_of(s, pending.actor)
        if inbox.case_access(s, case_id, pending.actor, roles, set()) is None:
            _delivery(run.io, pending, case_id, "forbidden", case_id)
            return "forbidden", case_id, None
    definition, task = waiting
    element, element_detail = activity_types.signal_event(task.task_spec, pending.name)
    run.record(
        SIGNAL_RECEIVED,
        element_id=element,
        detail={
            "signal": pending.name,
            **element_detail,
            "pending_signal_id": pending.id,
            "source_case_id": pending.source_case_id,
            "variables": json_safe(redact(pending.variables)),
        },
    )

    def act() -> None:
        # As Camunda's setVariables: the variables are set on the executions the signal reaches (with a
        # single scope per case, on the case), before the catch events go on.
        if pending.variables:
            scope.spread(run.wf, pending.variables)
        run.wf.send_event(BpmnEvent(definition, payload=None))

    run.step(act)
    run.declare_types(pending.variable_types)
    _delivery(run.io, pending, case_id, "delivered", case_id)
    run.save(last=True)
    return "delivered", case_id, None


def _start(d, s: Session, pending: _Pending, definition_id: str) -> tuple[str, str | None, str | None]:
    if not _still_owed(s, pending, definition_id):
        return "already", None, None
    io = RowIO.of(s)
    definition = s.get(ProcessDefinition, definition_id)
    if definition is None:
        raise NotFound(definition_id)
    if pending.checked:
        try:
            d._check_starter(s, definition, pending.actor, None)
        except Forbidden:
            _delivery(io, pending, definition_id, "forbidden", None)
            return "forbidden", None, None
    spec, subprocess_specs = d.specs.get(s, definition.id)
    start_spec = activity_types.signal_start_event(spec, pending.name)
    if start_spec is None:
        _delivery(io, pending, definition_id, "gone", None)
        return "gone", None, None
    initial = with_initiator(start_spec, dict(pending.variables), pending.actor)
    run = new_case(s, definition, spec, subprocess_specs, None, initial, pending.actor, AuditWriter())
    only_start_at(run.wf, start_spec)
    run.wf.do_engine_steps()  # to the signal start event (records nothing: the start below is the first row)
    start = next((t for t in run.wf.event_manager.tasks.values() if t.task_spec is start_spec), None)
    if start is None:
        raise ProcessError(
            start_spec.bpmn_id or "?", f"the signal start event of {pending.name!r} does not wait"
        )
    element, element_detail = activity_types.event(start_spec)
    run.record(
        "case_started",
        element_id=element,
        detail={
            **element_detail,
            "definition_id": definition.id,
            "business_key": None,
            "signal": pending.name,
            "pending_signal_id": pending.id,
            "source_case_id": pending.source_case_id,
            "variables": json_safe(redact(pending.variables)),
        },
    )
    run.declare_types(pending.variable_types)
    event_definition = start.task_spec.event_definition
    run.step(lambda: run.wf.send_event(BpmnEvent(event_definition, payload=None)))
    _delivery(io, pending, definition_id, "started", run.case.id)
    run.save(last=True)
    return "started", run.case.id, None


def _record_failure(d, pending: _Pending, kind: str, target: str, err: Exception) -> str:
    """A receiver that could not take the signal (its step was rolled back): an audit row on the case
    (a start has no case yet: the log and the delivery row say it) as a failed timer's — which attempt,
    why, when it is tried next — and a ``failed`` delivery row with the same, so the others still get the
    signal and this one gets it again only when the backoff has passed (``engine.timers.next_try``)."""
    log.warning("signal %r (%s) failed at %s: %s", pending.name, pending.id, target, err, exc_info=err)
    if isinstance(err, ProcessError):
        where, message = err.where, err.problems[0].message
    else:
        where, message = None, f"{type(err).__name__}: {err}"
    message = message[:500]
    text = f"{where}: {message}" if where else message

    def work(s: Session) -> None:
        if not _still_owed(s, pending, target):
            return
        key = (SignalDelivery.pending_signal_id == pending.id, SignalDelivery.target == target)
        attempt = (s.execute(sa.select(SignalDelivery.attempts).where(*key)).scalar() or 0) + 1
        now = clock.now()
        retry_at = timers.next_try(now, attempt)
        if kind == "case":
            data = s.execute(sa.select(Case.data).where(Case.id == target)).scalar() or {}
            detail = {
                "signal": pending.name,
                "pending_signal_id": pending.id,
                "source_case_id": pending.source_case_id,
                "attempt": attempt,
                # An error may quote a value: personal data never reaches the append-only log.
                "error": scrub(message, data)[:500],
                "retry_at": retry_at.isoformat(),
            }
            audit.append_case_event(s, target, "system", SIGNAL_FAILED, detail, where)
        s.execute(sa.delete(SignalDelivery).where(*key))
        s.add(
            SignalDelivery(
                pending_signal_id=pending.id,
                target=target,
                outcome="failed",
                case_id=target if kind == "case" else None,
                at=now,
                error=text,
                attempts=attempt,
                retry_at=retry_at,
            )
        )

    try:
        d.transaction(work)
    except Exception:  # noqa: BLE001 — the database itself may be what failed
        log.exception("the failure of signal %s at %s could not be recorded", pending.id, target)
    return text


def _close_round(s: Session, pending_id: str) -> None:
    """Every receiver had its try: the pending signal is done, or waits for its failed receivers' retries
    (from now on only theirs: ``deliver``). Its row is locked first, so a receiver's failure still being
    recorded (``_still_owed`` share-locks it) is counted."""
    s.execute(
        sa.update(PendingSignal).where(PendingSignal.id == pending_id).values(attempts=PendingSignal.attempts)
    )
    first = s.execute(
        sa.select(sa.func.min(SignalDelivery.retry_at)).where(
            SignalDelivery.pending_signal_id == pending_id, SignalDelivery.outcome == "failed"
        )
    ).scalar()
    if first is None:
        _finish(s, pending_id)
    else:
        s.execute(sa.update(PendingSignal).where(PendingSignal.id == pending_id).values(retry_at=first))


def _finish(s: Session, pending_id: str) -> None:
    # The pending signal first: on PostgreSQL this waits for any deliverer still holding it (``_STATE_PG``),
    # whose delivery row then meets ours, still there, and loses — deleting ours first would make that
    # deliverer wait for this transaction while this one waits for it (a deadlock).
    s.execute(sa.delete(PendingSignal).where(PendingSignal.id == pending_id))
    s.execute(sa.delete(SignalDelivery).where(SignalDelivery.pending_signal_id == pending_id))


def _note_attempt(s: Session, pending_id: str, error: str) -> None:
    s.execute(
        sa.update(PendingSignal)
        .where(PendingSignal.id == pending_id)
        .values(attempts=PendingSignal.attempts + 1, last_error=error)
    )


# --- upgrade ---------------------------------------------------------------------------------------------
MIGRATION = "0007"


def migration_applied(url: str) -> bool:
    """Whether the database has migration 0007 (this module's tables) among its applied revisions."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from engine.db import alembic_config, make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            heads = MigrationContext.configure(conn).get_current_heads()
    finally:
        engine.dispose()
    if not heads:
        return False
    script = ScriptDirectory.from_config(alembic_config(url))
    return any(r.revision == MIGRATION for r in script.iterate_revisions(heads, "base"))


def index_waiting_cases(d) -> int:
    """Index the signals of cases that were already waiting at a signal catch event when migration 0007
    came (a case's subscriptions are written when the signals it waits for change: a case waiting since
    before would never be found by a broadcast). Only active cases of definitions with signal events and
    without a subscription row are looked at; each is locked and checked again. Returns how many."""
    with d.session() as s:
        definitions = [
            row.id
            for row in s.execute(
                sa.select(ProcessDefinition.id, Resource.content).join(
                    Resource, Resource.id == ProcessDefinition.resource_id
                )
            )
            if b"signalEventDefinition" in bytes(row.content)
        ]
        if not definitions:
            return 0
        indexed = sa.select(SignalSubscription.id).where(SignalSubscription.case_id == Case.id).exists()
        case_ids = list(
            s.execute(
                sa.select(Case.id).where(
                    Case.definition_id.in_(definitions), Case.status == "active", ~indexed
                )
            ).scalars()
        )

    def work(s: Session, case_id: str) -> int:
        run = open_case(s, case_id, d.specs, "system", AuditWriter())  # locked from here
        if s.execute(sa.select(SignalSubscription.id).where(SignalSubscription.case_id == case_id)).first():
            return 0
        rows = [
            {"case_id": case_id, "signal_name": name, "element_id": element}
            for name, element in waiting_signals(run.wf)
        ]
        run.io.queue(q.INSERT_SIGNAL_SUBSCRIPTION, rows)
        return 1 if rows else 0

    done = 0
    for case_id in case_ids:
        try:
            done += d.transaction(lambda s, case_id=case_id: work(s, case_id))
        except Exception:  # noqa: BLE001 — one case's trouble must not stop the upgrade
            log.exception("the signals case %s waits for could not be indexed", case_id)
    return done
