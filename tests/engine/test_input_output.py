"""``camunda:inputOutput`` (Camunda Modeler's "Inputs"/"Outputs" tab), run as Camunda 7 runs it: input
parameters are evaluated when the activity starts and become its local variables (its form's defaults, an
external task's variables, its script, the tasks of its embedded subprocess see them; the case does not),
what the activity sets under such a name stays local, and output parameters are evaluated in the
activity's local scope when it ends and set on the case. Delaktig refused every inputOutput at deploy.
Every step is its own transaction: the case is saved and loaded again between them."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from engine import clock
from engine.bpmn.compile import compile_bpmn
from engine.errors import ProcessError
from engine.external_tasks import TopicRequest
from engine.models import Outbox
from tests.engine.helpers import assert_reload_stable, open_tasks
from tests.engine.test_modeler_constructs import diagram, flow, task

START = {"initiativ": {"epost": "a@example.se", "handlaggare": "henrik"}, "arendetyp": "okänd"}


def io(*params: str) -> str:
    return f"<bpmn:extensionElements><camunda:inputOutput>{''.join(params)}</camunda:inputOutput></bpmn:extensionElements>"


def inp(name: str, value: str) -> str:
    return f'<camunda:inputParameter name="{name}">{value}</camunda:inputParameter>'


def out(name: str, value: str) -> str:
    return f'<camunda:outputParameter name="{name}">{value}</camunda:outputParameter>'


FORM = (
    "<camunda:formData>"
    '<camunda:formField id="svar" label="Svar" type="string" />'
    '<camunda:formField id="till" label="Till" type="string" defaultValue="${mottagare}" />'
    "</camunda:formData>"
)
MAPPING = io(
    inp("arendetyp", "medborgarförslag"),
    inp("mottagare", "${initiativ.epost}"),
    out("beslut", "${svar}"),
    out("typ", "${arendetyp}"),
    out("kopia", "${mottagare}"),
)


def _user_task_diagram(mapping: str = MAPPING) -> bytes:
    inner = mapping.replace("<camunda:inputOutput>", FORM + "<camunda:inputOutput>")
    return diagram(
        '<bpmn:startEvent id="S" />'
        + task("Granska", inner=inner)
        + task("Efter")
        + '<bpmn:endEvent id="E" />'
        + flow("F1", "S", "Granska")
        + flow("F2", "Granska", "Efter")
        + flow("F3", "Efter", "E"),
        pid="granskning",
    )


def test_a_user_task_s_inputs_are_its_own_and_its_outputs_reach_the_case(d):
    d.deploy(_user_task_diagram(), "g.bpmn", "anna")
    info = d.start_case("granskning", variables=START)
    assert info.variables == START  # the locals are not the case's: arendetyp is still the case's own
    [t] = open_tasks(d, info.id)  # the task's row carries them, for its form and REST variables
    assert t.form["variables"] == {"arendetyp": "medborgarförslag", "mottagare": "a@example.se"}
    assert_reload_stable(d, info.id)
    # The case variable changes while the task waits: the task keeps its local, the case gets the new value.
    info = d.set_variables(info.id, "anna", {"arendetyp": "ny"})
    assert info.variables == {**START, "arendetyp": "ny"}
    assert_reload_stable(d, info.id)
    [t] = open_tasks(d, info.id)
    # ``mottagare`` is submitted: it goes to the task's local variable, not to the case.
    info = d.complete_task(
        t.id,
        "hanna",
        {"svar": "bifall", "mottagare": "x@example.se"},
        roles={"handlaggare"},
        allow_extra=True,
    )
    assert info.variables == {
        **START,
        "arendetyp": "ny",  # the case's value, not the input's
        "svar": "bifall",
        "till": "a@example.se",  # the form default ${mottagare}: the input, evaluated at the start
        "beslut": "bifall",
        "typ": "medborgarförslag",  # evaluated in the task's scope
        "kopia": "x@example.se",  # what the completion set on the local
    }
    assert "mottagare" not in info.variables
    assert [t.element_id for t in open_tasks(d, info.id)] == ["Efter"]
    assert_reload_stable(d, info.id)


def test_without_a_case_variable_of_the_same_name_the_local_goes_at_the_end(d):
    d.deploy(_user_task_diagram(io(inp("arendetyp", "medborgarförslag"))), "g.bpmn", "anna")
    start = {"initiativ": START["initiativ"]}
    info = d.start_case("granskning", variables=start)
    assert info.variables == start
    [t] = open_tasks(d, info.id)
    info = d.complete_task(
        t.id, "hanna", {"svar": "ja", "arendetyp": "annat"}, roles={"handlaggare"}, allow_extra=True
    )
    assert info.variables == {**start, "svar": "ja", "till": None}  # no arendetyp: it was the task's
    assert_reload_stable(d, info.id)


def test_an_output_that_fails_refuses_the_completion_naming_the_task(d):
    d.deploy(_user_task_diagram(io(out("beslut", "${saknas}"))), "g.bpmn", "anna")
    info = d.start_case("granskning", variables=START)
    [t] = open_tasks(d, info.id)
    with pytest.raises(ProcessError) as refused:
        d.complete_task(t.id, "hanna", {"svar": "bifall"}, roles={"handlaggare"})
    assert refused.value.where == "Granska"
    assert "beslut" in str(refused.value) and "saknas" in str(refused.value)
    # Nothing stored: the task is still open and the case has no svar.
    assert [x.id for x in open_tasks(d, info.id)] == [t.id]
    assert d.set_variables(info.id, "anna", {}).variables == START
    assert_reload_stable(d, info.id)


def test_an_input_that_fails_refuses_the_step_naming_the_task(d):
    d.deploy(_user_task_diagram(io(inp("mottagare", "${saknas.epost}"))), "g.bpmn", "anna")
    with pytest.raises(ProcessError) as refused:
        d.start_case("granskning", variables=START)
    assert refused.value.where == "Granska" and "mottagare" in str(refused.value)


EXTERNAL = diagram(
    '<bpmn:startEvent id="S" />'
    '<bpmn:serviceTask id="Hamta" name="Hämta" camunda:type="external" camunda:topic="underlag">'
    + io(
        inp("arendetyp", "medborgarförslag"),
        inp("mottagare", "${initiativ.epost}"),
        out("resultat", "${svar}"),
        out("typ", "${arendetyp}"),
    )
    + "</bpmn:serviceTask>"
    + task("Efter")
    + '<bpmn:endEvent id="E" />'
    + flow("F1", "S", "Hamta")
    + flow("F2", "Hamta", "Efter")
    + flow("F3", "Efter", "E"),
    pid="extern",
)


def test_an_external_task_s_worker_sees_the_inputs_and_its_variables_meet_the_outputs(d):
    d.deploy(EXTERNAL, "x.bpmn", "anna")
    info = d.start_case("extern", variables=START)
    assert info.variables == START
    assert_reload_stable(d, info.id)
    [fetched] = d.fetch_and_lock("w", 5, [TopicRequest("underlag", 60_000)])
    assert fetched.variables == {**START, "arendetyp": "medborgarförslag", "mottagare": "a@example.se"}
    [local] = d.fetch_and_lock("w2", 5, [TopicRequest("underlag", 60_000, local_only=True)]) or [None]
    assert local is None  # (locked by w)
    info = d.complete_external_task(fetched.id, "w", "integ", {"svar": "klart", "arendetyp": "ändrad"})
    assert info.variables == {
        **START,  # arendetyp: the case's own; the worker's value went to the task's local
        "svar": "klart",
        "resultat": "klart",
        "typ": "ändrad",
    }
    assert [t.element_id for t in open_tasks(d, info.id)] == ["Efter"]
    assert_reload_stable(d, info.id)


def test_an_external_task_s_local_variables_are_its_inputs(d):
    d.deploy(EXTERNAL, "x.bpmn", "anna")
    d.start_case("extern", variables=START)
    [fetched] = d.fetch_and_lock("w", 5, [TopicRequest("underlag", 60_000, local_only=True)])
    assert fetched.variables == {"arendetyp": "medborgarförslag", "mottagare": "a@example.se"}


SCRIPT = diagram(
    '<bpmn:startEvent id="S" />'
    '<bpmn:scriptTask id="Rakna" scriptFormat="python">'
    + io(
        inp("n", "${antal}"),
        inp("lista", '<camunda:script scriptFormat="python">[antal, antal + 1]</camunda:script>'),
        out("resultat", "${n}"),
        out("summa", '<camunda:script scriptFormat="python">sum(lista) + n</camunda:script>'),
    )
    + "<bpmn:script>dubbelt = n * 2\nn = 99</bpmn:script></bpmn:scriptTask>"
    + task("Efter")
    + '<bpmn:endEvent id="E" />'
    + flow("F1", "S", "Rakna")
    + flow("F2", "Rakna", "Efter")
    + flow("F3", "Efter", "E"),
    pid="skript",
)


def test_a_script_task_reads_its_inputs_and_what_it_sets_on_a_local_stays_local(d):
    d.deploy(SCRIPT, "s.bpmn", "anna")
    info = d.start_case("skript", variables={"antal": 3, "n": 1})
    # dubbelt from the local n (3); the script's n = 99 went to the local, the case keeps n = 1.
    assert info.variables == {"antal": 3, "n": 1, "dubbelt": 6, "resultat": 99, "summa": 3 + 4 + 99}
    assert_reload_stable(d, info.id)


SUBPROCESS = diagram(
    '<bpmn:startEvent id="S" />'
    '<bpmn:subProcess id="Remiss">'
    + io(
        inp("granskare", "${initiativ.handlaggare}"), out("vem", "${granskare}"), out("yttrat", "${yttrande}")
    )
    + '<bpmn:startEvent id="IS" />'
    + task("Yttra", attrs='camunda:assignee="${granskare}"')
    + '<bpmn:endEvent id="IE" />'
    + flow("IF1", "IS", "Yttra")
    + flow("IF2", "Yttra", "IE")
    + "</bpmn:subProcess>"
    + task("Efter", attrs='camunda:assignee="${granskare}"')
    + '<bpmn:endEvent id="E" />'
    + flow("F1", "S", "Remiss")
    + flow("F2", "Remiss", "Efter")
    + flow("F3", "Efter", "E"),
    pid="remiss",
)


def test_an_embedded_subprocess_s_input_is_seen_by_the_tasks_inside_only(d):
    d.deploy(SUBPROCESS, "r.bpmn", "anna")
    start = {**START, "granskare": "nils"}
    info = d.start_case("remiss", variables=start)
    assert info.variables == start
    [inner] = open_tasks(d, info.id)
    assert (inner.element_id, inner.assignee) == ("Yttra", "henrik")  # the subprocess's local
    assert_reload_stable(d, info.id)
    info = d.complete_task(inner.id, "henrik", {"yttrande": "ok"}, allow_extra=True)
    assert info.variables == {**start, "yttrande": "ok", "vem": "henrik", "yttrat": "ok"}
    [after] = open_tasks(d, info.id)
    assert (after.element_id, after.assignee) == ("Efter", "nils")  # the case's own again
    assert_reload_stable(d, info.id)


MAIL = diagram(
    '<bpmn:startEvent id="S" />'
    '<bpmn:sendTask id="Meddela" name="Meddela">'
    "<bpmn:documentation>Ärendetyp: {{ arendetyp }}</bpmn:documentation>"
    + io(inp("arendetyp", "medborgarförslag"), inp("mottagare", "${initiativ.epost}")).replace(
        "<camunda:inputOutput>",
        '<camunda:properties><camunda:property name="mailTo" value="var:mottagare" /></camunda:properties>'
        "<camunda:inputOutput>",
    )
    + "</bpmn:sendTask>"
    + task("Efter")
    + '<bpmn:endEvent id="E" />'
    + flow("F1", "S", "Meddela")
    + flow("F2", "Meddela", "Efter")
    + flow("F3", "Efter", "E"),
    pid="meddela",
)


def test_a_send_task_mails_with_its_inputs(d):
    d.deploy(MAIL, "m.bpmn", "anna")
    info = d.start_case("meddela", variables=START)
    assert info.variables == START
    with d.session() as s:
        [mail] = s.execute(sa.select(Outbox).where(Outbox.case_id == info.id)).scalars()
    assert mail.payload["to"] == "a@example.se"
    assert mail.payload["body"].strip() == "Ärendetyp: medborgarförslag"


NESTED = diagram(
    '<bpmn:startEvent id="S" />'
    '<bpmn:subProcess id="Remiss">'
    + io(inp("granskare", "${initiativ.handlaggare}"))
    + '<bpmn:startEvent id="IS" />'
    + task("Yttra", attrs='camunda:assignee="${granskare}"', inner=io(inp("granskare", "hanna")))
    + task("Andra", attrs='camunda:assignee="${granskare}"')
    + '<bpmn:endEvent id="IE" />'
    + flow("IF1", "IS", "Yttra")
    + flow("IF2", "Yttra", "Andra")
    + flow("IF3", "Andra", "IE")
    + "</bpmn:subProcess>"
    + task("Efter", attrs='camunda:assignee="${granskare}"')
    + '<bpmn:endEvent id="E" />'
    + flow("F1", "S", "Remiss")
    + flow("F2", "Remiss", "Efter")
    + flow("F3", "Efter", "E"),
    pid="nastlad",
)


def test_a_task_s_input_inside_a_subprocess_with_the_same_input_shadows_the_subprocess_s(d):
    """Three values of ``granskare`` at once: the case's, the subprocess's local, the inner task's local.
    A change of the case variable meanwhile reaches only the case's."""
    d.deploy(NESTED, "n.bpmn", "anna")
    start = {**START, "granskare": "nils"}
    info = d.start_case("nastlad", variables=start)
    [yttra] = open_tasks(d, info.id)
    assert (yttra.element_id, yttra.assignee) == ("Yttra", "hanna")
    info = d.set_variables(info.id, "anna", {"granskare": "anders"})
    assert info.variables == {**start, "granskare": "anders"}
    assert_reload_stable(d, info.id)
    info = d.complete_task(yttra.id, "hanna", {})
    assert info.variables == {**start, "granskare": "anders"}
    [andra] = open_tasks(d, info.id)
    assert (andra.element_id, andra.assignee) == ("Andra", "henrik")  # the subprocess's, not the case's
    info = d.complete_task(andra.id, "henrik", {})
    [efter] = open_tasks(d, info.id)
    assert (efter.element_id, efter.assignee) == ("Efter", "anders")
    assert info.variables == {**start, "granskare": "anders"}
    assert_reload_stable(d, info.id)


