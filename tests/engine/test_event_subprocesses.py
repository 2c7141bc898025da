"""Event subprocesses (``triggeredByEvent="true"``) drawn in Camunda Modeler run as Camunda 7 runs them:
deployed through the engine's own deploy path, driven by its public functions (messages, the clock and
``wake_due_cases``, completions), each step saved and reloaded as always."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from lxml import etree
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.task import TaskState

from engine import clock
from engine.bpmn.compile import compile_or_raise, missing_di
from engine.errors import NoMatch, ValidationFailed
from engine.external_tasks import TopicRequest
from engine.models import AuditEvent, Case, ExternalTask, MessageSubscription, ProcessDefinition, UserTask
from engine.runtime import waiting_messages
from engine.workflow import load_state, new_workflow, run_engine
from tests.engine.helpers import assert_reload_stable, open_tasks
from tests.engine.test_modeler_constructs import diagram, flow, task

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
WITHDRAWN = '<bpmn:message id="Msg_Tillbaka" name="initiativ_tillbakadraget" />'


def event_subprocess(eid: str, start: str, body: str) -> str:
    """An event subprocess as Modeler writes it: ``start`` (its start event's XML) and the rest."""
    return f'<bpmn:subProcess id="{eid}" name="{eid}" triggeredByEvent="true">{start}{body}</bpmn:subProcess>'


def message_start(eid: str, message: str, interrupting: bool = True) -> str:
    flag = "" if interrupting else ' isInterrupting="false"'
    return f'<bpmn:startEvent id="{eid}" name="{eid}"{flag}><bpmn:messageEventDefinition messageRef="{message}" /></bpmn:startEvent>'


def main_flow() -> str:
    """Start → Handlagga → Beslut → End: the case's own flow."""
    return (
        '<bpmn:startEvent id="S" />'
        + task("Handlagga")
        + task("Beslut")
        + '<bpmn:endEvent id="E" />'
        + flow("F1", "S", "Handlagga")
        + flow("F2", "Handlagga", "Beslut")
        + flow("F3", "Beslut", "E")
    )


def withdrawal(interrupting: bool = True) -> str:
    """Medborgaren drar tillbaka initiativet: its message starts Avsluta."""
    return event_subprocess(
        "Tillbaka",
        message_start("Tillbakadraget", "Msg_Tillbaka", interrupting),
        task("Avsluta") + '<bpmn:endEvent id="Avslutat" />' + flow("T1", "Tillbakadraget", "Avsluta")
        + flow("T2", "Avsluta", "Avslutat"),
    )  # fmt: skip


def open_ids(d, case_id: str) -> list[str]:
    return sorted(t.element_id for t in open_tasks(d, case_id))


def complete(d, case_id: str, element_id: str, data: dict | None = None):
    [t] = [t for t in open_tasks(d, case_id) if t.element_id == element_id]
    return d.complete_task(t.id, "system", data or {}, roles={"handlaggare"})


def case_state(d, case_id: str) -> tuple:
    with d.session() as s:
        case = s.get(Case, case_id)
        return case.version, case.state, case.data


def subscriptions(d, case_id: str) -> list[tuple[str, str]]:
    with d.session() as s:
        rows = s.execute(
            sa.select(MessageSubscription.message_name, MessageSubscription.element_id).where(
                MessageSubscription.case_id == case_id
            )
        ).all()
    return sorted(tuple(r) for r in rows)


def audit(d, case_id: str, kind: str) -> list[tuple[str | None, str | None]]:
    with d.session() as s:
        rows = s.query(AuditEvent).filter_by(chain=case_id, kind=kind).order_by(AuditEvent.seq).all()
        return [(e.element_id, (e.detail or {}).get("activity_type")) for e in rows]


def task_states(d, case_id: str) -> dict[str, list[str]]:
    with d.session() as s:
        out: dict[str, list[str]] = {}
        for t in s.query(UserTask).filter_by(case_id=case_id).order_by(UserTask.created_at):
            out.setdefault(t.element_id, []).append(t.state)
        return out


def test_an_interrupting_message_event_subprocess_ends_the_case_s_flow(d):
    d.deploy(diagram(main_flow() + withdrawal(), "initiativ", WITHDRAWN), "initiativ.bpmn", "anna")
    info = d.start_case("initiativ", business_key="I-1")
    assert open_ids(d, info.id) == ["Handlagga"]
    # The subscription index finds the case by the event subprocess's message, under its start event.
    assert subscriptions(d, info.id) == [("initiativ_tillbakadraget", "Tillbakadraget")]
    assert_reload_stable(d, info.id)
    [done] = d.deliver_message("initiativ_tillbakadraget", {"orsak": "flyttat"}, business_key="I-1")
    assert done.status == "active" and done.variables["orsak"] == "flyttat"
    assert open_ids(d, info.id) == ["Avsluta"]  # Handlagga is gone from the inbox
    assert task_states(d, info.id)["Handlagga"] == ["cancelled"]
    assert subscriptions(d, info.id) == []  # interrupted: no second withdrawal
    assert_reload_stable(d, info.id)
    done = complete(d, info.id, "Avsluta")
    assert done.status == "completed"
    assert "Beslut" not in task_states(d, info.id)  # the rest of the case's flow never ran
    assert audit(d, info.id, "message_received") == [("Tillbakadraget", "messageStartEvent")]
    assert audit(d, info.id, "case_completed") == [("Avslutat", "noneEndEvent")]
    assert d.verify_audit(info.id) == []


def test_a_non_interrupting_message_event_subprocess_runs_beside_the_flow_once_per_message(d):
    d.deploy(diagram(main_flow() + withdrawal(False), "initiativ", WITHDRAWN), "initiativ.bpmn", "anna")
    info = d.start_case("initiativ", business_key="I-2")
    d.deliver_message("initiativ_tillbakadraget", {"forsta": 1}, business_key="I-2")
    assert open_ids(d, info.id) == ["Avsluta", "Handlagga"]  # the case's own task stays
    assert subscriptions(d, info.id) == [("initiativ_tillbakadraget", "Tillbakadraget")]  # still listening
    assert_reload_stable(d, info.id)
    d.deliver_message("initiativ_tillbakadraget", {"andra": 2}, business_key="I-2")
    assert open_ids(d, info.id) == ["Avsluta", "Avsluta", "Handlagga"]  # a second instance
    assert_reload_stable(d, info.id)
    for t in [t for t in open_tasks(d, info.id) if t.element_id == "Avsluta"]:
        assert d.complete_task(t.id, "system", {}, roles={"handlaggare"}).status == "active"
    complete(d, info.id, "Handlagga")
    assert_reload_stable(d, info.id)
    done = complete(d, info.id, "Beslut", {"beslut": "bifall"})
    assert done.status == "completed"
    assert done.variables == {"forsta": 1, "andra": 2, "beslut": "bifall"}  # one scope, shared variables
    assert audit(d, info.id, "message_received") == [("Tillbakadraget", "messageStartEvent")] * 2
    assert audit(d, info.id, "case_completed") == [("E", "noneEndEvent")]  # the drawn end event
    assert d.verify_audit(info.id) == []


def test_after_the_case_s_own_flow_ended_a_started_non_interrupting_one_runs_on_to_its_end(d):
    d.deploy(diagram(main_flow() + withdrawal(False), "initiativ", WITHDRAWN), "initiativ.bpmn", "anna")
    info = d.start_case("initiativ", business_key="I-3")
    d.deliver_message("initiativ_tillbakadraget", {}, business_key="I-3")
    complete(d, info.id, "Handlagga")
    assert complete(d, info.id, "Beslut").status == "active"  # Avsluta still open: the case waits for it
    assert open_ids(d, info.id) == ["Avsluta"]
    # The documented difference from Camunda 7 (docs/modeling.md): with the case's own flow ended, a
    # second message starts no second instance; it is refused, naming the message, and changes nothing.
    before = case_state(d, info.id)
    with pytest.raises(NoMatch, match="initiativ_tillbakadraget"):
        d.deliver_message("initiativ_tillbakadraget", {"sen": True}, business_key="I-3")
    assert case_state(d, info.id) == before and open_ids(d, info.id) == ["Avsluta"]
    assert complete(d, info.id, "Avsluta").status == "completed"
    assert audit(d, info.id, "case_completed") == [("Avslutat", "noneEndEvent")]


def timer_start(eid: str, kind: str, value: str, interrupting: bool = True) -> str:
    flag = "" if interrupting else ' isInterrupting="false"'
    return (
        f'<bpmn:startEvent id="{eid}" name="{eid}"{flag}><bpmn:timerEventDefinition>'
        f'<bpmn:{kind} xsi:type="bpmn:tFormalExpression">{value}</bpmn:{kind}>'
        "</bpmn:timerEventDefinition></bpmn:startEvent>"
    )


def timed(eid: str, start: str, then: str, group: str = "handlaggare") -> str:
    return event_subprocess(
        eid, start, task(then, group) + f'<bpmn:endEvent id="{then}_slut" />'
        + flow(f"{eid}_1", start.split('id="')[1].split('"')[0], then) + flow(f"{eid}_2", then, f"{then}_slut"),
    )  # fmt: skip


def next_timer(d, case_id: str):
    with d.session() as s:
        at = s.get(Case, case_id).next_timer_at
    return None if at is None else at.replace(tzinfo=at.tzinfo or UTC)


def test_an_interrupting_timer_event_subprocess_ends_the_flow_when_it_falls_due(d):
    clock.set(T0)
    frist = timed("Frist", timer_start("FristUte", "timeDuration", "P30D"), "Eskalera", "avdelningschef")
    d.deploy(diagram(main_flow() + frist, "frist"), "frist.bpmn", "anna")
    info = d.start_case("frist")
    assert next_timer(d, info.id) == T0 + timedelta(days=30)  # the event subprocess's timer
    complete(d, info.id, "Handlagga")
    assert open_ids(d, info.id) == ["Beslut"]
    clock.set(T0 + timedelta(days=29))
    assert d.wake_due_cases() == 0
    clock.set(T0 + timedelta(days=30, minutes=1))
    assert d.wake_due_cases() == 1
    assert open_ids(d, info.id) == ["Eskalera"]
    assert task_states(d, info.id)["Beslut"] == ["cancelled"]
    assert next_timer(d, info.id) is None
    assert_reload_stable(d, info.id)
    [fired] = audit(d, info.id, "timer_fired")
    assert fired == ("FristUte", "startTimerEvent")
    done = d.complete_task(open_tasks(d, info.id)[0].id, "system", {}, roles={"avdelningschef"})
    assert done.status == "completed"
    assert audit(d, info.id, "case_completed") == [("Eskalera_slut", "noneEndEvent")]


def test_a_case_that_ends_before_its_timer_event_subprocess_falls_due_ends(d):
    clock.set(T0)
    frist = timed("Frist", timer_start("FristUte", "timeDuration", "P30D"), "Eskalera", "avdelningschef")
    d.deploy(diagram(main_flow() + frist, "frist"), "frist.bpmn", "anna")
    info = d.start_case("frist")
    complete(d, info.id, "Handlagga")
    assert complete(d, info.id, "Beslut").status == "completed"  # the timer does not keep it open
    assert next_timer(d, info.id) is None
    clock.set(T0 + timedelta(days=31))
    assert d.wake_due_cases() == 0


def test_a_weekly_non_interrupting_timer_event_subprocess_reminds_while_the_case_runs(d):
    clock.set(T0)
    weekly = timed("Veckovis", timer_start("Vecka", "timeCycle", "R/P7D", interrupting=False), "Paminn")
    d.deploy(diagram(main_flow() + weekly, "paminn"), "paminn.bpmn", "anna")
    info = d.start_case("paminn")
    assert next_timer(d, info.id) == T0 + timedelta(days=7)
    for week in (1, 2):
        clock.set(T0 + timedelta(days=7 * week, minutes=1))
        assert d.wake_due_cases() == 1
        assert open_ids(d, info.id) == ["Handlagga"] + ["Paminn"] * week
        assert next_timer(d, info.id) == T0 + timedelta(days=7 * (week + 1))
        assert_reload_stable(d, info.id)
    assert audit(d, info.id, "timer_fired") == [("Vecka", "startTimerEvent")] * 2
    complete(d, info.id, "Handlagga")
    complete(d, info.id, "Beslut")
    assert next_timer(d, info.id) is None  # the flow ended: no more reminders (unlike Camunda: docs)
    clock.set(T0 + timedelta(days=30))
    assert d.wake_due_cases() == 0
    for t in open_tasks(d, info.id):  # the reminders already open run on to their end
        done = d.complete_task(t.id, "system", {}, roles={"handlaggare"})
    assert done.status == "completed"


ERROR = '<bpmn:error id="Err_Saknas" name="Underlag saknas" errorCode="UNDERLAG_SAKNAS" />'


def test_an_error_event_subprocess_catches_an_error_end_event_of_the_flow(d):
    body = (
        '<bpmn:startEvent id="S" />'
        + task("Handlagga")
        + '<bpmn:exclusiveGateway id="Gw" default="Fok" />'
        + '<bpmn:endEvent id="Fel"><bpmn:errorEventDefinition errorRef="Err_Saknas" /></bpmn:endEvent>'
        + task("Beslut")
        + '<bpmn:endEvent id="E" />'
        + flow("F1", "S", "Handlagga")
        + flow("F2", "Handlagga", "Gw")
        + '<bpmn:sequenceFlow id="Ffel" sourceRef="Gw" targetRef="Fel"><bpmn:conditionExpression '
        'xsi:type="bpmn:tFormalExpression">${saknas}</bpmn:conditionExpression></bpmn:sequenceFlow>'
        + flow("Fok", "Gw", "Beslut")
        + flow("F3", "Beslut", "E")
        + timed_error()
    )
    d.deploy(diagram(body, "underlag", ERROR), "underlag.bpmn", "anna")
    ok = d.start_case("underlag")
    complete(d, ok.id, "Handlagga", {"saknas": False})
    assert open_ids(d, ok.id) == ["Beslut"]
    bad = d.start_case("underlag")
    done = complete(d, bad.id, "Handlagga", {"saknas": True})
    assert done.variables["felkod"] == "UNDERLAG_SAKNAS"
    assert open_ids(d, bad.id) == ["Komplettera"]
    assert_reload_stable(d, bad.id)
    assert complete(d, bad.id, "Komplettera").status == "completed"
    assert "Beslut" not in task_states(d, bad.id)
    assert audit(d, bad.id, "case_completed") == [("Kompletterat", "noneEndEvent")]


def timed_error() -> str:
    start = (
        '<bpmn:startEvent id="Saknas" name="Underlag saknas"><bpmn:errorEventDefinition errorRef="Err_Saknas" '
        'camunda:errorCodeVariable="felkod" /></bpmn:startEvent>'
    )
    return event_subprocess(
        "Felhantering", start, task("Komplettera") + '<bpmn:endEvent id="Kompletterat" />'
        + flow("K1", "Saknas", "Komplettera") + flow("K2", "Komplettera", "Kompletterat"),
    )  # fmt: skip


def test_a_signal_event_subprocess_takes_a_broadcast_signal(d):
    start = (
        '<bpmn:startEvent id="Stoppat" name="Stoppat"><bpmn:signalEventDefinition signalRef="Sig_Stopp" />'
        "</bpmn:startEvent>"
    )
    stop = event_subprocess(
        "Stopp", start, task("Arkivera") + '<bpmn:endEvent id="Arkiverat" />'
        + flow("A1", "Stoppat", "Arkivera") + flow("A2", "Arkivera", "Arkiverat"),
    )  # fmt: skip
    d.deploy(
        diagram(main_flow() + stop, "stopp", '<bpmn:signal id="Sig_Stopp" name="allt_stoppas" />'),
        "stopp.bpmn",
        "anna",
    )
    info = d.start_case("stopp")
    d.broadcast_signal("allt_stoppas")
    assert open_ids(d, info.id) == ["Arkivera"]
    assert task_states(d, info.id)["Handlagga"] == ["cancelled"]
    assert_reload_stable(d, info.id)
    assert complete(d, info.id, "Arkivera").status == "completed"
    assert audit(d, info.id, "case_completed") == [("Arkiverat", "noneEndEvent")]


def test_an_interrupting_one_ends_the_steps_a_non_interrupting_one_started(d):
    """As in Camunda, an interrupting event subprocess ends everything of its scope: the reminder a
    non-interrupting one opened is cancelled with the case's own task."""
    clock.set(T0)
    weekly = timed("Veckovis", timer_start("Vecka", "timeCycle", "R/P7D", interrupting=False), "Paminn")
    d.deploy(diagram(main_flow() + weekly + withdrawal(), "initiativ", WITHDRAWN), "initiativ.bpmn", "anna")
    info = d.start_case("initiativ", business_key="I-4")
    clock.set(T0 + timedelta(days=7, minutes=1))
    assert d.wake_due_cases() == 1
    assert open_ids(d, info.id) == ["Handlagga", "Paminn"]
    d.deliver_message("initiativ_tillbakadraget", {}, business_key="I-4")
    assert open_ids(d, info.id) == ["Avsluta"]
    states = task_states(d, info.id)
    assert states["Handlagga"] == ["cancelled"] and states["Paminn"] == ["cancelled"]
    assert next_timer(d, info.id) is None and subscriptions(d, info.id) == []
    assert_reload_stable(d, info.id)
    assert complete(d, info.id, "Avsluta").status == "completed"


def test_an_event_subprocess_in_an_embedded_subprocess_is_scoped_to_it(d):
    """Its message is awaited only while the embedded subprocess runs; interrupting it ends the
    subprocess's steps, and the case goes on after the subprocess, as in Camunda."""
    inner = (
        '<bpmn:startEvent id="S2" />' + task("Granska") + '<bpmn:endEvent id="E2" />'
        + flow("G1", "S2", "Granska") + flow("G2", "Granska", "E2")
        + event_subprocess(
            "Andrat", message_start("Andrad", "Msg_Andrad"),
            task("Omgranska") + '<bpmn:endEvent id="Omgranskad" />'
            + flow("O1", "Andrad", "Omgranska") + flow("O2", "Omgranska", "Omgranskad"),
        )
    )  # fmt: skip
    body = (
        '<bpmn:startEvent id="S" />' + task("Forbered")
        + f'<bpmn:subProcess id="Granskning">{inner}</bpmn:subProcess>'
        + task("Beslut") + '<bpmn:endEvent id="E" />'
        + flow("F1", "S", "Forbered") + flow("F2", "Forbered", "Granskning")
        + flow("F3", "Granskning", "Beslut") + flow("F4", "Beslut", "E")
    )  # fmt: skip
    d.deploy(
        diagram(body, "granskning", '<bpmn:message id="Msg_Andrad" name="ansokan_andrad" />'),
        "granskning.bpmn",
        "anna",
    )
    info = d.start_case("granskning", business_key="G-1")
    assert subscriptions(d, info.id) == []  # not yet in the subprocess
    complete(d, info.id, "Forbered")
    assert open_ids(d, info.id) == ["Granska"]
    assert subscriptions(d, info.id) == [("ansokan_andrad", "Andrad")]
    d.deliver_message("ansokan_andrad", {}, business_key="G-1")
    assert open_ids(d, info.id) == ["Omgranska"]
    assert task_states(d, info.id)["Granska"] == ["cancelled"]
    assert_reload_stable(d, info.id)
    complete(d, info.id, "Omgranska")
    assert open_ids(d, info.id) == ["Beslut"]  # the case goes on after the subprocess
    assert subscriptions(d, info.id) == []
    assert complete(d, info.id, "Beslut").status == "completed"
    assert audit(d, info.id, "case_completed") == [("E", "noneEndEvent")]


def test_a_worker_s_business_error_reaches_the_error_event_subprocess(d):
    """Camunda's bpmnError from an external task is caught by an error event subprocess of its scope."""
    body = (
        '<bpmn:startEvent id="S" />'
        '<bpmn:serviceTask id="Arkivera" camunda:type="external" camunda:topic="arkiv" />'
        '<bpmn:endEvent id="E" />' + flow("F1", "S", "Arkivera") + flow("F2", "Arkivera", "E") + timed_error()
    )
    d.deploy(diagram(body, "arkiv", ERROR), "arkiv.bpmn", "anna")
    info = d.start_case("arkiv")
    [t] = d.fetch_and_lock("w", 1, [TopicRequest("arkiv", 60_000)])
    done = d.external_task_bpmn_error(t.id, "w", "integ", "UNDERLAG_SAKNAS", variables={"orsak": "format"})
    assert done.variables["felkod"] == "UNDERLAG_SAKNAS" and done.variables["orsak"] == "format"
    assert open_ids(d, info.id) == ["Komplettera"]
    with d.session() as s:
        assert s.get(ExternalTask, t.id).state == "completed"  # (ended by the worker's report)
    assert_reload_stable(d, info.id)
    assert complete(d, info.id, "Komplettera").status == "completed"


REFUSED = {
    "inside an event subprocess": (
        main_flow() + event_subprocess(
            "Yttre", message_start("Y", "Msg_Tillbaka"),
            task("Avsluta") + '<bpmn:endEvent id="Ye" />' + flow("Y1", "Y", "Avsluta") + flow("Y2", "Avsluta", "Ye")
            + timed("Inre", timer_start("InreStart", "timeDuration", "P1D"), "Paminn"),
        ),
        "Inre", "inside an event subprocess is not supported",
    ),
    "terminate end in a non-interrupting one": (
        main_flow() + event_subprocess(
            "Tillbaka", message_start("Tb", "Msg_Tillbaka", interrupting=False),
            '<bpmn:endEvent id="Allt"><bpmn:terminateEventDefinition /></bpmn:endEvent>' + flow("T1", "Tb", "Allt"),
        ),
        "Allt", "terminate end event in a non-interrupting event subprocess",
    ),
    "non-interrupting error start": (
        main_flow() + timed_error().replace('name="Underlag saknas"', 'isInterrupting="false"'),
        "Saknas", "always interrupting",
    ),
    "scope with two start events": (
        main_flow() + '<bpmn:startEvent id="S_Msg"><bpmn:messageEventDefinition messageRef="Msg_Tillbaka" />'
        "</bpmn:startEvent>" + flow("F9", "S_Msg", "Handlagga") + timed("Frist", timer_start("Fs", "timeDuration", "P1D"), "Paminn"),
        "Frist", "2 start events",
    ),
    "subprocess without a start event": (
        main_flow().replace(task("Handlagga"), '<bpmn:subProcess id="Handlagga">' + task("Inuti")
        + timed("Frist", timer_start("Fs", "timeDuration", "P1D"), "Paminn") + "</bpmn:subProcess>"),
        "Frist", "Handlagga, where the event subprocess is, has no start event",
    ),
    "start event without a definition": (
        main_flow() + event_subprocess(
            "Tom", '<bpmn:startEvent id="TomStart" />',
            '<bpmn:endEvent id="TomSlut" />' + flow("T1", "TomStart", "TomSlut"),
        ),
        "Tom", "exactly one start event",
    ),
    "interrupting timer cycle with a start date": (
        main_flow() + timed("Frist", timer_start("FristUte", "timeCycle", "R2/2026-07-01T08:00:00Z/P1D"), "Eskalera"),
        "FristUte", "timeCycle",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_event_subprocesses_delaktig_cannot_run_are_refused_naming_the_element(d, name):
    body, element, reason = REFUSED[name]
    with pytest.raises(ValidationFailed) as refused:
        d.deploy(diagram(body, "nej", WITHDRAWN), "nej.bpmn", "anna")
    assert any(p.where == element and reason in p.message for p in refused.value.problems), (
        refused.value.problems
    )
    with d.session() as s:
        assert s.query(ProcessDefinition).count() == 0


def test_an_interrupting_one_ends_nested_subprocesses_and_their_waiting_events(d):
    """The case's flow is inside an embedded subprocess (a task and a message catch in parallel) and a
    call activity: the withdrawal ends all of it — no task, no subscription, no timer left — and the case
    can still end."""
    inner = (
        '<bpmn:startEvent id="S2" /><bpmn:parallelGateway id="Dela" />' + task("Granska")
        + '<bpmn:intermediateCatchEvent id="Svar"><bpmn:messageEventDefinition messageRef="Msg_Svar" />'
        "</bpmn:intermediateCatchEvent>"
        '<bpmn:intermediateCatchEvent id="Vanta"><bpmn:timerEventDefinition><bpmn:timeDuration '
        'xsi:type="bpmn:tFormalExpression">P10D</bpmn:timeDuration></bpmn:timerEventDefinition>'
        "</bpmn:intermediateCatchEvent>"
        '<bpmn:parallelGateway id="Mot" /><bpmn:endEvent id="E2" />'
        + flow("G1", "S2", "Dela") + flow("G2", "Dela", "Granska") + flow("G3", "Dela", "Svar")
        + flow("G4", "Dela", "Vanta") + flow("G5", "Granska", "Mot") + flow("G6", "Svar", "Mot")
        + flow("G7", "Vanta", "Mot") + flow("G8", "Mot", "E2")
    )  # fmt: skip
    body = (
        '<bpmn:startEvent id="S" /><bpmn:parallelGateway id="P" />'
        f'<bpmn:subProcess id="Granskning">{inner}</bpmn:subProcess>'
        '<bpmn:callActivity id="Anropa" calledElement="kallad" /><bpmn:parallelGateway id="P2" />'
        '<bpmn:endEvent id="E" />'
        + flow("F1", "S", "P") + flow("F2", "P", "Granskning") + flow("F3", "P", "Anropa")
        + flow("F4", "Granskning", "P2") + flow("F5", "Anropa", "P2") + flow("F6", "P2", "E")
        + withdrawal()
    )  # fmt: skip
    called = (
        '<bpmn:process id="kallad" isExecutable="true"><bpmn:startEvent id="KS" />'
        + task("Utreda") + '<bpmn:endEvent id="KE" />' + flow("K1", "KS", "Utreda") + flow("K2", "Utreda", "KE")
        + "</bpmn:process>"
    )  # fmt: skip
    extra = WITHDRAWN + '<bpmn:message id="Msg_Svar" name="svar" />' + called
    clock.set(T0)
    d.deploy(diagram(body, "nastlad", extra), "nastlad.bpmn", "anna")
    info = d.start_case("nastlad", business_key="N-1")
    assert open_ids(d, info.id) == ["Granska", "Utreda"]
    assert subscriptions(d, info.id) == [("initiativ_tillbakadraget", "Tillbakadraget"), ("svar", "Svar")]
    assert next_timer(d, info.id) == T0 + timedelta(days=10)
    d.deliver_message("initiativ_tillbakadraget", {}, business_key="N-1")
    assert open_ids(d, info.id) == ["Avsluta"]
    assert subscriptions(d, info.id) == [] and next_timer(d, info.id) is None
    states = task_states(d, info.id)
    assert states["Granska"] == ["cancelled"] and states["Utreda"] == ["cancelled"]
    assert_reload_stable(d, info.id)
    assert complete(d, info.id, "Avsluta").status == "completed"
    with d.session() as s:
        case = s.get(Case, info.id)
        spec, subs = d.specs.get(s, case.definition_id)
        wf = load_state(case.state, spec, subs)
    assert wf.is_completed() and not wf.get_active_subprocesses()  # nothing left running inside


def test_lanes_give_the_tasks_inside_and_outside_the_flow_their_roles(d):
    """The case's own flow runs inside a synthetic subprocess in the parsed copy: its tasks keep their
    lanes' roles, and so do the event subprocess's."""
    lanes = (
        '<bpmn:laneSet id="Ls"><bpmn:lane id="L1" name="Handläggare">'
        + "".join(f"<bpmn:flowNodeRef>{n}</bpmn:flowNodeRef>" for n in ("S", "Handlagga", "E"))
        + '</bpmn:lane><bpmn:lane id="L2" name="Enhetschef">'
        + "".join(f"<bpmn:flowNodeRef>{n}</bpmn:flowNodeRef>" for n in ("Tillbaka", "Tillbakadraget", "Avsluta", "Avslutat"))
        + "</bpmn:lane></bpmn:laneSet>"
    )  # fmt: skip
    body = (
        lanes + '<bpmn:startEvent id="S" /><bpmn:userTask id="Handlagga" name="Handlagga" />'
        '<bpmn:endEvent id="E" />' + flow("F1", "S", "Handlagga") + flow("F2", "Handlagga", "E")
        + event_subprocess(
            "Tillbaka", message_start("Tillbakadraget", "Msg_Tillbaka", interrupting=False),
            '<bpmn:userTask id="Avsluta" name="Avsluta" /><bpmn:endEvent id="Avslutat" />'
            + flow("T1", "Tillbakadraget", "Avsluta") + flow("T2", "Avsluta", "Avslutat"),
        )
    )  # fmt: skip
    d.deploy(diagram(body, "lanes", WITHDRAWN), "lanes.bpmn", "anna")
    info = d.start_case("lanes", business_key="L-1")
    d.deliver_message("initiativ_tillbakadraget", {}, business_key="L-1")
    roles = {t.element_id: (t.candidate_groups, t.lane) for t in open_tasks(d, info.id)}
    assert roles == {
        "Handlagga": (["handlaggare"], "Handläggare"),
        "Avsluta": (["enhetschef"], "Enhetschef"),
    }


def test_a_case_started_by_a_message_keeps_its_start_event_and_its_event_subprocess(d):
    body = (
        '<bpmn:startEvent id="S"><bpmn:messageEventDefinition messageRef="Msg_Ny" /></bpmn:startEvent>'
        + task("Handlagga") + '<bpmn:endEvent id="E" />'
        + flow("F1", "S", "Handlagga") + flow("F2", "Handlagga", "E") + withdrawal()
    )  # fmt: skip
    extra = WITHDRAWN + '<bpmn:message id="Msg_Ny" name="ny_ansokan" />'
    d.deploy(diagram(body, "ny", extra), "ny.bpmn", "anna")
    [info] = d.deliver_message("ny_ansokan", {"namn": "x"}, business_key="M-1")
    assert open_ids(d, info.id) == ["Handlagga"]
    assert audit(d, info.id, "case_started") == [("S", "messageStartEvent")]
    d.deliver_message("initiativ_tillbakadraget", {}, business_key="M-1")
    assert open_ids(d, info.id) == ["Avsluta"]


def test_a_timer_event_subprocess_in_each_instance_of_a_multi_instance_subprocess(d):
    """Each instance is its own scope: the timer of the instance still running fires, and interrupts only
    that instance."""
    inner = (
        '<bpmn:startEvent id="S2" />' + task("Granska") + '<bpmn:endEvent id="E2" />'
        + flow("G1", "S2", "Granska") + flow("G2", "Granska", "E2")
        + timed("Frist", timer_start("FristUte", "timeDuration", "P1D"), "Paminn")
    )  # fmt: skip
    mi = '<bpmn:multiInstanceLoopCharacteristics camunda:collection="${delar}" camunda:elementVariable="del" />'
    body = (
        f'<bpmn:startEvent id="S" /><bpmn:subProcess id="Del">{mi}{inner}</bpmn:subProcess>'
        '<bpmn:endEvent id="E" />' + flow("F1", "S", "Del") + flow("F2", "Del", "E")
    )
    clock.set(T0)
    d.deploy(diagram(body, "delar"), "delar.bpmn", "anna")
    info = d.start_case("delar", variables={"delar": ["norr", "syd"]})
    assert open_ids(d, info.id) == ["Granska", "Granska"]
    d.complete_task(open_tasks(d, info.id)[0].id, "system", {}, roles={"handlaggare"})  # one instance done
    clock.set(T0 + timedelta(days=1, minutes=1))
    assert d.wake_due_cases() == 1
    assert open_ids(d, info.id) == ["Paminn"]
    assert audit(d, info.id, "timer_fired") == [("FristUte", "startTimerEvent")]
    assert_reload_stable(d, info.id)
    assert complete(d, info.id, "Paminn").status == "completed"


def test_a_non_interrupting_escalation_event_subprocess_takes_an_escalation_of_the_flow(d):
    start = (
        '<bpmn:startEvent id="Eskalerat" name="Eskalerat" isInterrupting="false">'
        '<bpmn:escalationEventDefinition escalationRef="Esc_Chef" /></bpmn:startEvent>'
    )
    chef = event_subprocess(
        "Chefsfraga", start, task("Chefen", "avdelningschef") + '<bpmn:endEvent id="ChefKlar" />'
        + flow("C1", "Eskalerat", "Chefen") + flow("C2", "Chefen", "ChefKlar"),
    )  # fmt: skip
    body = (
        '<bpmn:startEvent id="S" />' + task("Handlagga")
        + '<bpmn:intermediateThrowEvent id="Kasta"><bpmn:escalationEventDefinition escalationRef="Esc_Chef" />'
        "</bpmn:intermediateThrowEvent>" + task("Beslut") + '<bpmn:endEvent id="E" />'
        + flow("F1", "S", "Handlagga") + flow("F2", "Handlagga", "Kasta") + flow("F3", "Kasta", "Beslut")
        + flow("F4", "Beslut", "E") + chef
    )  # fmt: skip
    extra = '<bpmn:escalation id="Esc_Chef" name="Till chef" escalationCode="CHEF" />'
    d.deploy(diagram(body, "eskalera", extra), "eskalera.bpmn", "anna")
    info = d.start_case("eskalera")
    complete(d, info.id, "Handlagga")
    assert open_ids(d, info.id) == ["Beslut", "Chefen"]  # beside the flow, which goes on
    assert_reload_stable(d, info.id)
    complete(d, info.id, "Beslut")
    done = d.complete_task(open_tasks(d, info.id)[0].id, "system", {}, roles={"avdelningschef"})
    assert done.status == "completed"


def test_a_modeler_file_with_event_subprocesses_passes_the_strict_lint():
    """``delaktig lint --strict`` wants a shape for every element of the parsed copy: the elements the
    rewrite adds have none in the drawn diagram, and must not be reported."""
    xml = diagram(main_flow() + withdrawal() + timed("Frist", timer_start("FristUte", "timeDuration", "P30D"), "Eskalera"),
                  "lint", WITHDRAWN)  # fmt: skip
    root = etree.fromstring(xml)
    ids = [
        el.get("id")
        for el in root.iter()
        if el.get("id") and etree.QName(el).localname not in ("process", "definitions", "message")
    ]
    plane = "".join(f'<bpmndi:BPMNShape id="{i}_di" bpmnElement="{i}" />' for i in ids)  # (edges alike)
    drawn = xml.replace(
        b"</bpmn:definitions>",
        b'<bpmndi:BPMNDiagram id="D" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI">'
        b'<bpmndi:BPMNPlane id="Pl" bpmnElement="lint">'
        + plane.encode()
        + b"</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>"
        b"</bpmn:definitions>",
    )
    assert missing_di(compile_or_raise(xml).root) != []  # (the check looks)
    assert missing_di(compile_or_raise(drawn).root) == []


def test_spiffworkflow_alone_runs_event_subprocesses_wrongly():
    """Pins the library facts engine.bpmn.event_subprocesses exists for: parsed as drawn, SpiffWorkflow
    3.2 leaves the interrupted task open after an interrupting message event subprocess started, lists no
    waiting event for it (the subscription index could never find the case), and keeps a case whose flow
    has ended open until an event subprocess's timer fires — then opens its task."""
    from engine.bpmn.compile import _normalise_flow_refs, _translate
    from engine.bpmn.parser import DelaktigParser
    from engine.bpmn.xml import parse_bpmn_xml

    def native(xml: bytes, pid: str):
        root = parse_bpmn_xml(xml, "x.bpmn")
        _normalise_flow_refs(root)
        _translate(root, [])
        parser = DelaktigParser()
        parser.add_bpmn_xml(root, filename="x.bpmn")
        return new_workflow(parser.get_spec(pid), parser.get_subprocess_specs(pid))

    def ready(wf) -> list[str]:
        return sorted(t.task_spec.bpmn_id for t in wf.get_tasks(state=TaskState.READY, manual=True))

    with clock.frozen(T0):
        wf = native(diagram(main_flow() + withdrawal(), "p", WITHDRAWN), "p")
        run_engine(wf)
        assert ready(wf) == ["Handlagga"] and waiting_messages(wf) == []
        [start] = [
            t for t in wf.subprocess_specs["Tillbaka"].task_specs.values() if t.bpmn_id == "Tillbakadraget"
        ]
        event = BpmnEvent(start.event_definition, {"payload": {}, "result_var": None})
        run_engine(wf, lambda: wf.send_event(event))
        assert ready(wf) == ["Avsluta", "Handlagga"]  # Handlagga was not interrupted
        frist = timed("Frist", timer_start("FristUte", "timeDuration", "P30D"), "Eskalera")
        wf = native(diagram(main_flow() + frist, "p"), "p")
        run_engine(wf)
        for _ in range(2):
            run_engine(wf, wf.get_tasks(state=TaskState.READY, manual=True)[0].run)
        assert ready(wf) == [] and not wf.is_completed()  # the flow ended; the case did not
    with clock.frozen(T0 + timedelta(days=31)):
        run_engine(wf)
    assert ready(wf) == ["Eskalera"]


def test_a_start_event_that_splits_in_two_keeps_its_split_inside_the_flow(d):
    """Two flows out of the start event (Camunda: a parallel split): both branches start once, inside
    the scope the event subprocess interrupts."""
    body = (
        '<bpmn:startEvent id="S" />' + task("Handlagga") + task("Kontrollera")
        + '<bpmn:endEvent id="E" /><bpmn:endEvent id="E2" />'
        + flow("F1", "S", "Handlagga") + flow("F1b", "S", "Kontrollera")
        + flow("F2", "Handlagga", "E") + flow("F3", "Kontrollera", "E2") + withdrawal()
    )  # fmt: skip
    d.deploy(diagram(body, "dela", WITHDRAWN), "dela.bpmn", "anna")
    info = d.start_case("dela", business_key="D-1")
    assert open_ids(d, info.id) == ["Handlagga", "Kontrollera"]
    d.deliver_message("initiativ_tillbakadraget", {}, business_key="D-1")
    assert open_ids(d, info.id) == ["Avsluta"]
    assert complete(d, info.id, "Avsluta").status == "completed"


def test_event_subprocesses_at_two_levels_each_keep_to_their_scope(d):
    """A non-interrupting signal one in the process and a timer one in an embedded subprocess: the
    signal starts its steps for every broadcast while the case runs; the subprocess's timer interrupts
    only the subprocess, and the case goes on after it."""
    inner = (
        '<bpmn:startEvent id="S2" />' + task("Granska") + '<bpmn:endEvent id="E2" />'
        + flow("G1", "S2", "Granska") + flow("G2", "Granska", "E2")
        + timed("Frist", timer_start("FristUte", "timeDuration", "P5D"), "Skynda")
    )  # fmt: skip
    notice = event_subprocess(
        "Notis", '<bpmn:startEvent id="Notat" isInterrupting="false"><bpmn:signalEventDefinition '
        'signalRef="Sig_Ny" /></bpmn:startEvent>',
        task("Lasa") + '<bpmn:endEvent id="Last" />' + flow("N1", "Notat", "Lasa") + flow("N2", "Lasa", "Last"),
    )  # fmt: skip
    body = (
        f'<bpmn:startEvent id="S" /><bpmn:subProcess id="Granskning">{inner}</bpmn:subProcess>'
        + task("Beslut") + '<bpmn:endEvent id="E" />'
        + flow("F1", "S", "Granskning") + flow("F2", "Granskning", "Beslut") + flow("F3", "Beslut", "E") + notice
    )  # fmt: skip
    clock.set(T0)
    d.deploy(diagram(body, "tva", '<bpmn:signal id="Sig_Ny" name="ny_praxis" />'), "tva.bpmn", "anna")
    info = d.start_case("tva")
    d.broadcast_signal("ny_praxis")
    d.broadcast_signal("ny_praxis")
    assert open_ids(d, info.id) == ["Granska", "Lasa", "Lasa"]
    assert next_timer(d, info.id) == T0 + timedelta(days=5)
    clock.set(T0 + timedelta(days=5, minutes=1))
    assert d.wake_due_cases() == 1
    assert open_ids(d, info.id) == ["Lasa", "Lasa", "Skynda"]  # (Lasa is of the process's scope)
    assert_reload_stable(d, info.id)
    complete(d, info.id, "Skynda")
    assert open_ids(d, info.id) == ["Beslut", "Lasa", "Lasa"]
    d.broadcast_signal("ny_praxis")
    assert open_ids(d, info.id) == ["Beslut", "Lasa", "Lasa", "Lasa"]
    complete(d, info.id, "Beslut")
    d.broadcast_signal("ny_praxis")  # the case's own flow ended: no more (engine.bpmn.event_subprocesses)
    for t in open_tasks(d, info.id):
        done = d.complete_task(t.id, "system", {}, roles={"handlaggare"})
    assert done.status == "completed"
    assert audit(d, info.id, "case_completed") == [("Last", "noneEndEvent")]
