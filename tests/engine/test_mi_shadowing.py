"""A multi-instance activity's ``camunda:elementVariable`` named like a case variable, as Camunda 7 runs it:
the element is a local variable of each instance that shadows the case variable (inside the instance,
``${granskare}`` in an assignee, a condition or a completionCondition is the instance's element), and the
case variable stays what it was, listed among the case's variables, before, during and after the loop.
SpiffWorkflow stopped the loop instead ("Multiinstance input item granskare already exists"), and Delaktig
never listed a case variable with an element variable's name. Every step is its own transaction, so the
case is saved and loaded again between them."""

from __future__ import annotations

import pytest

from engine.models import AuditEvent
from tests.engine.helpers import assert_reload_stable, case_row, open_tasks
from tests.engine.test_case_scope import cond
from tests.engine.test_modeler_constructs import diagram, flow, task

REVIEWERS = ["hanna", "henrik"]
START = {"granskare": "nils", "granskare_lista": REVIEWERS}


def _mi(sequential: bool, completion: str = "") -> str:
    inner = f"<bpmn:completionCondition>{completion}</bpmn:completionCondition>" if completion else ""
    return (
        f'<bpmn:multiInstanceLoopCharacteristics isSequential="{str(sequential).lower()}" '
        f'camunda:collection="${{granskare_lista}}" camunda:elementVariable="granskare">{inner}'
        "</bpmn:multiInstanceLoopCharacteristics>"
    )


def user_task_loop(sequential: bool, completion: str = "", after='camunda:assignee="${granskare}"') -> bytes:
    """Granska once per reviewer (assigned to the instance's element), then Efter, assigned to the case's
    ``granskare``."""
    return diagram(
        '<bpmn:startEvent id="S" />'
        + task("Granska", attrs='camunda:assignee="${granskare}"', inner=_mi(sequential, completion))
        + task("Efter", attrs=after)
        + '<bpmn:endEvent id="E" />'
        + flow("F1", "S", "Granska")
        + flow("F2", "Granska", "Efter")
        + flow("F3", "Efter", "E"),
        pid="granskning",
    )


def subprocess_loop(sequential: bool) -> bytes:
    """An embedded subprocess per reviewer: a gateway on ``${granskare}`` inside it picks the task, which
    is assigned to the element; Efter after the loop to the case's ``granskare``."""
    return diagram(
        '<bpmn:startEvent id="S" /><bpmn:subProcess id="Remiss">'
        + _mi(sequential)
        + '<bpmn:startEvent id="S1" /><bpmn:exclusiveGateway id="Gw" default="Fovriga" />'
        + task("Hanna", attrs='camunda:assignee="${granskare}"')
        + task("Ovriga", attrs='camunda:assignee="${granskare}"')
        + '<bpmn:exclusiveGateway id="Join" /><bpmn:endEvent id="E1" />'
        + flow("Fs1", "S1", "Gw")
        + cond("Fhanna", "Gw", "Hanna", "${granskare == 'hanna'}")
        + flow("Fovriga", "Gw", "Ovriga")
        + flow("Fs2", "Hanna", "Join")
        + flow("Fs3", "Ovriga", "Join")
        + flow("Fs4", "Join", "E1")
        + "</bpmn:subProcess>"
        + task("Efter", attrs='camunda:assignee="${granskare}"')
        + '<bpmn:endEvent id="E" />'
        + flow("F1", "S", "Remiss")
        + flow("F2", "Remiss", "Efter")
        + flow("F3", "Efter", "E"),
        pid="remiss",
    )


def _open(d, case_id: str) -> list[tuple[str, str | None]]:
    return sorted((t.element_id, t.assignee) for t in open_tasks(d, case_id))


def _complete(d, case_id: str, element: str, assignee: str, data=None):
    [t] = [t for t in open_tasks(d, case_id) if (t.element_id, t.assignee) == (element, assignee)]
    return d.complete_task(t.id, assignee, data or {})


