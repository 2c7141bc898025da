"""Driver-level reads and writes for case runs: few round trips, no ORM on the hot path.

Why this exists: completing a task touches about eight rows (the task, its candidates, the next task, the
case, the audit rows). Sent one by one through SQLAlchemy, each cost a network round trip plus statement
building, and a completion took 13× as long as SpiffWorkflow itself (docs/benchmarks.md). Here a case run
queues its writes and they are sent together: on PostgreSQL as one statement of data-modifying CTEs in a
psycopg pipeline (one round trip; at the end of a transaction the COMMIT rides along), on SQLite one by one
straight to sqlite3 (no network to save).

The statements run on the session's own DBAPI connection, inside the session's transaction: the ORM and
these writes see the same data and commit or roll back together.

Guards. A write that must hit exactly one row (the case's version check, "the task is still open") is
checked by the database on PostgreSQL — ``delaktig_expect_rows`` (migration 0002) raises a serialization
failure — because in a pipeline the COMMIT is already on its way before Python could read a row count. On
SQLite the count is checked right after the statement.
"""

from __future__ import annotations

import contextlib
import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.orm import Session

from engine.db import BEGIN_PENDING
from engine.errors import Conflict, StaleCase

_KEY = "delaktig_rowio"
_STALE_MESSAGES: set[str] = set()  # guard messages that mean "re-read and retry" (Statement.stale)
_PARAM = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")
# SQLAlchemy's storage format for DateTime on SQLite; the ORM reads what we write and vice versa.
_SQLITE_DT = "%Y-%m-%d %H:%M:%S.%f"


@dataclass(frozen=True)
class Statement:
    """One SQL statement written once with ``:name`` parameters, rendered per dialect.

    ``postgresql``: the text for PostgreSQL where it differs (row locks, arrays).
    ``expect_one``: every execution must change exactly one row, else ``Conflict(conflict)`` —
    ``StaleCase(conflict)`` when ``stale``: the miss means the caller's read was out of date (retryable)."""

    sql: str
    postgresql: str | None = None
    expect_one: bool = False
    conflict: str = "Ärendet ändrades samtidigt av någon annan; ladda om och försök igen."
    stale: bool = False

    def __post_init__(self) -> None:
        if self.stale:
            _STALE_MESSAGES.add(self.conflict)

    @functools.cache  # noqa: B019 - statements are module constants: the cache lives as long as they do
    def render(self, dialect: str) -> str:
        if dialect != "postgresql":
            return self.sql
        sql = _PARAM.sub(r"%(\1)s", self.postgresql or self.sql)
        if self.expect_one:
            # The database refuses a miss itself (see the module docstring).
            sql = (
                f"WITH w AS ({sql} RETURNING 1) "
                "SELECT delaktig_expect_rows((SELECT count(*) FROM w), 1, %(_conflict)s)"
            )
        return sql


