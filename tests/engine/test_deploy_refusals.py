"""What Delaktig cannot run as Camunda 7 would is refused at deploy, naming the element and why; what it
runs, it runs as Camunda does. Found by an attack on Camunda-Modeler-made diagrams (probe 8, F3–F16),
with the sandbox's guards against one-step resource exhaustion (F7)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

import pytest

from engine import clock
from engine.bpmn.compile import compile_bpmn
from engine.errors import ProcessError
from engine.models import Case
from tests.conftest import count
from tests.engine.helpers import assert_reload_stable, open_tasks
from tests.engine.test_cli import run
from tests.engine.test_modeler_constructs import diagram, flow, task

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def problems(xml: bytes) -> list[tuple[str, str]]:
    return [(p.where, p.message) for p in compile_bpmn(xml, "r.bpmn").problems]


def script_task(tid: str, script: str) -> str:
    return f'<bpmn:scriptTask id="{tid}" scriptFormat="python"><bpmn:script>{escape(script)}</bpmn:script></bpmn:scriptTask>'


def condition(fid: str, source: str, target: str, text: str) -> str:
    return (
        f'<bpmn:sequenceFlow id="{fid}" sourceRef="{source}" targetRef="{target}">'
        f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{escape(text)}</bpmn:conditionExpression>'
        "</bpmn:sequenceFlow>"
    )


def straight(*middle: str) -> str:
    """S → the middle elements (ids A, B, …, in order) → E."""
    ids = [m.split('id="')[1].split('"')[0] for m in middle]
    chain = ["S", *ids, "E"]
    return (
        '<bpmn:startEvent id="S" />'
        + "".join(middle)
        + '<bpmn:endEvent id="E" />'
        + "".join(flow(f"f{i}", a, b) for i, (a, b) in enumerate(zip(chain, chain[1:], strict=False)))
    )


# --- F7: one operation that would build a huge value is refused before it runs -------------------------

HUGE = [
    "x = 10 ** 10 ** 8",
    "x = [0] * 10 ** 8",
    "x = 10 ** 8 * 'a'",
    "x = 1 << 10 ** 10",
    "x = pow(10, 10 ** 8)",
    "x = 2\nx **= 10 ** 8",
    "x = [0] * 1000\nx *= 10 ** 8",
    "x = 'x'.ljust(10 ** 9)",
    "x = 'x'.center(10 ** 9)",
    "x = '1'.zfill(10 ** 9)",
    "x = '\\t'.expandtabs(10 ** 9)",
    "x = f'{1:>1000000000}'",
    "n = 10 ** 9\nx = f'{1:>{n}}'",
    "x = f'{1.5:.1000000000f}'",
    "x = '%*d' % (10 ** 9, 1)",
    "x = '%1000000000d' % 1",
    "x = 'a' * 10 ** 6\ny = x.replace('a', x)",
    "x = [0] * 10 ** 6\nfor i in range(20):\n    x = x + x",
    "x = [0] * 10 ** 6\nfor i in range(20):\n    x.extend(x)",
    "x = sum([[0] * 1000] * 100000, [])",
    "x = [[0] * 10 ** 6] * 100",  # a list shared 100 times is stored 100 times
]


@pytest.mark.parametrize("script", HUGE)
def test_a_script_building_a_huge_value_fails_at_once_naming_the_task(d, script):
    """``10 ** 10 ** 8`` ran for minutes and ``[0] * 10**8`` was stored: the time limit cannot interrupt
    one C-level operation."""
    d.deploy(diagram(straight(script_task("Skript", script)), pid="stor"), "stor.bpmn", "anna")
    started = time.monotonic()
    with pytest.raises(ProcessError) as failed:
        d.start_case("stor")
    assert time.monotonic() - started < 10
    assert failed.value.where == "Skript" and "too large" in str(failed.value)
    assert count(d, Case) == 0


def test_a_condition_building_a_huge_value_fails_naming_the_gateway(d):
    body = (
        '<bpmn:startEvent id="S" /><bpmn:exclusiveGateway id="Gw" default="f3" />'
        + task("A")
        + '<bpmn:endEvent id="E" />'
        + flow("f1", "S", "Gw")
        + condition("f2", "Gw", "A", "len('a' * n) > 3")
        + flow("f3", "Gw", "E")
        + flow("f4", "A", "E")
    )
    d.deploy(diagram(body, pid="villkor"), "v.bpmn", "anna")
    with pytest.raises(ProcessError) as failed:
        d.start_case("villkor", variables={"n": 10**9})
    assert failed.value.where == "Gw" and "too large" in str(failed.value)
    assert d.start_case("villkor", variables={"n": 5}).status == "active"


def test_ordinary_uses_of_the_guarded_operators_still_run(d):
    script = (
        "a = 2 ** 10\nb = '-' * 40\nc = [0] * 100\nd = 1 << 20\ne = '%5d|%-3s|%%|%*d' % (3, 'x', 4, 7)\n"
        "f = f'{3.14159:.2f}|{7:>5}'\ng = 'a'.ljust(5) + 'b'.zfill(3)\nh = pow(2, 10, 1000)\n"
        "i = [1] + [2]\ni += [3]\nk = 5\nk *= 3\nk **= 2\nm = sum([[1], [2]], [])\nn = 2.5 ** 2\no = 2 ** -2\n"
        "p = (datetime(2026, 1, 30) + timedelta(days=3)).date().isoformat()"
    )
    d.deploy(diagram(straight(script_task("Skript", script)), pid="vanlig"), "vanlig.bpmn", "anna")
    started = time.monotonic()
    info = d.start_case("vanlig")
    assert time.monotonic() - started < 5
    assert info.variables == {
        "a": 1024, "b": "-" * 40, "c": [0] * 100, "d": 1048576, "e": "    3|x  |%|   7",
        "f": "3.14|    7", "g": "a    00b", "h": 24, "i": [1, 2, 3], "k": 225, "m": [1, 2], "n": 6.25,
        "o": 0.25, "p": "2026-02-02",
    }  # fmt: skip


# --- F3: an interrupting cycle timer fires once and interrupts ---------------------------------------


def _beslut(timer: str, cancel: str = "") -> bytes:
    return diagram(
        '<bpmn:startEvent id="S" />'
        + task("Beslut")
        + f'<bpmn:boundaryEvent id="Frist" attachedToRef="Beslut" {cancel}><bpmn:timerEventDefinition>'
        f'<bpmn:timeCycle xsi:type="bpmn:tFormalExpression">{timer}</bpmn:timeCycle>'
        "</bpmn:timerEventDefinition></bpmn:boundaryEvent>"
        + task("Forsenad")
        + '<bpmn:endEvent id="E" /><bpmn:endEvent id="E2" />'
        + flow("f1", "S", "Beslut")
        + flow("f2", "Beslut", "E")
        + flow("f3", "Frist", "Forsenad")
        + flow("f4", "Forsenad", "E2"),
        pid="cykel",
    )


def test_an_interrupting_cycle_timer_fires_once_and_cancels_its_activity(d):
    """SpiffWorkflow fired it every cycle (three "Forsenad" tasks) and never cancelled "Beslut"."""
    clock.set(T0)
    d.deploy(_beslut("R3/PT1H"), "cykel.bpmn", "anna")
    info = d.start_case("cykel")
    assert [t.element_id for t in open_tasks(d, info.id)] == ["Beslut"]
    for hours in (1, 2, 3, 4):
        clock.set(T0 + timedelta(hours=hours, minutes=1))
        d.wake_due_cases()
        assert [t.element_id for t in open_tasks(d, info.id)] == ["Forsenad"]
    with d.session() as s:
        assert s.get(Case, info.id).next_timer_at is None
    assert_reload_stable(d, info.id)


def test_a_non_interrupting_cycle_timer_still_fires_every_cycle(d):
    clock.set(T0)
    d.deploy(_beslut("R2/PT1H", 'cancelActivity="false"'), "cykel.bpmn", "anna")
    info = d.start_case("cykel")
    for hours in (1, 2, 3):
        clock.set(T0 + timedelta(hours=hours, minutes=1))
        d.wake_due_cases()
    assert [t.element_id for t in open_tasks(d, info.id)] == ["Beslut", "Forsenad", "Forsenad"]


@pytest.mark.parametrize("timer", ["R3/2026-03-02T09:00:00+01:00/PT1H", "${cykel}", "R0/PT1H"])
def test_an_interrupting_cycle_timer_without_a_plain_first_due_time_is_refused(timer):
    [(where, message)] = problems(_beslut(timer))
    assert where == "Frist" and "interrupting" in message and "fires once" in message


# --- structure Camunda 7 refuses or never runs (F4, F8–F15) ------------------------------------------


def _gateway(outgoing: str, default: str = "") -> bytes:
    return diagram(
        '<bpmn:startEvent id="S" />'
        + f'<bpmn:exclusiveGateway id="Gw" {default} />'
        + task("A")
        + task("B")
        + '<bpmn:endEvent id="E" />'
        + flow("f0", "S", "Gw")
        + outgoing
        + flow("fa", "A", "E")
        + flow("fb", "B", "E"),
        pid="gw",
    )


REFUSED = {
    "gateway_without_outgoing_flow": (_gateway(""), "Gw", "no outgoing sequence flow"),
    "inclusive_gateway_without_outgoing_flow": (
        _gateway("").replace(b"exclusiveGateway", b"inclusiveGateway"),
        "Gw",
        "no outgoing sequence flow",
    ),
    "single_conditional_flow_without_default": (
        _gateway(condition("f1", "Gw", "A", "${x == 1}")),
        "Gw",
        "do not cover every case",
    ),
    "single_conditional_flow_of_an_inclusive_gateway": (
        _gateway(condition("f1", "Gw", "A", "${x == 1}")).replace(b"exclusiveGateway", b"inclusiveGateway"),
        "Gw",
        "do not cover every case",
    ),
    "default_that_is_not_an_outgoing_flow": (
        _gateway(condition("f1", "Gw", "A", "${x == 1}") + flow("f2", "Gw", "B"), 'default="f0"'),
        "Gw",
        "default flow 'f0' is not an outgoing sequence flow",
    ),
    "two_none_start_events": (
        diagram(
            '<bpmn:startEvent id="S1" /><bpmn:startEvent id="S2" />'
            + task("A")
            + task("B")
            + '<bpmn:endEvent id="E" />'
            + flow("f1", "S1", "A")
            + flow("f2", "S2", "B")
            + flow("f3", "A", "E")
            + flow("f4", "B", "E")
        ),
        "S2",
        "2 none start events",
    ),
    "end_event_with_an_outgoing_flow": (
        diagram(
            '<bpmn:startEvent id="S" /><bpmn:endEvent id="E" />'
            + task("A")
            + '<bpmn:endEvent id="E2" />'
            + flow("f1", "S", "E")
            + flow("f2", "E", "A")
            + flow("f3", "A", "E2")
        ),
        "E",
        "end event ends its path",
    ),
    "start_event_with_incoming_flow": (
        diagram(
            '<bpmn:startEvent id="S" />'
            + task("A")
            + '<bpmn:endEvent id="E" />'
            + flow("f1", "S", "A")
            + flow("f2", "A", "S")
            + flow("f3", "A", "E")
        ),
        "S",
        "start event begins its path",
    ),
    "loop_marker": (
        diagram(
            straight(
                task(
                    "Upprepa",
                    inner='<bpmn:standardLoopCharacteristics><bpmn:loopCondition xsi:type="bpmn:tFormalExpression">'
                    "${klar == false}</bpmn:loopCondition></bpmn:standardLoopCharacteristics>",
                )
            )
        ),
        "Upprepa",
        "standardLoopCharacteristics",
    ),
    "loop_marker_without_condition": (
        diagram(straight(task("Upprepa", inner="<bpmn:standardLoopCharacteristics />"))),
        "Upprepa",
        "Camunda 7 does not run standard loops",
    ),
    "message_name_with_an_expression": (
        diagram(
            straight('<bpmn:receiveTask id="Vanta" messageRef="M" />'),
            extra='<bpmn:message id="M" name="svar_${diarienr}" />',
        ),
        "Vanta",
        "message names with expressions are not supported",
    ),
    "message_event_with_an_expression_name": (
        diagram(
            straight(
                '<bpmn:intermediateCatchEvent id="Svar"><bpmn:messageEventDefinition messageRef="M" />'
                "</bpmn:intermediateCatchEvent>"
            ),
            extra='<bpmn:message id="M" name="svar_#{diarienr}" />',
        ),
        "Svar",
        "message names with expressions are not supported",
    ),
    "enum_field_read_as_a_boolean": (
        diagram(
            '<bpmn:startEvent id="S" />'
            + task(
                "Prova",
                inner='<bpmn:extensionElements><camunda:formData><camunda:formField id="godkand" label="Godkänd?" '
                'type="enum"><camunda:value id="true" name="Ja" /><camunda:value id="false" name="Nej" />'
                "</camunda:formField></camunda:formData></bpmn:extensionElements>",
            )
            + '<bpmn:exclusiveGateway id="Gw" default="f_nej" />'
            + task("Bevilja")
            + task("Avsla")
            + '<bpmn:endEvent id="E" />'
            + flow("f1", "S", "Prova")
            + flow("f2", "Prova", "Gw")
            + condition("f_ja", "Gw", "Bevilja", "${godkand}")
            + flow("f_nej", "Gw", "Avsla")
            + flow("f3", "Bevilja", "E")
            + flow("f4", "Avsla", "E")
        ),
        "f_ja",
        "write ${godkand == 'true'}",
    ),
}


def _calling(attrs: str, called: str = "kallad") -> bytes:
    return diagram(
        straight(f'<bpmn:callActivity id="Anrop" calledElement="{called}" {attrs} />'),
        pid="anropar",
        extra='<bpmn:process id="kallad" isExecutable="true"><bpmn:startEvent id="KS" /><bpmn:endEvent id="KE" />'
        + flow("k1", "KS", "KE")
        + "</bpmn:process>",
    )


REFUSED.update(
    {
        "call_of_an_expression": (_calling("", "${vilken}"), "Anrop", "expressions are not supported"),
        "call_of_a_process_not_in_the_file": (
            _calling("", "finns_inte"),
            "Anrop",
            "'finns_inte' is not an executable process of this file",
        ),
        "call_by_version": (
            _calling('camunda:calledElementBinding="version" camunda:calledElementVersion="3"'),
            "Anrop",
            "calledElementBinding 'version' is not supported",
        ),
        "call_by_version_tag": (
            _calling('camunda:calledElementBinding="versionTag" camunda:calledElementVersionTag="v2"'),
            "Anrop",
            "calledElementBinding 'versionTag' is not supported",
        ),
        "call_with_a_version_only": (
            _calling('camunda:calledElementVersion="3"'),
            "Anrop",
            "calledElementVersion is not supported",
        ),
    }
)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_at_deploy_naming_the_element(name):
    xml, where, says = REFUSED[name]
    found = problems(xml)
    assert [w for w, _ in found] == [where], found
    assert says in found[0][1]


def test_the_command_line_names_file_and_element_without_a_traceback(db_url, tmp_path):
    for name in ("gateway_without_outgoing_flow", "call_of_an_expression", "message_name_with_an_expression"):
        xml, where, says = REFUSED[name]
        path = tmp_path / f"{name}.bpmn"
        path.write_bytes(xml)
        linted = run(db_url, "lint", str(path))
        assert linted.returncode == 1, linted
        assert (
            f"{name}.bpmn" in linted.stderr + linted.stdout and f"{where}:" in linted.stderr + linted.stdout
        )
        assert says in linted.stderr + linted.stdout and "Traceback" not in linted.stderr


def test_what_is_still_accepted():
    ok = {
        "merge_gateway_with_one_plain_flow": _gateway(flow("f1", "Gw", "A") + flow("f2", "A", "B")),
        "call_by_deployment_binding": _calling('camunda:calledElementBinding="deployment"'),
        "call_by_latest_binding": _calling('camunda:calledElementBinding="latest"'),
        "message_start_beside_a_none_start": diagram(
            '<bpmn:startEvent id="S1" /><bpmn:startEvent id="S2"><bpmn:messageEventDefinition messageRef="M" />'
            "</bpmn:startEvent>"
            + task("A")
            + '<bpmn:endEvent id="E" />'
            + flow("f1", "S1", "A")
            + flow("f2", "S2", "A")
            + flow("f3", "A", "E"),
            extra='<bpmn:message id="M" name="in" />',
        ),
        "none_start_in_a_subprocess_beside_the_process_start": diagram(
            straight(
                '<bpmn:subProcess id="Sub"><bpmn:startEvent id="SS" /><bpmn:endEvent id="SE" />'
                + flow("s1", "SS", "SE")
                + "</bpmn:subProcess>"
            )
        ),
        "message_throw_with_an_expression_name": diagram(  # (a throw passes on; no one waits for it)
            '<bpmn:startEvent id="S" /><bpmn:endEvent id="E"><bpmn:messageEventDefinition messageRef="M" />'
            "</bpmn:endEvent>" + flow("f1", "S", "E"),
            extra='<bpmn:message id="M" name="klar_${diarienr}" />',
        ),
        "enum_field_compared_with_a_text": REFUSED["enum_field_read_as_a_boolean"][0].replace(
            b"${godkand}", b"${godkand == 'true'}"
        ),
    }
    assert {name: problems(xml) for name, xml in ok.items()} == {name: [] for name in ok}


# --- run-time errors name the element and the modeller's expression (F12, F16) -----------------------


def _enum_gateway() -> bytes:
    """Conditions that cover the enum field's values, so deploy accepts the gateway without a default."""
    return diagram(
        '<bpmn:startEvent id="S" /><bpmn:exclusiveGateway id="Gw" />'
        + task("A")
        + task(
            "B",
            inner='<bpmn:extensionElements><camunda:formData><camunda:formField id="typ" type="enum">'
            '<camunda:value id="a" /><camunda:value id="b" /></camunda:formField></camunda:formData>'
            "</bpmn:extensionElements>",
        )
        + '<bpmn:endEvent id="E" />'
        + flow("f0", "S", "Gw")
        + condition("f1", "Gw", "A", "${typ == 'a'}")
        + condition("f2", "Gw", "B", "${typ == 'b'}")
        + flow("fa", "A", "E")
        + flow("fb", "B", "E"),
        pid="val",
    )


