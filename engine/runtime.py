"""One case, one transaction: load → act → step → project → save.

``CaseRun`` is the only place that turns a SpiffWorkflow workflow into rows: the case blob, the
``user_task`` inbox projection, ``next_timer_at``, message subscriptions, audit rows and outbox rows. Every
state change (start, complete, message, timer) goes through it, inside the caller's transaction. The rows
go to the database through ``engine.rowio`` (queued, then sent in one round trip on PostgreSQL).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

import orjson
from SpiffWorkflow.task import TaskState
from sqlalchemy.orm import Session

from engine import activity_types, clock
from engine import case_sql as q
from engine.audit import GENESIS, AuditWriter, Chain
from engine.bpmn.compile import role_from_lane
from engine.bpmn.expressions import TranslationError
from engine.bpmn.parser import initiator_variable, is_external
from engine.errors import Conflict, NotFound, ProcessError
from engine.mail import mail_rows
from engine.personal import is_personal, redact
from engine.rowio import RowIO
from engine.sandbox import juel_value
from engine.scope import activity_locals, case_variables
from engine.users import SYSTEM_ACTORS
from engine.workdays import compute_due
from engine.workflow import (
    STATE_FORMAT,
    differs,
    dump_state,
    json_safe,
    load_state,
    message_definitions,
    new_workflow,
    run_engine,
    signal_definitions,
    waiting_timers,
)

THROWN_SIGNALS = "delaktig_thrown_signals"  # session.info: pending signals this transaction wrote


def _resolve(value: str | None, data: dict[str, Any]) -> str | None:
    """``${name}`` → the variable's value; anything else as written."""
    if value and value.strip().startswith("${") and value.strip().endswith("}"):
        name = value.strip()[2:-1].strip()
        resolved = data.get(name)
        return None if resolved is None else str(resolved)
    return value


def _expression_name(value: str) -> str | None:
    text = value.strip()
    if text.startswith(("${", "#{")) and text.endswith("}"):
        return text[2:-1].strip()
    return None


def _people(element: str, attr: str, written: list[str] | str | None, data: dict[str, Any]) -> list[str]:
    """``camunda:assignee``/``candidateGroups``/``candidateUsers`` as Camunda resolves them: a ``${…}``
    is evaluated as in a condition (``engine.sandbox.juel_value``: ``${a.b}``, ``${a[0]}``, a missing key
    is null); a list gives each element, a text is split on commas, null gives none. A variable the case
    does not have, or a value JUEL would not read, refuses the step (Camunda: "Cannot resolve
    identifier"), naming the element."""
    out: list[str] = []
    for value in [written] if isinstance(written, str) else written or []:
        if _expression_name(value) is None:
            out.append(value.strip())
            continue
        found = _expression_value(element, attr, value.strip(), data)
        items = found if isinstance(found, list | tuple) else [] if found is None else str(found).split(",")
        out.extend(str(item).strip() for item in items if item is not None and str(item).strip())
    return out


def _expression_value(element: str, attr: str, text: str, data: dict[str, Any]) -> Any:
    try:
        return juel_value(text, data)
    except NameError as err:
        raise ProcessError(element, f"camunda:{attr} {text}: {err.name} finns inte i ärendet") from None
    except (ValueError, PermissionError, TimeoutError) as err:  # JuelError, TranslationError: ValueErrors
        raise ProcessError(element, f"camunda:{attr} {text} kan inte läsas: {err}") from None


_PLACEHOLDER = re.compile(r"\$\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}")


def fill_in(text: str | None, data: dict[str, Any]) -> str | None:
    """A task name with ``${variable}`` (or ``${a.b}``) in it, as Camunda shows it: each filled in with the
    variable's value; one the case does not hold stays as written, and so does personal data (names go
    into the append-only audit log, which never holds it: ``engine.personal``)."""
    if not text or "${" not in text:
        return text

    def value(m: re.Match) -> str:
        if any(is_personal(key) for key in m.group(1).split(".")):
            return m.group(0)
        found: Any = data
        for key in m.group(1).split("."):
            if not isinstance(found, dict) or key not in found:
                return m.group(0)
            found = found[key]
        return "" if found is None else str(found)

    return _PLACEHOLDER.sub(value, text)[:300]


