"""Defects found probing session 5's engine features: a running case's variables changed outside a task
(``Delaktig.set_variables``) must stay changed whatever SpiffWorkflow does with its tasks' data later."""

from __future__ import annotations

from engine.models import AuditEvent
from tests.engine.helpers import case_row, open_tasks
from tests.engine.test_modeler_constructs import QUESTIONS


def test_a_change_outlives_a_message_at_a_re_armed_boundary_event(d):
    """The re-armed non-interrupting boundary event inherited its (finished) parent's data again when the
    next message arrived: the case's data went back to the old values, the removed variable returned,
    and the case ended with them."""
    d.deploy(QUESTIONS, "fragor.bpmn", "anna")
    info = d.start_case("fragor", business_key="F", variables={"status": "ny", "utkast": "x"})
    d.deliver_message("fraga_inkommen", {"fraga_1": "Hur?"}, business_key="F")
    d.set_variables(info.id, "olle", {"status": "granskad"}, ["utkast"])
    d.deliver_message("fraga_inkommen", {"fraga_2": "Var?"}, business_key="F")

    data = case_row(d, info.id).data
    assert data["status"] == "granskad" and "utkast" not in data, data
    assert data["fraga_2"] == "Var?"
    tasks = open_tasks(d, info.id)
    assert sorted(t.element_id for t in tasks) == ["Besvara", "Besvara", "Handlagga"]
    for t in tasks:
        info = d.complete_task(t.id, "system", {}, roles={"handlaggare"})
    assert info.status == "completed"
    assert info.variables["status"] == "granskad" and "utkast" not in info.variables, info.variables
    assert d.verify_audit(info.id) == []


def test_a_removal_of_a_name_no_variable_can_have_touches_nothing(d):
    """Deleting "_types" (Delaktig's own entry, not a variable) leaves the declared types in place."""
    d.deploy(QUESTIONS, "fragor.bpmn", "anna")
    info = d.start_case("fragor", variables={"antal": 3}, variable_types={"antal": "Long"})
    info = d.set_variables(info.id, "olle", {}, ["_types"])
    assert info.variable_types == {"antal": "Long"}
    assert case_row(d, info.id).data == {"antal": 3, "_types": {"antal": "Long"}}
    with d.session() as s:  # nothing changed: nothing recorded
        assert s.query(AuditEvent).filter_by(chain=info.id, kind="variables_modified").all() == []
