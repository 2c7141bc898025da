"""External tasks: Camunda 7's way of letting outside workers do a step of a case.

A service (or business rule, or send) task with ``camunda:type="external"`` and a ``camunda:topic`` does
nothing itself: the case waits there (SpiffWorkflow's STARTED state) and ``CaseRun.save`` projects it into
``external_task``. A worker — the municipality's integration to its archive, its e-service platform, a
script — fetches the open tasks of its topics and locks them for a while (``fetch_and_lock``), does the
work, and completes the task with variables, reports a failure (with retries left, or none: an incident
that waits for a person), or reports a business error that an error boundary event of the task catches.

Locks, retries and errors are rows of ``external_task`` only: fetching changes no case, so workers polling
never contend with staff completing tasks. Completing and business errors go through the case like every
other state change (one transaction, audited, the version checked). Failures and retry changes are
audited on the case's chain too, so an auditor sees that the archive was down and who retried when.

Rights are the caller's rule (the REST API: an integration or administrator role). The worker id is the
worker's own name for itself, as in Camunda; only the worker holding the lock may complete, fail or
extend it.

Messages are English, in Camunda's words: this service's callers are workers speaking Camunda's REST API,
and their logs and libraries match on Camunda's texts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.task import TaskState
from sqlalchemy.orm import Session

from engine import audit as audit_log
from engine import clock
from engine.audit import AuditWriter
from engine.bpmn.parser import DelaktigErrorEventDefinition, is_external
from engine.case_values import CaseInfo, check_variables, info
from engine.errors import Conflict, NotFound, Problem, ValidationFailed
from engine.models import Case, ExternalTask
from engine.personal import redact
from engine.runtime import TYPES_KEY, open_case
from engine.scope import spread
from engine.workflow import json_safe

# Camunda takes any positive long; a lock (or retry timeout) is bounded only where its end would no longer
# be a date both databases store: a hundred years.
MAX_LOCK_MS = 100 * 365 * 24 * 3600 * 1000
MAX_TASKS = 2**31 - 1  # Camunda's int; the REST API caps a fetch lower (REST_FETCH_MAX_TASKS)
MAX_ERROR_MESSAGE = 666
FETCH_BATCH = 200  # Camunda's column size: longer messages are cut, as Camunda cuts them


def _same(stored: Any, wanted: Any) -> bool:
    """Equal and of the same kind, as Camunda compares typed values: 1 is not true, "1" is not 1; a
    number equals the same number (Integer, Long and Double alike)."""
    if isinstance(stored, bool) or isinstance(wanted, bool):
        return type(stored) is type(wanted) and stored == wanted
    if isinstance(stored, int | float) and isinstance(wanted, int | float):
        return stored == wanted
    return type(stored) is type(wanted) and stored == wanted


def _refused(where: str, message: str) -> ValidationFailed:
    return ValidationFailed([Problem(where, message)], message)


@dataclass
class TopicRequest:
    """One topic of a fetch-and-lock request and the filters that narrow it."""

    topic: str
    lock_ms: int
    variables: list[str] | None = None  # None: all of the case's variables
    business_key: str | None = None
    definition_ids: list[str] | None = None
    definition_keys: list[str] | None = None
    process_variables: dict[str, Any] = field(default_factory=dict)  # name → value, all equal
    matches_nothing: bool = False  # a tenant or version tag filter: Delaktig has neither
    include_extension_properties: bool = False
    local_only: bool = False  # Camunda's localVariables: the task's own variables only

    def check(self) -> None:
        if not isinstance(self.topic, str) or not self.topic:
            raise _refused("topicName", "topicName is null")
        _check_duration("lockDuration", self.lock_ms)

    def where(self) -> sa.ColumnElement[bool]:
        test = [ExternalTask.topic == self.topic]
        if self.matches_nothing:
            test.append(sa.false())
        if self.business_key is not None:
            test.append(ExternalTask.business_key == self.business_key)
        if self.definition_ids is not None:
            test.append(ExternalTask.definition_id.in_(self.definition_ids))
        if self.definition_keys is not None:
            test.append(ExternalTask.process_key.in_(self.definition_keys))
        return sa.and_(*test)

    def accepts(self, row, data: dict[str, Any]) -> bool:
        """Whether ``row`` is one of this topic's, its variables (``data``) matching the filter."""
        if self.topic != row.topic:
            return False
        if self.business_key is not None and row.business_key != self.business_key:
            return False
        if self.definition_ids is not None and row.definition_id not in self.definition_ids:
            return False
        if self.definition_keys is not None and row.process_key not in self.definition_keys:
            return False
        return all(
            name in data and _same(data[name], value) for name, value in self.process_variables.items()
        )


