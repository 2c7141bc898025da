"""Lists limited to the cases a user may read (``engine.inbox.readable_cases``) at scale.

The REST API's process-instance and history lists show a user without a case-reader role only the cases
they may read. This loads 100 000 open cases with 1 000 000 audit rows into a scratch PostgreSQL database
(``bench/inbox.py``'s loader: each task offered to one of 10 roles, 30 % claimed by one of 200 staff) and
prints median milliseconds for a page of 25 instances, their count and a page of 25 history tasks, for:
a user whose role is offered 10 % of the tasks, a user with access to nothing, a user with two roles,
and without any condition (a case-reader role).

    python bench/read_access.py [--pg postgresql://postgres@127.0.0.1:5432/postgres] [--cases 100000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import inbox as loader  # noqa: E402 - bench/inbox.py, next to this file

from bench.engine import create_pg_database, drop_pg_database  # noqa: E402
from engine import camunda_queries as q  # noqa: E402
from engine.app import Delaktig  # noqa: E402


def median_ms(fn, runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres", help="admin URL")
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()
    url = sa.make_url(args.pg).set(drivername="postgresql+psycopg", database="delaktig_bench_read_access")
    url = url.render_as_string(hide_password=False)
    create_pg_database(url)
    d = Delaktig(url)
    try:
        d.upgrade()
        t0 = time.perf_counter()
        loader.populate(d, args.cases, args.cases * 10)
        print(
            f"{args.cases} open cases, {args.cases * 10} audit rows loaded in {time.perf_counter() - t0:.0f} s"
        )
        users = [
            ("one role (10 % of tasks)", ("staff0", {loader.ROLES[0]})),
            ("no access", ("nobody", {"ingen"})),
            ("two roles (20 %)", ("staff1", set(loader.ROLES[:2]))),
            ("case-reader role (no condition)", None),
        ]
        print(f"\nmedian ms over {args.runs} runs, PostgreSQL")
        print("| user | page of 25 instances | count (result) | page of 25 history tasks |")
        print("|---|---:|---:|---:|")
        with d.session() as s:
            for label, readable_by in users:
                page = q.InstanceFilter(readable_by=readable_by, max_results=25)
                every = q.InstanceFilter(readable_by=readable_by)
                tasks = q.HistoryTaskFilter(readable_by=readable_by, max_results=25)
                list_ms = median_ms(lambda f=page: q.instance_list(s, f), args.runs)
                count_ms = median_ms(lambda f=every: q.instance_count(s, f), args.runs)
                tasks_ms = median_ms(lambda f=tasks: q.history_task_list(s, f), args.runs)
                n = q.instance_count(s, every)
                print(f"| {label} | {list_ms:.1f} | {count_ms:.1f} ({n}) | {tasks_ms:.1f} |")
    finally:
        d.dispose()
        drop_pg_database(url)


if __name__ == "__main__":
    main()
