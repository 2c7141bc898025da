"""engine.rowio: queued writes, BEGIN/COMMIT riding with them, and guards the database enforces.

PostgreSQL runs psycopg in autocommit mode with BEGIN sent by Delaktig (engine.db); these tests make sure
that a transaction is still all-or-nothing, whichever way its statements went out.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine import definitions
from engine.audit import AuditWriter
from engine.errors import Conflict
from engine.models import AuditEvent, Case, UserTask
from engine.rowio import RowIO, Statement, finish_rows
from engine.runtime import open_case, start_new_case
from tests.engine.helpers import add_staff, case_row, deploy_fixture, open_tasks


class Boom(Exception):
    pass


def _start_a_case(d, s):
    definition = definitions.latest_definition(s, "test_initiativ", None)
    return start_new_case(s, d.specs, definition, "bk", {"initiator_email": "a@example.se"}, "hanna")


def _counts(d) -> tuple[int, int, int]:
    with d.session() as s:
        return (
            s.execute(sa.select(sa.func.count()).select_from(Case)).scalar(),
            s.execute(sa.select(sa.func.count()).select_from(UserTask)).scalar(),
            s.execute(sa.select(sa.func.count()).select_from(AuditEvent)).scalar(),
        )


def test_statement_renders_per_dialect():
    st = Statement("UPDATE t SET a = :a WHERE id = :id AND x::text = 'y'", expect_one=True, conflict="nej")
    assert st.render("sqlite") == "UPDATE t SET a = :a WHERE id = :id AND x::text = 'y'"
    pg = st.render("postgresql")
    assert "SET a = %(a)s WHERE id = %(id)s AND x::text = 'y' RETURNING 1" in pg  # casts untouched
    assert "delaktig_expect_rows((SELECT count(*) FROM w), 1, %(_conflict)s)" in pg
    assert Statement("SELECT 1", postgresql="SELECT 2").render("postgresql") == "SELECT 2"


def test_queued_writes_become_one_postgresql_statement():
    from engine.rowio import _one_statement

    guarded = Statement("UPDATE t SET a = :a WHERE id = :id", expect_one=True, conflict="upptagen")
    plain = Statement("INSERT INTO u (id, v) VALUES (:id, :v)")
    sql, params = _one_statement(
        [(guarded, {"a": 1, "id": "x"}), (plain, [{"id": 1, "v": 2}, {"id": 3, "v": 4}])]
    )
    # $n placeholders (a raw cursor: psycopg does not re-parse the text), one per parameter of each write.
    assert sql.startswith("WITH w0 AS (UPDATE t SET a = $1 WHERE id = $2 RETURNING 1),")
    assert "w1 AS (INSERT INTO u (id, v) VALUES ($4, $5))" in sql
    assert "w2 AS (INSERT INTO u (id, v) VALUES ($6, $7))" in sql
    assert sql.endswith("SELECT delaktig_expect_rows((SELECT count(*) FROM w0), 1, $3)")
    assert params == [1, "x", "upptagen", 1, 2, 3, 4]
    # A parameter used twice in one write is one placeholder.
    twice = Statement("UPDATE t SET a = :a WHERE b = :a")
    sql, params = _one_statement([(twice, {"a": 5}), (plain, {"id": 1, "v": 2})])
    assert "w0 AS (UPDATE t SET a = $1 WHERE b = $1)" in sql and params == [5, 1, 2]
    # One write alone goes as written; reads are never combined.
    assert _one_statement([(plain, {"id": 1, "v": 2})]) == (plain.render("postgresql"), {"id": 1, "v": 2})
    with pytest.raises(ValueError):
        _one_statement([(plain, {"id": 1, "v": 2}), (Statement("SELECT 1"), {})])


def test_a_failing_transaction_leaves_nothing_behind(d):
    """Rows flushed by a case run (and ORM rows) are rolled back when the transaction fails later."""
    add_staff(d)
    deploy_fixture(d)
    before = _counts(d)

    def work(s):
        run = _start_a_case(d, s)
        # Flushed, visible inside the transaction…
        assert s.execute(sa.select(Case.id).where(Case.id == run.case.id)).scalar() == run.case.id
        raise Boom

    with pytest.raises(Boom):
        d.transaction(work)
    assert _counts(d) == before  # …and gone after the rollback


def test_rows_queued_for_the_commit_are_committed_together(d):
    add_staff(d)
    deploy_fixture(d)
    info = d.start_case("test_initiativ", variables={"initiator_email": "a@example.se"}, actor="hanna")
    row = case_row(d, info.id)
    assert row.version == 1 and row.audit_seq >= 2
    [task] = open_tasks(d, info.id)
    assert task.candidate_groups == ["handlaggare"]
    assert d.verify_audit(info.id) == []


def test_stale_version_at_commit_is_refused_and_nothing_is_written(d):
    """save(last=True): the version check travels with the COMMIT (PostgreSQL: in one pipeline), so the
    database itself must refuse it; the transaction's other rows are not committed either."""
    add_staff(d)
    deploy_fixture(d)
    info = d.start_case("test_initiativ", variables={"initiator_email": "a@example.se"})
    [task] = open_tasks(d, info.id)
    before = _counts(d)

    def work(s):
        run = open_case(s, info.id, d.specs, "hanna", AuditWriter())
        run.record("note", detail={"x": 1})
        run.case.version += 3  # as if we had read a version the database no longer has
        run.save(last=True)

    with pytest.raises(Conflict, match="samtidigt"):
        d.transaction(work)
    assert _counts(d) == before
    assert case_row(d, info.id).version == 1
    assert [t.id for t in open_tasks(d, info.id)] == [task.id]
    assert d.verify_audit(info.id) == []


