"""One case, one transaction: load → act → step → project → save.

``CaseRun`` is the only place that turns a SpiffWorkflow workflow into rows: the case blob, the
``user_task`` inbox projection, ``next_timer_at``, message subscriptions, audit rows and outbox rows. Every
state change (start, complete, message, timer) goes through it, inside the caller's transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.task import TaskState
from sqlalchemy.orm import Session

from engine import clock
from engine.audit import GENESIS, AuditWriter, Chain
from engine.bpmn.compile import role_from_lane
from engine.errors import Conflict, NotFound
from engine.mail import mail_rows
from engine.models import Case, MessageSubscription, Outbox, TaskCandidate, UserTask
from engine.personal import redact
from engine.workdays import compute_due
from engine.workflow import STATE_FORMAT, dump_state, json_safe, load_state, new_workflow, run_engine


def _resolve(value: str | None, data: dict[str, Any]) -> str | None:
    """``${name}`` → the variable's value; anything else as written."""
    if value and value.strip().startswith("${") and value.strip().endswith("}"):
        name = value.strip()[2:-1].strip()
        resolved = data.get(name)
        return None if resolved is None else str(resolved)
    return value


def case_variables(wf) -> dict[str, Any]:
    """The case's current variables: the data of the last completed task (the end event's when done)."""
    task = wf.last_task or wf.task_tree
    return {k: v for k, v in task.data.items() if not str(k).startswith("_")}


def waiting_timers(wf) -> list[tuple[datetime, str]]:
    """(due, task id) of every waiting timer, earliest first."""
    out = []
    for task in list(wf.event_manager.tasks.values()):
        definition = getattr(task.task_spec, "event_definition", None)
        if not isinstance(definition, TimerEventDefinition):
            continue
        value = task.internal_data.get("event_value")
        if isinstance(value, dict):
            value = value.get("next")
        if not value:
            continue
        due = TimerEventDefinition.get_datetime(value) if isinstance(value, str) else value
        out.append((due, str(task.id)))
    return sorted(out)


def waiting_messages(wf) -> list[tuple[str, str]]:
    """(message name, element id) of every waiting message catch event."""
    out = []
    for task in list(wf.event_manager.tasks.values()):
        definition = getattr(task.task_spec, "event_definition", None)
        if definition is not None and type(definition).__name__.endswith("MessageEventDefinition"):
            out.append((definition.name, task.task_spec.bpmn_id or task.task_spec.name))
    return sorted(set(out))


def ready_user_tasks(wf) -> dict[str, Any]:
    return {str(t.id): t for t in wf.get_tasks(state=TaskState.READY, manual=True)}


