"""Walk a routine in processes/ through the real engine with real form data and users in the right roles.

``walk(d, key, answers, ...)`` starts a case (or delivers the start message), then repeatedly completes
the open user tasks as a user holding the task's candidate group, until the case ends. The path is read
back from what the engine stored: the user tasks and mails from the audit log, and every element the
token passed (gateways, events, send tasks) from the persisted workflow state, so gateway branches can be
checked against the diagram's sequence flows.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from lxml import etree
from SpiffWorkflow.task import TaskState

from engine.errors import Forbidden, ValidationFailed
from engine.models import AuditEvent, Case, Outbox, User, UserTask
from engine.workflow import load_state

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = ROOT / "processes"
B = "http://www.omg.org/spec/BPMN/20100524/MODEL"
C = "http://camunda.org/schema/1.0/bpmn"
GATEWAYS = ("exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway")

Answer = dict[str, Any] | list[dict[str, Any]] | Callable[[UserTask, int], dict[str, Any]]


def all_diagrams() -> list[Path]:
    return sorted(PROCESSES.glob("*/*.bpmn"))


def parse(path: Path):
    return etree.fromstring(path.read_bytes(), etree.XMLParser(resolve_entities=False, no_network=True))


@dataclass
class Diagram:
    """What the walker needs to know about one executable process, read from the XML."""

    path: Path
    key: str
    flows: dict[str, tuple[str, str]]  # flow id -> (source, target)
    gateway_flows: set[str]
    end_events: set[str]
    user_tasks: dict[str, Any]  # id -> element
    nodes: dict[str, Any]  # id -> flow node element
    start_events: set[str]

    @classmethod
    def load(cls, relpath: str) -> Diagram:
        path = PROCESSES / relpath
        root = parse(path)
        [proc] = [p for p in root.iterfind(f"{{{B}}}process") if p.get("isExecutable") == "true"]
        flows = {
            f.get("id"): (f.get("sourceRef"), f.get("targetRef")) for f in proc.iter(f"{{{B}}}sequenceFlow")
        }
        nodes = {
            el.get("id"): el
            for el in proc.iter()
            if el.get("id")
            and etree.QName(el).namespace == B
            and etree.QName(el).localname
            not in ("sequenceFlow", "lane", "laneSet", "textAnnotation", "association", "process")
            and el.getparent() is not None
            and etree.QName(el.getparent()).localname == "process"
        }
        gateways = {i for i, el in nodes.items() if etree.QName(el).localname in GATEWAYS}
        return cls(
            path=path,
            key=proc.get("id"),
            flows=flows,
            gateway_flows={fid for fid, (src, _) in flows.items() if src in gateways},
            end_events={i for i, el in nodes.items() if etree.QName(el).localname == "endEvent"},
            user_tasks={i: el for i, el in nodes.items() if etree.QName(el).localname == "userTask"},
            nodes=nodes,
            start_events={i for i, el in nodes.items() if etree.QName(el).localname == "startEvent"},
        )

    def deploy(self, d) -> None:
        d.deploy(self.path.read_bytes(), self.path.name, "testare")

    def reachable(self, start: str, removed: Iterable[str] = ()) -> set[str]:
        """Nodes reachable from ``start`` along sequence flows (and from a task to its boundary events),
        never entering a node in ``removed``."""
        removed = set(removed)
        succ: dict[str, set[str]] = {}
        for src, tgt in self.flows.values():
            succ.setdefault(src, set()).add(tgt)
        for i, el in self.nodes.items():
            host = el.get("attachedToRef")
            if host:
                succ.setdefault(host, set()).add(i)
        seen, todo = set(), [start] if start not in removed else []
        while todo:
            n = todo.pop()
            if n in seen:
                continue
            seen.add(n)
            todo += [m for m in succ.get(n, ()) if m not in removed and m not in seen]
        return seen


@dataclass
class Walk:
    case_id: str
    status: str
    variables: dict[str, Any]
    tasks: list[str]  # completed user tasks in order (audit log)
    elements: list[str]  # every completed flow element (workflow state), tree order
    flows: set[str]  # sequence flows taken
    ends: list[str]
    mails: list[dict[str, Any]] = field(default_factory=list)  # outbox payloads + element id

    def mails_from(self, element_id: str) -> list[dict[str, Any]]:
        return [m for m in self.mails if m["element_id"] == element_id]


def user_for(role: str) -> str:
    return f"{role}_testare"


def ensure_users(d, roles: Iterable[str]) -> None:
    """One user per role (no password: these users act only through the API)."""
    have = _existing_users(d)
    for role in sorted(set(roles)):
        if user_for(role) not in have:
            d.add_user(user_for(role), None, [role], email=f"{role}@example.se")


def _existing_users(d) -> set[str]:
    with d.session() as s:
        return set(s.execute(sa.select(User.name)).scalars())


def open_tasks(d, case_id: str) -> list[UserTask]:
    with d.session() as s:
        return list(
            s.execute(
                sa.select(UserTask)
                .where(UserTask.case_id == case_id, UserTask.state == "open")
                .order_by(UserTask.created_at, UserTask.element_id)
            ).scalars()
        )


def case_row(d, case_id: str) -> Case:
    with d.session() as s:
        return s.get(Case, case_id)


def answer_for(answers: dict[str, Answer], task: UserTask, visit: int) -> dict[str, Any]:
    a = answers.get(task.element_id)
    if a is None:
        raise AssertionError(f"no answer for task {task.element_id} ({task.name})")
    if callable(a):
        return a(task, visit)
    if isinstance(a, list):
        return copy.deepcopy(a[min(visit, len(a) - 1)])
    return copy.deepcopy(a)


def start(d, diagram: Diagram, *, variables=None, message=None, business_key=None, actor=None) -> str:
    if message is not None:
        name, payload = message
        [info] = d.deliver_message(name, payload, start_business_key=business_key)
        return info.id
    return d.start_case(diagram.key, business_key=business_key, variables=variables or {}, actor="system").id


def complete_open(d, case_id: str, answers: dict[str, Answer], visits: dict[str, int]) -> int:
    """Complete every currently open task once; returns how many."""
    tasks = open_tasks(d, case_id)
    for task in tasks:
        n = visits.get(task.element_id, 0)
        visits[task.element_id] = n + 1
        role = task.candidate_groups[0]
        actor = user_for(role)
        d.claim_task(task.id, actor)
        d.complete_task(task.id, actor, answer_for(answers, task, n))
    return len(tasks)


def run_until_end(d, case_id: str, answers: dict[str, Answer], max_steps: int = 60) -> None:
    visits: dict[str, int] = {}
    for _ in range(max_steps):
        if case_row(d, case_id).status != "active":
            return
        if not complete_open(d, case_id, answers, visits):
            raise AssertionError(f"case {case_id} is active with no open task (waiting for a message/timer)")
    raise AssertionError(f"case {case_id} did not end in {max_steps} steps")


def walk(
    d,
    diagram: Diagram,
    answers: dict[str, Answer],
    *,
    variables: dict[str, Any] | None = None,
    message: tuple[str, dict[str, Any]] | None = None,
    business_key: str | None = None,
) -> Walk:
    case_id = start(d, diagram, variables=variables, message=message, business_key=business_key)
    run_until_end(d, case_id, answers)
    return observe(d, diagram, case_id)


def observe(d, diagram: Diagram, case_id: str) -> Walk:
    """Read the path of a case back from the database: audit log, workflow state and outbox."""
    with d.session() as s:
        case = s.get(Case, case_id)
        tasks = list(
            s.execute(
                sa.select(AuditEvent.element_id)
                .where(AuditEvent.case_id == case_id, AuditEvent.kind == "task_completed")
                .order_by(AuditEvent.seq)
            ).scalars()
        )
        mails = [
            (e, o)
            for e, o in s.execute(
                sa.select(AuditEvent.element_id, AuditEvent.detail)
                .where(AuditEvent.case_id == case_id, AuditEvent.kind == "mail_queued")
                .order_by(AuditEvent.seq)
            )
        ]
        outbox = {
            r.dedupe_key: r.payload
            for r in s.execute(sa.select(Outbox).where(Outbox.case_id == case_id)).scalars()
        }
        spec, subs = d.specs.get(s, case.definition_id)
        wf = load_state(case.state, spec, subs)
    elements, taken = [], set()
    pairs = {v: k for k, v in diagram.flows.items()}
    for t in wf.get_tasks(state=TaskState.COMPLETED):
        bid = getattr(t.task_spec, "bpmn_id", None)
        if not bid:
            continue
        elements.append(bid)
        p = t.parent
        while p is not None and not getattr(p.task_spec, "bpmn_id", None):
            p = p.parent
        if p is not None and (p.task_spec.bpmn_id, bid) in pairs:
            taken.add(pairs[(p.task_spec.bpmn_id, bid)])
    mail_list = []
    for element_id, detail in mails:
        for key in detail.get("outbox") or []:
            mail_list.append({"element_id": element_id, **outbox[key]})
    return Walk(
        case_id=case_id,
        status=case.status,
        variables=dict(case.data or {}),
        tasks=tasks,
        elements=elements,
        flows=taken,
        ends=[e for e in elements if e in diagram.end_events],
        mails=mail_list,
    )


@dataclass
class Scenario:
    name: str
    overrides: dict[str, Answer] = field(default_factory=dict)
    end: str | None = None
    visits: tuple[str, ...] = ()
    avoids: tuple[str, ...] = ()
    mails: tuple[str, ...] | None = None  # element ids of the send tasks that mailed, in order
    variables: dict[str, Any] | None = None
    message: tuple[str, dict[str, Any]] | None = None


def merged(base: dict[str, Answer], overrides: dict[str, Answer]) -> dict[str, Answer]:
    out = dict(base)
    for k, v in overrides.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            out[k] = {**base[k], **v}
        else:
            out[k] = v
    return out


def run_scenario(d, diagram: Diagram, base: dict[str, Answer], sc: Scenario, business_key=None) -> Walk:
    w = walk(
        d,
        diagram,
        merged(base, sc.overrides),
        variables=sc.variables,
        message=sc.message,
        business_key=business_key,
    )
    assert w.status == "completed", (sc.name, w.status)
    if sc.end:
        assert w.ends == [sc.end], (sc.name, w.ends)
    for el in sc.visits:
        assert el in w.elements, (sc.name, el, w.elements)
    for el in sc.avoids:
        assert el not in w.elements, (sc.name, el)
    if sc.mails is not None:
        assert [m["element_id"] for m in w.mails] == list(sc.mails), (sc.name, w.mails)
    assert d.verify_audit(w.case_id) == [], sc.name
    return w


def assert_covers_gateways(diagram: Diagram, walks: Iterable[Walk]) -> None:
    taken = set().union(*(w.flows for w in walks))
    missing = sorted(diagram.gateway_flows - taken)
    assert not missing, f"{diagram.key}: gateway branches never walked: {missing}"


def roles_in(diagram: Diagram) -> set[str]:
    roles = set()
    for el in diagram.user_tasks.values():
        roles |= {g.strip() for g in (el.get(f"{{{C}}}candidateGroups") or "").split(",") if g.strip()}
    return roles


def mail_roles(diagram: Diagram) -> set[str]:
    """Roles that send tasks mail (``mailTo`` = ``role:x``)."""
    out = set()
    for el in diagram.nodes.values():
        for prop in el.iter(f"{{{C}}}property"):
            if prop.get("name") == "mailTo" and (prop.get("value") or "").startswith("role:"):
                out.add(prop.get("value")[5:])
    return out


def setup(d, *diagrams: Diagram) -> None:
    """Deploy the diagrams and create one user per candidate group and per mailed role."""
    roles: set[str] = set()
    for diagram in diagrams:
        roles |= roles_in(diagram) | mail_roles(diagram)
        diagram.deploy(d)
    ensure_users(d, roles)


def outsider_role(task: UserTask, diagram: Diagram) -> str:
    """A role used in the routine that may not do ``task`` (or a role foreign to it)."""
    others = sorted(roles_in(diagram) - set(task.candidate_groups))
    return others[0] if others else "utomstaende"


# --- checks shared by the routine modules ------------------------------------------------------------------


def advance_to(d, case_id: str, answers: dict[str, Answer], target: str) -> UserTask:
    """Complete tasks (as their role) until ``target`` is open; return it."""
    visits: dict[str, int] = {}
    for _ in range(60):
        tasks = open_tasks(d, case_id)
        for t in tasks:
            if t.element_id == target:
                return t
        assert tasks, f"case ended or waits before reaching {target}"
        t = tasks[0]
        n = visits.get(t.element_id, 0)
        visits[t.element_id] = n + 1
        d.complete_task(t.id, user_for(t.candidate_groups[0]), answer_for(answers, t, n))
    raise AssertionError(f"{target} never opened")


def assert_forbidden_for_outsider(d, diagram: Diagram, answers: dict[str, Answer], task_id: str, **start_kw):
    """A user without the task's candidate group gets Forbidden; the case and the task are unchanged."""
    case_id = start(d, diagram, **start_kw)
    task = advance_to(d, case_id, answers, task_id)
    outsider = outsider_role(task, diagram)
    assert outsider not in task.candidate_groups
    ensure_users(d, [outsider])
    before = case_row(d, case_id)
    data = answer_for(answers, task, 0)
    with pytest.raises(Forbidden):
        d.complete_task(task.id, user_for(outsider), data)
    with pytest.raises(Forbidden):
        d.claim_task(task.id, user_for(outsider))
    after = case_row(d, case_id)
    assert (after.version, after.status, after.data, after.state) == (
        before.version,
        before.status,
        before.data,
        before.state,
    )
    [still] = [t for t in open_tasks(d, case_id) if t.id == task.id]
    assert still.state == "open" and still.assignee is None and still.completed_by is None
    # the right role can do it with the same data
    d.complete_task(task.id, user_for(task.candidate_groups[0]), data)
    return outsider


