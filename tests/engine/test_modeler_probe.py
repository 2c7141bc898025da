"""Diagrams written the way Camunda Modeler 5 saves them (Camunda Platform 7), run end to end: each path
ends where Camunda 7 would end it, or deploy refuses the diagram naming the element. Found by probing:
message throw/end events that crashed at run time, receive tasks that stored ``payload``/``result_var``
as variables, data associations that failed a task, ``${…}`` loop cardinalities, and Camunda attributes
that SpiffWorkflow drops without a word."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine import clock
from engine.bpmn.compile import compile_bpmn
from engine.models import AuditEvent
from tests.engine.helpers import open_tasks
from tests.engine.test_modeler_constructs import diagram, flow, task

S, E = '<bpmn:startEvent id="S" />', '<bpmn:endEvent id="E" />'
MODELER_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xmlns:modeler="http://camunda.org/schema/modeler/1.0" id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn"
  exporter="Camunda Modeler" exporterVersion="5.31.0" modeler:executionPlatform="Camunda Platform"
  modeler:executionPlatformVersion="7.22.0">"""


def definitions(body: str) -> bytes:
    return f"{MODELER_HEAD}{body}</bpmn:definitions>".encode()


def ended_at(d, case_id: str) -> str | None:
    with d.session() as s:
        [event] = s.query(AuditEvent).filter_by(chain=case_id, kind="case_completed").all()
        return event.element_id


def finish(d, case_id: str, data: dict | None = None) -> None:
    for t in open_tasks(d, case_id):
        d.complete_task(t.id, "system", data or {}, roles=set(t.candidate_groups))


COLLABORATION = definitions("""
  <bpmn:collaboration id="Collaboration_1">
    <bpmn:participant id="Participant_forvaltning" name="Förvaltning" processRef="forvaltning" />
    <bpmn:participant id="Participant_namnd" name="Nämnd" processRef="namnd" />
    <bpmn:participant id="Participant_medborgare" name="Medborgare" processRef="medborgare" />
    <bpmn:messageFlow id="MessageFlow_1" sourceRef="Meddela" targetRef="Invanta" />
  </bpmn:collaboration>
  <bpmn:process id="forvaltning" name="Förvaltning" isExecutable="true">
    <bpmn:laneSet id="LaneSet_1">
      <bpmn:lane id="Lane_forvaltning" name="Stadsdelsdirektör">
        <bpmn:flowNodeRef>S</bpmn:flowNodeRef><bpmn:flowNodeRef>Uppdra</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>Bereda</bpmn:flowNodeRef><bpmn:flowNodeRef>Meddela</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>Klart</bpmn:flowNodeRef>
        <bpmn:childLaneSet id="LaneSet_2">
          <bpmn:lane id="Lane_direktor" name="Stadsdelsdirektör">
            <bpmn:flowNodeRef>S</bpmn:flowNodeRef><bpmn:flowNodeRef>Uppdra</bpmn:flowNodeRef>
          </bpmn:lane>
          <bpmn:lane id="Lane_enhetschef" name="Enhetschef">
            <bpmn:flowNodeRef>Bereda</bpmn:flowNodeRef><bpmn:flowNodeRef>Meddela</bpmn:flowNodeRef>
            <bpmn:flowNodeRef>Klart</bpmn:flowNodeRef>
          </bpmn:lane>
        </bpmn:childLaneSet>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="S" />
    <bpmn:userTask id="Uppdra" name="Uppdra" />
    <bpmn:userTask id="Bereda" name="Bereda" />
    <bpmn:intermediateThrowEvent id="Meddela" name="Meddela nämnden">
      <bpmn:messageEventDefinition id="MessageEventDefinition_1" messageRef="Message_beredd" />
    </bpmn:intermediateThrowEvent>
    <bpmn:endEvent id="Klart"><bpmn:messageEventDefinition id="MessageEventDefinition_2" messageRef="Message_beredd" /></bpmn:endEvent>
    <bpmn:sequenceFlow id="F1" sourceRef="S" targetRef="Uppdra" />
    <bpmn:sequenceFlow id="F2" sourceRef="Uppdra" targetRef="Bereda" />
    <bpmn:sequenceFlow id="F3" sourceRef="Bereda" targetRef="Meddela" />
    <bpmn:sequenceFlow id="F4" sourceRef="Meddela" targetRef="Klart" />
  </bpmn:process>
  <bpmn:process id="namnd" name="Nämnd" isExecutable="true">
    <bpmn:startEvent id="S_n" />
    <bpmn:parallelGateway id="Dela" />
    <bpmn:intermediateCatchEvent id="Invanta"><bpmn:messageEventDefinition id="MessageEventDefinition_3" messageRef="Message_beredd" /></bpmn:intermediateCatchEvent>
    <bpmn:intermediateThrowEvent id="Signalera"><bpmn:messageEventDefinition id="MessageEventDefinition_4" messageRef="Message_beredd" /></bpmn:intermediateThrowEvent>
    <bpmn:userTask id="Besluta" name="Besluta" camunda:candidateGroups="namnd" />
    <bpmn:endEvent id="E_n" /><bpmn:endEvent id="E_s" />
    <bpmn:sequenceFlow id="N1" sourceRef="S_n" targetRef="Dela" />
    <bpmn:sequenceFlow id="N2" sourceRef="Dela" targetRef="Invanta" />
    <bpmn:sequenceFlow id="N3" sourceRef="Dela" targetRef="Signalera" />
    <bpmn:sequenceFlow id="N4" sourceRef="Signalera" targetRef="E_s" />
    <bpmn:sequenceFlow id="N5" sourceRef="Invanta" targetRef="Besluta" />
    <bpmn:sequenceFlow id="N6" sourceRef="Besluta" targetRef="E_n" />
  </bpmn:process>
  <bpmn:process id="medborgare" isExecutable="false">
    <bpmn:startEvent id="S_m" /><bpmn:task id="Lamna" name="Lämna förslag" />
    <bpmn:sequenceFlow id="M1" sourceRef="S_m" targetRef="Lamna" />
  </bpmn:process>
  <bpmn:message id="Message_beredd" name="beredning_klar" />
""")