@dataclass
class ExternalTaskInfo:
    """An external task as a worker or a reader sees it (Camunda's ExternalTaskDto / LockedExternalTaskDto)."""

    id: str
    topic: str
    case_id: str
    definition_id: str
    process_key: str
    business_key: str | None
    element_id: str
    name: str | None
    priority: int
    state: str
    worker_id: str | None
    lock_expires_at: datetime | None
    retries: int | None
    error_message: str | None
    created_at: datetime
    failed_at: datetime | None = None
    error_details: str | None = None
    suspended: bool = False
    properties: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    variable_types: dict[str, str] = field(default_factory=dict)


def _info(
    row: ExternalTask,
    data: dict[str, Any] | None = None,
    names: list[str] | None = None,
    local_only: bool = False,
):
    """``data``: the case's variables; the task's own (``local_data``) go over them (``local_only``: only
    those, Camunda's ``localVariables``)."""
    data = dict(data or {})
    types = data.pop(TYPES_KEY, None) or {}
    data = {**({} if local_only else data), **(row.local_data or {})}
    if names is not None:
        data = {k: v for k, v in data.items() if k in names}
    return ExternalTaskInfo(
        row.id,
        row.topic,
        row.case_id,
        row.definition_id,
        row.process_key,
        row.business_key,
        row.element_id,
        row.name,
        row.priority,
        row.state,
        row.worker_id,
        row.lock_expires_at,
        row.retries,
        row.error_message,
        row.created_at,
        row.failed_at,
        row.error_details,
        properties=dict(row.properties or {}),
        variables=data,
        variable_types={k: v for k, v in types.items() if k in data},
    )


SORT_KEYS = {
    "id": ExternalTask.id,
    "lockExpirationTime": ExternalTask.lock_expires_at,
    "processInstanceId": ExternalTask.case_id,
    "processDefinitionId": ExternalTask.definition_id,
    "processDefinitionKey": ExternalTask.process_key,
    "taskPriority": ExternalTask.priority,
    "createTime": ExternalTask.created_at,
    "failedAt": ExternalTask.failed_at,  # incidents' incidentTimestamp
    "errorMessage": ExternalTask.error_message,
    "activityId": ExternalTask.element_id,
}