def _waiting(wf, definitions_of) -> list[tuple[str, str]]:
    """(event name, element id) of every waiting catch event whose definitions ``definitions_of`` picks."""
    return sorted(
        {
            (definition.name, task.task_spec.bpmn_id or task.task_spec.name)
            for task in list(wf.event_manager.tasks.values())
            for definition in definitions_of(task)
        }
    )


def waiting_messages(wf) -> list[tuple[str, str]]:
    """(message name, element id) of every waiting message catch event."""
    return _waiting(wf, message_definitions)


def waiting_signals(wf) -> list[tuple[str, str]]:
    """(signal name, element id) of every waiting signal catch event (intermediate catch, boundary event,
    event-based gateway)."""
    return _waiting(wf, signal_definitions)


def ready_user_tasks(wf) -> dict[str, Any]:
    """READY manual tasks of the case and its subprocesses. Reads the task tables directly: walking the
    tree (``wf.get_tasks``) cost more than the completion itself on an 11-task routine."""
    ready = {}
    for workflow in (wf, *wf.subprocesses.values()):
        for task in workflow.tasks.values():
            if task.state == TaskState.READY and task.task_spec.manual:
                ready[str(task.id)] = task
    return ready


def _external_priority(spec, written: str | None, data: dict[str, Any]) -> int:
    """``camunda:taskPriority``: an integer (checked at deploy), or ``${variable}`` holding one — as
    Camunda, a number only, within 64 bits; anything else refuses the step (rolled back)."""
    if not written:
        return 0
    text = written.strip()
    if not text.startswith("${"):
        return int(text)
    value = data.get(text[2:-1].strip())
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise ProcessError(
            spec.bpmn_id, f"camunda:taskPriority {text} ska vara ett heltal (64 bitar), inte {value!r}"
        )
    return value


def has_external_tasks(wf) -> bool:
    """Whether the case's diagram has external tasks at all (kept on its spec, shared by every case of
    the version), so cases without any never walk their tasks for them."""
    spec = wf.spec
    found = getattr(spec, "_delaktig_external", None)
    if found is None:
        specs = [spec, *wf.subprocess_specs.values()]
        found = any(is_external(ts) for s in specs for ts in s.task_specs.values())
        spec._delaktig_external = found
    return found


def started_external_tasks(wf) -> dict[str, Any]:
    """The external tasks waiting for a worker (STARTED) in the case and its subprocesses."""
    if not has_external_tasks(wf):
        return {}
    out = {}
    for workflow in (wf, *wf.subprocesses.values()):
        for task in workflow.tasks.values():
            if task.state == TaskState.STARTED and is_external(task.task_spec):
                out[str(task.id)] = task
    return out


TYPES_KEY = "_types"  # declared variable types (CaseRun.declare_types), in case.data and the workflow's data


# A case's stored state (SpiffWorkflow's tasks and every variable): the 11-task routine needs 7 KB, a
# rework loop run 40 times 110 KB. Far above that is a script or a client filling a variable without
# bound; refused so one case cannot grow the database or exceed a column's size (SQLite's 1 GB).
MAX_CASE_STATE = 16 * 1024 * 1024


def storable_state(wf, variables: dict[str, Any]) -> bytes:
    """The case's state to store, or a ProcessError naming the variable that cannot be stored (a script
    left a set or bytes in it) or saying the case grew too big. The step is rolled back either way."""
    try:
        blob = dump_state(wf)
    except TypeError as err:
        for name, value in variables.items():
            try:
                orjson.dumps(value)
            except TypeError:
                raise ProcessError(
                    name,
                    f"the variable holds a {type(value).__name__}, which cannot be stored: variables hold "
                    "text, numbers, true/false, null, dates, lists and maps",
                ) from err
        raise ProcessError("?", f"the case's state cannot be stored: {err}") from err
    if len(blob) > MAX_CASE_STATE:
        raise ProcessError(
            "?",
            f"the case's data would be {len(blob) / 1048576:.1f} MB; at most "
            f"{MAX_CASE_STATE // 1048576} MB are stored per case",
        )
    return blob


