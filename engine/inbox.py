"""Read-only queries for the staff pages: the inbox lists and counts, a task with its case, who may read a
case, the case page (diagram marks, timeline, deadlines) and who may start which routine.

Nothing here changes state (that is ``engine.app``). The inbox lists read ``user_task`` in index order
and stop after one page, so a page costs the same with 1 000 or 100 000 open cases; counts stop at
``COUNT_CAP`` for the same reason. "Mine" reads the ``(assignee, due_at, id)`` index of open tasks (migrations
``web_0001``, ``web_0003``); "my group's" the partial indexes of open, unclaimed tasks (``web_0002``): in due order for
the list, in id order for the counts, which PostgreSQL then answers with an index-only merge join against
``task_candidate``. A whole inbox page is two statements (``inbox_page``): the four tab counts (and the
list's own total when a filter narrows it) in one, the page's rows with their case and routine in the
other.

Who may start a routine: the process's ``camunda:candidateStarterGroups`` when the diagram has them
(also what ``Delaktig.start_case`` enforces via ``meta["starter_groups"]``), otherwise every role that is
a candidate group (or lane role) of a user task in the process — whoever works on a routine may start it.
Only processes with a plain (none) start event can be started by hand; message- or timer-started ones
are started by the intake and the scheduler.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, defer

from engine.bpmn.compile import role_from_lane
from engine.bpmn.xml import BPMN_NS, CAMUNDA_NS, parse_bpmn_xml
from engine.models import (
    OPEN,
    AuditEvent,
    Case,
    ExternalTask,
    MessageSubscription,
    ProcessDefinition,
    TaskCandidate,
    UserTask,
)

DUE_SOON = timedelta(days=2)
COUNT_CAP = 100  # counts stop here ("över 100"): a count must not cost more with more cases
MAX_PER_PAGE = 100
# Audit kinds whose element_id names a flow node that has run (the diagram's "done" marks).
DONE_KINDS = (
    "task_completed",
    "timer_fired",
    "message_received",
    "signal_received",
    "signal_thrown",
    "mail_queued",
    "external_task_completed",
    "external_task_error",
)


# --- inbox --------------------------------------------------------------------------------------------
@dataclass
class InboxFilter:
    scope: str = "mine"  # mine: assigned to me | group: unclaimed, for my roles (or me as candidate user)
    process_key: str | None = None
    definition_id: str | None = None
    overdue: bool = False
    due_within_days: int | None = None  # due within N days from now, overdue included
    sort: str = "due"  # due: least time left first (no due date last) | created: newest first
    page: int = 1
    per_page: int = 25


@dataclass
class TaskItem:
    id: str
    case_id: str
    name: str | None
    element_id: str
    process_key: str
    definition_id: str
    version: int
    routine: str
    business_key: str | None
    assignee: str | None
    candidate_groups: list[str]
    created_at: datetime
    due_at: datetime | None
    priority: int

    def overdue(self, now: datetime) -> bool:
        return self.due_at is not None and self.due_at < now

    def due_soon(self, now: datetime) -> bool:
        return self.due_at is not None and now <= self.due_at <= now + DUE_SOON


@dataclass
class InboxPage:
    items: list[TaskItem]
    total: int  # capped at COUNT_CAP + 1; see ``capped``
    page: int
    per_page: int

    @property
    def capped(self) -> bool:
        return self.total > COUNT_CAP

    @property
    def pages(self) -> int:
        """Pages known to exist (more may follow when the count is capped)."""
        return max(1, -(-min(self.total, COUNT_CAP) // self.per_page))

    @property
    def has_next(self) -> bool:
        return len(self.items) == self.per_page and (self.page < self.pages or self.capped)


# The statements are built once per shape (scope and which filters are set) with bound parameters, and
# reused: building a statement with a few subqueries costs SQLAlchemy more than the database needs to
# run it. The values go in ``_params``. LIMIT and OFFSET stay bound parameters on purpose: psycopg
# prepares a statement after 5 runs, and with them inline PostgreSQL's generic plan (one plan for every
# user) was cheap enough to be chosen at 100 000 tasks, and it walks every task for a user whose roles
# have few tasks (150 ms instead of 6). With them bound, the generic plan looks expensive and PostgreSQL
# keeps planning each run for the actual roles (about 0.6 ms a statement).
_USER = sa.bindparam("user", type_=sa.String)
_ROLES = sa.bindparam("roles", expanding=True, type_=sa.String)
_NOW = sa.bindparam("now", type_=UserTask.due_at.type)
_CAP = sa.bindparam("cap", type_=sa.Integer)

# SQLite plans without value statistics (no STAT4), so it walks an inbox index in due order and probes
# each open task for the user's roles whether those roles have 20 000 tasks or 20. For roles with at most
# FEW_CANDIDATES candidate rows, the group queries start from those rows instead (``_few_candidates``).
# PostgreSQL plans each run for the actual roles and needs no such help.
FEW_CANDIDATES = 2000

# scope, process_key, definition_id, overdue, due_within, few (group scope from task_candidate, SQLite)
Shape = tuple[str, bool, bool, bool, bool, bool]


def _shape(f: InboxFilter, few: bool = False) -> Shape:
    if f.scope not in ("mine", "group"):
        raise ValueError(f"unknown inbox scope {f.scope!r}")
    return (
        f.scope,
        bool(f.process_key),
        bool(f.definition_id),
        f.overdue,
        f.due_within_days is not None,
        few and f.scope == "group",
    )


def _params(user: str, roles: set[str], f: InboxFilter | None, now: datetime) -> dict[str, Any]:
    params: dict[str, Any] = {"user": user, "roles": sorted(roles) or [""], "now": now, "cap": COUNT_CAP + 1}
    if f is not None:
        params.update(process_key=f.process_key, definition_id=f.definition_id)
        if f.due_within_days is not None:
            params["due_before"] = now + timedelta(days=f.due_within_days)
    return params


def _candidate() -> sa.ColumnElement[bool]:
    """A ``task_candidate`` row for one of the user's roles, or for the user."""
    return sa.or_(
        sa.and_(TaskCandidate.kind == "group", TaskCandidate.value.in_(_ROLES)),
        sa.and_(TaskCandidate.kind == "user", TaskCandidate.value == _USER),
    )