def test_a_missed_guard_mid_transaction_is_refused(d):
    """The guard also holds when the rows are flushed before the end (the default save())."""
    add_staff(d)
    deploy_fixture(d)
    d.start_case("test_initiativ", variables={"initiator_email": "a@example.se"})

    def work(s):
        io = RowIO.of(s)
        io.queue(
            Statement(
                'UPDATE "case" SET audit_seq = audit_seq WHERE id = :id',
                expect_one=True,
                conflict="ingen rad",
            ),
            {"id": "finns-inte"},
        )
        io.flush()

    with pytest.raises(Conflict, match="ingen rad"):
        d.transaction(work)


def test_unique_violation_in_the_pipeline_is_a_conflict(d):
    add_staff(d)
    deploy_fixture(d)
    info = d.start_case("test_initiativ", variables={"initiator_email": "a@example.se"})
    insert = Statement("INSERT INTO role (name, label) VALUES (:name, :label)")

    def work(s):
        io = RowIO.of(s)
        io.queue(insert, [{"name": "ny_roll", "label": None}, {"name": "ny_roll", "label": None}])
        finish_rows(s)

    with pytest.raises(Conflict):
        d.transaction(work)
    with d.session() as s:
        assert s.execute(sa.text("SELECT count(*) FROM role WHERE name = 'ny_roll'")).scalar() == 0
    assert case_row(d, info.id).version == 1


def test_read_only_transactions_still_work(d):
    """Deferred BEGIN: a transaction that never writes, or never runs a statement, commits cleanly."""
    assert d.transaction(lambda s: s.execute(sa.text("SELECT 1")).scalar()) == 1
    assert d.transaction(lambda s: 42) == 42
    with d.db.connect() as conn:
        assert conn.execute(sa.text("SELECT 2")).scalar() == 2
        conn.commit()


def test_a_write_transaction_inside_a_read_session_is_still_atomic(d):
    """Read sessions skip BEGIN on PostgreSQL; a transaction opened while one is active must not."""
    add_staff(d)
    deploy_fixture(d)
    before = _counts(d)

    def work(s):
        _start_a_case(d, s)
        raise Boom

    with d.session() as reader:
        assert reader.execute(sa.select(sa.func.count()).select_from(Case)).scalar() == before[0]
        with pytest.raises(Boom):
            d.transaction(work)
    assert _counts(d) == before


def test_a_large_write_set_goes_through_in_chunks(d):
    """Hundreds of queued rows (PostgreSQL: several combined statements) all land, in one transaction."""
    insert = Statement("INSERT INTO role (name, label) VALUES (:name, :label)")

    def work(s):
        RowIO.of(s).queue(insert, [{"name": f"roll_{i}", "label": f"Roll {i}"} for i in range(250)])
        finish_rows(s)

    d.transaction(work)
    with d.session() as s:
        assert s.execute(sa.text("SELECT count(*) FROM role WHERE name LIKE 'roll_%'")).scalar() == 250
