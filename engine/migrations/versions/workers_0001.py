"""workers: reminders, mail preferences, schedule occurrences, captured mail, leases, cursors

Revision ID: workers_0001
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "workers_0001"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("workers",)
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "reminder",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dedupe_key", sa.String(length=300), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("recipient", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=300), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("detail", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("digest_key", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_reminder_dedupe_key")),
    )
    op.create_index(op.f("ix_reminder_case_id"), "reminder", ["case_id"])
    op.create_index(op.f("ix_reminder_task_id"), "reminder", ["task_id"])
    op.create_index(op.f("ix_reminder_recipient"), "reminder", ["recipient"])
    op.create_index(op.f("ix_reminder_status"), "reminder", ["status"])
    op.create_table(
        "user_preference",
        sa.Column("user_name", sa.String(length=100), nullable=False),
        sa.Column("mail_mode", sa.String(length=20), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_name", name=op.f("pk_user_preference")),
    )
    op.create_table(
        "schedule_occurrence",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("schedule_key", sa.String(length=150), nullable=False),
        sa.Column("occurrence", sa.Date(), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_occurrence")),
        sa.UniqueConstraint("schedule_key", "occurrence", name="uq_schedule_occurrence_key_date"),
    )
    op.create_table(
        "captured_mail",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("mail_to", sa.String(length=300), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(length=300), nullable=True),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_captured_mail")),
    )
    op.create_index(op.f("ix_captured_mail_outbox_id"), "captured_mail", ["outbox_id"])
    op.create_table(
        "worker_lease",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_worker_lease")),
    )
    op.create_table(
        "worker_cursor",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_worker_cursor")),
    )


def downgrade() -> None:
    for table in ("worker_cursor", "worker_lease", "captured_mail", "schedule_occurrence", "user_preference"):
        op.drop_table(table)
    op.drop_table("reminder")