def _scope(scope: str, few: bool = False) -> list[sa.ColumnElement[bool]]:
    if scope == "mine":
        return [UserTask.state == OPEN, UserTask.assignee == _USER]
    if few:
        # The tasks of the user's candidate rows (ix_task_candidate_value), each looked up by id. The
        # unary + makes the other two terms unusable for an index, so SQLite cannot walk an inbox index.
        return [
            sa.text("+user_task.state = 'open'"),
            sa.text("+user_task.assignee IS NULL"),
            UserTask.id.in_(sa.select(TaskCandidate.task_id).where(_candidate())),
        ]
    mine = (
        sa.select(sa.literal_column("1")).where(TaskCandidate.task_id == UserTask.id, _candidate()).exists()
    )
    return [UserTask.state == OPEN, UserTask.assignee.is_(None), mine]


@functools.cache
def _candidates_statement() -> sa.Select:
    # A constant, not task_id: ix_task_candidate_value (kind, value) answers it without the table rows.
    inner = sa.select(sa.literal_column("1")).where(_candidate()).limit(sa.bindparam("few_cap")).subquery()
    return sa.select(sa.func.count()).select_from(inner)


def _few_candidates(s: Session, params: dict) -> bool:
    """SQLite only: do the user's roles have at most FEW_CANDIDATES candidate rows? (An index range
    read that stops there.)"""
    if s.get_bind().dialect.name != "sqlite":
        return False
    found = s.execute(_candidates_statement(), {**params, "few_cap": FEW_CANDIDATES + 1}).scalar_one()
    return found <= FEW_CANDIDATES


def _where(shape: Shape) -> list[sa.ColumnElement[bool]]:
    scope, process_key, definition_id, overdue, due_within, few = shape
    where = _scope(scope, few)
    if process_key:
        where.append(UserTask.process_key == sa.bindparam("process_key", type_=sa.String))
    if definition_id:
        where.append(UserTask.definition_id == sa.bindparam("definition_id", type_=sa.String))
    if overdue:
        where.append(UserTask.due_at < _NOW)
    if due_within:
        where.append(UserTask.due_at <= sa.bindparam("due_before", type_=UserTask.due_at.type))
    return where


