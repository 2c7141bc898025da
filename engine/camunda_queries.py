"""Read-only queries behind the Camunda 7 compatible REST API (``webhooks/rest``).

Nothing here changes state (that is ``engine.app``) and nothing here knows HTTP or JSON shapes: filters
come in as small dataclasses, rows (or plain dicts for activity instances) go out. Filters, sorting and
paging run in SQL everywhere, so a page costs a page.

History is read from ``audit_event`` (append-only, hash-chained) and the ``user_task`` rows, so who did
what is always answerable: activity instances are user tasks (created → completed or cancelled) and the
case_started/case_completed/timer_fired/message_received/mail_queued rows; the user-operation log comes
from claims, completions, reassignments, cancellations, deploys, starts and message correlations.
Lists for users without a case-reader role hold only the cases they may read (``readable_by``).
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.functions import FunctionElement

from engine import users
from engine import variable_filters as vf
from engine.audit import DEPLOY_CHAIN
from engine.errors import Problem, ValidationFailed
from engine.inbox import readable_cases
from engine.models import (
    OPEN,
    AuditEvent,
    Case,
    Deployment,
    ExternalTask,
    ProcessDefinition,
    Resource,
    TaskCandidate,
    UserTask,
)

Sorting = list[tuple[str, str]]  # (column key, "asc" | "desc")


def _readable(s: Session, column: Any, readable_by: tuple[str, set[str]] | None) -> list:
    """The condition that limits a list to the cases ``readable_by`` may read (none when None)."""
    if readable_by is None:
        return []
    user, roles = readable_by
    return [readable_cases(column, user, roles, s.get_bind().dialect.name)]


def _order(columns: dict[str, Any], sorting: Sorting, tiebreak: Any) -> list:
    """ORDER BY clauses; NULLs last whatever the direction (the same on SQLite and PostgreSQL)."""
    out = []
    for key, direction in sorting:
        col = columns[key]
        out.append(col.is_(None))
        out.append(col.desc() if direction == "desc" else col.asc())
    out.append(tiebreak)
    return out


class _Duration(FunctionElement):
    """``end - start`` as something to sort by (Camunda's ``duration`` sort key): NULL while running."""

    name = "delaktig_duration"
    inherit_cache = True


@compiles(_Duration)
def _duration_pg(element, compiler, **kw) -> str:  # PostgreSQL: an interval
    start, end = list(element.clauses)
    return f"({compiler.process(end, **kw)} - {compiler.process(start, **kw)})"


@compiles(_Duration, "sqlite")
def _duration_sqlite(element, compiler, **kw) -> str:  # SQLite keeps text: days as a number
    start, end = list(element.clauses)
    return f"(julianday({compiler.process(end, **kw)}) - julianday({compiler.process(start, **kw)}))"


def _check_like(pattern: str) -> None:
    """A pattern ending in a lone escape character: PostgreSQL fails on it mid-query and SQLite matches
    nothing, so both refuse it up front (as ``variable_filters`` does for its ``like``)."""
    if (len(pattern) - len(pattern.rstrip(vf.LIKE_ESCAPE))) % 2 == 1:
        raise ValidationFailed(
            [Problem("", f"the like pattern '{pattern}' cannot end with the escape character \\")]
        )


def _like(column: Any, pattern: Any) -> sa.ColumnElement[bool]:
    """``column LIKE pattern ESCAPE '\\'``, as Camunda's own mappings write every ``…Like`` filter: a
    backslash makes "%", "_" and itself plain characters. PostgreSQL's LIKE does so unasked and SQLite's
    only when told, so without the clause ``a\\_b`` found "a_b" on one database and "a\\xb" on the other.
    ``pattern``: the text, or a bind parameter whose value the caller checks (``_check_like``)."""
    if isinstance(pattern, str):
        _check_like(pattern)
    return column.like(pattern, escape=vf.LIKE_ESCAPE)


def _page(q, first: int | None, max_results: int | None):
    if first:
        q = q.offset(first)
    if max_results is not None:
        q = q.limit(max_results)
    return q


# --- tasks --------------------------------------------------------------------------------------------
@dataclass
class TaskFilter:
    task_id: str | None = None
    process_instance_id: str | None = None
    process_definition_id: str | None = None
    process_definition_key: str | None = None
    process_definition_keys: list[str] | None = None
    business_key: str | None = None
    task_definition_key: str | None = None
    name: str | None = None
    name_like: str | None = None
    assignee: str | None = None
    assigned: bool = False
    unassigned: bool = False
    candidate_group: str | None = None
    candidate_groups: list[str] | None = None
    candidate_user: str | None = None
    include_assigned: bool = False
    with_candidate_groups: bool = False
    without_candidate_groups: bool = False
    with_candidate_users: bool = False
    without_candidate_users: bool = False
    involved_user: str | None = None  # assignee, owner or candidate user (Camunda's Task.xml)
    owner: str | None = None  # who delegated the task (delegate / resolve)
    delegation_state: str | None = None  # PENDING | RESOLVED
    due_before: datetime | None = None
    due_after: datetime | None = None
    follow_up_before: datetime | None = None
    follow_up_after: datetime | None = None
    created_before: datetime | None = None
    created_after: datetime | None = None
    min_priority: int | None = None
    max_priority: int | None = None
    priority: int | None = None
    process_instance_ids: list[str] | None = None
    task_definition_keys: list[str] | None = None
    assignees: list[str] | None = None
    process_variables: vf.VariableQuery | None = None  # conditions on the task's case's variables
    # Who is asking: only tasks this user may work on (the engine's own rule for claim/complete).
    visible_to: tuple[str, set[str]] | None = None
    sorting: Sorting = field(default_factory=list)
    first_result: int | None = None
    max_results: int | None = None


TASK_SORT = {
    "dueDate": UserTask.due_at,
    "followUpDate": UserTask.follow_up_at,
    "created": UserTask.created_at,
    "priority": UserTask.priority,
    "name": UserTask.name,
    "nameCaseInsensitive": sa.func.lower(UserTask.name),
    "assignee": UserTask.assignee,
    "id": UserTask.id,
    "instanceId": UserTask.case_id,
    "processInstanceId": UserTask.case_id,
    "executionId": UserTask.case_id,  # a case is its one execution here
    "description": UserTask.documentation,
}


# Filters compared with one column each: (TaskFilter field, column, operator). Equality filters apply
# whenever given (an empty string is a value); the rest as written in _task_shape.
_TASK_EQ = (
    ("task_id", UserTask.id),
    ("process_instance_id", UserTask.case_id),
    ("process_definition_id", UserTask.definition_id),
    ("process_definition_key", UserTask.process_key),
    ("task_definition_key", UserTask.element_id),
    ("assignee", UserTask.assignee),
    ("priority", UserTask.priority),
    ("owner", UserTask.owner),
    ("delegation_state", UserTask.delegation_state),
)
# Camunda compares a task's name without regard to case: UPPER(NAME_) = UPPER(#{name}) and … LIKE
# UPPER(#{nameLike}) in its Task.xml (CAM-6363, CAM-6165). Both sides in the database's lower()
# (``_task_where``).
# List filters (Camunda's …In): given when not empty. (TaskFilter field, column)
_TASK_IN = (
    ("process_instance_ids", UserTask.case_id),
    ("task_definition_keys", UserTask.element_id),
    ("assignees", UserTask.assignee),
)
_TASK_RANGES = (
    ("due_before", UserTask.due_at, operator.lt),
    ("due_after", UserTask.due_at, operator.gt),
    ("follow_up_before", UserTask.follow_up_at, operator.lt),
    ("follow_up_after", UserTask.follow_up_at, operator.gt),
    ("created_before", UserTask.created_at, operator.lt),
    ("created_after", UserTask.created_at, operator.gt),
    ("min_priority", UserTask.priority, operator.ge),
    ("max_priority", UserTask.priority, operator.le),
)
_TASK_RANGES_NAMED = tuple((name, col) for name, col, _op in _TASK_RANGES)
_TASK_FLAGS = (  # given when truthy (business_key: whenever not None, as the equality filters)
    "process_definition_keys",
    "name_like",
    "assigned",
    "unassigned",
    "candidate_group",
    "candidate_groups",
    "candidate_user",
    "include_assigned",
    "with_candidate_groups",
    "without_candidate_groups",
    "with_candidate_users",
    "without_candidate_users",
    "involved_user",
    "visible_to",
)


def _task_shape(f: TaskFilter, dialect: str) -> tuple:
    """Which filters are given, the sorting and whether there is paging: the task query's text depends on
    nothing else, so it is built once per shape (``_task_statement``) and the values go as parameters."""
    given = frozenset(
        [name for name, _col in (*_TASK_EQ, *_TASK_RANGES_NAMED) if getattr(f, name) is not None]
        + (["name"] if f.name is not None else [])
        + [name for name in _TASK_FLAGS if getattr(f, name)]
        + [name for name, _col in _TASK_IN if getattr(f, name)]
        + (["business_key"] if f.business_key is not None else [])
    )
    variables = None
    if f.process_variables is not None and f.process_variables.conditions:
        variables = (f.process_variables.shape(), dialect)
    return given, tuple(f.sorting), bool(f.first_result), f.max_results is not None, variables


def _candidate(kind: str, values: str, *more: tuple[str, str]) -> sa.ColumnElement[bool]:
    """The task is offered to one of the values of ``kind`` (a list parameter named ``values``), or of
    the ``more`` pairs: one EXISTS, not an OR of several — PostgreSQL spent four times as long planning
    the OR of two as running the query."""
    offered = [
        sa.and_(TaskCandidate.kind == k, TaskCandidate.value.in_(sa.bindparam(v, expanding=True)))
        for k, v in ((kind, values), *more)
    ]
    return sa.exists().where(TaskCandidate.task_id == UserTask.id, sa.or_(*offered))


def _task_where(given: frozenset[str], variables: tuple | None = None) -> list[sa.ColumnElement[bool]]:
    # Given a task or a case, the lookup goes by its key and "open" is a filter the indexes cannot serve:
    # otherwise the planner, with young statistics, may walk every open task instead (test_task_plans).
    keyed = bool(given & {"task_id", "process_instance_id", "process_instance_ids"})
    where: list[sa.ColumnElement[bool]] = [
        UserTask.state.concat("") == OPEN if keyed else UserTask.state == OPEN
    ]
    where += [col == sa.bindparam(name) for name, col in _TASK_EQ if name in given]
    if "name" in given:
        where.append(sa.func.lower(UserTask.name) == sa.func.lower(sa.bindparam("name", type_=sa.String)))
    where += [col.in_(sa.bindparam(name, expanding=True)) for name, col in _TASK_IN if name in given]
    if "process_definition_keys" in given:
        where.append(UserTask.process_key.in_(sa.bindparam("process_definition_keys", expanding=True)))
    if "business_key" in given:
        business_key = sa.bindparam("business_key", type_=sa.String)
        where.append(UserTask.case_id.in_(sa.select(Case.id).where(Case.business_key == business_key)))
    if "name_like" in given:
        name_like = sa.func.lower(sa.bindparam("name_like", type_=sa.String))
        where.append(_like(sa.func.lower(UserTask.name), name_like))
    if "assigned" in given:
        where.append(UserTask.assignee.is_not(None))
    if "unassigned" in given:
        where.append(UserTask.assignee.is_(None))
    if "candidate_group" in given:
        where.append(_candidate("group", "candidate_group"))
    if "candidate_groups" in given:
        where.append(_candidate("group", "candidate_groups"))
    if "candidate_user" in given:
        # Camunda: offered to the user directly or to one of the user's groups.
        where.append(_candidate("user", "candidate_user", ("group", "candidate_user_groups")))
    candidate_query = given & {"candidate_group", "candidate_groups", "candidate_user"}
    if candidate_query and "include_assigned" not in given:
        # Camunda's candidate queries return unclaimed tasks unless includeAssignedTasks=true.
        where.append(UserTask.assignee.is_(None))
    has_groups = sa.exists().where(TaskCandidate.task_id == UserTask.id, TaskCandidate.kind == "group")
    if "with_candidate_groups" in given:
        where.append(has_groups)
    if "without_candidate_groups" in given:
        where.append(~has_groups)
    has_users = sa.exists().where(TaskCandidate.task_id == UserTask.id, TaskCandidate.kind == "user")
    if "with_candidate_users" in given:
        where.append(has_users)
    if "without_candidate_users" in given:
        where.append(~has_users)
    if "involved_user" in given:
        # Camunda's Task.xml: assignee, owner or an identity link of the user (a candidate).
        where.append(
            sa.or_(
                UserTask.assignee == sa.bindparam("involved_user", type_=sa.String),
                UserTask.owner == sa.bindparam("involved_owner", type_=sa.String),
                _candidate("user", "involved_users"),
            )
        )
    where += [op(col, sa.bindparam(name)) for name, col, op in _TASK_RANGES if name in given]
    if "visible_to" in given:
        where.append(
            sa.or_(
                UserTask.assignee == sa.bindparam("visible_user", type_=sa.String),
                _candidate("user", "visible_users", ("group", "visible_groups")),
            )
        )
    if variables is not None:
        shape, dialect = variables
        in_case = vf.where(Case.data, shape, dialect, "pv")
        where.append(sa.exists().where(Case.id == UserTask.case_id, *in_case))
    return where


def _task_params(s: Session, f: TaskFilter, given: frozenset[str]) -> dict[str, Any]:
    params: dict[str, Any] = {name: getattr(f, name) for name, _col in _TASK_EQ if name in given}
    params.update((name, getattr(f, name)) for name, _col, _op in _TASK_RANGES if name in given)
    for name in (
        "process_definition_keys",
        "business_key",
        "name",
        "name_like",
        "candidate_groups",
        *dict(_TASK_IN),
    ):
        if name in given:
            params[name] = getattr(f, name)
    if "name_like" in given:
        _check_like(f.name_like)  # the statement is cached per shape: the pattern is a parameter
    if "candidate_group" in given:
        params["candidate_group"] = [f.candidate_group]
    if "candidate_user" in given:
        params["candidate_user"] = [f.candidate_user]
        params["candidate_user_groups"] = sorted(users.roles_of(s, f.candidate_user)) or [""]
    if "involved_user" in given:
        params.update(
            involved_user=f.involved_user, involved_owner=f.involved_user, involved_users=[f.involved_user]
        )
    if "visible_to" in given:
        user, roles = f.visible_to
        params.update(visible_user=user, visible_users=[user], visible_groups=sorted(roles) or [""])
    if f.process_variables is not None:
        params.update(f.process_variables.params("pv"))
    if f.first_result:
        params["first_result"] = f.first_result
    if f.max_results is not None:
        params["max_results"] = f.max_results
    return params


@functools.lru_cache(maxsize=512)
def _task_statement(shape: tuple, count: bool) -> sa.Select:
    """The task query of one shape (``_task_shape``), built once: constructing it cost more than running
    it (a third of a ``GET /task``); SQLAlchemy then finds its compiled form by the cache key."""
    given, sorting, offset, limit, variables = shape
    if count:
        return sa.select(sa.func.count()).select_from(UserTask).where(*_task_where(given, variables))
    q = (
        sa.select(UserTask)
        .where(*_task_where(given, variables))
        .order_by(*_order(TASK_SORT, list(sorting), UserTask.id))
    )
    if offset:
        q = q.offset(sa.bindparam("first_result", type_=sa.Integer))
    if limit:
        q = q.limit(sa.bindparam("max_results", type_=sa.Integer))
    return q


def task_query(s: Session, f: TaskFilter, count: bool = False) -> tuple[sa.Select, dict[str, Any]]:
    """The statement and parameters of a task list (or count) for ``f``."""
    shape = _task_shape(f, s.get_bind().dialect.name)
    params = _task_params(s, f, shape[0])
    if count:  # no order, no page
        shape = (shape[0], (), False, False, shape[4])
        params.pop("first_result", None)
        params.pop("max_results", None)
    return _task_statement(shape, count), params


def task_list(s: Session, f: TaskFilter) -> list[UserTask]:
    statement, params = task_query(s, f)
    return list(s.execute(statement, params).scalars())


def task_count(s: Session, f: TaskFilter) -> int:
    statement, params = task_query(s, f, count=True)
    return s.execute(statement, params).scalar_one()


def get_task(s: Session, task_id: str) -> UserTask | None:
    return s.get(UserTask, str(task_id))


def may_work_on(task: UserTask, user: str, roles: set[str]) -> bool:
    """The engine's rule (``Delaktig._task_for``): assignee, candidate user, or one of the task's groups."""
    return (
        user == task.assignee
        or user in (task.candidate_users or [])
        or bool(roles & set(task.candidate_groups or []))
    )


# --- process instances (runtime = active cases) --------------------------------------------------------
@dataclass
class InstanceFilter:
    ids: list[str] | None = None
    business_key: str | None = None
    business_key_like: str | None = None
    process_definition_id: str | None = None
    process_definition_key: str | None = None
    process_definition_keys: list[str] | None = None
    finished: bool | None = None  # None: only active (runtime); history sets True/False or leaves all
    history: bool = False
    started_by: str | None = None
    started_before: datetime | None = None
    started_after: datetime | None = None
    finished_before: datetime | None = None
    finished_after: datetime | None = None
    variables: vf.VariableQuery | None = None
    sorting: Sorting = field(default_factory=list)
    # (user, roles): only cases that user may read (engine.inbox.readable_cases); None: all.
    readable_by: tuple[str, set[str]] | None = None
    first_result: int | None = None
    max_results: int | None = None


INSTANCE_SORT = {
    "instanceId": Case.id,
    "definitionId": Case.definition_id,
    "definitionKey": Case.process_key,
    "businessKey": Case.business_key,
    "startTime": Case.started_at,
    "endTime": Case.ended_at,
    # history only; instance_list joins each case's definition
    "definitionName": ProcessDefinition.name,
    "definitionVersion": ProcessDefinition.version,
    "duration": _Duration(Case.started_at, Case.ended_at),
}


def _instance_where(f: InstanceFilter, dialect: str) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = []
    if f.variables is not None:
        where += vf.where(Case.data, f.variables.shape(), dialect, "var")
    if not f.history:
        where.append(Case.status == "active")
    elif f.finished is True:
        where.append(Case.status != "active")
    elif f.finished is False:
        where.append(Case.status == "active")
    if f.ids is not None:
        where.append(Case.id.in_(f.ids or [""]))
    eq = {
        Case.business_key: f.business_key,
        Case.definition_id: f.process_definition_id,
        Case.process_key: f.process_definition_key,
        Case.started_by: f.started_by,
    }
    where += [col == value for col, value in eq.items() if value is not None]
    if f.process_definition_keys:
        where.append(Case.process_key.in_(f.process_definition_keys))
    if f.business_key_like:
        where.append(_like(Case.business_key, f.business_key_like))
    for col, before, after in [
        (Case.started_at, f.started_before, f.started_after),
        (Case.ended_at, f.finished_before, f.finished_after),
    ]:
        if before is not None:
            where.append(col < before)
        if after is not None:
            where.append(col > after)
    return where


def instance_list(s: Session, f: InstanceFilter) -> list[tuple[Case, ProcessDefinition]]:
    q = (
        sa.select(Case, ProcessDefinition)
        .join(ProcessDefinition, ProcessDefinition.id == Case.definition_id)
        .where(*_instance_where(f, s.get_bind().dialect.name), *_readable(s, Case.id, f.readable_by))
        .order_by(*_order(INSTANCE_SORT, f.sorting, Case.id))
    )
    rows = s.execute(_page(q, f.first_result, f.max_results), _instance_params(f))
    return [(r[0], r[1]) for r in rows]


def instance_count(s: Session, f: InstanceFilter) -> int:
    q = (
        sa.select(sa.func.count())
        .select_from(Case)
        .where(*_instance_where(f, s.get_bind().dialect.name), *_readable(s, Case.id, f.readable_by))
    )
    return s.execute(q, _instance_params(f)).scalar_one()


def _instance_params(f: InstanceFilter) -> dict[str, Any]:
    return f.variables.params("var") if f.variables is not None else {}


def start_activities(s: Session, case_ids: list[str]) -> dict[str, str | None]:
    """The start event each case began at (its case_started audit row), for history's startActivityId."""
    if not case_ids:
        return {}
    rows = s.execute(
        sa.select(AuditEvent.chain, AuditEvent.element_id).where(
            AuditEvent.chain.in_(case_ids), AuditEvent.kind == "case_started"
        )
    )
    return {chain: element for chain, element in rows}


def get_case(s: Session, case_id: str) -> Case | None:
    return s.get(Case, str(case_id))


# --- deployments and definitions ----------------------------------------------------------------------
@dataclass
class DeploymentFilter:
    id: str | None = None
    name: str | None = None
    name_like: str | None = None
    source: str | None = None
    without_source: bool = False
    tenant_ids: list[str] | None = None
    without_tenant: bool = False
    after: datetime | None = None
    before: datetime | None = None
    sorting: Sorting = field(default_factory=list)
    first_result: int | None = None
    max_results: int | None = None


DEPLOYMENT_SORT = {
    "id": Deployment.id,
    "name": Deployment.name,
    "deploymentTime": Deployment.deployed_at,
    "tenantId": Deployment.tenant_id,
}


def _deployment_where(f: DeploymentFilter) -> list:
    where = []
    eq = {Deployment.id: f.id, Deployment.name: f.name, Deployment.source: f.source}
    where += [col == value for col, value in eq.items() if value is not None]
    if f.name_like:
        where.append(_like(Deployment.name, f.name_like))
    if f.without_source:
        where.append(Deployment.source.is_(None))
    if f.tenant_ids:
        where.append(Deployment.tenant_id.in_(f.tenant_ids))
    if f.without_tenant:
        where.append(Deployment.tenant_id.is_(None))
    if f.after is not None:
        where.append(Deployment.deployed_at > f.after)
    if f.before is not None:
        where.append(Deployment.deployed_at < f.before)
    return where


def deployment_list(s: Session, f: DeploymentFilter) -> list[Deployment]:
    q = sa.select(Deployment).where(*_deployment_where(f))
    q = q.order_by(*_order(DEPLOYMENT_SORT, f.sorting, Deployment.id))
    return list(s.execute(_page(q, f.first_result, f.max_results)).scalars())


def deployment_count(s: Session, f: DeploymentFilter) -> int:
    q = sa.select(sa.func.count()).select_from(Deployment).where(*_deployment_where(f))
    return s.execute(q).scalar_one()


def get_deployment(s: Session, deployment_id: str) -> Deployment | None:
    return s.get(Deployment, str(deployment_id))


def deployment_resources(s: Session, deployment_id: str) -> list[Resource]:
    q = sa.select(Resource).where(Resource.deployment_id == deployment_id).order_by(Resource.name)
    return list(s.execute(q).scalars())


def definitions_of_deployment(s: Session, deployment_id: str) -> list[ProcessDefinition]:
    q = sa.select(ProcessDefinition).where(ProcessDefinition.deployment_id == deployment_id)
    return list(s.execute(q.order_by(ProcessDefinition.key)).scalars())


@dataclass
class DefinitionFilter:
    id: str | None = None
    ids: list[str] | None = None
    key: str | None = None
    keys: list[str] | None = None
    key_like: str | None = None
    name: str | None = None
    name_like: str | None = None
    deployment_id: str | None = None
    version: int | None = None
    latest_version: bool = False
    resource_name: str | None = None
    sorting: Sorting = field(default_factory=list)
    first_result: int | None = None
    max_results: int | None = None


DEFINITION_SORT = {
    "id": ProcessDefinition.id,
    "key": ProcessDefinition.key,
    "name": ProcessDefinition.name,
    "version": ProcessDefinition.version,
    "deploymentId": ProcessDefinition.deployment_id,
    "deployTime": ProcessDefinition.deployed_at,
}


def _definition_where(f: DefinitionFilter) -> list:
    where = []
    eq = {
        ProcessDefinition.id: f.id,
        ProcessDefinition.key: f.key,
        ProcessDefinition.name: f.name,
        ProcessDefinition.deployment_id: f.deployment_id,
        ProcessDefinition.version: f.version,
    }
    where += [col == value for col, value in eq.items() if value is not None]
    if f.ids:
        where.append(ProcessDefinition.id.in_(f.ids))
    if f.keys:
        where.append(ProcessDefinition.key.in_(f.keys))
    if f.key_like:
        where.append(_like(ProcessDefinition.key, f.key_like))
    if f.name_like:
        where.append(_like(ProcessDefinition.name, f.name_like))
    if f.resource_name:
        where.append(
            ProcessDefinition.resource_id.in_(sa.select(Resource.id).where(Resource.name == f.resource_name))
        )
    if f.latest_version:
        other = aliased(ProcessDefinition)
        newest = sa.select(sa.func.max(other.version)).where(other.key == ProcessDefinition.key)
        where.append(ProcessDefinition.version == newest.scalar_subquery())
    return where


def definition_list(s: Session, f: DefinitionFilter) -> list[ProcessDefinition]:
    q = sa.select(ProcessDefinition).where(*_definition_where(f))
    q = q.order_by(*_order(DEFINITION_SORT, f.sorting, ProcessDefinition.id))
    return list(s.execute(_page(q, f.first_result, f.max_results)).scalars())


def definition_count(s: Session, f: DefinitionFilter) -> int:
    q = sa.select(sa.func.count()).select_from(ProcessDefinition).where(*_definition_where(f))
    return s.execute(q).scalar_one()


def get_definition(s: Session, definition_id: str) -> ProcessDefinition | None:
    return s.get(ProcessDefinition, str(definition_id))


def latest_definition(s: Session, key: str) -> ProcessDefinition | None:
    q = sa.select(ProcessDefinition).where(ProcessDefinition.key == key)
    return s.execute(q.order_by(ProcessDefinition.version.desc()).limit(1)).scalar()


def definitions_by_id(s: Session, ids: set[str]) -> dict[str, ProcessDefinition]:
    if not ids:
        return {}
    q = sa.select(ProcessDefinition).where(ProcessDefinition.id.in_(sorted(ids)))
    return {d.id: d for d in s.execute(q).scalars()}


# --- history: tasks ------------------------------------------------------------------------------------
@dataclass
class HistoryTaskFilter:
    task_id: str | None = None
    process_instance_id: str | None = None
    process_definition_key: str | None = None
    process_definition_id: str | None = None
    business_key: str | None = None
    task_definition_key: str | None = None
    assignee: str | None = None
    owner: str | None = None
    finished: bool | None = None
    sorting: Sorting = field(default_factory=list)
    # (user, roles): only cases that user may read (engine.inbox.readable_cases); None: all.
    readable_by: tuple[str, set[str]] | None = None
    first_result: int | None = None
    max_results: int | None = None


HISTORY_TASK_SORT = {
    "taskId": UserTask.id,
    "processInstanceId": UserTask.case_id,
    "processDefinitionId": UserTask.definition_id,
    "startTime": UserTask.created_at,
    "endTime": UserTask.completed_at,
    "taskName": UserTask.name,
    "assignee": UserTask.assignee,
    "owner": UserTask.owner,
    "dueDate": UserTask.due_at,
    "followUpDate": UserTask.follow_up_at,
    "priority": UserTask.priority,
    "taskDefinitionKey": UserTask.element_id,
    "deleteReason": UserTask.state,
    "executionId": UserTask.case_id,  # a case is its one execution
    "taskDescription": UserTask.documentation,
    "duration": _Duration(UserTask.created_at, UserTask.completed_at),
    "activityInstanceId": UserTask.element_id + ":" + UserTask.id,  # as the history task answers it
}


def _history_task_where(f: HistoryTaskFilter) -> list:
    eq = {
        UserTask.id: f.task_id,
        UserTask.case_id: f.process_instance_id,
        UserTask.process_key: f.process_definition_key,
        UserTask.definition_id: f.process_definition_id,
        UserTask.element_id: f.task_definition_key,
        UserTask.assignee: f.assignee,
        UserTask.owner: f.owner,
    }
    where = [col == value for col, value in eq.items() if value is not None]
    if f.business_key is not None:
        where.append(UserTask.case_id.in_(sa.select(Case.id).where(Case.business_key == f.business_key)))
    if f.finished is True:
        where.append(UserTask.state != "open")
    elif f.finished is False:
        where.append(UserTask.state == OPEN)
    return where


def history_task_list(s: Session, f: HistoryTaskFilter) -> list[UserTask]:
    q = sa.select(UserTask).where(*_history_task_where(f), *_readable(s, UserTask.case_id, f.readable_by))
    q = q.order_by(*_order(HISTORY_TASK_SORT, f.sorting, UserTask.id))
    return list(s.execute(_page(q, f.first_result, f.max_results)).scalars())


def history_task_count(s: Session, f: HistoryTaskFilter) -> int:
    q = (
        sa.select(sa.func.count())
        .select_from(UserTask)
        .where(*_history_task_where(f), *_readable(s, UserTask.case_id, f.readable_by))
    )
    return s.execute(q).scalar_one()


# --- history: activity instances ----------------------------------------------------------------------
# A user task is one activity from its creation to its completion or cancellation (its user_task row);
# the case's start and end, timers, messages and mails are instants (their audit rows). Both come from one
# UNION ALL, so filters, sorting and paging run in the database: an unfiltered query costs one page, not
# the whole audit log. An instant's element id, Camunda activity type and name are those its audit row
# recorded (engine.activity_types); rows written before Delaktig recorded them fall back to these types.
# Gateways and script tasks leave no audit row and are not listed.
INSTANT_KINDS = {
    "case_started": "startEvent",
    "case_completed": "noneEndEvent",
    "timer_fired": "timer",
    "message_received": "messageEvent",
    "signal_received": "intermediateSignalCatch",
    "signal_thrown": "intermediateSignalThrow",
    "mail_queued": "sendTask",
}


@dataclass
class ActivityFilter:
    activity_instance_id: str | None = None
    process_instance_id: str | None = None  # also Camunda's executionId: a case is its one execution
    process_definition_id: str | None = None
    activity_id: str | None = None
    activity_name: str | None = None
    activity_type: str | None = None
    assignee: str | None = None
    finished: bool | None = None
    canceled: bool = False
    complete_scope: bool = False
    started_before: datetime | None = None
    started_after: datetime | None = None
    finished_before: datetime | None = None
    finished_after: datetime | None = None
    sorting: Sorting = field(default_factory=list)
    # (user, roles): only cases that user may read (engine.inbox.readable_cases); None: all.
    readable_by: tuple[str, set[str]] | None = None
    first_result: int | None = None
    max_results: int | None = None


def _activities(s: Session, f: ActivityFilter):
    """The activity instances of ``f`` as a subquery (columns: see ``ACTIVITY_SORT``' values)."""
    t, a, c = aliased(UserTask), aliased(AuditEvent), aliased(Case)
    created = (
        sa.select(AuditEvent.seq)
        .where(AuditEvent.chain == t.case_id, AuditEvent.task_id == t.id, AuditEvent.kind == "task_created")
        .limit(1)
        .scalar_subquery()
    )
    tasks = sa.select(
        (t.element_id + ":" + t.id).label("id"),
        t.element_id.label("activity_id"),
        t.name.label("activity_name"),
        sa.literal("userTask", sa.String).label("activity_type"),
        t.case_id.label("process_instance_id"),
        t.definition_id.label("definition_id"),
        t.process_key.label("definition_key"),
        t.id.label("task_id"),
        t.assignee.label("assignee"),
        t.created_at.label("start"),
        t.completed_at.label("end"),
        (t.state == "cancelled").label("canceled"),
        sa.func.coalesce(created, 0).label("seq"),
    )
    # The element's Camunda type as recorded (engine.activity_types); rows written before it was, by kind.
    kind_type = sa.func.coalesce(
        a.detail["activity_type"].as_string(), sa.case(*((a.kind == k, v) for k, v in INSTANT_KINDS.items()))
    )
    message = a.detail["message"].as_string()
    activity_id = sa.func.coalesce(
        a.element_id,
        sa.case((a.kind == "case_started", "start"), (a.kind == "case_completed", "end"), else_=None),
        sa.case((a.kind == "message_received", message), else_=None),
        kind_type,
    )
    instants = (
        sa.select(
            (activity_id + ":" + sa.func.coalesce(a.task_id, sa.cast(a.id, sa.String))).label("id"),
            activity_id.label("activity_id"),
            sa.func.coalesce(
                a.detail["activity_name"].as_string(),
                sa.case(
                    (a.kind == "message_received", message),
                    (a.kind == "mail_queued", a.detail["subject"].as_string()),
                    else_=None,
                ),
            ).label("activity_name"),
            kind_type.label("activity_type"),
            a.case_id.label("process_instance_id"),
            c.definition_id.label("definition_id"),
            c.process_key.label("definition_key"),
            sa.null().label("task_id"),
            sa.null().label("assignee"),
            a.at.label("start"),
            a.at.label("end"),
            sa.false().label("canceled"),
            a.seq.label("seq"),
        )
        .join(c, c.id == a.case_id)
        .where(a.kind.in_(list(INSTANT_KINDS)))
    )
    # An external task is one activity from its start to its completion (external_task rows).
    x = aliased(ExternalTask)
    x_created = (
        sa.select(AuditEvent.seq)
        .where(
            AuditEvent.chain == x.case_id,
            AuditEvent.task_id == x.id,
            AuditEvent.kind == "external_task_created",
        )
        .limit(1)
        .scalar_subquery()
    )
    externals = sa.select(
        (x.element_id + ":" + x.id).label("id"),
        x.element_id.label("activity_id"),
        x.name.label("activity_name"),
        sa.literal("serviceTask", sa.String).label("activity_type"),
        x.case_id.label("process_instance_id"),
        x.definition_id.label("definition_id"),
        x.process_key.label("definition_key"),
        sa.null().label("task_id"),
        sa.null().label("assignee"),
        x.created_at.label("start"),
        x.ended_at.label("end"),
        (x.state == "cancelled").label("canceled"),
        sa.func.coalesce(x_created, 0).label("seq"),
    )
    # The case filters go into every part, where the indexes are (case id, audit chain).
    if f.process_instance_id is not None:
        tasks = tasks.where(t.case_id == f.process_instance_id)
        instants = instants.where(a.case_id == f.process_instance_id)
        externals = externals.where(x.case_id == f.process_instance_id)
    tasks = tasks.where(*_readable(s, t.case_id, f.readable_by))
    instants = instants.where(*_readable(s, a.case_id, f.readable_by))
    externals = externals.where(*_readable(s, x.case_id, f.readable_by))
    acts = sa.union_all(tasks, instants, externals).subquery("activity")
    return acts, _activity_where(acts, f)


def _activity_where(acts, f: ActivityFilter) -> list:
    eq = {
        "id": f.activity_instance_id,
        "definition_id": f.process_definition_id,
        "activity_id": f.activity_id,
        "activity_name": f.activity_name,
        "activity_type": f.activity_type,
        "assignee": f.assignee,
    }
    where = [acts.c[name] == value for name, value in eq.items() if value is not None]
    if f.finished is not None:
        where.append(acts.c.end.is_not(None) if f.finished else acts.c.end.is_(None))
    if f.canceled:
        where.append(acts.c.canceled == sa.true())
    if f.complete_scope:  # as the DTO's completeScope: the end events that ended the case
        where.append(acts.c.activity_type.like("%EndEvent"))
    for col, before, after in (
        (acts.c.start, f.started_before, f.started_after),
        (acts.c.end, f.finished_before, f.finished_after),
    ):
        if before is not None:
            where.append(col < before)
        if after is not None:
            where.append(col > after)
    return where


ACTIVITY_SORT = {
    "activityInstanceId": "id",
    "instanceId": "process_instance_id",
    "executionId": "process_instance_id",  # a case is its one execution
    "occurrence": "seq",  # Camunda's order of activities within a case: here the audit log's order
    "activityId": "activity_id",
    "activityName": "activity_name",
    "activityType": "activity_type",
    "startTime": "start",
    "endTime": "end",
    "definitionId": "definition_id",
    "duration": None,  # end - start (activity_instances)
}


def activity_instances(s: Session, f: ActivityFilter) -> list[dict[str, Any]]:
    """One dict per activity instance, a page of them, in the order asked for (then each case's own
    order of events)."""
    acts, where = _activities(s, f)
    columns = {key: acts.c[name] for key, name in ACTIVITY_SORT.items() if name is not None}
    columns["duration"] = _Duration(acts.c.start, acts.c.end)
    q = (
        sa.select(acts)
        .where(*where)
        .order_by(*_order(columns, f.sorting, acts.c.process_instance_id), acts.c.seq)
    )
    rows = s.execute(_page(q, f.first_result, f.max_results)).mappings()
    return [{**row, "canceled": bool(row["canceled"])} for row in rows]


def activity_count(s: Session, f: ActivityFilter) -> int:
    acts, where = _activities(s, f)
    return s.execute(sa.select(sa.func.count()).select_from(acts).where(*where)).scalar_one()


# --- history: user operations --------------------------------------------------------------------------
# audit kind → (Camunda operationType, entityType, category)
OPERATION_KINDS = {
    "task_claimed": ("Claim", "Task", "TaskWorker"),
    "task_unclaimed": ("Claim", "Task", "TaskWorker"),
    "task_reassigned": ("Assign", "Task", "TaskWorker"),
    "task_completed": ("Complete", "Task", "TaskWorker"),
    "case_cancelled": ("Delete", "ProcessInstance", "Operator"),
    "case_started": ("Create", "ProcessInstance", "Operator"),
    "message_received": ("CorrelateMessage", "ProcessInstance", "Operator"),
    "variables_modified": ("ModifyVariable", "Variable", "Operator"),
    "process_deployed": ("Create", "Deployment", "Operator"),
    # What people do to external tasks (workers' fetches and completions are no user operations).
    "external_task_retries_set": ("SetExternalTaskRetries", "ExternalTask", "Operator"),
    "external_task_unlocked": ("Unlock", "ExternalTask", "Operator"),
    "external_task_priority_set": ("SetPriority", "ExternalTask", "Operator"),
}


@dataclass
class OperationFilter:
    process_instance_id: str | None = None
    process_definition_key: str | None = None
    task_id: str | None = None
    user_id: str | None = None
    operation_type: str | None = None
    entity_type: str | None = None
    category: str | None = None
    after: datetime | None = None
    before: datetime | None = None
    descending: bool = False
    # (user, roles): only cases that user may read (engine.inbox.readable_cases); None: all.
    readable_by: tuple[str, set[str]] | None = None
    first_result: int | None = None
    max_results: int | None = None


def _operation_where(f: OperationFilter) -> list:
    kinds = [
        k
        for k, (op, entity, category) in OPERATION_KINDS.items()
        if (f.operation_type is None or op == f.operation_type)
        and (f.entity_type is None or entity == f.entity_type)
        and (f.category is None or category == f.category)
    ]
    # Engine-driven rows (actor "system": timers, message starts by the intake worker) are not user
    # operations, as in Camunda, which logs only what an authenticated user did.
    where = [AuditEvent.kind.in_(kinds or [""]), AuditEvent.actor != "system"]
    eq = {
        AuditEvent.case_id: f.process_instance_id,
        AuditEvent.task_id: f.task_id,
        AuditEvent.actor: f.user_id,
    }
    where += [col == value for col, value in eq.items() if value is not None]
    if f.process_definition_key is not None:
        where.append(
            sa.or_(
                AuditEvent.case_id.in_(
                    sa.select(Case.id).where(Case.process_key == f.process_definition_key)
                ),
                sa.and_(AuditEvent.chain == DEPLOY_CHAIN, AuditEvent.element_id == f.process_definition_key),
            )
        )
    if f.after is not None:
        where.append(AuditEvent.at > f.after)
    if f.before is not None:
        where.append(AuditEvent.at < f.before)
    return where


def _operation_readable(s: Session, f: OperationFilter) -> list:
    """Operations on cases the user may read, and deployments (no case: a definition is no case data)."""
    readable = _readable(s, AuditEvent.case_id, f.readable_by)
    return [sa.or_(AuditEvent.case_id.is_(None), *readable)] if readable else []


def operation_list(s: Session, f: OperationFilter) -> list[tuple[AuditEvent, Case | None]]:
    q = (
        sa.select(AuditEvent, Case)
        .outerjoin(Case, Case.id == AuditEvent.case_id)
        .where(*_operation_where(f), *_operation_readable(s, f))
        .order_by(AuditEvent.at.desc() if f.descending else AuditEvent.at, AuditEvent.id)
    )
    return [(r[0], r[1]) for r in s.execute(_page(q, f.first_result, f.max_results))]


def operation_count(s: Session, f: OperationFilter) -> int:
    q = (
        sa.select(sa.func.count())
        .select_from(AuditEvent)
        .where(*_operation_where(f), *_operation_readable(s, f))
    )
    return s.execute(q).scalar_one()
