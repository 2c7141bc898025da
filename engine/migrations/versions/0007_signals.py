"""BPMN signals between cases: what each case waits for, the signal start events of each definition, and
the outbox of thrown signals with their deliveries (``engine.signal_models``, ``engine.signals``).

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "signal_subscription",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("signal_name", sa.String(length=200), nullable=False),
        sa.Column("element_id", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"], name=op.f("fk_signal_subscription_case_id_case")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signal_subscription")),
    )
    op.create_index(op.f("ix_signal_subscription_case_id"), "signal_subscription", ["case_id"], unique=False)
    op.create_index(
        op.f("ix_signal_subscription_signal_name"), "signal_subscription", ["signal_name"], unique=False
    )
    op.create_table(
        "signal_start",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("definition_id", sa.String(length=200), nullable=False),
        sa.Column("signal_name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["definition_id"],
            ["process_definition.id"],
            name=op.f("fk_signal_start_definition_id_process_definition"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signal_start")),
    )
    op.create_index(op.f("ix_signal_start_definition_id"), "signal_start", ["definition_id"], unique=False)
    op.create_index(op.f("ix_signal_start_signal_name"), "signal_start", ["signal_name"], unique=False)
    op.create_table(
        "pending_signal",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("variables", JSON, nullable=False),
        sa.Column("variable_types", JSON, nullable=False),
        sa.Column("source_case_id", sa.String(length=36), nullable=True),
        sa.Column("element_id", sa.String(length=200), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_signal")),
    )
    op.create_index("ix_pending_signal_created", "pending_signal", ["created_at", "id"], unique=False)
    op.create_table(
        "signal_delivery",
        sa.Column("pending_signal_id", sa.String(length=36), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("pending_signal_id", "target", name=op.f("pk_signal_delivery")),
    )


def downgrade() -> None:
    op.drop_table("signal_delivery")
    op.drop_index("ix_pending_signal_created", table_name="pending_signal")
    op.drop_table("pending_signal")
    op.drop_index(op.f("ix_signal_start_signal_name"), table_name="signal_start")
    op.drop_index(op.f("ix_signal_start_definition_id"), table_name="signal_start")
    op.drop_table("signal_start")
    op.drop_index(op.f("ix_signal_subscription_signal_name"), table_name="signal_subscription")
    op.drop_index(op.f("ix_signal_subscription_case_id"), table_name="signal_subscription")
    op.drop_table("signal_subscription")
