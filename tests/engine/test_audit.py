"""The audit chain: append-only in the database, and verify() finds edits and removals."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DatabaseError

from engine.db import make_engine
from engine.models import AuditEvent
from tests.conftest import fixture_bytes
from tests.engine.helpers import add_staff, deploy_fixture, open_tasks


@pytest.fixture
def case(d):
    add_staff(d)
    deploy_fixture(d)
    info = d.start_case("test_initiativ", variables={"initiator_email": "a@example.se"}, actor="hanna")
    [task] = open_tasks(d, info.id)
    d.claim_task(task.id, "hanna")
    d.complete_task(task.id, "hanna", {"fragan_paverkbar": True, "kommentar": "ok"})
    return info


def tamper(d, sql: str, **params) -> None:
    """What a database superuser could do: switch the append-only guard off and edit rows."""
    engine = make_engine(d.settings.database_url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only")
            conn.execute(sa.text(sql), params)
            conn.exec_driver_sql("ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only")
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_event_no_update")
            conn.exec_driver_sql("DROP TRIGGER audit_event_no_delete")
            conn.execute(sa.text(sql), params)
    engine.dispose()


def seq_id(d, case_id, seq):
    with d.session() as s:
        return s.execute(
            sa.select(AuditEvent.id).where(AuditEvent.case_id == case_id, AuditEvent.seq == seq)
        ).scalar_one()


def test_intact_chain_verifies(d, case):
    assert d.verify_audit() == []
    assert d.verify_audit(case.id) == []


def test_database_refuses_update_and_delete(d, case):
    engine = make_engine(d.settings.database_url)
    for statement in ("UPDATE audit_event SET actor = 'mallory'", "DELETE FROM audit_event"):
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
            conn.exec_driver_sql(statement)
    engine.dispose()


def test_edited_row_is_reported(d, case):
    tamper(d, "UPDATE audit_event SET actor = 'mallory' WHERE id = :id", id=seq_id(d, case.id, 4))
    [message] = d.verify_audit(case.id)
    assert "#4" in message and "edited" in message


def test_removed_row_is_reported(d, case):
    tamper(d, "DELETE FROM audit_event WHERE id = :id", id=seq_id(d, case.id, 2))
    [message] = d.verify_audit()
    assert "#2" in message and "missing" in message


def test_removed_newest_rows_are_reported(d, case):
    with d.session() as s:
        last = s.execute(
            sa.select(sa.func.max(AuditEvent.seq)).where(AuditEvent.case_id == case.id)
        ).scalar_one()
    tamper(d, "DELETE FROM audit_event WHERE id = :id", id=seq_id(d, case.id, last))
    [message] = d.verify_audit(case.id)
    assert "newest rows removed" in message


def test_deploy_log_is_chained_too(d, case):
    with d.session() as s:
        deploy_id = s.execute(sa.select(AuditEvent.id).where(AuditEvent.chain == "deploy")).scalar_one()
    tamper(d, "UPDATE audit_event SET actor = 'mallory' WHERE id = :id", id=deploy_id)
    assert any("deploy log" in m for m in d.verify_audit())


def test_removed_newest_deploy_is_reported(d, case):
    """The deploy log keeps its head in audit_head: removing its newest row shows, as for a case."""
    d.deploy(fixture_bytes("message_start.bpmn"), "synpunkt.bpmn", "olle")
    assert d.verify_audit() == []
    with d.session() as s:
        newest = s.execute(
            sa.select(AuditEvent.id)
            .where(AuditEvent.chain == "deploy")
            .order_by(AuditEvent.seq.desc())
            .limit(1)
        ).scalar_one()
    tamper(d, "DELETE FROM audit_event WHERE id = :id", id=newest)
    [message] = d.verify_audit()
    assert "deploy log" in message and "newest rows removed" in message


def test_every_row_of_the_deploy_log_removed_is_reported(d, case):
    tamper(d, "DELETE FROM audit_event WHERE chain = 'deploy'")
    [message] = d.verify_audit()
    assert "deploy log" in message and "newest rows removed" in message


def test_a_removed_head_is_reported(d, case):
    engine = make_engine(d.settings.database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM audit_head WHERE chain = 'deploy'")
    engine.dispose()
    [message] = d.verify_audit()
    assert "deploy log" in message and "no head" in message


def test_postgresql_refuses_truncate(d, case):
    engine = make_engine(d.settings.database_url)
    try:
        statement = (
            "TRUNCATE audit_event" if engine.dialect.name == "postgresql" else "DELETE FROM audit_event"
        )
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
            conn.exec_driver_sql(statement)
    finally:
        engine.dispose()
    assert d.verify_audit() == []
