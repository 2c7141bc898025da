"""The embedded mode: a real worker and beat on kombu's SQLAlchemy transport over SQLite, mail captured."""

from __future__ import annotations

import os
import shutil
import sys
from datetime import timedelta

import sqlalchemy as sa
from conftest import CONFIG_DIR, Proc, deploy, wait_for

from engine import clock
from engine.app import Delaktig
from engine.config import Settings
from engine.models import Case
from engine.reminder_models import CapturedMail, WorkerLease


def test_embedded_worker_and_beat_send_mail_to_the_mailbox_and_fire_timers(tmp_path, sqlite_template):
    db = tmp_path / "delaktig.db"
    shutil.copy(sqlite_template, db)
    url = f"sqlite:///{db}"
    d = Delaktig(settings=Settings.from_env(database_url=url, data_dir=tmp_path))
    deploy(d, "skicka", "timer")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DELAKTIG_", "CELERY_", "REDIS_"))}
    env.update(
        DATABASE_URL=url,
        DELAKTIG_DATA_DIR=str(tmp_path),
        DELAKTIG_PROCESSES_DIR=str(CONFIG_DIR),
        DELAKTIG_TICK_SECONDS="0.5",
        DELAKTIG_RELAY_SECONDS="0.5",
    )
    proc = Proc([sys.executable, "-m", "workers.embedded"], env, tmp_path / "embedded.log")
    try:
        d.start_case("test_skicka", business_key="INI-3", variables={"email": "p@example.se"})
        timer = d.start_case(
            "test_timer", variables={"due": (clock.now() + timedelta(seconds=2)).isoformat()}
        )

        def captured():
            with d.session() as s:
                return s.execute(sa.select(CapturedMail.mail_to, CapturedMail.subject)).all()

        try:
            assert wait_for(captured, 60, what="the captured mail") == [("p@example.se", "Kvitto INI-3")]
            wait_for(lambda: _status(d, timer.id) == "completed", 30, what="the timer")
        except AssertionError:
            raise AssertionError(proc.tail()) from None
        assert (tmp_path / "broker.db").exists()  # the embedded broker, not Redis
        with d.session() as s:
            assert s.execute(sa.select(WorkerLease.holder).where(WorkerLease.name == "beat")).scalar()
    finally:
        proc.stop()
        d.dispose()


def _status(d, case_id):
    with d.session() as s:
        return s.execute(sa.select(Case.status).where(Case.id == case_id)).scalar()
