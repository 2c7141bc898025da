"""Link events (engine.bpmn.links): a link throw event goes on at the catch event of its name in its scope,
as in Camunda 7; what Camunda refuses, or what would stop a case, is refused at deploy naming the element."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine.bpmn.compile import compile_bpmn
from engine.models import AuditEvent, ProcessDefinition
from tests.engine.helpers import assert_reload_stable, open_tasks
from tests.engine.test_modeler_constructs import diagram, flow, task


def throw(eid: str, name: str) -> str:
    return (
        f'<bpmn:intermediateThrowEvent id="{eid}" name="Till {name}">'
        f'<bpmn:linkEventDefinition id="{eid}_def" name="{name}" /></bpmn:intermediateThrowEvent>'
    )


def catch(eid: str, name: str) -> str:
    return (
        f'<bpmn:intermediateCatchEvent id="{eid}" name="Från {name}">'
        f'<bpmn:linkEventDefinition id="{eid}_def" name="{name}" /></bpmn:intermediateCatchEvent>'
    )


# Registrera → gateway: komplett → (link "beslut") → Besluta; ofullständig → Komplettera → (link "beslut").
# Two throw events lead to one catch event; the catch event's flow goes on to Besluta.
LINKS = diagram(
    '<bpmn:startEvent id="S" />'
    + task("Registrera")
    + '<bpmn:exclusiveGateway id="Gw" default="Ofullstandig" />'
    + task("Komplettera")
    + throw("TillBeslut1", "beslut")
    + throw("TillBeslut2", "beslut")
    + catch("FranBeslut", "beslut")
    + task("Besluta", group="namnd")
    + '<bpmn:endEvent id="E" />'
    + flow("F1", "S", "Registrera")
    + flow("F2", "Registrera", "Gw")
    + '<bpmn:sequenceFlow id="Komplett" sourceRef="Gw" targetRef="TillBeslut1">'
    '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${komplett}</bpmn:conditionExpression>'
    "</bpmn:sequenceFlow>"
    + flow("Ofullstandig", "Gw", "Komplettera")
    + flow("F3", "Komplettera", "TillBeslut2")
    + flow("F4", "FranBeslut", "Besluta")
    + flow("F5", "Besluta", "E"),
    pid="lankar",
)


@pytest.mark.parametrize("komplett", [True, False])
def test_a_link_throw_event_goes_on_at_its_catch_event(d, komplett):
    d.deploy(LINKS, "lankar.bpmn", "anna")
    info = d.start_case("lankar", business_key=f"L-{komplett}")
    [t] = open_tasks(d, info.id)
    d.complete_task(t.id, "system", {"komplett": komplett}, roles={"handlaggare"})
    assert_reload_stable(d, info.id)
    if not komplett:
        [t] = open_tasks(d, info.id)
        assert t.element_id == "Komplettera"
        d.complete_task(t.id, "system", {}, roles={"handlaggare"})
        assert_reload_stable(d, info.id)
    [t] = open_tasks(d, info.id)
    assert t.element_id == "Besluta"
    info = d.complete_task(t.id, "system", {}, roles={"namnd"})
    assert info.status == "completed"
    with d.session() as s:
        kinds = [e.kind for e in s.query(AuditEvent).filter(AuditEvent.case_id == info.id)]
    assert kinds.count("task_completed") == (2 if komplett else 3)


def test_the_stored_diagram_keeps_its_link_events(d):
    """The rewrite is of the parsed copy only: Camunda Modeler gets back the diagram as drawn."""
    d.deploy(LINKS, "lankar.bpmn", "anna")
    with d.session() as s:
        row = s.execute(sa.select(ProcessDefinition).where(ProcessDefinition.key == "lankar")).scalar_one()
        assert row.resource.content == LINKS


def test_link_events_inside_an_embedded_subprocess_stay_in_it(d):
    inner = (
        '<bpmn:startEvent id="SubStart" />'
        + task("Inre")
        + throw("SubTill", "vidare")
        + catch("SubFran", "vidare")
        + '<bpmn:endEvent id="SubEnd" />'
        + flow("G1", "SubStart", "Inre")
        + flow("G2", "Inre", "SubTill")
        + flow("G3", "SubFran", "SubEnd")
    )
    xml = diagram(
        '<bpmn:startEvent id="S" />'
        f'<bpmn:subProcess id="Sub">{inner}</bpmn:subProcess>'
        + task("Efter")
        + '<bpmn:endEvent id="E" />'
        + flow("F1", "S", "Sub")
        + flow("F2", "Sub", "Efter")
        + flow("F3", "Efter", "E"),
        pid="inre_lankar",
    )
    d.deploy(xml, "inre.bpmn", "anna")
    info = d.start_case("inre_lankar")
    [t] = open_tasks(d, info.id)
    assert t.element_id == "Inre"
    d.complete_task(t.id, "system", {}, roles={"handlaggare"})
    assert [t.element_id for t in open_tasks(d, info.id)] == ["Efter"]
    assert_reload_stable(d, info.id)


LINK_REFUSALS = {
    "catch event named twice in one scope": (
        throw("T", "a") + catch("C1", "a") + catch("C2", "a") + flow("F1", "S", "T") + flow("F2", "C1", "E")
        + flow("F3", "C2", "E"),
        "C2", "two link catch events named 'a'",
    ),
    "throw event without a name": (
        throw("T", "") + catch("C", "a") + flow("F1", "S", "T") + flow("F2", "C", "E"),
        "T", "link throw event without a link name",
    ),
    "throw event with an outgoing flow": (
        throw("T", "a") + catch("C", "a") + flow("F1", "S", "T") + flow("F2", "T", "E") + flow("F3", "C", "E"),
        "T", "no outgoing sequence flow",
    ),
    "catch event with an incoming flow": (
        throw("T", "a") + catch("C", "a") + flow("F1", "S", "T") + flow("F2", "S", "C") + flow("F3", "C", "E"),
        "C", "no incoming sequence flow",
    ),
    "catch event only in another scope": (
        throw("T", "a")
        + '<bpmn:subProcess id="Sub"><bpmn:startEvent id="SS" />'
        + catch("C", "a")
        + '<bpmn:endEvent id="SE" />'
        + flow("G1", "SS", "SE")
        + flow("G2", "C", "SE")
        + "</bpmn:subProcess>"
        + flow("F1", "S", "T")
        + flow("F2", "Sub", "E"),
        "T", "no link catch event named 'a' in the same scope",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(LINK_REFUSALS))
def test_link_events_camunda_would_refuse_are_refused_naming_the_element(name):
    body, element, reason = LINK_REFUSALS[name]
    xml = diagram('<bpmn:startEvent id="S" /><bpmn:endEvent id="E" />' + body, pid="fel")
    problems = compile_bpmn(xml, "fel.bpmn").problems
    assert any(p.where == element and reason in p.message for p in problems), problems