def _capped(where: list) -> sa.ScalarSelect[int]:
    """``count(*)`` of the first COUNT_CAP + 1 matching tasks, as a scalar subquery."""
    inner = sa.select(UserTask.id).where(*where).limit(_CAP).subquery()
    return sa.select(sa.func.count()).select_from(inner).scalar_subquery()


@functools.cache
def _counts_statement(total: Shape | None = None, few: bool = False) -> sa.Select:
    """The four tab counts (and, given a list's shape, that list's total as ``_total``) in one statement:
    one round trip, one plan."""
    columns = []
    for scope in ("mine", "group"):
        columns.append(_capped(_scope(scope, few)).label(scope))
        columns.append(_capped([*_scope(scope, few), UserTask.due_at < _NOW]).label(f"{scope}_overdue"))
    if total is not None:
        columns.append(_capped(_where(total)).label("_total"))
    return sa.select(*columns)


@functools.cache
def _total_statement(shape: Shape) -> sa.Select:
    return sa.select(_capped(_where(shape)))


_ITEM_COLUMNS = (
    UserTask.id,
    UserTask.case_id,
    UserTask.name,
    UserTask.element_id,
    UserTask.process_key,
    UserTask.definition_id,
    UserTask.assignee,
    UserTask.candidate_groups,
    UserTask.created_at,
    UserTask.due_at,
    UserTask.priority,
    Case.business_key,
    ProcessDefinition.version,
    ProcessDefinition.name,
)


@functools.cache
def _read_statement(shape: Shape, part: str) -> sa.Select:
    """One index-ordered read of task ids (one page: ``offset``, ``limit``) and the rows to show for them
    with their case and routine, in one statement: the page is cut first, then only its rows are joined.
    ``part``: "created" (newest first), "dated" (due order) or "undated" (oldest first)."""
    where = _where(shape)
    if part == "dated":
        where.append(UserTask.due_at.is_not(None))
    elif part == "undated":
        where.append(UserTask.due_at.is_(None))
    order = [UserTask.due_at, UserTask.id] if part == "dated" else [UserTask.created_at, UserTask.id]
    direction = sa.desc if part == "created" else sa.asc
    keys = [c.label(f"k{i}") for i, c in enumerate(order)]
    page = (
        sa.select(UserTask.id.label("page_id"), *keys)
        .where(*where)
        .order_by(*(direction(c) for c in order))
        .offset(sa.bindparam("offset", type_=sa.Integer))
        .limit(sa.bindparam("limit", type_=sa.Integer))
        .subquery("page")
    )
    return (
        sa.select(*_ITEM_COLUMNS)
        .select_from(page)
        .join(UserTask, UserTask.id == page.c.page_id)
        .join(Case, Case.id == UserTask.case_id)
        .join(ProcessDefinition, ProcessDefinition.id == UserTask.definition_id)
        .order_by(*(direction(page.c[k.name]) for k in keys))
    )


@functools.cache
def _dated_count_statement(shape: Shape) -> sa.Select:
    return (
        sa.select(sa.func.count()).select_from(UserTask).where(*_where(shape), UserTask.due_at.is_not(None))
    )


def _read(s: Session, shape: Shape, part: str, params: dict, offset: int, limit: int) -> list[TaskItem]:
    rows = s.execute(_read_statement(shape, part), {**params, "offset": offset, "limit": limit}).all()
    return [
        TaskItem(
            id=r[0],
            case_id=r[1],
            name=r[2],
            element_id=r[3],
            process_key=r[4],
            definition_id=r[5],
            version=r[12],
            routine=r[13] or r[4],
            business_key=r[11],
            assignee=r[6],
            candidate_groups=list(r[7] or []),
            created_at=r[8],
            due_at=r[9],
            priority=r[10],
        )
        for r in rows
    ]