def test_message_throw_and_end_events_without_implementation_pass_on_as_in_camunda(d):
    """Camunda 7 runs a message throw/end event with no implementation as a none event: message flows are
    drawings. They crashed at run time (``Error evaluating expression 'None'``), and a throw would have
    reached a catch event of the same case. The non-executable pool is not deployed; nested lanes give
    the innermost lane's role."""
    infos = d.deploy(COLLABORATION, "samverkan.bpmn", "anna")
    assert sorted(i.key for i in infos) == ["forvaltning", "namnd"]
    namnd = d.start_case("namnd", business_key="KS-1")
    assert (
        ended_at_or_none(d, namnd.id) is None and open_tasks(d, namnd.id) == []
    )  # its own throw: not caught
    case = d.start_case("forvaltning")
    for role in ("stadsdelsdirektor", "enhetschef"):
        [t] = open_tasks(d, case.id)
        assert t.candidate_groups == [role]
        done = d.complete_task(t.id, "system", {}, roles={role})
    assert done.status == "completed" and ended_at(d, case.id) == "Klart"
    assert open_tasks(d, namnd.id) == []  # the message flow delivered nothing: deliver_message does
    d.deliver_message("beredning_klar", {"beredd": True}, business_key="KS-1")
    finish(d, namnd.id)
    assert ended_at(d, namnd.id) == "E_n"


def ended_at_or_none(d, case_id: str) -> str | None:
    with d.session() as s:
        events = s.query(AuditEvent).filter_by(chain=case_id, kind="case_completed").all()
        return events[0].element_id if events else None


