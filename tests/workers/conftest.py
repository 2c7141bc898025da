"""Fixtures for the worker tests: a real SMTP server (aiosmtpd), worker subprocesses, own Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from email import message_from_bytes
from email.message import Message
from email.policy import default as default_policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
CONFIG_DIR = FIXTURES / "config"
TEST_REDIS_DB = 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], object], timeout: float = 20.0, interval: float = 0.1, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")


class Inbox:
    """What the SMTP server received. ``refuse_until`` makes it answer 451 until that monotonic time."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        # MAIL FROM, RCPT TOs, MAIL options and the message as received
        self.envelopes: list[tuple[str, list[str], list[str], bytes]] = []
        self.refused = 0
        self.refuse_until = 0.0
        self.refuse_first = 0  # answer 451 to the first N recipients
        self.delay = 0.0
        self.mail_reply = ""  # e.g. "530 5.7.0 Authentication required": refuse every MAIL FROM
        self.data_reply = ""  # e.g. "451 4.3.0 Later": refuse the final dot (after storing nothing)
        self.drop_after_data = 0  # store the next N messages, then drop the connection without a reply
        self.lock = threading.Lock()

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from, envelope.mail_options = address, list(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.delay:  # slow the conversation down before the message, never after its final dot
            await asyncio.sleep(self.delay)
        if time.monotonic() < self.refuse_until or self.refused < self.refuse_first:
            self.refused += 1
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply:
            return self.data_reply
        # Like an MTA: the message is ours once its final dot arrived, whatever happens to the client.
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content, policy=default_policy))
            self.envelopes.append(
                (envelope.mail_from, list(envelope.rcpt_tos), envelope.mail_options, envelope.content)
            )
            if self.drop_after_data > 0:
                self.drop_after_data -= 1
                server.transport.abort()  # stored, but the client never hears the 250
        return "250 Message accepted for delivery"

    def ids(self) -> list[str]:
        with self.lock:
            return [str(m["Message-ID"]) for m in self.messages]

    def to(self) -> list[str]:
        with self.lock:
            return [str(m["To"]) for m in self.messages]


def _serve(**smtp_parameters):
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **smtp_parameters)
    controller.start()
    inbox.port = port
    yield inbox
    controller.stop()


@pytest.fixture
def smtp():
    yield from _serve()


@pytest.fixture
def smtp_ascii():
    """A server that does not offer SMTPUTF8 (RFC 6531); ``smtp`` does, as aiosmtpd, Postfix 3 and
    Exchange do by default."""
    yield from _serve(enable_SMTPUTF8=False)


@pytest.fixture
def smtp_env(smtp, monkeypatch):
    monkeypatch.setenv("DELAKTIG_MAILER", "smtp")
    monkeypatch.setenv("DELAKTIG_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("DELAKTIG_SMTP_PORT", str(smtp.port))
    return smtp


class Blackhole:
    """Accepts TCP connections and never answers: an SMTP relay behind a dead firewall or a hung MTA."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(200)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.conns.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


@pytest.fixture
def blackhole():
    server = Blackhole()
    yield server
    server.close()


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server of our own on a free port, so stopping (or killing) it touches nobody else's Redis."""
    import shutil

    binary = shutil.which("redis-server")
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    log = open(tmp_path / "redis.log", "ab")  # noqa: SIM115 - closed at the end

    class Server:
        url = f"redis://127.0.0.1:{port}/0"
        proc: subprocess.Popen | None = None

        def start(self):
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
            wait_for(lambda: _ping(self.url), 10, what="redis-server")

        def stop(self):
            self.proc.terminate()
            self.proc.wait(timeout=10)

        def kill9(self):
            self.proc.kill()
            self.proc.wait(timeout=10)

    server = Server()
    server.start()
    yield server
    if server.proc.poll() is None:
        server.stop()
    log.close()


def _ping(url: str) -> bool:
    import redis

    try:
        return redis.Redis.from_url(url, socket_timeout=0.5).ping()
    except Exception:  # noqa: BLE001
        return False


def deploy(d, *names: str) -> None:
    for name in names:
        d.deploy((FIXTURES / f"{name}.bpmn").read_bytes(), f"{name}.bpmn")


class Proc:
    """A child process in its own process group, so kill -9 reaches the whole worker (pool included)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.log = log
        self.out = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.p = subprocess.Popen(
            args, env=env, cwd=ROOT, stdout=self.out, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.p.pid

    def kill9(self) -> None:
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGKILL)
        self.p.wait(timeout=10)

    def stop(self) -> None:
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(timeout=10)
        self.out.close()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture
def procs(tmp_path):
    """Start worker/beat subprocesses; all are stopped (by their own PIDs) at the end."""
    started: list[Proc] = []

    def start(kind: str, env: dict[str, str], *extra: str) -> Proc:
        args = [sys.executable, "-m", "celery", "-A", "workers", kind, "--loglevel=INFO", *extra]
        if kind == "worker":
            args += ["-n", f"test{len(started)}@%h", "--without-gossip", "--without-mingle"]
        proc = Proc(args, env, tmp_path / f"{kind}{len(started)}.log")
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


def worker_env(db_url: str, smtp: Inbox | None, broker: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DELAKTIG_", "CELERY_", "REDIS_"))}
    if os.environ.get("DELAKTIG_REDIS_PREFIX"):
        env["DELAKTIG_REDIS_PREFIX"] = os.environ["DELAKTIG_REDIS_PREFIX"]
    env.update(
        DATABASE_URL=db_url,
        REDIS_URL=broker,
        DELAKTIG_PROCESSES_DIR=str(CONFIG_DIR),
        DELAKTIG_TICK_SECONDS="0.5",
        DELAKTIG_RELAY_SECONDS="0.5",
        DELAKTIG_REMINDER_SECONDS="1",
        DELAKTIG_SCHEDULE_SECONDS="5",
        DELAKTIG_DIGEST_SECONDS="5",
        PYTHONPATH=str(ROOT),
    )
    if smtp is not None:
        env.update(DELAKTIG_MAILER="smtp", DELAKTIG_SMTP_HOST="127.0.0.1", DELAKTIG_SMTP_PORT=str(smtp.port))
    env.update(extra)
    return env


@pytest.fixture
def redis_db(monkeypatch):
    """Redis database 5 on the shared server, with a key prefix of our own: another test run using the
    same database never sees our queues; only our keys are deleted afterwards."""
    import uuid

    import redis

    prefix = f"t{uuid.uuid4().hex[:10]}:"
    monkeypatch.setenv("DELAKTIG_REDIS_PREFIX", prefix)
    url = f"redis://127.0.0.1:6379/{TEST_REDIS_DB}"
    yield url
    client = redis.Redis.from_url(url)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


@pytest.fixture
def pg_d(pg_url, tmp_path):
    """The engine on the session's PostgreSQL database, truncated (worker tests need SKIP LOCKED)."""
    from engine.app import Delaktig
    from engine.config import Settings
    from tests.conftest import _truncate

    _truncate(pg_url)
    app = Delaktig(settings=Settings.from_env(database_url=pg_url, data_dir=tmp_path))
    yield app
    app.dispose()