@dataclass
class ExternalTaskQuery:
    """Camunda's external task query filters (None: not filtered). Only open tasks are ever listed: a
    completed or cancelled one no longer exists at runtime, as in Camunda."""

    ids: list[str] | None = None
    topic: str | None = None
    worker_id: str | None = None
    locked: bool | None = None
    not_locked: bool | None = None
    with_retries_left: bool | None = None
    no_retries_left: bool | None = None
    lock_expiration_after: datetime | None = None
    lock_expiration_before: datetime | None = None
    activity_ids: list[str] | None = None
    case_ids: list[str] | None = None
    definition_ids: list[str] | None = None
    definition_keys: list[str] | None = None
    priority_at_least: int | None = None
    priority_at_most: int | None = None
    failed_after: datetime | None = None
    failed_before: datetime | None = None
    error_message: str | None = None
    matches_nothing: bool = False

    def where(self, now: datetime) -> list[sa.ColumnElement[bool]]:
        t = ExternalTask
        out: list[sa.ColumnElement[bool]] = [t.state == "open"]
        is_locked = sa.and_(t.lock_expires_at.is_not(None), t.lock_expires_at > now)
        pairs = [
            (self.ids, lambda v: t.id.in_(v)),
            (self.topic, lambda v: t.topic == v),
            (self.worker_id, lambda v: t.worker_id == v),
            (self.locked, lambda v: is_locked),
            (self.not_locked, lambda v: sa.not_(is_locked)),
            (self.with_retries_left, lambda v: sa.or_(t.retries.is_(None), t.retries > 0)),
            (self.no_retries_left, lambda v: t.retries == 0),
            (self.lock_expiration_after, lambda v: t.lock_expires_at > v),
            (self.lock_expiration_before, lambda v: t.lock_expires_at < v),
            (self.activity_ids, lambda v: t.element_id.in_(v)),
            (self.case_ids, lambda v: t.case_id.in_(v)),
            (self.definition_ids, lambda v: t.definition_id.in_(v)),
            (self.definition_keys, lambda v: t.process_key.in_(v)),
            (self.priority_at_least, lambda v: t.priority >= v),
            (self.priority_at_most, lambda v: t.priority <= v),
            (self.failed_after, lambda v: t.failed_at > v),
            (self.failed_before, lambda v: t.failed_at < v),
            (self.error_message, lambda v: t.error_message == v),
        ]
        out += [test(value) for value, test in pairs if value is not None and value is not False]
        if self.matches_nothing:
            out.append(sa.false())
        return out


def _fetchable(now: datetime) -> list[sa.ColumnElement[bool]]:
    return [
        ExternalTask.state == "open",
        sa.or_(ExternalTask.retries.is_(None), ExternalTask.retries > 0),
        sa.or_(ExternalTask.lock_expires_at.is_(None), ExternalTask.lock_expires_at <= now),
    ]


def _check_worker(worker_id: Any) -> str:
    if worker_id is None:
        raise _refused("workerId", "workerId is null")
    if not isinstance(worker_id, str) or not worker_id.strip() or len(worker_id) > 255 or "\x00" in worker_id:
        raise _refused("workerId", "workerId must be a text of 1 to 255 characters")
    return worker_id


