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

from engine.sandbox import (
    MAX_ITEMS,
    SandboxedEnvironment,
    check_expression,
    check_script,
    make_script_engine,
    virtual_size,
)

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


# --- size guards: one C-level step (which the time limit cannot interrupt) building or walking a huge value

DOUBLED = "x = [0]\nfor i in range(60):\n    x = [x, x]\n"  # 120 items in memory, 2**60 to walk
TUPLE_DOUBLED = "x = (0,)\nfor i in range(60):\n    x = (x, x)\n"
BIG = "s = 'x' * 900000\na = [0] * 900000\n"

HUGE = {
    # shared structures: small in memory, huge to walk
    "str_of_shared": BIG + "b = [a] * 900000\nn = str(b)",
    "str_of_shared_comprehension": BIG + "b = [a for i in range(100)]\nn = str(b)",
    "str_of_doubled": DOUBLED + "n = str(x)",
    "repr_of_doubled": DOUBLED + "n = repr(x)",
    "ascii_of_doubled": DOUBLED + "n = ascii(x)",
    "format_of_doubled": DOUBLED + "n = format(x)",
    "fstring_of_doubled": DOUBLED + "n = f'{x!r}'",
    "percent_of_doubled": DOUBLED + "n = '%s' % (x,)",
    "percent_mapping_of_doubled": DOUBLED + "n = '%(k)s' % {'k': x}",
    "print_of_doubled": DOUBLED + "print(x)",
    "eq_of_doubled": DOUBLED + "n = x == [x[0], x[1]]",
    "in_of_doubled": DOUBLED + "n = [x[0], x[1]] in [x]",
    "sorted_of_doubled": DOUBLED + "n = sorted([x, [x[0], x[1]]])",
    "sorted_keys_doubled": DOUBLED + "n = sorted(range(3), key=lambda i: [x, [x[0], x[1]]])",
    "max_of_doubled": DOUBLED + "n = max([x, [x[0], x[1]]])",
    "min_of_doubled": DOUBLED + "n = min(x, [x[0], x[1]])",
    "list_sort_doubled": DOUBLED + "n = [x, [x[0], x[1]]]\nn.sort()",
    "list_count_doubled": DOUBLED + "n = [x].count([x[0], x[1]])",
    "hash_of_doubled_tuple": TUPLE_DOUBLED + "n = hash(x)",
    "dict_key_doubled_tuple": TUPLE_DOUBLED + "d = {}\nn = d[x]",
    "dict_store_doubled_tuple": TUPLE_DOUBLED + "d = {}\nd[x] = 1",
    "set_display_doubled_tuple": TUPLE_DOUBLED + "n = {x}",
    "dict_display_doubled_tuple": TUPLE_DOUBLED + "n = {x: 1}",
    "set_comprehension_doubled_tuple": TUPLE_DOUBLED + "n = {y for y in [x]}",
    "set_of_doubled_tuple": TUPLE_DOUBLED + "n = set([x])",
    "set_star_doubled_tuple": TUPLE_DOUBLED + "n = {*[x]}",
    "sorted_of_shared": "n = sorted([[0] * 900000] * 900000)",
    "zip_of_shared": "n = list(zip(*[[0] * 900000] * 10))",
    "repr_of_tuple_of_texts": "s = 'x' * 900000\nn = repr((s,) * 500)",
    "big_ints_str": "n = str([10 ** 4000] * 400)",
    # builders that were not checked
    "join": BIG + "n = s.join([s] * 3)",
    "join_generator": BIG + "n = ''.join(s for i in range(3))",
    "join_through_class": BIG + "n = str.join(s, [s, s])",
    "fstring_parts": BIG + "n = f'{s}{s}{s}'",
    "fstring_spec_width": "n = 10 ** 9\nx = f'{1:>{n}}'",
    "star_list": BIG + "n = [*a, *a, *a]",
    "star_tuple": BIG + "n = (*a, *a)",
    "star_set": BIG + "n = {*a, *a}",
    "ljust_through_class": "n = str.ljust('x', 2000000000)",
    "center_through_class": "n = str.center('x', 2000000000)",
    "zfill_through_class": "n = str.zfill('1', 2000000000)",
    "replace_through_class": BIG + "n = str.replace(s, 'x', 'xx')",
    "extend_through_class": BIG + "b = [0]\nlist.extend(b, a)\nlist.extend(b, a)",
    "to_bytes": "n = (1).to_bytes(2000000000, 'big')",
    "to_bytes_through_class": "n = int.to_bytes(1, 2000000000, 'big')",
    "hex": BIG + "n = s.encode().hex()",
    "encode_wide": "n = ('\\U0001F600' * 900000).encode()",
    "encode_escape": BIG + "n = s.encode('unicode_escape')",
    "translate": BIG + "n = s.translate({120: 'yy'})",
    "percent_texts": BIG + "n = '%s%s' % (s, s)",
    "printed": BIG + "print(s)\nprint(s)\nn = printed",
    "items_cap": "n = [0] * 1000001",
}


