"""delaktig_expect_rows(): a write that must hit one row is checked by PostgreSQL itself

engine.rowio sends a case's writes and the COMMIT in one pipeline; a version check that missed must
then abort the transaction in the database, before the COMMIT, rather than be noticed in Python after it.
SQLite needs nothing: there the row count is checked between statements.

Also: the case blob is compressed with lz4 rather than pglz where the server supports it (PostgreSQL 14+
built with lz4, as Debian's is) — every task completion rewrites it, and lz4 costs less CPU per write.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE OR REPLACE FUNCTION delaktig_expect_rows(affected bigint, expected bigint, message text)
        RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
            IF affected <> expected THEN
                -- serialization_failure: the caller lost a race and may retry with fresh data.
                RAISE EXCEPTION USING ERRCODE = '40001', MESSAGE = message;
            END IF;
        END
        $$
        """
    )
    op.execute(
        """
        DO $$
        BEGIN
            ALTER TABLE "case" ALTER COLUMN state SET COMPRESSION lz4;
        EXCEPTION WHEN feature_not_supported OR syntax_error OR invalid_parameter_value THEN
            NULL;  -- older server or built without lz4: keep the default compression
        END
        $$
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS delaktig_expect_rows(bigint, bigint, text)")
