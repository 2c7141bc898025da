"""External-initiative intake: initiatives, contact data kept apart, diary counters, webhook channels,
idempotency keys (branch "intake").

Revision ID: intake_0001
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "intake_0001"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = ("intake",)
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "initiative",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("diarienummer", sa.String(60), nullable=False),
        sa.Column("series", sa.String(20), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("area", sa.String(120), nullable=True),
        sa.Column("topic", sa.String(120), nullable=True),
        sa.Column("description", sa.String(300), nullable=False),
        sa.Column("channel", sa.String(60), nullable=False),
        sa.Column("external_id", sa.String(200), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("next_step", sa.Text(), nullable=True),
        sa.Column("status_token_hash", sa.String(64), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expected_decision_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("internal_note", sa.Text(), nullable=True),
        sa.Column("process_key", sa.String(150), nullable=True),
        sa.Column("case_id", sa.String(36), nullable=True),
        sa.Column("routing", JSON, nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("contact_purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_initiative")),
        sa.UniqueConstraint("diarienummer", name=op.f("uq_initiative_diarienummer")),
        sa.UniqueConstraint("status_token_hash", name=op.f("uq_initiative_status_token_hash")),
        sa.UniqueConstraint("series", "year", "seq", name="uq_initiative_series_year_seq"),
    )
    with op.batch_alter_table("initiative") as batch:
        batch.create_index(batch.f("ix_initiative_kind"), ["kind"])
        batch.create_index(batch.f("ix_initiative_status"), ["status"])
        batch.create_index(batch.f("ix_initiative_deadline_at"), ["deadline_at"])
        batch.create_index(batch.f("ix_initiative_case_id"), ["case_id"])
        batch.create_index(batch.f("ix_initiative_closed_at"), ["closed_at"])
    op.create_table(
        "initiative_contact",
        sa.Column("initiative_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("email", sa.String(300), nullable=True),
        sa.Column("status_token", sa.String(100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["initiative_id"],
            ["initiative.id"],
            name=op.f("fk_initiative_contact_initiative_id_initiative"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("initiative_id", name=op.f("pk_initiative_contact")),
    )
    op.create_table(
        "diary_counter",
        sa.Column("series", sa.String(20), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("series", "year", name=op.f("pk_diary_counter")),
    )
    op.create_table(
        "webhook_channel",
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("secret", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_webhook_channel")),
    )
    op.create_table(
        "idempotency_key",
        sa.Column("channel", sa.String(60), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel", "key", name=op.f("pk_idempotency_key")),
    )
    with op.batch_alter_table("idempotency_key") as batch:
        batch.create_index(batch.f("ix_idempotency_key_created_at"), ["created_at"])


def downgrade() -> None:
    op.drop_table("idempotency_key")
    op.drop_table("webhook_channel")
    op.drop_table("diary_counter")
    op.drop_table("initiative_contact")
    op.drop_table("initiative")