def _check_duration(name: str, value: Any, minimum: int = 1) -> int:
    """A duration in milliseconds: positive (``minimum`` 0: or zero), as Camunda's long, and at most
    ``MAX_LOCK_MS`` (later would not be a date the databases keep)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise _refused(name, f"{name} must be a number of milliseconds")
    if value < minimum:
        relation = "greater than 0" if minimum > 0 else "greater than or equal to 0"
        raise _refused(name, f"{name} is not {relation}")
    if value > MAX_LOCK_MS:
        raise _refused(name, f"{name} is greater than {MAX_LOCK_MS} milliseconds (100 years)")
    return value


def _check_retries(retries: Any) -> int:
    if retries is None:
        raise _refused("retries", "retries is null")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries >= 2**31:
        raise _refused("retries", "retries must be an integer of at most 2147483647")
    if retries < 0:
        raise _refused("retries", "The number of retries cannot be negative")
    return retries


class ExternalTasks:
    """The external-task service of ``engine.app.Delaktig`` (a mixin: it uses the engine's transactions
    and spec cache)."""

    # --- workers: fetch, complete, fail ------------------------------------------------------------------
    def fetch_and_lock(
        self,
        worker_id: str,
        max_tasks: int,
        topics: list[TopicRequest],
        use_priority: bool = False,
        newest_first: bool = False,
    ) -> list[ExternalTaskInfo]:
        """Lock up to ``max_tasks`` open, unlocked tasks of ``topics`` (with retries left) for
        ``worker_id``, each for its topic's lock duration, and return them with their case's variables.
        Oldest first (``newest_first``: newest first, Camunda's createTime desc), after the highest
        priority with ``use_priority``. Two workers fetching at once never get the same task: the lock is
        taken by an UPDATE that re-checks the task is still free."""
        _check_worker(worker_id)
        if isinstance(max_tasks, bool) or not isinstance(max_tasks, int) or max_tasks > MAX_TASKS:
            raise _refused("maxTasks", f"maxTasks must be an integer of at most {MAX_TASKS}")
        if max_tasks < 0:
            raise _refused("maxTasks", "maxTasks is not greater than or equal to 0")
        for topic in topics:
            topic.check()
        if not topics or max_tasks == 0:
            return []

        def work(s: Session) -> list[ExternalTaskInfo]:
            now = clock.now()
            order = [ExternalTask.priority.desc()] if use_priority else []
            if newest_first:
                order += [ExternalTask.created_at.desc(), ExternalTask.id.desc()]
            else:
                order += [ExternalTask.created_at, ExternalTask.id]
            q = (
                sa.select(ExternalTask, Case.data)
                .join(Case, Case.id == ExternalTask.case_id)
                .where(*_fetchable(now), Case.status == "active", sa.or_(*(t.where() for t in topics)))
                .order_by(*order)
            )
            postgres = s.get_bind().dialect.name == "postgresql"
            locked: list[ExternalTaskInfo] = []
            # Candidates are read without locks, in batches, until enough are taken or none are left: a
            # variable filter is tested here (over the task's own variables too), so a match behind many
            # non-matches is still found. Each one chosen is then taken with a lock that skips a task
            # another worker is taking at this moment (PostgreSQL), and re-checked as still free; the
            # loser goes on to the next candidate instead of queueing behind the winner and coming back
            # empty. (SQLite's writers queue at BEGIN: nothing interleaves there.)
            batch, offset = max(FETCH_BATCH, max_tasks), 0
            while len(locked) < max_tasks:
                rows = s.execute(q.limit(batch).offset(offset)).all()
                taken = len(locked)
                for row, data in rows:
                    merged = {**(data or {}), **(row.local_data or {})}
                    topic = next((t for t in topics if t.accepts(row, merged)), None)
                    if topic is None:
                        continue
                    free = sa.select(ExternalTask.id).where(ExternalTask.id == row.id, *_fetchable(now))
                    if postgres:
                        free = free.with_for_update(skip_locked=True)
                    if s.execute(free).scalar() is None:
                        continue  # another worker took it a moment earlier
                    until = now + timedelta(milliseconds=topic.lock_ms)
                    s.execute(
                        sa.update(ExternalTask)
                        .where(ExternalTask.id == row.id)
                        .values(worker_id=worker_id, lock_expires_at=until)
                        .execution_options(synchronize_session=False)
                    )
                    row.worker_id, row.lock_expires_at = worker_id, until
                    found = _info(row, data, topic.variables, topic.local_only)
                    if not topic.include_extension_properties:
                        found.properties = {}
                    locked.append(found)
                    if len(locked) >= max_tasks:
                        break
                if len(rows) < batch:
                    break
                offset += len(rows) - (len(locked) - taken)  # the ones taken left the query's rows
            return locked

        return self.transaction(work)

    def complete_external_task(
        self,
        task_id: str,
        worker_id: str,
        actor: str,
        variables: dict[str, Any] | None = None,
        variable_types: dict[str, str | None] | None = None,
    ) -> CaseInfo:
        """The worker holding the lock completes the task; its variables go to the case and the case moves
        on, in one transaction."""
        variables = check_variables(dict(variables or {}))

        def act_on(run, task, row) -> None:
            before = dict(task.data)

            def act() -> None:
                task.set_data(**variables)
                spread(run.wf, variables, source=task)  # the whole case sees them, also later in this step
                task.complete()

            run.step(act)
            old, new = redact({k: before.get(k) for k in variables}), redact(variables)
            run.record(
                "external_task_completed",
                element_id=row.element_id,
                task_id=row.id,
                detail={
                    "name": row.name,
                    "topic": row.topic,
                    "worker": worker_id,
                    "submitted": json_safe(new),
                    "changes": {
                        k: [json_safe(old[k]), json_safe(new[k])]
                        for k, v in variables.items()
                        if before.get(k) != v
                    },
                },
            )

        return self._finish_external(task_id, worker_id, actor, "completed", act_on, variable_types)

    def external_task_bpmn_error(
        self,
        task_id: str,
        worker_id: str,
        actor: str,
        error_code: str,
        error_message: str | None = None,
        variables: dict[str, Any] | None = None,
        variable_types: dict[str, str | None] | None = None,
    ) -> CaseInfo:
        """The worker reports a business error (``errorCode``): an error boundary event that catches the
        code (or any code) — on the task, else on the multi-instance activity or subprocess around it,
        outwards — takes the case on, with the variables. No such event: refused and
        nothing changes — Camunda would end that path of the case silently, and a municipality's case
        must not vanish because a worker said "not found"; the worker can report a failure instead."""
        variables = check_variables(dict(variables or {}))
        if not isinstance(error_code, str) or not error_code.strip() or len(error_code) > 200:
            raise _refused("errorCode", "errorCode must be a text of 1 to 200 characters")
        if error_message is not None and not isinstance(error_message, str):
            raise _refused("errorMessage", "errorMessage must be a text")

        def act_on(run, task, row) -> None:
            thrown = DelaktigErrorEventDefinition(error_code, code=error_code)
            thrown.error_message = error_message
            event = BpmnEvent(thrown, {})
            catchers = _error_catchers(task, event)
            if not catchers:
                raise _refused(
                    "errorCode",
                    f"No error boundary event on {row.element_id} catches the error code "
                    f"'{error_code}'; report a failure instead",
                )

            def act() -> None:
                # As Camunda: the nearest scope's boundary event (_error_catchers), and there the one for
                # this very code before one that catches any code; never another task's.
                catcher = catchers[0]
                definition = catcher.task_spec.event_definition
                named = {  # camunda:errorCodeVariable / errorMessageVariable of the catching event
                    getattr(definition, "code_variable", None): error_code,
                    getattr(definition, "message_variable", None): error_message,
                }
                event.payload = {**task.data, **variables, **{k: v for k, v in named.items() if k}}
                catcher.task_spec.catch(catcher, event)
                catcher.task_spec._update(catcher)

            run.step(act)
            # Nothing interrupted it: not caught after all. (An interrupted multi-instance body drops its
            # instances from the workflow instead of cancelling them.)
            if task.workflow.tasks.get(task.id) is task and task.state == TaskState.STARTED:
                raise _refused("errorCode", f"The error code '{error_code}' was not caught")
            run.record(
                "external_task_error",
                element_id=row.element_id,
                task_id=row.id,
                detail={
                    "name": row.name,
                    "topic": row.topic,
                    "worker": worker_id,
                    "error_code": error_code,
                    # The worker's own words stay out of the append-only log: they may name a citizen.
                    "has_error_message": bool(error_message),
                    "submitted": json_safe(redact(variables)),
                },
            )

        return self._finish_external(task_id, worker_id, actor, "error", act_on, variable_types)

    def _finish_external(self, task_id, worker_id, actor, how, act_on, variable_types) -> CaseInfo:
        _check_worker(worker_id)

        def work(s: Session) -> CaseInfo:
            row = _locked_row(s, task_id, worker_id, "complete" if how == "completed" else "bpmnError")
            run = open_case(s, row.case_id, self.specs, actor, AuditWriter())
            task = _spiff_task(run, row)
            run.completed_task_ids.add(row.id)
            act_on(run, task, row)
            s.execute(
                sa.update(ExternalTask)
                .where(ExternalTask.id == row.id)
                .values(
                    state="completed",
                    ended_at=clock.now(),
                    ended_by=actor,
                    worker_id=None,
                    lock_expires_at=None,
                )
            )
            run.declare_types(variable_types)
            run.save()
            return info(run)

        return self._retrying(work)

    def fail_external_task(
        self,
        task_id: str,
        worker_id: str,
        actor: str,
        error_message: str | None = None,
        error_details: str | None = None,
        retries: int | None = 0,
        retry_timeout_ms: int = 0,
    ) -> None:
        """The worker could not do it (a technical failure). With ``retries`` left, the task can be
        fetched again after ``retry_timeout_ms``; with none it is an incident: no worker gets it until
        someone sets new retries (``set_external_retries``)."""
        _check_worker(worker_id)
        for name, value in (("errorMessage", error_message), ("errorDetails", error_details)):
            if value is not None and (not isinstance(value, str) or "\x00" in value):
                raise _refused(name, f"{name} must be a text")
        retries = 0 if retries is None else retries  # as Camunda (an int field): none left, an incident
        _check_retries(retries)
        _check_duration("retryTimeout", retry_timeout_ms, minimum=0)

        def work(s: Session) -> None:
            row = _locked_row(s, task_id, worker_id, "failure")
            now = clock.now()
            message = (error_message or "")[:MAX_ERROR_MESSAGE] or None
            _change_row(
                s,
                row,
                actor,
                "external_task_failed",
                # The message and details stay on the task row only (they may name a citizen, and the
                # audit log is append-only: engine.personal).
                {
                    "worker": worker_id,
                    "has_error_message": message is not None,
                    "retries": retries,
                    "incident": retries == 0,
                },
                error_message=message,
                error_details=error_details,
                retries=retries,
                failed_at=now,
                lock_expires_at=now + timedelta(milliseconds=retry_timeout_ms),
            )

        self.transaction(work)

    def extend_external_lock(self, task_id: str, worker_id: str, new_duration_ms: int) -> None:
        """The worker needs longer: the lock runs ``new_duration_ms`` from now. Only an unexpired lock of
        this worker can be extended."""
        _check_worker(worker_id)
        _check_duration("newDuration", new_duration_ms)

        def work(s: Session) -> None:
            row = _locked_row(s, task_id, worker_id, "extendLock")
            now = clock.now()
            if row.lock_expires_at is None or row.lock_expires_at <= now:
                raise _refused("workerId", f"Cannot extend a lock that expired (external task {task_id})")
            s.execute(
                sa.update(ExternalTask)
                .where(ExternalTask.id == row.id)
                .values(lock_expires_at=now + timedelta(milliseconds=new_duration_ms))
            )

        self.transaction(work)

    def lock_external_task(self, task_id: str, worker_id: str, lock_duration_ms: int, actor: str) -> None:
        """Lock one task for ``worker_id`` for ``lock_duration_ms`` from now without fetching it (Camunda
        7.17's ``POST /external-task/{id}/lock``): a task that is unlocked, whose lock has expired, or
        that this worker holds already (a new duration from now). Another worker's unexpired lock is
        refused. Audited on the case's chain, as failures and unlocks are."""
        _check_worker(worker_id)
        _check_duration("lockDuration", lock_duration_ms)

        def work(s: Session) -> None:
            row = _open_row(s, task_id)
            now = clock.now()
            held = row.lock_expires_at is not None and row.lock_expires_at > now
            if held and row.worker_id is not None and row.worker_id != worker_id:
                raise _refused("workerId", _wrong_worker("lock", task_id, worker_id, row.worker_id))
            detail = {"worker": worker_id, "before": row.worker_id if held else None}
            until = now + timedelta(milliseconds=lock_duration_ms)
            _change_row(
                s, row, actor, "external_task_locked", detail, worker_id=worker_id, lock_expires_at=until
            )

        self.transaction(work)

    # --- people: unlock, retries ---------------------------------------------------------------------------
    def unlock_external_task(self, task_id: str, actor: str) -> None:
        """Release the lock whoever holds it (a worker that died), so any worker can fetch it now."""

        def work(s: Session) -> None:
            row = _open_row(s, task_id)
            detail = {"worker": row.worker_id}
            _change_row(s, row, actor, "external_task_unlocked", detail, worker_id=None, lock_expires_at=None)

        self.transaction(work)

    def set_external_retries(
        self, task_ids: list[str], retries: int, actor: str, only_stopped: bool = False
    ) -> None:
        """Set the retries left (0: an incident; more: workers fetch it again). All or nothing.
        ``only_stopped``: only for tasks whose retries ran out (a Conflict otherwise), checked under the
        row lock, so a second click changes nothing."""
        _check_retries(retries)

        def work(s: Session) -> None:
            for task_id in sorted(set(task_ids)):  # cases locked in id order: no deadlocks
                row = _open_row(s, task_id)
                if only_stopped and row.retries != 0:
                    raise Conflict("Integrationssteget har försök kvar; det behöver ingen omstart.")
                detail = {"retries": retries, "before": row.retries}
                _change_row(s, row, actor, "external_task_retries_set", detail, retries=retries)

        self.transaction(work)

    def set_external_priority(self, task_id: str, priority: int, actor: str) -> None:
        """A new priority for fetching with ``usePriority`` (Camunda's ``PUT /external-task/{id}/priority``)."""
        if isinstance(priority, bool) or not isinstance(priority, int) or not -(2**63) <= priority < 2**63:
            raise _refused("priority", "priority must be an integer (64 bits)")

        def work(s: Session) -> None:
            row = _open_row(s, task_id)
            detail = {"priority": priority, "before": row.priority}
            _change_row(s, row, actor, "external_task_priority_set", detail, priority=priority)

        self.transaction(work)

    # --- reading -------------------------------------------------------------------------------------------
    def external_tasks(
        self,
        query: ExternalTaskQuery,
        sorting: list[tuple[str, str]] | None = None,
        first: int | None = None,
        limit: int | None = None,
    ) -> list[ExternalTaskInfo]:
        """The open external tasks ``query`` selects (Camunda's external task query), sorted and paged."""
        q = sa.select(ExternalTask).where(*query.where(clock.now()))
        order = [
            SORT_KEYS[key].desc() if way == "desc" else SORT_KEYS[key].asc() for key, way in sorting or []
        ]
        q = q.order_by(*order, ExternalTask.created_at, ExternalTask.id).offset(first or 0)
        if limit is not None:
            q = q.limit(limit)
        with self.session() as s:
            return [_info(row) for row in s.execute(q).scalars()]

    def count_external_tasks(self, query: ExternalTaskQuery) -> int:
        q = sa.select(sa.func.count()).select_from(ExternalTask).where(*query.where(clock.now()))
        with self.session() as s:
            return s.execute(q).scalar_one()

    def external_topic_names(
        self, locked: bool = False, unlocked: bool = False, retries_left: bool = False
    ) -> list[str]:
        """Topics of open tasks (Camunda: with locked, unlocked tasks, retries left; both or neither: all)."""
        query = ExternalTaskQuery(with_retries_left=retries_left or None)
        if locked != unlocked:
            query.locked, query.not_locked = locked or None, unlocked or None
        q = (
            sa.select(ExternalTask.topic)
            .where(*query.where(clock.now()))
            .distinct()
            .order_by(ExternalTask.topic)
        )
        with self.session() as s:
            return list(s.execute(q).scalars())

    def external_task(self, task_id: str) -> ExternalTaskInfo:
        with self.session() as s:
            row = s.get(ExternalTask, str(task_id))
            if row is None or row.state != "open":
                raise NotFound(f"External task with id {task_id} does not exist")
            return _info(row)

    def external_task_error_details(self, task_id: str) -> str | None:
        with self.session() as s:
            row = s.get(ExternalTask, str(task_id))
            if row is None or row.state != "open":
                raise NotFound(f"External task with id {task_id} does not exist")
            return row.error_details


def _change_row(
    s: Session, row: ExternalTask, actor: str, kind: str, detail: dict[str, Any], **values
) -> None:
    """Set ``values`` on the (locked) task row and record ``kind`` on its case's audit chain, in the
    caller's transaction. ``detail`` is read before the UPDATE, which refreshes the loaded row."""
    detail = {"name": row.name, "topic": row.topic, **detail}
    s.execute(sa.update(ExternalTask).where(ExternalTask.id == row.id).values(**values))
    audit_log.append_case_event(s, row.case_id, actor, kind, detail, row.element_id, row.id)


def _open_row(s: Session, task_id: str) -> ExternalTask:
    """The open task, its row locked — after its case's row, the order every state change of a case
    takes (cancelling, waking timers, completing lock the case, then its task rows). Locking the task
    first deadlocked against them on PostgreSQL."""
    case_id = s.execute(
        sa.select(ExternalTask.case_id).where(ExternalTask.id == str(task_id), ExternalTask.state == "open")
    ).scalar()
    if case_id is None:
        raise NotFound(f"External task with id {task_id} does not exist")
    postgres = s.get_bind().dialect.name == "postgresql"
    if postgres:
        s.execute(sa.select(Case.id).where(Case.id == case_id).with_for_update())
    q = sa.select(ExternalTask).where(ExternalTask.id == str(task_id))
    row = s.execute(q.with_for_update() if postgres else q).scalar_one_or_none()
    if row is None or row.state != "open":
        raise NotFound(f"External task with id {task_id} does not exist")
    return row


# Camunda's words for a worker acting on a task another worker (or none) holds, by action.
_WRONG_WORKER = {
    "complete": "External Task {id} cannot be completed by worker '{worker}'",
    "failure": "Failure of External Task {id} cannot be reported by worker '{worker}'",
    "bpmnError": "Bpmn error of External Task {id} cannot be reported by worker '{worker}'",
    "extendLock": "The lock of the External Task {id} cannot be extended by worker '{worker}'",
    "lock": "External Task {id} cannot be locked by worker '{worker}'",
}


def _wrong_worker(action: str, task_id: str, worker_id: str, holder: str | None) -> str:
    # As Camunda's Java string concatenation: no holder is 'null'.
    held_by = "null" if holder is None else holder
    start = _WRONG_WORKER[action].format(id=task_id, worker=worker_id)
    return f"{start}. It is locked by worker '{held_by}'."


def _locked_row(s: Session, task_id: str, worker_id: str, action: str) -> ExternalTask:
    """The open task, locked by ``worker_id`` (as Camunda: an expired lock still counts until another
    worker has fetched the task). ``action``: a key of ``_WRONG_WORKER``."""
    row = _open_row(s, task_id)
    if row.worker_id != worker_id:
        raise _refused("workerId", _wrong_worker(action, task_id, worker_id, row.worker_id))
    return row


def _error_catchers(task, event) -> list:
    """The error boundary events that catch ``event`` thrown by ``task``, as Camunda looks for them: those
    on the task itself, else on the multi-instance activity around it, else on the embedded subprocess
    that holds it, and so on outwards — at each level those naming the code before those catching any."""
    waiting = list(task.workflow.top_workflow.event_manager.tasks.values())
    current = task
    while current is not None:
        found = [
            t
            for t in waiting
            if t.parent is current.parent
            and t is not current
            and isinstance(t.task_spec, BoundaryEvent)
            and t.task_spec.event_definition.catches(t, event)
        ]
        if found:
            return sorted(found, key=lambda t: getattr(t.task_spec.event_definition, "code", None) is None)
        current = _enclosing_activity(current)
    return []


def _enclosing_activity(task):
    """The activity ``task`` runs inside: its multi-instance body, or the subprocess task of its workflow."""
    if isinstance(getattr(task.parent, "task_spec", None), LoopTask):
        return task.parent
    workflow = task.workflow
    parent_id = getattr(workflow, "parent_task_id", None)
    if parent_id is None:
        return None
    return workflow.top_workflow.get_task_from_id(parent_id)


def _spiff_task(run, row: ExternalTask):
    task = run.wf.get_task_from_id(uuid.UUID(row.id))
    if task is None or task.state != TaskState.STARTED or not is_external(task.task_spec):
        raise Conflict(f"External task {row.id} is no longer waiting")
    if run.case.status != "active":
        raise Conflict(f"Process instance {run.case.id} has ended")
    return task
