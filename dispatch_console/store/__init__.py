"""The event store: SQLAlchemy 2 Core over SQLite (default) or PostgreSQL. No Qt."""

from dispatch_console.store.store import AppendResult, IncidentSummary, Store, StoreError

__all__ = ["AppendResult", "IncidentSummary", "Store", "StoreError"]
