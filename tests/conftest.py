"""Shared fixtures: every engine test runs on SQLite *and* on a real PostgreSQL.

PostgreSQL: one scratch database per test session (migrated once with Alembic, so the migrations are
tested too), tables truncated between tests. SQLite: a migrated template file copied per test.
Set DELAKTIG_TEST_DATABASES=sqlite to run without PostgreSQL locally; CI runs both and skips nothing.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine import clock
from engine.app import Delaktig
from engine.db import make_engine, upgrade
from engine.models_all import Base

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DATABASES = [
    d.strip() for d in os.environ.get("DELAKTIG_TEST_DATABASES", "sqlite,postgresql").split(",") if d.strip()
]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_url():
    name = f"delaktig_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        )
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
    admin.dispose()


def _truncate(url: str) -> None:
    """Empty every table of the scratch database (also used by tests/workers/conftest.py)."""
    engine = make_engine(url)
    existing = set(sa.inspect(engine).get_table_names())
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables if t.name in existing)
    with engine.begin() as conn:
        # Triggers off for this transaction (superuser): the audit log refuses TRUNCATE (migration 0005).
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    engine.dispose()


@pytest.fixture(params=DATABASES)
def db_url(request, tmp_path, sqlite_template) -> str:
    if request.param == "sqlite":
        path = tmp_path / "delaktig.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_url")
    _truncate(url)
    return url


@pytest.fixture
def d(db_url, tmp_path):
    from engine.config import Settings

    app = Delaktig(settings=Settings.from_env(database_url=db_url, data_dir=tmp_path))
    yield app
    app.dispose()


@pytest.fixture(autouse=True)
def _reset_clock():
    clock.reset()
    yield
    clock.reset()


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def count(d: Delaktig, model, *where) -> int:
    with d.session() as s:
        return s.execute(sa.select(sa.func.count()).select_from(model).where(*where)).scalar_one()