def _page_items(s: Session, shape: Shape, params: dict, sort: str, offset: int, limit: int) -> list[TaskItem]:
    if sort == "created":
        return _read(s, shape, "created", params, offset, limit)
    # Dated tasks in due order, then undated ones. Two index-ordered reads instead of "NULLS LAST",
    # which SQLite cannot take from an index (it stores NULLs first).
    dated = _read(s, shape, "dated", params, offset, limit)
    if len(dated) == limit:
        return dated
    if dated or offset == 0:
        n_dated = offset + len(dated)
    else:  # the page starts past the dated tasks: count them to know where the undated ones begin
        n_dated = s.execute(_dated_count_statement(shape), params).scalar_one()
    return dated + _read(s, shape, "undated", params, max(0, offset - n_dated), limit - len(dated))


def _bounds(f: InboxFilter) -> tuple[int, int]:
    return max(1, f.page), max(1, min(f.per_page, MAX_PER_PAGE))


def list_tasks(s: Session, user: str, roles: set[str], f: InboxFilter, now: datetime) -> InboxPage:
    """One page of the inbox. ``total`` is capped at COUNT_CAP + 1 (shown as "över 100")."""
    page, per_page = _bounds(f)
    params = _params(user, roles, f, now)
    shape = _shape(f, f.scope == "group" and _few_candidates(s, params))
    items = _page_items(s, shape, params, f.sort, (page - 1) * per_page, per_page)
    return InboxPage(items, s.execute(_total_statement(shape), params).scalar_one(), page, per_page)


def inbox_counts(s: Session, user: str, roles: set[str], now: datetime) -> dict[str, int]:
    """Tab counts (each capped at COUNT_CAP + 1): mine, group and the overdue part of each."""
    params = _params(user, roles, None, now)
    return dict(s.execute(_counts_statement(None, _few_candidates(s, params)), params).one()._mapping)


def inbox_page(
    s: Session, user: str, roles: set[str], f: InboxFilter, now: datetime
) -> tuple[InboxPage, dict[str, int]]:
    """What the inbox page shows: ``list_tasks`` and ``inbox_counts`` in two statements (three on SQLite,
    which first checks whether the user's roles have few tasks). The list's total is one of the tab counts
    when the filter adds nothing but "overdue", else a fifth count alongside."""
    page, per_page = _bounds(f)
    params = _params(user, roles, f, now)
    few = _few_candidates(s, params)
    shape = _shape(f, few)
    same_as_tab = not (f.process_key or f.definition_id or f.due_within_days is not None)
    counts = dict(s.execute(_counts_statement(None if same_as_tab else shape, few), params).one()._mapping)
    total = counts[f"{f.scope}_overdue" if f.overdue else f.scope] if same_as_tab else counts.pop("_total")
    items = _page_items(s, shape, params, f.sort, (page - 1) * per_page, per_page)
    return InboxPage(items, total, page, per_page), counts


def routine_choices(s: Session) -> list[tuple[str, str, list[tuple[str, int]]]]:
    """(key, name of the latest version, [(definition id, version) newest first]) for the filters."""
    rows = s.execute(
        sa.select(
            ProcessDefinition.id, ProcessDefinition.key, ProcessDefinition.version, ProcessDefinition.name
        ).order_by(ProcessDefinition.key, ProcessDefinition.version.desc())
    ).all()
    out: dict[str, tuple[str, list[tuple[str, int]]]] = {}
    for id_, key, version, name in rows:
        entry = out.setdefault(key, (name or key, []))
        entry[1].append((id_, version))
    return [(key, name, versions) for key, (name, versions) in sorted(out.items(), key=lambda kv: kv[1][0])]


# --- one task -----------------------------------------------------------------------------------------
@dataclass
class TaskView:
    task: UserTask
    case: Case
    definition: ProcessDefinition


def get_task(s: Session, task_id: str) -> TaskView | None:
    row = s.execute(
        sa.select(UserTask, Case, ProcessDefinition)
        .join(Case, Case.id == UserTask.case_id)
        .join(ProcessDefinition, ProcessDefinition.id == UserTask.definition_id)
        .where(UserTask.id == str(task_id))
    ).first()
    return TaskView(*row) if row else None


