"""User tasks inside an embedded subprocess: projected, completed, and found by the fast READY scan
(``runtime.ready_user_tasks`` reads the task tables of the case and its subprocesses directly)."""

from __future__ import annotations

from SpiffWorkflow.task import TaskState

from engine.models import Case
from engine.runtime import ready_user_tasks
from engine.workflow import load_state
from tests.engine.helpers import open_tasks

SUBPROCESS_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Defs" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="med_delprocess" name="Med delprocess" isExecutable="true">
    <bpmn:startEvent id="Borjan"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="Borjan" targetRef="Forbered" />
    <bpmn:userTask id="Forbered" name="Förbered" camunda:candidateGroups="handlaggare">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Forbered" targetRef="Dialog" />
    <bpmn:subProcess id="Dialog" name="Dialog">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:startEvent id="DStart"><bpmn:outgoing>d1</bpmn:outgoing></bpmn:startEvent>
      <bpmn:sequenceFlow id="d1" sourceRef="DStart" targetRef="Split" />
      <bpmn:parallelGateway id="Split"><bpmn:incoming>d1</bpmn:incoming>
        <bpmn:outgoing>d2</bpmn:outgoing><bpmn:outgoing>d3</bpmn:outgoing></bpmn:parallelGateway>
      <bpmn:sequenceFlow id="d2" sourceRef="Split" targetRef="Mote" />
      <bpmn:sequenceFlow id="d3" sourceRef="Split" targetRef="Enkat" />
      <bpmn:userTask id="Mote" name="Håll möte" camunda:candidateGroups="handlaggare">
        <bpmn:incoming>d2</bpmn:incoming><bpmn:outgoing>d4</bpmn:outgoing></bpmn:userTask>
      <bpmn:userTask id="Enkat" name="Skicka enkät" camunda:candidateGroups="handlaggare">
        <bpmn:incoming>d3</bpmn:incoming><bpmn:outgoing>d5</bpmn:outgoing></bpmn:userTask>
      <bpmn:sequenceFlow id="d4" sourceRef="Mote" targetRef="Join" />
      <bpmn:sequenceFlow id="d5" sourceRef="Enkat" targetRef="Join" />
      <bpmn:parallelGateway id="Join"><bpmn:incoming>d4</bpmn:incoming><bpmn:incoming>d5</bpmn:incoming>
        <bpmn:outgoing>d6</bpmn:outgoing></bpmn:parallelGateway>
      <bpmn:sequenceFlow id="d6" sourceRef="Join" targetRef="DEnd" />
      <bpmn:endEvent id="DEnd"><bpmn:incoming>d6</bpmn:incoming></bpmn:endEvent>
    </bpmn:subProcess>
    <bpmn:sequenceFlow id="f3" sourceRef="Dialog" targetRef="Slut" />
    <bpmn:endEvent id="Slut"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
""".encode()


def _ready_both_ways(d, case_id: str) -> tuple[set[str], set[str]]:
    with d.session() as s:
        case = s.get(Case, case_id)
        spec, subs = d.specs.get(s, case.definition_id)
        wf = load_state(case.state, spec, subs)
        walked = {str(t.id) for t in wf.get_tasks(state=TaskState.READY, manual=True)}
        return set(ready_user_tasks(wf)), walked


def test_tasks_inside_a_subprocess_are_projected_and_completed(d):
    d.add_user("hanna", None, ["handlaggare"])
    d.deploy(SUBPROCESS_BPMN, "delprocess.bpmn", "test")
    info = d.start_case("med_delprocess", actor="hanna")
    [first] = open_tasks(d, info.id)
    assert first.element_id == "Forbered"
    info = d.complete_task(first.id, "hanna", {})
    inside = open_tasks(d, info.id)
    assert sorted(t.element_id for t in inside) == ["Enkat", "Mote"]
    fast, walked = _ready_both_ways(d, info.id)
    assert fast == walked == {t.id for t in inside}
    for task in inside:
        info = d.complete_task(task.id, "hanna", {})
    assert info.status == "completed"
    assert open_tasks(d, info.id) == []
    assert _ready_both_ways(d, info.id) == (set(), set())
    assert d.verify_audit(info.id) == []
