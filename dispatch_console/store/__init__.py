"""The event store: SQLAlchemy 2 Core over SQLite (default) or PostgreSQL. No Qt."""

from dispatch_console.store.store import (
    PG_CONNECT_ARGS,
    AppendResult,
    IncidentSummary,
    RawDraft,
    Store,
    StoreError,
    StoreUnreachable,
    collector_paused,
    error_line,
    unreachable,
)

__all__ = [
    "PG_CONNECT_ARGS",
    "AppendResult",
    "IncidentSummary",
    "RawDraft",
    "Store",
    "StoreError",
    "StoreUnreachable",
    "collector_paused",
    "error_line",
    "unreachable",
]
