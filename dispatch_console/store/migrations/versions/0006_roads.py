"""Roads: the county's road centrelines, imported once (``import-roads``) and drawn by every
console, replay and report of the store. Vendor schools: the schools a school-alert vendor's
key (CAP alerts) may send for.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "roads",
        sa.Column("road_id", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(300), nullable=True),
        sa.Column("road_class", sa.String(16), nullable=False),
        sa.Column("speed_mps", sa.Float, nullable=False),
        sa.Column("coordinates", sa.Text, nullable=False),
        sa.Column("updated_at_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "vendor_schools",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("school_id", sa.String(100), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("vendor_schools")
    op.drop_table("roads")
