"""Two actors completing the same task at the same moment: exactly one wins, the other gets a conflict."""

from __future__ import annotations

import threading

import pytest

from engine.app import Delaktig
from engine.errors import Conflict
from tests.engine.helpers import add_staff, case_row, deploy_fixture, open_tasks


def race(settings, calls) -> list[tuple[str, object]]:
    """Run each ``call(app)`` at the same moment, each on its own engine (its own connection pool):
    [("ok", result) | ("conflict", message)] in completion order."""
    engines = [Delaktig(settings=settings) for _ in calls]
    barrier = threading.Barrier(len(calls))
    results: list[tuple[str, object]] = []

    def worker(app, call):
        barrier.wait()
        try:
            results.append(("ok", call(app)))
        except Conflict as err:
            results.append(("conflict", str(err)))

    threads = [threading.Thread(target=worker, args=pair) for pair in zip(engines, calls, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for e in engines:
        e.dispose()
    return results


def test_two_connections_complete_the_same_task(d, db_url):
    add_staff(d)
    deploy_fixture(d)
    case = d.start_case("test_initiativ", variables={"initiator_email": "a@example.se"})
    [task] = open_tasks(d, case.id)
    # Two engines = two connection pools: two real database connections racing.
    results = race(
        d.settings,
        [
            lambda app, actor=actor: (
                app.complete_task(task.id, actor, {"fragan_paverkbar": True, "kommentar": actor}) and actor
            )
            for actor in ("hanna", "henrik")
        ],
    )
    assert sorted(r[0] for r in results) == ["conflict", "ok"]
    winner = next(r[1] for r in results if r[0] == "ok")
    row = case_row(d, case.id)
    assert row.version == 2  # exactly one write after the start
    assert row.data["kommentar"] == winner  # no lost update: the winner's data is what is stored
    assert [t.element_id for t in open_tasks(d, case.id)] == ["Beslut"]
    assert d.verify_audit(case.id) == []


def test_stale_version_is_refused(d):
    """The optimistic check on its own (what guards SQLite, which has no FOR UPDATE)."""
    from engine.audit import AuditWriter
    from engine.runtime import open_case

    add_staff(d)
    deploy_fixture(d)
    case = d.start_case("test_initiativ", variables={"initiator_email": "a@example.se"})
    with d.Session() as s, s.begin():
        run = open_case(s, case.id, d.specs, "hanna", AuditWriter())
        run.case.version += 5  # as if we had read a version the database no longer has
        with pytest.raises(Conflict):
            run.save()


def test_two_parallel_tasks_of_one_case_completed_at_once_both_succeed(d):
    """No row lock on the read: the second writer finds the case's version moved on (StaleCase), nothing
    of it is written, and complete_task runs it again on fresh data — both users succeed."""
    from tests.engine.test_subprocess_tasks import SUBPROCESS_BPMN

    d.add_user("hanna", None, ["handlaggare"])
    d.add_user("henrik", None, ["handlaggare"])
    d.deploy(SUBPROCESS_BPMN, "delprocess.bpmn", "test")
    info = d.start_case("med_delprocess", actor="hanna")
    [first] = open_tasks(d, info.id)
    d.complete_task(first.id, "hanna", {})
    parallel = open_tasks(d, info.id)
    assert len(parallel) == 2
    results = race(
        d.settings,
        [
            lambda app, actor=actor, task_id=t.id: app.complete_task(task_id, actor, {}).status
            for actor, t in zip(["hanna", "henrik"], parallel, strict=True)
        ],
    )
    assert sorted(r[0] for r in results) == ["ok", "ok"], results
    row = case_row(d, info.id)
    assert row.status == "completed"
    assert row.version == 4  # start, first task, and one write per parallel task: nothing lost
    assert open_tasks(d, info.id) == []
    assert d.verify_audit(info.id) == []


def test_a_stale_read_is_retried_and_the_retry_sees_fresh_data(d, monkeypatch):
    """Force the race deterministically: another change lands between complete_task's read and write."""
    from engine import case_sql

    add_staff(d)
    deploy_fixture(d)
    case = d.start_case("test_initiativ", variables={"initiator_email": "a@example.se"})
    [task] = open_tasks(d, case.id)
    other = Delaktig(settings=d.settings)
    real = case_sql.load_task_case_roles
    reads: list[int] = []

    def read_then_race(io, task_id, actor, with_roles=True):
        found = real(io, task_id, actor, with_roles)
        if io.pg:  # the guarded read ran outside any transaction: nothing held while SpiffWorkflow works
            assert io.raw.info.transaction_status.name == "IDLE"
        reads.append(found[1].version)
        if len(reads) == 1:  # first attempt: someone claims the task meanwhile (bumps the case version)
            other.claim_task(task_id, "hanna")
        return found

    monkeypatch.setattr(case_sql, "load_task_case_roles", read_then_race)
    if d.dialect == "sqlite":
        # SQLite serializes writers at BEGIN IMMEDIATE: a claim cannot land in between (it would wait for
        # us). The race exists only on PostgreSQL; here the read is already exclusive.
        monkeypatch.setattr(case_sql, "load_task_case_roles", real)
        info = d.complete_task(task.id, "hanna", {"fragan_paverkbar": True, "kommentar": "ok"})
    else:
        info = d.complete_task(task.id, "hanna", {"fragan_paverkbar": True, "kommentar": "ok"})
        assert reads == [1, 2]  # read, lost the race, read again (the claim's version) and won
    other.dispose()
    assert info.status == "active"
    assert d.verify_audit(case.id) == []
    kinds = [t.element_id for t in open_tasks(d, case.id)]
    assert kinds == ["Beslut"]
