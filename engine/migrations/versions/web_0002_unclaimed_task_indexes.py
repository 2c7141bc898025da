"""Partial indexes for "min grupps uppgifter" (branch "web").

The group list and its capped counts read the open, unclaimed tasks and check each against
``task_candidate``. With only ``web_0001``, PostgreSQL at 100 000 open cases counted them by walking the
whole ``user_task`` primary key (or a sequential scan for the overdue count), fetching every row from
the heap to test ``state`` and ``assignee``; completed tasks, which pile up over the years, would be in
that walk too. These two indexes hold open, unclaimed tasks only:

- ``(due_at, id)``: the group list in due order is an index-only walk that stops after one page;
- ``(id, due_at)``: the capped group counts become an index-only merge join with ``task_candidate``'s
  primary key (both in task id order), the overdue count filtering on ``due_at`` inside the index.

Partial indexes are created the same way on SQLite (3.8+) and PostgreSQL; the queries in ``engine.inbox``
write ``state = 'open'`` inline so that the planner can prove the index predicate. SQLite's planner, with
its simpler statistics, keeps reading the ``web_0001`` covering indexes for these queries (measured in
``bench/inbox.py``); on SQLite the two indexes only cost their upkeep, which is small: they hold open,
unclaimed tasks only.

Like web_0001's indexes, these are not declared in ``engine.models`` (nothing creates tables from the
models); ``alembic revision --autogenerate`` would offer to drop all four until they are.

Revision ID: web_0002
Revises: web_0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0002"
down_revision: str | Sequence[str] | None = "web_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNCLAIMED = "state = 'open' AND assignee IS NULL"


def upgrade() -> None:
    for name, columns in (
        ("ix_user_task_unclaimed_due", ["due_at", "id"]),
        ("ix_user_task_unclaimed_id", ["id", "due_at"]),
    ):
        op.create_index(
            name,
            "user_task",
            columns,
            postgresql_where=sa.text(UNCLAIMED),
            sqlite_where=sa.text(UNCLAIMED),
        )


def downgrade() -> None:
    op.drop_index("ix_user_task_unclaimed_id", table_name="user_task")
    op.drop_index("ix_user_task_unclaimed_due", table_name="user_task")
