"""Inbox query latency with 1k and 100k open cases (and 1M audit rows at 100k).

    python bench/inbox.py                       # SQLite files under a temp dir
    python bench/inbox.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Builds each database with the real schema (Alembic, including web_0001), deploys the fixture routine,
and bulk-inserts the projection rows a real run would leave (case, user_task, task_candidate,
audit_event): one open task per case, candidate group one of 10 roles, 30 % claimed by one of 200 staff,
due dates from 30 days ago to 60 days ahead. Then it times ``engine.inbox.list_tasks`` (first page, due
order; "group" = unclaimed for two roles, "mine" = assigned to me) and a whole inbox page load
(both lists' counts too), and prints p50/p95 per size and the 100k/1k ratio of the p95s.
Not a timed test: run by hand, copy the table into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
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
        for batch in _chunks(audits()):
            conn.execute(sa.insert(AuditEvent), batch)
    with d.db.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("ANALYZE")


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

    def page_load():
        with d.session() as s:
            q.list_tasks(s, ME, MY_ROLES, q.InboxFilter(scope="group"), NOW)
            q.inbox_counts(s, ME, MY_ROLES, NOW)

    return {
        "group list (page 1)": timed(group_list, runs),
        "mine list (page 1)": timed(mine_list, runs),
        "group overdue list": timed(overdue_list, runs),
        "inbox page (list + capped counts)": timed(page_load, runs),
    }


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
                results[n] = measure(d, args.runs)
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
