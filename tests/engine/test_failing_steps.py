"""A case whose step fails: the step is rolled back with an error naming the element (never a bare Python
error, an HTTP 500), and a case whose due timers cannot fire does not stop any other case's timers.
Found by an attack on Camunda-Modeler-made diagrams (probe 8)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from engine import clock, timers
from engine.errors import ProcessError
from engine.models import AuditEvent, Case
from engine.runtime import MAX_CASE_STATE
from tests.engine.helpers import assert_reload_stable, case_row, open_tasks
from tests.engine.test_modeler_constructs import diagram, flow, task

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _remiss(sequential: str, boundary: str) -> bytes:
    """A multi-instance embedded subprocess (one instance per nämnd) with an interrupting boundary event."""
    return diagram(
        '<bpmn:startEvent id="S" />'
        '<bpmn:subProcess id="Remisser" name="Remiss till nämnd">'
        f'<bpmn:multiInstanceLoopCharacteristics isSequential="{sequential}" camunda:collection="${{namnder}}" '
        'camunda:elementVariable="namnd" />'
        '<bpmn:startEvent id="RS" />'
        + task("Yttra")
        + '<bpmn:endEvent id="RE" />'
        + flow("r1", "RS", "Yttra")
        + flow("r2", "Yttra", "RE")
        + "</bpmn:subProcess>"
        f'<bpmn:boundaryEvent id="Frist" attachedToRef="Remisser">{boundary}</bpmn:boundaryEvent>'
        + task("Sammanstall")
        + task("FristUte")
        + '<bpmn:endEvent id="E" /><bpmn:endEvent id="E2" />'
        + flow("f1", "S", "Remisser")
        + flow("f2", "Remisser", "Sammanstall")
        + flow("f3", "Sammanstall", "E")
        + flow("f4", "Frist", "FristUte")
        + flow("f5", "FristUte", "E2"),
        pid="remiss",
        extra='<bpmn:message id="M" name="aterkallad" />',
    )


TIMER = (
    '<bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P3D</bpmn:timeDuration>'
    "</bpmn:timerEventDefinition>"
)
MESSAGE = '<bpmn:messageEventDefinition messageRef="M" />'


@pytest.mark.parametrize("sequential", ["true", "false"])
@pytest.mark.parametrize("done_first", [0, 1])
def test_an_interrupting_timer_ends_every_instance_of_a_multi_instance_subprocess(d, sequential, done_first):
    """SpiffWorkflow dropped the instances without ending their subprocesses, and every later step of the
    case failed ("A task with id … was not found"): the case was stuck for good."""
    clock.set(T0)
    d.deploy(_remiss(sequential, TIMER), "remiss.bpmn", "anna")
    info = d.start_case("remiss", variables={"namnder": ["kultur", "miljo", "bygg"]})
    for t in open_tasks(d, info.id)[:done_first]:
        d.complete_task(t.id, "hanna", {}, roles={"handlaggare"})
    assert d.wake_case(info.id, T0 + timedelta(days=3, minutes=1))
    assert [t.element_id for t in open_tasks(d, info.id)] == ["FristUte"]
    assert_reload_stable(d, info.id)
    [late] = open_tasks(d, info.id)
    d.complete_task(late.id, "hanna", {}, roles={"handlaggare"})
    assert case_row(d, info.id).status == "completed"


def test_an_interrupting_message_ends_every_instance_of_a_multi_instance_subprocess(d):
    d.deploy(_remiss("false", MESSAGE), "remiss.bpmn", "anna")
    info = d.start_case("remiss", business_key="R-1", variables={"namnder": ["kultur", "miljo"]})
    d.deliver_message("aterkallad", {}, business_key="R-1")
    assert [t.element_id for t in open_tasks(d, info.id)] == ["FristUte"]
    assert_reload_stable(d, info.id)


BAD_TIMER = diagram(
    '<bpmn:startEvent id="S" />'
    '<bpmn:intermediateCatchEvent id="Vanta"><bpmn:timerEventDefinition>'
    '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">${frist}</bpmn:timeDuration>'
    "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
    + task("Sedan")
    + '<bpmn:endEvent id="E" />'
    + flow("f1", "S", "Vanta")
    + flow("f2", "Vanta", "Sedan")
    + flow("f3", "Sedan", "E"),
    pid="frist",
)


@pytest.mark.parametrize("value", [5, "nästa tisdag", None])
def test_a_timer_variable_that_is_no_duration_is_an_error_naming_the_timer(d, value):
    d.deploy(BAD_TIMER, "frist.bpmn", "anna")
    with pytest.raises(ProcessError) as failed:
        d.start_case("frist", variables={"frist": value})
    assert failed.value.where == "Vanta" and "ISO 8601" in str(failed.value)
    with d.session() as s:
        assert s.query(Case).count() == 0  # nothing stored


SCRIPT = diagram(
    '<bpmn:startEvent id="S" />'
    + task("Forbered")
    + '<bpmn:scriptTask id="Skript" scriptFormat="python"><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>'
    + task("Sedan")
    + '<bpmn:endEvent id="E" />'
    + flow("f1", "S", "Forbered")
    + flow("f2", "Forbered", "Skript")
    + flow("f3", "Skript", "Sedan")
    + flow("f4", "Sedan", "E"),
    pid="skript",
).decode()


@pytest.mark.parametrize(
    ("script", "where", "says"),
    [
        ("mangd = {1, 2}", "mangd", "set"),
        ("rad = b'abc'", "rad", "bytes"),
        # (UTF-8: 2 bytes each) Refused by the sandbox before it is built: one value holds at most MAX_ITEMS.
        (f"text = 'ä' * {MAX_CASE_STATE // 2 + 1}", "Skript", "too large"),
    ],
)
def test_a_script_value_that_cannot_be_stored_fails_the_step_and_changes_nothing(d, script, where, says):
    """They were a TypeError or the database's own error (an HTTP 500) after the step had run."""
    d.deploy(SCRIPT.replace("{script}", script).encode(), "skript.bpmn", "anna")
    info = d.start_case("skript")
    [t] = open_tasks(d, info.id)
    before = case_row(d, info.id).version
    with pytest.raises(ProcessError) as failed:
        d.complete_task(t.id, "hanna", {}, roles={"handlaggare"})
    assert failed.value.where == where and says in str(failed.value)
    assert case_row(d, info.id).version == before
    assert [x.element_id for x in open_tasks(d, info.id)] == ["Forbered"]


