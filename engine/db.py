"""Database connection: one SQLAlchemy engine, sessions, SQLite pragmas, migrations.

SQLite (the embedded default) gets WAL, foreign keys, a busy timeout and ``BEGIN IMMEDIATE`` so two writers
queue instead of failing half-way; PostgreSQL rows are locked with ``SELECT … FOR UPDATE``, and its BEGIN is
sent by us so it can travel with the first statements (``_explicit_transactions``).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import re
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")
_write_tx: contextvars.ContextVar[bool] = contextvars.ContextVar("delaktig_write_tx", default=False)
_read_tx: contextvars.ContextVar[bool] = contextvars.ContextVar("delaktig_read_tx", default=False)


@contextlib.contextmanager
def write_transaction():
    """Mark the transactions begun inside as writers (SQLite: BEGIN IMMEDIATE)."""
    token = _write_tx.set(True)
    try:
        yield
    finally:
        _write_tx.reset(token)


@contextlib.contextmanager
def read_session():
    """Mark the sessions begun inside as readers. PostgreSQL: no BEGIN at all — under READ COMMITTED a
    transaction gives a reader nothing (each statement takes its own snapshot anyway) and costs two round
    trips. A write transaction begun inside still gets its BEGIN (``write_transaction`` wins)."""
    token = _read_tx.set(True)
    try:
        yield
    finally:
        _read_tx.reset(token)


def _lower(value):
    return value.lower() if isinstance(value, str) else value


@functools.lru_cache(maxsize=512)
def _like_segments(pattern: str, escape: str | None) -> tuple[tuple[str | None, ...], ...]:
    """The pattern cut at each unescaped "%": each piece its characters, None for "_"."""
    pieces: list[list[str | None]] = [[]]
    chars = iter(pattern)
    for ch in chars:
        if ch == escape:
            pieces[-1].append(next(chars, ""))  # (a pattern ending in its escape is refused before this)
        elif ch == "%":
            pieces.append([])
        else:
            pieces[-1].append(None if ch == "_" else ch)
    return tuple(tuple(c for c in piece if c != "") for piece in pieces)


def _piece_at(text: str, at: int, piece: tuple[str | None, ...]) -> bool:
    return at + len(piece) <= len(text) and all(c is None or text[at + i] == c for i, c in enumerate(piece))


def _like(pattern, value, escape=None):
    """``value LIKE pattern [ESCAPE escape]`` as PostgreSQL answers it: case-sensitive. SQLite's own LIKE
    ignores the case of ASCII letters, so a pattern found other rows on SQLite than on PostgreSQL.
    Matched piece by piece, each "%" taking the earliest place the next piece fits (``_find``, in C):
    never the exponential time of a regular expression of ``.*`` pieces, which backtracks without end on
    ``%a%a%a…b`` against a long text — a query parameter must not stall the server."""
    if pattern is None or value is None:
        return None
    text, pieces = str(value), _like_segments(str(pattern), escape)
    if len(pieces) == 1:
        return len(text) == len(pieces[0]) and _piece_at(text, 0, pieces[0])
    first, *middle, last = pieces
    if not _piece_at(text, 0, first):
        return False
    at, tail = len(first), len(text) - len(last)
    if tail < at:
        return False
    for piece in middle:
        at = _find(text, piece, at, tail)
        if at < 0:
            return False
        at += len(piece)
    return _piece_at(text, tail, last)


def _find(text: str, piece: tuple[str | None, ...], start: int, end: int) -> int:
    """The first place from ``start`` where ``piece`` fits wholly before ``end``; -1 if none. Both ways
    run in C: ``str.find`` for a piece of plain characters, a fixed-width regular expression (no
    repetition, so no backtracking beyond the piece) for one with "_"."""
    if None not in piece:
        return text.find("".join(piece), start, end)  # type: ignore[arg-type]
    found = _piece_regex(piece).search(text, start, end)
    return found.start() if found else -1


@functools.lru_cache(maxsize=512)
def _piece_regex(piece: tuple[str | None, ...]) -> re.Pattern[str]:
    return re.compile("".join("." if c is None else re.escape(c) for c in piece), re.DOTALL)


def make_engine(url: str, **kwargs) -> sa.Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            # 64 MiB page cache and memory-mapped reads: the inbox and case pages read indexes, not blobs.
            cur.execute("PRAGMA cache_size=-65536")
            cur.execute("PRAGMA mmap_size=268435456")
            cur.close()
            # SQLite's own lower() folds only ASCII: "Ängby" would stay "Ängby". Python's folds as
            # PostgreSQL does, so case-insensitive sorting and filters answer alike on both.
            dbapi_conn.create_function("lower", 1, _lower, deterministic=True)
            # The LIKE operator calls like(pattern, value[, escape]): case-sensitive, as on PostgreSQL.
            dbapi_conn.create_function("like", 2, _like, deterministic=True)
            dbapi_conn.create_function("like", 3, _like, deterministic=True)

        @sa.event.listens_for(engine, "begin")
        def _begin(conn):
            # IMMEDIATE takes the write lock at BEGIN: a second writer waits (busy_timeout) rather than
            # reading, then failing to upgrade its lock mid-transaction.
            conn.exec_driver_sql("BEGIN IMMEDIATE" if _write_tx.get() else "BEGIN")

        return engine
    # No pre-ping: it costs a round trip per transaction on the hot path. Connections are recycled
    # hourly; after a database restart the first request on a dead connection fails and is retried.
    kwargs.setdefault("pool_recycle", 3600)
    if "isolation_level" in kwargs:  # an admin engine (CREATE DATABASE …): as asked
        return sa.create_engine(url, **kwargs)
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", **kwargs)
    _explicit_transactions(engine)
    return engine


BEGIN_PENDING = "delaktig_begin_pending"


def _explicit_transactions(engine: sa.Engine) -> None:
    """PostgreSQL transactions begun by us rather than by psycopg, so BEGIN can share a round trip.

    psycopg runs in autocommit mode and SQLAlchemy's transaction boundaries are unchanged: at "begin" we
    only note that a BEGIN is owed; it is sent just before the transaction's first statement — alone
    when SQLAlchemy executes it, or inside the same pipeline as the first reads and writes of
    ``engine.rowio``. COMMIT and ROLLBACK are psycopg's own (no-ops when nothing was begun)."""

    @sa.event.listens_for(engine, "begin")
    def _owe_begin(conn):
        if _read_tx.get() and not _write_tx.get():
            return  # a reader: every statement on its own (read_session)
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            conn.connection.info[BEGIN_PENDING] = True

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _send_begin(conn, cursor, *_args):
        if conn.connection.info.pop(BEGIN_PENDING, False):
            cursor.execute("BEGIN")

    @sa.event.listens_for(engine, "commit")
    @sa.event.listens_for(engine, "rollback")
    def _nothing_owed(conn):
        conn.connection.info.pop(BEGIN_PENDING, None)


def make_sessionmaker(engine: sa.Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    command.upgrade(alembic_config(url), revision)
