"""Session 10 probe: event subprocesses and link events drawn the way process owners draw them in Camunda
Modeler (Camunda 7 platform), combined with everything else a diagram has — deployed through the engine's
deploy path and driven by its public functions, each step saved and reloaded. What Delaktig cannot run as
Camunda does is refused at deploy naming the element; what it runs runs to the right end, and nobody (the
audit, the history, the case page's diagram marks) ever sees an id the rewrite made up."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from engine import camunda_queries, clock, inbox
from engine.bpmn.compile import compile_bpmn
from engine.errors import ValidationFailed
from engine.models import AuditEvent, ExternalTask, MessageSubscription, ProcessDefinition, UserTask
from tests.engine.helpers import assert_reload_stable, open_tasks
from tests.engine.test_event_subprocesses import (
    T0,
    WITHDRAWN,
    audit,
    complete,
    event_subprocess,
    main_flow,
    message_start,
    next_timer,
    open_ids,
    subscriptions,
    task_states,
    timed,
    timer_start,
    withdrawal,
)
from tests.engine.test_link_events import catch, throw
from tests.engine.test_modeler_constructs import diagram, flow, task

# Ids engine.bpmn.event_subprocesses and engine.bpmn.links make up: never shown to anyone.
MADE_UP = re.compile(r"__(main|scope|link)")
TERMINATE = '<bpmn:endEvent id="{}"><bpmn:terminateEventDefinition /></bpmn:endEvent>'


def seen_ids(d, case_id: str) -> set[str]:
    """Every element id the case's audit, its history (/history/activity-instance), its task and
    subscription rows and its page's diagram marks name."""
    with d.session() as s:
        ids = set(s.scalars(sa.select(AuditEvent.element_id).where(AuditEvent.chain == case_id)))
        ids |= set(s.scalars(sa.select(UserTask.element_id).where(UserTask.case_id == case_id)))
        ids |= set(s.scalars(sa.select(ExternalTask.element_id).where(ExternalTask.case_id == case_id)))
        ids |= set(
            s.scalars(sa.select(MessageSubscription.element_id).where(MessageSubscription.case_id == case_id))
        )
        history = camunda_queries.activity_instances(
            s, camunda_queries.ActivityFilter(process_instance_id=case_id)
        )
        ids |= {a["activity_id"] for a in history}
        view = inbox.get_case(s, case_id)
        ids |= set(view.completed_elements) | set(view.active_elements)
    ids.discard(None)
    return ids


def assert_as_drawn(d, case_id: str, drawn: bytes) -> None:
    """What the case shows names only elements of the diagram as drawn."""
    seen = seen_ids(d, case_id)
    assert not {i for i in seen if MADE_UP.search(i)}, seen
    assert all(f'id="{i}"'.encode() in drawn for i in seen), seen


def history(d, case_id: str) -> list[tuple[str, str]]:
    with d.session() as s:
        rows = camunda_queries.activity_instances(
            s, camunda_queries.ActivityFilter(process_instance_id=case_id)
        )
        return [(a["activity_id"], a["activity_type"]) for a in rows]


def refused(d, xml: bytes) -> list:
    with pytest.raises(ValidationFailed) as err:
        d.deploy(xml, "nej.bpmn", "anna")
    with d.session() as s:
        assert s.query(ProcessDefinition).count() == 0  # nothing stored
    return err.value.problems


# --- terminate end events ---------------------------------------------------------------------------------
def with_terminate(interrupting: bool) -> bytes:
    body = (
        '<bpmn:startEvent id="S" />' + task("Handlagga") + TERMINATE.format("Avbryt")
        + flow("F1", "S", "Handlagga") + flow("F2", "Handlagga", "Avbryt") + withdrawal(interrupting)
    )  # fmt: skip
    return diagram(body, "initiativ", WITHDRAWN)


def test_a_terminate_end_event_beside_a_non_interrupting_event_subprocess_is_refused(d):
    """In Camunda a terminate end event of the process's flow ends the steps a non-interrupting event
    subprocess started too. The rewrite put it inside the synthetic ``__main``, where it ended only that:
    the case stayed open with ``Avsluta`` after the flow had terminated."""
    problems = refused(d, with_terminate(False))
    assert [p.where for p in problems] == ["Avbryt"]
    assert "non-interrupting event subprocess" in problems[0].message


def test_a_terminate_end_event_in_an_embedded_subprocess_beside_one_is_refused_too(d):
    inner = (
        '<bpmn:startEvent id="IS" />' + task("Inre") + TERMINATE.format("InreSlut")
        + flow("I1", "IS", "Inre") + flow("I2", "Inre", "InreSlut")
        + event_subprocess("Paminnelse", message_start("PS", "Msg_Tillbaka", interrupting=False),
                           task("Svara") + '<bpmn:endEvent id="SvE" />' + flow("P1", "PS", "Svara") + flow("P2", "Svara", "SvE"))
    )  # fmt: skip
    body = (
        '<bpmn:startEvent id="S" /><bpmn:subProcess id="Sub">' + inner + '</bpmn:subProcess><bpmn:endEvent id="E" />'
        + flow("F1", "S", "Sub") + flow("F2", "Sub", "E")
    )  # fmt: skip
    assert [p.where for p in refused(d, diagram(body, "inre", WITHDRAWN))] == ["InreSlut"]


