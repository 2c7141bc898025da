"""Task delegation (branch "task"): a user task's ``owner`` and ``delegation_state`` (Camunda 7's
``POST /task/{id}/delegate`` and ``…/resolve``). The owner is who delegated the task and gets it back
when the delegate resolves it; ``delegation_state`` is PENDING while the delegate has it, RESOLVED once
given back, NULL for a task never delegated. Both nullable: every task so far was never delegated.

Revision ID: task_0001
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "task_0001"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = ("task",)
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE on both databases (SQLite adds and drops a column in place since 3.35): a batch copy
# of user_task would drop the table its candidates (task_candidate) refer to.


def upgrade() -> None:
    op.add_column("user_task", sa.Column("owner", sa.String(length=100), nullable=True))
    op.add_column("user_task", sa.Column("delegation_state", sa.String(length=10), nullable=True))


def downgrade() -> None:
    op.drop_column("user_task", "delegation_state")
    op.drop_column("user_task", "owner")
