"""The sandbox through the engine: unsafe diagrams are refused at deploy; run-time limits roll back."""

from __future__ import annotations

import time

import pytest

from engine.errors import ProcessError, ValidationFailed
from engine.models import Case
from tests.conftest import count
from tests.engine.test_deploy import bpmn

ATTACKS = [
    "__import__('os').system('touch /tmp/pwned')",
    "open('/etc/passwd').read()",
    "().__class__.__base__.__subclasses__()",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_attacks_are_refused_at_deploy_in_script_condition_and_timer(d, attack):
    script = f"""<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="x"/>
      <bpmn:scriptTask id="x" scriptFormat="python"><bpmn:script>y = {attack}</bpmn:script></bpmn:scriptTask>
      <bpmn:sequenceFlow id="f2" sourceRef="x" targetRef="e"/><bpmn:endEvent id="e"/>"""
    condition = f"""<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="g"/>
      <bpmn:exclusiveGateway id="g" default="f3"/>
      <bpmn:sequenceFlow id="f2" sourceRef="g" targetRef="e"><bpmn:conditionExpression>{attack}</bpmn:conditionExpression></bpmn:sequenceFlow>
      <bpmn:sequenceFlow id="f3" sourceRef="g" targetRef="e"/><bpmn:endEvent id="e"/>"""
    timer = f"""<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="t"/>
      <bpmn:intermediateCatchEvent id="t"><bpmn:timerEventDefinition><bpmn:timeDuration>{attack}</bpmn:timeDuration>
      </bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
      <bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e"/><bpmn:endEvent id="e"/>"""
    for body, element in ((script, "x"), (condition, "f2"), (timer, "t")):
        try:
            d.deploy(bpmn(body.replace("'", "&apos;")), "attack.bpmn", "mallory")
        except ValidationFailed as err:  # refused statically (dunder access, import)
            assert [p.where for p in err.problems] == [element]
            continue
        # Compiles (a plain name like open), so it must be refused when it runs — and nothing is stored.
        with pytest.raises(ProcessError) as run_err:
            d.start_case("p")
        assert "PermissionError" in str(run_err.value) or "not allowed" in str(run_err.value)
        assert count(d, Case) == 0


def test_endless_loop_is_stopped_and_nothing_is_stored(d):
    body = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="x"/>
      <bpmn:scriptTask id="x" scriptFormat="python"><bpmn:script>while True:
    n = 1</bpmn:script></bpmn:scriptTask>
      <bpmn:sequenceFlow id="f2" sourceRef="x" targetRef="e"/><bpmn:endEvent id="e"/>"""
    d.deploy(bpmn(body), "loop.bpmn", "anna")
    with pytest.raises(ProcessError) as err:
        d.start_case("p")
    assert err.value.where == "x"
    assert count(d, Case) == 0


def test_legitimate_script_with_dates_and_comprehensions(d):
    body = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="x"/>
      <bpmn:scriptTask id="x" scriptFormat="python"><bpmn:script>total = sum([p['n'] for p in poster if p['n'] &gt; 1])
deadline = (datetime(2026, 1, 30) + timedelta(days=3)).date().isoformat()
many = len(poster) &gt;= 2</bpmn:script></bpmn:scriptTask>
      <bpmn:sequenceFlow id="f2" sourceRef="x" targetRef="e"/><bpmn:endEvent id="e"/>"""
    d.deploy(bpmn(body), "ok.bpmn", "anna")
    info = d.start_case("p", variables={"poster": [{"n": 1}, {"n": 2}, {"n": 5}]})
    assert info.status == "completed"
    assert (info.variables["total"], info.variables["deadline"], info.variables["many"]) == (
        7,
        "2026-02-02",
        True,
    )


def test_a_script_walking_a_huge_shared_structure_fails_at_once_naming_the_task(d):
    """``str(x)`` of a list doubled sixty times (120 items in memory, 2**60 to walk) ran in C holding the GIL:
    the time limit never fired and every other request of the web process stalled. Now it is refused
    before the walk, the step fails naming the script task, and nothing is stored."""
    body = """<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="x"/>
      <bpmn:scriptTask id="x" scriptFormat="python"><bpmn:script>x = [0]
for i in range(60):
    x = [x, x]
text = str(x)</bpmn:script></bpmn:scriptTask>
      <bpmn:sequenceFlow id="f2" sourceRef="x" targetRef="e"/><bpmn:endEvent id="e"/>"""
    d.deploy(bpmn(body), "walk.bpmn", "anna")
    started = time.monotonic()
    with pytest.raises(ProcessError) as err:
        d.start_case("p")
    assert time.monotonic() - started < 30  # (it never ended before)
    assert err.value.where == "x" and "too large" in str(err.value)
    assert count(d, Case) == 0
