"""The committed viewer bundle is what `npm ci --ignore-scripts && npm run build` makes, and the app
runs under the production servers (waitress for `delaktig up`, gunicorn's loader for production)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

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


def _serve(cmd: list[str], db_url: str, tmp_path: Path, port: int) -> bytes:
    env = {**os.environ, "DATABASE_URL": db_url, "DELAKTIG_DATA_DIR": str(tmp_path)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        return _wait(f"http://127.0.0.1:{port}/logga-in", proc)
    finally:
        proc.terminate()
        proc.wait(timeout=15)


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
