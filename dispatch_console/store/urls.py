"""Database URLs: SQLite by default (a file in the user's data directory), PostgreSQL by URL."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_path

ENV_VAR = "DISPATCH_CONSOLE_DB"


def default_url() -> str:
    """``$DISPATCH_CONSOLE_DB``, else ``sqlite:///<user data dir>/dispatch-console.sqlite3``."""
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return normalize_url(from_env)
    folder = user_data_path("dispatch-console", appauthor=False)
    return f"sqlite:///{folder / 'dispatch-console.sqlite3'}"


def normalize_url(url: str) -> str:
    """Accept a plain file path for SQLite and ``postgresql://`` for psycopg 3."""
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def redact(url: str) -> str:
    """The URL without its password, for logs and messages."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}@{host}" if user else f"{scheme}://{host}"
