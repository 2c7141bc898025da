"""engine.inbox directly: due order with undated tasks last across pages, capped counts, candidate
users, diagram marks, who may start; the view's page load (inbox_page) against the separate queries;
and the inbox indexes (web_0001 on SQLite, the web_0002 partial indexes on both databases).

The list and count tests run twice (``mode``): on SQLite once walking the inbox index ("walk", as for
roles with many tasks) and once starting from the roles' task_candidate rows ("few"); both must give
the same answers. PostgreSQL has one shape (its planner picks per run), so it runs the same code twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from engine import clock
from engine import inbox as q
from engine.models import UserTask
from tests.web.test_tasks import GOOD

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


@pytest.fixture(params=["walk", "few"])
def mode(request, monkeypatch):
    """Which SQLite query shape the group scope uses: FEW_CANDIDATES = 0 forces the index walk."""
    if request.param == "walk":
        monkeypatch.setattr(q, "FEW_CANDIDATES", 0)
    return request.param


def _case(engine, i):
    clock.set(T0 + timedelta(hours=i))
    return engine.start_case("test_initiativ", business_key=f"K{i}", actor="system")


def test_due_order_puts_undated_tasks_last_across_pages(app, engine, mode):
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


def test_counts_are_capped(app, engine, monkeypatch, mode):
    for i in range(4):
        _case(engine, i)
    monkeypatch.setattr(q, "COUNT_CAP", 2)
    with engine.session() as s:
        counts = q.inbox_counts(s, "x", {"handlaggare"}, clock.now())
        page = q.list_tasks(s, "x", {"handlaggare"}, q.InboxFilter(scope="group", per_page=1), clock.now())
    assert counts == {"mine": 0, "mine_overdue": 0, "group": 3, "group_overdue": 0}
    assert page.capped and page.pages == 2


def test_candidate_user_sees_the_task_in_the_group_list(app, engine, mode):
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


def _statements(engine, fn) -> list[tuple[str, object]]:
    """The SELECT statements (with their parameters) that ``fn`` sends."""
    seen = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    sa.event.listen(engine.db, "before_cursor_execute", capture)
    try:
        fn()
    finally:
        sa.event.remove(engine.db, "before_cursor_execute", capture)
    return seen


def _plans(engine, statements) -> list[str]:
    with engine.db.connect() as conn:
        return [
            " ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))
            for statement, parameters in statements
        ]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # PostgreSQL's plan depends on statistics
def test_inbox_reads_the_index_on_sqlite(app, engine, db_url, monkeypatch):
    """Roles with many tasks: the group list walks the due-order index and stops after a page."""
    monkeypatch.setattr(q, "FEW_CANDIDATES", 0)
    _case(engine, 0)

    def group_page():
        with engine.session() as s:
            q.list_tasks(s, "anna", {"handlaggare"}, q.InboxFilter(scope="group"), clock.now())

    check, dated, undated, total = _statements(engine, group_page)
    assert "FROM task_candidate" in check[0]  # how many candidate rows (capped): 1 > 0, so walk
    plans = _plans(engine, [dated, total])
    assert "SEARCH user_task USING COVERING INDEX ix_user_task_inbox_due" in plans[0], plans[0]
    assert "SEARCH user_task USING COVERING INDEX ix_user_task_inbox_" in plans[1], plans[1]
    assert "SCAN user_task" not in " ".join(plans)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_roles_with_few_tasks_start_from_their_candidate_rows_on_sqlite(app, engine, db_url):
    """Roles with few tasks: no walk over every open task; their candidate rows, then each task by id."""
    for i in range(3):
        _case(engine, i)

    def page():
        with engine.session() as s:
            q.inbox_page(s, "anna", {"handlaggare"}, q.InboxFilter(scope="group"), clock.now())

    check, counts, dated, undated = _statements(engine, page)
    for plan in _plans(engine, [counts, dated]):
        assert "SEARCH task_candidate USING INDEX ix_task_candidate_value" in plan, plan
        assert "SEARCH user_task USING INDEX sqlite_autoindex_user_task_1 (id=?)" in plan, plan
        assert "SCAN user_task" not in plan and "ix_user_task_unclaimed" not in plan, plan


def test_inbox_page_is_list_tasks_plus_inbox_counts(app, engine, mode):
    """The view's two-statement page load gives what the separate queries give, for every filter."""
    engine.add_user("both", "hemligt-123", ["handlaggare", "namnd"])
    cases = [_case(engine, i) for i in range(7)]
    for info in cases[:3]:
        engine.claim_task(info.open_tasks[0], "both")
    engine.complete_task(cases[0].open_tasks[0], "both", dict(GOOD))  # → Beslut (namnd, no due date)
    with engine.db.begin() as conn:  # a task that is "both"'s twice (group and candidate user): once
        conn.execute(
            sa.text("INSERT INTO task_candidate (task_id, kind, value) VALUES (:t, 'user', 'both')"),
            {"t": cases[5].open_tasks[0]},
        )
    clock.set(T0 + timedelta(days=14, hours=3, minutes=30))  # cases 0-3 are overdue now
    roles = {"handlaggare", "namnd"}
    with engine.session() as s:
        definition_id = s.execute(sa.select(UserTask.definition_id).limit(1)).scalar()
    filters = [
        q.InboxFilter(scope=scope, per_page=per_page, page=page, **extra)
        for scope in ("mine", "group")
        for per_page, page in ((25, 1), (2, 2), (5, 2))
        for extra in (
            {},
            {"overdue": True},
            {"due_within_days": 1},
            {"process_key": "test_initiativ"},
            {"process_key": "annan"},
            {"definition_id": definition_id, "sort": "created"},
        )
    ]
    now = clock.now()
    seen_totals = set()
    with engine.session() as s:
        counts = q.inbox_counts(s, "both", roles, now)
        assert counts == {"mine": 2, "mine_overdue": 2, "group": 5, "group_overdue": 1}
        for f in filters:
            page, page_counts = q.inbox_page(s, "both", roles, f, now)
            alone = q.list_tasks(s, "both", roles, f, now)
            assert page_counts == counts, f
            assert (page.total, page.page, page.per_page) == (alone.total, alone.page, alone.per_page), f
            assert page.items == alone.items, f
            seen_totals.add(page.total)
    assert seen_totals >= {0, 1, 2, 5}


