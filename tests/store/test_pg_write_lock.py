"""PostgreSQL's write transaction begins with its lock in one message: a lock it could not get
(a lock timeout, a cancelled wait) is the store being unreachable, as any other statement's,
so a gateway journals what it was writing instead of answering 500."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from dispatch_console.store import Store, unreachable
from dispatch_console.store.store import _PG_APPEND_LOCK


@pytest.mark.postgres
def test_a_lock_timeout_while_another_writer_holds_the_lock_is_unreachable(
    postgres: object,
) -> None:
    url = postgres.new()  # type: ignore[attr-defined]
    Store(url).close()
    name = make_url(url).database
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"ALTER DATABASE \"{name}\" SET lock_timeout = '300ms'"))
    admin.dispose()
    parts = make_url(url)
    holder = psycopg.connect(
        host=parts.host, port=parts.port, user=parts.username, dbname=parts.database
    )
    try:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_APPEND_LOCK,))  # held: in a tx
        with Store(url, migrate=False) as store:
            with pytest.raises(OperationalError) as caught, store.writing():
                pytest.fail("the write lock was granted while another writer held it")
            assert unreachable(caught.value)
            assert "lock" in str(caught.value.orig).lower()
        holder.rollback()  # the other writer is done: the next write goes through
        with Store(url, migrate=False) as store, store.writing() as tx:
            assert tx.seq_at_start() == 0
    finally:
        holder.close()
