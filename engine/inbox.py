"""Read-only queries for the staff pages: the inbox lists and counts, a task with its case, the case page
(diagram marks, timeline, deadlines) and who may start which routine.

Nothing here changes state (that is ``engine.app``). The inbox lists read ``user_task`` in the order of
the ``(state, assignee, due_at)`` index (migration ``web_0001``) and stop after one page, so a page costs
the same with 1 000 or 100 000 open cases; counts stop at ``COUNT_CAP`` for the same reason.

Who may start a routine: the process's ``camunda:candidateStarterGroups`` when the diagram has them
(also what ``Delaktig.start_case`` enforces via ``meta["starter_groups"]``), otherwise every role that is
a candidate group (or lane role) of a user task in the process — whoever works on a routine may start it.
Only processes with a plain (none) start event can be started by hand; message- or timer-started ones
are started by the intake and the scheduler.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, defer

from engine.bpmn.compile import role_from_lane
from engine.bpmn.xml import BPMN_NS, CAMUNDA_NS, parse_bpmn_xml
from engine.models import AuditEvent, Case, MessageSubscription, ProcessDefinition, TaskCandidate, UserTask

DUE_SOON = timedelta(days=2)
COUNT_CAP = 100  # counts stop here ("över 100"): a count must not cost more with more cases
MAX_PER_PAGE = 100
# Audit kinds whose element_id names a flow node that has run (the diagram's "done" marks).
DONE_KINDS = ("task_completed", "timer_fired", "message_received", "mail_queued")


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


def _scope(user: str, roles: set[str], scope: str) -> list[sa.ColumnElement[bool]]:
    if scope == "mine":
        return [UserTask.state == "open", UserTask.assignee == user]
    if scope != "group":
        raise ValueError(f"unknown inbox scope {scope!r}")
    candidate = sa.or_(
        sa.and_(TaskCandidate.kind == "group", TaskCandidate.value.in_(sorted(roles) or [""])),
        sa.and_(TaskCandidate.kind == "user", TaskCandidate.value == user),
    )
    mine = sa.select(sa.literal(1)).where(TaskCandidate.task_id == UserTask.id, candidate).exists()
    return [UserTask.state == "open", UserTask.assignee.is_(None), mine]


def _conditions(user: str, roles: set[str], f: InboxFilter, now: datetime) -> list[sa.ColumnElement[bool]]:
    where = _scope(user, roles, f.scope)
    if f.process_key:
        where.append(UserTask.process_key == f.process_key)
    if f.definition_id:
        where.append(UserTask.definition_id == f.definition_id)
    if f.overdue:
        where.append(UserTask.due_at < now)
    if f.due_within_days is not None:
        where.append(UserTask.due_at <= now + timedelta(days=f.due_within_days))
    return where


def _capped_count(s: Session, where: list) -> int:
    inner = sa.select(UserTask.id).where(*where).limit(COUNT_CAP + 1).subquery()
    return s.execute(sa.select(sa.func.count()).select_from(inner)).scalar_one()


def _page_ids(s: Session, where: list, sort: str, offset: int, limit: int) -> list[str]:
    ids = lambda q: list(s.execute(q).scalars())  # noqa: E731
    if sort == "created":
        return ids(
            sa.select(UserTask.id)
            .where(*where)
            .order_by(UserTask.created_at.desc(), UserTask.id.desc())
            .offset(offset)
            .limit(limit)
        )
    # Dated tasks in due order, then undated ones. Two index-ordered reads instead of "NULLS LAST",
    # which SQLite cannot take from an index (it stores NULLs first).
    dated = ids(
        sa.select(UserTask.id)
        .where(*where, UserTask.due_at.is_not(None))
        .order_by(UserTask.due_at, UserTask.id)
        .offset(offset)
        .limit(limit)
    )
    if len(dated) == limit:
        return dated
    if dated or offset == 0:
        n_dated = offset + len(dated)
    else:  # the page starts past the dated tasks: count them to know where the undated ones begin
        n_dated = s.execute(
            sa.select(sa.func.count()).select_from(UserTask).where(*where, UserTask.due_at.is_not(None))
        ).scalar_one()
    return dated + ids(
        sa.select(UserTask.id)
        .where(*where, UserTask.due_at.is_(None))
        .order_by(UserTask.created_at, UserTask.id)
        .offset(max(0, offset - n_dated))
        .limit(limit - len(dated))
    )


def _items(s: Session, ids: list[str]) -> list[TaskItem]:
    if not ids:
        return []
    rows = s.execute(
        sa.select(UserTask, Case.business_key, ProcessDefinition.version, ProcessDefinition.name)
        .join(Case, Case.id == UserTask.case_id)
        .join(ProcessDefinition, ProcessDefinition.id == UserTask.definition_id)
        .where(UserTask.id.in_(ids))
    ).all()
    by_id = {
        t.id: TaskItem(
            id=t.id,
            case_id=t.case_id,
            name=t.name,
            element_id=t.element_id,
            process_key=t.process_key,
            definition_id=t.definition_id,
            version=version,
            routine=routine or t.process_key,
            business_key=business_key,
            assignee=t.assignee,
            candidate_groups=list(t.candidate_groups or []),
            created_at=t.created_at,
            due_at=t.due_at,
            priority=t.priority,
        )
        for t, business_key, version, routine in rows
    }
    return [by_id[i] for i in ids if i in by_id]


def list_tasks(s: Session, user: str, roles: set[str], f: InboxFilter, now: datetime) -> InboxPage:
    """One page of the inbox. ``total`` is capped at COUNT_CAP + 1 (shown as "över 100")."""
    per_page = max(1, min(f.per_page, MAX_PER_PAGE))
    page = max(1, f.page)
    where = _conditions(user, roles, f, now)
    ids = _page_ids(s, where, f.sort, (page - 1) * per_page, per_page)
    return InboxPage(_items(s, ids), _capped_count(s, where), page, per_page)


def inbox_counts(s: Session, user: str, roles: set[str], now: datetime) -> dict[str, int]:
    """Tab counts (each capped at COUNT_CAP + 1): mine, group and the overdue part of each."""
    out = {}
    for scope in ("mine", "group"):
        where = _scope(user, roles, scope)
        out[scope] = _capped_count(s, where)
        out[f"{scope}_overdue"] = _capped_count(s, [*where, UserTask.due_at < now])
    return out


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
    return CaseView(
        case=case,
        definition=definition,
        open_tasks=open_tasks,
        done_tasks=[t for t in tasks if t.state != "open"],
        completed_elements=completed,
        active_elements=active,
        deadlines=deadlines,
        outline=outline(s, definition.id),
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
