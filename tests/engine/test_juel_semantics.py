"""Camunda 7 gateway conditions behave as JUEL (EL 2.2) does, through deployed Modeler-style diagrams and
real cases: JUEL's type coercion in `==`, orderings, arithmetic and `&&`, and a condition that returns no
Boolean failing the step (naming its flow) with nothing changed, as Camunda does."""

from __future__ import annotations

from xml.sax.saxutils import escape

import pytest

from engine.errors import ProcessError
from engine.models import AuditEvent, UserTask
from tests.engine.helpers import case_row, open_tasks


def gateway_diagram(pid: str, condition: str, before: str = "") -> bytes:
    """Start → (user task `before`) → gateway: flow Fja with `condition` to task Ja, default Fnej to Nej."""
    first = "Gw"
    steps = ""
    if before:
        first = before
        steps = (
            f'<bpmn:userTask id="{before}" name="{before}" camunda:candidateGroups="handlaggare" />'
            f'<bpmn:sequenceFlow id="F0" sourceRef="{before}" targetRef="Gw" />'
        )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xmlns:modeler="http://camunda.org/schema/modeler/1.0" id="Defs_{pid}" targetNamespace="http://bpmn.io/schema/bpmn"
  exporter="Camunda Modeler" exporterVersion="5.31.0" modeler:executionPlatform="Camunda Platform"
  modeler:executionPlatformVersion="7.21.0">
  <bpmn:process id="{pid}" name="JUEL" isExecutable="true">
    <bpmn:startEvent id="S" />
    <bpmn:sequenceFlow id="F1" sourceRef="S" targetRef="{first}" />
    {steps}
    <bpmn:exclusiveGateway id="Gw" default="Fnej" />
    <bpmn:sequenceFlow id="Fja" sourceRef="Gw" targetRef="Ja">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{escape(condition)}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="Fnej" sourceRef="Gw" targetRef="Nej" />
    <bpmn:userTask id="Ja" name="Ja" camunda:candidateGroups="handlaggare" />
    <bpmn:userTask id="Nej" name="Nej" camunda:candidateGroups="handlaggare" />
  </bpmn:process>