@pytest.mark.parametrize("sequential", [False, True], ids=["parallel", "sequential"])
def test_a_user_task_loop_shadows_the_case_variable_and_leaves_it_as_it_was(d, sequential):
    d.deploy(user_task_loop(sequential), "g.bpmn", "anna")
    info = d.start_case("granskning", variables=START)
    assert info.variables == START  # listed, and not the first element
    first = [("Granska", "hanna")] if sequential else [("Granska", "hanna"), ("Granska", "henrik")]
    assert _open(d, info.id) == first
    assert_reload_stable(d, info.id)
    info = _complete(d, info.id, "Granska", "hanna", {"yttrande_hanna": "ok"})
    assert info.variables == {**START, "yttrande_hanna": "ok"}
    assert _open(d, info.id) == [("Granska", "henrik")]
    assert_reload_stable(d, info.id)
    info = _complete(d, info.id, "Granska", "henrik", {"yttrande_henrik": "nej"})
    # After the loop the case's own granskare is back in every expression, and unchanged.
    assert _open(d, info.id) == [("Efter", "nils")]
    assert info.variables == {**START, "yttrande_hanna": "ok", "yttrande_henrik": "nej"}
    assert_reload_stable(d, info.id)
    info = _complete(d, info.id, "Efter", "nils")
    assert info.status == "completed"
    assert case_row(d, info.id).data["granskare"] == "nils"


def test_a_completion_condition_reads_the_instance_s_element(d):
    """``${granskare == 'hanna'}`` after hanna's instance ends the loop: the condition saw the element,
    not the case's nils (with which the loop would have run on to henrik)."""
    d.deploy(user_task_loop(True, "${granskare == 'hanna'}"), "g.bpmn", "anna")
    info = d.start_case("granskning", variables=START)
    info = _complete(d, info.id, "Granska", "hanna")
    assert _open(d, info.id) == [("Efter", "nils")]
    assert info.variables == START


@pytest.mark.parametrize("sequential", [False, True], ids=["parallel", "sequential"])
def test_an_embedded_subprocess_loop_shadows_the_case_variable(d, sequential):
    d.deploy(subprocess_loop(sequential), "r.bpmn", "anna")
    info = d.start_case("remiss", variables=START)
    assert info.variables == START
    first = [("Hanna", "hanna")] if sequential else [("Hanna", "hanna"), ("Ovriga", "henrik")]
    assert _open(d, info.id) == first
    assert_reload_stable(d, info.id)
    info = _complete(d, info.id, "Hanna", "hanna", {"svar_hanna": True})
    assert info.variables == {**START, "svar_hanna": True}
    assert _open(d, info.id) == [("Ovriga", "henrik")]
    info = _complete(d, info.id, "Ovriga", "henrik")
    assert _open(d, info.id) == [("Efter", "nils")]
    assert info.variables == {**START, "svar_hanna": True}
    assert_reload_stable(d, info.id)


@pytest.mark.parametrize("sequential", [False, True], ids=["parallel", "sequential"])
def test_changing_the_case_variable_during_the_loop_leaves_the_instances_elements(d, sequential):
    """Camunda's setVariable on the process instance sets the process variable; each instance keeps its
    own element, and the flow after the loop reads the new value."""
    d.deploy(user_task_loop(sequential), "g.bpmn", "anna")
    info = d.start_case("granskning", variables=START)
    info = d.set_variables(info.id, "anna", {"granskare": "anders"})
    assert info.variables["granskare"] == "anders"
    info = _complete(d, info.id, "Granska", "hanna")
    assert _open(d, info.id) == [("Granska", "henrik")]  # henrik's instance: still henrik
    assert info.variables["granskare"] == "anders"
    info = _complete(d, info.id, "Granska", "henrik")
    assert _open(d, info.id) == [("Efter", "anders")]
    with d.session() as s:
        kinds = [e.kind for e in s.query(AuditEvent).filter(AuditEvent.chain == info.id)]
    assert "variables_modified" in kinds


def test_a_value_submitted_under_the_element_s_name_stays_in_its_instance(d):
    """Completing an instance with ``granskare`` sets the instance's local variable (Camunda sets a
    variable where it is defined): the case variable is unchanged."""
    d.deploy(user_task_loop(True), "g.bpmn", "anna")
    info = d.start_case("granskning", variables=START)
    info = d.complete_task(open_tasks(d, info.id)[0].id, "hanna", {"granskare": "hanna"}, allow_extra=True)
    assert info.variables["granskare"] == "nils"
    assert _open(d, info.id) == [("Granska", "henrik")]
    info = _complete(d, info.id, "Granska", "henrik")
    assert _open(d, info.id) == [("Efter", "nils")]


