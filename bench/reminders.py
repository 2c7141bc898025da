"""10,000 reminders through a local SMTP server (aiosmtpd) with 2 worker processes: ≤ 60 s, 0 duplicates,
0 lost. The reminder rows are written by ``engine.reminders.scan`` over 200 overdue tasks, 50 recipients
each; the relay (2 × ``celery worker --concurrency=4``) sends them. Run: ``python bench/reminders.py``.
"""

from __future__ import annotations

import tempfile
import time
from datetime import timedelta
from email import message_from_bytes
from pathlib import Path

import sqlalchemy as sa
from _workers_common import FIXTURES, Workers, flush_redis, free_port, scratch_database, wait
from aiosmtpd.controller import Controller

from engine import clock, reminders, routine_config
from engine.app import Delaktig
from engine.models import Outbox, Role, User, UserRole

TASKS, PEOPLE = 200, 50


class Sink:
    def __init__(self) -> None:
        self.ids: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        self.ids.append(str(message_from_bytes(envelope.content)["Message-ID"]))
        return "250 OK"


def main() -> None:
    flush_redis()
    sink, port = Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    config_dir = Path(tempfile.mkdtemp())
    (config_dir / "bench").mkdir()
    (config_dir / "bench" / "reminders.yaml").write_text(
        "routines:\n  '*': {notify_on_assignment: false, escalate_after_days: 0}\n"
    )
    with scratch_database() as url:
        d = Delaktig(url)
        d.deploy((FIXTURES / "arlig.bpmn").read_bytes(), "arlig.bpmn")
        now = clock.now()
        d.transaction(lambda s: s.add(Role(name="handlaggare")))
        d.transaction(
            lambda s: s.execute(
                sa.insert(User),
                [
                    {"name": f"u{i}", "email": f"u{i}@kommun.se", "active": True, "created_at": now}
                    for i in range(PEOPLE)
                ],
            )
        )
        d.transaction(
            lambda s: s.execute(
                sa.insert(UserRole).from_select(
                    ["user_id", "role_name"], sa.select(User.id, sa.literal("handlaggare"))
                )
            )
        )
        clock.set(now - timedelta(days=10))
        for _ in range(TASKS):
            d.start_case("test_arlig")
        clock.reset()
        written = reminders.scan(d, routine_config.load(config_dir), limit=TASKS)
        assert written == TASKS * PEOPLE, written
        workers = Workers(
            {
                "DATABASE_URL": url,
                "DELAKTIG_MAILER": "smtp",
                "DELAKTIG_SMTP_HOST": "127.0.0.1",
                "DELAKTIG_SMTP_PORT": str(port),
                "DELAKTIG_PROCESSES_DIR": str(config_dir),
                "DELAKTIG_RELAY_SECONDS": "0.5",
            }
        )
        start = time.monotonic()
        workers.start("worker", "--concurrency=4")
        workers.start("worker", "--concurrency=4")
        workers.start("beat")
        try:
            ok = wait(lambda: len(sink.ids) >= written, 300)
            elapsed = time.monotonic() - start
            time.sleep(3)  # anything sent twice would arrive now
        finally:
            workers.stop()
        with d.session() as s:
            sent = s.execute(sa.select(sa.func.count()).where(Outbox.status == "sent")).scalar()
        d.dispose()
    controller.stop()
    unique = len(set(sink.ids))
    print(
        f"{written} reminders, {len(sink.ids)} received in {elapsed:.1f} s (incl. worker start){'' if ok else ' TIMED OUT'}"
    )
    print(
        f"duplicates: {len(sink.ids) - unique}, lost: {written - unique}, outbox rows sent: {sent} (target ≤ 60 s, 0, 0)"
    )


if __name__ == "__main__":
    main()
