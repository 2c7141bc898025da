"""Fixtures for the intake tests: the whole app served over real HTTP on 127.0.0.1 (SQLite and
PostgreSQL via ``db_url``), a real SMTP server in-process (aiosmtpd), and the engine's outbox relay
(``engine.outbox.relay_batch`` with ``engine.mailer.SMTPMailer``) to carry outbox rows to it."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import http.cookiejar
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from werkzeug.serving import make_server

from engine import initiatives
from engine.mailer import SMTPMailer
from engine.outbox import relay_batch
from webhooks.app import create_app

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SECRET = "kanalens-hemlighet-123"
CHANNEL = "eforslag"
PASSWORD = "hemligt-losen-1"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')

RULES = {
    "series": "KS",
    "format": "{series} {year}/{seq:04d}",
    "deadlines": {"medborgarforslag": "P1Y"},
    "expected": {"*": "P6M"},
    "retention": "P1Y",
    "report_to": "role:namndsekreterare",
    "rules": [
        {
            "name": "HV externt initiativ",
            "kind": "initiativ_medborgardialog",
            "area": "Hässelby-Vällingby",
            "message": "initiativ_mottaget",
            "states": {
                "Task_registrera_initiativ": "screened",
                "Task_registrera_namndbeslut": "decided",
                "SendTask_svar_initiativtagare": "answered",
            },
            "decision_var": "namnd_beslut_motivering",
        },
        {
            "name": "e-förslag nådde röstgränsen",
            "kind": "e_forslag",
            "event": "threshold_reached",
            "message": "intake_roster_uppnadda",
        },
        {
            "name": "testrutinen",
            "kind": ["medborgarforslag", "e_forslag"],
            "message": "intake_mottaget",
            "states": {"Task_granska": "screened", "Task_beslut": "decided", "Send_svar": "answered"},
            "decision_var": "beslut_text",
        },
        {"name": "synpunkter handläggs utan rutin", "kind": "synpunkt"},
    ],
}


@dataclass
class Reply:
    status: int
    headers: dict
    body: bytes
    url: str

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self):
        return json.loads(self.body)


class Client:
    """A browser-like HTTP client (cookies kept) against the real server."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.token: str | None = None

    def request(
        self, method: str, path: str, data: bytes | None = None, headers: dict | None = None
    ) -> Reply:
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers or {})
        try:
            with self.opener.open(req, timeout=30) as r:
                reply = Reply(r.status, dict(r.headers), r.read(), r.url)
        except urllib.error.HTTPError as err:
            reply = Reply(err.code, dict(err.headers), err.read(), err.url)
        m = TOKEN.search(reply.body.decode("utf-8", "replace"))
        if m:
            self.token = m.group(1)
        return reply

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post_form(self, path: str, fields: dict, token: bool = True) -> Reply:
        fields = dict(fields)
        if token:
            fields.setdefault("csrf_token", self.token or "")
        body = urllib.parse.urlencode(fields).encode()
        return self.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})


def signed(
    body: bytes, secret: str = SECRET, ts: int | None = None, key: str | None = None, channel: str = CHANNEL
) -> dict:
    ts = int(time.time()) if ts is None else ts
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Delaktig-Channel": channel,
        "X-Delaktig-Timestamp": str(ts),
        "X-Delaktig-Signature": f"sha256={mac}",
    }
    if key:
        headers["Idempotency-Key"] = key
    return headers


@pytest.fixture
def app(db_url, tmp_path):
    application = create_app(
        {
            "DATABASE_URL": db_url,
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "INTAKE_RULES": RULES,
            "INTAKE_RATE_LIMIT": "50/3600",
            "INTAKE_MAX_BODY": 16 * 1024,
        }
    )
    d = application.extensions["delaktig"]
    d.deploy((FIXTURES / "intake_test.bpmn").read_bytes(), "intake_test.bpmn", "test")
    initiatives.add_channel(d, CHANNEL, SECRET)
    # No passwords (argon2 is slow on purpose); the staff tests add the one account that signs in.
    d.add_user("nina", None, ["namndsekreterare"], email="nina@kommun.example.se")
    d.add_user("hanna", None, ["handlaggare"], email="hanna@kommun.example.se")
    d.add_user("nils", None, ["namnd"], email="nils@kommun.example.se")
    yield application
    d.dispose()


@pytest.fixture
def d(app):
    return app.extensions["delaktig"]


@pytest.fixture
def config(app):
    return app.extensions["intake_config"]


@pytest.fixture
def server(app):
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()
    thread.join(5)


@pytest.fixture
def client(server):
    return Client(server)


@dataclass
class Inbox:
    messages: list = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(
            {"to": envelope.rcpt_tos, "msg": msg, "subject": str(msg["Subject"]), "body": msg.get_content()}
        )
        return "250 OK"

    def to(self, address: str) -> list[dict]:
        return [m for m in self.messages if address in m["to"]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    inbox.port = port
    yield inbox
    controller.stop()


@pytest.fixture
def relay(d, smtp):
    """Send every due outbox row to the aiosmtpd server through the engine's relay; returns the count."""

    def run() -> int:
        sent = 0
        while True:
            result = relay_batch(d, SMTPMailer("127.0.0.1", smtp.port))
            sent += result.sent
            assert result.failed == 0 and result.retried == 0, result
            if result.claimed == 0:
                return sent

    return run


def status_token(text: str) -> str:
    m = re.search(r"/initiativ/status/([A-Za-z0-9_\-]+)", text)
    assert m, text
    return m.group(1)