def test_a_receive_task_merges_the_message_s_variables_like_a_catch_event(d):
    """It stored ``payload`` and ``result_var`` as case variables instead of the message's variables."""
    xml = definitions(
        '<bpmn:process id="huvud" name="Huvud" isExecutable="true">'
        + S
        + '<bpmn:receiveTask id="Vanta_svar" name="Vänta på svar" messageRef="Message_svar" />'
        '<bpmn:manualTask id="Ringa" name="Ring medborgaren" />'
        '<bpmn:scriptTask id="Rakna" name="Räkna" scriptFormat="python"><bpmn:script>antal = antal + 1'
        "</bpmn:script></bpmn:scriptTask>"
        '<bpmn:callActivity id="Anropa" calledElement="under" />'
        + E
        + flow("F1", "S", "Vanta_svar")
        + flow("F2", "Vanta_svar", "Ringa")
        + flow("F3", "Ringa", "Rakna")
        + flow("F4", "Rakna", "Anropa")
        + flow("F5", "Anropa", "E")
        + '</bpmn:process><bpmn:process id="under" isExecutable="true"><bpmn:startEvent id="S_u" />'
        + task("Granska")
        + '<bpmn:endEvent id="E_u" />'
        + flow("U1", "S_u", "Granska")
        + flow("U2", "Granska", "E_u")
        + '</bpmn:process><bpmn:message id="Message_svar" name="svar" />'
    )
    d.deploy(xml, "huvud.bpmn", "anna")
    case = d.start_case("huvud", business_key="B-1", variables={"antal": 0})
    assert open_tasks(d, case.id) == []
    d.deliver_message("svar", {"svarstext": "ja"}, business_key="B-1")
    [t] = open_tasks(d, case.id)
    done = d.complete_task(t.id, "system", {"granskat": True}, roles={"handlaggare"})
    assert done.status == "completed" and ended_at(d, case.id) == "E"
    assert done.variables == {"antal": 1, "svarstext": "ja", "granskat": True}


def test_data_objects_annotations_and_groups_are_ignored(d):
    """A data output association failed the task at run time ('DataObject_1' not exist in the task)."""
    writes = (
        '<bpmn:dataOutputAssociation id="DOA_1"><bpmn:targetRef>DataObjectReference_1</bpmn:targetRef>'
        "</bpmn:dataOutputAssociation>"
    )
    reads = (
        '<bpmn:property id="Property_1" name="__targetRef_placeholder" />'
        '<bpmn:dataInputAssociation id="DIA_1"><bpmn:sourceRef>DataObjectReference_1</bpmn:sourceRef>'
        "<bpmn:targetRef>Property_1</bpmn:targetRef></bpmn:dataInputAssociation>"
    )
    xml = diagram(
        S
        + task("Skriva", inner=writes)
        + task("Lasa", inner=reads)
        + '<bpmn:dataObjectReference id="DataObjectReference_1" name="Yttrande" dataObjectRef="DataObject_1" />'
        '<bpmn:dataObject id="DataObject_1" /><bpmn:dataStoreReference id="DataStoreReference_1" name="Diarium" />'
        '<bpmn:textAnnotation id="TextAnnotation_1"><bpmn:text>Enligt riktlinjen</bpmn:text></bpmn:textAnnotation>'
        '<bpmn:association id="Association_1" sourceRef="Skriva" targetRef="TextAnnotation_1" />'
        '<bpmn:group id="Group_1" categoryValueRef="CategoryValue_1" />'
        + E
        + flow("F1", "S", "Skriva")
        + flow("F2", "Skriva", "Lasa")
        + flow("F3", "Lasa", "E"),
        pid="artefakter",
        extra='<bpmn:category id="Category_1"><bpmn:categoryValue id="CategoryValue_1" value="Beredning" />'
        "</bpmn:category>",
    )
    d.deploy(xml, "artefakter.bpmn", "anna")
    case = d.start_case("artefakter")
    finish(d, case.id, {"yttrande": "tillstyrks"})
    finish(d, case.id)
    assert ended_at(d, case.id) == "E"


