"""External tasks where Camunda Modeler users put them: inside embedded subprocesses and multi-instance
activities, with business errors caught outside the task; and workers racing each other and staff.
Each test pins a defect an attack on the first version found."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from engine import external_tasks
from engine.app import Delaktig
from engine.errors import Conflict, NotFound, ProcessError, ValidationFailed
from engine.external_tasks import TopicRequest
from engine.models import Case, ExternalTask
from engine.runtime import started_external_tasks
from engine.workflow import load_state
from tests.engine.helpers import open_tasks
from tests.engine.test_external_tasks import TIMED
from tests.engine.test_modeler_constructs import diagram, flow, task

S, E = '<bpmn:startEvent id="S" />', '<bpmn:endEvent id="E" />'
ERR = '<bpmn:error id="Err_x" name="X" errorCode="x" />'


def ext(tid: str, topic: str, inner: str = "", attrs: str = "") -> str:
    return (
        f'<bpmn:serviceTask id="{tid}" name="{tid}" camunda:type="external" camunda:topic="{topic}" {attrs}>'
        f"{inner}</bpmn:serviceTask>"
    )


def error_boundary(bid: str, on: str, attrs: str = "") -> str:
    return (
        f'<bpmn:boundaryEvent id="{bid}" attachedToRef="{on}">'
        f'<bpmn:errorEventDefinition errorRef="Err_x" {attrs} /></bpmn:boundaryEvent>'
    )


def consistent(d, case_id: str) -> str:
    """The open external_task rows are the case's waiting external tasks; the audit chain holds."""
    with d.session() as s:
        case = s.get(Case, case_id)
        spec, subs = d.specs.get(s, case.definition_id)
        started = set(started_external_tasks(load_state(case.state, spec, subs)))
        rows = set(
            s.execute(
                sa.select(ExternalTask.id).where(
                    ExternalTask.case_id == case_id, ExternalTask.state == "open"
                )
            ).scalars()
        )
        status = case.status
    assert started == rows
    assert d.verify_audit(case_id) == []
    return status


def fetch(d, topic: str, n: int = 10, worker: str = "w"):
    return d.fetch_and_lock(worker, n, [TopicRequest(topic, 60_000)])


def test_an_error_inside_a_subprocess_reaches_the_task_s_own_boundary_event(d):
    sub = (
        '<bpmn:subProcess id="Sub"><bpmn:startEvent id="S2" />'
        + ext("A", "a")
        + error_boundary("B", "A")
        + task("Fel")
        + '<bpmn:endEvent id="E2" /><bpmn:endEvent id="E3" />'
        + flow("G1", "S2", "A")
        + flow("G2", "A", "E2")
        + flow("G3", "B", "Fel")
        + flow("G4", "Fel", "E3")
        + "</bpmn:subProcess>"
    )
    d.deploy(diagram(S + sub + E + flow("F1", "S", "Sub") + flow("F2", "Sub", "E"), "sub", ERR), "sub.bpmn")
    info = d.start_case("sub")
    (t,) = fetch(d, "a")
    d.external_task_bpmn_error(t.id, "w", "integ", "x", variables={"orsak": "saknas"})
    assert [u.element_id for u in open_tasks(d, info.id)] == ["Fel"]
    assert consistent(d, info.id) == "active"


def test_an_error_goes_out_to_the_enclosing_subprocess_with_its_variables(d):
    sub = (
        '<bpmn:subProcess id="Sub"><bpmn:startEvent id="S2" />'
        + ext("A", "a")
        + '<bpmn:endEvent id="E2" />'
        + flow("G1", "S2", "A")
        + flow("G2", "A", "E2")
        + "</bpmn:subProcess>"
    )
    body = (
        S
        + sub
        + E
        + error_boundary(
            "B", "Sub", 'camunda:errorCodeVariable="felkod" camunda:errorMessageVariable="felmeddelande"'
        )
        + task("Fel")
        + '<bpmn:endEvent id="E3" />'
        + flow("F1", "S", "Sub")
        + flow("F2", "Sub", "E")
        + flow("F3", "B", "Fel")
        + flow("F4", "Fel", "E3")
    )
    d.deploy(diagram(body, "ut", ERR), "ut.bpmn")
    info = d.start_case("ut")
    (t,) = fetch(d, "a")
    done = d.external_task_bpmn_error(t.id, "w", "integ", "x", "Arkivet nekade", {"orsak": "format"})
    assert [u.element_id for u in open_tasks(d, info.id)] == ["Fel"]
    assert (done.variables["felkod"], done.variables["felmeddelande"]) == ("x", "Arkivet nekade")
    assert done.variables["orsak"] == "format"
    assert consistent(d, info.id) == "active"


