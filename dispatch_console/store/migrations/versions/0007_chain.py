"""The tamper-evident log (issue 16): every event carries ``chain_hash`` (SHA-256 of the previous
event's hash and its own stored columns, see ``store/chain.py``); checkpoints signed with the
centre's Ed25519 key anchor the chain; the public keys the centre trusts (its own, and other
centres' for imported incident files) are kept in ``trusted_keys``; console accounts (Argon2id
password hashes, TOTP secrets, failed sign-ins, lock-outs) in ``accounts`` (store/accounts.py).

Events stored before this revision are chained here, in sequence order (their history is
vouched for from now on, not before). On SQLite a statement that would replace an event (``INSERT
OR REPLACE``, an upsert) is refused like an update or a delete; checkpoints and trusted keys are
append-only too.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import hashlib

import msgspec
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_encode = msgspec.json.Encoder().encode
_COLUMNS = (
    "seq, incident_id, type, occurred_at_us, received_at_us, actor_kind, actor_name, source, "
    "payload, idempotency_key"
)


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    op.add_column("events", sa.Column("chain_hash", sa.LargeBinary, nullable=True))
    op.create_table(
        "chain_checkpoints",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("chain_hash", sa.LargeBinary, nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("signed_at_us", sa.BigInteger, nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "trusted_keys",
        sa.Column("key_id", sa.String(16), primary_key=True),
        sa.Column("public_key", sa.LargeBinary, nullable=False),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("added_at_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "accounts",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("totp_secret", sa.String(64), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger, nullable=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("locked_at_us", sa.BigInteger, nullable=True),
        sa.Column("demo", sa.Boolean, nullable=False),
        sa.Column("updated_at_us", sa.BigInteger, nullable=False),
    )
    _chain_existing(bind, postgres)
    if postgres:
        for table in ("chain_checkpoints", "trusted_keys"):
            op.execute(
                f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION events_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()"
            )
        return
    # SQLite: REPLACE deletes the old row without firing delete triggers (unless the
    # connection turned recursive_triggers on): refuse any insert that meets a stored event.
    op.execute(
        "CREATE TRIGGER events_no_replace BEFORE INSERT ON events WHEN EXISTS "
        "(SELECT 1 FROM events WHERE seq = NEW.seq) OR (NEW.idempotency_key IS NOT NULL AND "
        "EXISTS (SELECT 1 FROM events WHERE idempotency_key = NEW.idempotency_key)) "
        "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END"
    )
    for table, key in (("chain_checkpoints", "seq"), ("trusted_keys", "key_id")):
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                "BEGIN SELECT RAISE(ABORT, 'append-only'); END"
            )
        op.execute(
            f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} WHEN EXISTS "
            f"(SELECT 1 FROM {table} WHERE {key} = NEW.{key}) "
            "BEGIN SELECT RAISE(ABORT, 'append-only'); END"
        )


def _chain_existing(bind: sa.Connection, postgres: bool) -> None:
    """Chain the events stored before this revision (the append-only triggers are set aside
    for this one update, in this transaction)."""
    count = bind.execute(sa.text("SELECT count(*) FROM events")).scalar()
    if not count:
        return
    if postgres:
        op.execute("ALTER TABLE events DISABLE TRIGGER events_no_change")
    else:
        op.execute("DROP TRIGGER events_no_update")
    previous = bytes(32)
    updates: list[dict[str, object]] = []
    for row in bind.execute(sa.text(f"SELECT {_COLUMNS} FROM events ORDER BY seq")):
        previous = hashlib.sha256(previous + _encode(tuple(row))).digest()
        updates.append({"s": row[0], "h": previous})
        if len(updates) >= 5000:
            bind.execute(sa.text("UPDATE events SET chain_hash = :h WHERE seq = :s"), updates)
            updates = []
    if updates:
        bind.execute(sa.text("UPDATE events SET chain_hash = :h WHERE seq = :s"), updates)
    if postgres:
        op.execute("ALTER TABLE events ENABLE TRIGGER events_no_change")
    else:
        op.execute(
            "CREATE TRIGGER events_no_update BEFORE UPDATE ON events "
            "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END"
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table in ("chain_checkpoints", "trusted_keys"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}")
    else:
        op.execute("DROP TRIGGER IF EXISTS events_no_replace")
    op.drop_table("accounts")
    op.drop_table("trusted_keys")
    op.drop_table("chain_checkpoints")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("chain_hash")
