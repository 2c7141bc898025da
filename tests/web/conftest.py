"""Fixtures for the staff web app: an app on the engine test database (SQLite and PostgreSQL), the
fixture routine deployed, staff users per role, and a test client that carries the CSRF token like a
browser does (CSRF stays on in these tests)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import fixture_bytes
from webhooks import create_app

PASSWORD = "hemligt-losen-1"
USERS = {
    "anna": ["handlaggare"],
    "annika": ["handlaggare"],
    "bertil": ["namnd"],
    "cecilia": ["avdelningschef"],
    "david": [],
    "rut": ["revisor"],  # auditor: reads every case (webhooks.staff.cases.DEFAULT_CASE_READER_ROLES)
    "adam": ["admin"],
}
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


class Staff:
    """A test client with a session and the CSRF token of its current page."""

    def __init__(self, app):
        self.app = app
        self.c = app.test_client()
        self.token: str | None = None

    def get(self, url, **kw):
        r = self.c.get(url, **kw)
        m = TOKEN.search(r.get_data(as_text=True))
        if m:
            self.token = m.group(1)
        return r

    def post(self, url, data=None, token=True, **kw):
        data = dict(data or {})
        if token:
            if self.token is None:
                self.get("/logga-in")
            data.setdefault("csrf_token", self.token)
        return self.c.post(url, data=data, **kw)

    def login(self, name, password=PASSWORD):
        ensure_user(self.app, name)
        self.get("/logga-in")
        r = self.post("/logga-in", {"username": name, "password": password})
        assert r.status_code == 302, r.get_data(as_text=True)
        self.get("/uppgifter")  # the session is new after sign-in: take its token
        return r


@pytest.fixture
def app(d, db_url):
    application = create_app({"DATABASE_URL": db_url, "TESTING": True, "SECRET_KEY": "test-secret"})
    engine = application.extensions["delaktig"]
    engine.deploy(fixture_bytes("initiativ.bpmn"), "initiativ.bpmn", "test")
    yield application
    engine.dispose()


def ensure_user(app, name: str) -> None:
    """Create a test user on first use (argon2 hashing is slow on purpose; only pay for who is used)."""
    made = app.config.setdefault("_test_users", set())
    if name in USERS and name not in made:
        app.extensions["delaktig"].add_user(name, PASSWORD, USERS[name])
        made.add(name)


@pytest.fixture
def engine(app):
    return app.extensions["delaktig"]


@pytest.fixture
def staff(app):
    return lambda name=None: _signed_in(app, name)


def _signed_in(app, name):
    s = Staff(app)
    if name:
        s.login(name)
    return s


def html(response) -> str:
    return response.get_data(as_text=True)
