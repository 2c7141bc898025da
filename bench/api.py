"""REST API benchmark: Delaktig's Camunda 7 API under gunicorn on PostgreSQL, all on loopback.

    python -m bench.api [--cases 100] [--throughput 600] [--clients 8] [--workers 2]
                        [--pg-url postgresql://postgres@127.0.0.1:5432/delaktig_bench_api] [--keep-db]

Diagram: ``bench/fixtures/routine11.bpmn`` (the one ``bench/engine.py`` uses); a case here is its first
three user tasks (Registrera, Granska, Bedom: two roles, two small generated forms).

(a) per case, one client, sequentially: ``POST /process-definition/key/…/start``, then three times
    ``GET /task?processInstanceId=…`` + ``POST /task/{id}/complete`` with typed variables, each request
    with HTTP Basic (a worker verifies a user's password once, then remembers it), sent by a lean
    ``http.client`` client (python-requests alone costs ~1.7 ms CPU per request here). Median per case;
    target ≤ 25 ms (spiff-arena took ≈ 245 ms for the same work on this kind of machine).
(b) throughput: ``--throughput`` cases are started beforehand; ``--clients`` threads then complete their
    first tasks over HTTP against ``--workers`` gunicorn sync workers. Completions per second; target
    ≥ 400/s with 2 workers.
(c) the HTTP completion (latency seen by the client in (a)) against the bare engine step
    (``Delaktig.complete_task`` in-process on the same database and the same tasks, as bench/engine.py
    measures it); target ≤ 4×. Also printed against bench/engine.py's bare SpiffWorkflow step in memory
    (a), in case "bare engine step" is read that way.

Figures only, no asserts. Client, gunicorn and PostgreSQL share the machine: its cores and load average
are printed, and both count against the figures.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import platform
import queue
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import requests  # noqa: E402

from bench.engine import (  # noqa: E402
    FIXTURE,
    PID,
    STEPS,
    create_pg_database,
    drop_pg_database,
    run_bare,  # noqa: E402
    user_of,
)
from engine.app import Delaktig  # noqa: E402
from engine.bpmn.compile import compile_or_raise  # noqa: E402
from engine.workflow import dump_state, load_state  # noqa: E402

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/delaktig_bench_api"
PASSWORD = "bench-password-1"
SPIFF_ARENA_MS = 245.0
TARGET_CASE_MS = 25.0
TARGET_RATE = 400.0
TARGET_RATIO = 4.0
CASE_STEPS = STEPS[:3]


def typed(data: dict) -> dict:
    out = {}
    for name, value in data.items():
        kind = "Boolean" if isinstance(value, bool) else "Long" if isinstance(value, int) else "String"
        out[name] = {"value": value, "type": kind}
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(url: str, port: int, workers: int, threads: int = 1) -> subprocess.Popen:
    env = dict(os.environ, DATABASE_URL=url, DELAKTIG_SECRET_KEY="bench-secret")
    cmd = [
        sys.executable, "-m", "gunicorn", "--workers", str(workers), "--threads", str(threads),
        "--bind", f"127.0.0.1:{port}",
        "--log-level", "warning", "webhooks.app:create_app()",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, cwd=Path(__file__).resolve().parent.parent)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/engine-rest/version", timeout=10)
            return proc
        except requests.RequestException:
            time.sleep(0.2)
    proc.terminate()
    proc.wait(10)
    raise RuntimeError("gunicorn did not come up within 120 s")


class Client:
    """A lean HTTP/1.1 client (``http.client``): the load generator shares the machine's two cores with
    gunicorn and PostgreSQL, and python-requests spends ~1.7 ms of CPU per request on this machine —
    more than some of the calls it would measure. Connections are kept open when the server allows
    (gunicorn's sync workers close them after each response; then a new one is opened)."""

    def __init__(self, base: str):
        parts = urllib.parse.urlsplit(base)
        self.host, self.port, self.prefix = parts.hostname, parts.port, parts.path
        self.conns: dict[str, http.client.HTTPConnection] = {}

    def _call(self, user: str, method: str, path: str, payload=None) -> tuple[int, bytes]:
        token = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
        headers = {"Authorization": f"Basic {token}"}
        body = None
        if payload is not None:
            body = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            conn = self.conns.get(user) or http.client.HTTPConnection(self.host, self.port, timeout=60)
            self.conns[user] = conn
            try:
                conn.request(method, self.prefix + path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionError):
                conn.close()
                self.conns.pop(user, None)
                if attempt == 2:
                    raise
                continue
            if response.will_close:
                conn.close()
                self.conns.pop(user, None)
            return response.status, data
        raise AssertionError("unreachable")

    def version(self, user: str) -> None:
        self._call(user, "GET", "/version")

    def start(self, n: int) -> str:
        status, data = self._call(
            user_of("handlaggare"),
            "POST",
            f"/process-definition/key/{PID}/start",
            {"businessKey": f"api-{n}"},
        )
        if status != 200:
            raise RuntimeError(f"start: {status} {data[:200]!r}")
        return json.loads(data)["id"]

    def task_of(self, user: str, case_id: str) -> str:
        status, data = self._call(user, "GET", f"/task?processInstanceId={urllib.parse.quote(case_id)}")
        if status != 200:
            raise RuntimeError(f"task list: {status} {data[:200]!r}")
        (task,) = json.loads(data)
        return task["id"]

    def complete(self, user: str, task_id: str, data: dict) -> float:
        t0 = time.perf_counter()
        status, body = self._call(user, "POST", f"/task/{task_id}/complete", {"variables": typed(data)})
        elapsed = time.perf_counter() - t0
        if status != 204:
            raise RuntimeError(f"complete {task_id}: {status} {body[:200]!r}")
        return elapsed


def run_cases(client: Client, n: int, offset: int) -> tuple[list[float], list[float]]:
    per_case, completions = [], []
    for i in range(n):
        t0 = time.perf_counter()
        case_id = client.start(offset + i)
        for _element, role, data in CASE_STEPS:
            user = user_of(role)
            completions.append(client.complete(user, client.task_of(user, case_id), data))
        per_case.append(time.perf_counter() - t0)
    return per_case, completions


def _machine_cpu() -> tuple[int, int]:
    """(all jiffies, idle jiffies) of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields), fields[3] + fields[4]


def _process_cpu(pids: list[int]) -> int:
    """User + system jiffies of ``pids`` (from /proc/PID/stat)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total


def gunicorn_workers(proc: subprocess.Popen) -> list[int]:
    path = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def throughput(
    client_base: str, d: Delaktig, n: int, clients: int, workers: list[int] | None = None
) -> tuple[float, dict[str, float]]:
    """Completions per second, and the CPU each completion cost (ms) while they ran: the gunicorn
    workers', this load generator's and the whole machine's (the rest is mostly PostgreSQL)."""
    element, role, data = CASE_STEPS[0]
    work: queue.Queue[str] = queue.Queue()
    for i in range(n):
        info = d.start_case(PID, business_key=f"tp-{i}", actor=user_of("handlaggare"))
        work.put(info.open_tasks[0])
    errors: list[str] = []
    barrier = threading.Barrier(clients + 1)

    def worker() -> None:
        c = Client(client_base)
        c.version(user_of(role))  # signed in before the clock starts
        barrier.wait()
        while True:
            try:
                task_id = work.get_nowait()
            except queue.Empty:
                return
            try:
                c.complete(user_of(role), task_id, data)
            except Exception as err:  # noqa: BLE001 - reported below, the run goes on
                errors.append(str(err))

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    machine0, workers0, me0 = _machine_cpu(), _process_cpu(workers or []), os.times()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    machine1, workers1, me1 = _machine_cpu(), _process_cpu(workers or []), os.times()
    if errors:
        print(f"  {len(errors)} completions failed, first: {errors[0][:200]}")
    done = max(n - len(errors), 1)
    hz = os.sysconf("SC_CLK_TCK")
    busy = (machine1[0] - machine0[0]) - (machine1[1] - machine0[1])
    cpu = {
        "workers": (workers1 - workers0) / hz / done * 1000,
        "client": (me1.user + me1.system - me0.user - me0.system) / done * 1000,
        "machine": busy / hz / done * 1000,
        "busy": busy / max(machine1[0] - machine0[0], 1),
    }
    return (n - len(errors)) / elapsed, cpu


def engine_steps(d: Delaktig, n: int) -> list[float]:
    """The bare engine step: ``complete_task`` in-process, roles passed as the API passes them."""
    out = []
    for i in range(n):
        info = d.start_case(PID, business_key=f"eng-{i}", actor=user_of("handlaggare"))
        for _element, role, data in CASE_STEPS:
            t0 = time.perf_counter()
            info = d.complete_task(info.open_tasks[0], user_of(role), data, roles={role}, allow_extra=True)
            out.append(time.perf_counter() - t0)
    return out


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=100, help="measured cases for (a) and (c) (default 100)")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--throughput", type=int, default=600, help="task completions for (b) (default 600)")
    ap.add_argument("--clients", type=int, default=8, help="client threads for (b) (default 8)")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    ap.add_argument(
        "--threads", type=int, default=1, help="threads per worker (default 1: sync workers; more: gthread)"
    )
    ap.add_argument("--pg-url", default=os.environ.get("DELAKTIG_BENCH_API_PG_URL", PG_DEFAULT))
    ap.add_argument("--keep-db", action="store_true")
    args = ap.parse_args(argv)

    print(
        f"bench/api.py — {FIXTURE.name}, first {len(CASE_STEPS)} user tasks per case; gunicorn "
        f"{args.workers} "
        + ("sync workers" if args.threads == 1 else f"gthread workers × {args.threads} threads")
        + " + PostgreSQL on loopback"
    )
    print(
        f"Python {platform.python_version()}; {platform.machine()}, {os.cpu_count()} cores; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    create_pg_database(args.pg_url)
    d = Delaktig(args.pg_url)
    proc = None
    try:
        d.upgrade()
        d.deploy(FIXTURE.read_bytes(), FIXTURE.name, "bench")
        for role in sorted({r for _, r, _ in STEPS}):
            d.add_user(user_of(role), PASSWORD, roles=[role])
        port = free_port()
        proc = start_gunicorn(args.pg_url, port, args.workers, args.threads)
        base = f"http://127.0.0.1:{port}/engine-rest"
        client = Client(base)

        run_cases(client, args.warmup, 10_000)
        per_case, http_completions = run_cases(client, args.cases, 0)
        rate, cpu = throughput(base, d, args.throughput, args.clients, gunicorn_workers(proc))
        engine_steps(d, args.warmup)
        bare = engine_steps(d, args.cases)
        spec, subs = compile_or_raise(FIXTURE.read_bytes(), FIXTURE.name).spec(PID)
        _, spiff_steps, _ = run_bare(
            spec, subs, lambda blob: load_state(blob, spec, subs), dump_state, args.cases, args.warmup
        )
        spiff_ms = statistics.median(spiff_steps) / 1e9

        case_ms = statistics.median(per_case)
        http_ms = statistics.median(http_completions)
        bare_ms = statistics.median(bare)
        ratio = http_ms / bare_ms
        rows = [
            ("(a) start + 3 completions over HTTP, median per case", ms(case_ms),
             f"≤ {TARGET_CASE_MS:.0f} ms (spiff-arena ≈ {SPIFF_ARENA_MS:.0f} ms)",
             f"{SPIFF_ARENA_MS / (case_ms * 1000):.1f}× faster than spiff-arena"),
            (f"(b) task completions per second, {args.workers} workers, {args.clients} clients",
             f"{rate:.0f}/s", f"≥ {TARGET_RATE:.0f}/s", "met" if rate >= TARGET_RATE else "NOT met"),
            ("(c) HTTP completion, median (client-side latency)", ms(http_ms), "", ""),
            ("    bare engine step complete_task, median", ms(bare_ms), "", ""),
            ("    ratio HTTP / engine", f"{ratio:.2f}×", f"≤ {TARGET_RATIO:.0f}×",
             "met" if ratio <= TARGET_RATIO else "NOT met"),
            ("    bare SpiffWorkflow step, in memory (bench/engine.py (a)), median", ms(spiff_ms), "", ""),
            ("    ratio HTTP / bare SpiffWorkflow step", f"{http_ms / spiff_ms:.2f}×",
             f"≤ {TARGET_RATIO:.0f}× if read this way",
             "met" if http_ms / spiff_ms <= TARGET_RATIO else "NOT met"),
        ]  # fmt: skip
        print()
        print("| measure | Delaktig | target | verdict |")
        print("|---|---|---|---|")
        for label, value, target, verdict in rows:
            print(f"| {label} | {value} | {target} | {verdict} |")
        a_verdict = "met" if case_ms * 1000 <= TARGET_CASE_MS else "NOT met"
        print(f"\n(a) target {a_verdict}; p90 per case {ms(statistics.quantiles(per_case, n=10)[-1])}")
        # What bounds (b) on this machine: every completion's CPU, whoever spends it, shares its cores.
        cores = os.cpu_count() or 1
        print(
            f"(b) CPU per completion while it ran: gunicorn workers {cpu['workers']:.2f} ms, this client "
            f"{cpu['client']:.2f} ms, whole machine {cpu['machine']:.2f} ms (the rest: PostgreSQL and the "
            f"system), machine {cpu['busy']:.0%} busy; {cores} cores at that cost allow at most "
            f"{cores * 1000 / cpu['machine']:.0f}/s; {TARGET_RATE:.0f}/s needs ≤ {cores * 1000 / TARGET_RATE:.1f} ms"
        )
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        d.dispose()
        if not args.keep_db:
            drop_pg_database(args.pg_url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
