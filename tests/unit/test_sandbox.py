"""The script sandbox, exercised through real SpiffWorkflow workflows parsed from small inline diagrams.

Each attack carries a side effect (a marker file or directory) where it can, so a test shows that nothing
happened rather than only that an exception was raised.
"""

from __future__ import annotations

import sys
import time
from xml.sax.saxutils import escape

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.camunda.parser import CamundaParser
from SpiffWorkflow.camunda.serializer import DEFAULT_CONFIG
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.util.task import TaskState

from engine.sandbox import SandboxedEnvironment, check_expression, check_script, make_script_engine

SETUP = "x = {'k': 1}\nn = 41\nitems = [1, 2, 3]\nname = 'Anna'\nd = {'a': {'b': 7}}"

# {m} is the marker path. Each is refused by the sandbox; the first two would create the marker unrestricted.
ATTACKS = {
    "import": "__import__('os').mkdir({m!r})",
    "open": "open({m!r}, 'w')",
    "subclasses": "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'Popen'][0](['touch', {m!r}])",
    "int_class": "(1).__class__",
    "getattr_dunder": "getattr(x, '__class__')",
}


def _definitions(body: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    id="defs" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="proc" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f_start" sourceRef="start" targetRef="setup" />
    <bpmn:scriptTask id="setup" scriptFormat="python"><bpmn:script>{escape(SETUP)}</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f_setup" sourceRef="setup" targetRef="first" />
    {body}
  </bpmn:process>
</bpmn:definitions>""".encode()


def script_diagram(script: str) -> bytes:
    return _definitions(f"""
    <bpmn:scriptTask id="first" scriptFormat="python"><bpmn:script>{escape(script)}</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f_end" sourceRef="first" targetRef="end" />
    <bpmn:endEvent id="end" />""")


def gateway_diagram(condition: str, wait_first: bool = False) -> bytes:
    # With wait_first a user task comes before the gateway, so the workflow can be saved and loaded there.
    head = (
        '<bpmn:userTask id="first" /><bpmn:sequenceFlow id="f_wait" sourceRef="first" targetRef="gw" />'
        if wait_first
        else '<bpmn:scriptTask id="first" scriptFormat="python"><bpmn:script>pass</bpmn:script></bpmn:scriptTask>'
        '<bpmn:sequenceFlow id="f_first" sourceRef="first" targetRef="gw" />'
    )
    return _definitions(f"""{head}
    <bpmn:exclusiveGateway id="gw" default="f_no" />
    <bpmn:sequenceFlow id="f_yes" sourceRef="gw" targetRef="end_yes">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{escape(condition)}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_no" sourceRef="gw" targetRef="end_no" />
    <bpmn:endEvent id="end_yes" />
    <bpmn:endEvent id="end_no" />""")


def timer_diagram(expression: str) -> bytes:
    return _definitions(f"""
    <bpmn:userTask id="first" />
    <bpmn:sequenceFlow id="f_end" sourceRef="first" targetRef="end" />
    <bpmn:endEvent id="end" />
    <bpmn:boundaryEvent id="timer" attachedToRef="first">
      <bpmn:timerEventDefinition>
        <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">{escape(expression)}</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f_timer" sourceRef="timer" targetRef="end_timer" />
    <bpmn:endEvent id="end_timer" />""")


def workflow(xml: bytes, engine: PythonScriptEngine | None = None) -> BpmnWorkflow:
    parser = CamundaParser()
    parser.add_bpmn_str(xml)
    engine = make_script_engine() if engine is None else engine
    return BpmnWorkflow(parser.get_spec("proc"), script_engine=engine)


def completed(wf: BpmnWorkflow, spec_name: str) -> bool:
    return any(t.task_spec.name == spec_name for t in wf.get_tasks(state=TaskState.COMPLETED))


def refused_by_sandbox(err: BaseException) -> bool:
    """Spiff wraps the environment's error; find the PermissionError it wrapped."""
    while err is not None:
        if isinstance(err, PermissionError) or getattr(err, "error_type", None) == "PermissionError":
            return True
        err = err.__cause__ or err.__context__
    return False


@pytest.fixture
def marker(tmp_path):
    return str(tmp_path / "pwned")


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
def test_attack_refused_in_script_task(attack, marker, tmp_path):
    wf = workflow(script_diagram("result = " + attack.format(m=marker)))
    with pytest.raises(WorkflowException) as info:
        wf.do_engine_steps()
    assert refused_by_sandbox(info.value), info.value
    assert not list(tmp_path.iterdir())
    assert "result" not in wf.get_next_task(spec_name="first").data


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
def test_attack_refused_in_gateway_condition(attack, marker, tmp_path):
    wf = workflow(gateway_diagram(attack.format(m=marker)))
    with pytest.raises(WorkflowException) as info:
        wf.do_engine_steps()
    assert refused_by_sandbox(info.value), info.value
    assert not list(tmp_path.iterdir())
    assert not completed(wf, "end_yes") and not completed(wf, "end_no")


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
def test_attack_refused_in_timer_expression(attack, marker, tmp_path):
    wf = workflow(timer_diagram(attack.format(m=marker)))
    with pytest.raises(WorkflowException) as info:
        wf.do_engine_steps()  # reaches the user task, then refresh_timers() evaluates the boundary timer
    assert refused_by_sandbox(info.value), info.value
    assert not list(tmp_path.iterdir())


def test_stock_engine_runs_import_in_condition(marker, tmp_path):
    # Why the sandbox exists: the default engine evaluates a gateway condition with plain eval().
    wf = workflow(gateway_diagram(f"__import__('os').mkdir({marker!r}) is None"), engine=PythonScriptEngine())
    wf.do_engine_steps()
    assert (tmp_path / "pwned").is_dir()
    assert completed(wf, "end_yes")


@pytest.mark.parametrize("script", ["while True: pass", "while True: x = 1", "while n:\n    pass"])
def test_endless_script_stopped_by_time_limit(script):
    wf = workflow(script_diagram(script), engine=make_script_engine(time_limit=0.5))
    started = time.monotonic()
    with pytest.raises(WorkflowException) as info:
        wf.do_engine_steps()
    assert time.monotonic() - started < 5
    assert getattr(info.value, "error_type", None) == "TimeoutError", info.value


def test_endless_condition_stopped_by_time_limit():
    wf = workflow(
        gateway_diagram("[1 for i in range(100000) for j in range(100000)]"), make_script_engine(0.5)
    )
    started = time.monotonic()
    with pytest.raises(WorkflowException):
        wf.do_engine_steps()
    assert time.monotonic() - started < 5


def test_previous_tracer_is_restored_and_keeps_working():
    seen = []

    def outer_tracer(frame, event, arg):
        seen.append(event)
        return None

    def traced_function():
        return 1

    previous = sys.gettrace()
    sys.settrace(outer_tracer)
    try:
        SandboxedEnvironment().evaluate("n + 1", {"n": 1})
        with pytest.raises(TimeoutError):
            SandboxedEnvironment(time_limit=0.1).execute("while True: pass", {})
        assert sys.gettrace() is outer_tracer
        traced_function()
    finally:
        sys.settrace(previous)
    assert "call" in seen


@pytest.mark.parametrize(
    "condition",
    [
        "n == 41 and n < 100 and name != 'Bo'",
        "len(items) == 3 and sum(items) == 6 and max(items) == 3",
        "[i * 2 for i in items if i > 1] == [4, 6] and {k: v for k, v in x.items()} == x",
        "d['a']['b'] == 7 and items[0] == 1 and items[-1] == 3",
        "x.get('k') == 1 and x.get('missing', 5) == 5",
        "datetime(2026, 1, 1) + timedelta(days=3) == datetime(2026, 1, 4)",
        "date(2026, 1, 1) < datetime(2026, 1, 2, tzinfo=timezone.utc).date()",
        "name.lower() == 'anna' and name.upper().startswith('AN')",
        "sorted(items, reverse=True) == [3, 2, 1] and list(zip(items, items))[0] == (1, 1)",
        "any(i > 2 for i in items) and all(isinstance(i, int) for i in items)",
    ],
)
def test_legitimate_conditions(condition):
    wf = workflow(gateway_diagram(condition))
    wf.do_engine_steps()
    assert completed(wf, "end_yes")
    assert wf.is_completed()


def test_script_sets_task_data_like_the_stock_engine():
    script = "y = n + 1\nitems.append(4)\nx['k'] = x['k'] + 1\ntotal = 0\nfor i in range(3):\n    total += i\nf = lambda v: v"
    wf = workflow(script_diagram(script))
    wf.do_engine_steps()
    data = wf.get_next_task(spec_name="first").data
    assert data["y"] == 42 and data["items"] == [1, 2, 3, 4] and data["total"] == 3 and data["x"] == {"k": 2}
    assert (
        "f" not in data and "__builtins__" not in data and "_getattr_" not in data
    )  # callables, globals gone
    assert wf.is_completed()


def test_timer_expression_works():
    wf = workflow(timer_diagram("'PT%dH' % (n - 40)"))
    wf.do_engine_steps()
    assert wf.get_next_task(spec_name="timer").state == TaskState.WAITING


def test_serializer_drops_the_script_engine(marker, tmp_path):
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(DEFAULT_CONFIG))
    wf = workflow(gateway_diagram(f"__import__('os').mkdir({marker!r}) is None", wait_first=True))
    wf.do_engine_steps()
    loaded = serializer.from_dict(serializer.to_dict(wf))
    # Pinned ENGINE-NOTES fact: the script engine is not serialized; a loaded workflow has the stock one.
    assert type(loaded.script_engine.environment) is TaskDataEnvironment
    loaded.get_next_task(spec_name="first").run()
    loaded.do_engine_steps()
    assert (tmp_path / "pwned").is_dir()


