"""Tables (SQLAlchemy Core). Alembic migrations in ``migrations/`` create them; this module is
what the code reads and writes through, and a test checks the two agree."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# SQLite makes an INTEGER PRIMARY KEY the rowid (no second index); PostgreSQL wants BIGINT.
SeqType = BigInteger().with_variant(Integer(), "sqlite")

events = Table(
    "events",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=False),
    Column("incident_id", String(64), nullable=True),
    Column("type", String(64), nullable=False),
    Column("occurred_at_us", BigInteger, nullable=False),
    Column("received_at_us", BigInteger, nullable=False),
    Column("actor_kind", String(16), nullable=False),
    Column("actor_name", String(200), nullable=False),
    Column("source", String(16), nullable=False),
    Column("payload", Text, nullable=False),
    Column("idempotency_key", String(300), nullable=True, unique=True),
    # revision 0007: SHA-256 of the previous event's chain_hash and this row (store/chain.py)
    Column("chain_hash", LargeBinary, nullable=True),
)
Index("ix_events_incident_seq", events.c.incident_id, events.c.seq)
Index("ix_events_type", events.c.type)

snapshots = Table(
    "snapshots",
    metadata,
    Column("incident_id", String(64), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("received_at_us", BigInteger, nullable=False),
    Column("event_count", BigInteger, nullable=False),
    Column("format", Integer, nullable=False),
    Column("state", LargeBinary, nullable=False),
)
Index("ix_snapshots_incident_received", snapshots.c.incident_id, snapshots.c.received_at_us)

schools = Table(
    "schools",
    metadata,
    Column("school_id", String(100), primary_key=True),
    Column("name", String(300), nullable=False),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("address", String(300), nullable=True),
    Column("phone", String(64), nullable=True),
    Column("classification", String(100), nullable=True),
    Column("campus", Text, nullable=True),
    Column("pre_plan", Text, nullable=False),
    Column("notification_radius_m", Float, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
)

roster = Table(
    "roster",
    metadata,
    Column("agency", String(100), primary_key=True),
    Column("badge", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("device_ids", Text, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
)

# --- gateway (revision 0002) -----------------------------------------------------------------

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # "school" or "device"
    Column("scope", String(100), nullable=False),  # the school id or the device id
    Column("label", String(200), nullable=True),
    Column("secret_sealed", LargeBinary, nullable=False),  # encrypted, never the secret itself
    Column("created_at_us", BigInteger, nullable=False),
    Column("revoked_at_us", BigInteger, nullable=True),
)

devices = Table(
    "devices",
    metadata,
    Column("device_id", String(100), primary_key=True),
    Column("tak_uid", String(200), nullable=True, unique=True),
    Column("label", String(200), nullable=True),
    Column("home_lon", Float, nullable=True),
    Column("home_lat", Float, nullable=True),
    Column("last_lon", Float, nullable=True),
    Column("last_lat", Float, nullable=True),
    Column("last_at_us", BigInteger, nullable=True),
    Column("profile", Text, nullable=True),
    Column("registered_at_us", BigInteger, nullable=False),
    Column("removed_at_us", BigInteger, nullable=True),
    Column("profile_at_us", BigInteger, nullable=True),
)

rejections = Table(
    "rejections",
    metadata,
    Column("rejection_id", SeqType, primary_key=True, autoincrement=True),
    Column("at_us", BigInteger, nullable=False),
    Column("transport", String(16), nullable=False),
    Column("sender", String(200), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("excerpt", Text, nullable=False),
)
Index("ix_rejections_at", rejections.c.at_us)

# --- console users (revision 0005) -----------------------------------------------------------

console_users = Table(
    "console_users",
    metadata,
    Column("name", String(200), primary_key=True),  # the actor name of their events
    Column("role", String(32), nullable=False),  # one of domain.events.ROLES
    Column("updated_at_us", BigInteger, nullable=False),
)

# --- roads (revision 0006) -------------------------------------------------------------------

roads = Table(
    "roads",
    metadata,
    Column("road_id", String(200), primary_key=True),
    Column("name", String(300), nullable=True),
    Column("road_class", String(16), nullable=False),  # arterial, collector or local
    Column("speed_mps", Float, nullable=False),
    Column("coordinates", Text, nullable=False),  # JSON [[lon, lat], ...], WGS84
    Column("updated_at_us", BigInteger, nullable=False),
)
"""The county's road centrelines (``import-roads``): every console, replay and report of this
store draws them; a ``--roads`` file overrides them for that one run."""

vendor_schools = Table(
    "vendor_schools",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("school_id", String(100), primary_key=True),  # "*": every school
)
"""The schools a vendor key (a school-alert vendor's CAP feed) may send alerts for."""

# --- the tamper-evident log (revision 0007) ---------------------------------------------------

chain_checkpoints = Table(
    "chain_checkpoints",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("chain_hash", LargeBinary, nullable=False),
    Column("key_id", String(16), nullable=False),
    Column("signed_at_us", BigInteger, nullable=False),
    Column("signature", LargeBinary, nullable=False),
)

trusted_keys = Table(
    "trusted_keys",
    metadata,
    Column("key_id", String(16), primary_key=True),
    Column("public_key", LargeBinary, nullable=False),
    Column("label", String(200), nullable=True),
    Column("added_at_us", BigInteger, nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("name", String(200), primary_key=True),  # the console user's actor name
    Column("role", String(32), nullable=False),
    Column("password_hash", String(200), nullable=False),  # Argon2id, never the password
    Column("totp_secret", String(64), nullable=True),  # None only for the demo account
    Column("totp_last_step", BigInteger, nullable=True),  # a code is accepted once
    Column("failures", Integer, nullable=False),
    Column("locked_at_us", BigInteger, nullable=True),
    Column("demo", Boolean, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
)
