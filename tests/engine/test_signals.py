"""BPMN signals as Camunda 7 has them: a broadcast to every waiting case and every signal start event —
from a throw event of a case (through the pending-signal outbox) and from ``broadcast_signal`` (``POST
/signal``), each receiver in its own transaction, durable across a crash, and never twice."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from alembic import command

from engine import signals
from engine.app import Delaktig
from engine.bpmn.compile import compile_bpmn
from engine.db import alembic_config, make_engine
from engine.errors import Forbidden, ValidationFailed
from engine.models import AuditEvent, Case, UserTask
from engine.signal_models import PendingSignal, SignalDelivery, SignalStart, SignalSubscription
from tests.conftest import FIXTURES, count, fixture_bytes
from tests.engine.helpers import assert_reload_stable, open_tasks
from tests.engine.test_cli import run as run_cli
from tests.engine.test_modeler_constructs import diagram, flow, task

SIGNAL = "beslut_fattat"
SIGNAL_DEF = f'<bpmn:signal id="Sig" name="{SIGNAL}" />'


def deploy_signals(d):
    return {i.key: i for i in d.deploy(fixture_bytes("signals.bpmn"), "signals.bpmn", "olle")}


def kinds(d, case_id: str) -> list[str]:
    with d.session() as s:
        return list(
            s.execute(sa.select(AuditEvent.kind).where(AuditEvent.chain == case_id).order_by(AuditEvent.seq))
            .scalars()
            .all()
        )


def events(d, case_id: str, kind: str) -> list[AuditEvent]:
    with d.session() as s:
        return list(
            s.execute(
                sa.select(AuditEvent).where(AuditEvent.chain == case_id, AuditEvent.kind == kind)
            ).scalars()
        )


def cases_of(d, key: str) -> list[Case]:
    with d.session() as s:
        return list(
            s.execute(sa.select(Case).where(Case.process_key == key).order_by(Case.started_at)).scalars()
        )


def the_three(d):
    """A (throws on completing its task), B (waits at a catch event), C (a boundary signal on a task)."""
    a = d.start_case("signal_sandare", actor="hanna")
    b = d.start_case("signal_vantare", actor="hanna")
    c = d.start_case("signal_avbryt", actor="hanna")
    return a, b, c


@pytest.fixture
def staff(d):
    d.add_user("hanna", "hemligt123", ["handlaggare"])
    d.add_user("nils", "hemligt123", ["namnd"])
    return d


def test_the_modeler_diagram_indexes_its_signals(staff):
    d = staff
    infos = deploy_signals(d)
    a, b, c = the_three(d)
    with d.session() as s:
        starts = s.execute(sa.select(SignalStart.definition_id, SignalStart.signal_name)).all()
        subs = s.execute(
            sa.select(
                SignalSubscription.case_id, SignalSubscription.signal_name, SignalSubscription.element_id
            )
        ).all()
    assert [tuple(r) for r in starts] == [(infos["signal_startad"].id, SIGNAL)]
    assert sorted(tuple(r) for r in subs) == sorted(
        [(b.id, SIGNAL, "Vanta_beslut"), (c.id, SIGNAL, "Avbryt_vid_beslut")]
    )
    assert a.id not in {r[0] for r in subs}
    # A process with only a signal start event is not started by hand.
    with pytest.raises(ValidationFailed):
        d.start_case("signal_startad", actor="hanna")


def test_a_throw_reaches_other_cases_a_boundary_event_and_a_signal_start(staff):
    d = staff
    deploy_signals(d)
    a, b, c = the_three(d)
    [besluta] = open_tasks(d, a.id)
    d.complete_task(besluta.id, "hanna", {})

    # A: thrown in its step (an audit row naming the pending signal), and it ended.
    assert kinds(d, a.id)[-3:] == ["signal_thrown", "task_completed", "case_completed"]
    [thrown] = events(d, a.id, "signal_thrown")
    assert thrown.element_id == "Signal_beslut" and thrown.detail["signal"] == SIGNAL
    # B: its catch event took it and the flow went on.
    assert [t.element_id for t in open_tasks(d, b.id)] == ["Informera"]
    [received] = events(d, b.id, "signal_received")
    assert received.element_id == "Vanta_beslut"
    assert received.detail["activity_type"] == "intermediateSignalCatch"
    assert received.detail["source_case_id"] == a.id
    assert received.detail["pending_signal_id"] == thrown.detail["pending_signal_id"]
    # C: the interrupting boundary event cancelled the task.
    assert [t.element_id for t in open_tasks(d, c.id)] == ["Avsluta_beredning"]
    with d.session() as s:
        bereda = s.execute(
            sa.select(UserTask).where(UserTask.case_id == c.id, UserTask.element_id == "Bereda")
        ).scalar()
    assert bereda.state == "cancelled"
    assert events(d, c.id, "signal_received")[0].detail["activity_type"] == "boundarySignal"
    # A case of the process with the signal start event.
    [started] = cases_of(d, "signal_startad")
    assert [t.element_id for t in open_tasks(d, started.id)] == ["Folj_upp"]
    [start] = events(d, started.id, "case_started")
    assert start.detail["signal"] == SIGNAL and start.detail["activity_type"] == "signalStartEvent"
    # Delivered to all: nothing pending, no subscription left, audit chains intact, blobs stable.
    assert count(d, PendingSignal) == 0 and count(d, SignalDelivery) == 0
    assert count(d, SignalSubscription) == 0
    assert d.verify_audit() == []
    for case in (b, c, started):
        assert_reload_stable(d, case.id)


def test_broadcast_with_variables_wakes_and_starts(staff):
    d = staff
    deploy_signals(d)
    a, b, c = the_three(d)
    result = d.broadcast_signal(
        SIGNAL,
        {"beslutsdatum": "2026-05-01T00:00:00.000+0200", "antal": 3, "beslut": "bifall"},
        actor="system",
        variable_types={"beslutsdatum": "Date", "antal": "Long"},
    )
    assert sorted(result.woken) == sorted([b.id, c.id])
    [started] = cases_of(d, "signal_startad")
    assert result.started == [started.id] and result.failed == [] and result.complete
    for case_id in (b.id, c.id, started.id):
        with d.session() as s:
            data = s.get(Case, case_id).data
        assert data["beslut"] == "bifall" and data["antal"] == 3
        assert data["_types"] == {"beslutsdatum": "Date", "antal": "Long"}
    assert events(d, b.id, "signal_received")[0].detail["variables"]["beslut"] == "bifall"
    assert events(d, started.id, "case_started")[0].detail["variables"]["antal"] == 3
    # A's task is untouched: it waits for no signal.
    assert [t.element_id for t in open_tasks(d, a.id)] == ["Besluta"]
    # Nobody waiting any more, no start event of that name: nothing happens, no error.
    assert d.broadcast_signal("ingen_lyssnar", actor="system").woken == []
    assert count(d, PendingSignal) == 0
    assert d.verify_audit() == []


def test_a_person_broadcasts_only_what_they_may_do(staff):
    d = staff
    deploy_signals(d)
    a, b, c = the_three(d)  # started by hanna
    with pytest.raises(Forbidden):
        d.broadcast_signal(SIGNAL, actor="nils")
    assert count(d, PendingSignal) == 0
    assert [t.element_id for t in open_tasks(d, b.id)] == []  # still waiting
    assert cases_of(d, "signal_startad") == []
    result = d.broadcast_signal(SIGNAL, actor="hanna")
    assert sorted(result.woken) == sorted([b.id, c.id]) and len(result.started) == 1
    with pytest.raises(ValidationFailed):
        d.broadcast_signal("", actor="system")


FAILING = diagram(
    '<bpmn:startEvent id="S" />'
    '<bpmn:intermediateCatchEvent id="Vanta"><bpmn:signalEventDefinition signalRef="Sig" />'
    "</bpmn:intermediateCatchEvent>"
    '<bpmn:scriptTask id="Rakna" scriptFormat="python"><bpmn:script>kvot = 1 / 0</bpmn:script></bpmn:scriptTask>'
    + task("Efter")
    + '<bpmn:endEvent id="E" />'
    + flow("F1", "S", "Vanta")
    + flow("F2", "Vanta", "Rakna")
    + flow("F3", "Rakna", "Efter")
    + flow("F4", "Efter", "E"),
    pid="signal_fel",
    extra=SIGNAL_DEF,
)


def test_a_failing_receiver_does_not_stop_the_others(staff):
    d = staff
    deploy_signals(d)
    d.deploy(FAILING, "fel.bpmn", "olle")
    broken = d.start_case("signal_fel", actor="hanna")
    a, b, c = the_three(d)
    [besluta] = open_tasks(d, a.id)
    d.complete_task(besluta.id, "hanna", {})  # the throw: delivered after the commit
    assert [t.element_id for t in open_tasks(d, b.id)] == ["Informera"]
    assert [t.element_id for t in open_tasks(d, c.id)] == ["Avsluta_beredning"]
    assert len(cases_of(d, "signal_startad")) == 1
    # The broken case: rolled back (still waiting), with the failure in its audit log.
    assert kinds(d, broken.id)[-1] == "signal_failed"
    [failed] = events(d, broken.id, "signal_failed")
    assert failed.element_id == "Rakna" and failed.detail["signal"] == SIGNAL
    assert open_tasks(d, broken.id) == []
    with d.session() as s:
        assert s.get(Case, broken.id).status == "active"
        delivery = s.execute(sa.select(SignalDelivery).where(SignalDelivery.outcome == "failed")).scalar_one()
    assert (delivery.target, delivery.outcome) == (broken.id, "failed") and "Rakna" in delivery.error
    assert count(d, PendingSignal) == 1  # kept for the failed receiver's retry (test_signal_retry.py)
    assert d.verify_audit() == []
    # POST /signal reports it.
    result = d.broadcast_signal(SIGNAL, actor="system")
    assert [target for target, _ in result.failed] == [broken.id]
    assert "Rakna" in result.failed[0][1]
    assert len(cases_of(d, "signal_startad")) == 2


def test_pending_signals_survive_a_crash_between_commit_and_delivery(staff):
    d = staff
    deploy_signals(d)
    a, b, c = the_three(d)
    d.deliver_signals_after_commit = False  # the process "dies" right after the commit
    [besluta] = open_tasks(d, a.id)
    d.complete_task(besluta.id, "hanna", {})
    assert open_tasks(d, b.id) == [] and cases_of(d, "signal_startad") == []
    with d.session() as s:
        pending = s.execute(sa.select(PendingSignal)).scalar_one()
    assert (pending.name, pending.source_case_id, pending.element_id) == (SIGNAL, a.id, "Signal_beslut")

    restarted = Delaktig(settings=d.settings)  # another process: the periodic worker's sweep
    try:
        [result] = restarted.deliver_pending_signals()
        assert sorted(result.woken) == sorted([b.id, c.id]) and len(result.started) == 1
        assert restarted.deliver_pending_signals() == []  # nothing left, nothing twice
    finally:
        restarted.dispose()
    assert [t.element_id for t in open_tasks(d, b.id)] == ["Informera"]
    assert len(events(d, b.id, "signal_received")) == 1
    assert count(d, PendingSignal) == 0 and count(d, SignalDelivery) == 0
    assert d.verify_audit() == []


def test_no_double_delivery_when_sweep_and_in_process_delivery_race(staff, monkeypatch):
    """Two deliverers (the in-process one and the sweep), two connections, at the same moment: each
    receiver gets the signal once. Both pass the "still owed" check of the start before either commits
    (a barrier), so the start races on the delivery row's key."""
    d = staff
    deploy_signals(d)
    a, b, c = the_three(d)
    d.deliver_signals_after_commit = False
    [besluta] = open_tasks(d, a.id)
    d.complete_task(besluta.id, "hanna", {})
    with d.session() as s:
        pending_id = s.execute(sa.select(PendingSignal.id)).scalar_one()

    barrier = threading.Barrier(2)
    original = signals._still_owed
    both_owed = []

    def owed(s, pending, target):
        answer = original(s, pending, target)
        if ":" in target and answer:  # a definition (a start): wait for the other deliverer
            try:
                barrier.wait(timeout=3)
                both_owed.append(target)
            except threading.BrokenBarrierError:
                pass  # SQLite: the other waits for the write lock (BEGIN IMMEDIATE) instead
        return answer

    monkeypatch.setattr(signals, "_still_owed", owed)
    engines = [Delaktig(settings=d.settings) for _ in range(2)]
    results, errors = [], []
    go = threading.Barrier(2)

    def deliverer(app, sweep):
        go.wait()
        try:
            results.append(app.deliver_pending_signals() if sweep else signals.drain(app, [pending_id]))
        except Exception as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=deliverer, args=(e, i == 1)) for i, e in enumerate(engines)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for e in engines:
        e.dispose()
    assert errors == []
    if d.dialect == "postgresql":
        assert len(both_owed) == 2  # a real race: both started a case; the delivery row's key decided
    assert len(events(d, b.id, "signal_received")) == 1
    assert len(events(d, c.id, "signal_received")) == 1
    assert len(cases_of(d, "signal_startad")) == 1
    assert [t.element_id for t in open_tasks(d, b.id)] == ["Informera"]
    delivered = [r for rs in results for r in rs]
    assert sorted(x for r in delivered for x in r.woken) == sorted([b.id, c.id])
    assert len([x for r in delivered for x in r.started]) == 1
    assert count(d, PendingSignal) == 0
    assert d.verify_audit() == []


