"""The gateway's local journal: acknowledged messages kept on this machine's disk while the
store (PostgreSQL) cannot be reached, and forwarded to it, in the order they came, when it is
back.

A message is acknowledged (2xx) only once it is durable somewhere: in the store, or, while the
store is down, here. Each entry keeps what is needed to handle the message exactly as if it had
just arrived (the signed request as received, and when it was received), so forwarding runs it
through the same checks and rules with the gateway's clock set back to that moment; the
idempotency key each message carries keeps it stored once however often it is forwarded (a
gateway killed between storing an entry and marking it forwarded forwards it again).

The journal is a SQLite file with ``synchronous=FULL``: an entry survives ``kill -9`` and a
power cut once :meth:`Journal.add` has returned. Forwarded entries are kept, with the answer the
store gave, for a week (what happened to each journaled message can be looked up), then pruned.
It is used from the gateway's writer thread only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platformdirs import user_state_path
from sqlalchemy.engine import make_url

from dispatch_console.store.urls import normalize_url, redact

log = logging.getLogger(__name__)

#: Forwarded entries older than this are deleted.
KEEP_FORWARDED_S = 7 * 24 * 3600
#: Entries kept at most while the store is unreachable (a flood must not fill the disk): past
#: this, messages are refused with 503 (not acknowledged, so their senders send them again).
MAX_PENDING = 200_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_us INTEGER NOT NULL,
    route TEXT NOT NULL,
    target TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL,
    body BLOB NOT NULL,
    peer TEXT NOT NULL,
    incident_id TEXT,
    forwarded_us INTEGER,
    status INTEGER,
    reply TEXT
);
CREATE INDEX IF NOT EXISTS journal_pending ON journal (id) WHERE forwarded_us IS NULL;
"""


def default_journal_path(store_url: str) -> Path:
    """Beside a SQLite store's file; for PostgreSQL, in this user's state folder, one journal
    per database (a gateway restarted on the same database finds what it journaled)."""
    url = make_url(normalize_url(store_url))
    if url.get_backend_name() == "sqlite":
        database = url.database
        if not database or database == ":memory:":
            return Path(":memory:")
        return Path(f"{database}.gateway-journal")
    digest = hashlib.sha256(redact(str(url)).encode()).hexdigest()[:16]
    folder = user_state_path("dispatch-console", appauthor=False)
    return folder / f"gateway-journal-{digest}.sqlite3"


_ENTRY_COLUMNS = "id, received_us, route, target, key_id, signature, body, peer, incident_id"


def _entry(r: Any) -> Entry:
    return Entry(r[1], r[2], r[3], r[4], r[5], bytes(r[6]), r[7], r[8], id=r[0])


class JournalError(Exception):
    """The journal itself cannot keep a message (disk full, file unwritable)."""


@dataclass(frozen=True)
class Entry:
    """One signed request, as received."""

    received_us: int
    #: ``activation``, ``device_messages`` or ``notified``.
    route: str
    #: The device id or incident id of the request's path ("" for an activation).
    target: str
    key_id: str
    signature: str
    body: bytes
    peer: str
    #: For an activation: the incident it was answered with (opened with that id later).
    incident_id: str | None = None
    id: int = 0


class Journal:
    """The file is made when the first message is kept (a gateway whose store never went
    away leaves none); one left by an earlier run is opened, and what it holds is forwarded."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self.pending = 0
        if str(self.path) == ":memory:" or not self.path.exists():
            return
        db = self._open()
        row = db.execute("SELECT count(*) FROM journal WHERE forwarded_us IS NULL").fetchone()
        self.pending = int(row[0])
        if self.pending:
            log.warning(
                "gateway journal %s holds %d message(s) not yet in the store: they are "
                "forwarded as soon as the store answers",
                self.path,
                self.pending,
            )

    def _open(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        try:
            if str(self.path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"cannot open the gateway journal {self.path}: {exc}") from exc
        self._db = db
        return db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def add(self, entry: Entry) -> int:
        """Keep ``entry`` durably (on disk when this returns); its journal id."""
        if self.pending >= MAX_PENDING:
            raise JournalError(f"the gateway journal holds {MAX_PENDING} messages already")
        try:
            cursor = self._open().execute(
                "INSERT INTO journal (received_us, route, target, key_id, signature, body, peer,"
                " incident_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.received_us,
                    entry.route,
                    entry.target,
                    entry.key_id,
                    entry.signature,
                    entry.body,
                    entry.peer,
                    entry.incident_id,
                ),
            )
        except sqlite3.Error as exc:
            raise JournalError(f"the gateway journal cannot keep a message: {exc}") from exc
        self.pending += 1
        return int(cursor.lastrowid or 0)

    def oldest(self, limit: int) -> list[Entry]:
        """Up to ``limit`` entries not yet forwarded, oldest first."""
        return self._pending("", (limit,), "LIMIT ?")

    def pending_of(self, route: str) -> list[Entry]:
        """The entries of ``route`` not yet forwarded, oldest first."""
        return self._pending("AND route = ?", (route,))

    def _pending(self, where: str, params: tuple[object, ...], limit: str = "") -> list[Entry]:
        if self._db is None:
            return []
        rows = self._db.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM journal WHERE forwarded_us IS NULL {where} "
            f"ORDER BY id {limit}",
            params,
        )
        return [_entry(row) for row in rows]

    def forwarded(self, entry_id: int, status: int, reply: dict[str, Any]) -> None:
        """Mark an entry forwarded, with the answer the store's checks gave it."""
        cursor = self._open().execute(
            "UPDATE journal SET forwarded_us = ?, status = ?, reply = ? "
            "WHERE id = ? AND forwarded_us IS NULL",
            (time.time_ns() // 1000, status, json.dumps(reply, sort_keys=True), entry_id),
        )
        self.pending -= cursor.rowcount

    def prune(self, now_us: int | None = None) -> int:
        """Delete forwarded entries older than :data:`KEEP_FORWARDED_S`; how many."""
        if self._db is None:
            return 0
        now = time.time_ns() // 1000 if now_us is None else now_us
        cursor = self._db.execute(
            "DELETE FROM journal WHERE forwarded_us IS NOT NULL AND forwarded_us < ?",
            (now - KEEP_FORWARDED_S * 1_000_000,),
        )
        return cursor.rowcount

    def history(self) -> Iterator[tuple[Entry, int | None, dict[str, Any] | None]]:
        """Every entry kept, oldest first, with its forwarding status and answer (None while
        pending): for the operator and the tests."""
        if self._db is None:
            return
        rows = self._db.execute(f"SELECT {_ENTRY_COLUMNS}, status, reply FROM journal ORDER BY id")
        for r in rows:
            yield _entry(r), r[9], (json.loads(r[10]) if r[10] is not None else None)
