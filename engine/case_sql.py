"""The SQL a case run sends (``engine.rowio``), and the rows it reads turned into model objects.

Written once for both databases; ``postgresql=`` holds the text where PostgreSQL needs its own (row locks,
arrays). The tables are those of ``engine.models`` (migrations in ``engine/migrations``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.models import ProcessDefinition
from engine.rowio import RowIO, Statement

_CASE_COLUMNS = (
    "id, definition_id, process_key, business_key, status, version, state, state_format, data, "
    "next_timer_at, started_by, started_at, ended_at, end_reason, audit_seq, audit_hash"
)
_C_CASE_COLUMNS = ", ".join(f"c.{c.strip()}" for c in _CASE_COLUMNS.split(","))
_TASK_COLUMNS = (
    "t.id, t.case_id, t.element_id, t.name, t.state, t.assignee, t.candidate_groups, t.candidate_users, t.form, "
    "t.delegation_state"
)
_ROLES_SQLITE = (
    "(SELECT json_group_array(ur.role_name) FROM user_role ur JOIN app_user u ON u.id = ur.user_id "
    "WHERE u.name = :actor AND u.active)"
)
_ROLES_PG = (
    "ARRAY(SELECT ur.role_name FROM user_role ur JOIN app_user u ON u.id = ur.user_id "
    "WHERE u.name = :actor AND u.active)"
)

# --- reads ----------------------------------------------------------------------------------------------
LOAD_CASE = Statement(
    f'SELECT {_CASE_COLUMNS} FROM "case" WHERE id = :case_id',
    postgresql=f'SELECT {_CASE_COLUMNS} FROM "case" WHERE id = :case_id FOR UPDATE',
)
# A case whose timers are due, unless another worker holds it (PostgreSQL: SKIP LOCKED).
LOAD_DUE_CASE = Statement(
    f"SELECT {_CASE_COLUMNS} FROM \"case\" WHERE id = :case_id AND status = 'active' AND next_timer_at <= :now",
    postgresql=f"SELECT {_CASE_COLUMNS} FROM \"case\" WHERE id = :case_id AND status = 'active' "
    "AND next_timer_at <= :now FOR UPDATE SKIP LOCKED",
)
# The task, its case and the actor's roles: everything a completion needs, in one query. No row lock:
# the case's version check at write time catches a concurrent change (StaleCase, and the completion runs
# again) — a lock would cost a WAL record and a dirtied page on every completion for the rare race.
_TASK_CASE_FROM = 'FROM user_task t JOIN "case" c ON c.id = t.case_id WHERE t.id = :task_id'
LOAD_TASK_CASE_ROLES = Statement(
    f"SELECT {_TASK_COLUMNS}, {_C_CASE_COLUMNS}, {_ROLES_SQLITE} {_TASK_CASE_FROM}",
    postgresql=f"SELECT {_TASK_COLUMNS}, {_C_CASE_COLUMNS}, {_ROLES_PG} {_TASK_CASE_FROM}",
)
# The same when the caller already knows the actor's roles (a web or API session).
LOAD_TASK_CASE = Statement(f"SELECT {_TASK_COLUMNS}, {_C_CASE_COLUMNS}, NULL {_TASK_CASE_FROM}")

# The definition to start (by id, or the latest / a given version of a key) and the actor's roles.
_DEFINITION_COLUMNS = "d.id, d.key, d.version, d.name, d.meta"
LOAD_DEFINITION_ROLES_BY_ID = Statement(
    f"SELECT {_DEFINITION_COLUMNS}, {_ROLES_SQLITE} FROM process_definition d WHERE d.id = :definition_id",
    postgresql=f"SELECT {_DEFINITION_COLUMNS}, {_ROLES_PG} FROM process_definition d "
    "WHERE d.id = :definition_id",
)
LOAD_DEFINITION_ROLES_BY_KEY = Statement(
    f"SELECT {_DEFINITION_COLUMNS}, {_ROLES_SQLITE} FROM process_definition d WHERE d.key = :key "
    "AND (CAST(:version AS INTEGER) IS NULL OR d.version = CAST(:version AS INTEGER)) "
    "ORDER BY d.version DESC LIMIT 1",
    postgresql=f"SELECT {_DEFINITION_COLUMNS}, {_ROLES_PG} FROM process_definition d WHERE d.key = :key "
    "AND (CAST(:version AS INTEGER) IS NULL OR d.version = CAST(:version AS INTEGER)) "
    "ORDER BY d.version DESC LIMIT 1",
)

# --- writes ---------------------------------------------------------------------------------------------
INSERT_CASE = Statement(
    'INSERT INTO "case" (id, definition_id, process_key, business_key, status, version, state, '
    "state_format, data, next_timer_at, started_by, started_at, ended_at, end_reason, audit_seq, audit_hash) "
    "VALUES (:id, :definition_id, :process_key, :business_key, :status, :version, :state, :state_format, "
    ":data, :next_timer_at, :started_by, :started_at, :ended_at, :end_reason, :audit_seq, :audit_hash)"
)
# Optimistic lock: also guards SQLite, which has no SELECT … FOR UPDATE.
UPDATE_CASE = Statement(
    'UPDATE "case" SET version = :new_version, state = :state, data = :data, next_timer_at = :next_timer_at, '
    "status = :status, ended_at = :ended_at, end_reason = :end_reason, audit_seq = :audit_seq, "
    "audit_hash = :audit_hash WHERE id = :id AND version = :version",
    expect_one=True,
    stale=True,
)
INSERT_USER_TASK = Statement(
    "INSERT INTO user_task (id, case_id, definition_id, process_key, element_id, name, documentation, lane, "
    "candidate_groups, candidate_users, assignee, state, created_at, due_at, follow_up_at, priority, form, "
    "completed_at, completed_by) VALUES (:id, :case_id, :definition_id, :process_key, :element_id, :name, "
    ":documentation, :lane, :candidate_groups, :candidate_users, :assignee, :state, :created_at, :due_at, "
    ":follow_up_at, :priority, :form, :completed_at, :completed_by)"
)
INSERT_TASK_CANDIDATE = Statement(
    "INSERT INTO task_candidate (task_id, kind, value) VALUES (:task_id, :kind, :value)"
)
DELETE_TASK_CANDIDATES = Statement("DELETE FROM task_candidate WHERE task_id = :task_id")
# "Still open", written so that no index can serve it: the task is found by its primary key alone.
# With a plain ``state = 'open'`` PostgreSQL's planner costed the inbox indexes, then led by ``state``, the
# same as the primary key and picked one, walking every open task's entry — and the entries completed
# tasks left behind until vacuum — to find one id: 38 pages instead of 3 at 300 cases, growing with the
# inbox (tests/engine/test_task_plans.py). The open-task indexes are partial now (migrations 0003,
# web_0003); this keeps a planner with young statistics from walking one of those instead.
STILL_OPEN = "state || '' = 'open'"
CANCEL_USER_TASK = Statement(
    f"UPDATE user_task SET state = 'cancelled', completed_at = :now WHERE id = :id AND {STILL_OPEN}"
)
COMPLETE_USER_TASK = Statement(
    "UPDATE user_task SET state = 'completed', completed_at = :now, completed_by = :actor, "
    f"assignee = :assignee WHERE id = :id AND {STILL_OPEN}",
    expect_one=True,
    conflict="Uppgiften slutfördes samtidigt av någon annan.",
)
INSERT_EXTERNAL_TASK = Statement(
    "INSERT INTO external_task (id, case_id, definition_id, process_key, business_key, element_id, name, "
    "topic, priority, properties, local_data, state, created_at) VALUES (:id, :case_id, :definition_id, "
    ":process_key, :business_key, :element_id, :name, :topic, :priority, :properties, :local_data, 'open', "
    ":created_at)"
)
END_EXTERNAL_TASK = Statement(
    "UPDATE external_task SET state = :state, ended_at = :now, ended_by = :actor, worker_id = NULL, "
    "lock_expires_at = NULL WHERE id = :id AND state = 'open'"
)
DELETE_SUBSCRIPTIONS = Statement("DELETE FROM message_subscription WHERE case_id = :case_id")
INSERT_SUBSCRIPTION = Statement(
    "INSERT INTO message_subscription (case_id, message_name, element_id) "
    "VALUES (:case_id, :message_name, :element_id)"
)
DELETE_SIGNAL_SUBSCRIPTIONS = Statement("DELETE FROM signal_subscription WHERE case_id = :case_id")
INSERT_SIGNAL_SUBSCRIPTION = Statement(
    "INSERT INTO signal_subscription (case_id, signal_name, element_id) "
    "VALUES (:case_id, :signal_name, :element_id)"
)
# A signal a case threw, for the other cases and the signal start events (engine.signals), and which of
# them a pending signal reached (a second delivery of the same one is a unique violation).
INSERT_PENDING_SIGNAL = Statement(
    "INSERT INTO pending_signal (id, name, variables, variable_types, source_case_id, element_id, actor, "
    "created_at, attempts) VALUES (:id, :name, :variables, :variable_types, :source_case_id, :element_id, "
    ":actor, :created_at, 0)"
)
INSERT_SIGNAL_DELIVERY = Statement(
    "INSERT INTO signal_delivery (pending_signal_id, target, outcome, case_id, at, error) "
    "VALUES (:pending_signal_id, :target, :outcome, :case_id, :at, :error)"
)
INSERT_OUTBOX = Statement(
    "INSERT INTO outbox (dedupe_key, kind, case_id, payload, status, attempts, next_attempt_at, created_at) "
    "VALUES (:dedupe_key, :kind, :case_id, :payload, :status, :attempts, :next_attempt_at, :created_at)"
)


# --- rows → objects -------------------------------------------------------------------------------------
@dataclass
class CaseRow:
    """A case's row as a case run holds it: plain data, never attached to an ORM session (the run writes
    the row itself, with its version check)."""

    id: str
    definition_id: str
    process_key: str
    business_key: str | None
    status: str
    version: int
    state: bytes
    state_format: str
    data: dict[str, Any]
    next_timer_at: datetime | None
    started_by: str
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    audit_seq: int
    audit_hash: str


def case_from_row(io: RowIO, row: tuple) -> CaseRow:
    """A CaseRow from the columns of ``_CASE_COLUMNS`` (same order as the dataclass fields)."""
    case = CaseRow(*row)
    case.state = bytes(case.state)
    case.data = io.read_json(case.data)
    case.next_timer_at = io.read_when(case.next_timer_at)
    case.started_at = io.read_when(case.started_at)
    case.ended_at = io.read_when(case.ended_at)
    return case


@dataclass
class OpenTask:
    """The user_task columns a completion needs, read with its case in one query."""

    id: str
    case_id: str
    element_id: str
    name: str | None
    state: str
    assignee: str | None
    candidate_groups: list[str]
    candidate_users: list[str]
    form: dict[str, Any]
    delegation_state: str | None = None  # PENDING: delegated, to be resolved (not completed)


def load_definition_roles(
    io: RowIO, actor: str, key: str | None, version: int | None, definition_id: str | None
) -> tuple[ProcessDefinition, set[str]] | None:
    """The definition to start a case of, as a transient object, and the actor's roles (one query)."""
    if definition_id:
        row = io.fetch_one(LOAD_DEFINITION_ROLES_BY_ID, {"definition_id": definition_id, "actor": actor})
    else:
        row = io.fetch_one(LOAD_DEFINITION_ROLES_BY_KEY, {"key": key, "version": version, "actor": actor})
    if row is None:
        return None
    id_, key_, version_, name, meta, roles = row
    definition = ProcessDefinition(
        id=id_, key=key_, version=version_, name=name, meta=io.read_json(meta) or {}
    )
    return definition, set(io.read_json(roles) or [])