END_AND_GATEWAY = diagram(
    '<bpmn:startEvent id="S" />'
    + task("Klar")
    + '<bpmn:endEvent id="Slut"><bpmn:signalEventDefinition signalRef="Sig" /></bpmn:endEvent>'
    + flow("F1", "S", "Klar")
    + flow("F2", "Klar", "Slut"),
    pid="signal_slut",
    extra=SIGNAL_DEF,
)
GATEWAY = diagram(
    '<bpmn:startEvent id="S" /><bpmn:eventBasedGateway id="Gw" />'
    '<bpmn:intermediateCatchEvent id="Signalen"><bpmn:signalEventDefinition signalRef="Sig" />'
    "</bpmn:intermediateCatchEvent>"
    '<bpmn:intermediateCatchEvent id="Frist"><bpmn:timerEventDefinition>'
    '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P5D</bpmn:timeDuration>'
    "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
    + task("Efter_signal")
    + task("Efter_frist")
    + '<bpmn:endEvent id="E1" /><bpmn:endEvent id="E2" />'
    + flow("F1", "S", "Gw")
    + flow("F2", "Gw", "Signalen")
    + flow("F3", "Gw", "Frist")
    + flow("F4", "Signalen", "Efter_signal")
    + flow("F5", "Frist", "Efter_frist")
    + flow("F6", "Efter_signal", "E1")
    + flow("F7", "Efter_frist", "E2"),
    pid="signal_grind",
    extra=SIGNAL_DEF,
)


