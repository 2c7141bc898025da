"""Two actors completing the same task at the same moment: exactly one wins, the other gets a conflict."""

from __future__ import annotations

import threading

import pytest

from engine.app import Delaktig
from engine.errors import Conflict
from tests.engine.helpers import add_staff, case_row, deploy_fixture, open_tasks


def test_two_connections_complete_the_same_task(d, db_url):
    add_staff(d)
    deploy_fixture(d)
    case = d.start_case("test_initiativ", variables={"initiator_email": "a@example.se"})
    [task] = open_tasks(d, case.id)
    # Two engines = two connection pools: two real database connections racing.
    engines = [Delaktig(settings=d.settings), Delaktig(settings=d.settings)]
    barrier = threading.Barrier(2)
    results: list = []

    def worker(app, actor):
        barrier.wait()
        try:
            app.complete_task(task.id, actor, {"fragan_paverkbar": True, "kommentar": actor})
            results.append(("ok", actor))
        except Conflict as err:
            results.append(("conflict", str(err)))

    threads = [
        threading.Thread(target=worker, args=(e, a))
        for e, a in zip(engines, ["hanna", "henrik"], strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for e in engines:
        e.dispose()
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