def test_an_error_on_a_multi_instance_body_ends_every_instance(d):
    mi = (
        '<bpmn:multiInstanceLoopCharacteristics isSequential="false">'
        "<bpmn:loopCardinality>2</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics>"
    )
    body = (
        S
        + ext("A", "a", mi)
        + E
        + error_boundary("B", "A")
        + task("Fel")
        + '<bpmn:endEvent id="E3" />'
        + flow("F1", "S", "A")
        + flow("F2", "A", "E")
        + flow("F3", "B", "Fel")
        + flow("F4", "Fel", "E3")
    )
    d.deploy(diagram(body, "mib", ERR), "mib.bpmn")
    info = d.start_case("mib")
    first, second = fetch(d, "a")
    d.external_task_bpmn_error(first.id, "w", "integ", "x")
    assert [u.element_id for u in open_tasks(d, info.id)] == ["Fel"]
    assert consistent(d, info.id) == "active"
    with pytest.raises(NotFound):
        d.complete_external_task(second.id, "w", "integ")


@pytest.mark.parametrize("sequential", ["true", "false"])
def test_each_instance_s_worker_gets_its_own_item(d, sequential):
    mi = (
        f'<bpmn:multiInstanceLoopCharacteristics isSequential="{sequential}" '
        'camunda:collection="${distrikt}" camunda:elementVariable="del" />'
    )
    d.deploy(
        diagram(S + ext("A", "a", mi) + E + flow("F1", "S", "A") + flow("F2", "A", "E"), "mi"), "mi.bpmn"
    )
    info = d.start_case("mi", variables={"distrikt": ["norr", "syd"]})
    seen: list[str] = []
    while len(seen) < 2:  # sequential: one at a time; parallel: both at once
        got = fetch(d, "a")
        assert len(got) == (1 if sequential == "true" else 2), seen
        for t in got:
            seen.append(t.variables["del"])
            assert t.variables["distrikt"] == ["norr", "syd"]
            d.complete_external_task(t.id, "w", "integ")
    assert sorted(seen) == ["norr", "syd"]
    assert consistent(d, info.id) == "completed"


def test_a_variable_filter_finds_a_match_behind_many_others(d, monkeypatch):
    monkeypatch.setattr(external_tasks, "FETCH_BATCH", 3)  # batches of 3: the match sits in the 4th
    d.deploy(TIMED, "underlag.bpmn")
    for i in range(10):
        d.start_case("underlag", f"L-{i}", {"kommun": "Lund"})
    malmo = d.start_case("underlag", "M-1", {"kommun": "Malmö"})
    (t,) = d.fetch_and_lock("w", 5, [TopicRequest("underlag", 1000, process_variables={"kommun": "Malmö"})])
    assert t.case_id == malmo.id
    # 1 is not true, "1" is not 1: a filter matches a value of its own kind only.
    d.start_case("underlag", "B-1", {"flagga": True, "antal": 1})
    assert d.fetch_and_lock("w", 5, [TopicRequest("underlag", 1000, process_variables={"flagga": 1})]) == []
    assert d.fetch_and_lock("w", 5, [TopicRequest("underlag", 1000, process_variables={"antal": "1"})]) == []
    got = d.fetch_and_lock("w", 5, [TopicRequest("underlag", 1000, process_variables={"antal": 1.0})])
    assert [g.business_key for g in got] == ["B-1"]