def test_a_signal_end_event_reaches_an_event_based_gateway(staff):
    d = staff
    d.deploy(END_AND_GATEWAY, "slut.bpmn", "olle")
    d.deploy(GATEWAY, "grind.bpmn", "olle")
    thrower = d.start_case("signal_slut", actor="hanna")
    waiting = d.start_case("signal_grind", actor="hanna")
    with d.session() as s:
        assert s.get(Case, waiting.id).next_timer_at is not None
    [klar] = open_tasks(d, thrower.id)
    d.complete_task(klar.id, "hanna", {})
    assert [t.element_id for t in open_tasks(d, waiting.id)] == ["Efter_signal"]
    [received] = events(d, waiting.id, "signal_received")
    assert received.element_id == "Signalen" and received.detail["activity_type"] == "intermediateSignalCatch"
    with d.session() as s:
        assert s.get(Case, waiting.id).next_timer_at is None  # the timer branch is gone
    assert events(d, thrower.id, "signal_thrown")[0].element_id == "Slut"
    assert d.verify_audit() == []


def test_signal_names_are_checked_at_deploy():
    dynamic = diagram(
        '<bpmn:startEvent id="S" /><bpmn:intermediateCatchEvent id="V"><bpmn:signalEventDefinition '
        'signalRef="Sig" /></bpmn:intermediateCatchEvent><bpmn:endEvent id="E" />'
        + flow("F1", "S", "V")
        + flow("F2", "V", "E"),
        extra='<bpmn:signal id="Sig" name="klart_${id}" />',
    )
    problems = compile_bpmn(dynamic, "d.bpmn").problems
    assert any(p.where == "V" and "expressions" in p.message for p in problems), problems


