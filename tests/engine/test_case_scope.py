"""One variable scope per case, as in Camunda 7 (``engine.scope``): what a task sets anywhere in the case
is what every later step reads — across parallel branches, out of embedded subprocesses interrupted by a
boundary event, and out of the last instance of a multi-instance subprocess. SpiffWorkflow alone gives
each task its own copy: the other branch's gateway took the wrong flow, and the gateway after a
multi-instance subprocess failed (the case stuck for good)."""

from __future__ import annotations

from datetime import timedelta

from engine import clock
from tests.engine.helpers import add_staff, assert_reload_stable, case_row, open_tasks
from tests.engine.test_modeler_constructs import diagram, flow, task


def cond(fid: str, source: str, target: str, expression: str) -> str:
    return (
        f'<bpmn:sequenceFlow id="{fid}" sourceRef="{source}" targetRef="{target}"><bpmn:conditionExpression '
        f'xsi:type="bpmn:tFormalExpression">{expression}</bpmn:conditionExpression></bpmn:sequenceFlow>'
    )


def finish(d, case_id: str, element: str, data=None, actor: str = "hanna"):
    [t] = [t for t in open_tasks(d, case_id) if t.element_id == element][:1]
    if actor == "system":
        return d.complete_task(t.id, actor, data or {}, roles={t.candidate_groups[0]})
    d.claim_task(t.id, actor)
    return d.complete_task(t.id, actor, data or {})


PARALLEL = diagram(
    '<bpmn:startEvent id="S" /><bpmn:parallelGateway id="Split" />'
    + task("Forbered")
    + task("Besluta", "avdelningschef")
    + '<bpmn:exclusiveGateway id="Gw" default="Fnej" />'
    + task("Godkand")
    + task("Avslagen")
    + '<bpmn:scriptTask id="Rakna" scriptFormat="python"><bpmn:script>raknat = 1</bpmn:script></bpmn:scriptTask>'
    + '<bpmn:inclusiveGateway id="Join" /><bpmn:endEvent id="E" />'
    + flow("F1", "S", "Split")
    + flow("F2", "Split", "Forbered")
    + flow("F3", "Split", "Besluta")
    + flow("F4", "Forbered", "Gw")
    + cond("Fja", "Gw", "Godkand", "${approved}")
    + flow("Fnej", "Gw", "Avslagen")
    + flow("F5", "Besluta", "Rakna")
    + flow("F6", "Rakna", "Join")
    + flow("F7", "Godkand", "Join")
    + flow("F8", "Avslagen", "Join")
    + flow("F9", "Join", "E"),
    pid="parallell",
)


def test_a_value_set_in_one_parallel_branch_is_read_by_the_other_branch_s_gateway(d):
    add_staff(d)
    d.deploy(PARALLEL, "p.bpmn", "anna")
    case = d.start_case("parallell", variables={"approved": False}, actor="system")
    info = finish(d, case.id, "Besluta", {"approved": True}, actor="anders")
    assert info.variables["approved"] is True and info.variables["raknat"] == 1
    assert_reload_stable(d, case.id)
    info = finish(d, case.id, "Forbered", {"underlag": "klart"})
    assert [t.element_id for t in open_tasks(d, case.id)] == ["Godkand"]  # was Avslagen: a stale copy
    assert info.variables == {"approved": True, "raknat": 1, "underlag": "klart"}
    info = finish(d, case.id, "Godkand")
    assert info.status == "completed"
    assert case_row(d, case.id).data == {"approved": True, "raknat": 1, "underlag": "klart"}


INTERRUPTED = diagram(
    '<bpmn:startEvent id="S" /><bpmn:subProcess id="Sub"><bpmn:startEvent id="S1" />'
    + task("Registrera")
    + task("Komplettera")
    + '<bpmn:endEvent id="E1" />'
    + flow("Fs1", "S1", "Registrera")
    + flow("Fs2", "Registrera", "Komplettera")
    + flow("Fs3", "Komplettera", "E1")
    + "</bpmn:subProcess>"
    + '<bpmn:boundaryEvent id="Frist" attachedToRef="Sub"><bpmn:timerEventDefinition>'
    '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P10D</bpmn:timeDuration>'
    "</bpmn:timerEventDefinition></bpmn:boundaryEvent>"
    '<bpmn:exclusiveGateway id="Gw" default="Fingen" />'
    + task("MedNummer")
    + task("UtanNummer")
    + '<bpmn:endEvent id="E" /><bpmn:endEvent id="E2" />'
    + flow("F1", "S", "Sub")
    + flow("F2", "Sub", "E")
    + flow("F3", "Frist", "Gw")
    + cond("Fnr", "Gw", "MedNummer", "${not empty diarienummer}")
    + flow("Fingen", "Gw", "UtanNummer")
    + flow("F4", "MedNummer", "E2")
    + flow("F5", "UtanNummer", "E2"),
    pid="avbruten",
)


