"""Gateway: API keys (sealed secrets), registered devices, rejected messages.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SeqType = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(100), nullable=False),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("secret_sealed", sa.LargeBinary, nullable=False),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
        sa.Column("revoked_at_us", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "devices",
        sa.Column("device_id", sa.String(100), primary_key=True),
        sa.Column("tak_uid", sa.String(200), nullable=True, unique=True),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("home_lon", sa.Float, nullable=True),
        sa.Column("home_lat", sa.Float, nullable=True),
        sa.Column("last_lon", sa.Float, nullable=True),
        sa.Column("last_lat", sa.Float, nullable=True),
        sa.Column("last_at_us", sa.BigInteger, nullable=True),
        sa.Column("profile", sa.Text, nullable=True),
        sa.Column("registered_at_us", sa.BigInteger, nullable=False),
        sa.Column("removed_at_us", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "rejections",
        sa.Column("rejection_id", SeqType, primary_key=True, autoincrement=True),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.Column("transport", sa.String(16), nullable=False),
        sa.Column("sender", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("excerpt", sa.Text, nullable=False),
    )
    op.create_index("ix_rejections_at", "rejections", ["at_us"])


def downgrade() -> None:
    op.drop_table("rejections")
    op.drop_table("devices")
    op.drop_table("api_keys")