def may_work_on(task: UserTask, user: str, roles: set[str]) -> bool:
    """The same rule as ``Delaktig.complete_task``: assignee, candidate user or a candidate group."""
    return (
        task.assignee == user
        or user in (task.candidate_users or [])
        or bool(roles & set(task.candidate_groups or []))
    )


# --- who may read a case ----------------------------------------------------------------------------
def case_access(s: Session, case_id: str, user: str, roles: set[str], reader_roles: set[str]) -> str | None:
    """Why ``user`` may read the case, or None if they may not; ``"missing"`` when there is no such case.

    A case is readable by whoever started it, by whoever has or had one of its tasks (assignee,
    completed it, candidate user, or one of their roles is a candidate group of any of its tasks, open or
    done), by whoever acted on it or had a task of it reassigned to or from them (its audit log), and by
    the roles in ``reader_roles`` (administrators, auditors: the web layer's configuration).

    Cost: one statement for the case and its tasks (primary key + ``ix_user_task_case_id``); only when
    that does not grant access, a second one over the case's own audit rows (``uq_audit_event_chain_seq``).
    Neither grows with the number of cases.
    """
    rows = s.execute(
        sa.select(
            Case.started_by,
            UserTask.assignee,
            UserTask.completed_by,
            UserTask.candidate_users,
            UserTask.candidate_groups,
        )
        .select_from(Case)
        .outerjoin(UserTask, UserTask.case_id == Case.id)
        .where(Case.id == str(case_id))
    ).all()
    if not rows:
        return "missing"
    if roles & reader_roles:
        return "role"
    if rows[0].started_by == user:
        return "started"
    for r in rows:
        if user in (r.assignee, r.completed_by) or user in (r.candidate_users or []):
            return "task"
        if roles & set(r.candidate_groups or []):
            return "group"
    events = s.execute(
        sa.select(AuditEvent.actor, AuditEvent.detail).where(
            AuditEvent.chain == str(case_id),
            sa.or_(AuditEvent.actor == user, AuditEvent.kind == "task_reassigned"),
        )
    ).all()
    for actor, detail in events:
        if actor == user or user in ((detail or {}).get("assignee") or []):
            return "history"
    return None


def readable_cases(case_id: Any, user: str, roles: set[str], dialect: str) -> sa.ColumnElement[bool]:
    """``case_access``'s rule as a SQL condition on a column holding a case id: for lists (the REST
    API's instances, history and user operations; the intake pages), where reading each case with
    ``case_access`` would cost a query per row and break paging. Reader roles are the caller's business:
    for them, no condition at all.

    Written as ``case_id IN (the user's cases)``: the set is gathered once from the user's own rows —
    cases they started, tasks they have, had or are offered, audit rows of theirs — each through an index
    (migration 0004), so a list or a count costs what the user's cases cost, not what all cases cost.
    tests/rest/test_read_access.py checks that both forms agree."""
    users, groups = [user], sorted(roles)
    started = sa.select(Case.id).where(Case.started_by == user)
    tasks = sa.select(UserTask.case_id).where(
        sa.or_(
            UserTask.assignee == user,
            UserTask.completed_by == user,
            _json_has_any(UserTask.candidate_users, users, dialect),
            _json_has_any(UserTask.candidate_groups, groups, dialect),
        )
    )
    history = sa.select(AuditEvent.chain).where(
        sa.or_(
            AuditEvent.actor == user,
            sa.and_(
                AuditEvent.kind == "task_reassigned",
                _json_has_any(AuditEvent.detail, users, dialect, "assignee"),
            ),
        )
    )
    return case_id.in_(sa.union(started, tasks, history))


def _json_has_any(
    column: Any, values: list[str], dialect: str, key: str | None = None
) -> sa.ColumnElement[bool]:
    """The JSON array in ``column`` (or in its member ``key``) holds one of ``values``."""
    if not values:
        return sa.false()
    if dialect == "postgresql":
        array = column[key] if key else column
        return array.op("?|")(sa.bindparam(None, values, type_=sa.ARRAY(sa.Text)))
    items = sa.func.json_each(column, f"$.{key}" if key else "$").table_valued("value")
    return sa.exists().select_from(items).where(items.c.value.in_(values))


