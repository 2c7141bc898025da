"""Who may do a user task, from ``camunda:assignee``/``candidateGroups``/``candidateUsers`` written as
``${variable}``: as Camunda resolves them (a list gives each element, a text is split on commas), and a
task nobody could ever claim is never created — the step is refused, naming the element, nothing
changes."""

from __future__ import annotations

import pytest

from engine.errors import ProcessError
from tests.engine.helpers import open_tasks
from tests.engine.test_modeler_constructs import diagram, flow


def _diagram(attrs: str, pid: str) -> bytes:
    return diagram(
        f'<bpmn:startEvent id="S" /><bpmn:userTask id="Granska" name="Granska" {attrs} />'
        '<bpmn:endEvent id="E" />' + flow("F1", "S", "Granska") + flow("F2", "Granska", "E"),
        pid=pid,
    )


@pytest.mark.parametrize(
    "value, groups",
    [
        (["avdelningschef", "namnd"], ["avdelningschef", "namnd"]),
        ("avdelningschef, namnd", ["avdelningschef", "namnd"]),
        ("namnd", ["namnd"]),
    ],
)
def test_candidate_groups_from_a_variable_holding_a_list_or_a_comma_separated_text(d, value, groups):
    d.add_user("anders", "hemligt123", ["avdelningschef"])
    d.deploy(_diagram('camunda:candidateGroups="${grupp}"', "grupper"), "g.bpmn", "anna")
    case = d.start_case("grupper", variables={"grupp": value}, actor="system")
    [task] = open_tasks(d, case.id)
    assert task.candidate_groups == groups
    if "avdelningschef" in groups:
        d.claim_task(task.id, "anders")  # a member of one of the groups may take it


def test_candidate_users_from_a_list_variable(d):
    d.deploy(_diagram('camunda:candidateUsers="${personer}"', "personer"), "u.bpmn", "anna")
    case = d.start_case("personer", variables={"personer": ["hanna", "henrik"]}, actor="system")
    assert open_tasks(d, case.id)[0].candidate_users == ["hanna", "henrik"]


def test_an_assignee_variable_the_case_lacks_refuses_the_start_naming_the_task(d):
    d.deploy(_diagram('camunda:assignee="${ansvarig}"', "ansvar"), "a.bpmn", "anna")
    with pytest.raises(ProcessError) as refused:
        d.start_case("ansvar", actor="system")
    assert refused.value.where == "Granska" and "ansvarig" in str(refused.value)
    from engine.models import Case
    from tests.conftest import count

    assert count(d, Case) == 0  # nothing was stored


def test_a_task_that_would_have_nobody_is_refused_instead_of_waiting_for_ever(d):
    d.deploy(_diagram('camunda:assignee="${ansvarig}"', "ingen"), "n.bpmn", "anna")
    with pytest.raises(ProcessError) as refused:
        d.start_case("ingen", variables={"ansvarig": None}, actor="system")
    assert refused.value.where == "Granska" and "ingen som kan utföra den" in str(refused.value)
    case = d.start_case("ingen", variables={"ansvarig": "hanna"}, actor="system")
    assert open_tasks(d, case.id)[0].assignee == "hanna"


def test_an_assignee_from_a_key_of_a_json_variable(d):
    d.deploy(_diagram('camunda:assignee="${ansvar.handlaggare}"', "nyckel"), "k.bpmn", "anna")
    case = d.start_case("nyckel", variables={"ansvar": {"handlaggare": "henrik"}}, actor="system")
    assert open_tasks(d, case.id)[0].assignee == "henrik"
    with pytest.raises(ProcessError):
        d.start_case("nyckel", variables={"ansvar": {}}, actor="system")


def test_an_assignee_from_a_key_of_null_or_a_missing_key_is_nobody(d):
    """JUEL: a property of null, or a key a map lacks, is null; the task is then its group's."""
    xml = _diagram('camunda:assignee="${ansvar.handlaggare}" camunda:candidateGroups="handlaggare"', "grupp")
    d.deploy(xml, "g.bpmn", "anna")
    for value in (None, {}):
        case = d.start_case("grupp", variables={"ansvar": value}, actor="system")
        [task] = open_tasks(d, case.id)
        assert (task.assignee, task.candidate_groups) == (None, ["handlaggare"])