def test_a_case_grown_past_the_state_cap_from_submitted_variables_is_refused(d):
    """The 16 MB cap on a case's stored state (engine.runtime.storable_state) still holds for what a client
    submits, now that a script can no longer build a value that large."""
    d.deploy(SCRIPT.replace("{script}", "pass").encode(), "skript.bpmn", "anna")
    with pytest.raises(ProcessError) as failed:
        d.start_case("skript", variables={"t": "x" * (MAX_CASE_STATE + 1)})
    assert "16 MB are stored per case" in str(failed.value)
    with d.session() as s:
        assert s.query(Case).count() == 0


OTHER = diagram(
    '<bpmn:startEvent id="S" />'
    '<bpmn:intermediateCatchEvent id="Vanta"><bpmn:timerEventDefinition>'
    '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P4D</bpmn:timeDuration>'
    "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
    + task("Sedan")
    + '<bpmn:endEvent id="E" />'
    + flow("f1", "S", "Vanta")
    + flow("f2", "Vanta", "Sedan")
    + flow("f3", "Sedan", "E"),
    pid="annan",
)

AFTER_TIMER_SCRIPT = diagram(
    '<bpmn:startEvent id="S" />'
    '<bpmn:intermediateCatchEvent id="Vanta"><bpmn:timerEventDefinition>'
    '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P1D</bpmn:timeDuration>'
    "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
    '<bpmn:scriptTask id="Rakna" scriptFormat="python"><bpmn:script>svar = 1 / antal</bpmn:script></bpmn:scriptTask>'
    + task("Sedan")
    + '<bpmn:endEvent id="E" />'
    + flow("f1", "S", "Vanta")
    + flow("f2", "Vanta", "Rakna")
    + flow("f3", "Rakna", "Sedan")
    + flow("f4", "Sedan", "E"),
    pid="trasig",
)