# --- the case page ------------------------------------------------------------------------------------
@dataclass
class Deadline:
    at: datetime
    kind: str  # task_due | task_follow_up | timer
    task_id: str | None = None
    name: str | None = None


@dataclass
class CaseView:
    case: Case
    definition: ProcessDefinition
    open_tasks: list[UserTask]
    done_tasks: list[UserTask]
    completed_elements: list[str]
    active_elements: list[str]
    deadlines: list[Deadline]
    outline: Outline
    # Steps an integration does (external tasks) the case waits for, with their lock and last error: a
    # case stuck because the archive is down must show why on its page, not only in the REST API.
    external_tasks: list[ExternalTask] = field(default_factory=list)


def get_case(s: Session, case_id: str) -> CaseView | None:
    row = s.execute(
        sa.select(Case, ProcessDefinition)
        .join(ProcessDefinition, ProcessDefinition.id == Case.definition_id)
        .where(Case.id == str(case_id))
        .options(defer(Case.state))
    ).first()
    if row is None:
        return None
    case, definition = row
    tasks = list(
        s.execute(
            sa.select(UserTask).where(UserTask.case_id == case.id).order_by(UserTask.created_at, UserTask.id)
        ).scalars()
    )
    open_tasks = [t for t in tasks if t.state == "open"]
    completed, active = diagram_marks(s, case, tasks)
    deadlines = [Deadline(t.due_at, "task_due", t.id, t.name) for t in open_tasks if t.due_at]
    deadlines += [
        Deadline(t.follow_up_at, "task_follow_up", t.id, t.name) for t in open_tasks if t.follow_up_at
    ]
    if case.next_timer_at and case.status == "active":
        deadlines.append(Deadline(case.next_timer_at, "timer"))
    deadlines.sort(key=lambda d: d.at)
    external = list(
        s.execute(
            sa.select(ExternalTask)
            .where(ExternalTask.case_id == case.id, ExternalTask.state == "open")
            .order_by(ExternalTask.created_at, ExternalTask.id)
        ).scalars()
    )
    return CaseView(
        case=case,
        definition=definition,
        open_tasks=open_tasks,
        done_tasks=[t for t in tasks if t.state != "open"],
        completed_elements=completed,
        active_elements=active,
        deadlines=deadlines,
        outline=outline(s, definition.id),
        external_tasks=external,
    )


def diagram_marks(s: Session, case: Case, tasks: list[UserTask] | None = None) -> tuple[list[str], list[str]]:
    """(completed, active) element ids: done = elements named by audit events of things that ran and
    completed user tasks; active = open user tasks and message events the case waits for."""
    if tasks is None:
        tasks = list(s.execute(sa.select(UserTask).where(UserTask.case_id == case.id)).scalars())
    done = set(
        s.execute(
            sa.select(AuditEvent.element_id)
            .where(
                AuditEvent.chain == case.id,
                AuditEvent.kind.in_(DONE_KINDS),
                AuditEvent.element_id.is_not(None),
            )
            .distinct()
        ).scalars()
    )
    done |= {t.element_id for t in tasks if t.state == "completed"}
    active = {t.element_id for t in tasks if t.state == "open"}
    if case.status == "active":
        active |= set(
            s.execute(
                sa.select(ExternalTask.element_id).where(
                    ExternalTask.case_id == case.id, ExternalTask.state == "open"
                )
            ).scalars()
        )
        active |= set(
            s.execute(
                sa.select(MessageSubscription.element_id).where(MessageSubscription.case_id == case.id)
            ).scalars()
        )
    return sorted(done - active), sorted(active)


def timeline(s: Session, case_id: str) -> list[AuditEvent]:
    """The case's audit rows, oldest first (the (chain, seq) unique index gives the order)."""
    return list(
        s.execute(
            sa.select(AuditEvent).where(AuditEvent.chain == str(case_id)).order_by(AuditEvent.seq)
        ).scalars()
    )


