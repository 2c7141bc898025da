"""Tick cost: wake 100 due cases among 1,000 vs among 100,000 waiting cases (target ratio ≤ 1.5).

The waiting cases are copies of one real waiting case (same state blob) with timers in the future, so
only the index on ``case.next_timer_at`` decides what the tick reads. Run: ``python bench/tick.py``.
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

from _workers_common import FIXTURES, scratch_database

from engine import clock
from engine.app import Delaktig

DUE = 100
ROUNDS = 5


def fill(d: Delaktig, waiting: int) -> None:
    far = (clock.now() + timedelta(days=365)).isoformat()
    template = d.start_case("test_timer", variables={"due": far}).id
    with d.db.begin() as conn:
        conn.exec_driver_sql(
            """INSERT INTO "case" (id, definition_id, process_key, business_key, status, version, state,
                   state_format, data, next_timer_at, started_by, started_at, audit_seq, audit_hash)
               SELECT gen_random_uuid()::text, definition_id, process_key, NULL, status, version, state,
                   state_format, data, next_timer_at + make_interval(secs => g), started_by, started_at,
                   0, ''
               FROM "case", generate_series(1, %s) g WHERE id = %s""",
            (waiting - DUE - 1, template),
        )
        conn.exec_driver_sql('ANALYZE "case"')


def one_tick(d: Delaktig) -> float:
    due = clock.now() + timedelta(seconds=10)
    for _ in range(DUE):
        d.start_case("test_timer", variables={"due": due.isoformat()})
    time.sleep(max((due - clock.now()).total_seconds(), 0) + 0.05)
    start = time.perf_counter()
    woken = d.wake_due_cases(limit=DUE)
    elapsed = time.perf_counter() - start
    assert woken == DUE, woken
    return elapsed


def query_cost(d: Delaktig) -> float:
    start = time.perf_counter()
    for _ in range(100):
        d.due_case_ids(clock.now(), limit=DUE)
    return (time.perf_counter() - start) / 100


def main() -> None:
    # Both databases live at once and the rounds alternate, so load from other processes on the machine
    # hits both sizes alike.
    sizes = (1_000, 100_000)
    with scratch_database() as url_small, scratch_database() as url_large:
        apps = {}
        for size, url in zip(sizes, (url_small, url_large), strict=True):
            apps[size] = Delaktig(url)
            apps[size].deploy((FIXTURES / "timer.bpmn").read_bytes(), "timer.bpmn")
            fill(apps[size], size)
        ticks: dict[int, list[float]] = {size: [] for size in sizes}
        for _ in range(ROUNDS):
            for size in sizes:
                ticks[size].append(one_tick(apps[size]))
        queries = {size: query_cost(apps[size]) for size in sizes}
        for app in apps.values():
            app.dispose()
    for size in sizes:
        print(
            f"tick waking {DUE} due among {size:>7,} waiting: {statistics.median(ticks[size]) * 1000:7.1f} ms"
            f" (median of {ROUNDS}); due-case query {queries[size] * 1000:.2f} ms"
        )
    ratio = statistics.median(ticks[sizes[1]]) / statistics.median(ticks[sizes[0]])
    print(f"ratio 100k/1k: {ratio:.2f} (target ≤ 1.5)")


if __name__ == "__main__":
    main()
