"""External tasks: the waiting ``camunda:type="external"`` tasks of cases, and workers' locks on them.

Camunda 7's external-task pattern (``/engine-rest/external-task/fetchAndLock``): a worker fetches the
open tasks of its topics, locks them for a while, and completes or fails them. The lock, retries and
last error are rows here, not case state (``engine.external_tasks``); the open ones are found by topic
through a partial index.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "state = 'open'"


def upgrade() -> None:
    op.create_table(
        "external_task",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("definition_id", sa.String(length=200), nullable=False),
        sa.Column("process_key", sa.String(length=150), nullable=False),
        sa.Column("business_key", sa.String(length=200), nullable=True),
        sa.Column("element_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=True),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("priority", sa.BigInteger(), nullable=False),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "local_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("worker_id", sa.String(length=255), nullable=True),
        sa.Column("lock_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retries", sa.Integer(), nullable=True),
        sa.Column("error_message", sa.String(length=666), nullable=True),
        sa.Column("error_details", sa.Text(), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"], name=op.f("fk_external_task_case_id_case")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_external_task")),
    )
    op.create_index(op.f("ix_external_task_case_id"), "external_task", ["case_id"], unique=False)
    op.create_index(
        "ix_external_task_open_topic",
        "external_task",
        ["topic", "priority"],
        unique=False,
        postgresql_where=sa.text(OPEN),
        sqlite_where=sa.text(OPEN),
    )


def downgrade() -> None:
    op.drop_index("ix_external_task_open_topic", table_name="external_task")
    op.drop_index(op.f("ix_external_task_case_id"), table_name="external_task")
    op.drop_table("external_task")
