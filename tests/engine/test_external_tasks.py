"""External tasks in the engine: a case waits at a ``camunda:type="external"`` task (SpiffWorkflow's STARTED
state, kept across save and load), its boundary events still fire, and only one of two racing
completions wins."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from SpiffWorkflow.task import TaskState

from engine import clock
from engine.app import Delaktig
from engine.errors import Conflict, NotFound, ValidationFailed
from engine.external_tasks import TopicRequest
from engine.models import AuditEvent, Case, ExternalTask
from engine.workflow import dump_state, load_state
from tests.conftest import count, fixture_bytes
from tests.engine.helpers import open_tasks
from tests.engine.test_modeler_constructs import diagram, flow, task

TIMED = diagram(
    '<bpmn:startEvent id="S" />'
    '<bpmn:serviceTask id="Hamta" name="Hämta underlag" camunda:type="external" camunda:topic="underlag" '
    'camunda:taskPriority="40" />'
    '<bpmn:boundaryEvent id="Sent" attachedToRef="Hamta"><bpmn:timerEventDefinition>'
    '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">PT1H</bpmn:timeDuration>'
    "</bpmn:timerEventDefinition></bpmn:boundaryEvent>"
    + task("Manuellt")
    + '<bpmn:endEvent id="E1" /><bpmn:endEvent id="E2" />'
    + flow("F1", "S", "Hamta")
    + flow("F2", "Hamta", "E1")
    + flow("F3", "Sent", "Manuellt")
    + flow("F4", "Manuellt", "E2"),
    pid="underlag",
)

TWO = diagram(
    '<bpmn:startEvent id="S" /><bpmn:parallelGateway id="Dela" /><bpmn:parallelGateway id="Mot" />'
    '<bpmn:serviceTask id="A" camunda:type="external" camunda:topic="a" />'
    '<bpmn:businessRuleTask id="B" camunda:type="external" camunda:topic="b" />'
    '<bpmn:endEvent id="E" />'
    + flow("F1", "S", "Dela")
    + flow("F2", "Dela", "A")
    + flow("F3", "Dela", "B")
    + flow("F4", "A", "Mot")
    + flow("F5", "B", "Mot")
    + flow("F6", "Mot", "E"),
    pid="tva",
)


def test_the_case_waits_at_the_external_task_across_save_and_load(d):
    (definition,) = d.deploy(fixture_bytes("external_task.bpmn"), "external_task.bpmn")
    info = d.start_case("arkivering", "KS-1", {"prio": 5})
    with d.session() as s:
        case = s.get(Case, info.id)
        spec, subs = d.specs.get(s, case.definition_id)
        wf = load_state(case.state, spec, subs)
        assert dump_state(wf) == case.state
        (started,) = [t for t in wf.get_tasks(state=TaskState.STARTED) if t.task_spec.bpmn_id == "Arkivera"]
        row = s.get(ExternalTask, str(started.id))
    assert (row.topic, row.priority, row.state, row.element_id) == ("arkivera", 5, "open", "Arkivera")
    assert row.definition_id == definition.id and row.business_key == "KS-1"
    assert row.properties == {"arkiv": "e-arkiv"}
    assert open_tasks(d, info.id) == []  # not offered to staff
    (fetched,) = d.fetch_and_lock("w", 1, [TopicRequest("arkivera", 1000)])
    done = d.complete_external_task(fetched.id, "w", "integ", {"svar": "ok"})
    assert done.status == "completed" and done.variables["svar"] == "ok"
    assert d.verify_audit(info.id) == []


def test_a_boundary_timer_takes_the_case_on_and_cancels_the_external_task(d):
    d.deploy(TIMED, "underlag.bpmn")
    info = d.start_case("underlag", "U-1")
    (fetched,) = d.fetch_and_lock("w", 1, [TopicRequest("underlag", 10 * 3600 * 1000)])
    assert fetched.priority == 40 and fetched.name == "Hämta underlag"
    clock.advance(timedelta(hours=1, seconds=1))
    assert d.wake_due_cases() == 1
    assert [t.element_id for t in open_tasks(d, info.id)] == ["Manuellt"]
    with d.session() as s:
        assert s.get(ExternalTask, fetched.id).state == "cancelled"
        kinds = list(s.execute(sa.select(AuditEvent.kind).where(AuditEvent.case_id == info.id)).scalars())
    assert "external_task_cancelled" in kinds
    with pytest.raises(NotFound):
        d.complete_external_task(fetched.id, "w", "integ")


def test_parallel_external_tasks_each_wait_for_their_worker(d):
    d.deploy(TWO, "tva.bpmn")
    d.start_case("tva")
    assert count(d, ExternalTask, ExternalTask.state == "open") == 2
    (a,) = d.fetch_and_lock("wa", 5, [TopicRequest("a", 1000)])
    (b,) = d.fetch_and_lock("wb", 5, [TopicRequest("b", 1000)])
    assert d.complete_external_task(a.id, "wa", "integ", {"a": 1}).status == "active"
    done = d.complete_external_task(b.id, "wb", "integ", {"b": 2})
    assert done.status == "completed" and (done.variables["a"], done.variables["b"]) == (1, 2)


def test_bad_values_change_nothing(d):
    d.deploy(TIMED, "underlag.bpmn")
    d.start_case("underlag")
    for bad in (
        lambda: d.fetch_and_lock("", 1, [TopicRequest("underlag", 1000)]),
        lambda: d.fetch_and_lock("w", -1, [TopicRequest("underlag", 1000)]),
        lambda: d.fetch_and_lock("w", 1, [TopicRequest("underlag", 0)]),
        lambda: d.fetch_and_lock("w", 1, [TopicRequest("", 1000)]),
    ):
        with pytest.raises(ValidationFailed):
            bad()
    assert count(d, ExternalTask, ExternalTask.worker_id.is_not(None)) == 0
    (t,) = d.fetch_and_lock("w", 1, [TopicRequest("underlag", 1000)])
    with pytest.raises(ValidationFailed):
        d.complete_external_task(t.id, "w", "integ", {"_types": 1})
    with pytest.raises(ValidationFailed):
        d.fail_external_task(t.id, "w", "integ", retries=-1)
    with pytest.raises(ValidationFailed):
        d.set_external_retries([t.id], -3, "olle")
    with d.session() as s:
        row = s.get(ExternalTask, t.id)
    assert row.retries is None and row.state == "open"


def test_two_completions_at_once_one_wins(d):
    """Two engines (two connection pools: two real database connections) complete the same task."""
    d.deploy(TIMED, "underlag.bpmn")
    info = d.start_case("underlag")
    (t,) = d.fetch_and_lock("w", 1, [TopicRequest("underlag", 60_000)])
    engines = [Delaktig(settings=d.settings) for _ in range(2)]
    barrier = threading.Barrier(2)
    results: list[str] = []

    def complete(app, n: int) -> None:
        barrier.wait()
        try:
            app.complete_external_task(t.id, "w", f"integ{n}", {"n": n})
            results.append("ok")
        except (Conflict, NotFound) as err:
            results.append(type(err).__name__)

    threads = [threading.Thread(target=complete, args=(app, n)) for n, app in enumerate(engines)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    for app in engines:
        app.dispose()
    assert len(results) == 2 and results.count("ok") == 1
    with d.session() as s:
        events = s.execute(
            sa.select(AuditEvent).where(
                AuditEvent.case_id == info.id, AuditEvent.kind == "external_task_completed"
            )
        ).all()
        assert len(events) == 1 and s.get(Case, info.id).status == "completed"
    assert d.verify_audit(info.id) == []
