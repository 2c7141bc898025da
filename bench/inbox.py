"""Inbox query latency with 1k and 100k open cases (and 1M audit rows at 100k).

    python bench/inbox.py                       # SQLite files under a temp dir
    python bench/inbox.py --pg postgresql://postgres@127.0.0.1:5432/postgres

Builds each database with the real schema (``engine.db.upgrade``: every Alembic migration, so the inbox
indexes of web_0001 and web_0002 are there), deploys the fixture routine, and bulk-inserts the projection
rows a real run would leave (case, user_task, task_candidate, audit_event): one open task per case,
candidate group one of 10 roles (and 60 tasks also for a rare role), 30 % claimed by one of 200 staff,
due dates from 30 days ago to 60 days ahead; then ANALYZE (PostgreSQL: VACUUM ANALYZE, the state autovacuum leaves after a bulk load). Then it
times ``engine.inbox.list_tasks`` (first page, due order; "group" = unclaimed for two roles, "mine" =
assigned to me) and a whole inbox page load (``engine.inbox.inbox_page``, the view's call for the list
and the four capped tab counts), and prints p50/p95 per size and the 100k/1k ratio of the p95s.
``--explain`` also prints the plans of one page load's statements at each size.
Not a timed test: run by hand, copy the table into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import inbox as q  # noqa: E402
from engine.app import Delaktig  # noqa: E402
from engine.db import make_engine, upgrade  # noqa: E402
from engine.models import AuditEvent, Case, TaskCandidate, UserTask  # noqa: E402

NOW = datetime(2026, 6, 1, 9, tzinfo=UTC)
ROLES = [f"roll{i}" for i in range(10)]
STAFF = [f"staff{i}" for i in range(200)]
ME, MY_ROLES = "staff0", {"roll0", "roll1"}
# A role with only RARE_TASKS tasks at any size: its inbox must not cost more among 100k tasks (a walk of
# all open tasks in due order, probing each for the role, would).
RARE_ROLE, RARE_TASKS = "sallsynt", 60
CHUNK = 20_000


def _chunks(rows_iter, size=CHUNK):
    batch = []
    for row in rows_iter:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def populate(d: Delaktig, n_cases: int, audit_rows: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    (info,) = d.deploy((ROOT / "tests/fixtures/initiativ.bpmn").read_bytes(), "initiativ.bpmn", "bench")
    ids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(n_cases)]
    per_case = max(1, audit_rows // n_cases)

    def cases():
        for i, cid in enumerate(ids):
            yield {
                "id": cid,
                "definition_id": info.id,
                "process_key": info.key,
                "business_key": f"KS-{i}",
                "status": "active",
                "version": 1,
                "state": b"",
                "state_format": "bench",
                "data": {},
                "next_timer_at": None,
                "started_by": "system",
                "started_at": NOW - timedelta(days=40),
                "ended_at": None,
                "end_reason": None,
                "audit_seq": per_case,
                "audit_hash": "",
            }

    def tasks():
        for cid in ids:
            yield {
                "id": str(uuid.UUID(int=rng.getrandbits(128))),
                "case_id": cid,
                "definition_id": info.id,
                "process_key": info.key,
                "element_id": "Granska",
                "name": "Granska initiativet",
                "documentation": None,
                "lane": None,
                "candidate_groups": [rng.choice(ROLES)],
                "candidate_users": [],
                "assignee": rng.choice(STAFF) if rng.random() < 0.3 else None,
                "state": "open",
                "created_at": NOW - timedelta(days=rng.uniform(0, 40)),
                "due_at": NOW + timedelta(days=rng.uniform(-30, 60)) if rng.random() < 0.9 else None,
                "follow_up_at": None,
                "priority": 50,
                "form": {},
                "completed_at": None,
                "completed_by": None,
            }

    def audits():
        for cid in ids:
            for seq in range(1, per_case + 1):
                yield {
                    "chain": cid,
                    "seq": seq,
                    "case_id": cid,
                    "at": NOW - timedelta(days=40 - seq),
                    "actor": "system",
                    "kind": "task_created" if seq == 1 else "data_changed",
                    "element_id": "Granska",
                    "task_id": None,
                    "detail": {"seq": seq},
                    "prev_hash": "0" * 64,
                    "hash": "0" * 64,
                }

    with d.db.begin() as conn:
        for batch in _chunks(cases()):
            conn.execute(sa.insert(Case), batch)
        task_rows = []
        for batch in _chunks(tasks()):
            conn.execute(sa.insert(UserTask), batch)
            task_rows += [(t["id"], t["candidate_groups"][0]) for t in batch]
        for batch in _chunks({"task_id": t, "kind": "group", "value": g} for t, g in task_rows):
            conn.execute(sa.insert(TaskCandidate), batch)
        rare = rng.sample([t for t, _g in task_rows], RARE_TASKS)  # a second candidate group on these
        conn.execute(
            sa.insert(TaskCandidate), [{"task_id": t, "kind": "group", "value": RARE_ROLE} for t in rare]
        )
        for batch in _chunks(audits()):
            conn.execute(sa.insert(AuditEvent), batch)
    with d.db.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        # PostgreSQL: VACUUM too, as autovacuum would soon after a bulk load (it sets the visibility map
        # that index-only scans rely on); running it here keeps autovacuum from starting mid-measurement.
        conn.exec_driver_sql("VACUUM ANALYZE" if d.dialect == "postgresql" else "ANALYZE")
        if d.dialect == "postgresql":
            conn.exec_driver_sql("CHECKPOINT")  # write the loaded pages out now, not during the timing


def settle(limit: float, most_seconds: int = 300) -> float:
    """Wait until the 1-minute load average is below ``limit`` (the bulk load just drove it up); return
    the seconds waited."""
    start = time.monotonic()
    while os.getloadavg()[0] >= limit and time.monotonic() < start + most_seconds:
        time.sleep(5)
    return time.monotonic() - start


def timed(fn, runs: int) -> list[float]:
    for _ in range(10):  # warm caches and the connection pool
        fn()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def p(values: list[float], pct: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(pct) - 1]


def measure(d: Delaktig, runs: int) -> dict[str, list[float]]:
    def group_list():
        with d.session() as s:
            page = q.list_tasks(s, ME, MY_ROLES, q.InboxFilter(scope="group"), NOW)
            assert len(page.items) == 25

    def mine_list():
        with d.session() as s:
            q.list_tasks(s, ME, MY_ROLES, q.InboxFilter(scope="mine"), NOW)

    def overdue_list():
        with d.session() as s:
            q.list_tasks(s, ME, MY_ROLES, q.InboxFilter(scope="group", overdue=True), NOW)

    def page_load():  # what the inbox view (webhooks/staff/inbox.py) runs
        with d.session() as s:
            page, counts = q.inbox_page(s, ME, MY_ROLES, q.InboxFilter(scope="group"), NOW)
            assert len(page.items) == 25 and counts["group"] == q.COUNT_CAP + 1

    def rare_page():
        with d.session() as s:
            page, counts = q.inbox_page(s, "staff1", {RARE_ROLE}, q.InboxFilter(scope="group"), NOW)
            assert 0 < counts["group"] <= RARE_TASKS

    return {
        "group list (page 1)": timed(group_list, runs),
        "mine list (page 1)": timed(mine_list, runs),
        "group overdue list": timed(overdue_list, runs),
        "inbox page (list + capped counts)": timed(page_load, runs),
        f"inbox page, a role with {RARE_TASKS} tasks": timed(rare_page, runs),
    }


def explain(d: Delaktig) -> None:
    """The plans of one inbox page load's statements (PostgreSQL: EXPLAIN (ANALYZE, BUFFERS))."""
    seen: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):  # not SQLite's BEGIN
            seen.append((statement, parameters))

    sa.event.listen(d.db, "before_cursor_execute", capture)
    try:
        with d.session() as s:
            q.inbox_page(s, ME, MY_ROLES, q.InboxFilter(scope="group"), NOW)
    finally:
        sa.event.remove(d.db, "before_cursor_execute", capture)
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if d.dialect == "postgresql" else "EXPLAIN QUERY PLAN "
    with d.db.connect() as conn:
        for statement, parameters in seen:
            rows = conn.exec_driver_sql(prefix + statement, parameters).all()
            print("\n" + " ".join(statement.split())[:160] + " …")
            print("\n".join("    " + str(r[-1]) for r in rows))