def test_reattached_engine_refuses_after_load(marker, tmp_path):
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(DEFAULT_CONFIG))
    wf = workflow(gateway_diagram(f"__import__('os').mkdir({marker!r}) is None", wait_first=True))
    wf.do_engine_steps()
    loaded = serializer.from_dict(serializer.to_dict(wf))
    loaded.script_engine = make_script_engine()
    loaded.get_next_task(spec_name="first").run()
    with pytest.raises(WorkflowException) as info:
        loaded.do_engine_steps()
    assert refused_by_sandbox(info.value)
    assert not list(tmp_path.iterdir())


def test_checks_compile_without_running(marker, tmp_path):
    assert check_expression("n > 1 and name.lower() == 'x'") is None
    assert check_script("y = n + 1\nif y > 2:\n    z = [i for i in items]") is None
    assert "_" in check_expression(f"__import__('os').mkdir({marker!r})")
    assert "not allowed" in check_script("import os")
    assert "not allowed" in check_script("x['k'] += 1")  # RestrictedPython: write x['k'] = x['k'] + 1
    assert "not allowed" in check_script("try:\n    pass\nexcept Exception:\n    pass")
    assert check_expression("n >").startswith("not valid Python")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("__import__('os')", PermissionError),
        ("type(1)", PermissionError),
        ("'{0.__class__}'.format(1)", PermissionError),
        ("range(10**6)", PermissionError),
        ("iter(int, 1)", PermissionError),
        ("x.missing", AttributeError),
        ("n +", ValueError),
    ],
)
def test_environment_errors(source, error):
    with pytest.raises(error):
        SandboxedEnvironment().evaluate(source, {"x": {}, "n": 1})


def test_writes_only_to_dicts_and_lists():
    with pytest.raises(PermissionError):
        SandboxedEnvironment().execute("s = 'a'\ns.upper = 1", {})
    context = {"d": {}, "l": [0]}
    SandboxedEnvironment().execute("d['k'] = 1\nl[0] = 2", context)
    assert context == {"d": {"k": 1}, "l": [2]}
