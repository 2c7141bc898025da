"""Timers: next_timer_at, waking at time T, due-time order, the engine clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from SpiffWorkflow.task import TaskState

from engine import clock
from engine.bpmn.compile import compile_or_raise
from engine.bpmn.parser import current_effects
from engine.models import AuditEvent, Outbox
from engine.workflow import new_workflow, run_engine
from tests.conftest import count, fixture_bytes
from tests.engine.helpers import add_staff, assert_reload_stable, case_row, deploy_fixture, open_tasks

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


def test_overdue_timers_fire_in_due_order_not_registration_order(d):
    """Escalation (2 days, interrupting) is due before the reminder (5 days, non-interrupting): woken at
    day 10, only the escalation may fire — the reminder's task is gone by its due time."""
    clock.set(T0)
    add_staff(d)
    deploy_fixture(d, "timer_order.bpmn")
    case = d.start_case("timer_order")
    assert case_row(d, case.id).next_timer_at == T0 + timedelta(days=2)
    clock.set(T0 + timedelta(days=10))
    assert d.wake_due_cases() == 1
    assert_reload_stable(d, case.id)
    assert [t.element_id for t in open_tasks(d, case.id)] == ["Chef"]
    assert count(d, Outbox) == 0  # the reminder did not fire
    with d.session() as s:
        fired = (
            s.execute(sa.select(AuditEvent.element_id).where(AuditEvent.kind == "timer_fired"))
            .scalars()
            .all()
        )
    assert fired == ["Eskalering"]
    assert case_row(d, case.id).next_timer_at is None


def test_spiffworkflow_alone_fires_overdue_timers_in_registration_order():
    """Pins the library fact engine.workflow.fire_due_timers exists for (ENGINE-NOTES: Timers):
    SpiffWorkflow's own refresh fires every overdue timer at once, in the order the diagram declares them."""
    compiled = compile_or_raise(fixture_bytes("timer_order.bpmn"))
    spec, subs = compiled.spec("timer_order")
    with clock.frozen(T0):
        wf = new_workflow(spec, subs)
        run_engine(wf)
    mails: list = []
    token = current_effects.set(mails)  # the send task records its mail here
    try:
        with clock.frozen(T0 + timedelta(days=10)):
            wf.refresh_timers()
            wf.do_engine_steps()
    finally:
        current_effects.reset(token)
    assert [e["element_id"] for e in mails] == ["Skicka"]  # the reminder fired although it was due later
    chef = [t for t in wf.get_tasks(state=TaskState.READY, manual=True)]
    assert [t.task_spec.name for t in chef] == ["Chef"]


def test_every_engine_step_fires_overdue_timers_in_due_order():
    """Not only the wake-up: a completion or a message that reaches a case before its timers were woken
    (the workers down for a while) runs through the same step, which fires them in due order."""
    compiled = compile_or_raise(fixture_bytes("timer_order.bpmn"))
    spec, subs = compiled.spec("timer_order")
    with clock.frozen(T0):
        wf = new_workflow(spec, subs)
        run_engine(wf)
    with clock.frozen(T0 + timedelta(days=10)):
        effects = run_engine(wf)
    assert [(e["type"], e["element_id"]) for e in effects] == [("timer_fired", "Eskalering")]  # no mail
    assert effects[0]["due"] == (T0 + timedelta(days=2)).isoformat()
    assert [t.task_spec.name for t in wf.get_tasks(state=TaskState.READY, manual=True)] == ["Chef"]


def test_not_yet_due_case_is_not_woken(d):
    clock.set(T0)
    add_staff(d)
    deploy_fixture(d, "timer_order.bpmn")
    case = d.start_case("timer_order")
    version = case_row(d, case.id).version
    clock.set(T0 + timedelta(days=1))
    assert d.wake_due_cases() == 0
    assert d.wake_case(case.id) is False
    assert case_row(d, case.id).version == version


def test_wake_only_touches_due_cases(d):
    clock.set(T0)
    add_staff(d)
    deploy_fixture(d, "timer_order.bpmn")
    early = d.start_case("timer_order")
    clock.set(T0 + timedelta(days=1))
    late = d.start_case("timer_order")
    clock.set(T0 + timedelta(days=2, hours=1))
    assert d.due_case_ids() == [early.id]
    assert d.wake_due_cases() == 1
    assert [t.element_id for t in open_tasks(d, early.id)] == ["Chef"]
    assert [t.element_id for t in open_tasks(d, late.id)] == ["Vanta"]


def test_completing_the_task_clears_its_timers(d):
    clock.set(T0)
    add_staff(d)
    deploy_fixture(d, "timer_order.bpmn")
    case = d.start_case("timer_order")
    [task] = open_tasks(d, case.id)
    info = d.complete_task(task.id, "hanna", {})
    assert info.status == "completed"
    row = case_row(d, case.id)
    assert row.next_timer_at is None and row.ended_at == T0
