"""The embedded mode (``delaktig up``): a real Celery worker and a real beat on kombu's SQLAlchemy
transport over a SQLite file, with mail captured to the database (the mailbox page shows it).

Same tasks, same engine calls as production; only the broker URL and the mailer differ. Run as
``python -m workers.embedded``; it starts three child processes (a worker for the ``timers`` queue, a
small one for ``mail``, the beat) and stops all when any ends or when it is told to stop. The mail
worker is separate so that mail can never hold the threads that fire timers (docs/workers.md).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from engine.config import Settings


def child_env() -> dict[str, str]:
    settings = Settings.from_env()
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", settings.database_url)
    env.setdefault("DELAKTIG_DATA_DIR", str(settings.data_dir))
    env["CELERY_BROKER_URL"] = (
        env.get("DELAKTIG_EMBEDDED_BROKER") or f"sqla+sqlite:///{settings.data_dir / 'broker.db'}"
    )
    env.setdefault("DELAKTIG_MAILER", "capture")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return env


def commands() -> list[list[str]]:
    celery = [sys.executable, "-m", "celery", "-A", "workers"]
    return [
        # Threads: one process each, small memory; the engine is thread-safe (a session per call).
        [*celery, "worker", "--pool=threads", "--concurrency=4", "--loglevel=INFO", "-n", "embedded@%h"]
        + ["-Q", "timers"],
        [*celery, "worker", "--pool=threads", "--concurrency=2", "--loglevel=INFO", "-n", "embedded-mail@%h"]
        + ["-Q", "mail"],
        [*celery, "beat", "--loglevel=INFO"],
    ]


def main() -> int:
    env = child_env()
    children = [subprocess.Popen(cmd, env=env) for cmd in commands()]
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 0
    while not stopping:
        ended = [c for c in children if c.poll() is not None]
        if ended:
            code = ended[0].returncode or 1
            break
        time.sleep(0.3)
    for c in children:
        if c.poll() is None:
            c.terminate()
    for c in children:
        try:
            c.wait(timeout=15)
        except subprocess.TimeoutExpired:
            c.kill()
    return code


if __name__ == "__main__":
    sys.exit(main())
