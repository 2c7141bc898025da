"""Heads for the audit chains that are not a case's (the deploy log, each initiative's chain), and on
PostgreSQL a guard against TRUNCATE of the audit log.

A case's chain ends where its case row says (``case.audit_seq``/``audit_hash``), so removing its newest
rows is caught by ``audit verify``. The other chains had no such head: removing the newest deploy went
unnoticed. ``audit_head`` keeps it, written in the same transaction as the rows; existing chains get
their current newest row as head. TRUNCATE skips row triggers, so the append-only guard of migration
0001 did not stop it; a statement trigger does (SQLite has no TRUNCATE: its DELETE is refused already).

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_head",
        sa.Column("chain", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_audit_head")),
    )
    op.execute(
        "INSERT INTO audit_head (chain, seq, hash) "
        "SELECT a.chain, a.seq, a.hash FROM audit_event a "
        "WHERE a.case_id IS NULL AND a.seq = (SELECT max(b.seq) FROM audit_event b WHERE b.chain = a.chain)"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event")
    op.drop_table("audit_head")
