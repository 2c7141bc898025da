"""The writes that find one task by id use its primary key, however many tasks the inbox indexes hold.

With ``WHERE id = … AND state = 'open'`` PostgreSQL costed the inbox indexes (state, assignee, …, id)
like the primary key and could pick one, walking every open task's entry and the dead entries completed
tasks left behind to find one id: each completion grew slower with the number of open tasks.
"""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from engine import case_sql
from engine.models import UserTask
from tests.engine.helpers import add_staff, deploy_fixture, open_tasks

FILLER_TASKS = 3000


def _fill_inbox(d, case_id: str, still_open: bool = False) -> None:
    """Thousands of tasks on one case, all once open and now completed (``still_open``: left open): the
    indexes of open tasks then hold thousands of entries — dead ones until vacuum, or live — and the
    planner knows it (ANALYZE)."""
    now = "2026-01-01 00:00:00+00"
    with d.db.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO user_task (id, case_id, definition_id, process_key, element_id, candidate_groups, "
                "candidate_users, state, created_at, priority, form) VALUES (:id, :case_id, 'd', 'k', 'e', "
                "'[]', '[]', 'open', :now, 50, '{}')"
            ),
            [{"id": str(uuid.uuid4()), "case_id": case_id, "now": now} for _ in range(FILLER_TASKS)],
        )
        if not still_open:
            conn.execute(sa.text("UPDATE user_task SET state = 'completed' WHERE element_id = 'e'"))
    with d.db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE user_task")


def _plan(d, sql: str, params: dict) -> str:
    with d.db.connect() as conn:
        if d.db.dialect.name == "postgresql":
            rows = conn.exec_driver_sql("EXPLAIN " + sql, params)
            return "\n".join(r[0] for r in rows)
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)
        return "\n".join(str(r[-1]) for r in rows)


def _uses_primary_key(plan: str) -> bool:
    """The primary key, or the one index led by the task id (open, unclaimed tasks: migration web_0002)."""
    return any(
        name in plan
        for name in (
            "pk_user_task",
            "sqlite_autoindex_user_task_1",
            "PRIMARY KEY",
            "ix_user_task_unclaimed_id",
        )
    )


@pytest.fixture
def task_among_thousands(d):
    """The open first task of a case whose inbox indexes also hold thousands of dead entries."""
    add_staff(d)
    deploy_fixture(d)
    info = d.start_case("test_initiativ", variables={"initiator_email": "a@example.se"}, actor="hanna")
    [task] = open_tasks(d, info.id)
    _fill_inbox(d, info.id)
    return task


def test_completing_a_task_finds_it_by_primary_key(d, task_among_thousands):
    task = task_among_thousands

    sql = case_sql.COMPLETE_USER_TASK.render(d.db.dialect.name)
    if d.db.dialect.name == "postgresql":
        # The guard wrapper (delaktig_expect_rows) aside, it is the UPDATE whose plan matters.
        sql = sql.split("WITH w AS (", 1)[1].rsplit(" RETURNING 1)", 1)[0]
    params = {"id": task.id, "now": None, "actor": "hanna", "assignee": "hanna"}
    plan = _plan(d, sql, params)
    assert _uses_primary_key(plan) and "inbox" not in plan, plan

    # The guard still does its work: a completed task is completed once.
    d.complete_task(task.id, "hanna", {"fragan_paverkbar": True, "kommentar": "ok"})
    with d.session() as s:
        assert s.get(UserTask, task.id).state == "completed"


def test_claiming_a_task_finds_it_by_primary_key(d, task_among_thousands):
    task = task_among_thousands

    seen: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        if statement.lstrip().upper().startswith("UPDATE USER_TASK"):
            seen.append((statement, parameters))

    sa.event.listen(d.db, "before_cursor_execute", capture)
    try:
        d.claim_task(task.id, "hanna")
    finally:
        sa.event.remove(d.db, "before_cursor_execute", capture)
    [(statement, parameters)] = seen
    plan = _plan(d, statement, parameters)
    assert _uses_primary_key(plan) and "inbox" not in plan, plan
    with d.session() as s:
        assert s.get(UserTask, task.id).assignee == "hanna"


def test_a_case_s_open_tasks_are_found_by_the_case_index(d):
    """Camunda's ``GET /task?processInstanceId=…`` (and the staff pages' case view) with thousands of
    other open tasks: the case's index, not a walk over every open task."""
    from engine import camunda_queries as q

    add_staff(d)
    deploy_fixture(d)
    other = d.start_case("test_initiativ", variables={"initiator_email": "a@example.se"}, actor="hanna")
    mine = d.start_case("test_initiativ", variables={"initiator_email": "b@example.se"}, actor="hanna")
    _fill_inbox(d, other.id, still_open=True)

    f = q.TaskFilter(process_instance_id=mine.id, visible_to=("hanna", {"handlaggare"}))
    with d.session() as s:
        statement, params = q.task_query(s, f)  # the statement GET /task runs, with its values
        sql = str(
            statement.params(params).compile(dialect=d.db.dialect, compile_kwargs={"literal_binds": True})
        )
        [task] = q.task_list(s, f)
    assert task.case_id == mine.id
    plan = _plan(d, sql, {})
    assert "ix_user_task_case_id" in plan and "open_due" not in plan and "inbox" not in plan, plan