def database(kind: str, pg_admin: str | None, tmp: Path, label: str) -> tuple[str, callable]:
    if kind == "sqlite":
        url = f"sqlite:///{tmp / f'{label}.db'}"
        return url, lambda: None
    name = f"delaktig_bench_{label}_{uuid.uuid4().hex[:6]}"
    admin = make_engine(pg_admin, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop():
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return pg_admin.rsplit("/", 1)[0] + f"/{name}", drop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pg", help="PostgreSQL admin URL (creates and drops scratch databases)")
    ap.add_argument("--sizes", default="1000,100000")
    ap.add_argument("--audit-per-case", type=int, default=10)
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--explain", action="store_true", help="print the page load's query plans per size")
    ap.add_argument(
        "--settle", type=float, default=1.0, help="before timing, wait (at most 5 min) for this load average"
    )
    args = ap.parse_args()
    kind = "postgresql" if args.pg else "sqlite"
    sizes = [int(x) for x in args.sizes.split(",")]
    results: dict[int, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            url, drop = database(kind, args.pg, Path(tmp), f"n{n}")
            try:
                upgrade(url)
                d = Delaktig(database_url=url)
                t = time.perf_counter()
                populate(d, n, n * args.audit_per_case)
                print(
                    f"{kind}: {n} open cases, {n * args.audit_per_case} audit rows loaded in "
                    f"{time.perf_counter() - t:.0f} s",
                    flush=True,
                )
                waited = settle(args.settle)
                with d.db.connect() as conn:
                    heads = sorted(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())
                print(
                    f"schema at {', '.join(heads)}; waited {waited:.0f} s for load average "
                    f"{os.getloadavg()[0]:.2f}",
                    flush=True,
                )
                results[n] = measure(d, args.runs)
                print(f"timed; load average {os.getloadavg()[0]:.2f}", flush=True)
                if args.explain:
                    explain(d)
                d.dispose()
            finally:
                drop()
    print(f"\n{kind}, {args.runs} runs each, ms:")
    print("| query | " + " | ".join(f"p50 {n:,} | p95 {n:,}" for n in sizes) + " | p95 ratio |")
    print("|---|" + "---|---|" * len(sizes) + "---|")
    for name in results[sizes[0]]:
        cells = " | ".join(f"{p(results[n][name], 50):.2f} | {p(results[n][name], 95):.2f}" for n in sizes)
        ratio = p(results[sizes[-1]][name], 95) / p(results[sizes[0]][name], 95)
        print(f"| {name} | {cells} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
