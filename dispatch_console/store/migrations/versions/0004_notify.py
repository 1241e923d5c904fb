"""On PostgreSQL, every statement that appends events notifies the channel ``dispatch_events``
(once per statement, not per row: a flood of positions costs one notification per batch), so
consoles on other machines learn of new events at once instead of polling. SQLite has no
notifications: its readers poll.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

CHANNEL = "dispatch_events"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE FUNCTION events_notify() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN PERFORM pg_notify('{CHANNEL}', ''); RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER events_appended AFTER INSERT ON events "
        "FOR EACH STATEMENT EXECUTE FUNCTION events_notify()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS events_appended ON events")
    op.execute("DROP FUNCTION IF EXISTS events_notify()")