def test_values_set_inside_a_subprocess_survive_an_interrupting_boundary_timer(d):
    add_staff(d)
    d.deploy(INTERRUPTED, "a.bpmn", "anna")
    case = d.start_case("avbruten", variables={"diarienummer": ""}, actor="system")
    finish(d, case.id, "Registrera", {"diarienummer": "KS 2026/17"})
    clock.set(clock.now() + timedelta(days=10, minutes=1))
    assert d.wake_due_cases() == 1
    assert [t.element_id for t in open_tasks(d, case.id)] == ["MedNummer"]  # was UtanNummer
    assert case_row(d, case.id).data["diarienummer"] == "KS 2026/17"
    assert_reload_stable(d, case.id)


MI_SUBPROCESS = diagram(
    '<bpmn:startEvent id="S" /><bpmn:subProcess id="Remiss">'
    '<bpmn:multiInstanceLoopCharacteristics camunda:collection="${instanser}" camunda:elementVariable="instans" />'
    '<bpmn:startEvent id="S1" />'
    + task(
        "Yttrande",
        inner='<bpmn:extensionElements><camunda:formData><camunda:formField id="invandning" label="Invändning" '
        'type="boolean" /></camunda:formData></bpmn:extensionElements>',
    )
    + '<bpmn:endEvent id="E1" />'
    + flow("Fs1", "S1", "Yttrande")
    + flow("Fs2", "Yttrande", "E1")
    + "</bpmn:subProcess>"
    + '<bpmn:exclusiveGateway id="Gw" default="Fok" />'
    + task("Invandning")
    + task("Ok")
    + '<bpmn:endEvent id="E" />'
    + flow("F1", "S", "Remiss")
    + flow("F2", "Remiss", "Gw")
    + cond("Finv", "Gw", "Invandning", "${invandning == true}")
    + flow("Fok", "Gw", "Ok")
    + flow("F3", "Invandning", "E")
    + flow("F4", "Ok", "E"),
    pid="remiss",
)


def test_the_last_instance_of_a_multi_instance_subprocess_hands_its_values_to_the_gateway_after_it(d):
    add_staff(d)
    d.deploy(MI_SUBPROCESS, "r.bpmn", "anna")
    for first, last, expected in ((True, False, "Ok"), (False, True, "Invandning")):
        case = d.start_case("remiss", variables={"instanser": ["KS", "MN"]}, actor="system")
        a, b = open_tasks(d, case.id)
        d.claim_task(a.id, "hanna")
        d.complete_task(a.id, "hanna", {"invandning": first})
        assert_reload_stable(d, case.id)
        d.claim_task(b.id, "hanna")
        info = d.complete_task(b.id, "hanna", {"invandning": last})  # was a ProcessError: invandning unknown
        assert [t.element_id for t in open_tasks(d, case.id)] == [expected]  # the last write wins
        assert info.variables["invandning"] is last and "instans" not in info.variables


def _script(sid: str, code: str) -> str:
    return f'<bpmn:scriptTask id="{sid}" scriptFormat="python"><bpmn:script>{code}</bpmn:script></bpmn:scriptTask>'


def _ids(d, case_id: str) -> list[str]:
    return sorted(t.element_id for t in open_tasks(d, case_id))


def test_scripts_in_parallel_branches_of_one_step_both_count(d):
    """Spread only after the step, the branch finishing later carried the old x and undid the other
    branch's script; and a script did not see what the other branch's script had just set."""
    xml = diagram(
        '<bpmn:startEvent id="S" />'
        + task("A")
        + '<bpmn:parallelGateway id="Split" />'
        + _script("S1", "x = 1")
        + _script("S2", "z = x + 10")
        + '<bpmn:parallelGateway id="Join" />'
        + task("B")
        + '<bpmn:endEvent id="E" />'
        + flow("F1", "S", "A")
        + flow("F2", "A", "Split")
        + flow("F3", "Split", "S1")
        + flow("F4", "Split", "S2")
        + flow("F5", "S1", "Join")
        + flow("F6", "S2", "Join")
        + flow("F7", "Join", "B")
        + flow("F8", "B", "E"),
        pid="skript_parallellt",
    )
    d.deploy(xml, "s.bpmn", "anna")
    case = d.start_case("skript_parallellt", variables={"x": 0, "z": 0})
    info = finish(d, case.id, "A", actor="system")
    assert info.variables == {"x": 1, "z": 11}
    assert_reload_stable(d, case.id)