TIMED = diagram(
    '<bpmn:startEvent id="S" />'
    + task("Granska", inner=io(inp("arendetyp", "medborgarförslag")))
    + '<bpmn:boundaryEvent id="Frist" attachedToRef="Granska"><bpmn:timerEventDefinition>'
    '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">PT1H</bpmn:timeDuration>'
    "</bpmn:timerEventDefinition></bpmn:boundaryEvent>"
    + task("Paminn", inner=io(out("sedd", "${arendetyp}")))
    + '<bpmn:endEvent id="E1" /><bpmn:endEvent id="E2" />'
    + flow("F1", "S", "Granska")
    + flow("F2", "Granska", "E1")
    + flow("F3", "Frist", "Paminn")
    + flow("F4", "Paminn", "E2"),
    pid="frist",
)


def test_an_interrupting_boundary_event_leaves_the_task_s_locals_behind(d):
    d.deploy(TIMED, "t.bpmn", "anna")
    info = d.start_case("frist", variables=START)
    clock.set(clock.now() + timedelta(hours=2))
    assert d.wake_due_cases() == 1
    [paminn] = open_tasks(d, info.id)
    assert paminn.element_id == "Paminn"
    assert_reload_stable(d, info.id)
    info = d.complete_task(paminn.id, "hanna", {}, roles={"handlaggare"})
    assert info.variables == {**START, "sedd": "okänd"}  # the case's arendetyp, not Granska's local


