"""The committed viewer bundle is what `npm ci --ignore-scripts && npm run build` makes, and the app
runs under the production servers (waitress for `delaktig up`, gunicorn's loader for production)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "webhooks" / "frontend"
VENDOR = ROOT / "webhooks" / "static" / "vendor"


def test_viewer_bundle_is_reproduced_by_the_committed_lockfile(tmp_path):
    work = tmp_path / "frontend"
    work.mkdir()
    for name in ("package.json", "package-lock.json"):
        shutil.copy(FRONTEND / name, work / name)
    shutil.copytree(FRONTEND / "src", work / "src")
    run = lambda *cmd: subprocess.run(cmd, cwd=work, check=True, capture_output=True, timeout=300)  # noqa: E731
    run("npm", "ci", "--ignore-scripts", "--prefer-offline", "--no-audit", "--no-fund")
    run("npm", "run", "build")
    for name in ("bpmn-viewer.js", "bpmn-viewer.css"):
        assert (tmp_path / "static" / "vendor" / name).read_bytes() == (VENDOR / name).read_bytes(), name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, proc: subprocess.Popen) -> bytes:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read()
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer")


@contextmanager
def _server(cmd: list[str], db_url: str, tmp_path: Path, port: int, **settings: str):
    """The server running; yields the sign-in page's body."""
    env = {**os.environ, "DATABASE_URL": db_url, "DELAKTIG_DATA_DIR": str(tmp_path), **settings}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        yield _wait(f"http://127.0.0.1:{port}/logga-in", proc)
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def _serve(cmd: list[str], db_url: str, tmp_path: Path, port: int) -> bytes:
    with _server(cmd, db_url, tmp_path, port) as body:
        return body


def _commands(port: int) -> dict[str, list[str]]:
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    return {
        "waitress": [sys.executable, "-m", "webhooks.serve", "--host", "127.0.0.1", "--port", str(port)],
        "gunicorn": [gunicorn, "-b", f"127.0.0.1:{port}", "-w", "1", "webhooks:create_app()"],
    }


@pytest.mark.parametrize("server", ["waitress", "gunicorn"])
def test_behind_a_proxy_both_servers_count_each_citizen_s_address(d, db_url, tmp_path, server):
    """DELAKTIG_PROXY_FIX=1: the address the proxy forwards reaches the public form's limit (one an
    hour here) under both servers; waitress would drop the header unless told to keep it."""
    from tests.intake.conftest import Client

    port = _free_port()
    settings = {"DELAKTIG_PROXY_FIX": "1", "DELAKTIG_INTAKE_RATE_LIMIT": "1/3600"}
    with _server(_commands(port)[server], db_url, tmp_path, port, **settings):
        statuses = []
        for address in ("198.51.100.1", "198.51.100.2", "198.51.100.1"):
            c = Client(f"http://127.0.0.1:{port}")
            forwarded = {"X-Forwarded-For": address}
            c.request("GET", "/initiativ", None, forwarded)
            fields = {"kind": "synpunkt", "subject": "Buller", "text": "Det bullrar.", "csrf_token": c.token}
            form = {**forwarded, "Content-Type": "application/x-www-form-urlencoded"}
            statuses.append(
                c.request("POST", "/initiativ", urllib.parse.urlencode(fields).encode(), form).status
            )
    assert statuses == [200, 200, 429]


def test_webhooks_serve_runs_waitress(d, db_url, tmp_path):
    port = _free_port()
    body = _serve(
        [sys.executable, "-m", "webhooks.serve", "--host", "127.0.0.1", "--port", str(port)],
        db_url,
        tmp_path,
        port,
    )
    assert "Logga in" in body.decode()


def test_gunicorn_serves_the_application_factory(d, db_url, tmp_path):
    port = _free_port()
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    body = _serve(
        [gunicorn, "-b", f"127.0.0.1:{port}", "-w", "1", "webhooks:create_app()"], db_url, tmp_path, port
    )
    assert "Logga in" in body.decode()
