"""Delegating a task and giving it back (Camunda's delegate / resolve): the owner, the delegation state,
who may, the form's checks on resolve, a PENDING task refused completion, the audit rows' before → after,
and a resolve racing a completion or another resolve: exactly one wins."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine import inbox
from engine.errors import Conflict, Forbidden, ValidationFailed
from engine.models import AuditEvent, UserTask
from tests.conftest import count
from tests.engine.helpers import add_staff, case_row, deploy_fixture, open_tasks
from tests.engine.test_concurrency import race

GOOD = {"fragan_paverkbar": True, "kommentar": "klart"}


@pytest.fixture
def granska(d):
    add_staff(d)  # hanna, henrik: handlaggare; nils: namnd (outside the task's group)
    deploy_fixture(d)
    case = d.start_case("test_initiativ", variables={"initiator_email": "a@example.se"})
    task = open_tasks(d, case.id)[0]
    d.claim_task(task.id, "hanna")
    return task


def row(d, task_id: str) -> UserTask:
    with d.session() as s:
        return s.get(UserTask, task_id)


def events(d, case_id: str, kind: str) -> list[AuditEvent]:
    with d.session() as s:
        return list(
            s.execute(
                sa.select(AuditEvent)
                .where(AuditEvent.case_id == case_id, AuditEvent.kind == kind)
                .order_by(AuditEvent.seq)
            ).scalars()
        )


def snapshot(d, case_id: str):
    r = case_row(d, case_id)
    tasks = [(t.id, t.assignee, t.owner, t.delegation_state, t.state) for t in open_tasks(d, case_id)]
    return r.version, r.data, tasks, count(d, AuditEvent, AuditEvent.case_id == case_id)


def test_delegate_makes_the_holder_owner_and_the_colleague_assignee(d, granska):
    d.delegate_task(granska.id, "hanna", "henrik")
    t = row(d, granska.id)
    assert (t.assignee, t.owner, t.delegation_state, t.state) == ("henrik", "hanna", "PENDING", "open")
    [e] = events(d, granska.case_id, "task_delegated")
    assert e.actor == "hanna" and e.task_id == granska.id
    assert e.detail["assignee"] == ["hanna", "henrik"]
    assert e.detail["owner"] == [None, "hanna"]
    assert e.detail["delegation_state"] == [None, "PENDING"]
    assert d.verify_audit(granska.case_id) == []


def test_resolve_sets_the_variables_and_gives_the_task_back_without_completing_it(d, granska):
    d.delegate_task(granska.id, "hanna", "henrik")
    info = d.resolve_task(granska.id, "henrik", {"kommentar": "underlag klart", "antal": 12})
    assert info.variables["kommentar"] == "underlag klart" and info.variables["antal"] == 12
    t = row(d, granska.id)
    assert (t.assignee, t.owner, t.delegation_state, t.state) == ("hanna", "hanna", "RESOLVED", "open")
    assert [x.element_id for x in open_tasks(d, granska.case_id)] == ["Granska"]  # not completed
    [e] = events(d, granska.case_id, "task_resolved")
    assert e.actor == "henrik" and e.task_id == granska.id
    assert e.detail["assignee"] == ["henrik", "hanna"]
    assert e.detail["delegation_state"] == ["PENDING", "RESOLVED"]
    assert e.detail["changes"] == {"kommentar": [None, "underlag klart"], "antal": [None, 12]}
    assert d.verify_audit(granska.case_id) == []
    # The owner now completes it, with what the delegate set still on the case.
    d.complete_task(granska.id, "hanna", {"fragan_paverkbar": True, "kommentar": "underlag klart"})
    assert [x.element_id for x in open_tasks(d, granska.case_id)] == ["Beslut"]
    assert case_row(d, granska.case_id).data["antal"] == 12


def test_a_pending_task_cannot_be_completed_and_nothing_changes(d, granska):
    d.delegate_task(granska.id, "hanna", "henrik")
    before = snapshot(d, granska.case_id)
    with pytest.raises(Conflict, match="delegerad"):
        d.complete_task(granska.id, "henrik", GOOD)
    with pytest.raises(Conflict, match="henrik"):
        d.complete_task(granska.id, "hanna", GOOD)  # the owner does not hold it meanwhile
    assert snapshot(d, granska.case_id) == before


def test_resolve_checks_the_form_as_a_completion_and_changes_nothing_on_bad_input(d, granska):
    d.delegate_task(granska.id, "hanna", "henrik")
    before = snapshot(d, granska.case_id)
    with pytest.raises(ValidationFailed) as err:
        d.resolve_task(granska.id, "henrik", {"kommentar": "x", "antal": "tolv"})
    assert [p.where for p in err.value.problems] == ["antal"]
    with pytest.raises(ValidationFailed) as err:
        d.resolve_task(granska.id, "henrik", {"kommentar": "x", "smuggel": 1}, allow_extra=False)
    assert [p.where for p in err.value.problems] == ["smuggel"]
    assert snapshot(d, granska.case_id) == before


def test_only_the_holder_delegates_to_an_active_user(d, granska):
    before = snapshot(d, granska.case_id)
    with pytest.raises(Conflict, match="hanna"):
        d.delegate_task(granska.id, "henrik", "nils")  # a colleague's task
    with pytest.raises(Forbidden):
        d.delegate_task(granska.id, "nils", "henrik")  # not even the task's role
    for to_user, field in (("okand", "userId"), ("hanna", "userId"), ("", "userId")):
        with pytest.raises(ValidationFailed) as err:
            d.delegate_task(granska.id, "hanna", to_user)
        assert [p.where for p in err.value.problems] == [field]
    assert snapshot(d, granska.case_id) == before
    d.unclaim_task(granska.id, "hanna")
    with pytest.raises(Conflict, match="Ta uppgiften"):
        d.delegate_task(granska.id, "hanna", "henrik")  # nobody holds it: claim it first
    assert row(d, granska.id).delegation_state is None


def test_a_delegate_outside_the_role_may_work_on_it_and_read_its_case_while_delegated(d, granska):
    with d.session() as s:
        assert inbox.case_access(s, granska.case_id, "nils", {"namnd"}, set()) is None
    d.delegate_task(granska.id, "hanna", "nils")
    with d.session() as s:
        assert inbox.case_access(s, granska.case_id, "nils", {"namnd"}, set()) is not None
    d.set_task_variables(granska.id, "nils", {"antal": 3})  # the assignee's right
    d.resolve_task(granska.id, "nils", {"kommentar": "från nämnden"})
    assert row(d, granska.id).assignee == "hanna"
    with d.session() as s:  # still readable: they acted on the case (its audit log)
        assert inbox.case_access(s, granska.case_id, "nils", {"namnd"}, set()) == "history"


def test_resolving_is_the_delegates_and_only_for_a_pending_task(d, granska):
    before = snapshot(d, granska.case_id)
    with pytest.raises(Conflict, match="inte delegerad"):
        d.resolve_task(granska.id, "hanna", {"kommentar": "x"})
    d.delegate_task(granska.id, "hanna", "henrik")
    with pytest.raises(Conflict, match="henrik"):
        d.resolve_task(granska.id, "hanna", {"kommentar": "x"})  # the owner cannot take it back this way
    d.resolve_task(granska.id, "henrik", {})
    with pytest.raises(Conflict, match="inte delegerad"):
        d.resolve_task(granska.id, "hanna", {})  # RESOLVED: not again
    assert snapshot(d, granska.case_id)[1] == before[1]


def test_a_delegate_delegating_on_keeps_the_owner(d, granska):
    d.add_user("hilda", "hemligt123", ["handlaggare"])
    d.delegate_task(granska.id, "hanna", "henrik")
    with pytest.raises(ValidationFailed):
        d.delegate_task(granska.id, "henrik", "hanna")  # the owner: resolve instead
    d.delegate_task(granska.id, "henrik", "hilda")
    t = row(d, granska.id)
    assert (t.assignee, t.owner, t.delegation_state) == ("hilda", "hanna", "PENDING")
    d.resolve_task(granska.id, "hilda", {})
    assert row(d, granska.id).assignee == "hanna"
    # Delegated again after it came back: a new round, the same owner.
    d.delegate_task(granska.id, "hanna", "henrik")
    t = row(d, granska.id)
    assert (t.assignee, t.owner, t.delegation_state) == ("henrik", "hanna", "PENDING")
    assert events(d, granska.case_id, "task_delegated")[-1].detail["delegation_state"] == [
        "RESOLVED",
        "PENDING",
    ]


def test_resolve_racing_a_second_resolve_one_wins(d, granska):
    d.delegate_task(granska.id, "hanna", "henrik")
    results = race(
        d.settings,
        [lambda app, v=v: app.resolve_task(granska.id, "henrik", {"kommentar": v}) and v for v in "ab"],
    )
    assert sorted(r[0] for r in results) == ["conflict", "ok"]
    winner = next(r[1] for r in results if r[0] == "ok")
    assert case_row(d, granska.case_id).data["kommentar"] == winner
    assert len(events(d, granska.case_id, "task_resolved")) == 1
    assert d.verify_audit(granska.case_id) == []


def test_delegate_racing_a_completion_one_wins(d, granska):
    results = race(
        d.settings,
        [
            lambda app: app.delegate_task(granska.id, "hanna", "henrik") or "delegated",
            lambda app: app.complete_task(granska.id, "hanna", GOOD) and "completed",
        ],
    )
    assert sorted(r[0] for r in results) == ["conflict", "ok"]
    winner = next(r[1] for r in results if r[0] == "ok")
    t = row(d, granska.id)
    if winner == "delegated":
        assert (t.state, t.assignee, t.delegation_state) == ("open", "henrik", "PENDING")
    else:
        assert (t.state, t.delegation_state) == ("completed", None)
        assert events(d, granska.case_id, "task_delegated") == []
    assert d.verify_audit(granska.case_id) == []
