"""Timer lateness through a real worker and beat (PostgreSQL + Redis): 1,000 timers, p99 target ≤ 2 s.

Cases wait on a ``timeDate`` spread over 20 seconds; lateness is the audit row ``timer_fired`` time minus
the due time. Run: ``python bench/lateness.py`` (needs PostgreSQL and Redis on 127.0.0.1).
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from _workers_common import FIXTURES, Workers, flush_redis, percentile, scratch_database, wait

from engine import clock
from engine.app import Delaktig
from engine.models import AuditEvent, Case

N = 1000
SPREAD = 20.0


def main() -> None:
    flush_redis()
    with scratch_database() as url:
        d = Delaktig(url)
        d.deploy((FIXTURES / "timer.bpmn").read_bytes(), "timer.bpmn")
        workers = Workers({"DATABASE_URL": url, "DELAKTIG_TICK_SECONDS": "1"})
        workers.start("worker", "--concurrency=4")
        workers.start("beat")
        try:
            first = clock.now() + timedelta(seconds=25)  # creating 1,000 cases takes a while
            dues = {}
            for i in range(N):
                due = first + timedelta(seconds=SPREAD * i / N)
                dues[d.start_case("test_timer", variables={"due": due.isoformat()}).id] = due
            assert clock.now() < first, "creating the cases took longer than the head start"

            def all_done():
                with d.session() as s:
                    return (
                        s.execute(sa.select(sa.func.count()).where(Case.status == "completed")).scalar() == N
                    )

            ok = wait(all_done, SPREAD + 120)
        finally:
            workers.stop()
        with d.session() as s:
            fired = dict(
                s.execute(
                    sa.select(AuditEvent.case_id, AuditEvent.at).where(AuditEvent.kind == "timer_fired")
                ).all()
            )
        d.dispose()
    late = sorted((fired[c] - due).total_seconds() for c, due in dues.items() if c in fired)
    print(f"{len(late)} of {N} timers fired{'' if ok else ' (TIMED OUT)'}")
    print(
        f"lateness: p50 {percentile(late, 50):.3f} s, p95 {percentile(late, 95):.3f} s, "
        f"p99 {percentile(late, 99):.3f} s, max {late[-1]:.3f} s (target p99 ≤ 2 s)"
    )


if __name__ == "__main__":
    main()
