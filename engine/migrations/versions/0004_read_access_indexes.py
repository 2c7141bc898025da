"""Indexes for "which cases may this user read" over many cases (``engine.inbox.readable_cases``).

The REST API's lists (process instances, history) show a user without a case-reader role only the cases
they may read: started them, have or had a task in them (assignee, completed it, candidate user or
group), or acted on them. Without these indexes each such list scanned the whole ``case``, ``user_task``
and ``audit_event`` tables once: at 100 000 cases and 1 000 000 audit rows a page of 25 took 140–230 ms
and a count 0.6–1.1 s. With them each branch is an index (or bitmap) scan of the user's own rows.
``ix_audit_event_actor`` also serves the user-operation log by user (``/history/user-operation?userId=``).

On PostgreSQL the candidate lists (JSON arrays) get GIN indexes for ``?|``; SQLite has no index for
``json_each`` and keeps scanning ``user_task`` for that branch (its deployments are the small ones).
The GIN and partial indexes are not declared in ``engine.models`` (nothing creates tables from the
models; see migration ``web_0002``).

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REASSIGNED = "kind = 'task_reassigned'"
BTREE = (
    ("ix_audit_event_actor", "audit_event", ["actor"]),
    ("ix_case_started_by", "case", ["started_by"]),
    ("ix_user_task_completed_by", "user_task", ["completed_by"]),
)
GIN = (
    ("ix_user_task_candidate_groups", "candidate_groups"),
    ("ix_user_task_candidate_users", "candidate_users"),
)


def upgrade() -> None:
    for name, table, columns in BTREE:
        op.create_index(name, table, columns)
    op.create_index(
        "ix_audit_event_reassigned",
        "audit_event",
        ["chain"],
        postgresql_where=sa.text(REASSIGNED),
        sqlite_where=sa.text(REASSIGNED),
    )
    if op.get_bind().dialect.name == "postgresql":
        for name, column in GIN:
            op.create_index(name, "user_task", [column], postgresql_using="gin")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, _column in GIN:
            op.drop_index(name, table_name="user_task")
    op.drop_index("ix_audit_event_reassigned", table_name="audit_event")
    for name, table, _columns in BTREE:
        op.drop_index(name, table_name=table)
