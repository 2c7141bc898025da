"""Open tasks by due date: a partial index instead of one led by ``state``.

``ix_user_task_open_due`` was ``(state, due_at)``. Every task ever completed stayed in it, and an index
led by ``state`` tempted PostgreSQL's planner into answering "open tasks of this case" or "this open
task" by walking all open entries (and the dead ones completed tasks leave until vacuum) instead of the
case or primary key index: 0.7 ms for ``GET /task?processInstanceId=…`` at 170 open tasks, growing with
the inbox. The partial index holds open tasks only, so a completion adds no entry to it, and it is only
chosen where its order is wanted (reminders: open tasks by due date). Queries write ``state = 'open'``
inline (``engine.models.OPEN``) so that SQLite's planner can prove the predicate too.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "state = 'open'"


def upgrade() -> None:
    op.drop_index("ix_user_task_open_due", table_name="user_task")
    op.create_index(
        "ix_user_task_open_due",
        "user_task",
        ["due_at"],
        postgresql_where=sa.text(OPEN),
        sqlite_where=sa.text(OPEN),
    )


def downgrade() -> None:
    op.drop_index("ix_user_task_open_due", table_name="user_task")
    op.create_index("ix_user_task_open_due", "user_task", ["state", "due_at"])
