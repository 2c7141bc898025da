"""Pins for the SpiffWorkflow 3.2.0 facts in ../shared/ENGINE-NOTES.md that the engine relies on.

If an upgrade changes one of these, the test shows which workaround in engine/ may now be wrong or
unnecessary. (Timer-literal, JUEL, P1Y-drift and sandbox facts are pinned in tests/unit/.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import SpiffWorkflow
from lxml import etree
from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.task import TaskState

from engine import clock
from engine.bpmn.compile import compile_or_raise
from engine.workflow import SERIALIZER, dump_state, load_state, new_workflow, run_engine
from tests.conftest import fixture_bytes


def stock(name="initiativ.bpmn", pid="test_initiativ"):
    """The stock Camunda parser on our (translated) fixture."""
    compiled = compile_or_raise(fixture_bytes(name))
    parser = CamundaParser()
    parser.add_bpmn_xml(compiled.root, filename=name)
    return parser.get_spec(pid), parser.get_subprocess_specs(pid)


def ours(name="initiativ.bpmn", pid="test_initiativ"):
    return compile_or_raise(fixture_bytes(name)).spec(pid)


def test_version_is_pinned():
    assert SpiffWorkflow.__version__ == "3.2.0" if hasattr(SpiffWorkflow, "__version__") else True
    from importlib.metadata import version

    assert version("SpiffWorkflow") == "3.2.0"


def test_manual_true_finds_user_tasks_and_lane_is_the_label():
    wf = BpmnWorkflow(*ours())
    wf.do_engine_steps()
    [task] = wf.get_tasks(state=TaskState.READY, manual=True)
    assert task.task_spec.name == "Granska" and task.task_spec.lane == "Handläggare"
    assert wf.get_tasks(state=TaskState.READY, manual=False) == []


def test_run_has_no_state_guard():
    wf = BpmnWorkflow(*ours())
    wf.do_engine_steps()
    [task] = wf.get_tasks(state=TaskState.READY, manual=True)
    task.set_data(fragan_paverkbar=False, antal=None)
    task.run()
    assert task.state == TaskState.COMPLETED
    task.run()  # a double submit is not refused by the library: the engine must check READY itself
    assert task.state == TaskState.COMPLETED


def test_wf_set_data_is_invisible_to_tasks_root_task_data_is_not():
    wf = BpmnWorkflow(*ours())
    wf.set_data(hidden=1)
    wf.task_tree.data["seen"] = 2
    wf.do_engine_steps()
    [task] = wf.get_tasks(state=TaskState.READY, manual=True)
    assert "hidden" not in task.data and task.data["seen"] == 2


def test_stock_camunda_parser_drops_assignment_and_due_attributes():
    spec, _ = stock()
    granska = spec.task_specs["Granska"]
    assert "candidateGroups" not in str(granska.extensions) and "dueDate" not in str(granska.extensions)
    assert not hasattr(granska, "candidate_groups") and not hasattr(granska, "due_date")
    our = ours()[0].task_specs["Granska"]
    assert our.extensions["camunda"]["candidateGroups"] == ["handlaggare"]
    assert our.extensions["camunda"]["dueDate"] == "P14D" and our.extensions["camunda"]["priority"] == "60"
    assert len(our.extensions["form"]["fields"]) == 5


def test_required_constraint_without_config_is_invisible_to_has_validation():
    from SpiffWorkflow.camunda.specs.user_task import FormField

    field = FormField()
    field.add_validation("required", None)  # what <camunda:constraint name="required"/> gives
    assert field.has_validation("required") is False


def test_serializer_flavour_mismatch_raises_type_error():
    from SpiffWorkflow.bpmn.serializer.config import DEFAULT_CONFIG as BPMN_CONFIG

    wf = BpmnWorkflow(*stock())
    wf.do_engine_steps()
    plain = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(BPMN_CONFIG))
    with pytest.raises(TypeError, match="not JSON serializable"):
        plain.serialize_json(wf)


def test_stock_blob_holds_the_spec_ours_does_not():
    wf = BpmnWorkflow(*stock())
    wf.do_engine_steps()
    from SpiffWorkflow.camunda.serializer import DEFAULT_CONFIG

    full = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(DEFAULT_CONFIG)).serialize_json(wf)
    ours_blob = dump_state(wf)
    assert len(ours_blob) < len(full) / 2
    assert SERIALIZER.to_dict(wf).keys().isdisjoint({"spec", "subprocess_specs"})


def test_script_engine_is_not_serialized_and_we_reattach_it():
    from engine.sandbox import SandboxedEnvironment

    spec, subs = ours()
    wf = new_workflow(spec, subs)
    assert isinstance(wf.script_engine.environment, SandboxedEnvironment)
    plain = SERIALIZER.from_dict(SERIALIZER.to_dict(wf), spec=spec, subprocess_specs=subs)
    assert not isinstance(plain.script_engine.environment, SandboxedEnvironment)  # the unrestricted default
    assert isinstance(load_state(dump_state(wf), spec, subs).script_engine.environment, SandboxedEnvironment)


def test_send_event_raises_when_nothing_waits_and_definitions_match_by_class_and_name():
    spec, subs = ours()
    wf = new_workflow(spec, subs)
    run_engine(wf)
    catch = spec.task_specs["VantaSvar"].event_definition
    with pytest.raises(WorkflowException, match="not waiting"):
        wf.send_event(BpmnEvent(catch, {"payload": {}, "result_var": None}))


def test_waiting_events_report_timer_due_times():
    with clock.frozen(datetime(2026, 3, 2, 8, 0, tzinfo=UTC)):
        wf = new_workflow(*ours())
        run_engine(wf)
    timers = sorted(e.value for e in wf.waiting_events() if e.event_type == "DurationTimerEventDefinition")
    assert [datetime.fromisoformat(v) for v in timers] == [
        datetime(2026, 3, 9, 8, 0, tzinfo=UTC),
        # P30D counts calendar days in Swedish time (engine.workflow): 09:00 local on both sides of the
        # change to summer time on 29 March, so 07:00 UTC; SpiffWorkflow alone would say 08:00 UTC.
        datetime(2026, 4, 1, 7, 0, tzinfo=UTC),
    ]


def test_cycle_timer_start_event_never_creates_instances_it_grows_one():
    xml = b"""<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D" targetNamespace="x">
    <bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="s"><bpmn:outgoing>f</bpmn:outgoing>
    <bpmn:timerEventDefinition><bpmn:timeCycle>'R/2026-01-01T00:00:00+00:00/P1D'</bpmn:timeCycle></bpmn:timerEventDefinition>
    </bpmn:startEvent><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="e"/><bpmn:endEvent id="e"><bpmn:incoming>f</bpmn:incoming>
    </bpmn:endEvent></bpmn:process></bpmn:definitions>"""
    parser = CamundaParser()
    parser.add_bpmn_xml(etree.fromstring(xml))
    import SpiffWorkflow.bpmn.specs.event_definitions.timer as timer_module

    wf = BpmnWorkflow(parser.get_spec("p"))
    with clock.frozen(datetime(2026, 1, 10, 12, 0, tzinfo=UTC)):
        assert timer_module.datetime.now(UTC) == clock.now()  # the engine clock drives Spiff's timers
        wf.do_engine_steps()
        wf.refresh_timers()
        wf.do_engine_steps()
    ends = [t for t in wf.tasks.values() if t.task_spec.name == "e" and t.state == TaskState.COMPLETED]
    # One immortal instance; the start date in the past fired all ten missed daily cycles at once.
    assert len(ends) == 10 and not wf.is_completed()
    # ...and get_tasks(state=COMPLETED) misses completed children of the still-waiting start event.
    assert [t for t in wf.get_tasks(state=TaskState.COMPLETED) if t.task_spec.name == "e"] == []


def test_get_tasks_completed_misses_children_of_waiting_tasks():
    spec, subs = ours()
    with clock.frozen(datetime(2026, 3, 2, 8, 0, tzinfo=UTC)):
        wf = new_workflow(spec, subs)
        run_engine(wf)
    with clock.frozen(datetime(2026, 3, 10, 8, 0, tzinfo=UTC)):
        run_engine(wf)  # the non-interrupting reminder fires: its branch completes under a waiting task
    everything = {t.task_spec.name for t in wf.tasks.values() if t.state == TaskState.COMPLETED}
    listed = {t.task_spec.name for t in wf.get_tasks(state=TaskState.COMPLETED)}
    assert "Paminn" in everything
    assert listed <= everything


def test_default_lxml_resolves_external_entities(tmp_path):
    """Why uploads are parsed with entities and DTDs off (engine.bpmn.xml)."""
    secret = tmp_path / "hostname"
    secret.write_text("secret-host")
    doc = f'<!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret}">]><d>&x;</d>'.encode()
    assert etree.fromstring(doc, etree.XMLParser(resolve_entities=True)).text == "secret-host"
    from engine.bpmn.xml import _parser

    assert etree.fromstring(doc, _parser()).text != "secret-host"


def test_timedelta_helper_sanity():
    assert timedelta(days=1).total_seconds() == 86400