def test_a_script_in_a_multi_instance_subprocess_counts_every_instance(d):
    for sequential, script_first in (("true", False), ("false", False), ("false", True)):
        pid = f"rakna_{sequential}_{int(script_first)}"
        count = _script("Rakna", "antal = antal + 1")
        inner = (
            count
            + task("G")
            + flow("Fs1", "S1", "Rakna")
            + flow("Fs2", "Rakna", "G")
            + flow("Fs3", "G", "E1")
            if script_first
            else task("G")
            + count
            + flow("Fs1", "S1", "G")
            + flow("Fs2", "G", "Rakna")
            + flow("Fs3", "Rakna", "E1")
        )
        xml = diagram(
            '<bpmn:startEvent id="S" /><bpmn:subProcess id="Sub">'
            f'<bpmn:multiInstanceLoopCharacteristics isSequential="{sequential}" '
            'camunda:collection="${grupper}" camunda:elementVariable="grupp" /><bpmn:startEvent id="S1" />'
            + inner
            + '<bpmn:endEvent id="E1" /></bpmn:subProcess>'
            + task("Efter")
            + '<bpmn:endEvent id="E" />'
            + flow("F1", "S", "Sub")
            + flow("F2", "Sub", "Efter")
            + flow("F3", "Efter", "E"),
            pid=pid,
        )
        d.deploy(xml, f"{pid}.bpmn", "anna")
        case = d.start_case(pid, variables={"grupper": ["x", "y", "z"], "antal": 0})
        while "G" in _ids(d, case.id):
            info = finish(d, case.id, "G", actor="system")
            assert "grupp" not in info.variables  # the element is the instance's, not the case's
        assert info.variables["antal"] == 3, (sequential, script_first)


def test_a_non_interrupting_boundary_event_with_two_flows_splits_every_time_it_fires(d):
    """Through an implied parallel gateway, the second firing waited in the gateway for ever (its join
    behaviour); a cycle timer's branches were never created."""
    xml = diagram(
        '<bpmn:startEvent id="S" />'
        + task("A")
        + '<bpmn:boundaryEvent id="T" attachedToRef="A" cancelActivity="false"><bpmn:timerEventDefinition>'
        '<bpmn:timeCycle xsi:type="bpmn:tFormalExpression">R2/P1D</bpmn:timeCycle></bpmn:timerEventDefinition>'
        "</bpmn:boundaryEvent>"
        + task("X")
        + task("Y")
        + '<bpmn:endEvent id="E1" /><bpmn:endEvent id="E2" /><bpmn:endEvent id="E3" />'
        + flow("F1", "S", "A")
        + flow("F2", "A", "E1")
        + flow("F3", "T", "X")
        + flow("F4", "T", "Y")
        + flow("F5", "X", "E2")
        + flow("F6", "Y", "E3"),
        pid="tva_paminnelser",
    )
    d.deploy(xml, "t.bpmn", "anna")
    case = d.start_case("tva_paminnelser")
    for _ in range(2):
        clock.set(clock.now() + timedelta(days=1, minutes=1))
        d.wake_due_cases()
    assert _ids(d, case.id) == ["A", "X", "X", "Y", "Y"]
    assert_reload_stable(d, case.id)


def test_an_unconditional_and_a_conditional_flow_out_of_one_task(d):
    """Camunda always takes the flow without a condition; the implied inclusive gateway refused it at
    deploy ("Non-default exclusive outgoing sequence flow without condition")."""
    xml = diagram(
        '<bpmn:startEvent id="S" />'
        + task("A")
        + task("X")
        + task("Y")
        + '<bpmn:endEvent id="E1" /><bpmn:endEvent id="E2" />'
        + flow("F1", "S", "A")
        + flow("F2", "A", "X")
        + cond("F3", "A", "Y", "${v == 1}")
        + flow("F4", "X", "E1")
        + flow("F5", "Y", "E2"),
        pid="blandat",
    )
    d.deploy(xml, "b.bpmn", "anna")
    for v, expected in ((1, ["X", "Y"]), (2, ["X"])):
        case = d.start_case("blandat")
        finish(d, case.id, "A", {"v": v}, actor="system")
        assert _ids(d, case.id) == expected
