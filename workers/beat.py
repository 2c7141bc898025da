"""The beat scheduler with a leader lease: only the beat holding the ``beat`` lease sends tasks.

The lease is a database row (``engine.leases``) with a TTL, renewed on every tick — the same on
PostgreSQL (production) and SQLite (embedded). A second beat finds the lease held and only keeps trying;
it takes over within the TTL when the leader stops renewing. Even two leaders would do no harm: every
task is idempotent. The scheduler keeps no schedule file; each task catches up from the database.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid

from celery.beat import Scheduler

from engine import leases

log = logging.getLogger(__name__)
LEASE = "beat"


class LeaderScheduler(Scheduler):
    ttl = float(os.environ.get("DELAKTIG_BEAT_LEASE_SECONDS") or 15)
    renew_every = 1.0

    def __init__(self, *args, **kwargs):
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.leader = False
        self._renewed = 0.0
        super().__init__(*args, **kwargs)

    def _engine(self):
        from workers.tasks import engine

        return engine()

    def _renew(self) -> None:
        try:
            leader = leases.acquire(self._engine(), LEASE, self.holder, self.ttl)
        except Exception as err:  # noqa: BLE001 - database unreachable: lead nothing until it is back
            log.warning("beat: kan inte förnya ledarskapet: %s", err)
            leader = False
        if leader != self.leader:
            log.info("beat %s: %s", self.holder, "leder nu" if leader else "väntar (en annan beat leder)")
        self.leader = leader
        self._renewed = time.monotonic()

    def tick(self, *args, **kwargs):
        if time.monotonic() - self._renewed >= self.renew_every or not self.leader:
            self._renew()
        if not self.leader:
            return self.renew_every
        return min(super().tick(*args, **kwargs), self.renew_every)

    def close(self) -> None:
        if self.leader:
            try:
                leases.release(self._engine(), LEASE, self.holder)
            except Exception:  # noqa: BLE001 - the TTL frees it anyway
                pass
        super().close()