def test_cli_deploys_the_modeler_diagram_with_signals(d, db_url):
    done = run_cli(db_url, "deploy", str(FIXTURES / "signals.bpmn"))
    assert done.returncode == 0, done.stderr
    assert "signal_startad version 1" in done.stdout
    assert run_cli(db_url, "lint", "--strict", str(FIXTURES / "signals.bpmn")).returncode == 0
    with d.session() as s:
        assert s.execute(sa.select(SignalStart.signal_name)).scalars().all() == [SIGNAL]
    assert d.broadcast_signal(SIGNAL).started != []


def test_signal_migration_down_and_up(d, db_url):
    d.dispose()
    cfg = alembic_config(db_url)

    def tables() -> set[str]:
        engine = make_engine(db_url)
        try:
            return set(sa.inspect(engine).get_table_names())
        finally:
            engine.dispose()

    ours = {"signal_subscription", "signal_start", "pending_signal", "signal_delivery"}
    assert ours <= tables()
    command.downgrade(cfg, "0007-1")
    assert not ours & tables()
    command.upgrade(cfg, "heads")
    assert ours <= tables()


def test_upgrading_indexes_cases_already_waiting_for_a_signal(staff, db_url):
    """A case waiting at a signal catch event before migration 0007 has no subscription row: ``upgrade``
    indexes it once, so a broadcast finds it."""
    d = staff
    deploy_signals(d)
    b = d.start_case("signal_vantare", actor="hanna")
    d.dispose()
    command.downgrade(alembic_config(db_url), "0007-1")
    assert not signals.migration_applied(db_url)
    d.upgrade()
    assert signals.migration_applied(db_url)
    with d.session() as s:
        subs = s.execute(sa.select(SignalSubscription.case_id, SignalSubscription.element_id)).all()
    assert [tuple(r) for r in subs] == [(b.id, "Vanta_beslut")]
    assert d.broadcast_signal(SIGNAL).woken == [b.id]
    assert [t.element_id for t in open_tasks(d, b.id)] == ["Informera"]