def test_a_loop_cardinality_written_as_an_expression_runs_that_many_times(d):
    """``${antal}`` was handed to Python untranslated and failed when the task was reached."""
    mi = (
        '<bpmn:multiInstanceLoopCharacteristics isSequential="true"><bpmn:loopCardinality '
        'xsi:type="bpmn:tFormalExpression">${antal}</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics>'
    )
    xml = diagram(
        S + task("Granska", inner=mi) + E + flow("F1", "S", "Granska") + flow("F2", "Granska", "E"),
        pid="varv",
    )
    d.deploy(xml, "varv.bpmn", "anna")
    case = d.start_case("varv", variables={"antal": 2})
    for n in range(2):
        [t] = open_tasks(d, case.id)
        done = d.complete_task(t.id, "system", {f"svar_{n}": n}, roles={"handlaggare"})
    assert done.status == "completed" and done.variables == {"antal": 2, "svar_0": 0, "svar_1": 1}


def test_an_embedded_subprocess_ends_by_its_error_end_event_or_its_timer(d):
    inner = (
        '<bpmn:subProcess id="Beredning"><bpmn:startEvent id="S2" />'
        + task("Granska")
        + '<bpmn:exclusiveGateway id="Gw" default="G_ok" /><bpmn:endEvent id="E2" />'
        '<bpmn:endEvent id="Fel"><bpmn:errorEventDefinition id="ED1" errorRef="Error_1" /></bpmn:endEvent>'
        + flow("G1", "S2", "Granska")
        + flow("G2", "Granska", "Gw")
        + flow("G_ok", "Gw", "E2")
        + '<bpmn:sequenceFlow id="G_fel" sourceRef="Gw" targetRef="Fel"><bpmn:conditionExpression '
        'xsi:type="bpmn:tFormalExpression">${not komplett}</bpmn:conditionExpression></bpmn:sequenceFlow>'
        "</bpmn:subProcess>"
        '<bpmn:boundaryEvent id="B_fel" attachedToRef="Beredning"><bpmn:errorEventDefinition id="ED2" '
        'errorRef="Error_1" /></bpmn:boundaryEvent>'
        '<bpmn:boundaryEvent id="B_tid" attachedToRef="Beredning"><bpmn:timerEventDefinition id="TD1">'
        '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P10D</bpmn:timeDuration>'
        "</bpmn:timerEventDefinition></bpmn:boundaryEvent>"
    )
    xml = diagram(
        S
        + inner
        + task("Komplettera")
        + task("Eskalera", group="avdelningschef")
        + E
        + '<bpmn:endEvent id="E_fel" /><bpmn:endEvent id="E_tid" />'
        + flow("F1", "S", "Beredning")
        + flow("F2", "Beredning", "E")
        + flow("F3", "B_fel", "Komplettera")
        + flow("F4", "Komplettera", "E_fel")
        + flow("F5", "B_tid", "Eskalera")
        + flow("F6", "Eskalera", "E_tid"),
        pid="beredning",
        extra='<bpmn:error id="Error_1" name="Ofullständig" errorCode="OFULLSTANDIG" />',
    )
    d.deploy(xml, "beredning.bpmn", "anna")
    ends = {}
    for komplett in (True, False, None):
        case = d.start_case("beredning")
        if komplett is None:
            clock.set(clock.now() + timedelta(days=10, minutes=1))
            assert d.wake_case(case.id)
        else:
            finish(d, case.id, {"komplett": komplett})
        finish(d, case.id)
        ends[komplett] = ended_at(d, case.id)
    assert ends == {True: "E", False: "E_fel", None: "E_tid"}