def load_due_case(io: RowIO, case_id: str, now: datetime) -> CaseRow | None:
    row = io.fetch_one(LOAD_DUE_CASE, {"case_id": case_id, "now": io.when(now)})
    return None if row is None else case_from_row(io, row)


def load_case(io: RowIO, case_id: str) -> CaseRow | None:
    row = io.fetch_one(LOAD_CASE, {"case_id": case_id})
    return None if row is None else case_from_row(io, row)


def load_task_case_roles(
    io: RowIO, task_id: str, actor: str, with_roles: bool = True
) -> tuple[OpenTask, CaseRow, set[str]] | None:
    """The task, its case and (``with_roles``) the actor's roles; the roles are empty otherwise."""
    # Guarded: completing re-checks the case's version and the task's state when it writes.
    if with_roles:
        row = io.fetch_one(LOAD_TASK_CASE_ROLES, {"task_id": task_id, "actor": actor}, guarded=True)
    else:
        row = io.fetch_one(LOAD_TASK_CASE, {"task_id": task_id}, guarded=True)
    if row is None:
        return None
    t, c, roles = row[:10], row[10:-1], row[-1]
    task = OpenTask(
        t[0],
        t[1],
        t[2],
        t[3],
        t[4],
        t[5],
        io.read_json(t[6]) or [],
        io.read_json(t[7]) or [],
        io.read_json(t[8]) or {},
        t[9],
    )
    return task, case_from_row(io, c), set(io.read_json(roles) or [])
