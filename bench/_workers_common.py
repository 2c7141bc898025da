"""Shared by the worker benchmarks: a scratch PostgreSQL database, worker processes, an SMTP sink."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "workers" / "fixtures"
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/6")
sys.path.insert(0, str(ROOT))


@contextlib.contextmanager
def scratch_database():
    """A fresh, migrated PostgreSQL database, dropped afterwards."""
    from engine.db import make_engine, upgrade

    name = f"delaktig_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' "
                "AND pid <> pg_backend_pid()"
            )
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        admin.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def flush_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


class Workers:
    """Celery worker/beat child processes (own process groups), stopped by PID at the end."""

    def __init__(self, env: dict[str, str]):
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("DELAKTIG_", "CELERY_"))}
        self.env.update(PYTHONPATH=str(ROOT), REDIS_URL=REDIS_URL, **env)
        self.procs: list[subprocess.Popen] = []

    def start(self, kind: str, *extra: str) -> None:
        args = [sys.executable, "-m", "celery", "-A", "workers", kind, "--loglevel=WARNING", *extra]
        if kind == "worker":
            args += ["-n", f"bench{len(self.procs)}@%h", "--without-gossip", "--without-mingle"]
        self.procs.append(
            subprocess.Popen(args, env=self.env, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL)
        )

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def wait(predicate, timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