class CaseRun:
    """A loaded case inside a transaction. Use ``open_case`` / ``new_case`` to get one."""

    def __init__(self, session: Session, case: Case, wf, actor: str, audit: AuditWriter):
        self.session = session
        self.case = case
        self.wf = wf
        self.actor = actor
        self.audit = audit
        self.chain = Chain(case.id, case.id, case.audit_seq or 0, case.audit_hash or GENESIS)
        self._ready_before = ready_user_tasks(wf) if wf is not None else {}
        self._messages_before = waiting_messages(wf) if wf is not None else []
        self._timers_before = {tid for _, tid in waiting_timers(wf)} if wf is not None else set()
        self.is_new = wf is None
        self.ready_after: dict[str, Any] | None = None
        self.end_reason: str | None = None  # set by terminate(); save() ends the case as terminated
        self.completed_task_ids: set[str] = set()
        self.new_tasks: list[str] = []

    # --- events -----------------------------------------------------------------------------------------
    def record(
        self,
        kind: str,
        element_id: str | None = None,
        task_id: str | None = None,
        detail: dict[str, Any] | None = None,
        actor: str | None = None,
    ) -> None:
        self.audit.append(self.chain, clock.now(), actor or self.actor, kind, element_id, task_id, detail)

    def terminate(self, reason: str | None) -> None:
        """Cancel the workflow; the next save() projects it (tasks cancelled, subscriptions and timers gone)
        and ends the case as terminated with the reason."""
        self.wf.cancel()
        self.end_reason = reason or ""
        self.record("case_cancelled", detail={"reason": reason})

    def step(self, action=None) -> None:
        """Run ``action`` and the engine; record fired timers and queued mails."""
        effects = run_engine(self.wf, action)
        for effect in effects:
            self._queue_mail(effect)

    def _queue_mail(self, effect: dict[str, Any]) -> None:
        rows = mail_rows(self.session, self.case, effect, clock.now())
        for row in rows:
            self.session.execute(sa.insert(Outbox), [row])
        self.record(
            "mail_queued",
            element_id=effect["element_id"],
            task_id=effect["task_id"],
            # Recipients as the diagram names them (var:initiator_email, role:x), not addresses: the
            # audit log is append-only and must not hold citizens' contact data (engine.personal).
            detail={
                "to": effect["properties"].get("mailTo"),
                "recipients": len(rows),
                "outbox": [r["dedupe_key"] for r in rows],
                "skipped": not rows,
            },
        )

    # --- projection ------------------------------------------------------------------------------------
    def save(self) -> None:
        """Project the workflow into rows and write the case with an optimistic version check."""
        wf, case, now = self.wf, self.case, clock.now()
        ready_after = self.ready_after = ready_user_tasks(wf)
        variables = case_variables(wf)
        timers = waiting_timers(wf)
        for tid in self._timers_before - {tid for _, tid in timers}:
            task = wf.get_task_from_id(uuid.UUID(tid))
            if task is not None and task.state == TaskState.COMPLETED:
                self.record("timer_fired", element_id=task.task_spec.bpmn_id, task_id=tid, actor="system")
        later: list = []  # statements that need the case row to exist (foreign keys)
        gone = [
            tid for tid in self._ready_before if tid not in ready_after and tid not in self.completed_task_ids
        ]
        if gone:
            self.session.execute(
                sa.update(UserTask)
                .where(UserTask.id.in_(gone), UserTask.state == "open")
                .values(state="cancelled", completed_at=now)
            )
            self.session.execute(sa.delete(TaskCandidate).where(TaskCandidate.task_id.in_(gone)))
            for tid in gone:
                self.record("task_cancelled", task_id=tid, actor="system")
        new = [ready_after[tid] for tid in ready_after if tid not in self._ready_before]
        if new:
            rows, candidates = [], []
            for task in new:
                row = self._task_row(task, variables, now)
                rows.append(row)
                candidates += [
                    {"task_id": row["id"], "kind": "group", "value": g} for g in row["candidate_groups"]
                ]
                candidates += [
                    {"task_id": row["id"], "kind": "user", "value": u} for u in row["candidate_users"]
                ]
                self.record(
                    "task_created",
                    element_id=row["element_id"],
                    task_id=row["id"],
                    actor="system",
                    detail={
                        "name": row["name"],
                        "candidate_groups": row["candidate_groups"],
                        "assignee": row["assignee"],
                        "due_at": row["due_at"],
                    },
                )
            later.append((sa.insert(UserTask), rows))
            if candidates:
                later.append((sa.insert(TaskCandidate), candidates))
            self.new_tasks = [r["id"] for r in rows]
        messages_after = waiting_messages(wf)
        if messages_after != self._messages_before:
            later.append((sa.delete(MessageSubscription).where(MessageSubscription.case_id == case.id), None))
            if messages_after:
                later.append(
                    (
                        sa.insert(MessageSubscription),
                        [
                            {"case_id": case.id, "message_name": name, "element_id": el}
                            for name, el in messages_after
                        ],
                    )
                )
        values: dict[str, Any] = {
            "state": dump_state(wf),
            "data": json_safe(variables),
            "next_timer_at": timers[0][0] if timers else None,
        }
        if self.end_reason is not None:
            values.update(status="terminated", ended_at=now, end_reason=self.end_reason, next_timer_at=None)
        elif wf.is_completed() and case.status == "active":
            values.update(status="completed", ended_at=now, next_timer_at=None)
            self.record("case_completed", actor="system", detail={"variables": json_safe(redact(variables))})
        values.update(audit_seq=self.chain.seq, audit_hash=self.chain.hash)
        self._write(values)
        for statement, params in later:
            self.session.execute(statement, params) if params is not None else self.session.execute(statement)
        self.audit.flush(self.session)

    def _write(self, values: dict[str, Any]) -> None:
        case = self.case
        if self.is_new:
            values.update(version=1)
            row = {
                c: getattr(case, c)
                for c in (
                    "id",
                    "definition_id",
                    "process_key",
                    "business_key",
                    "status",
                    "state_format",
                    "started_by",
                    "started_at",
                    "ended_at",
                    "end_reason",
                )
            }
            row.update(values)
            self.session.execute(sa.insert(Case), [row])
            case.version = 1
            self.is_new = False
        else:
            # Optimistic lock: also guards SQLite, which has no SELECT … FOR UPDATE.
            result = self.session.execute(
                sa.update(Case)
                .where(Case.id == case.id, Case.version == case.version)
                .values(version=case.version + 1, **values)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                raise Conflict("Ärendet ändrades samtidigt av någon annan; ladda om och försök igen.")
            case.version += 1
        for key, value in values.items():
            if key != "state":
                setattr(case, key, value)

    def _task_row(self, task, variables: dict[str, Any], now: datetime) -> dict[str, Any]:
        spec = task.task_spec
        ext = getattr(spec, "extensions", None) or {}
        cam = ext.get("camunda", {})
        props = ext.get("properties", {})
        data = {**variables, **task.data}
        groups = [g for g in (_resolve(x, data) for x in cam.get("candidateGroups", [])) if g]
        users = [u for u in (_resolve(x, data) for x in cam.get("candidateUsers", [])) if u]
        assignee = _resolve(cam.get("assignee"), data)
        if not groups and not users and not assignee:
            lane_role = role_from_lane(spec.lane)
            groups = [lane_role] if lane_role else []
        working = str(props.get("dueDateWorkingDays", "")).lower() == "true"
        form = dict(ext.get("form") or {"fields": []})
        if props.get("formSchema"):
            form["schema"] = orjson.loads(props["formSchema"])
        priority = cam.get("priority")
        return {
            "id": str(task.id),
            "case_id": self.case.id,
            "definition_id": self.case.definition_id,
            "process_key": self.case.process_key,
            "element_id": spec.bpmn_id or spec.name,
            "name": spec.bpmn_name or spec.bpmn_id,
            "documentation": spec.documentation,
            "lane": spec.lane,
            "candidate_groups": groups,
            "candidate_users": users,
            "assignee": assignee,
            "state": "open",
            "created_at": now,
            "due_at": compute_due(cam.get("dueDate"), now, data, working_days=working),
            "follow_up_at": compute_due(cam.get("followUpDate"), now, data, working_days=working),
            "priority": int(_resolve(priority, data) or 50) if priority else 50,
            "form": form,
            "completed_at": None,
            "completed_by": None,
        }


def new_case(
    session: Session,
    definition,
    spec,
    subprocess_specs,
    business_key: str | None,
    variables: dict[str, Any],
    actor: str,
    audit: AuditWriter,
) -> CaseRun:
    now = clock.now()
    case = Case(
        id=str(uuid.uuid4()),
        definition_id=definition.id,
        process_key=definition.key,
        business_key=business_key,
        status="active",
        version=0,
        state=b"",
        state_format=STATE_FORMAT,
        data={},
        started_by=actor,
        started_at=now,
        audit_seq=0,
        audit_hash=GENESIS,
    )
    run = CaseRun(session, case, None, actor, audit)
    run.wf = new_workflow(spec, subprocess_specs, variables)
    return run


def start_new_case(
    session: Session,
    spec_cache,
    definition,
    business_key: str | None,
    variables: dict[str, Any],
    actor: str,
    **detail: Any,
) -> CaseRun:
    """Start a case of ``definition`` inside the caller's transaction: the one way every starter (API,
    schedule, message) creates a case, so each gets the same audit entry and projection."""
    spec, subprocess_specs = spec_cache.get(session, definition.id)
    run = new_case(session, definition, spec, subprocess_specs, business_key, variables, actor, AuditWriter())
    run.record(
        "case_started",
        detail={
            "definition_id": definition.id,
            "business_key": business_key,
            "variables": json_safe(redact(variables)),
            **detail,
        },
    )
    run.step()
    run.save()
    return run


def open_case(
    session: Session, case_id: str, spec_cache, actor: str, audit: AuditWriter, case: Case | None = None
) -> CaseRun:
    """Load and lock a case (FOR UPDATE on PostgreSQL; the version check covers SQLite)."""
    if case is None:  # not already loaded (and locked) by the caller
        q = sa.select(Case).where(Case.id == case_id)
        if session.get_bind().dialect.name == "postgresql":
            q = q.with_for_update()
        case = session.execute(q.execution_options(populate_existing=True)).scalar()
    if case is None:
        raise NotFound(f"Ärendet {case_id} finns inte.")
    # Detached: the run writes the row itself (Core UPDATE … WHERE version = …), never via the ORM flush.
    session.expunge(case)
    if case.state_format != STATE_FORMAT:
        raise Conflict(f"case {case_id} is stored as {case.state_format}; migrate it first")
    spec, subprocess_specs = spec_cache.get(session, case.definition_id)
    wf = load_state(case.state, spec, subprocess_specs)
    return CaseRun(session, case, wf, actor, audit)
