"""A session generation per user (branch "web"): "Logga ut" raises it, and a session cookie signed with an
older one is refused, so a copy of the cookie stops working when its user signs out.

Revision ID: web_0004
Revises: web_0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "web_0004"
down_revision: str | Sequence[str] | None = "web_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE on both databases (SQLite adds and drops a column in place since 3.35): a batch copy
# of app_user would drop the table its roles refer to.


def upgrade() -> None:
    op.add_column(
        "app_user", sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    op.drop_column("app_user", "session_generation")