def test_an_output_named_like_an_input_sets_the_case_variable(d):
    d.deploy(
        _user_task_diagram(io(inp("arendetyp", "medborgarförslag"), out("arendetyp", "${arendetyp}"))),
        "g.bpmn",
        "anna",
    )
    info = d.start_case("granskning", variables=START)
    assert info.variables == START
    [t] = open_tasks(d, info.id)
    info = d.complete_task(t.id, "hanna", {"svar": "ja"}, roles={"handlaggare"})
    assert info.variables == {**START, "arendetyp": "medborgarförslag", "svar": "ja", "till": None}
    assert_reload_stable(d, info.id)


def _refused(body: str) -> list[tuple[str, str]]:
    return [(p.where, p.message) for p in compile_bpmn(diagram(body)).problems]


S, E = '<bpmn:startEvent id="S" />', '<bpmn:endEvent id="E" />'
ONE_INPUT = io(inp("x", "${a}"))

REFUSED = {
    "gateway": (
        S
        + f'<bpmn:exclusiveGateway id="Gw">{ONE_INPUT}</bpmn:exclusiveGateway>'
        + E
        + flow("F1", "S", "Gw")
        + flow("F2", "Gw", "E"),
        "Gw",
        "not allowed on a bpmn:exclusiveGateway (Camunda 7 refuses it too)",
    ),
    "start event": (
        f'<bpmn:startEvent id="S">{ONE_INPUT}</bpmn:startEvent>' + E + flow("F1", "S", "E"),
        "S",
        "not allowed on a bpmn:startEvent",
    ),
    "intermediate event": (
        S
        + f'<bpmn:intermediateThrowEvent id="T">{ONE_INPUT}</bpmn:intermediateThrowEvent>'
        + E
        + flow("F1", "S", "T")
        + flow("F2", "T", "E"),
        "T",
        "inputOutput on a bpmn:intermediateThrowEvent is not supported",
    ),
    "call activity": (
        S
        + f'<bpmn:callActivity id="C" calledElement="p">{ONE_INPUT}</bpmn:callActivity>'
        + E
        + flow("F1", "S", "C")
        + flow("F2", "C", "E"),
        "C",
        "inputOutput on a call activity is not supported",
    ),
    "multi-instance": (
        S
        + task(
            "M",
            inner=ONE_INPUT + '<bpmn:multiInstanceLoopCharacteristics camunda:collection="${l}" '
            'camunda:elementVariable="e" />',
        )
        + E
        + flow("F1", "S", "M")
        + flow("F2", "M", "E"),
        "M",
        "multi-instance activity is not supported",
    ),
    "event subprocess": (
        S
        + task("T")
        + E
        + flow("F1", "S", "T")
        + flow("F2", "T", "E")
        + f'<bpmn:subProcess id="Ev" triggeredByEvent="true">{ONE_INPUT}'
        '<bpmn:startEvent id="ES"><bpmn:messageEventDefinition messageRef="M" /></bpmn:startEvent>'
        '<bpmn:endEvent id="EE" />' + flow("EF", "ES", "EE") + "</bpmn:subProcess>",
        "Ev",
        "not allowed on an event subprocess",
    ),
    "javascript": (
        S
        + task("T", inner=io(inp("x", '<camunda:script scriptFormat="javascript">1</camunda:script>')))
        + E
        + flow("F1", "S", "T")
        + flow("F2", "T", "E"),
        "T",
        "camunda:inputParameter 'x': script format 'javascript' is not supported",
    ),
    "python statements": (
        S
        + task("T", inner=io(out("x", '<camunda:script scriptFormat="python">y = 1</camunda:script>')))
        + E
        + flow("F1", "S", "T")
        + flow("F2", "T", "E"),
        "T",
        "camunda:outputParameter 'x': a Python script parameter must be one expression",
    ),
    "map": (
        S
        + task("T", inner=io(inp("x", '<camunda:map><camunda:entry key="a">b</camunda:entry></camunda:map>')))
        + E
        + flow("F1", "S", "T")
        + flow("F2", "T", "E"),
        "T",
        "camunda:inputParameter 'x': list and map values are not supported",
    ),
    "text around an expression": (
        S + task("T", inner=io(inp("x", "Hej ${namn}"))) + E + flow("F1", "S", "T") + flow("F2", "T", "E"),
        "T",
        "camunda:inputParameter 'x': 'Hej ${namn}' cannot be used",
    ),
    "a bad name": (
        S + task("T", inner=io(inp("_x", "1"))) + E + flow("F1", "S", "T") + flow("F2", "T", "E"),
        "T",
        "'_x' is not a possible variable name",
    ),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_what_cannot_run_is_refused_naming_the_element(case):
    body, element, message = REFUSED[case]
    problems = _refused(body)
    assert any(eid == element and message in text for eid, text in problems), problems


def test_a_user_task_s_mapping_deploys_without_problems():
    assert compile_bpmn(_user_task_diagram()).problems == []
    assert compile_bpmn(SUBPROCESS).problems == []
