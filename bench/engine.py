"""Engine benchmark: cost per task completion through Delaktig vs bare SpiffWorkflow, and state size per case.

    python -m bench.engine [--cases 200] [--pg-url postgresql://postgres@127.0.0.1:5432/delaktig_bench]
                           [--skip-pg] [--skip-sqlite] [--profile 50] [--keep-db]

Diagram: ``bench/fixtures/routine11.bpmn`` (11 user tasks in sequence over 3 lanes, one exclusive gateway,
four small generated forms). Both sides use the same translated spec (``compile_or_raise``) and the same
sandboxed script engine.

(a) bare SpiffWorkflow, stateless, spec kept out of the blob: per task completion
    ``load_state`` → ``set_data`` + ``run`` + ``do_engine_steps`` → ``dump_state`` (``engine.workflow``);
(a') the same with SpiffWorkflow's stock serializer (spec inside the blob), for reference;
(b) ``Delaktig.complete_task`` on PostgreSQL (scratch database, created and dropped here);
(c) the same on a SQLite file.

Figures only, no asserts on time: the targets (engine ≤ 3× bare, ≤ 10 KB state per case) are printed
next to the measured values. ``--profile N`` then runs N more PostgreSQL cases with wall-clock timers patched
around the engine's functions (where one completion's time goes), counts and times the SQL statements per
call, and prints a short cProfile. The machine's load average is printed: other processes skew the figures.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as _dt
import gc
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

# ``python bench/engine.py`` puts bench/ first on sys.path, where this file would shadow the engine package.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import orjson  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from lxml import etree  # noqa: E402
from SpiffWorkflow.bpmn import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer  # noqa: E402
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser  # noqa: E402
from SpiffWorkflow.camunda.serializer import DEFAULT_CONFIG as CAMUNDA_CONFIG  # noqa: E402
from SpiffWorkflow.task import TaskState  # noqa: E402

from engine.app import Delaktig  # noqa: E402
from engine.bpmn.compile import compile_or_raise  # noqa: E402
from engine.models import Case, UserTask  # noqa: E402
from engine.sandbox import make_script_engine  # noqa: E402
from engine.workflow import dump_state, load_state, new_workflow  # noqa: E402

FIXTURE = Path(__file__).with_name("fixtures") / "routine11.bpmn"
PID = "bench_routine11"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/delaktig_bench"
TARGET_RATIO = 3.0
TARGET_STATE = 10 * 1024

# The 11 user tasks in the order a case meets them (beslut='fortsatt' takes the gateway's conditional flow),
# with the lane role that may complete them and the form data submitted.
STEPS: list[tuple[str, str, dict]] = [
    ("Registrera", "handlaggare", {"rubrik": "Fler bänkar i Rönnparken", "kanal": "webb"}),
    ("Granska", "handlaggare", {}),
    ("Bedom", "enhetschef", {"beslut": "fortsatt", "motivering": "Påverkbar fråga inom nämndens ansvar."}),
    ("Planera", "handlaggare", {}),
    ("BjudIn", "handlaggare", {}),
    ("Genomfor", "handlaggare", {}),
    ("Sammanstall", "handlaggare", {}),
    ("Godkann", "enhetschef", {"sammanstallning_godkand": True, "synpunkter": ""}),
    ("ForberedNamnd", "namndsekreterare", {}),
    ("Protokollfor", "namndsekreterare", {"paragraf": "§ 42", "publicerad": True}),
    ("Aterkoppla", "handlaggare", {}),
]
DATA_BY_ELEMENT = {element: data for element, _, data in STEPS}
ROLES = sorted({role for _, role, _ in STEPS})


def user_of(role: str) -> str:
    return f"bench_{role}"


# --- statistics -------------------------------------------------------------------------------------------
def ms(ns: float) -> float:
    return ns / 1e6


def summary(samples_ns: list[int]) -> dict[str, float]:
    s = sorted(samples_ns)
    p95 = s[min(len(s) - 1, int(round(0.95 * (len(s) - 1))))]
    return {
        "median": ms(statistics.median(s)),
        "p95": ms(p95),
        "mean": ms(statistics.fmean(s)),
        "n": len(s),
    }


# --- (a) bare SpiffWorkflow -----------------------------------------------------------------------------
def ready_task(wf):
    tasks = wf.get_tasks(state=TaskState.READY, manual=True)
    if len(tasks) != 1:
        raise RuntimeError(f"expected one ready user task, found {len(tasks)}")
    return tasks[0]


def bare_case(spec, subs, load, dump, sizes: list[int] | None = None) -> tuple[int, list[int]]:
    """One case, stateless: start, then load → complete → save for each of the 11 tasks."""
    t0 = time.perf_counter_ns()
    wf = new_workflow(spec, subs)
    wf.do_engine_steps()
    blob = dump(wf)
    start_ns = time.perf_counter_ns() - t0
    if sizes is not None:
        sizes.append(len(blob))
    completions = []
    for _ in STEPS:
        t0 = time.perf_counter_ns()
        wf = load(blob)
        task = ready_task(wf)
        task.set_data(**DATA_BY_ELEMENT[task.task_spec.bpmn_id])
        task.run()
        wf.do_engine_steps()
        blob = dump(wf)
        completions.append(time.perf_counter_ns() - t0)
        if sizes is not None:
            sizes.append(len(blob))
    if not wf.is_completed():
        raise RuntimeError("bare case did not complete")
    return start_ns, completions


def run_bare(spec, subs, load, dump, cases: int, warmup: int):
    for _ in range(warmup):
        bare_case(spec, subs, load, dump)
    starts, completions, sizes = [], [], []
    for i in range(cases):
        s, c = bare_case(spec, subs, load, dump, sizes if i == 0 else None)
        starts.append(s)
        completions += c
    return starts, completions, sizes


def stock_setup(xml_translated: bytes):
    """SpiffWorkflow as shipped: CamundaParser + the stock serializer (spec inside every blob)."""
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(dict(CAMUNDA_CONFIG)))
    parser = CamundaParser()
    parser.add_bpmn_xml(etree.fromstring(xml_translated), filename="routine11.bpmn")
    spec, subs = parser.get_spec(PID), parser.get_subprocess_specs(PID)

    def load(blob: bytes):
        wf = serializer.from_dict(orjson.loads(blob))
        wf.script_engine = make_script_engine()
        return wf

    def dump(wf) -> bytes:
        return orjson.dumps(serializer.to_dict(wf))

    return serializer, spec, subs, load, dump


def spec_size(serializer, spec, subs, fallback) -> tuple[int, str]:
    """Bytes of the spec part of a stock-serialized blob: our DelaktigParser spec if the stock serializer
    takes it, else the stock CamundaParser's spec of the same (translated) XML."""
    try:
        dct = serializer.to_dict(BpmnWorkflow(spec, subs))
        orjson.dumps(dct)
        how = "the stock serializer accepts the DelaktigParser spec of this diagram"
    except (TypeError, KeyError, ValueError) as err:
        dct = serializer.to_dict(BpmnWorkflow(*fallback))
        how = f"stock serializer refused the DelaktigParser spec ({type(err).__name__}); CamundaParser spec"
    return len(orjson.dumps(dct["spec"])) + len(orjson.dumps(dct["subprocess_specs"])), how