def test_web_0002_indexes_hold_open_unclaimed_tasks_only(app, engine):
    indexes = {ix["name"]: ix for ix in sa.inspect(engine.db).get_indexes("user_task")}
    for name, columns in (
        ("ix_user_task_unclaimed_due", ["due_at", "id"]),
        ("ix_user_task_unclaimed_id", ["id", "due_at"]),
    ):
        assert indexes[name]["column_names"] == columns
        where = str(indexes[name]["dialect_options"][f"{engine.dialect}_where"])
        flat = " ".join(where.replace("(", " ").replace(")", " ").replace("::text", "").split())
        assert flat == "state = 'open' AND assignee IS NULL", where


def test_the_group_counts_can_use_the_partial_index(app, engine, monkeypatch):
    """The group count's own statement can use the web_0002 index (its WHERE implies the index's
    predicate). Which index wins depends on table statistics (bench/inbox.py --explain shows the plans at
    100 000 cases); here PostgreSQL is told to avoid table scans so that it shows it may use the index.
    SQLite keeps the web_0001 covering index but must not scan the table."""
    monkeypatch.setattr(q, "FEW_CANDIDATES", 0)
    for i in range(3):
        _case(engine, i)

    def counts():
        with engine.session() as s:
            assert q.inbox_counts(s, "anna", {"handlaggare"}, clock.now())["group"] == 3

    *_check, (statement, parameters) = _statements(engine, counts)  # SQLite checks the roles first
    with engine.db.connect() as conn:
        if engine.dialect == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = " ".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
            assert "ix_user_task_unclaimed_id" in plan, plan
        else:
            plan = " ".join(
                str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            )
            assert "SCAN user_task" not in plan, plan
