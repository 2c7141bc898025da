"""The session-3 index migrations go down and up again on both databases, and the indexes they leave are
the ones the queries are written for: partial indexes of open tasks (``engine.models.OPEN``, migrations
0003 and web_0003) and the read-access indexes (0004)."""

from __future__ import annotations

from alembic import command

from engine.db import alembic_config, make_engine

NAMES = ("ix_user_task_open_due", "ix_user_task_inbox_due", "ix_user_task_inbox_created")


def _definitions(url: str) -> dict[str, str]:
    """Every index's name → its CREATE INDEX text, as the database reports it (SQLite's automatic
    indexes have none)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                sql = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
            else:
                sql = "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
            return {name: definition or "" for name, definition in conn.exec_driver_sql(sql)}
    finally:
        engine.dispose()


def _indexes(url: str) -> dict[str, tuple[list[str], bool]]:
    """name → (columns, partial?) for the three open-task indexes."""
    found = {}
    for name, definition in _definitions(url).items():
        if name in NAMES:
            columns = definition.split("(", 1)[1].split(")", 1)[0]
            found[name] = ([c.strip().strip('"') for c in columns.split(",")], " WHERE " in definition)
    return found


PARTIAL = {
    "ix_user_task_open_due": (["due_at"], True),
    "ix_user_task_inbox_due": (["assignee", "due_at", "id", "state"], True),
    "ix_user_task_inbox_created": (["assignee", "created_at", "id", "state"], True),
}
LED_BY_STATE = {
    "ix_user_task_open_due": (["state", "due_at"], False),
    "ix_user_task_inbox_due": (["state", "assignee", "due_at", "id"], False),
    "ix_user_task_inbox_created": (["state", "assignee", "created_at", "id"], False),
}


READ_ACCESS = {
    "ix_audit_event_actor",
    "ix_audit_event_reassigned",
    "ix_case_started_by",
    "ix_user_task_completed_by",
}
READ_ACCESS_PG = {"ix_user_task_candidate_groups", "ix_user_task_candidate_users"}  # GIN


def _index_names(url: str) -> set[str]:
    return set(_definitions(url))


def test_index_migrations_down_and_up_again(d, db_url):
    expected_read_access = READ_ACCESS | (READ_ACCESS_PG if db_url.startswith("postgresql") else set())
    assert _indexes(db_url) == PARTIAL
    assert expected_read_access <= _index_names(db_url)
    d.dispose()  # no connection of the app's pool in the way of DDL
    cfg = alembic_config(db_url)
    command.downgrade(cfg, "web_0002")
    command.downgrade(cfg, "0002")
    assert _indexes(db_url) == LED_BY_STATE
    assert not (READ_ACCESS | READ_ACCESS_PG) & _index_names(db_url)
    command.upgrade(cfg, "heads")
    assert _indexes(db_url) == PARTIAL
    assert expected_read_access <= _index_names(db_url)


def test_session_generation_migration_down_and_up_keeps_the_users(d, db_url):
    """web_0004 adds ``app_user.session_generation`` in place (a table copy would take the users' roles
    with it on SQLite)."""
    import sqlalchemy as sa

    d.add_user("anna", None, ["handlaggare"])
    d.dispose()
    cfg = alembic_config(db_url)

    def columns() -> set[str]:
        engine = make_engine(db_url)
        try:
            return {c["name"] for c in sa.inspect(engine).get_columns("app_user")}
        finally:
            engine.dispose()

    assert "session_generation" in columns()
    command.downgrade(cfg, "web_0003")
    assert "session_generation" not in columns()
    command.upgrade(cfg, "heads")
    assert "session_generation" in columns()
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT u.session_generation, r.role_name FROM app_user u JOIN user_role r ON r.user_id = u.id"
                " WHERE u.name = 'anna'"
            ).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [(0, "handlaggare")]