def test_a_terminate_end_event_beside_interrupting_event_subprocesses_only_ends_the_case(d):
    xml = with_terminate(True)
    d.deploy(xml, "initiativ.bpmn", "anna")
    info = d.start_case("initiativ", business_key="T-1")
    assert complete(d, info.id, "Handlagga").status == "completed"
    assert subscriptions(d, info.id) == []
    assert audit(d, info.id, "case_completed") == [("Avbryt", "terminateEndEvent")]
    assert_as_drawn(d, info.id, xml)


def test_a_terminate_end_event_in_an_interrupting_event_subprocess_ends_the_reminders_too(d):
    clock.set(T0)
    stop = event_subprocess(
        "Tillbaka", message_start("Tb", "Msg_Tillbaka"),
        task("Avsluta") + TERMINATE.format("Slut") + flow("T1", "Tb", "Avsluta") + flow("T2", "Avsluta", "Slut"),
    )  # fmt: skip
    weekly = timed("Veckovis", timer_start("Vecka", "timeCycle", "R/P7D", interrupting=False), "Paminn")
    xml = diagram(main_flow() + stop + weekly, "initiativ", WITHDRAWN)
    d.deploy(xml, "initiativ.bpmn", "anna")
    info = d.start_case("initiativ", business_key="T-2")
    clock.set(T0 + timedelta(days=7, minutes=1))
    assert d.wake_due_cases() == 1
    d.deliver_message("initiativ_tillbakadraget", {}, business_key="T-2")
    assert open_ids(d, info.id) == ["Avsluta"]
    assert task_states(d, info.id)["Paminn"] == ["cancelled"]
    assert_reload_stable(d, info.id)
    assert complete(d, info.id, "Avsluta").status == "completed"
    assert audit(d, info.id, "case_completed") == [("Slut", "terminateEndEvent")]
    assert_as_drawn(d, info.id, xml)


# --- one message, two waiting elements --------------------------------------------------------------------
WAIT_FOR_IT = (
    '<bpmn:startEvent id="S" /><bpmn:intermediateCatchEvent id="Vanta"><bpmn:messageEventDefinition '
    'messageRef="Msg_Tillbaka" /></bpmn:intermediateCatchEvent>' + task("Beslut") + '<bpmn:endEvent id="E" />'
    + flow("F1", "S", "Vanta") + flow("F2", "Vanta", "Beslut") + flow("F3", "Beslut", "E")
)  # fmt: skip
ON_A_TASK = (
    main_flow()
    + '<bpmn:boundaryEvent id="Ater" attachedToRef="Handlagga"><bpmn:messageEventDefinition '
    'messageRef="Msg_Tillbaka" /></bpmn:boundaryEvent><bpmn:endEvent id="AterE" />' + flow("B1", "Ater", "AterE")
)  # fmt: skip
SHARED = {
    "intermediate catch event": (WAIT_FOR_IT + withdrawal(False), "Vanta"),
    "interrupting, intermediate catch event": (WAIT_FOR_IT + withdrawal(True), "Vanta"),
    "boundary event on a task": (ON_A_TASK + withdrawal(False), "Ater"),
    "receive task": (
        WAIT_FOR_IT.replace(
            '<bpmn:intermediateCatchEvent id="Vanta"><bpmn:messageEventDefinition messageRef="Msg_Tillbaka" />'
            "</bpmn:intermediateCatchEvent>",
            '<bpmn:receiveTask id="Vanta" messageRef="Msg_Tillbaka" />',
        )
        + withdrawal(False),
        "Vanta",
    ),
}


def phase(pid: str, esp_message: str = "Msg_Tillbaka") -> str:
    """An embedded subprocess ``pid`` with one task and a withdrawal event subprocess of its own."""
    return (
        f'<bpmn:subProcess id="{pid}"><bpmn:startEvent id="{pid}S" />' + task(f"{pid}T") + f'<bpmn:endEvent id="{pid}E" />'
        + flow(f"{pid}1", f"{pid}S", f"{pid}T") + flow(f"{pid}2", f"{pid}T", f"{pid}E")
        + event_subprocess(f"{pid}Av", message_start(f"{pid}Tb", esp_message),
                           task(f"{pid}Stada") + f'<bpmn:endEvent id="{pid}AvE" />'
                           + flow(f"{pid}A1", f"{pid}Tb", f"{pid}Stada") + flow(f"{pid}A2", f"{pid}Stada", f"{pid}AvE"))
        + "</bpmn:subProcess>"
    )  # fmt: skip