def changes_of(event: AuditEvent) -> list[tuple[str, Any, Any]]:
    """(field, before, after) of an audit row: a completed task's ``changes``, or a claim's assignee."""
    detail = event.detail or {}
    raw = detail.get("changes") if "changes" in detail else detail
    if not isinstance(raw, dict):
        return []
    return [
        (str(k), v[0], v[1])
        for k, v in raw.items()
        if isinstance(v, list | tuple) and len(v) == 2 and event.kind != "case_started"
    ]


# --- definitions: names, roles, starters ----------------------------------------------------------------
@dataclass
class Outline:
    """What the pages need from a definition's XML, parsed once per definition (they never change)."""

    key: str
    names: dict[str, str] = field(default_factory=dict)
    starter_groups: list[str] = field(default_factory=list)
    task_groups: list[str] = field(default_factory=list)
    manual_start: bool = False

    def allowed_starters(self, meta: dict | None = None) -> set[str]:
        return set((meta or {}).get("starter_groups") or self.starter_groups or self.task_groups)


_outlines: dict[str, Outline] = {}
_outlines_lock = threading.Lock()


def _split(value: str | None) -> list[str]:
    return [g.strip() for g in (value or "").split(",") if g.strip() and "$" not in g and "{" not in g]


def _parse_outline(key: str, xml: bytes, filename: str) -> Outline:
    root = parse_bpmn_xml(xml, filename)
    b, c = f"{{{BPMN_NS}}}", f"{{{CAMUNDA_NS}}}"
    out = Outline(key=key)
    for el in root.iter():
        if isinstance(el.tag, str) and el.get("id") and el.get("name"):
            out.names[el.get("id")] = " ".join(el.get("name").split())
    process = next((p for p in root.iter(f"{b}process") if p.get("id") == key), None)
    if process is None:
        return out
    out.starter_groups = _split(process.get(f"{c}candidateStarterGroups"))
    lanes = {
        ref.text.strip(): lane.get("name")
        for lane in process.iter(f"{b}lane")
        for ref in lane.findall(f"{b}flowNodeRef")
        if ref.text
    }
    groups: set[str] = set()
    for task in process.iter(f"{b}userTask"):
        found = _split(task.get(f"{c}candidateGroups"))
        if not found and not task.get(f"{c}candidateUsers") and not task.get(f"{c}assignee"):
            lane_role = role_from_lane(lanes.get(task.get("id", "")))
            found = [lane_role] if lane_role else []
        groups.update(found)
    out.task_groups = sorted(groups)
    out.manual_start = any(
        len([ch for ch in start if isinstance(ch.tag, str) and ch.tag.endswith("EventDefinition")]) == 0
        for start in process.findall(f"{b}startEvent")
    )
    return out


def outline(s: Session, definition_id: str) -> Outline:
    hit = _outlines.get(definition_id)
    if hit is not None:
        return hit
    definition = s.get(ProcessDefinition, definition_id)
    if definition is None:
        return Outline(key="")
    parsed = _parse_outline(definition.key, definition.resource.content, definition.resource.name)
    with _outlines_lock:
        _outlines[definition_id] = parsed
    return parsed


def latest_definitions(s: Session) -> list[ProcessDefinition]:
    latest = (
        sa.select(ProcessDefinition.key, sa.func.max(ProcessDefinition.version).label("v"))
        .group_by(ProcessDefinition.key)
        .subquery()
    )
    return list(
        s.execute(
            sa.select(ProcessDefinition)
            .join(
                latest,
                sa.and_(latest.c.key == ProcessDefinition.key, latest.c.v == ProcessDefinition.version),
            )
            .order_by(ProcessDefinition.name, ProcessDefinition.key)
        ).scalars()
    )


def startable(s: Session, roles: set[str]) -> list[tuple[ProcessDefinition, Outline]]:
    """The latest version of each routine this set of roles may start by hand."""
    out = []
    for definition in latest_definitions(s):
        o = outline(s, definition.id)
        if o.manual_start and roles & o.allowed_starters(definition.meta):
            out.append((definition, o))
    return out
