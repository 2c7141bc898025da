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