NESTED = {
    "boundary event on the subprocess": (
        '<bpmn:startEvent id="S" />' + phase("Utr") + '<bpmn:endEvent id="E" />'
        + '<bpmn:boundaryEvent id="Ater" attachedToRef="Utr"><bpmn:messageEventDefinition messageRef="Msg_Tillbaka" />'
        '</bpmn:boundaryEvent><bpmn:endEvent id="AterE" />' + flow("F1", "S", "Utr") + flow("F2", "Utr", "E")
        + flow("F3", "Ater", "AterE"),
        "UtrTb", "Ater",
    ),
    "event subprocess of the process": (
        '<bpmn:startEvent id="S" />' + phase("Utr") + '<bpmn:endEvent id="E" />' + flow("F1", "S", "Utr")
        + flow("F2", "Utr", "E") + withdrawal(False),
        "UtrTb", "Tillbakadraget",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(NESTED))
def test_a_message_an_enclosing_scope_waits_for_too_is_refused(d, name):
    body, esp_start, other = NESTED[name]
    problems = refused(d, diagram(body, "fas", WITHDRAWN))
    assert any(p.where == esp_start and other in p.message for p in problems), problems


def called_with_withdrawal(around_call: str) -> bytes:
    """A process calling ``utredning`` (whose own event subprocess listens for the withdrawal) with
    ``around_call`` beside the call activity."""
    called = (
        '<bpmn:process id="utredning" isExecutable="true"><bpmn:startEvent id="US" />' + task("Utreda")
        + '<bpmn:endEvent id="UE" />' + flow("U1", "US", "Utreda") + flow("U2", "Utreda", "UE")
        + event_subprocess("Avbryt", message_start("Avbrutet", "Msg_Tillbaka"),
                           '<bpmn:endEvent id="AvE" />' + flow("A1", "Avbrutet", "AvE"))
        + "</bpmn:process>"
    )  # fmt: skip
    body = (
        '<bpmn:startEvent id="S" /><bpmn:callActivity id="Utred" calledElement="utredning" /><bpmn:endEvent id="E" />'
        + flow("F1", "S", "Utred") + flow("F2", "Utred", "E") + around_call
    )  # fmt: skip
    return diagram(body, "huvud", WITHDRAWN + called)


@pytest.mark.parametrize(
    "around_call, other",
    [
        (withdrawal(False), "Tillbakadraget"),
        (
            '<bpmn:boundaryEvent id="Ater" attachedToRef="Utred"><bpmn:messageEventDefinition messageRef="Msg_Tillbaka" />'
            '</bpmn:boundaryEvent><bpmn:endEvent id="AterE" />' + flow("B1", "Ater", "AterE"),
            "Ater",
        ),
    ],
    ids=["the caller's event subprocess", "a boundary event on the call activity"],
)
def test_a_called_process_s_event_subprocess_and_its_caller_waiting_for_one_message_are_refused(
    d, around_call, other
):
    """The called process runs inside the caller's case: one message reached both."""
    problems = refused(d, called_with_withdrawal(around_call))
    assert any(p.where == "Avbrutet" and other in p.message for p in problems), problems


def test_two_phases_may_each_have_a_withdrawal_event_subprocess_for_one_message(d):
    """They never listen at the same time: only the running phase's event subprocess takes the message."""
    body = (
        '<bpmn:startEvent id="S" />' + phase("Utreda") + phase("Besluta") + '<bpmn:endEvent id="E" />'
        + flow("F1", "S", "Utreda") + flow("F2", "Utreda", "Besluta") + flow("F3", "Besluta", "E")
    )  # fmt: skip
    xml = diagram(body, "faser", WITHDRAWN)
    d.deploy(xml, "faser.bpmn", "anna")
    info = d.start_case("faser", business_key="FAS-1")
    assert subscriptions(d, info.id) == [("initiativ_tillbakadraget", "UtredaTb")]
    complete(d, info.id, "UtredaT")
    assert subscriptions(d, info.id) == [("initiativ_tillbakadraget", "BeslutaTb")]
    d.deliver_message("initiativ_tillbakadraget", {}, business_key="FAS-1")
    assert open_ids(d, info.id) == ["BeslutaStada"]
    assert_reload_stable(d, info.id)
    assert complete(d, info.id, "BeslutaStada").status == "completed"
    assert audit(d, info.id, "message_received") == [("BeslutaTb", "messageStartEvent")]
    assert_as_drawn(d, info.id, xml)


def test_the_steps_of_an_interrupting_event_subprocess_may_wait_for_its_message_again(d):
    """Once an interrupting event subprocess has started, its scope listens no more: a second message of
    the same name reaches only the receive task in its steps (as in Camunda)."""
    esp = event_subprocess(
        "Tillbaka", message_start("Tillbakadraget", "Msg_Tillbaka"),
        '<bpmn:receiveTask id="Bekraftat" messageRef="Msg_Tillbaka" />' + task("Avsluta") + '<bpmn:endEvent id="Slut" />'
        + flow("T1", "Tillbakadraget", "Bekraftat") + flow("T2", "Bekraftat", "Avsluta") + flow("T3", "Avsluta", "Slut"),
    )  # fmt: skip
    xml = diagram(main_flow() + esp, "initiativ", WITHDRAWN)
    d.deploy(xml, "initiativ.bpmn", "anna")
    info = d.start_case("initiativ", business_key="B-1")
    d.deliver_message("initiativ_tillbakadraget", {"forsta": 1}, business_key="B-1")
    assert (
        subscriptions(d, info.id) == [("initiativ_tillbakadraget", "Bekraftat")]
        and open_ids(d, info.id) == []
    )
    d.deliver_message("initiativ_tillbakadraget", {"andra": 2}, business_key="B-1")
    assert open_ids(d, info.id) == ["Avsluta"] and subscriptions(d, info.id) == []
    assert_reload_stable(d, info.id)
    assert complete(d, info.id, "Avsluta").status == "completed"
    assert [e for e, _ in audit(d, info.id, "message_received")] == ["Tillbakadraget", "Bekraftat"]
    assert_as_drawn(d, info.id, xml)


@pytest.mark.parametrize("name", sorted(SHARED))
def test_a_message_an_event_subprocess_and_the_flow_both_wait_for_is_refused(d, name):
    """One delivery reached both: with a non-interrupting event subprocess ``Beslut`` and ``Avsluta`` both
    opened, with one audit row naming only the event subprocess. Camunda 7 refuses to correlate such a
    message to one execution ("2 executions match")."""
    body, other = SHARED[name]
    problems = refused(d, diagram(body, "initiativ", WITHDRAWN))
    assert [p.where for p in problems] == ["Tillbakadraget"]
    assert "'initiativ_tillbakadraget'" in problems[0].message and other in problems[0].message


def test_the_process_s_own_message_start_may_share_the_message_of_an_event_subprocess(d):
    """A message start event starts a new case only when no case waits (as Camunda correlates): allowed."""
    body = (
        '<bpmn:startEvent id="S"><bpmn:messageEventDefinition messageRef="Msg_Tillbaka" /></bpmn:startEvent>'
        + task("Handlagga") + '<bpmn:endEvent id="E" />' + flow("F1", "S", "Handlagga") + flow("F2", "Handlagga", "E")
        + withdrawal(False)
    )  # fmt: skip
    d.deploy(diagram(body, "initiativ", WITHDRAWN), "initiativ.bpmn", "anna")
    [first] = d.deliver_message("initiativ_tillbakadraget", {}, business_key="M-1")
    [again] = d.deliver_message("initiativ_tillbakadraget", {}, business_key="M-1")
    assert again.id == first.id and open_ids(d, first.id) == ["Avsluta", "Handlagga"]


# --- extensions on the event subprocess element -----------------------------------------------------------
@pytest.mark.parametrize(
    "extension",
    [
        '<camunda:executionListener class="se.kommun.Logga" event="start" />',
        '<camunda:inputOutput><camunda:inputParameter name="lokal">1</camunda:inputParameter></camunda:inputOutput>',
    ],
)
def test_camunda_extensions_on_the_event_subprocess_itself_are_refused_not_dropped(d, extension):
    """The rewrite removes the event subprocess element before the compiler's checks: its listener or
    mapping was silently dropped (Camunda runs them)."""
    esp = withdrawal().replace(
        'triggeredByEvent="true">',
        f'triggeredByEvent="true"><bpmn:extensionElements>{extension}</bpmn:extensionElements>',
    )
    problems = refused(d, diagram(main_flow() + esp, "initiativ", WITHDRAWN))
    assert [p.where for p in problems] == ["Tillbaka"]
    assert (
        "not supported" in problems[0].message or "not allowed on an event subprocess" in problems[0].message
    )


# --- link events with event subprocesses ------------------------------------------------------------------
def linked(eid: str, message: str, name: str) -> str:
    """A non-interrupting event subprocess whose start goes on through the link ``name``."""
    return event_subprocess(
        eid, message_start(f"{eid}S", message, interrupting=False),
        throw(f"{eid}Th", name) + catch(f"{eid}Ca", name) + task(f"{eid}T") + f'<bpmn:endEvent id="{eid}E" />'
        + flow(f"{eid}1", f"{eid}S", f"{eid}Th") + flow(f"{eid}2", f"{eid}Ca", f"{eid}T") + flow(f"{eid}3", f"{eid}T", f"{eid}E"),
    )  # fmt: skip


TWO_MESSAGES = WITHDRAWN + '<bpmn:message id="Msg_B" name="komplettering" />'


def test_two_event_subprocesses_may_use_one_link_name(d):
    """Each event subprocess is its own scope in Camunda; the rewrite moved both into the process and
    then refused "two link catch events named 'vidare' in one scope"."""
    xml = diagram(
        main_flow() + linked("A", "Msg_Tillbaka", "vidare") + linked("B", "Msg_B", "vidare"),
        "p",
        TWO_MESSAGES,
    )
    d.deploy(xml, "p.bpmn", "anna")
    info = d.start_case("p", business_key="L-1")
    d.deliver_message("komplettering", {}, business_key="L-1")
    assert open_ids(d, info.id) == ["BT", "Handlagga"]
    d.deliver_message("initiativ_tillbakadraget", {}, business_key="L-1")
    assert open_ids(d, info.id) == ["AT", "BT", "Handlagga"]
    assert_reload_stable(d, info.id)
    for element in ("AT", "BT", "Handlagga"):
        complete(d, info.id, element)
    assert complete(d, info.id, "Beslut").status == "completed"
    assert_as_drawn(d, info.id, xml)


def test_a_link_from_one_event_subprocess_to_another_is_refused(d):
    """Camunda pairs links within a scope; after the rewrite both event subprocesses' steps were in one
    scope and this link went across."""
    a = event_subprocess(
        "A", message_start("AS", "Msg_Tillbaka", False), throw("ATh", "korsa") + flow("a1", "AS", "ATh")
    )
    b = event_subprocess(
        "B", message_start("BS", "Msg_B", False),
        catch("BCa", "korsa") + task("BT") + '<bpmn:endEvent id="BE" />' + '<bpmn:endEvent id="BE2" />'
        + flow("b1", "BS", "BE2") + flow("b2", "BCa", "BT") + flow("b3", "BT", "BE"),
    )  # fmt: skip
    problems = refused(d, diagram(main_flow() + a + b, "p", TWO_MESSAGES))
    assert [(p.where, p.message) for p in problems] == [
        ("ATh", "no link catch event named 'korsa' in the same scope")
    ]


def test_a_link_event_named_only_on_the_event_is_refused_saying_where_the_name_goes(d):
    """Camunda pairs links by the link event definition's name (Modeler's "Link name"), never by the
    event's name, and fails to deploy without one; the refusal says which name is missing."""
    body = (
        '<bpmn:startEvent id="S" />' + task("A")
        + '<bpmn:intermediateThrowEvent id="Th" name="Till beslut"><bpmn:linkEventDefinition id="L1" /></bpmn:intermediateThrowEvent>'
        + '<bpmn:intermediateCatchEvent id="Ca" name="Till beslut"><bpmn:linkEventDefinition id="L2" /></bpmn:intermediateCatchEvent>'
        + task("B") + '<bpmn:endEvent id="E" />'
        + flow("F1", "S", "A") + flow("F2", "A", "Th") + flow("F3", "Ca", "B") + flow("F4", "B", "E")
    )  # fmt: skip
    problems = refused(d, diagram(body, "p"))
    assert sorted(p.where for p in problems) == ["Ca", "Th"]
    for p in problems:
        assert "set the name of its link event definition" in p.message and "'Till beslut'" in p.message


def test_a_link_loop_with_swedish_names_runs_round_and_out(d):
    """Two throw events (one behind a gateway, one after a second task) lead back to one catch event."""
    body = (
        '<bpmn:startEvent id="S" /><bpmn:exclusiveGateway id="Mot" />' + task("Granska")
        + '<bpmn:exclusiveGateway id="Gw" default="Klar" />' + task("Komplettera")
        + throw("Igen", "Åter till början, ä ö") + throw("Igen2", "Åter till början, ä ö")
        + catch("Ater", "Åter till början, ä ö") + '<bpmn:endEvent id="E" />'
        + flow("F1", "S", "Mot") + flow("F2", "Mot", "Granska") + flow("F3", "Granska", "Gw") + flow("Klar", "Gw", "E")
        + '<bpmn:sequenceFlow id="Ig" sourceRef="Gw" targetRef="Igen"><bpmn:conditionExpression '
        'xsi:type="bpmn:tFormalExpression">${igen == "genast"}</bpmn:conditionExpression></bpmn:sequenceFlow>'
        + '<bpmn:sequenceFlow id="Kp" sourceRef="Gw" targetRef="Komplettera"><bpmn:conditionExpression '
        'xsi:type="bpmn:tFormalExpression">${igen == "komplettera"}</bpmn:conditionExpression></bpmn:sequenceFlow>'
        + flow("F4", "Komplettera", "Igen2") + flow("F5", "Ater", "Mot")
    )  # fmt: skip
    xml = diagram(body, "slinga")
    d.deploy(xml, "slinga.bpmn", "anna")
    info = d.start_case("slinga")
    complete(d, info.id, "Granska", {"igen": "genast"})
    assert open_ids(d, info.id) == ["Granska"]
    complete(d, info.id, "Granska", {"igen": "komplettera"})
    assert open_ids(d, info.id) == ["Komplettera"]
    complete(d, info.id, "Komplettera")
    assert open_ids(d, info.id) == ["Granska"]
    assert_reload_stable(d, info.id)
    assert complete(d, info.id, "Granska", {"igen": "nej"}).status == "completed"
    assert [a for a, _ in history(d, info.id)] == ["S"] + ["Granska", "Granska", "Komplettera", "Granska"] + [
        "E"
    ]
    assert_as_drawn(d, info.id, xml)


# --- event subprocesses with the rest of a diagram ----------------------------------------------------------
def test_a_timer_event_subprocess_beside_parallel_branches_a_multi_instance_task_and_an_event_gateway(d):
    """``timeDuration ${dagar}`` is read when the case starts; the gateway's own timer comes first; the
    case ends at the gateway's end, and its event subprocess's timer goes with it."""
    body = (
        '<bpmn:startEvent id="S" /><bpmn:parallelGateway id="Dela" /><bpmn:parallelGateway id="Mots" />'
        + task("Registrera")
        + task("Yttra", inner='<bpmn:multiInstanceLoopCharacteristics camunda:collection="${namnder}" '
               'camunda:elementVariable="namnd" />')
        + '<bpmn:eventBasedGateway id="Gw" />'
        '<bpmn:intermediateCatchEvent id="Svar"><bpmn:messageEventDefinition messageRef="M" /></bpmn:intermediateCatchEvent>'
        '<bpmn:intermediateCatchEvent id="Frist"><bpmn:timerEventDefinition><bpmn:timeDuration '
        'xsi:type="bpmn:tFormalExpression">P5D</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>'
        '<bpmn:endEvent id="Besvarat" /><bpmn:endEvent id="Obesvarat" />'
        + flow("F1", "S", "Dela") + flow("F2", "Dela", "Registrera") + flow("F3", "Dela", "Yttra")
        + flow("F4", "Registrera", "Mots") + flow("F5", "Yttra", "Mots") + flow("F6", "Mots", "Gw")
        + flow("F7", "Gw", "Svar") + flow("F8", "Gw", "Frist") + flow("F9", "Svar", "Besvarat")
        + flow("F10", "Frist", "Obesvarat")
        + timed("Langsamt", timer_start("TioDagar", "timeDuration", "${dagar}"), "Eskalera")
    )  # fmt: skip
    xml = diagram(body, "remiss", '<bpmn:message id="M" name="svar_inkommit" />')
    d.deploy(xml, "remiss.bpmn", "anna")
    clock.set(T0)
    info = d.start_case(
        "remiss", business_key="R-1", variables={"namnder": ["bygg", "miljo"], "dagar": "P10D"}
    )
    assert open_ids(d, info.id) == ["Registrera", "Yttra", "Yttra"]
    assert next_timer(d, info.id) == T0 + timedelta(days=10)
    assert_reload_stable(d, info.id)
    for t in open_tasks(d, info.id):
        d.complete_task(t.id, "system", {}, roles={"handlaggare"})
    assert subscriptions(d, info.id) == [("svar_inkommit", "Gw")]
    assert next_timer(d, info.id) == T0 + timedelta(days=5)  # the gateway's timer is due first
    clock.set(T0 + timedelta(days=5, minutes=1))
    assert d.wake_due_cases() == 1
    assert audit(d, info.id, "timer_fired") == [("Frist", "intermediateTimer")]
    assert audit(d, info.id, "case_completed") == [("Obesvarat", "noneEndEvent")]
    assert next_timer(d, info.id) is None
    clock.set(T0 + timedelta(days=11))
    assert d.wake_due_cases() == 0
    assert_as_drawn(d, info.id, xml)


def test_an_interrupting_message_ends_every_instance_of_a_multi_instance_task(d):
    for sequential in ("false", "true"):
        loop = (
            f'<bpmn:multiInstanceLoopCharacteristics isSequential="{sequential}" camunda:collection="${{lista}}" '
            'camunda:elementVariable="x" />'
        )
        body = (
            '<bpmn:startEvent id="S" />' + task("Yttra", inner=loop) + task("Beslut") + '<bpmn:endEvent id="E" />'
            + flow("F1", "S", "Yttra") + flow("F2", "Yttra", "Beslut") + flow("F3", "Beslut", "E") + withdrawal()
        )  # fmt: skip
        xml = diagram(body, "initiativ", WITHDRAWN)
        d.deploy(xml, "initiativ.bpmn", "anna")
        key = f"MI-{sequential}"
        info = d.start_case("initiativ", business_key=key, variables={"lista": ["a", "b", "c"]})
        d.complete_task(open_tasks(d, info.id)[0].id, "system", {}, roles={"handlaggare"})
        d.deliver_message("initiativ_tillbakadraget", {}, business_key=key)
        assert open_ids(d, info.id) == ["Avsluta"]
        assert sorted(task_states(d, info.id)["Yttra"]) == ["cancelled"] * (
            2 if sequential == "false" else 1
        ) + ["completed"]
        assert_reload_stable(d, info.id)
        with d.session() as s:
            marks = inbox.get_case(s, info.id)
            assert (marks.completed_elements, marks.active_elements) == (
                ["Tillbakadraget", "Yttra"],
                ["Avsluta"],
            )
        assert complete(d, info.id, "Avsluta").status == "completed"
        assert_as_drawn(d, info.id, xml)


def test_a_message_correlated_by_variable_values_reaches_one_case_and_cancels_its_external_task(d):
    body = (
        '<bpmn:startEvent id="S" /><bpmn:serviceTask id="Arkivera" name="Arkivera" camunda:type="external" '
        'camunda:topic="arkiv" />' + task("Beslut") + '<bpmn:endEvent id="E" />'
        + flow("F1", "S", "Arkivera") + flow("F2", "Arkivera", "Beslut") + flow("F3", "Beslut", "E") + withdrawal()
    )  # fmt: skip
    xml = diagram(body, "initiativ", WITHDRAWN)
    d.deploy(xml, "initiativ.bpmn", "anna")
    other = d.start_case("initiativ", business_key="V-1", variables={"diarienr": "KS 2026/1"})
    mine = d.start_case("initiativ", business_key="V-2", variables={"diarienr": "KS 2026/2"})
    [done] = d.deliver_message(
        "initiativ_tillbakadraget", {"orsak": "x"}, correlation={"diarienr": "KS 2026/2"}
    )
    assert done.id == mine.id and open_ids(d, mine.id) == ["Avsluta"]
    with d.session() as s:
        states = dict(s.execute(sa.select(ExternalTask.case_id, ExternalTask.state)).all())
    assert states == {other.id: "open", mine.id: "cancelled"}
    assert subscriptions(d, other.id) == [("initiativ_tillbakadraget", "Tillbakadraget")]
    assert_reload_stable(d, mine.id)
    assert_as_drawn(d, mine.id, xml)


def test_the_called_process_s_own_event_subprocess_interrupts_only_the_call(d):
    called = (
        '<bpmn:process id="utredning" isExecutable="true"><bpmn:startEvent id="US" />' + task("Utreda")
        + '<bpmn:endEvent id="UE" />' + flow("U1", "US", "Utreda") + flow("U2", "Utreda", "UE")
        + event_subprocess("Avbryt", message_start("Avbrutet", "Msg_Tillbaka"),
                           task("Stada") + '<bpmn:endEvent id="AvE" />' + flow("A1", "Avbrutet", "Stada") + flow("A2", "Stada", "AvE"))
        + "</bpmn:process>"
    )  # fmt: skip
    body = (
        '<bpmn:startEvent id="S" /><bpmn:callActivity id="Utred" name="Utred" calledElement="utredning" />'
        + task("Efter") + '<bpmn:endEvent id="E" />' + flow("F1", "S", "Utred") + flow("F2", "Utred", "Efter")
        + flow("F3", "Efter", "E")
    )  # fmt: skip
    xml = diagram(body, "huvud", WITHDRAWN + called)
    d.deploy(xml, "huvud.bpmn", "anna")
    info = d.start_case("huvud", business_key="CA-1")
    assert subscriptions(d, info.id) == [("initiativ_tillbakadraget", "Avbrutet")]
    d.deliver_message("initiativ_tillbakadraget", {"v": 1}, business_key="CA-1")
    assert open_ids(d, info.id) == ["Stada"] and task_states(d, info.id)["Utreda"] == ["cancelled"]
    assert_reload_stable(d, info.id)
    complete(d, info.id, "Stada")
    assert open_ids(d, info.id) == ["Efter"]  # the call ended; the caller goes on
    assert complete(d, info.id, "Efter").status == "completed"
    assert ("Avbrutet", "messageStartEvent") in history(d, info.id)
    assert_as_drawn(d, info.id, xml)


def test_initiator_start_form_async_flags_and_an_event_subprocess(d):
    body = (
        '<bpmn:startEvent id="S" camunda:initiator="sokande" camunda:asyncAfter="true"><bpmn:extensionElements>'
        '<camunda:formData><camunda:formField id="namn" label="Namn" type="string" /></camunda:formData>'
        "</bpmn:extensionElements></bpmn:startEvent>"
        + task("Handlagga", attrs='camunda:asyncBefore="true" camunda:assignee="${sokande}"')
        + '<bpmn:endEvent id="E" />' + flow("F1", "S", "Handlagga") + flow("F2", "Handlagga", "E")
        + '<bpmn:subProcess id="Tillbaka" triggeredByEvent="true" camunda:asyncBefore="true">'
        '<bpmn:startEvent id="Tb" camunda:asyncBefore="true"><bpmn:messageEventDefinition messageRef="Msg_Tillbaka" />'
        "</bpmn:startEvent>" + task("Avsluta", attrs='camunda:assignee="${sokande}"') + '<bpmn:endEvent id="TbE" />'
        + flow("T1", "Tb", "Avsluta") + flow("T2", "Avsluta", "TbE") + "</bpmn:subProcess>"
    )  # fmt: skip
    xml = diagram(body, "initiativ", WITHDRAWN)
    d.add_user("hanna", "hemligt123", ["handlaggare"])
    d.deploy(xml, "initiativ.bpmn", "anna")
    info = d.start_case("initiativ", "IN-1", {"namn": "Hanna"}, actor="hanna", start_form=True)
    assert info.variables["sokande"] == "hanna"
    assert [(t.element_id, t.assignee) for t in open_tasks(d, info.id)] == [("Handlagga", "hanna")]
    d.deliver_message("initiativ_tillbakadraget", {}, business_key="IN-1")
    assert [(t.element_id, t.assignee) for t in open_tasks(d, info.id)] == [("Avsluta", "hanna")]
    assert audit(d, info.id, "case_started") == [("S", "startEvent")]
    assert_reload_stable(d, info.id)
    assert_as_drawn(d, info.id, xml)


def test_a_daily_reminder_a_boundary_timer_and_a_deadline_date_fire_in_due_order(d):
    clock.set(T0)
    body = (
        '<bpmn:startEvent id="S" />' + task("Handlagga")
        + '<bpmn:boundaryEvent id="Sen" attachedToRef="Handlagga" cancelActivity="false"><bpmn:timerEventDefinition>'
        '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">PT36H</bpmn:timeDuration></bpmn:timerEventDefinition>'
        "</bpmn:boundaryEvent>" + task("Paskynda") + '<bpmn:endEvent id="PE" /><bpmn:endEvent id="E" />'
        + flow("F1", "S", "Handlagga") + flow("F2", "Handlagga", "E") + flow("F3", "Sen", "Paskynda") + flow("F4", "Paskynda", "PE")
        + timed("Daglig", timer_start("Dag", "timeCycle", "R/P1D", interrupting=False), "Paminn")
        + timed("Sista", timer_start("SistaDag", "timeDate", "2026-06-04T09:00:00Z"), "Avsluta")
    )  # fmt: skip
    xml = diagram(body, "frister")
    d.deploy(xml, "frister.bpmn", "anna")
    info = d.start_case("frister")
    expected = {
        25: (["Handlagga", "Paminn"], T0 + timedelta(hours=36)),
        37: (["Handlagga", "Paminn", "Paskynda"], T0 + timedelta(days=2)),
        49: (["Handlagga", "Paminn", "Paminn", "Paskynda"], T0 + timedelta(days=3)),
        72.5: (["Handlagga", "Paminn", "Paminn", "Paminn", "Paskynda"], T0 + timedelta(days=3, hours=1)),
        74: (["Avsluta"], None),
    }
    for hours, (tasks, timer) in expected.items():
        clock.set(T0 + timedelta(hours=hours))
        assert d.wake_due_cases() == 1
        assert open_ids(d, info.id) == tasks and next_timer(d, info.id) == timer, hours
        assert_reload_stable(d, info.id)
    fired = [e for e, _ in audit(d, info.id, "timer_fired")]
    assert fired == ["Dag", "Sen", "Dag", "Dag", "SistaDag"]
    assert complete(d, info.id, "Avsluta").status == "completed"
    assert_as_drawn(d, info.id, xml)


def test_the_strict_lint_and_the_deploy_see_no_made_up_ids():
    """Every problem a deploy reports names an element as drawn, also when the rewrite ran."""
    bad = main_flow().replace(task("Beslut"), '<bpmn:userTask id="Beslut" name="Beslut" />') + withdrawal()
    problems = compile_bpmn(diagram(bad, "initiativ", WITHDRAWN)).problems
    assert problems and not [p for p in problems if MADE_UP.search(p.where)], problems


# --- errors and escalations thrown in an event subprocess's steps -----------------------------------------
ERRORS = (
    '<bpmn:error id="Err" name="Fel" errorCode="FEL" /><bpmn:error id="Err2" name="Annat" errorCode="ANNAT" />'
    '<bpmn:escalation id="Esc" name="Chef" escalationCode="CHEF" />'
)


def handler(eid: str, definition: str, interrupting: bool = True) -> str:
    flag = "" if interrupting else ' isInterrupting="false"'
    return event_subprocess(
        eid, f'<bpmn:startEvent id="{eid}S"{flag}>{definition}</bpmn:startEvent>',
        task(f"{eid}T") + f'<bpmn:endEvent id="{eid}E" />' + flow(f"{eid}1", f"{eid}S", f"{eid}T")
        + flow(f"{eid}2", f"{eid}T", f"{eid}E"),
    )  # fmt: skip


def throwing(interrupting: bool, thrown: str) -> str:
    """The withdrawal event subprocess, whose step ``Avsluta`` ends at the throwing event ``thrown``."""
    return event_subprocess(
        "Tillbaka", message_start("Tillbakadraget", "Msg_Tillbaka", interrupting),
        task("Avsluta") + thrown + flow("T1", "Tillbakadraget", "Avsluta") + flow("T2", "Avsluta", "Kastar"),
    )  # fmt: skip


ERROR_END = '<bpmn:endEvent id="Kastar"><bpmn:errorEventDefinition errorRef="{}" /></bpmn:endEvent>'
ESCALATION_THROW = (
    '<bpmn:intermediateThrowEvent id="Kastar"><bpmn:escalationEventDefinition escalationRef="Esc" />'
    '</bpmn:intermediateThrowEvent><bpmn:endEvent id="EfterKast" />'
)


@pytest.mark.parametrize(
    "thrown, catcher",
    [
        (ERROR_END.format("Err"), handler("Felhantering", '<bpmn:errorEventDefinition errorRef="Err" />')),
        (ERROR_END.format("Err"), handler("Felhantering", "<bpmn:errorEventDefinition />")),
        (
            ESCALATION_THROW + flow("T3", "Kastar", "EfterKast"),
            handler(
                "Felhantering", '<bpmn:escalationEventDefinition escalationRef="Esc" />', interrupting=False
            ),
        ),
    ],
    ids=["error code", "every error", "escalation"],
)
def test_an_error_thrown_in_an_interrupting_event_subprocess_past_its_sibling_handler_is_refused(
    d, thrown, catcher
):
    """Camunda 7 lets the error (escalation) event subprocess of the scope catch it; the interrupting one's
    steps run outside the boundary events the handler became, so the case just ended at the error end
    event with ``FelhanteringT`` never opened."""
    problems = refused(d, diagram(main_flow() + throwing(True, thrown) + catcher, "fel", WITHDRAWN + ERRORS))
    assert [p.where for p in problems] == ["Kastar"]
    assert "Tillbaka" in problems[0].message and "Felhantering" in problems[0].message


def test_an_error_a_handler_does_not_catch_and_one_from_a_non_interrupting_one_are_fine(d):
    """An error no handler catches ends its path as in Camunda; from a non-interrupting event subprocess's
    steps the error reaches the handler (they run inside ``__scope``)."""
    catcher = handler("Felhantering", '<bpmn:errorEventDefinition errorRef="Err" />')
    other = diagram(
        main_flow() + throwing(True, ERROR_END.format("Err2")) + catcher, "annat", WITHDRAWN + ERRORS
    )
    assert compile_bpmn(other).problems == []
    xml = diagram(main_flow() + throwing(False, ERROR_END.format("Err")) + catcher, "fel", WITHDRAWN + ERRORS)
    d.deploy(xml, "fel.bpmn", "anna")
    info = d.start_case("fel", business_key="FEL-1")
    d.deliver_message("initiativ_tillbakadraget", {}, business_key="FEL-1")
    complete(d, info.id, "Avsluta")
    assert open_ids(d, info.id) == ["FelhanteringT"]
    assert task_states(d, info.id)["Handlagga"] == ["cancelled"]
    assert_reload_stable(d, info.id)
    assert complete(d, info.id, "FelhanteringT").status == "completed"
    assert_as_drawn(d, info.id, xml)