REFUSED = {
    "business rule task (DMN)": (
        '<bpmn:businessRuleTask id="Regel" camunda:resultVariable="r" camunda:decisionRef="beslut" />',
        "Regel", "business rule tasks",
    ),
    "business rule task with a class": (
        '<bpmn:businessRuleTask id="Regel" camunda:class="se.kommun.Regel" />', "Regel", "business rule tasks",
    ),
    "script result variable": (
        '<bpmn:scriptTask id="Skript" scriptFormat="python" camunda:resultVariable="r"><bpmn:script>1 + 1'
        "</bpmn:script></bpmn:scriptTask>",
        "Skript", "camunda:resultVariable",
    ),
    "external script": (
        '<bpmn:scriptTask id="Skript" scriptFormat="python" camunda:resource="deployment://r.py" />',
        "Skript", "camunda:resource",
    ),
    "receive task without a message": ('<bpmn:receiveTask id="Vanta" />', "Vanta", "no message"),
    "intermediate cycle timer": (
        '<bpmn:intermediateCatchEvent id="Vanta"><bpmn:timerEventDefinition><bpmn:timeCycle '
        'xsi:type="bpmn:tFormalExpression">R3/PT1H</bpmn:timeCycle></bpmn:timerEventDefinition>'
        "</bpmn:intermediateCatchEvent>",
        "Vanta", "timeCycle on an intermediate timer",
    ),
    "form reference": (
        task("Vanta", attrs='camunda:formRef="granska" camunda:formRefBinding="latest"'), "Vanta", "Camunda Forms",
    ),
    "multi-instance counters": (
        task("Vanta", inner='<bpmn:multiInstanceLoopCharacteristics camunda:collection="${delar}">'
             '<bpmn:completionCondition xsi:type="bpmn:tFormalExpression">${nrOfCompletedInstances &gt;= 2}'
             "</bpmn:completionCondition></bpmn:multiInstanceLoopCharacteristics>"),
        "Vanta", "nrOfCompletedInstances",
    ),
    "loop cardinality method call": (
        task("Vanta", inner='<bpmn:multiInstanceLoopCharacteristics><bpmn:loopCardinality '
             'xsi:type="bpmn:tFormalExpression">${delar.size()}</bpmn:loopCardinality>'
             "</bpmn:multiInstanceLoopCharacteristics>"),
        "Vanta", "method calls",
    ),
    "message throw with a class": (
        '<bpmn:intermediateThrowEvent id="Vanta"><bpmn:messageEventDefinition messageRef="M" '
        'camunda:class="se.kommun.Skicka" /></bpmn:intermediateThrowEvent>',
        "Vanta", "message throw events with an implementation",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_camunda_attributes_spiffworkflow_would_drop_are_refused_naming_the_element(name):
    element, eid, reason = REFUSED[name]
    xml = diagram(
        S + element + E + flow("F1", "S", eid) + flow("F2", eid, "E"),
        extra='<bpmn:message id="M" name="m" />',
    )
    problems = compile_bpmn(xml, f"{name}.bpmn").problems
    assert any(p.where == eid and reason in p.message for p in problems), problems


def test_an_empty_condition_and_names_the_tables_cannot_hold_are_refused_naming_the_element():
    empty = (
        S
        + task("T")
        + '<bpmn:exclusiveGateway id="G" default="F3" />'
        + E
        + flow("F1", "S", "T")
        + flow("F2", "T", "G")
        + '<bpmn:sequenceFlow id="Fc" sourceRef="G" targetRef="E"><bpmn:conditionExpression '
        'xsi:type="bpmn:tFormalExpression" /></bpmn:sequenceFlow>' + flow("F3", "G", "E")
    )
    problems = compile_bpmn(diagram(empty), "tom.bpmn").problems
    assert [(p.where, p.message) for p in problems] == [
        ("Fc", "the condition is empty; write one, or remove it")
    ]
    lanes = (
        '<bpmn:laneSet id="LS"><bpmn:lane id="Lane_lang" name="' + "Handläggare " * 20 + '">'
        "<bpmn:flowNodeRef>T</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>"
    )
    xml = diagram(lanes + S + task("T") + E + flow("F1", "S", "T") + flow("F2", "T", "E"), pid="lang")
    xml = xml.replace(b'name="Prov"', b'name="' + b"Medborgardialog " * 20 + b'"')
    problems = {(p.where, p.message) for p in compile_bpmn(xml, "lang.bpmn").problems}
    assert problems == {
        ("lang", "the process name is longer than 300 characters"),
        ("Lane_lang", "the lane name is longer than 200 characters"),
    }
