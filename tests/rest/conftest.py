"""Fixtures for the REST API tests: the Flask app on a fresh database (SQLite and PostgreSQL, from
``db_url``), staff users, and a real HTTP server on 127.0.0.1 for the client-library tests."""

from __future__ import annotations

import base64
import threading

import pytest
from werkzeug.serving import make_server

from tests.conftest import fixture_bytes
from webhooks.app import create_app

PASSWORD = "hemligt123"
USERS = {
    "hanna": ["handlaggare"],
    "henrik": ["handlaggare"],
    "nils": ["namnd"],
    "anders": ["avdelningschef"],
    "olle": ["processagare"],
}


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch):
    """Real argon2 through the real login path, with test-sized cost parameters: the production cost
    (about half a second per hash on a CI core) would dominate every test that signs a user in."""
    from argon2 import PasswordHasher

    from engine import users

    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def app(db_url, tmp_path):
    app = create_app({"DATABASE_URL": db_url, "TESTING": True, "DELAKTIG_DATA_DIR": str(tmp_path)})
    engine = app.extensions["delaktig"]
    for name, roles in USERS.items():
        engine.add_user(name, PASSWORD, roles, email=f"{name}@example.se")
    yield app
    engine.dispose()


@pytest.fixture
def engine(app):
    return app.extensions["delaktig"]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def server(app):
    """A real HTTP server (threaded) on a free loopback port; yields the /engine-rest base URL."""
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}/engine-rest"
    srv.shutdown()
    thread.join(5)


def basic(user: str, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def deployed(engine):
    """initiativ.bpmn deployed by the process owner."""
    return engine.deploy(fixture_bytes("initiativ.bpmn"), "initiativ.bpmn", "olle")[0]