# --- (b)/(c) the engine ---------------------------------------------------------------------------------
def create_pg_database(url: str) -> None:
    import psycopg

    u = sa.make_url(url)
    with psycopg.connect(
        host=u.host or "127.0.0.1",
        port=u.port or 5432,
        user=u.username or "postgres",
        password=u.password,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{u.database}"')


def drop_pg_database(url: str) -> None:
    import psycopg

    u = sa.make_url(url)
    with psycopg.connect(
        host=u.host or "127.0.0.1",
        port=u.port or 5432,
        user=u.username or "postgres",
        password=u.password,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)')


def setup_engine(url: str, xml: bytes) -> Delaktig:
    d = Delaktig(url)
    d.upgrade()
    d.deploy(xml, "routine11.bpmn", "bench")
    for role in ROLES:
        d.add_user(user_of(role), None, roles=[role])
    return d


def engine_case(d: Delaktig, n: int, check: bool = False) -> tuple[int, list[int], str]:
    t0 = time.perf_counter_ns()
    info = d.start_case(PID, business_key=f"bench-{n}", actor=user_of("handlaggare"))
    start_ns = time.perf_counter_ns() - t0
    completions = []
    for element, role, data in STEPS:
        (task_id,) = info.open_tasks
        if check:
            with d.session() as s:
                row = s.get(UserTask, task_id)
                assert row.element_id == element and role in row.candidate_groups, (row.element_id, element)
        t0 = time.perf_counter_ns()
        info = d.complete_task(task_id, user_of(role), data)
        completions.append(time.perf_counter_ns() - t0)
    if info.status != "completed":
        raise RuntimeError(f"engine case {info.id} ended as {info.status}")
    return start_ns, completions, info.id


def state_sizes(d: Delaktig, n: int) -> list[int]:
    """Blob bytes after start and after each completion of one case (reads the row between calls)."""

    def size(case_id: str) -> int:
        with d.session() as s:
            return s.execute(sa.select(sa.func.length(Case.state)).where(Case.id == case_id)).scalar()

    info = d.start_case(PID, business_key=f"bench-size-{n}", actor=user_of("handlaggare"))
    sizes = [size(info.id)]
    for _element, role, data in STEPS:
        (task_id,) = info.open_tasks
        info = d.complete_task(task_id, user_of(role), data)
        sizes.append(size(info.id))
    return sizes


def run_engine(d: Delaktig, cases: int, warmup: int, offset: int = 0):
    for i in range(warmup):
        engine_case(d, -1 - i - offset, check=(i == 0))
    starts, completions = [], []
    for i in range(cases):
        s, c, _ = engine_case(d, offset + i)
        starts.append(s)
        completions += c
    return starts, completions


def engine_sizes_of(d: Delaktig) -> tuple[list[int], float]:
    with d.session() as s:
        avg_end = s.execute(
            sa.select(sa.func.avg(sa.func.length(Case.state))).where(Case.status == "completed")
        ).scalar()
    return state_sizes(d, 99_999), float(avg_end)


def round_trip_ms(d: Delaktig, n: int = 200) -> float:
    with d.db.connect() as conn:
        conn.exec_driver_sql("SELECT 1").scalar()
        t0 = time.perf_counter_ns()
        for _ in range(n):
            conn.exec_driver_sql("SELECT 1").scalar()
        return ms((time.perf_counter_ns() - t0) / n)


# --- profile -----------------------------------------------------------------------------------------------
class WallTimers:
    """Wall-clock time spent inside chosen functions, by patching them for the duration of a run (the
    engine files are not touched). Far less distortion than cProfile: one perf_counter pair per call."""

    def __init__(self) -> None:
        self.ns: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self._undo: list[tuple[object, str, object]] = []

    def wrap(self, owner: object, attr: str, label: str) -> None:
        original = getattr(owner, attr)
        ns, calls = self.ns, self.calls

        def timed(*args, **kwargs):
            t0 = time.perf_counter_ns()
            try:
                return original(*args, **kwargs)
            finally:
                ns[label] += time.perf_counter_ns() - t0
                calls[label] += 1

        setattr(owner, attr, timed)
        self._undo.append((owner, attr, original))

    def restore(self) -> None:
        for owner, attr, original in reversed(self._undo):
            setattr(owner, attr, original)
        self._undo.clear()


def wall_breakdown(d: Delaktig, cases: int) -> None:
    from sqlalchemy.engine import Result
    from sqlalchemy.orm import Session
    from sqlalchemy.orm.session import SessionTransaction

    import engine.app as app_mod
    import engine.audit as audit_mod
    import engine.runtime as runtime_mod
    import engine.users as users_mod

    t = WallTimers()
    t.wrap(app_mod.Delaktig, "complete_task", "total")
    t.wrap(Session, "execute", "sql")
    t.wrap(d.db.dialect, "do_ping", "ping")
    t.wrap(SessionTransaction, "commit", "commit")
    t.wrap(Session, "close", "close")
    t.wrap(Result, "scalar", "orm_rows")
    t.wrap(users_mod, "roles_of", "roles_of")
    t.wrap(runtime_mod, "load_state", "load_state")
    t.wrap(runtime_mod, "dump_state", "dump_state")
    t.wrap(runtime_mod, "run_engine", "spiff")
    for mod in (runtime_mod, app_mod):
        t.wrap(mod, "ready_user_tasks", "scans")
        t.wrap(mod, "json_safe", "json_safe")
    for name in ("waiting_timers", "waiting_messages", "case_variables"):
        t.wrap(runtime_mod, name, "scans")
    t.wrap(runtime_mod.CaseRun, "_task_row", "task_row")
    t.wrap(audit_mod.AuditWriter, "append", "audit")
    t.wrap(app_mod, "validate_form", "form")
    # Inclusive phases (they overlap the rows above).
    t.wrap(app_mod.Delaktig, "transaction", "phase transaction")
    t.wrap(app_mod.Delaktig, "_task_for", "phase _task_for")
    t.wrap(app_mod, "open_case", "phase open_case")
    t.wrap(runtime_mod.CaseRun, "step", "phase step")
    t.wrap(runtime_mod.CaseRun, "save", "phase save")
    t.wrap(runtime_mod.CaseRun, "_write", "phase _write")
    t.wrap(audit_mod.AuditWriter, "flush", "phase audit flush")
    t.wrap(app_mod, "_info", "phase _info")
    t.wrap(Session, "__init__", "phase Session()")
    cursor_ns = Counter()
    started: dict[int, int] = {}

    def before(_conn, cursor, *_a):
        started[id(cursor)] = time.perf_counter_ns()

    def after(_conn, cursor, *_a):
        cursor_ns["cursor"] += time.perf_counter_ns() - started.pop(id(cursor))

    gc_started: list[int] = []

    def gc_timer(phase: str, _info: dict) -> None:
        if phase == "start":
            gc_started.append(time.perf_counter_ns())
        elif gc_started:
            cursor_ns["gc"] += time.perf_counter_ns() - gc_started.pop()

    sa.event.listen(d.db, "before_cursor_execute", before)
    sa.event.listen(d.db, "after_cursor_execute", after)
    gc.callbacks.append(gc_timer)
    acc: Counter[str] = Counter()
    acc_cursor: Counter[str] = Counter()
    try:
        engine_case(d, 30_000)
        for i in range(cases):
            info = d.start_case(PID, business_key=f"bench-wall-{i}", actor=user_of("handlaggare"))
            ns_before, cursor_before = Counter(t.ns), Counter(cursor_ns)
            for _element, role, data in STEPS:
                (task_id,) = info.open_tasks
                info = d.complete_task(task_id, user_of(role), data)
            acc.update(t.ns)
            acc.subtract(ns_before)
            acc_cursor.update(cursor_ns)
            acc_cursor.subtract(cursor_before)
    finally:
        sa.event.remove(d.db, "before_cursor_execute", before)
        sa.event.remove(d.db, "after_cursor_execute", after)
        gc.callbacks.remove(gc_timer)
        t.restore()
    n = cases * len(STEPS)

    def per(key: str, source: Counter | None = None) -> float:
        return ms((source or acc)[key]) / n

    total = per("total")
    cursor = per("cursor", acc_cursor)
    ping = per("ping")
    sql = per("sql")
    parts = [
        ("SQL statements, driver + server (psycopg execute, 9/call, BEGIN rides on the 1st)", cursor),
        (
            "SQL statements, SQLAlchemy overhead (Session.execute minus driver, minus ping)",
            sql - cursor - ping,
        ),
        ("pool pre-ping SELECT 1 at checkout (pool_pre_ping=True)", ping),
        ("COMMIT (SessionTransaction.commit: SQLAlchemy + round trip + fsync)", per("commit")),
        ("Session.close (release connection to the pool)", per("close")),
        ("ORM rows → objects (Result.scalar: case blob, JSON, dates)", per("orm_rows")),
        ("deserialize: load_state (orjson.loads + from_dict + sandbox)", per("load_state")),
        ("serialize: dump_state (to_dict + orjson.dumps)", per("dump_state")),
        ("SpiffWorkflow: task.run + refresh_timers + do_engine_steps", per("spiff")),
        ("projection scans (ready tasks ×3, timers ×2, messages ×2, variables)", per("scans")),
        ("projection: new user_task row (_task_row)", per("task_row")),
        ("audit rows: detail round trip + sha256 chain (AuditWriter.append)", per("audit")),
        ("json_safe (orjson round trips for data/changes)", per("json_safe")),
        ("validate_form", per("form")),
    ]
    rest = total - sum(v for _, v in parts)
    parts.append(("rest: Session/transaction objects, CaseInfo, glue, descheduling", rest))
    print(
        f"\nWall-clock breakdown of complete_task on PostgreSQL ({cases} cases, {n} completions, patched timers)"
    )
    print("| where the time goes | ms per completion | share |")
    print("|---|---:|---:|")
    for label, value in parts:
        print(f"| {label} | {value:.3f} | {100 * value / total:.0f} % |")
    print(f"| **total complete_task** | **{total:.3f}** | 100 % |")
    db = cursor + ping + per("commit")
    print(
        f"database round trips (driver+server, ping, commit): {db:.3f} ms = {100 * db / total:.0f} %; "
        f"SQLAlchemy around them: {sql - cursor - ping + per('close') + per('orm_rows'):.3f} ms; "
        f"Python engine work (serialization, Spiff, projection, audit): "
        f"{sum(v for label, v in parts[6:14]):.3f} ms; roles_of alone {per('roles_of'):.3f} ms; "
        f"garbage collection (spread over the rows above) {per('gc', acc_cursor):.3f} ms"
    )
    print(
        "Inclusive phases (ms per completion): "
        + "; ".join(f"{k.removeprefix('phase ')} {per(k):.3f}" for k in sorted(acc) if k.startswith("phase "))
    )


def _statement_kind(statement: str, executemany: bool) -> str:
    words = statement.replace('"', "").split()
    verb = words[0].upper()
    table = ""
    if verb == "UPDATE":
        table = words[1]
    else:
        for kw in ("FROM", "INTO"):
            if kw in words:
                table = words[words.index(kw) + 1]
                break
    return f"{verb} {table}{' (executemany)' if executemany else ''}"


def sql_per_call(d: Delaktig, cases: int) -> None:
    """Statements per start_case / complete_task, and the time spent in each kind (driver + server)."""
    kinds: Counter[str] = Counter()
    spent: Counter[str] = Counter()
    pending: dict[int, tuple[str, int]] = {}

    def before(_conn, cursor, statement, _params, _context, executemany):
        pending[id(cursor)] = (_statement_kind(statement, executemany), time.perf_counter_ns())

    def after(_conn, cursor, _statement, _params, _context, _executemany):
        kind, t0 = pending.pop(id(cursor))
        kinds[kind] += 1
        spent[kind] += time.perf_counter_ns() - t0

    def commit(_conn):
        pending[-1] = ("COMMIT", time.perf_counter_ns())

    sa.event.listen(d.db, "before_cursor_execute", before)
    sa.event.listen(d.db, "after_cursor_execute", after)
    sa.event.listen(d.db, "commit", commit)
    start_kinds: Counter[str] = Counter()
    calls = 0
    total_ns = 0
    try:
        engine_case(d, 10_000)  # warm the listeners' path
        for i in range(cases):
            kinds.clear()
            info = d.start_case(PID, business_key=f"bench-sql-{i}", actor=user_of("handlaggare"))
            start_kinds += kinds
            kinds.clear()
            if i == 0:
                spent.clear()
            for _element, role, data in STEPS:
                (task_id,) = info.open_tasks
                t0 = time.perf_counter_ns()
                info = d.complete_task(task_id, user_of(role), data)
                total_ns += time.perf_counter_ns() - t0
                calls += 1
            if i == 0:
                per_kind = Counter(kinds)
    finally:
        sa.event.remove(d.db, "before_cursor_execute", before)
        sa.event.remove(d.db, "after_cursor_execute", after)
        sa.event.remove(d.db, "commit", commit)
    n_stmt = sum(per_kind.values()) / len(STEPS)
    print(
        f"\nSQL per call ({cases} cases): start_case {sum(start_kinds.values()) / cases:.0f} statements; "
        f"complete_task {n_stmt:.2f} statements + BEGIN/COMMIT"
    )
    print(f"  start_case: {', '.join(f'{k} ×{v / cases:.2g}' for k, v in sorted(start_kinds.items()))}")
    print("| complete_task statement | per call | ms per call (driver + server, incl. SQLAlchemy exec) |")
    print("|---|---:|---:|")
    in_sql = 0.0
    for kind, count in sorted(per_kind.items(), key=lambda kv: -spent[kv[0]]):
        t = ms(spent[kind]) / calls
        in_sql += t
        print(f"| {kind} | {count / len(STEPS):.2g} | {t:.3f} |")
    print(f"| all statements (cursor execute) | {n_stmt:.2f} | {in_sql:.3f} |")
    print(f"| complete_task wall time (listeners on) | | {ms(total_ns) / calls:.3f} |")


def engine_case_roles(d: Delaktig, n: int) -> list[int]:
    """Like engine_case, but the caller passes the actor's roles (as a web session would have them)."""
    info = d.start_case(PID, business_key=f"bench-roles-{n}", actor=user_of("handlaggare"))
    completions = []
    for _element, role, data in STEPS:
        (task_id,) = info.open_tasks
        t0 = time.perf_counter_ns()
        info = d.complete_task(task_id, user_of(role), data, roles={role})
        completions.append(time.perf_counter_ns() - t0)
    return completions


def what_if(url: str, cases: int, base: Delaktig) -> None:
    """Variants reachable without engine changes (caller arguments, engine kwargs, a session setting),
    interleaved case by case so machine noise hits all of them alike."""
    variants: list[tuple[str, Delaktig, bool]] = [
        ("as measured (roles looked up, pool_pre_ping on)", base, False),
        ("caller passes roles= (no user_role SELECT)", base, True),
    ]
    no_ping = Delaktig(url, pool_pre_ping=False)
    variants.append(("roles= and pool_pre_ping=False", no_ping, True))
    async_commit = Delaktig(url, pool_pre_ping=False, connect_args={"options": "-c synchronous_commit=off"})
    variants.append(
        ("… and synchronous_commit=off (durability trade-off, shows fsync cost)", async_commit, True)
    )
    samples: dict[str, list[int]] = {label: [] for label, _, _ in variants}
    try:
        for _label, d, roles in variants:
            (engine_case_roles(d, -1) if roles else engine_case(d, -1))
        for i in range(cases):
            for label, d, roles in variants:
                samples[label] += engine_case_roles(d, 40_000 + i) if roles else engine_case(d, 40_000 + i)[1]
    finally:
        no_ping.dispose()
        async_commit.dispose()
    print(f"\nWhat-if variants on PostgreSQL ({cases} cases each, interleaved; engine code unchanged)")
    print("| variant | median ms | mean ms |")
    print("|---|---:|---:|")
    for label, values in samples.items():
        st = summary(values)
        print(f"| {label} | {st['median']:.3f} | {st['mean']:.3f} |")


def profile_engine(d: Delaktig, url: str, cases: int) -> None:
    wall_breakdown(d, cases)
    what_if(url, max(10, cases // 2), d)
    sql_per_call(d, max(5, cases // 2))
    prof = cProfile.Profile()
    prof.enable()
    for i in range(max(5, cases // 2)):
        engine_case(d, 20_000 + i)
    prof.disable()
    print("\ncProfile, top 20 by own time (PostgreSQL cases; cProfile inflates Python-heavy code):")
    pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(20)


# --- main --------------------------------------------------------------------------------------------------
def fmt_row(label: str, st: dict[str, float], per_case_ms: float) -> str:
    return (
        f"| {label} | {st['median']:.3f} | {st['p95']:.3f} | {st['mean']:.3f} | {per_case_ms:.2f} "
        f"| {1000 / st['mean']:.0f} |"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=200, help="measured cases per path (default 200)")
    ap.add_argument("--warmup", type=int, default=20, help="unmeasured cases first (default 20)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds over the paths (default 5)")
    ap.add_argument("--pg-url", default=os.environ.get("DELAKTIG_BENCH_PG_URL", PG_DEFAULT))
    ap.add_argument("--skip-pg", action="store_true")
    ap.add_argument("--skip-sqlite", action="store_true")
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="profile N more PostgreSQL cases")
    ap.add_argument("--keep-db", action="store_true", help="do not drop the scratch database at the end")
    args = ap.parse_args(argv)

    xml = FIXTURE.read_bytes()
    n_tasks = len(STEPS)
    print(
        f"bench/engine.py — {FIXTURE.name} ({len(xml) / 1024:.1f} KB, {n_tasks} user tasks, 3 lanes); "
        f"{args.cases} cases per path after {args.warmup} warm-up cases"
    )
    print(
        f"{_dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; Python {platform.python_version()}; "
        f"{platform.machine()}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}"
    )

    t0 = time.perf_counter_ns()
    compiled = compile_or_raise(xml, FIXTURE.name)
    spec, subs = compiled.spec(PID)
    compile_ms = ms(time.perf_counter_ns() - t0)

    rows: list[str] = []
    results: dict[str, dict[str, float]] = {}
    size_lines: list[str] = []
    translated = etree.tostring(compiled.root)
    serializer, s_spec, s_subs, s_load, s_dump = stock_setup(translated)
    spec_bytes, spec_note = spec_size(serializer, spec, subs, (s_spec, s_subs))

    pg = lite = None
    tmp = tempfile.TemporaryDirectory(prefix="delaktig-bench-")
    if not args.skip_pg:
        create_pg_database(args.pg_url)
        pg = setup_engine(args.pg_url, xml)
    if not args.skip_sqlite:
        lite = setup_engine(f"sqlite:///{tmp.name}/bench.sqlite", xml)

    # Interleaved rounds: each round runs a slice of every path, so load from other processes on the
    # machine hits all paths alike; the ratio is also given as the median of per-round ratios.
    paths = {
        "bare": lambda n, w, o: run_bare(spec, subs, lambda b: load_state(b, spec, subs), dump_state, n, w),
        "stock": lambda n, w, o: run_bare(s_spec, s_subs, s_load, s_dump, n, w),
    }
    if pg is not None:
        paths["pg"] = lambda n, w, o: run_engine(pg, n, w, o)
    if lite is not None:
        paths["sqlite"] = lambda n, w, o: run_engine(lite, n, w, o)
    starts: dict[str, list[int]] = {k: [] for k in paths}
    comps: dict[str, list[int]] = {k: [] for k in paths}
    per_round: dict[str, list[float]] = {k: [] for k in paths}
    bare_sizes = stock_sizes = []
    rounds = max(1, min(args.rounds, args.cases))
    for r in range(rounds):
        n = args.cases // rounds + (1 if r < args.cases % rounds else 0)
        for key, run in paths.items():
            out = run(n, args.warmup if r == 0 else 0, r * 10_000)
            starts[key] += out[0]
            comps[key] += out[1]
            per_round[key].append(statistics.median(out[1]))
            if r == 0 and key == "bare":
                bare_sizes = out[2]
            if r == 0 and key == "stock":
                stock_sizes = out[2]
    labels = {
        "bare": "(a) bare SpiffWorkflow, stateless, spec out of blob",
        "stock": "(a') bare, stock serializer, spec inside blob",
        "pg": "(b) Delaktig complete_task, PostgreSQL",
        "sqlite": "(c) Delaktig complete_task, SQLite file (WAL)",
    }
    for key in paths:
        results[key] = summary(comps[key])
        rows.append(fmt_row(labels[key], results[key], ms(sum(comps[key])) / args.cases))
    bare_start = summary(starts["bare"])
    extra: list[str] = []
    engine_sizes: dict[str, tuple[list[int], float]] = {}
    if pg is not None:
        s = summary(starts["pg"])
        extra.append(f"start_case on PostgreSQL: median {s['median']:.3f} ms, p95 {s['p95']:.3f} ms")
        extra.append(f"PostgreSQL round trip (SELECT 1): {round_trip_ms(pg):.3f} ms")
        engine_sizes["PostgreSQL"] = engine_sizes_of(pg)
    if lite is not None:
        s = summary(starts["sqlite"])
        extra.append(f"start_case on SQLite: median {s['median']:.3f} ms, p95 {s['p95']:.3f} ms")
        engine_sizes["SQLite"] = engine_sizes_of(lite)
        lite.dispose()
    tmp.cleanup()

    print(f"\ncompile_or_raise + spec (once per version): {compile_ms:.1f} ms")
    print(f"bare start (new workflow + steps + dump): median {bare_start['median']:.3f} ms")
    for line in extra:
        print(line)
    print("\nPer task completion (ms)")
    print("| path | median | p95 | mean | per case (11 tasks) | completions/s (1 thread) |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(row)

    print("\nRatios (target: engine ≤ 3.0× bare, spec out of blob)")
    print(f"| ratio | of medians | of means | median of {rounds} per-round ratios | target |")
    print("|---|---:|---:|---:|---|")
    for key, label in (
        ("pg", "(b) PostgreSQL / (a) bare"),
        ("sqlite", "(c) SQLite / (a) bare"),
        ("stock", "(a') stock serializer / (a) spec out of blob"),
    ):
        if key in results:
            rm = results[key]["median"] / results["bare"]["median"]
            rmean = results[key]["mean"] / results["bare"]["mean"]
            rr = statistics.median(x / y for x, y in zip(per_round[key], per_round["bare"], strict=True))
            target = (
                "(reference)"
                if key == "stock"
                else f"≤ {TARGET_RATIO:.0f}× — " + ("met" if rr <= TARGET_RATIO else "NOT met")
            )
            print(f"| {label} | {rm:.2f}× | {rmean:.2f}× | {rr:.2f}× | {target} |")

    print("\nState size per case (bytes of the case blob; target ≤ 10 KB = 10240 B without the spec)")
    print("| blob | after start | max during run | at end | with spec inside (stock) | target |")
    print("|---|---:|---:|---:|---:|---|")

    def size_row(label: str, sizes: list[int], tail: str = "") -> str:
        verdict = "met" if max(sizes) <= TARGET_STATE else "NOT met"
        return (
            f"| {label} | {sizes[0]} | {max(sizes)} | {sizes[-1]} | "
            f"{tail or f'{sizes[0] + spec_bytes}–{max(sizes) + spec_bytes}'} | ≤ 10240 — {verdict} |"
        )

    size_lines.append(size_row("bare, engine.workflow.dump_state", bare_sizes))
    for name, (sizes, avg_end) in engine_sizes.items():
        size_lines.append(size_row(f"engine case.state on {name} (one case)", sizes))
        size_lines.append(
            f"| engine on {name}: mean at end over all completed cases | | | {avg_end:.0f} | | |"
        )
    size_lines.append(
        f"| stock serializer (measured, spec inside) | {stock_sizes[0]} | {max(stock_sizes)} | "
        f"{stock_sizes[-1]} | (is the spec-inside blob) | — |"
    )
    for line in size_lines:
        print(line)
    print(
        f"spec part of a stock blob: {spec_bytes} B ({spec_note}); "
        f"stored once per version in Delaktig (resource row, {len(xml)} B of XML). The (a') blobs are smaller "
        "than spec-less + spec because the stock CamundaParser keeps fewer extensions (no candidate groups, "
        "no generated-form fields)"
    )
    growth = (bare_sizes[-1] - bare_sizes[0]) / n_tasks
    print(f"blob growth: {growth:.0f} B per completed task (completed tasks stay in the tree)")

    print(f"load average at the end of the timed runs: {os.getloadavg()[0]:.2f}")
    if args.profile and pg is not None:
        profile_engine(pg, args.pg_url, args.profile)
        pg.dispose()
    if not args.skip_pg and not args.keep_db:
        drop_pg_database(args.pg_url)
        print(f"\ndropped scratch database {sa.make_url(args.pg_url).database}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
