"""Claim, unclaim, complete: the actor's role, the task's state, the form — checked by us, not the library."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine.errors import Conflict, Forbidden, NotFound, ValidationFailed
from engine.models import AuditEvent, Case, UserTask
from tests.conftest import count
from tests.engine.helpers import add_staff, case_row, deploy_fixture, open_tasks


@pytest.fixture
def granska(d):
    add_staff(d)
    deploy_fixture(d)
    case = d.start_case("test_initiativ", variables={"initiator_email": "a@example.se"})
    return open_tasks(d, case.id)[0]


def snapshot(d, case_id):
    row = case_row(d, case_id)
    return row.version, row.state, count(d, AuditEvent, AuditEvent.case_id == case_id)


def test_user_outside_the_candidate_group_is_forbidden(d, granska):
    before = snapshot(d, granska.case_id)
    with pytest.raises(Forbidden):
        d.complete_task(granska.id, "nils", {"kommentar": "x"})
    with pytest.raises(Forbidden):
        d.claim_task(granska.id, "nils")
    assert snapshot(d, granska.case_id) == before


def test_unknown_task_is_not_found(d, granska):
    with pytest.raises(NotFound):
        d.complete_task("00000000-0000-0000-0000-000000000000", "hanna", {})


def test_claimed_task_belongs_to_the_claimer(d, granska):
    d.claim_task(granska.id, "hanna")
    d.claim_task(granska.id, "hanna")  # idempotent for the same person
    with pytest.raises(Conflict, match="hanna"):
        d.claim_task(granska.id, "henrik")
    with pytest.raises(Conflict):
        d.complete_task(granska.id, "henrik", {"kommentar": "x"})
    with pytest.raises(Conflict):
        d.unclaim_task(granska.id, "henrik")
    d.unclaim_task(granska.id, "hanna")
    d.claim_task(granska.id, "henrik")
    with d.session() as s:
        assert s.get(UserTask, granska.id).assignee == "henrik"


def test_double_submit_is_a_conflict_and_changes_nothing(d, granska):
    d.complete_task(granska.id, "hanna", {"fragan_paverkbar": True, "kommentar": "ok"})
    before = snapshot(d, granska.case_id)
    with pytest.raises(Conflict, match="slutförd"):
        d.complete_task(granska.id, "hanna", {"fragan_paverkbar": True, "kommentar": "ok"})
    assert snapshot(d, granska.case_id) == before


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({}, {"kommentar": "Fältet är obligatoriskt."}),
        ({"kommentar": "x", "antal": "tolv"}, {"antal": "Måste vara ett heltal."}),
        ({"kommentar": "x", "antal": 101}, {"antal": "Får vara högst 100."}),
        ({"kommentar": "x", "antal": -1}, {"antal": "Måste vara minst 0."}),
        ({"kommentar": "x" * 501}, {"kommentar": "Får vara högst 500 tecken."}),
        ({"kommentar": "x", "skal": "hittepa"}, {"skal": "Ogiltigt val; välj ett av alternativen."}),
        ({"kommentar": "x", "mote": "1 april"}, {"mote": "Ogiltigt datum; skriv det som ÅÅÅÅ-MM-DD."}),
        ({"kommentar": "x", "fragan_paverkbar": "kanske"}, {"fragan_paverkbar": "Måste vara ja eller nej."}),
        ({"kommentar": "x", "smuggel": "1"}, {"smuggel": "Okänt fält för den här uppgiften."}),
    ],
)
def test_invalid_form_names_the_field_and_changes_nothing(d, granska, data, errors):
    before = snapshot(d, granska.case_id)
    with pytest.raises(ValidationFailed) as err:
        d.complete_task(granska.id, "hanna", data)
    assert {p.where: p.message for p in err.value.problems} == errors
    assert snapshot(d, granska.case_id) == before
    assert open_tasks(d, granska.case_id)[0].id == granska.id


def test_completion_audits_submitted_data_and_changes(d, granska):
    d.complete_task(granska.id, "hanna", {"fragan_paverkbar": True, "kommentar": "Bra", "antal": 3})
    with d.session() as s:
        event = s.execute(sa.select(AuditEvent).where(AuditEvent.kind == "task_completed")).scalar_one()
        task = s.get(UserTask, granska.id)
    assert event.actor == "hanna" and event.element_id == "Granska" and event.task_id == granska.id
    assert event.detail["submitted"] == {"fragan_paverkbar": True, "kommentar": "Bra", "antal": 3}
    assert event.detail["changes"]["antal"] == [None, 3]
    assert (task.state, task.completed_by) == ("completed", "hanna")


def test_json_schema_forms(d):
    add_staff(d)
    from tests.engine.test_deploy import bpmn

    schema = '{"type":"object","required":["namn"],"properties":{"namn":{"type":"string","minLength":2}}}'
    body = f"""<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="u"/>
    <bpmn:userTask id="u" camunda:candidateGroups="handlaggare"><bpmn:extensionElements><camunda:properties>
    <camunda:property name="formSchema" value='{schema}'/></camunda:properties></bpmn:extensionElements></bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="u" targetRef="e"/><bpmn:endEvent id="e"/>"""
    d.deploy(bpmn(body), "schema.bpmn", "a")
    case = d.start_case("p")
    [task] = open_tasks(d, case.id)
    with pytest.raises(ValidationFailed) as err:
        d.complete_task(task.id, "hanna", {"namn": "x"})
    assert err.value.problems[0].where == "namn"
    assert d.complete_task(task.id, "hanna", {"namn": "Xa"}).status == "completed"


def test_case_version_increments_on_every_change(d, granska):
    assert case_row(d, granska.case_id).version == 1
    d.claim_task(granska.id, "hanna")
    assert case_row(d, granska.case_id).version == 2
    d.complete_task(granska.id, "hanna", {"fragan_paverkbar": True, "kommentar": "ok"})
    with d.session() as s:
        assert s.execute(sa.select(Case.version).where(Case.id == granska.case_id)).scalar_one() == 3
