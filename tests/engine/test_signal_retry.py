"""A signal receiver whose step fails is tried again, as a failed timer is: the failure is in the case's
audit log (``signal_failed``: which attempt, why, when it is tried next), the sweep gives it the signal
again only once the timers' backoff has passed (``engine.timers.next_try``: 5 minutes, 30 minutes, 2 hours,
then daily), and a case gets one signal at most once. Before, a failed receiver was recorded and never
tried again: the case waited for a signal that had already gone out."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from engine import clock, timers
from engine.models import AuditEvent
from engine.signal_models import PendingSignal, SignalDelivery
from tests.conftest import count
from tests.engine.helpers import assert_reload_stable, open_tasks
from tests.engine.test_case_scope import cond
from tests.engine.test_modeler_constructs import diagram, flow, task

SIGNAL = "budget_beslutad"

# After the signal a gateway reads ``belopp``: while the case has no such variable the step fails
# ("variable 'belopp' is not set") and is rolled back, the case still waiting for the signal.
RECEIVER = diagram(
    '<bpmn:startEvent id="S" />'
    '<bpmn:intermediateCatchEvent id="Vanta"><bpmn:signalEventDefinition signalRef="Sig" />'
    '</bpmn:intermediateCatchEvent><bpmn:exclusiveGateway id="Gw" default="Fliten" />'
    + task("Stor")
    + task("Liten")
    + '<bpmn:endEvent id="E" />'
    + flow("F1", "S", "Vanta")
    + flow("F2", "Vanta", "Gw")
    + cond("Fstor", "Gw", "Stor", "${belopp > 100}")
    + flow("Fliten", "Gw", "Liten")
    + flow("F3", "Stor", "E")
    + flow("F4", "Liten", "E"),
    pid="mottagare",
    extra=f'<bpmn:signal id="Sig" name="{SIGNAL}" />',
)


def audit_rows(d, case_id: str, kind: str) -> list[AuditEvent]:
    with d.session() as s:
        return list(
            s.execute(
                sa.select(AuditEvent)
                .where(AuditEvent.chain == case_id, AuditEvent.kind == kind)
                .order_by(AuditEvent.seq)
            ).scalars()
        )


def tasks_of(d, case_id: str) -> list[str]:
    return [t.element_id for t in open_tasks(d, case_id)]


def test_a_failed_receiver_gets_the_signal_once_after_the_backoff(d):
    clock.set(clock.now())  # (frozen: the backoff is compared to the second)
    d.deploy(RECEIVER, "m.bpmn", "anna")
    case = d.start_case("mottagare")
    thrown_at = clock.now()
    result = d.broadcast_signal(SIGNAL)
    assert result.woken == [] and [target for target, _ in result.failed] == [case.id]
    # Visible as a failed timer is: an audit row with the attempt, the error and the next try.
    [failed] = audit_rows(d, case.id, "signal_failed")
    assert failed.element_id == "Gw" and failed.detail["attempt"] == 1
    assert "belopp" in failed.detail["error"]
    retry_at = timers.next_try(thrown_at, 1)
    assert failed.detail["retry_at"] == retry_at.isoformat()
    assert tasks_of(d, case.id) == []  # rolled back: still waiting
    assert_reload_stable(d, case.id)

    # The variable is set through the engine; the signal is not given again before the backoff passed.
    d.set_variables(case.id, "anna", {"belopp": 500})
    assert d.deliver_pending_signals() == []
    clock.set(retry_at - timedelta(seconds=1))
    assert d.deliver_pending_signals() == []
    assert tasks_of(d, case.id) == [] and audit_rows(d, case.id, "signal_received") == []

    clock.set(retry_at + timedelta(seconds=1))
    [again] = d.deliver_pending_signals()
    assert again.woken == [case.id] and again.failed == [] and again.complete
    assert tasks_of(d, case.id) == ["Stor"]
    assert count(d, PendingSignal) == 0 and count(d, SignalDelivery) == 0  # done: nothing left to retry

    # Exactly once: later sweeps, a day on, give nothing more.
    clock.set(retry_at + timedelta(days=2))
    assert d.deliver_pending_signals() == []
    assert len(audit_rows(d, case.id, "signal_received")) == 1
    assert len(audit_rows(d, case.id, "signal_failed")) == 1
    assert tasks_of(d, case.id) == ["Stor"]
    assert d.verify_audit() == []


def test_each_failure_waits_longer_and_only_the_failed_receivers_are_tried_again(d):
    clock.set(clock.now())
    d.deploy(RECEIVER, "m.bpmn", "anna")
    broken = d.start_case("mottagare")
    fine = d.start_case("mottagare", variables={"belopp": 5})
    result = d.broadcast_signal(SIGNAL)
    assert result.woken == [fine.id] and [target for target, _ in result.failed] == [broken.id]
    assert tasks_of(d, fine.id) == ["Liten"]
    # A case that begins waiting after the signal went out is not one of its receivers, on a retry neither.
    late = d.start_case("mottagare", variables={"belopp": 1000})

    first = timers.next_try(clock.now(), 1)
    clock.set(first + timedelta(seconds=1))
    [retry] = d.deliver_pending_signals()  # still failing: attempt 2, half an hour later
    assert retry.woken == [] and [target for target, _ in retry.failed] == [broken.id]
    rows = audit_rows(d, broken.id, "signal_failed")
    assert [r.detail["attempt"] for r in rows] == [1, 2]
    second = timers.next_try(clock.now(), 2)
    assert second - clock.now() == timers.RETRY_AFTER[1]
    assert rows[-1].detail["retry_at"] == second.isoformat()
    with d.session() as s:
        delivery = s.execute(sa.select(SignalDelivery).where(SignalDelivery.target == broken.id)).scalar_one()
        pending = s.execute(sa.select(PendingSignal)).scalar_one()
    assert (delivery.outcome, delivery.attempts, delivery.retry_at) == ("failed", 2, second)
    assert pending.retry_at == second  # the sweep skips it until then

    clock.set(second - timedelta(seconds=1))
    assert d.deliver_pending_signals() == []
    d.set_variables(broken.id, "anna", {"belopp": 101})
    clock.set(second + timedelta(seconds=1))
    [last] = d.deliver_pending_signals()
    assert last.woken == [broken.id] and last.failed == []
    assert tasks_of(d, broken.id) == ["Stor"]
    assert tasks_of(d, late.id) == [] and audit_rows(d, late.id, "signal_received") == []
    assert len(audit_rows(d, fine.id, "signal_received")) == 1
    assert count(d, PendingSignal) == 0
    assert d.verify_audit() == []


def test_a_failed_receiver_that_no_longer_waits_is_not_retried(d):
    """Cancelled meanwhile: the retry finds nothing waiting and the pending signal is done."""
    d.deploy(RECEIVER, "m.bpmn", "anna")
    case = d.start_case("mottagare")
    d.broadcast_signal(SIGNAL)
    d.cancel_case(case.id, "anna", "fel ärende")
    clock.set(timers.next_try(clock.now(), 1) + timedelta(seconds=1))
    [retry] = d.deliver_pending_signals()
    assert retry.woken == [] and retry.failed == [] and retry.complete
    assert count(d, PendingSignal) == 0 and count(d, SignalDelivery) == 0
    assert audit_rows(d, case.id, "signal_received") == []