def test_a_priority_variable_must_be_a_64_bit_integer(d):
    body = ext("A", "a", attrs='camunda:taskPriority="${p}"')
    d.deploy(diagram(S + body + E + flow("F1", "S", "A") + flow("F2", "A", "E"), "prio"), "prio.bpmn")
    for bad in (10**20, 1e20, "7", True):
        with pytest.raises((ProcessError, ValidationFailed)):  # (10**20 is no value a case can keep)
            d.start_case("prio", variables={"p": bad})
    assert d.count_external_tasks(external_tasks.ExternalTaskQuery()) == 0
    assert d.start_case("prio", variables={"p": 2**62}).status == "active"
    assert [t.priority for t in fetch(d, "a")] == [2**62]


def _race(d, calls) -> list[str]:
    """Each ``call(engine)`` at the same moment on its own engine (its own database connections)."""
    engines = [Delaktig(settings=d.settings) for _ in calls]
    barrier = threading.Barrier(len(calls))
    results: list[str] = []

    def run(app, call):
        barrier.wait()
        try:
            call(app)
            results.append("ok")
        except (Conflict, NotFound) as err:
            results.append(f"{type(err).__name__}: {err}")

    threads = [threading.Thread(target=run, args=pair) for pair in zip(engines, calls, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for app in engines:
        app.dispose()
    return results


def test_a_completion_racing_a_cancel_never_deadlocks(d):
    """Completing and failing lock the case before the task row, as cancelling and waking timers do;
    the other order deadlocked on PostgreSQL and a user's cancel failed as "busy"."""
    d.deploy(TIMED, "underlag.bpmn")
    for n in range(6):
        info = d.start_case("underlag", f"D-{n}")
        (t,) = fetch(d, "underlag")
        act = (
            (lambda e, t=t: e.complete_external_task(t.id, "w", "integ"))
            if n % 2
            else (lambda e, t=t: e.fail_external_task(t.id, "w", "integ", "nere", retries=1))
        )
        results = _race(d, [act, lambda e, c=info.id: e.cancel_case(c, "olle")])
        assert not [r for r in results if "upptagen" in r or "samtidig" in r], results
        assert results.count("ok") >= 1, results
        consistent(d, info.id)


def test_workers_fetching_at_once_share_out_every_task(d):
    d.deploy(TIMED, "underlag.bpmn")
    for i in range(40):
        d.start_case("underlag", f"K-{i}")
    got: list[list[str]] = []

    def take(e):
        got.append([t.id for t in fetch(e, "underlag", 7)])

    assert _race(d, [take] * 8) == ["ok"] * 8
    every = [tid for ids in got for tid in ids]
    assert len(every) == len(set(every)) == 40


def test_event_subprocesses_and_bad_error_variables_are_refused_at_deploy(d):
    # (An event subprocess runs now — tests/engine/test_event_subprocesses.py — but not one whose start
    # event waits for nothing.)
    evsub = (
        '<bpmn:subProcess id="Ev" triggeredByEvent="true"><bpmn:startEvent id="ES" />'
        + task("B")
        + '<bpmn:endEvent id="EE" />'
        + flow("H1", "ES", "B")
        + flow("H2", "B", "EE")
        + "</bpmn:subProcess>"
    )
    with pytest.raises(ValidationFailed) as err:
        d.deploy(
            diagram(S + task("A") + E + evsub + flow("F1", "S", "A") + flow("F2", "A", "E"), "ev"), "ev.bpmn"
        )
    assert any(p.where == "Ev" and "exactly one start event" in p.message for p in err.value.problems)
    body = (
        S + ext("A", "a") + E + error_boundary("B", "A", 'camunda:errorCodeVariable="${kod}"') + task("Fel")
    )
    body += '<bpmn:endEvent id="E3" />' + flow("F1", "S", "A") + flow("F2", "A", "E") + flow("F3", "B", "Fel")
    with pytest.raises(ValidationFailed) as err:
        d.deploy(diagram(body + flow("F4", "Fel", "E3"), "ev2", ERR), "ev2.bpmn")
    assert any(p.where == "B" and "errorCodeVariable" in p.message for p in err.value.problems)