def test_without_a_case_variable_of_that_name_the_element_stays_out_of_the_case(d):
    d.deploy(user_task_loop(False, after=""), "g.bpmn", "anna")
    info = d.start_case("granskning", variables={"granskare_lista": REVIEWERS})
    assert info.variables == {"granskare_lista": REVIEWERS}
    info = _complete(d, info.id, "Granska", "henrik")
    assert "granskare" not in info.variables
    info = _complete(d, info.id, "Granska", "hanna")
    assert [t.element_id for t in open_tasks(d, info.id)] == ["Efter"]
    assert info.variables == {"granskare_lista": REVIEWERS}


# --- who does a task, from a ${…} expression: read exactly as a condition reads it -------------------------


def assigned(attrs: str, pid: str = "vem") -> bytes:
    return diagram(
        f'<bpmn:startEvent id="S" /><bpmn:userTask id="Granska" name="Granska" {attrs} />'
        '<bpmn:endEvent id="E" />' + flow("F1", "S", "Granska") + flow("F2", "Granska", "E"),
        pid=pid,
    )


TEAM = {
    "enhet": {"chef": "henrik", "ersattare": None},
    "medlemmar": ["hanna", "henrik"],
    "grupper": ["namnd", "avdelningschef"],
}


@pytest.mark.parametrize(
    "attrs, expected",
    [
        ('camunda:assignee="${team.enhet.chef}"', ("henrik", [], [])),
        ('camunda:assignee="${team.medlemmar[1]}"', ("henrik", [], [])),
        ("camunda:assignee=\"${team['enhet']['chef']}\"", ("henrik", [], [])),
        ('camunda:candidateUsers="${team.medlemmar}"', (None, ["hanna", "henrik"], [])),
        ('camunda:candidateGroups="${team.grupper[0]}"', (None, [], ["namnd"])),
        # JUEL: a key the map lacks, a property of null and an index out of range are null: nobody,
        # so the task is its other candidates'.
        ('camunda:assignee="${team.enhet.ersattare.namn}" camunda:candidateGroups="handlaggare"', None),
        ('camunda:assignee="${team.saknas}" camunda:candidateGroups="handlaggare"', None),
        ('camunda:assignee="${team.medlemmar[7]}" camunda:candidateGroups="handlaggare"', None),
    ],
)
def test_people_from_a_json_variable_and_a_list_as_in_a_condition(d, attrs, expected):
    d.deploy(assigned(attrs), "v.bpmn", "anna")
    info = d.start_case("vem", variables={"team": TEAM})
    [t] = open_tasks(d, info.id)
    found = (t.assignee, t.candidate_users, t.candidate_groups)
    assert found == (expected or (None, [], ["handlaggare"]))


@pytest.mark.parametrize(
    "attrs, says",
    [
        ('camunda:assignee="${ansvar.chef}"', "ansvar finns inte i ärendet"),
        ('camunda:assignee="${team.medlemmar.chef}"', "kan inte läsas"),  # a list has no property
        ('camunda:candidateUsers="${team +}"', "kan inte läsas"),
    ],
)
def test_an_expression_that_cannot_be_read_refuses_the_start_naming_the_task(d, attrs, says):
    from engine.errors import ProcessError
    from engine.models import Case
    from tests.conftest import count

    d.deploy(assigned(attrs), "v.bpmn", "anna")
    with pytest.raises(ProcessError) as refused:
        d.start_case("vem", variables={"team": TEAM})
    assert refused.value.where == "Granska" and says in str(refused.value)
    assert count(d, Case) == 0


def test_an_element_holding_a_json_object_is_read_by_key_inside_its_instance_only(d):
    reviewers = [{"anvandare": "hanna"}, {"anvandare": "henrik"}]
    xml = user_task_loop(False).replace(b"${granskare}", b"${granskare.anvandare}")
    d.deploy(xml, "g.bpmn", "anna")
    start = {"granskare": {"anvandare": "nils"}, "granskare_lista": reviewers}
    info = d.start_case("granskning", variables=start)
    assert _open(d, info.id) == [("Granska", "hanna"), ("Granska", "henrik")]
    _complete(d, info.id, "Granska", "hanna")
    info = _complete(d, info.id, "Granska", "henrik")
    assert _open(d, info.id) == [("Efter", "nils")]
    assert info.variables == start