</bpmn:definitions>""".encode()


def route(d, pid: str, variables: dict) -> str:
    """Start a case with `variables`; the element of the one task the gateway led to."""
    case = d.start_case(pid, variables=variables)
    [task] = open_tasks(d, case.id)
    return task.element_id


@pytest.mark.parametrize(
    ("condition", "variables", "expected"),
    [
        # '1' is made a number to compare it with the Long 1
        ("${antal == '1'}", {"antal": 1}, "Ja"),
        ("${antal == '1'}", {"antal": 2}, "Nej"),
        ("${antal != '1'}", {"antal": 1}, "Nej"),
        # a Boolean on one side makes the other a Boolean: Boolean.valueOf, "true" in any case
        ("${beslut == 'true'}", {"beslut": True}, "Ja"),
        ("${beslut == 'TRUE'}", {"beslut": True}, "Ja"),
        ("${beslut == 'true'}", {"beslut": False}, "Nej"),
        ("${beslut == true}", {"beslut": True}, "Ja"),
        ("${beslut == true}", {"beslut": "true"}, "Ja"),
        ("${beslut == true}", {"beslut": "ja"}, "Nej"),
        # the same value on both sides, null too, makes >= true; null and a number is false
        ("${a >= b}", {"a": None, "b": None}, "Ja"),
        ("${a <= b}", {"a": None, "b": None}, "Ja"),
        ("${a > b}", {"a": None, "b": None}, "Nej"),
        ("${a >= b}", {"a": None, "b": 1}, "Nej"),
        ("${a >= b}", {"a": "10", "b": 9}, "Ja"),  # the text is made a number
        # arithmetic counts null as 0
        ("${belopp + avgift > 100}", {"belopp": 150, "avgift": None}, "Ja"),
        ("${belopp + avgift > 100}", {"belopp": 90, "avgift": None}, "Nej"),
        ("${belopp + avgift > 100}", {"belopp": 90, "avgift": "20"}, "Ja"),
        ("${belopp / 0 > 100}", {"belopp": 1}, "Ja"),  # Infinity, as in JUEL: no division error
        # && makes its operands Booleans: null false, a text true only if it is "true"
        ("${x && y}", {"x": "true", "y": True}, "Ja"),
        ("${x && y}", {"x": "True", "y": "true"}, "Ja"),
        ("${x && y}", {"x": "false", "y": True}, "Nej"),
        ("${x && y}", {"x": "ja", "y": True}, "Nej"),
        ("${x && y}", {"x": None, "y": True}, "Nej"),
    ],
)
def test_a_gateway_condition_coerces_as_juel_does(d, condition, variables, expected):
    d.deploy(gateway_diagram("juel", condition), "juel.bpmn", "anna")
    assert route(d, "juel", variables) == expected


def test_a_form_boolean_compared_with_a_text_takes_the_flow(d):
    """The usual shape: a user task completed with a Boolean, the condition written with a text."""
    d.deploy(gateway_diagram("beslut", "${godkand == 'true'}", before="Bedom"), "b.bpmn", "anna")
    for value, expected in ((True, "Ja"), (False, "Nej")):
        case = d.start_case("beslut")
        [t] = open_tasks(d, case.id)
        d.complete_task(t.id, "system", {"godkand": value}, roles={"handlaggare"})
        assert [x.element_id for x in open_tasks(d, case.id)] == [expected]


def refused_step(d, pid: str, data: dict) -> tuple[ProcessError, str]:
    """Complete the task before the gateway with `data`: refused, and the case exactly as it was."""
    case = d.start_case(pid)
    [t] = open_tasks(d, case.id)
    before = case_row(d, case.id)
    with d.session() as s:
        audit_before = s.query(AuditEvent).filter_by(case_id=case.id).count()
    with pytest.raises(ProcessError) as refused:
        d.complete_task(t.id, "system", data, roles={"handlaggare"})
    after = case_row(d, case.id)
    assert (after.version, after.state, after.data, after.status) == (
        before.version,
        before.state,
        before.data,
        before.status,
    )
    assert [x.element_id for x in open_tasks(d, case.id)] == ["Bedom"]
    with d.session() as s:
        assert s.get(UserTask, t.id).state == "open"
        assert s.query(AuditEvent).filter_by(case_id=case.id).count() == audit_before
    return refused.value, t.id


def test_a_condition_returning_a_text_fails_the_step_naming_the_flow(d):
    """Camunda: "condition expression returns non-Boolean". A text 'false' must not be taken as true."""
    d.deploy(gateway_diagram("text", "${beslut}", before="Bedom"), "t.bpmn", "anna")
    for value, shown in (("false", "the text 'false'"), (None, "null"), (0, "the number 0")):
        err, task_id = refused_step(d, "text", {"beslut": value})
        assert err.where == "Gw"
        assert f"the condition of sequence flow Fja returned {shown}, not a Boolean" in str(err)
    # The same task, completed with a Boolean, goes on.
    d.complete_task(task_id, "system", {"beslut": True}, roles={"handlaggare"})


@pytest.mark.parametrize(
    ("condition", "data", "message"),
    [
        ("${antal == 1}", {"antal": "ett"}, "the text 'ett' is not a number"),  # ELException, not false
        ("${x && y}", {"x": 1, "y": True}, "the number 1 is not a Boolean"),
        ("${belopp + avgift > 100}", {"belopp": 90, "avgift": "tjugo"}, "the text 'tjugo' is not a number"),
    ],
)
def test_a_value_juel_cannot_coerce_fails_the_step_naming_the_gateway(d, condition, data, message):
    d.deploy(gateway_diagram("fel", condition, before="Bedom"), "f.bpmn", "anna")
    err, _ = refused_step(d, "fel", data)
    assert err.where == "Gw"
    assert message in str(err)


def multi_instance_diagram(completion: str) -> bytes:
    mi = (
        '<bpmn:multiInstanceLoopCharacteristics isSequential="true" camunda:collection="${delar}" '
        'camunda:elementVariable="del"><bpmn:completionCondition xsi:type="bpmn:tFormalExpression">'
        f"{escape(completion)}</bpmn:completionCondition></bpmn:multiInstanceLoopCharacteristics>"
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  id="Defs_mi" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="mi" isExecutable="true">
    <bpmn:startEvent id="S" />
    <bpmn:sequenceFlow id="F1" sourceRef="S" targetRef="Granska" />
    <bpmn:userTask id="Granska" name="Granska" camunda:candidateGroups="handlaggare">{mi}</bpmn:userTask>
    <bpmn:sequenceFlow id="F2" sourceRef="Granska" targetRef="Klart" />
    <bpmn:userTask id="Klart" name="Klart" camunda:candidateGroups="handlaggare" />
  </bpmn:process>
</bpmn:definitions>""".encode()


def test_a_completion_condition_coerces_and_must_return_a_boolean(d):
    """Camunda also refuses a completionCondition whose value is not a Boolean."""
    d.deploy(multi_instance_diagram("${klar == 'true'}"), "mi.bpmn", "anna")
    case = d.start_case("mi", variables={"delar": ["a", "b", "c"]})
    [t] = open_tasks(d, case.id)
    d.complete_task(t.id, "system", {"klar": True}, roles={"handlaggare"})
    assert [x.element_id for x in open_tasks(d, case.id)] == ["Klart"]  # done after the first of three

    d.deploy(multi_instance_diagram("${klar}"), "mi.bpmn", "anna")
    case = d.start_case("mi", variables={"delar": ["a", "b", "c"]})
    [t] = open_tasks(d, case.id)
    before = case_row(d, case.id)
    with pytest.raises(ProcessError) as refused:
        d.complete_task(t.id, "system", {"klar": "true"}, roles={"handlaggare"})
    assert "the completionCondition of Granska returned the text 'true'" in str(refused.value)
    assert case_row(d, case.id).version == before.version
    assert [x.id for x in open_tasks(d, case.id)] == [t.id]