class RowIO:
    """The queued writes of one transaction and the driver connection they go to."""

    def __init__(self, session: Session):
        self.session = session
        connection = session.connection()  # begins the session's transaction (SQLite: BEGIN IMMEDIATE)
        self.dialect = connection.dialect.name
        self.pg = self.dialect == "postgresql"
        self.raw = connection.connection.driver_connection
        self.info = connection.connection.info
        self.pending: list[tuple[Statement, dict[str, Any] | list[dict[str, Any]]]] = []

    @classmethod
    def of(cls, session: Session) -> RowIO:
        io = session.info.get(_KEY)
        if io is None or io.raw is not session.connection().connection.driver_connection:
            io = session.info[_KEY] = cls(session)
        return io

    # --- values -----------------------------------------------------------------------------------------
    def json(self, value: Any) -> Any:
        if self.pg:
            from psycopg.types.json import Jsonb

            return Jsonb(value, dumps=orjson.dumps)
        return orjson.dumps(value).decode()

    def when(self, value: datetime | None) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; Delaktig stores aware UTC only")
        return value if self.pg else value.astimezone(UTC).strftime(_SQLITE_DT)

    def read_json(self, value: Any) -> Any:
        return orjson.loads(value) if isinstance(value, str | bytes) and not self.pg else value

    @staticmethod
    def read_when(value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    # --- statements -------------------------------------------------------------------------------------
    def _sql(self, statement: Statement) -> str:
        return statement.render(self.dialect)

    def queue(self, statement: Statement, params: dict[str, Any] | list[dict[str, Any]]) -> None:
        """Send ``statement`` with the next flush (a list of parameter sets: once per set)."""
        if isinstance(params, list) and not params:
            return
        self.pending.append((statement, params))

    def fetch_one(self, statement: Statement, params: dict[str, Any], guarded: bool = False) -> tuple | None:
        """One row; queued writes go first, in the same round trip on PostgreSQL (with the BEGIN if the
        transaction has not sent anything yet).

        ``guarded``: the read takes no locks and whatever depends on it is re-checked by a guard when
        written (the case's version). On PostgreSQL, before anything of the transaction was sent, it
        then runs on its own, outside it — a plain statement, no pipeline — and the owed BEGIN travels
        with the writes: the same snapshot rules (READ COMMITTED takes one per statement either way), one
        message less, and no transaction held open while SpiffWorkflow works."""
        if self.pg and guarded and not self.pending and self.info.get(BEGIN_PENDING):
            return self.raw.execute(self._sql(statement), params).fetchone()
        if self.pg:
            with self._pipeline():
                self._send_pending()
                cursor = self.raw.execute(self._sql(statement), params)
            return cursor.fetchone()
        self._send_pending()
        return self.raw.execute(self._sql(statement), params).fetchone()

    def flush(self, commit: bool = False) -> None:
        """Send the queued writes. ``commit`` (PostgreSQL): the COMMIT goes in the same round trip; the
        session's own commit then finds nothing left to do. Call it only as the transaction's last step."""
        if self.session.new or self.session.dirty or self.session.deleted:
            self.session.flush()  # ORM changes first: queued rows may refer to them
        if not self.pending and not commit:
            return
        if self.pg:
            with self._pipeline():
                self._send_pending()
                if commit:
                    self.raw.execute("COMMIT")
        else:
            self._send_pending()  # SQLite: the session commits (no round trip to save)

    @contextlib.contextmanager
    def _pipeline(self):
        """A psycopg pipeline; the database's refusals inside it become the engine's Conflict."""
        import psycopg

        try:
            with self.raw.pipeline():
                if self.info.pop(BEGIN_PENDING, False):
                    self.raw.execute("BEGIN")  # owed since the session began (engine.db)
                yield
        except psycopg.errors.SerializationFailure as failure:
            message = failure.diag.message_primary or str(failure)
            raise (StaleCase if message in _STALE_MESSAGES else Conflict)(message) from failure
        except psycopg.errors.UniqueViolation as violation:
            raise Conflict("samtidig ändring upptäcktes (UniqueViolation); försök igen") from violation
        except psycopg.errors.DeadlockDetected as deadlock:
            raise Conflict("databasen är upptagen av en samtidig ändring; försök igen") from deadlock

    def _send_pending(self) -> None:
        pending, self.pending = self.pending, []
        if not pending:
            return
        if self.pg:
            items = [
                (statement, [one])
                for statement, params in pending
                for one in (params if isinstance(params, list) else [params])
            ]
            import psycopg

            # A raw cursor: the combined text already has $n placeholders (see _combined_sql).
            raw_cursor = psycopg.RawCursor(self.raw)
            # Chunks keep a statement far from PostgreSQL's 65,535 parameters (a case run writes dozens
            # of rows; an unusual one — a case with hundreds of parallel tasks — still goes through).
            for start in range(0, len(items), _MAX_COMBINED):
                sql, params = _one_statement(items[start : start + _MAX_COMBINED])
                (raw_cursor if isinstance(params, list) else self.raw.cursor()).execute(sql, params)
            return
        cursor = self.raw.cursor()
        for statement, params in pending:
            sql = self._sql(statement)
            many = isinstance(params, list)
            try:
                cursor.executemany(sql, params) if many else cursor.execute(sql, params)
            except Exception as err:  # sqlite3: map a lost race as the ORM path does
                if "UNIQUE constraint failed" in str(err):
                    raise Conflict("samtidig ändring upptäcktes (IntegrityError); försök igen") from err
                raise
            if statement.expect_one and cursor.rowcount != (len(params) if many else 1):
                raise (StaleCase if statement.stale else Conflict)(statement.conflict)


_MAX_COMBINED = 100  # writes per combined statement


@functools.lru_cache(maxsize=256)
def _combined_sql(shape: tuple[Statement, ...]) -> tuple[str, tuple[tuple[int, str], ...]]:
    """One PostgreSQL statement doing the work of ``shape``: each write a data-modifying CTE.

    Every statement the server runs costs its own protocol messages, executor start and result handling
    on both sides; a case run's seven or so small writes cost less as one. The text depends only on the
    shape (which statements, how many times), so psycopg prepares it once per shape and connection.
    Safe here because a case run never writes the same row twice in one flush (the CTEs share a snapshot
    and run in no set order); foreign keys are checked at the end of the statement.

    Returned with ``$n`` placeholders and, for each ``$n``, which write and which of its parameters fills
    it: psycopg passes such text through as it is (``RawCursor``). With ``%(name)s`` placeholders it
    re-parses any statement of over 50 parameters on every execution — a completion's ~60 cost more
    client time than SpiffWorkflow's own step did."""
    ctes, checks, order = [], [], []
    slots: dict[tuple[int, str], int] = {}

    def slot(n: int, name: str) -> str:
        if (n, name) not in slots:
            order.append((n, name))
            slots[(n, name)] = len(order)
        return f"${slots[(n, name)]}"

    for n, statement in enumerate(shape):
        if statement.postgresql is not None or not statement.sql.lstrip().upper().startswith(
            ("INSERT", "UPDATE", "DELETE")
        ):
            raise ValueError(f"cannot combine {statement.sql[:40]!r}")  # plain writes only
        body = _PARAM.sub(lambda m, n=n: slot(n, m.group(1)), statement.sql)
        if statement.expect_one:
            ctes.append(f"w{n} AS ({body} RETURNING 1)")
            checks.append(f"delaktig_expect_rows((SELECT count(*) FROM w{n}), 1, {slot(n, '_conflict')})")
        else:
            ctes.append(f"w{n} AS ({body})")
    sql = "WITH " + ",\n".join(ctes) + "\nSELECT " + (", ".join(checks) or "1")
    return sql, tuple(order)


def _one_statement(pending) -> tuple[str, dict[str, Any] | list[Any]]:
    """The queued writes as (sql, params) for PostgreSQL: one alone as written (``%(name)s``, a dict),
    several combined (``_combined_sql``: ``$n``, a list — for a ``psycopg.RawCursor``)."""
    items = [
        (statement, one)
        for statement, params in pending
        for one in (params if isinstance(params, list) else [params])
    ]
    if len(items) == 1:
        statement, one = items[0]
        params = {**one, "_conflict": statement.conflict} if statement.expect_one else one
        return statement.render("postgresql"), params
    sql, order = _combined_sql(tuple(statement for statement, _ in items))
    values = [items[n][0].conflict if name == "_conflict" else items[n][1][name] for n, name in order]
    return sql, values


def finish_rows(session: Session) -> None:
    """The transaction's last step: send what is still queued, with the COMMIT where the driver can."""
    io = session.info.get(_KEY)
    if io is not None and io.pending:
        io.flush(commit=True)