@pytest.mark.parametrize("script", HUGE.values(), ids=HUGE.keys())
def test_huge_values_are_refused_before_they_are_built_or_walked(script):
    """Each of these ran for seconds to forever in one C-level call (holding the GIL, so the web process
    stalled) or built gigabytes; now each is refused at once, before the work."""
    with pytest.raises(PermissionError, match="too large"):
        SandboxedEnvironment().execute(script, {})


LEGITIMATE = {
    "a = '-' * 40": "-" * 40,
    "a = [0] * 100": [0] * 100,
    "names = ['Anna', 'Bo']\na = ', '.join(names)": "Anna, Bo",
    "a = str({'k': [1, 2]}) + str(5) + str()": "{'k': [1, 2]}5",
    "l = [{'n': 3}, {'n': 1}, {'n': 2}]\na = sorted(l, key=lambda d: d['n'], reverse=True)": [
        {"n": 3},
        {"n": 2},
        {"n": 1},
    ],
    "a = sorted([3, 1, 2]) + [max([3, 1]), min(4, 2), max(['bb', 'a'], key=len)]": [1, 2, 3, 3, 2, "bb"],
    "n = 5\na = f'{n:>3}|{n!r}|{n:{n}}|{\"x\"}'": "  5|5|    5|x",
    "a = '%s-%d %(x)s' % ('x', 3) if False else '%s-%d' % ('x', 3)": "x-3",
    "a = '%(k)s!' % {'k': 'ja'}": "ja!",
    "a = [isinstance('x', str), isinstance(1, (int, str)), list(map(str, [1, 2]))]": [True, True, ["1", "2"]],
    "a = str.upper('x') + str.join('-', ['a', 'b']) + str.ljust('x', 3)": "Xa-bx  ",
    "a = [[*[1, 2], *[3]], (*[1], *[2]) == (1, 2), {*[1], *[1, 2]} == {1, 2}]": [[1, 2, 3], True, True],
    "a = [[1, 2] == [1, 2], 1 in [1], 'k' in {'k': 1}, None is None, 1 < 2 < 3, (1, 2) in {(1, 2)}]": [True]
    * 6,
    "l = [3, 1, 2]\nl.sort(key=lambda v: -v)\na = [l, l.count(1), l.index(3)]": [[3, 2, 1], 1, 0],
    "a = [repr([1]), ascii('ä'), format(3.14159, '.2f'), 'ab'.encode().hex(), (5).to_bytes(2, 'big').hex()]": [
        "[1]",
        "'\\xe4'",
        "3.14",
        "6162",
        "0005",
    ],
    "print('hej')\na = printed": "hej\n",
    "d = {}\nd[(1, 2)] = 3\nd['k'] = 1\ndel d['k']\nl = [1, 2, 3]\nl[0:2] = [5]\n"
    "a = [d, l, {1, (1, 2)} == {(1, 2), 1}, {**d, 'z': 1}, isinstance(d, dict), tuple([1]), dict(b=1)]": [
        {(1, 2): 3},
        [5, 3],
        True,
        {(1, 2): 3, "z": 1},
        True,
        (1,),
        {"b": 1},
    ],
    "x = [0]\nfor i in range(10):\n    x = [x, x]\na = len(str(x))": 7164,
}


@pytest.mark.parametrize(("script", "expected"), LEGITIMATE.items(), ids=range(len(LEGITIMATE)))
def test_everyday_operations_work_as_before(script, expected):
    context = {}
    SandboxedEnvironment().execute(script, context)
    assert context["a"] == expected


def test_virtual_size_counts_shared_parts_each_time_and_stops_early():
    a = [0] * 1000
    assert virtual_size(a) == 1000
    assert virtual_size([a, a, "xyz"]) == 3 + 2000 + 3
    assert virtual_size({"k": a}) == 1 + 1 + 1000
    x = [0]
    for _ in range(200):
        x = [x, x]
    assert virtual_size(x, 1000) > 1000  # returns at once, without walking 2**200
    cycle = [1]
    cycle.append(cycle)
    assert virtual_size(cycle) > MAX_ITEMS  # a cycle counts as too large (it cannot be stored either)


def test_a_condition_is_checked_too():
    with pytest.raises(PermissionError, match="too large"):
        SandboxedEnvironment().evaluate("str(x) == ''", {"x": [[0] * 1000] * 1000 * 2})
    assert SandboxedEnvironment().evaluate("str(x) == '[[1]]' and x == [[1]]", {"x": [[1]]}) is True
