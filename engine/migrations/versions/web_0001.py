"""Indexes for the staff inbox (branch "web").

The inbox lists open tasks of one assignee (or unassigned ones) in due-date order, one page at a time.
``(state, assignee, due_at, id)`` lets both lists be read in index order (id breaks ties) and stop after
a page, so the cost does not grow with the number of open cases; the id makes the index covering, so
the capped counts never touch the table. ``(state, assignee, created_at, id)`` does the same for the
"newest first" order.

Revision ID: web_0001
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "web_0001"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("web",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_user_task_inbox_due", "user_task", ["state", "assignee", "due_at", "id"])
    op.create_index("ix_user_task_inbox_created", "user_task", ["state", "assignee", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_user_task_inbox_created", table_name="user_task")
    op.drop_index("ix_user_task_inbox_due", table_name="user_task")
