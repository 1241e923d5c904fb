"""Alembic environment: runs on the connection the store hands over (``Store.migrate``), or,
from the ``alembic`` command line, on ``sqlalchemy.url`` / ``DISPATCH_CONSOLE_DB``."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from dispatch_console.store.schema import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = os.environ.get("DISPATCH_CONSOLE_DB") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set DISPATCH_CONSOLE_DB or sqlalchemy.url")
    engine = create_engine(url)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()
