"""Deploying diagrams: hardened XML, Camunda attributes kept, translation, validation, versions."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine.bpmn.compile import compile_bpmn
from engine.errors import ValidationFailed
from engine.models import AuditEvent, Deployment, ProcessDefinition, Resource
from tests.conftest import count, fixture_bytes
from tests.engine.helpers import add_staff, deploy_fixture, open_tasks

MINIMAL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  id="D" targetNamespace="x">
  <bpmn:process id="p" isExecutable="true">{body}</bpmn:process>
</bpmn:definitions>"""


def bpmn(body: str) -> bytes:
    return MINIMAL.format(body=body).encode()


def nothing_stored(d) -> bool:
    return all(count(d, m) == 0 for m in (Deployment, Resource, ProcessDefinition, AuditEvent))


def problems_of(d, data: bytes) -> list:
    with pytest.raises(ValidationFailed) as err:
        d.deploy(data, "bad.bpmn", "anna")
    assert nothing_stored(d)
    return err.value.problems


def test_deploy_stores_versioned_definition_and_dedupes(d):
    first = deploy_fixture(d)
    assert [(i.key, i.version, i.created) for i in first] == [("test_initiativ", 1, True)]
    again = deploy_fixture(d, by="bertil")
    assert [(i.id, i.version, i.created) for i in again] == [(first[0].id, 1, False)]
    changed = fixture_bytes("initiativ.bpmn").replace(b"Granska initiativet", b"Granska initiativet noga")
    second = d.deploy(changed, "initiativ.bpmn", "bertil")
    assert (second[0].version, second[0].created, second[0].deployed_by) == (2, True, "bertil")
    assert second[0].sha256 != first[0].sha256
    with d.session() as s:
        rows = s.execute(sa.select(ProcessDefinition).order_by(ProcessDefinition.version)).scalars().all()
        assert [r.version for r in rows] == [1, 2]
        assert rows[0].resource.content == fixture_bytes("initiativ.bpmn")  # stored byte for byte
        kinds = s.execute(sa.select(AuditEvent.kind, AuditEvent.actor).order_by(AuditEvent.id)).all()
    assert kinds == [("process_deployed", "anna"), ("process_deployed", "bertil")]
    assert d.verify_audit() == []


def test_start_uses_latest_or_given_version(d):
    add_staff(d)
    deploy_fixture(d)
    d.deploy(
        fixture_bytes("initiativ.bpmn").replace(b"Granska initiativet", b"Granska v2"), "initiativ.bpmn", "a"
    )
    latest = d.start_case("test_initiativ", actor="hanna")
    old = d.start_case("test_initiativ", version=1, actor="hanna")
    assert latest.definition_id.startswith("test_initiativ:2:")
    assert old.definition_id.startswith("test_initiativ:1:")
    assert open_tasks(d, latest.id)[0].name == "Granska v2"
    assert open_tasks(d, old.id)[0].name == "Granska initiativet"


def test_spec_is_parsed_once_per_version(d):
    info = deploy_fixture(d)[0]
    with d.session() as s:
        first = d.specs.get(s, info.id)
        assert d.specs.get(s, info.id) is first


