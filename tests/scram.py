"""A private PostgreSQL cluster whose ``pg_hba.conf`` requires ``scram-sha-256`` for every TCP
connection, with an owner role ``dc_owner`` and a database ``dispatch`` (issue 16's proofs)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.pgcluster import PrivateCluster

OWNER_PASSWORD = secrets.token_urlsafe(16)


def url_as(cluster: PrivateCluster, user: str, password: str | None, database: str) -> str:
    base = make_url(cluster.url).set(database=database, username=user, password=password)
    return base.render_as_string(hide_password=False)


@contextmanager
def scram_cluster() -> Iterator[tuple[PrivateCluster, str]]:
    """The running cluster and the owner's URL; removed on exit."""
    cluster = PrivateCluster()
    try:
        cluster.start()
        admin = create_engine(cluster.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("SET password_encryption = 'scram-sha-256'"))
            conn.exec_driver_sql(f"ALTER ROLE postgres PASSWORD '{OWNER_PASSWORD}'")
            conn.exec_driver_sql(
                f"CREATE ROLE dc_owner LOGIN CREATEROLE PASSWORD '{OWNER_PASSWORD}'"
            )
            conn.execute(text("CREATE DATABASE dispatch OWNER dc_owner"))
        # Every TCP connection must prove its password with SCRAM: no trust, no md5.
        (cluster.data / "pg_hba.conf").write_text(
            "local all postgres peer\nhost all all 127.0.0.1/32 scram-sha-256\n"
        )
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_reload_conf()"))
        admin.dispose()
        yield cluster, url_as(cluster, "dc_owner", OWNER_PASSWORD, "dispatch")
    finally:
        cluster.remove()


def ticket_times(owner_url: str, name: str) -> list[tuple[float, float]]:
    """Each live session ticket of login role ``name`` (read as the owner): seconds until it
    expires (its lease), and until its shift ends."""
    engine = create_engine(owner_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT extract(epoch FROM expires_at - clock_timestamp()), "
                    "extract(epoch FROM renewable_until - clock_timestamp()) "
                    "FROM dc_private.session_tickets WHERE role_name = :n"
                ),
                {"n": name},
            ).all()
    finally:
        engine.dispose()
    return [(float(a), float(b)) for a, b in rows]


def as_owner(owner_url: str, statement: str, **params: object) -> None:
    """Run ``statement`` as the owner, in a transaction of its own (what the private schema's
    tables allow nobody else)."""
    engine = create_engine(owner_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement), params)
    finally:
        engine.dispose()