def test_no_condition_satisfied_at_run_time_names_the_gateway(d):
    d.deploy(_enum_gateway(), "val.bpmn", "anna")
    with pytest.raises(ProcessError) as failed:
        d.start_case("val", variables={"typ": "c"})  # (a start variable is no form submit)
    assert failed.value.where == "Gw" and "No conditions satisfied" in str(failed.value)
    assert count(d, Case) == 0


def test_a_condition_reading_an_unset_variable_names_it_and_shows_the_modellers_expression(d):
    body = (
        '<bpmn:startEvent id="S" /><bpmn:exclusiveGateway id="Gw" default="f3" />'
        + task("A")
        + '<bpmn:endEvent id="E" />'
        + flow("f1", "S", "Gw")
        + condition("f2", "Gw", "A", "${belopp > 1000}")
        + flow("f3", "Gw", "E")
        + flow("f4", "A", "E")
    )
    d.deploy(diagram(body, pid="belopp"), "b.bpmn", "anna")
    with pytest.raises(ProcessError) as failed:
        d.start_case("belopp")
    assert failed.value.where == "Gw"
    assert "variable 'belopp' is not set (evaluating ${belopp > 1000})" in str(failed.value)
    assert "juel_" not in str(failed.value)


def test_a_timer_reading_an_unset_variable_names_it(d):
    body = straight(
        '<bpmn:intermediateCatchEvent id="Tid"><bpmn:timerEventDefinition>'
        '<bpmn:timeDate xsi:type="bpmn:tFormalExpression">${dueDate}</bpmn:timeDate>'
        "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
    )
    d.deploy(diagram(body, pid="tid"), "t.bpmn", "anna")
    with pytest.raises(ProcessError) as failed:
        d.start_case("tid")
    assert failed.value.where == "Tid" and "variable 'dueDate' is not set" in str(failed.value)