def assert_refused(d, diagram, answers, task_id: str, blanked: dict[str, Any], expect: set[str], **start_kw):
    """Completing ``task_id`` with ``blanked`` fields emptied/unticked fails naming ``expect``; nothing
    changes; the case is still active with the task open."""
    case_id = start(d, diagram, **start_kw)
    task = advance_to(d, case_id, answers, task_id)
    data = {**answer_for(answers, task, 0), **blanked}
    data = {k: v for k, v in data.items() if v is not ...}
    before = case_row(d, case_id)
    with pytest.raises(ValidationFailed) as err:
        d.complete_task(task.id, user_for(task.candidate_groups[0]), data)
    named = {p.where for p in err.value.problems}
    assert expect <= named, (task_id, named)
    after = case_row(d, case_id)
    assert after.status == "active" and after.version == before.version and after.state == before.state
    assert task.id in {t.id for t in open_tasks(d, case_id)}
    return named


def assert_cannot_skip(diagram: Diagram, normal_ends: set[str], *must_pass: set[str]) -> None:
    """Every path from a start event to a normal end passes each group in ``must_pass``: removing the
    group's nodes disconnects start from the normal ends."""
    assert normal_ends <= diagram.end_events
    for s in diagram.start_events:
        assert normal_ends <= diagram.reachable(s), (diagram.key, s)
        for group in must_pass:
            assert group <= set(diagram.nodes), group
            cut = diagram.reachable(s, removed=group)
            assert not (normal_ends & cut), f"{diagram.key}: {s} reaches {normal_ends & cut} around {group}"
