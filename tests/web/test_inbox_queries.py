"""engine.inbox directly: due order with undated tasks last across pages, capped counts, candidate
users, diagram marks, who may start; and that the inbox reads the web_0001 index on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from engine import clock
from engine import inbox as q
from engine.models import UserTask
from tests.web.test_tasks import GOOD

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _case(engine, i):
    clock.set(T0 + timedelta(hours=i))
    return engine.start_case("test_initiativ", business_key=f"K{i}", actor="system")


def test_due_order_puts_undated_tasks_last_across_pages(app, engine):
    engine.add_user("both", "hemligt-123", ["handlaggare", "namnd"])
    cases = [_case(engine, i) for i in range(5)]
    for info in cases[:2]:  # Granska done → Beslut (no due date) for namnd
        engine.claim_task(info.open_tasks[0], "both")
        engine.complete_task(info.open_tasks[0], "both", {k: v for k, v in GOOD.items()})
    clock.set(T0 + timedelta(days=1))
    roles = {"handlaggare", "namnd"}
    with engine.session() as s:
        seen = []
        for page in (1, 2, 3, 4):
            f = q.InboxFilter(scope="group", per_page=2, page=page)
            result = q.list_tasks(s, "both", roles, f, clock.now())
            assert result.total == 5 and result.pages == 3
            seen.append([(t.name, t.business_key) for t in result.items])
        undated = sorted(
            s.execute(
                sa.select(UserTask.created_at, UserTask.id).where(UserTask.name == "Fatta beslut")
            ).all()
        )
    assert [len(p) for p in seen] == [2, 2, 1, 0]
    flat = [x for p in seen for x in p]
    assert flat[:3] == [("Granska initiativet", f"K{i}") for i in (2, 3, 4)]
    assert [name for name, _ in flat[3:]] == ["Fatta beslut", "Fatta beslut"] and len(undated) == 2


def test_counts_are_capped(app, engine, monkeypatch):
    for i in range(4):
        _case(engine, i)
    monkeypatch.setattr(q, "COUNT_CAP", 2)
    with engine.session() as s:
        counts = q.inbox_counts(s, "x", {"handlaggare"}, clock.now())
        page = q.list_tasks(s, "x", {"handlaggare"}, q.InboxFilter(scope="group", per_page=1), clock.now())
    assert counts == {"mine": 0, "mine_overdue": 0, "group": 3, "group_overdue": 0}
    assert page.capped and page.pages == 2


def test_candidate_user_sees_the_task_in_the_group_list(app, engine):
    info = _case(engine, 0)
    with engine.db.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO task_candidate (task_id, kind, value) VALUES (:t, 'user', 'olle')"),
            {"t": info.open_tasks[0]},
        )
    with engine.session() as s:
        page = q.list_tasks(s, "olle", set(), q.InboxFilter(scope="group"), clock.now())
    assert [t.id for t in page.items] == info.open_tasks


def test_startable_and_outline(app, engine):
    with engine.session() as s:
        assert [d.key for d, _ in q.startable(s, {"namnd"})] == ["test_initiativ"]
        assert q.startable(s, {"kommunikator"}) == []
        ((definition, outline),) = q.startable(s, {"handlaggare"})
        assert outline.task_groups == ["avdelningschef", "handlaggare", "namnd"]
        assert outline.manual_start and outline.names["Granska"] == "Granska initiativet"


def test_inbox_reads_the_index_on_sqlite(app, engine):
    if engine.dialect != "sqlite":  # the PostgreSQL plan depends on table statistics: see bench/inbox.py
        return
    where = q._conditions("anna", {"handlaggare"}, q.InboxFilter(scope="group"), clock.now())
    stmt = (
        sa.select(UserTask.id)
        .where(*where, UserTask.due_at.is_not(None))
        .order_by(UserTask.due_at, UserTask.id)
        .limit(25)
    )
    sql = str(stmt.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    with engine.db.connect() as conn:
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    assert "ix_user_task_inbox_due" in plan, plan