_COLLABORATION = (
    '<bpmn:collaboration id="C"><bpmn:participant id="P1" name="Kommunen" processRef="kommunen" />'
    '<bpmn:participant id="P2" name="Medborgaren" processRef="medborgaren" /></bpmn:collaboration>'
)


@pytest.mark.parametrize(
    "sketch",
    [
        '<bpmn:startEvent id="MS" /><bpmn:task id="MT" /><bpmn:exclusiveGateway id="MG" />'
        + flow("MF1", "MS", "MT")
        + flow("MF2", "MT", "MG"),
        '<bpmn:startEvent id="MS1" /><bpmn:startEvent id="MS2" /><bpmn:task id="MT" />'
        + flow("MF1", "MS1", "MT")
        + flow("MF2", "MS2", "MT"),
        '<bpmn:startEvent id="MS" /><bpmn:task id="MT"><bpmn:standardLoopCharacteristics /></bpmn:task>'
        + flow("MF1", "MS", "MT"),
        '<bpmn:startEvent id="MS" /><bpmn:callActivity id="MC" calledElement="e_tjanst" />'
        + flow("MF1", "MS", "MC"),
        '<bpmn:startEvent id="MS" /><bpmn:userTask id="MU" /><bpmn:endEvent id="ME" />'
        + flow("MF1", "MS", "MU")
        + flow("MF2", "MU", "ME"),
    ],
)
def test_a_pool_drawn_for_documentation_is_neither_checked_nor_run(sketch):
    """Camunda 7 runs the executable processes of a collaboration and keeps the others as drawn: the
    citizen's pool beside the municipality's is a sketch (no lanes, unfinished flows), not a refusal."""
    body = (
        _COLLABORATION
        + '<bpmn:process id="kommunen" isExecutable="true"><bpmn:startEvent id="S" />'
        + task("Granska")
        + '<bpmn:endEvent id="E" />'
        + flow("F1", "S", "Granska")
        + flow("F2", "Granska", "E")
        + "</bpmn:process>"
        + f'<bpmn:process id="medborgaren" isExecutable="false">{sketch}</bpmn:process>'
    )
    xml = diagram("", pid="unused").decode()
    start, end = xml.index('<bpmn:process id="unused"'), xml.index("</bpmn:process>") + len("</bpmn:process>")
    compiled = compile_bpmn((xml[:start] + body + xml[end:]).encode(), "samverkan.bpmn")
    assert compiled.problems == [] and compiled.process_ids == ["kommunen"]
