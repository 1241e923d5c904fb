"""Agency response rules: the roster's training date and LEOSA qualification, and the rule
sets agencies load (every version kept; the newest per agency is in force). The responder web
page's one-time enrolment links (a hash of each token).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("roster") as batch:
        batch.add_column(sa.Column("training_date", sa.String(10), nullable=True))
        batch.add_column(
            sa.Column("leosa_qualified", sa.Boolean, nullable=False, server_default=sa.false())
        )
    op.create_table(
        "agency_rules",
        sa.Column("agency_key", sa.String(100), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("agency", sa.String(100), nullable=False),
        sa.Column("rules_json", sa.Text, nullable=False),
        sa.Column("source_text", sa.Text, nullable=False),
        sa.Column("loaded_at_us", sa.BigInteger, nullable=False),
    )

    op.create_table(
        "device_invites",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("device_id", sa.String(100), nullable=False),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
        sa.Column("expires_at_us", sa.BigInteger, nullable=False),
        sa.Column("used_at_us", sa.BigInteger, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("device_invites")
    op.drop_table("agency_rules")
    with op.batch_alter_table("roster") as batch:
        batch.drop_column("leosa_qualified")
        batch.drop_column("training_date")