class CaseRun:
    """A loaded case inside a transaction. Use ``open_case`` / ``new_case`` to get one."""

    def __init__(self, session: Session, case: q.CaseRow, wf, actor: str, audit: AuditWriter):
        self.session = session
        self.io = RowIO.of(session)
        self.case = case
        self.wf = wf
        self.actor = actor
        self.audit = audit
        self.chain = Chain(case.id, case.id, case.audit_seq or 0, case.audit_hash or GENESIS)
        self._ready_before = ready_user_tasks(wf) if wf is not None else {}
        self._messages_before = waiting_messages(wf) if wf is not None else []
        self._signals_before = waiting_signals(wf) if wf is not None else []
        self._external_before = started_external_tasks(wf) if wf is not None else {}
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

    def step(self, action=None, now: datetime | None = None) -> None:
        """Run ``action`` and the engine (firing the timers due by ``now`` in due order); record fired
        timers and queue mails."""
        effects = run_engine(self.wf, action, now)
        for effect in effects:
            if effect["type"] == "timer_fired":
                self.record(
                    "timer_fired",
                    element_id=effect["element_id"],
                    task_id=effect["task_id"],
                    actor="system",
                    detail={"due": effect["due"], **effect["activity"]},
                )
            elif effect["type"] == "signal":
                self._queue_signal(effect)
            else:
                self._queue_mail(effect)

    def _queue_signal(self, effect: dict[str, Any]) -> None:
        """A signal this step threw: its own catch events took it already (SpiffWorkflow, in the step);
        a ``pending_signal`` row in this transaction takes it to the other cases and to the signal start
        events after the commit (``engine.signals``). No variables travel with it, as in Camunda 7 without
        ``camunda:in`` on the throw event."""
        io, pending_id = self.io, str(uuid.uuid4())
        io.queue(
            q.INSERT_PENDING_SIGNAL,
            {
                "id": pending_id,
                "name": effect["name"],
                "variables": io.json({}),
                "variable_types": io.json({}),
                "source_case_id": self.case.id,
                "element_id": effect["element_id"],
                "actor": self.actor,
                "created_at": io.when(clock.now()),
            },
        )
        self.session.info.setdefault(THROWN_SIGNALS, []).append(pending_id)
        self.record(
            "signal_thrown",
            element_id=effect["element_id"],
            task_id=effect["task_id"],
            detail={
                "signal": effect["name"],
                "activity_type": effect["activity_type"],
                "activity_name": effect["activity_name"],
                "pending_signal_id": pending_id,
            },
        )

    def _queue_mail(self, effect: dict[str, Any]) -> None:
        io = self.io
        rows = mail_rows(self.session, self.case, effect, clock.now())
        io.queue(
            q.INSERT_OUTBOX,
            [
                {
                    **row,
                    "payload": io.json(row["payload"]),
                    "next_attempt_at": io.when(row["next_attempt_at"]),
                    "created_at": io.when(row["created_at"]),
                }
                for row in rows
            ],
        )
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

    def declare_types(self, types: dict[str, str | None] | None) -> None:
        """Keep the declared type of variables whose JSON value cannot tell it (a Camunda ``Long`` or
        ``Short`` is a plain integer in JSON, a ``Date`` is text; the API layer names them:
        ``webhooks.rest.variables.declared_types``): ``{name: type}`` sets, ``{name: None}`` forgets. Kept in the
        workflow's own data, which its tasks and scripts do not see (ENGINE-NOTES), and projected into
        the case's data as ``_types`` (no variable name starts with "_")."""
        if not types:
            return
        kept = dict(self.wf.data.get(TYPES_KEY) or {})
        kept.update(types)
        kept = {name: kind for name, kind in kept.items() if kind}
        if kept:
            self.wf.data[TYPES_KEY] = kept
        else:
            self.wf.data.pop(TYPES_KEY, None)

    # --- projection ------------------------------------------------------------------------------------
    def save(self, last: bool = False) -> None:
        """Project the workflow into rows and write the case with an optimistic version check.

        ``last``: nothing else happens in this transaction; the rows are sent with the COMMIT
        (``Delaktig.transaction`` flushes them), one round trip fewer on PostgreSQL."""
        wf, case, io, now = self.wf, self.case, self.io, clock.now()
        ready_after = self.ready_after = ready_user_tasks(wf)
        variables = case_variables(wf)
        timers = waiting_timers(wf)  # (the timers that fired were recorded as they fired: step)
        later: list = []  # statements that need the case row to exist (foreign keys)
        gone = [
            tid for tid in self._ready_before if tid not in ready_after and tid not in self.completed_task_ids
        ]
        if gone:
            io.queue(q.CANCEL_USER_TASK, [{"id": tid, "now": io.when(now)} for tid in gone])
            io.queue(q.DELETE_TASK_CANDIDATES, [{"task_id": tid} for tid in gone])
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
            later.append((q.INSERT_USER_TASK, [self._task_params(row) for row in rows]))
            later.append((q.INSERT_TASK_CANDIDATE, candidates))
            self.new_tasks = [r["id"] for r in rows]
        self._project_external(later, variables, now)
        messages_after = waiting_messages(wf)
        if messages_after != self._messages_before:
            later.append((q.DELETE_SUBSCRIPTIONS, {"case_id": case.id}))
            later.append(
                (
                    q.INSERT_SUBSCRIPTION,
                    [
                        {"case_id": case.id, "message_name": name, "element_id": el}
                        for name, el in messages_after
                    ],
                )
            )
        signals_after = waiting_signals(wf)
        if signals_after != self._signals_before:
            later.append((q.DELETE_SIGNAL_SUBSCRIPTIONS, {"case_id": case.id}))
            later.append(
                (
                    q.INSERT_SIGNAL_SUBSCRIPTION,
                    [
                        {"case_id": case.id, "signal_name": name, "element_id": el}
                        for name, el in signals_after
                    ],
                )
            )
        data = json_safe(variables)
        types = {name: kind for name, kind in (wf.data.get(TYPES_KEY) or {}).items() if name in data}
        if types:
            data[TYPES_KEY] = types
        values: dict[str, Any] = {
            "state": storable_state(wf, variables),
            "data": data,
            "next_timer_at": timers[0][0] if timers else None,
        }
        if self.end_reason is not None:
            values.update(status="terminated", ended_at=now, end_reason=self.end_reason, next_timer_at=None)
        elif wf.is_completed() and case.status == "active":
            values.update(status="completed", ended_at=now, next_timer_at=None)
            end, end_detail = activity_types.event(activity_types.reached_end_event(wf))
            self.record(
                "case_completed",
                element_id=end,
                actor="system",
                detail={**end_detail, "variables": json_safe(redact(variables))},
            )
        values.update(audit_seq=self.chain.seq, audit_hash=self.chain.hash)
        self._write(values)
        for statement, params in later:
            io.queue(statement, params)
        self.audit.queue(io)
        if not last:
            io.flush()

    def _project_external(self, later: list, variables: dict[str, Any], now: datetime) -> None:
        """External tasks started by this step become open ``external_task`` rows; those that ended
        without a worker completing them (a boundary event interrupted them, the case was cancelled) are
        closed as cancelled."""
        io, after = self.io, started_external_tasks(self.wf)
        gone = [t for t in self._external_before if t not in after and t not in self.completed_task_ids]
        if gone:
            io.queue(
                q.END_EXTERNAL_TASK,
                [{"id": t, "state": "cancelled", "now": io.when(now), "actor": None} for t in gone],
            )
            for tid in gone:
                self.record("external_task_cancelled", task_id=tid, actor="system")
        rows = []
        for tid, task in after.items():
            if tid in self._external_before:
                continue
            spec = task.task_spec
            ext = getattr(spec, "extensions", None) or {}
            cam = ext.get("camunda", {})
            data = {**variables, **task.data}
            priority = _external_priority(spec, cam.get("taskPriority"), data)
            held = activity_locals(task)  # its input parameters: local even when equal to the case's
            local = {
                k: v
                for k, v in task.data.items()
                if not str(k).startswith("_")
                and (k in held or k not in variables or differs(variables[k], v))
            }
            row = {
                "id": tid,
                "case_id": self.case.id,
                "definition_id": self.case.definition_id,
                "process_key": self.case.process_key,
                "business_key": self.case.business_key,
                "element_id": spec.bpmn_id or spec.name,
                "name": fill_in(spec.bpmn_name, data),
                "topic": cam.get("topic") or "",
                "priority": priority,
                "properties": io.json(dict(ext.get("properties", {}))),
                "local_data": io.json(json_safe(local)),
                "created_at": io.when(now),
            }
            rows.append(row)
            self.record(
                "external_task_created",
                element_id=row["element_id"],
                task_id=tid,
                actor="system",
                detail={"name": row["name"], "topic": row["topic"], "priority": priority},
            )
        if rows:
            later.append((q.INSERT_EXTERNAL_TASK, rows))

    def _write(self, values: dict[str, Any]) -> None:
        """Queue the case row: INSERT when new, else UPDATE … WHERE version = the version read."""
        case, io = self.case, self.io
        for key, value in values.items():
            if key != "state":
                setattr(case, key, value)
        params = {
            "id": case.id,
            "status": case.status,
            "state": values["state"],
            "data": io.json(values["data"]),
            "next_timer_at": io.when(case.next_timer_at),
            "ended_at": io.when(case.ended_at),
            "end_reason": case.end_reason,
            "audit_seq": case.audit_seq,
            "audit_hash": case.audit_hash,
        }
        if self.is_new:
            io.queue(
                q.INSERT_CASE,
                {
                    **params,
                    "definition_id": case.definition_id,
                    "process_key": case.process_key,
                    "business_key": case.business_key,
                    "version": 1,
                    "state_format": case.state_format,
                    "started_by": case.started_by,
                    "started_at": io.when(case.started_at),
                },
            )
            case.version = 1
            self.is_new = False
        else:
            io.queue(q.UPDATE_CASE, {**params, "version": case.version, "new_version": case.version + 1})
            case.version += 1

    def _task_params(self, row: dict[str, Any]) -> dict[str, Any]:
        io = self.io
        return {
            **row,
            "candidate_groups": io.json(row["candidate_groups"]),
            "candidate_users": io.json(row["candidate_users"]),
            "form": io.json(row["form"]),
            "created_at": io.when(row["created_at"]),
            "due_at": io.when(row["due_at"]),
            "follow_up_at": io.when(row["follow_up_at"]),
            "completed_at": None,
        }

    def _task_row(self, task, variables: dict[str, Any], now: datetime) -> dict[str, Any]:
        spec = task.task_spec
        ext = getattr(spec, "extensions", None) or {}
        cam = ext.get("camunda", {})
        props = ext.get("properties", {})
        data = {**variables, **task.data}
        element = spec.bpmn_id or spec.name
        groups = _people(element, "candidateGroups", cam.get("candidateGroups"), data)
        users = _people(element, "candidateUsers", cam.get("candidateUsers"), data)
        assignees = _people(element, "assignee", cam.get("assignee"), data)
        if len(assignees) > 1:
            raise ProcessError(
                element, f"camunda:assignee ska vara en användare, inte {', '.join(assignees)}"
            )
        assignee = assignees[0] if assignees else None
        if not groups and not users and not assignee:
            lane_role = role_from_lane(spec.lane)
            groups = [lane_role] if lane_role else []
        if not groups and not users and not assignee:
            # Nobody could ever claim it (Camunda leaves it to administrators' permissions; Delaktig has
            # none that reach every task): the step is refused and the case stays as it was.
            raise ProcessError(
                element,
                "uppgiften får ingen som kan utföra den: camunda:assignee, candidateGroups och "
                "candidateUsers är tomma och den ligger inte i någon lane",
            )
        working = str(props.get("dueDateWorkingDays", "")).lower() == "true"
        form = dict(ext.get("form") or {"fields": []})
        if props.get("formSchema"):
            form["schema"] = orjson.loads(props["formSchema"])
        if held := activity_locals(task):  # its input parameters: the case's variables lack them
            form["variables"] = json_safe(held)
        priority = cam.get("priority")
        try:
            due_at = compute_due(cam.get("dueDate"), now, data, working_days=working)
            follow_up_at = compute_due(cam.get("followUpDate"), now, data, working_days=working)
        except TranslationError as err:  # a ${variable} not set, or not a date: the step is refused
            raise ProcessError(element, f"camunda:dueDate/followUpDate kan inte beräknas: {err}") from None
        return {
            "id": str(task.id),
            "case_id": self.case.id,
            "definition_id": self.case.definition_id,
            "process_key": self.case.process_key,
            "element_id": element,
            "name": fill_in(spec.bpmn_name, data) or spec.bpmn_id,
            "documentation": spec.documentation,
            "lane": spec.lane,
            "candidate_groups": groups,
            "candidate_users": users,
            "assignee": assignee,
            "state": "open",
            "created_at": now,
            "due_at": due_at,
            "follow_up_at": follow_up_at,
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
    case = q.CaseRow(
        id=str(uuid.uuid4()),
        definition_id=definition.id,
        process_key=definition.key,
        business_key=business_key,
        status="active",
        version=0,
        state=b"",
        state_format=STATE_FORMAT,
        data={},
        next_timer_at=None,
        started_by=actor,
        started_at=now,
        ended_at=None,
        end_reason=None,
        audit_seq=0,
        audit_hash=GENESIS,
    )
    run = CaseRun(session, case, None, actor, audit)
    run.wf = new_workflow(spec, subprocess_specs, variables)
    return run


def with_initiator(start_spec, variables: dict[str, Any], actor: str) -> dict[str, Any]:
    """The start variables with the one ``camunda:initiator`` names set to the user who started the case
    (None for the engine's own starters: the scheduler, the intake), as Camunda 7 does; a start variable of
    the same name wins, as in Camunda, where start variables are set after it."""
    name = initiator_variable(start_spec)
    if not name:
        return variables
    return {name: None if actor in SYSTEM_ACTORS else actor, **variables}


def start_new_case(
    session: Session,
    spec_cache,
    definition,
    business_key: str | None,
    variables: dict[str, Any],
    actor: str,
    last: bool = False,
    variable_types: dict[str, str | None] | None = None,
    **detail: Any,
) -> CaseRun:
    """Start a case of ``definition`` inside the caller's transaction: the one way every starter (API,
    schedule, message) creates a case, so each gets the same audit entry and projection. ``last``: as
    for ``CaseRun.save``."""
    spec, subprocess_specs = spec_cache.get(session, definition.id)
    start_spec = activity_types.none_start_event(spec)
    variables = with_initiator(start_spec, variables, actor)
    run = new_case(session, definition, spec, subprocess_specs, business_key, variables, actor, AuditWriter())
    run.declare_types(variable_types)
    start, start_detail = activity_types.event(start_spec)
    run.record(
        "case_started",
        element_id=start,
        detail={
            **start_detail,
            "definition_id": definition.id,
            "business_key": business_key,
            "variables": json_safe(redact(variables)),
            **detail,
        },
    )
    run.step()
    run.save(last=last)
    return run


def open_case(
    session: Session, case_id: str, spec_cache, actor: str, audit: AuditWriter, case: q.CaseRow | None = None
) -> CaseRun:
    """Load and lock a case (FOR UPDATE on PostgreSQL; the version check covers SQLite). ``case``: already
    loaded and locked by the caller (``case_sql``)."""
    if case is None:
        case = q.load_case(RowIO.of(session), case_id)
    if case is None:
        raise NotFound(f"Ärendet {case_id} finns inte.")
    if case.state_format != STATE_FORMAT:
        raise Conflict(f"case {case_id} is stored as {case.state_format}; migrate it first")
    spec, subprocess_specs = spec_cache.get(session, case.definition_id)
    wf = load_state(case.state, spec, subprocess_specs)
    return CaseRun(session, case, wf, actor, audit)
