"""Fixtures for the routine tests: ``sqlite_d`` is ``d`` from tests/conftest.py on SQLite only, for the
many branch walks; each routine also has one full walk on ``d`` (SQLite and PostgreSQL)."""

from __future__ import annotations

import shutil

import pytest

pytest.register_assert_rewrite("tests.processes.walker")

from engine.app import Delaktig  # noqa: E402


@pytest.fixture
def sqlite_d(tmp_path, sqlite_template):
    from engine.config import Settings

    path = tmp_path / "delaktig.db"
    shutil.copy(sqlite_template, path)
    app = Delaktig(settings=Settings.from_env(database_url=f"sqlite:///{path}", data_dir=tmp_path))
    yield app
    app.dispose()