def test_xxe_is_refused_and_nothing_stored(d, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    xxe = f"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file://{secret}">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D" targetNamespace="x">
  <bpmn:process id="p" isExecutable="true"><bpmn:documentation>&xxe;</bpmn:documentation>
  <bpmn:startEvent id="s"/></bpmn:process></bpmn:definitions>""".encode()
    problems = problems_of(d, xxe)
    assert "DOCTYPE" in problems[0].message and problems[0].where == "bad.bpmn"


def test_billion_laughs_is_refused(d):
    lol = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D"><bpmn:process id="p">&lol3;</bpmn:process></bpmn:definitions>"""
    assert "DOCTYPE" in problems_of(d, lol)[0].message


def test_size_limit_and_malformed_xml(d):
    assert "limit" in problems_of(d, b"<x>" + b" " * (6 * 1024 * 1024) + b"</x>")[0].message
    assert "not well-formed" in problems_of(d, b"<bpmn:definitions")[0].message
    assert "bpmn:definitions" in problems_of(d, b"<html/>")[0].message


def test_untranslatable_condition_and_timer_name_the_element(d):
    body = """
    <bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="g"/>
    <bpmn:exclusiveGateway id="g" default="f2"/>
    <bpmn:sequenceFlow id="f1" sourceRef="g" targetRef="e1">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${execution.getVariable('x') == 1}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f2" sourceRef="g" targetRef="t"/>
    <bpmn:intermediateCatchEvent id="t"><bpmn:timerEventDefinition>
      <bpmn:timeDuration>P14X</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="t" targetRef="e1"/>
    <bpmn:endEvent id="e1"/>"""
    problems = {p.where: p.message for p in problems_of(d, bpmn(body))}
    assert set(problems) == {"f1", "t"}
    assert "execution.getVariable" in problems["f1"]
    assert "P14X" in problems["t"]


def test_user_task_needs_lane_or_candidate_group(d):
    body = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="u"/>
    <bpmn:userTask id="u" name="Ingen roll"/><bpmn:sequenceFlow id="f2" sourceRef="u" targetRef="e"/><bpmn:endEvent id="e"/>"""
    [problem] = problems_of(d, bpmn(body))
    assert problem.where == "u" and "lane" in problem.message


GATE = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="u"/>
  <bpmn:userTask id="u" camunda:candidateGroups="x"><bpmn:extensionElements><camunda:formData>
    <camunda:formField id="ok" type="boolean"/>
    <camunda:formField id="kind" type="enum"><camunda:value id="a"/><camunda:value id="b"/></camunda:formField>
  </camunda:formData></bpmn:extensionElements></bpmn:userTask>
  <bpmn:sequenceFlow id="f1" sourceRef="u" targetRef="g"/>
  <bpmn:exclusiveGateway id="g"/>
  <bpmn:sequenceFlow id="ja" sourceRef="g" targetRef="e1"><bpmn:conditionExpression>{a}</bpmn:conditionExpression></bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="nej" sourceRef="g" targetRef="e2"><bpmn:conditionExpression>{b}</bpmn:conditionExpression></bpmn:sequenceFlow>
  <bpmn:endEvent id="e1"/><bpmn:endEvent id="e2"/>"""


@pytest.mark.parametrize(
    ("a", "b", "covers"),
    [
        ("${ok == true}", "${ok == false}", True),
        ("${ok}", "${!ok}", True),
        ("${kind == 'a'}", "${kind == 'b'}", True),
        ("${ok == true}", "${kind == 'a'}", False),
        ("${antal &gt; 5}", "${antal &lt; 5}", False),
    ],
)
def test_gateway_without_default_must_cover_all_cases(d, a, b, covers):
    data = bpmn(GATE.format(a=a, b=b))
    if covers:
        assert compile_bpmn(data).problems == []
    else:
        [problem] = problems_of(d, data)
        assert problem.where == "g" and "default flow" in problem.message


@pytest.mark.parametrize(
    "timer",
    [
        "<bpmn:timeCycle>R/2026-02-01T09:00:00/P1Y</bpmn:timeCycle>",
        "<bpmn:timeDate>2026-06-01T08:00:00</bpmn:timeDate>",
        "<bpmn:timeDuration>P1D</bpmn:timeDuration>",
    ],
)
def test_timer_start_events_are_refused_pointing_to_schedules(d, timer):
    """Nothing in Delaktig starts a case at a start event's timer (its scheduler starts routines from
    schedules.yaml); a timeDate start event deployed and then never started anything."""
    body = f"""<bpmn:startEvent id="s"><bpmn:timerEventDefinition>{timer}
    </bpmn:timerEventDefinition></bpmn:startEvent><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="e"/><bpmn:endEvent id="e"/>"""
    [problem] = problems_of(d, bpmn(body))
    assert problem.where == "s" and "schedules.yaml" in problem.message


def test_naive_timer_dates_get_stockholm_offset():
    body = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="t"/>
    <bpmn:intermediateCatchEvent id="t"><bpmn:timerEventDefinition><bpmn:timeDate>2026-07-01T09:00:00</bpmn:timeDate>
    </bpmn:timerEventDefinition></bpmn:intermediateCatchEvent><bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e"/>
    <bpmn:endEvent id="e"/>"""
    compiled = compile_bpmn(bpmn(body))
    assert compiled.problems == []
    text = compiled.root.find(".//{http://www.omg.org/spec/BPMN/20100524/MODEL}timeDate").text
    assert text == "'2026-07-01T09:00:00+02:00'"


def test_no_executable_process(d):
    data = bpmn("<bpmn:startEvent id='s'/>").replace(b'isExecutable="true"', b'isExecutable="false"')
    assert "isExecutable" in problems_of(d, data)[0].message


def test_camunda_attributes_are_kept_on_user_tasks(d):
    body = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="u"/>
    <bpmn:userTask id="u" name="Uppgift" camunda:assignee="${handlaggare}" camunda:candidateGroups="a, b"
       camunda:candidateUsers="kalle,lisa" camunda:dueDate="2026-03-20" camunda:followUpDate="PT48H" camunda:priority="80"/>
    <bpmn:sequenceFlow id="f2" sourceRef="u" targetRef="e"/><bpmn:endEvent id="e"/>"""
    d.deploy(bpmn(body), "attrs.bpmn", "anna")
    from datetime import UTC, datetime

    from engine import clock

    clock.set(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    case = d.start_case("p", variables={"handlaggare": "kalle"})
    [task] = open_tasks(d, case.id)
    assert task.assignee == "kalle"
    assert task.candidate_groups == ["a", "b"] and task.candidate_users == ["kalle", "lisa"]
    assert task.priority == 80
    assert task.due_at == datetime(2026, 3, 20, 16, 0, tzinfo=UTC)  # 17:00 Stockholm (winter time)
    assert task.follow_up_at == datetime(2026, 3, 4, 8, 0, tzinfo=UTC)


def test_lane_name_becomes_the_role_when_no_candidate_group(d):
    data = fixture_bytes("initiativ.bpmn").replace(b' camunda:candidateGroups="handlaggare"', b"")
    d.deploy(data, "initiativ.bpmn", "anna")
    case = d.start_case("test_initiativ")
    assert open_tasks(d, case.id)[0].candidate_groups == ["handlaggare"]  # lane "Handläggare"


def test_ids_reserved_by_the_engine_are_refused(d):
    body = """<bpmn:startEvent id="Start"/><bpmn:sequenceFlow id="f" sourceRef="Start" targetRef="e"/><bpmn:endEvent id="e"/>"""
    [problem] = problems_of(d, bpmn(body))
    assert problem.where == "Start" and "reserved" in problem.message


def test_flows_without_incoming_outgoing_elements_still_run(d):
    """bpmn:incoming/outgoing are optional in BPMN; SpiffWorkflow needs them, so the engine derives them."""
    body = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="x"/>
      <bpmn:scriptTask id="x"><bpmn:script>y = 1</bpmn:script></bpmn:scriptTask>
      <bpmn:sequenceFlow id="f2" sourceRef="x" targetRef="e"/><bpmn:endEvent id="e"/>"""
    d.deploy(bpmn(body), "bare.bpmn", "anna")
    assert d.start_case("p").variables == {"y": 1}
