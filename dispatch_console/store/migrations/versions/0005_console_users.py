"""Console users: who works at a console, and in which role. The incident service refuses an
incident event by a console user who is not registered here, or whose role only watches
(observer, trainer): roles are enforced where the events are written, not only in the UI.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_users",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("updated_at_us", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("console_users")