def test_a_case_whose_timer_step_fails_does_not_stop_the_other_cases_timers(d):
    """``wake_due_cases`` let the first failure end the loop, and the broken case, still first in due order,
    failed every tick: no other case's timer, reminder or deadline fired again. Now the failure is in the
    broken case's audit log, its timers are tried again later (backing off), and the others fire."""
    clock.set(T0)
    d.deploy(AFTER_TIMER_SCRIPT, "trasig.bpmn", "anna")
    d.deploy(OTHER, "annan.bpmn", "anna")
    broken = d.start_case("trasig", variables={"antal": 0})
    healthy = d.start_case("annan")
    before = case_row(d, broken.id).version
    now = T0 + timedelta(days=5)
    assert d.wake_due_cases(now) == 1
    assert [t.element_id for t in open_tasks(d, healthy.id)] == ["Sedan"]
    row = case_row(d, broken.id)
    assert row.status == "active" and row.next_timer_at == now + timers.RETRY_AFTER[0]
    with d.session() as s:
        failures = (
            s.execute(
                sa.select(AuditEvent).where(
                    AuditEvent.case_id == broken.id, AuditEvent.kind == "timer_failed"
                )
            )
            .scalars()
            .all()
        )
    assert [(f.element_id, f.detail["attempt"]) for f in failures] == [("Rakna", 1)]
    assert "division by zero" in failures[0].detail["error"]
    assert row.version == before + 1  # only the audit row: the step itself was rolled back
    assert d.verify_audit(broken.id) == []

    # Not due again before its retry; then each failure waits longer, up to a day.
    assert d.wake_due_cases(now + timedelta(minutes=4)) == 0
    later = now
    for attempt, wait in enumerate(
        [timers.RETRY_AFTER[0], *timers.RETRY_AFTER[1:], timers.RETRY_AFTER[-1]], start=1
    ):
        later = later + wait
        assert d.wake_due_cases(later) == 0
        assert case_row(d, broken.id).next_timer_at == later + timers.RETRY_AFTER[min(attempt, 3)]

    # Mended (the variable set right): the timer fires at its next try, and the failures stop.
    d.set_variables(broken.id, "anna", {"antal": 4})
    assert d.wake_due_cases(case_row(d, broken.id).next_timer_at) == 1
    assert [t.element_id for t in open_tasks(d, broken.id)] == ["Sedan"]
    with d.session() as s:
        assert s.get(Case, broken.id).data["svar"] == 0.25


PERSONAL_AFTER_TIMER = diagram(
    '<bpmn:startEvent id="S" />'
    '<bpmn:intermediateCatchEvent id="Vanta"><bpmn:timerEventDefinition>'
    '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P1D</bpmn:timeDuration>'
    "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
    '<bpmn:exclusiveGateway id="Vuxen" default="Fnej" />'
    + task("Ja")
    + task("Nej")
    + '<bpmn:endEvent id="E1" /><bpmn:endEvent id="E2" />'
    + flow("f1", "S", "Vanta")
    + flow("f2", "Vanta", "Vuxen")
    + '<bpmn:sequenceFlow id="Fja" sourceRef="Vuxen" targetRef="Ja"><bpmn:conditionExpression '
    'xsi:type="bpmn:tFormalExpression">${personnummer &lt; 20080101}</bpmn:conditionExpression></bpmn:sequenceFlow>'
    + flow("Fnej", "Vuxen", "Nej")
    + flow("f5", "Ja", "E1")
    + flow("f6", "Nej", "E2"),
    pid="vuxen",
)


def test_a_recorded_timer_failure_quotes_no_personal_data(d):
    """The error of a failed step may quote a value (JUEL: "the text '19800101-1234' is not a number");
    the audit log is append-only and never holds personal data (engine.personal)."""
    clock.set(T0)
    d.deploy(PERSONAL_AFTER_TIMER, "vuxen.bpmn", "anna")
    info = d.start_case("vuxen", variables={"personnummer": "19800101-1234", "kontakt": {"epost": "a@b.se"}})
    assert d.wake_due_cases(T0 + timedelta(days=2)) == 0
    with d.session() as s:
        [row] = s.execute(
            sa.select(AuditEvent).where(AuditEvent.case_id == info.id, AuditEvent.kind == "timer_failed")
        ).scalars()
    assert row.element_id == "Vuxen"
    assert "19800101-1234" not in row.detail["error"] and "[personuppgift]" in row.detail["error"]
