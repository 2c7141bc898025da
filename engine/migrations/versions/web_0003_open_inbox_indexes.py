"""The inbox indexes hold open tasks only (branch "web").

``web_0001`` made them ``(state, assignee, due_at | created_at, id)``: led by ``state``, they kept every
completed task forever, every completion added entries to both, and PostgreSQL's planner took them for
lookups of one task or one case's tasks (see migration 0003), walking all open entries. As partial
indexes ``WHERE state = 'open'`` they serve the same inbox lists in the same order — ``engine.inbox``
writes ``state = 'open'`` inline, so both databases' planners can prove the predicate — and are smaller
and cheaper to keep. ``state`` stays as their last column only so that SQLite, which does not drop a
condition its partial index implies, can still answer the lists from the index alone (covering).

Revision ID: web_0003
Revises: web_0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0003"
down_revision: str | Sequence[str] | None = "web_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "state = 'open'"
INDEXES = (
    ("ix_user_task_inbox_due", "due_at"),
    ("ix_user_task_inbox_created", "created_at"),
)


def upgrade() -> None:
    for name, order in INDEXES:
        op.drop_index(name, table_name="user_task")
        op.create_index(
            name,
            "user_task",
            ["assignee", order, "id", "state"],
            postgresql_where=sa.text(OPEN),
            sqlite_where=sa.text(OPEN),
        )


def downgrade() -> None:
    for name, order in INDEXES:
        op.drop_index(name, table_name="user_task")
        op.create_index(name, "user_task", ["state", "assignee", order, "id"])
