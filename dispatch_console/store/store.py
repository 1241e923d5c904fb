"""The store: append-only events, snapshots for ``state_at``, and reference data.

One writer at a time: appends run in a ``BEGIN IMMEDIATE`` transaction on SQLite and under a
transaction-scoped advisory lock on PostgreSQL, so sequence numbers are handed out in commit
order (a console catching up "after sequence N" can never miss a late commit) and received
times never go backwards. An append returns only after its transaction committed durably
(SQLite WAL with ``synchronous=FULL``; PostgreSQL's default ``synchronous_commit``).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import itertools
import logging
import threading
import time
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, func, select, text
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.pool import StaticPool

from dispatch_console.domain import events as ev
from dispatch_console.domain.fold import fold
from dispatch_console.domain.reference import PrePlan, Road, RosterEntry, School
from dispatch_console.domain.rules import AgencyRules, rules_from_json, rules_json
from dispatch_console.domain.state import (
    STATE_FORMAT,
    IncidentState,
    compress_state,
    decode_state,
    encode_state,
    encode_state_uncompressed,
)
from dispatch_console.store import schema
from dispatch_console.store.background import Background
from dispatch_console.store.chain import GENESIS, CentreKey, chain_rows, write_checkpoint
from dispatch_console.store.registry import RegistryMixin, write_device_positions
from dispatch_console.store.urls import default_url, normalize_url, redact

log = logging.getLogger(__name__)

#: A snapshot of an incident's state is kept every this many of its events.
SNAPSHOT_INTERVAL = 5_000
#: Snapshots waiting for the snapshot thread at most; past that the oldest is dropped (a
#: snapshot is a cache: the next one, or a fold from an older one, stands in for it).
SNAPSHOTS_WAITING_MAX = 8
#: Idempotency keys this store knows are committed (its own appends, and what it read in a
#: write transaction), kept so that a repeat is recognised without asking the database; the
#: unique index on the key stays the final guard (several writers share one database).
RECENT_KEYS_MAX = 65_536
#: Advisory lock key that serialises appenders on PostgreSQL ("DISPATCH" in ASCII, truncated).
_PG_APPEND_LOCK = 0x4449535041544348 & 0x7FFFFFFFFFFFFFFF
_PG_MIGRATE_LOCK = _PG_APPEND_LOCK - 1
_KEY_CHUNK = 500
#: libpq connection settings: connect within 5 s; data unacknowledged for 10 s, or a silent
#: connection that does not answer three keepalives 2 s apart after 5 s idle, is a lost one.
PG_CONNECT_ARGS = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
}

_MIGRATIONS = Path(__file__).parent / "migrations"


def wall_clock_us() -> int:
    return time.time_ns() // 1000


class StoreError(Exception):
    """A store problem explained in one line (no traceback for the user)."""


def error_line(exc: BaseException) -> str:
    """``OperationalError: connection refused``: an error's class and first line, for a log
    line or a status message."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


class StoreUnreachable(StoreError):
    """Raised without trying the database, by a caller that knows it is down."""


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not be reached (stopped, restarting, the
    connection lost, a lock it could not get) rather than that a statement was wrong: what
    was being written may be kept and written again later."""
    if isinstance(exc, OperationalError | InterfaceError | StoreUnreachable):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


@dataclass(frozen=True)
class AppendResult:
    stored: list[ev.Event]
    #: Idempotency keys that were already stored, with the sequence number they were stored at.
    duplicates: dict[str, int] = field(default_factory=dict)
    #: Index in the batch -> why that draft was not stored (:meth:`WriteTransaction.append_raw`
    #: only; :meth:`WriteTransaction.append` refuses a whole batch with :class:`StoreError`).
    refused: dict[int, str] = field(default_factory=dict)


class RawDraft(msgspec.Struct, frozen=True, gc=False):
    """An event not yet stored whose payload is JSON already (see
    :meth:`WriteTransaction.append_raw`)."""

    incident_id: str | None
    occurred_at_us: int
    actor: ev.Actor
    source: ev.Source
    type: str
    payload_json: bytes
    idempotency_key: str | None = None


@dataclass(frozen=True)
class IncidentSummary:
    incident_id: str
    school_id: str
    school_name: str
    incident_type: str
    exercise: bool
    opened_at_us: int
    status: str
    event_count: int
    last_received_at_us: int


_EVENT_COLUMNS = schema.EVENT_COLUMNS
_SOURCES = {s.value: s for s in ev.Source}
_ACTOR_KINDS = {k.value: k for k in ev.ActorKind}
_school_encoder = msgspec.json.Encoder()
_road_coordinates_decoder = msgspec.json.Decoder(tuple[tuple[float, float], ...])
_MAX_ROAD_ID = 200
_MAX_ROAD_NAME = 300
_preplan_decoder = msgspec.json.Decoder(PrePlan)
_geometry_decoder = msgspec.json.Decoder(dict[str, Any])
_device_ids_decoder = msgspec.json.Decoder(tuple[str, ...])


class Store(RegistryMixin):
    """Events, snapshots and reference data in one database (SQLite file or PostgreSQL)."""

    def __init__(
        self,
        url: str | None = None,
        *,
        clock: Callable[[], int] = wall_clock_us,
        migrate: bool = True,
        snapshot_interval: int = SNAPSHOT_INTERVAL,
        write_snapshots: bool = True,
        signing_key: CentreKey | None = None,
        checkpoint_every: int | None = None,
    ) -> None:
        self.url = normalize_url(url) if url else default_url()
        self._clock = clock
        self.snapshot_interval = snapshot_interval
        self.write_snapshots = write_snapshots
        self._append_lock = threading.Lock()
        self._actors: dict[tuple[str, str], ev.Actor] = {}
        self._recent_keys: dict[str, int] = {}
        #: ``(start, end)``: every event with a sequence number in ``(start, end]`` was stored
        #: by this store object, and nobody stored one after ``end`` when it last committed
        #: (see :meth:`WriteTransaction.quiet_since`).
        self._own_run: tuple[int, int] | None = None
        #: The centre's key: with it, a signed checkpoint of the chain every
        #: ``checkpoint_every`` events appended here (and on :meth:`sign_checkpoint`).
        self.signing_key = signing_key
        self.checkpoint_every = checkpoint_every
        self._checkpointed_seq: int | None = None
        try:
            parsed = make_url(self.url)
        except ArgumentError:
            raise StoreError(f"not a database URL: {redact(self.url)!r}") from None
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            self._writer, self._reader, self._cache_writer = self._sqlite_engines(parsed.database)
            placeholders = ", ".join("?" * 11)
        elif self.dialect == "postgresql":
            # A server that cannot be reached, or whose host or network went away mid-query,
            # is given up on in seconds (a gateway journals meanwhile), not after the many
            # minutes the network stack would wait.
            engine = create_engine(self.url, connect_args=PG_CONNECT_ARGS)
            _ping_when_idle(engine)
            self._writer = self._cache_writer = engine
            #: Write transactions: BEGIN is sent with the lock (see :meth:`writing`).
            self._pg_transactions = engine.execution_options(isolation_level="AUTOCOMMIT")
            # Reads streamed with server-side cursors (off the group commits' path) keep a
            # ping on every checkout: a server that just restarted is found before the cursor
            # is declared (a cursor cut off on a dead connection cannot be closed, and leaks).
            self._reader = create_engine(self.url, pool_pre_ping=True, connect_args=PG_CONNECT_ARGS)
            placeholders = ", ".join(["%s"] * 11)
        else:
            raise StoreError(f"unsupported database {redact(self.url)}: use sqlite or postgresql")
        # Snapshots on a thread of their own, with a connection of their own; an in-memory
        # SQLite store has one connection for everything, so there they are written at once.
        shared = self.dialect == "sqlite" and self._cache_writer is self._writer
        self._snapshots = Background("store-snapshots", SNAPSHOTS_WAITING_MAX, inline=shared)
        #: Reads of one statement, no cursor kept open (a group's stored keys, a console
        #: feed's next events): on PostgreSQL one round trip each, on the writer's pool
        #: (pinged only when idle) with no BEGIN and ROLLBACK around it, not four or five.
        self._quick_reader = (
            self._writer.execution_options(isolation_level="AUTOCOMMIT")
            if self.dialect == "postgresql"
            else self._reader
        )
        self._insert_sql = (
            "INSERT INTO events (seq, incident_id, type, occurred_at_us, received_at_us, "
            "actor_kind, actor_name, source, payload, idempotency_key, chain_hash) "
            f"VALUES ({placeholders})"
        )
        if migrate:
            self.migrate()

    def insert_events(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        """Insert event rows (the eleven columns of ``_insert_sql``) in ``conn``'s
        transaction. PostgreSQL: ONE statement for the whole batch (``unnest`` of one array per
        column), so a group commit is one round trip, one statement and one NOTIFY from the
        statement trigger, not one per row as ``executemany`` would be. SQLite, in process:
        ``executemany``."""
        if len(rows) < 2:
            conn.exec_driver_sql(self._insert_sql, rows)
        elif self.dialect == "postgresql":
            conn.exec_driver_sql(_PG_INSERT_ROWS, (_pg_rows_json(rows),))
        else:
            # SQLite: rows by the hundred in one statement. ``executemany`` steps once per
            # row, and lets go of the GIL at each step: with the event loop busy answering
            # phones, each step then waited its turn for the GIL again (measured: half the
            # writer's time storing a CoT burst under HTTP load).
            for start in range(0, len(rows), _SQLITE_ROWS_PER_INSERT):
                chunk = rows[start : start + _SQLITE_ROWS_PER_INSERT]
                conn.exec_driver_sql(
                    _sqlite_insert(len(chunk)), tuple(v for row in chunk for v in row)
                )

    # --- engines ---------------------------------------------------------------------------

    @staticmethod
    def _sqlite_engines(database: str | None) -> tuple[Engine, Engine, Engine]:
        """The event writer, the reader, and the writer of snapshots (a cache: its commits
        need not wait for the disk)."""
        memory = not database or database == ":memory:"
        if memory:
            engine = create_engine(
                "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
            _sqlite_setup(engine, begin="BEGIN IMMEDIATE")
            return engine, engine, engine
        Path(database).parent.mkdir(parents=True, exist_ok=True)  # type: ignore[arg-type]
        url = f"sqlite:///{database}"
        args = {"check_same_thread": False, "timeout": 30}
        writer = create_engine(url, connect_args=args)
        reader = create_engine(url, connect_args=args)
        # The writer takes the write lock when its transaction begins, so a transaction that
        # reads the last sequence number and then inserts can never be overtaken.
        _sqlite_setup(writer, begin="BEGIN IMMEDIATE")
        _sqlite_setup(reader, begin="BEGIN")
        cache_writer = create_engine(url, connect_args=args)
        _sqlite_setup(cache_writer, begin="BEGIN IMMEDIATE", synchronous="NORMAL")
        return writer, reader, cache_writer

    def _now(self) -> int:
        return self._clock()

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (idempotent)."""
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        try:
            with self._writer.begin() as conn:
                if self.dialect == "postgresql":  # several processes may start at once
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATE_LOCK}
                    )
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
        except (OperationalError, DBAPIError) as exc:
            raise StoreError(f"cannot open {redact(self.url)}: {_first_line(exc)}") from exc

    def close(self) -> None:
        self._snapshots.close()
        self._writer.dispose()
        if self._reader is not self._writer:
            self._reader.dispose()
        if self._cache_writer is not self._writer:
            self._cache_writer.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- events ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def writing(self) -> Iterator[WriteTransaction]:
        """The one write lock: a transaction in which a caller may read what others stored
        since it last looked, decide, and append, with no other writer in between (``BEGIN
        IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL). Committed durably on exit.

        PostgreSQL: the driver is told nothing of the transaction (autocommit), and BEGIN goes
        in one round trip with the lock, durable commits (never acknowledge less, whatever the
        server's default) and the last event, read once the lock is granted (each statement
        of the message has its own snapshot). As three round trips they were two thirds of a
        small group commit's time on a busy machine."""
        with self._append_lock:
            postgresql = self.dialect == "postgresql"
            engine = self._pg_transactions if postgresql else self._writer
            with engine.begin() as conn:
                tx = WriteTransaction(self, conn, _pg_begin_locked(conn) if postgresql else False)
                yield tx
                every = self.checkpoint_every
                if every and self.signing_key is not None:
                    self._maybe_checkpoint(tx, every)
            # Committed: from now on its keys are known to be stored.
            self._remember_keys(tx.keys_written)
            self._own_run = tx.own_run(self._own_run)

    def _maybe_checkpoint(self, tx: WriteTransaction, every: int) -> None:
        if tx._next is None:
            return
        seq = tx._next[0]
        if self._checkpointed_seq is None:
            self._checkpointed_seq = int(
                tx.conn.execute(select(func.max(schema.chain_checkpoints.c.seq))).scalar() or 0
            )
        if seq - self._checkpointed_seq >= every:
            tx.sign_checkpoint()

    def sign_checkpoint(self) -> int:
        """Sign the chain's newest event with :attr:`signing_key` now; its sequence number
        (0: nothing stored; a checkpoint already there is kept)."""
        if self.signing_key is None:
            raise StoreError("no signing key: checkpoints are signed where the centre's key is")
        with self.writing() as tx:
            return tx.sign_checkpoint()

    def _remember_keys(self, keys: dict[str, int]) -> None:
        """Keys known to be committed; the oldest half is forgotten past
        :data:`RECENT_KEYS_MAX`. Called under the append lock."""
        if not keys:
            return
        recent = self._recent_keys
        recent.update(keys)
        if len(recent) > RECENT_KEYS_MAX:
            keep = RECENT_KEYS_MAX // 2
            self._recent_keys = dict(itertools.islice(recent.items(), len(recent) - keep, None))

    def append(self, drafts: Sequence[ev.EventDraft]) -> AppendResult:
        """Store ``drafts`` in one durable transaction; return them as stored events.

        A draft whose idempotency key is already stored (or repeated within the batch) is not
        stored again; its key is returned in ``duplicates`` with the first sequence number.
        A draft whose payload does not decode as its type, or whose identifiers are too long,
        is refused with :class:`StoreError` and nothing of the batch is stored.
        """
        if not drafts:
            return AppendResult([])
        with self.writing() as tx:
            return tx.append(drafts)

    def incident_of_key(self, idempotency_key: str) -> str | None:
        """The incident of the event stored under ``idempotency_key`` ("" for reference data),
        or ``None`` if no event carries that key."""
        with self._reader.connect() as conn:
            row = conn.execute(
                select(schema.events.c.incident_id).where(
                    schema.events.c.idempotency_key == idempotency_key
                )
            ).first()
        return None if row is None else (row[0] or "")

    def stored_keys(self, keys: Iterable[str]) -> set[str]:
        """Those of ``keys`` some stored event carries (one query for a whole group; keys
        this process committed recently are known without asking)."""
        recent = self._recent_keys
        found = {key for key in keys if key in recent}
        wanted = [key for key in dict.fromkeys(keys) if key not in found]
        if wanted:
            with self._quick_reader.connect() as conn:
                found.update(_existing_keys(conn, wanted))
        return found

    def last_seq(self) -> int:
        with self._reader.connect() as conn:
            value = conn.execute(select(func.max(schema.events.c.seq))).scalar()
        return int(value or 0)

    def read(
        self,
        incident_id: str | None = None,
        *,
        all_incidents: bool = False,
        after_seq: int = 0,
        until_seq: int | None = None,
        until_received_us: int | None = None,
        types: Iterable[str] | None = None,
    ) -> Generator[ev.Event, None, None]:
        """Events in sequence order: of one incident, of reference data (``incident_id=None``),
        or of everything (``all_incidents=True``). Stops at the first event received after
        ``until_received_us`` (received times never go backwards in sequence order)."""
        table = schema.events
        query = select(*_EVENT_COLUMNS).where(table.c.seq > after_seq)
        if not all_incidents:
            query = query.where(
                table.c.incident_id.is_(None)
                if incident_id is None
                else table.c.incident_id == incident_id
            )
        if until_seq is not None:
            query = query.where(table.c.seq <= until_seq)
        if types is not None:
            query = query.where(table.c.type.in_(list(types)))
        query = query.order_by(table.c.seq)
        with self._reader.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=5000).execute(query)
            try:
                for row in result:
                    if until_received_us is not None and row[4] > until_received_us:
                        break
                    event = self._to_event(row)
                    if event is not None:
                        yield event
            finally:
                result.close()

    def read_after(self, after_seq: int, limit: int) -> tuple[list[ev.Event], int, bool]:
        """The next events of every incident after ``after_seq``, at most ``limit`` rows, read
        at once: ``(events, the last sequence number read, whether more may follow)``. On
        PostgreSQL one round trip, with no transaction or server-side cursor around it (a
        console's feed looks several times a second; each look through :meth:`read` was five
        round trips). An event this version cannot read is skipped (logged) but counted as
        read, so a reader never stops at it."""
        table = schema.events
        query = (
            select(*_EVENT_COLUMNS)
            .where(table.c.seq > after_seq)
            .order_by(table.c.seq)
            .limit(limit)
        )
        with self._quick_reader.connect() as conn:
            rows = conn.execute(query).all()
        events = [e for e in map(self._to_event, rows) if e is not None]
        return events, (int(rows[-1][0]) if rows else after_seq), len(rows) == limit

    def _to_event(self, row: Any) -> ev.Event | None:
        seq, incident_id, type_, occurred, received, kind, name, source, payload, key = row
        try:
            decoded = ev.decode_payload(type_, payload)
        except (ev.UnknownEventType, msgspec.ValidationError, msgspec.DecodeError) as exc:
            log.warning(
                "event %s (%s) cannot be read by this version: %s; skipped", seq, type_, exc
            )
            return None
        actor = self._actors.get((kind, name))
        if actor is None:
            actor = self._actors[(kind, name)] = ev.Actor(_ACTOR_KINDS[kind], name)
        return ev.Event(
            seq, incident_id, type_, occurred, received, actor, _SOURCES[source], decoded, key
        )

    def incidents(self) -> list[IncidentSummary]:
        """Every incident, oldest first, with its status and size."""
        table = schema.events
        with self._reader.connect() as conn:
            opened = conn.execute(
                select(table.c.incident_id, table.c.occurred_at_us, table.c.payload)
                .where(table.c.type == ev.IncidentOpened.TYPE)
                .order_by(table.c.seq)
            ).all()
            statuses: dict[str, str] = {}
            for incident_id, payload in conn.execute(
                select(table.c.incident_id, table.c.payload)
                .where(table.c.type == ev.IncidentStatusChanged.TYPE)
                .order_by(table.c.seq)
            ):
                status = ev.decode_payload(ev.IncidentStatusChanged.TYPE, payload)
                assert isinstance(status, ev.IncidentStatusChanged)
                statuses[incident_id] = status.status
            sizes = {
                row[0]: (int(row[1]), int(row[2]))
                for row in conn.execute(
                    select(table.c.incident_id, func.count(), func.max(table.c.received_at_us))
                    .where(table.c.incident_id.is_not(None))
                    .group_by(table.c.incident_id)
                )
            }
        summaries = []
        for incident_id, occurred, payload in opened:
            p = ev.decode_payload(ev.IncidentOpened.TYPE, payload)
            assert isinstance(p, ev.IncidentOpened)
            count, last = sizes.get(incident_id, (0, 0))
            summaries.append(
                IncidentSummary(
                    incident_id,
                    p.school_id,
                    p.school_name,
                    p.incident_type,
                    p.exercise,
                    occurred,
                    statuses.get(incident_id, "active"),
                    count,
                    last,
                )
            )
        return summaries

    def has_incident(self, incident_id: str) -> bool:
        with self._reader.connect() as conn:
            row = conn.execute(
                select(schema.events.c.seq)
                .where(schema.events.c.incident_id == incident_id)
                .limit(1)
            ).first()
        return row is not None

    # --- state at any instant --------------------------------------------------------------

    def state_at(self, incident_id: str, at_us: int | None = None) -> IncidentState:
        """The incident as it was known at ``at_us`` (received time; ``None``: now).

        Starts from the newest snapshot at or before ``at_us`` and folds only the events after
        it; snapshots missing on the way are written (they are a cache: the events stay the
        truth, and a snapshot of another state format is ignored).
        """
        snaps = schema.snapshots
        query = select(snaps.c.state).where(
            snaps.c.incident_id == incident_id, snaps.c.format == STATE_FORMAT
        )
        if at_us is not None:
            query = query.where(snaps.c.received_at_us <= at_us)
        with self._reader.connect() as conn:
            blob = conn.execute(query.order_by(snaps.c.seq.desc()).limit(1)).scalar()
        if blob is None and not self.has_incident(incident_id):
            raise StoreError(f"no incident {incident_id!r} in {redact(self.url)}")
        pending: list[tuple[int, int, int, bytes]] = []
        # Decoding creates many small objects and none of them form cycles: the cyclic
        # collector would only slow this down (measured: about twice as fast without it).
        with collector_paused():
            state = _snapshot_state(blob, incident_id)
            events = self.read(incident_id, after_seq=state.last_seq, until_received_us=at_us)
            interval = self.snapshot_interval
            while True:
                room = interval - state.event_count % interval
                chunk = list(itertools.islice(events, room))
                fold(chunk, state)
                if len(chunk) < room:
                    break
                if self.write_snapshots:
                    snapshot = encode_state(state)
                    pending.append(
                        (state.last_seq, state.last_received_at_us, state.event_count, snapshot)
                    )
            events.close()
        if pending:
            self._save_snapshots(incident_id, pending)
        return state

    def _save_snapshots(self, incident_id: str, rows: list[tuple[int, int, int, bytes]]) -> None:
        insert = (pg_dialect.insert if self.dialect == "postgresql" else sqlite_dialect.insert)(
            schema.snapshots
        ).on_conflict_do_nothing()
        values = [
            {
                "incident_id": incident_id,
                "seq": seq,
                "received_at_us": received,
                "event_count": count,
                "format": STATE_FORMAT,
                "state": blob,
            }
            for seq, received, count, blob in rows
        ]
        try:
            with self._cache_writer.begin() as conn:
                if self.dialect == "postgresql":  # a cache: its commit need not wait for the disk
                    conn.execute(text("SET LOCAL synchronous_commit = off"))
                conn.execute(insert, values)
        except OperationalError as exc:  # a cache: failing to write one is not an error
            log.warning("snapshot of %s not saved: %s", incident_id, _first_line(exc))

    def save_snapshot(self, state: IncidentState) -> None:
        """Keep ``state`` as the snapshot at its last sequence number (a cache of the fold).

        Only the copy is made here (msgpack of the state as it is now); compressing and
        writing it happen on the store's snapshot thread, off the caller's path: a gateway
        storing a CoT burst crossed a snapshot boundary of a 2,000-responder incident several
        times a second, and each cost its writer ~10 ms. :meth:`flush_snapshots` waits for
        them; :meth:`close` does too."""
        raw = encode_state_uncompressed(state)
        row = (state.last_seq, state.last_received_at_us, state.event_count)
        self._snapshots.submit(lambda: self._save_snapshots(
            state.incident_id, [(*row, compress_state(raw))]
        ))  # fmt: skip

    def flush_snapshots(self) -> None:
        """Wait until every snapshot handed to :meth:`save_snapshot` is written."""
        self._snapshots.flush()

    def checkpoint(self, incident_id: str) -> IncidentState:
        """Fold the whole incident, writing every missing snapshot; return the current state."""
        return self.state_at(incident_id)

    # --- reference data ----------------------------------------------------------------------

    def upsert_schools(self, schools: Iterable[School]) -> int:
        now = self._clock()
        rows = [school_row(s, now) for s in schools]
        self._upsert(schema.schools, rows, ["school_id"])
        return len(rows)

    def schools(self) -> list[School]:
        with self._reader.connect() as conn:
            rows = conn.execute(select(schema.schools).order_by(schema.schools.c.name)).all()
        return [_school(row._mapping) for row in rows]

    def school(self, school_id: str) -> School | None:
        with self._reader.connect() as conn:
            row = conn.execute(
                select(schema.schools).where(schema.schools.c.school_id == school_id)
            ).first()
        return _school(row._mapping) if row is not None else None

    def replace_roster(self, entries: Iterable[RosterEntry]) -> int:
        """Replace the roster of every agency named in ``entries`` (in one transaction): an
        officer dropped from an agency's new roster is no longer verified."""
        now = self._clock()
        rows = [
            {
                "agency": e.agency,
                "badge": e.badge,
                "name": e.name,
                "status": e.status,
                "device_ids": _school_encoder.encode(list(e.device_ids)).decode(),
                "updated_at_us": now,
                "training_date": e.training_date,
                "leosa_qualified": e.leosa_qualified,
            }
            for e in entries
        ]
        agencies = sorted({str(row["agency"]) for row in rows})
        with self._writer.begin() as conn:
            if agencies:
                conn.execute(schema.roster.delete().where(schema.roster.c.agency.in_(agencies)))
            if rows:
                conn.execute(schema.roster.insert(), rows)
        return len(rows)

    def roster(self) -> list[RosterEntry]:
        with self._reader.connect() as conn:
            rows = conn.execute(
                select(schema.roster).order_by(schema.roster.c.agency, schema.roster.c.badge)
            ).all()
        return [
            RosterEntry(
                r.agency,
                r.badge,
                r.name,
                r.status,
                _device_ids_decoder.decode(r.device_ids),
                r.training_date,
                bool(r.leosa_qualified),
            )
            for r in rows
        ]

    # --- roads -------------------------------------------------------------------------------

    def replace_roads(self, roads: Iterable[Road]) -> int:
        """Replace the store's roads with ``roads`` (a county's road file is the whole
        network), in one transaction; the number stored."""
        now = self._clock()
        rows = [
            {
                "road_id": r.road_id,
                "name": r.name,
                "road_class": r.road_class,
                "speed_mps": r.speed_mps,
                "coordinates": _school_encoder.encode(r.coordinates).decode(),
                "updated_at_us": now,
            }
            for r in roads
        ]
        for row in rows:
            if len(str(row["road_id"])) > _MAX_ROAD_ID:
                raise StoreError(f"road id longer than {_MAX_ROAD_ID} characters")
            if row["name"] is not None and len(str(row["name"])) > _MAX_ROAD_NAME:
                row["name"] = str(row["name"])[:_MAX_ROAD_NAME]
        with self._writer.begin() as conn:
            conn.execute(schema.roads.delete())
            for start in range(0, len(rows), 1000):
                conn.execute(schema.roads.insert(), rows[start : start + 1000])
        return len(rows)

    def roads(self) -> list[Road]:
        """The stored roads, by id (none: an empty list)."""
        table = schema.roads
        with self._reader.connect() as conn:
            rows = conn.execute(select(table).order_by(table.c.road_id)).all()
        return [
            Road(
                r.road_id,
                r.name,
                r.road_class,
                r.speed_mps,
                _road_coordinates_decoder.decode(r.coordinates),
            )
            for r in rows
        ]

    # --- agency response rules ---------------------------------------------------------------

    def load_agency_rules(self, rules: AgencyRules, source_text: str) -> bool:
        """Keep a new version of an agency's rules (False: this exact version was loaded
        already). A version at or below the one in force, with other content, is refused: every
        change gets a new version, so an incident's record names exactly what applied."""
        row = {
            "agency_key": rules.key,
            "version": rules.version,
            "agency": rules.agency,
            "rules_json": rules_json(rules),
            "source_text": source_text,
            "loaded_at_us": self._clock(),
        }
        t = schema.agency_rules
        with self._writer.begin() as conn:
            newest = conn.execute(
                select(t.c.version, t.c.rules_json)
                .where(t.c.agency_key == rules.key)
                .order_by(t.c.version.desc())
                .limit(1)
            ).first()
            if newest is not None:
                if newest.version == rules.version and newest.rules_json == row["rules_json"]:
                    return False
                if newest.version >= rules.version:
                    raise StoreError(
                        f"{rules.agency} has rules version {newest.version} in force: "
                        f"give the changed rules a version above it"
                    )
            conn.execute(t.insert(), row)
        return True

    def agency_rules(self) -> dict[str, AgencyRules]:
        """The rules in force (the newest version) per agency, by agency key."""
        t = schema.agency_rules
        with self._reader.connect() as conn:
            rows = conn.execute(select(t.c.agency_key, t.c.rules_json).order_by(t.c.version)).all()
        return {r.agency_key: rules_from_json(r.rules_json) for r in rows}

    # --- console users ---------------------------------------------------------------------

    def set_user(self, name: str, role: str) -> None:
        """Register (or re-register) the console user ``name`` in ``role`` (one of
        :data:`~dispatch_console.domain.events.ROLES`): the incident service refuses incident
        events by console users who are not registered, or whose role only watches."""
        name = name.strip()
        if not name:
            raise StoreError("a console user needs a name")
        if len(name) > _MAX_ACTOR_NAME:
            raise StoreError(f"console user name longer than {_MAX_ACTOR_NAME} characters")
        if role not in ev.ROLES:
            raise StoreError(f"unknown role {role!r}: one of {', '.join(ev.ROLES)}")
        if self.user_role(name) == role:  # already so: nothing to write (a PostgreSQL login
            return  # role registered by the owner may not write this table)
        row = {"name": name, "role": role, "updated_at_us": self._clock()}
        self._upsert(schema.console_users, [row], ["name"])

    def user_role(self, name: str) -> str | None:
        """The registered role of console user ``name`` (``None``: not registered)."""
        table = schema.console_users
        with self._reader.connect() as conn:
            role = conn.execute(select(table.c.role).where(table.c.name == name)).scalar()
        return None if role is None else str(role)

    def user_roles(self, names: Iterable[str]) -> dict[str, str]:
        """The registered roles of those of the console users ``names`` who are registered."""
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return {}
        table = schema.console_users
        with self._reader.connect() as conn:
            rows = conn.execute(
                select(table.c.name, table.c.role).where(table.c.name.in_(wanted))
            ).all()
        return {str(name): str(role) for name, role in rows}

    # --- trusted keys (store/chain.py) ------------------------------------------------------

    def trust_key(self, public: Any, label: str) -> bool:
        """Trust ``public`` (an Ed25519 public key) for checkpoints and incident files; False
        if it was trusted already."""
        from dispatch_console.store.chain import trust

        with self._writer.begin() as conn:
            return trust(conn, public, label[:200], self._clock())

    def trusted_keys(self) -> list[Any]:
        """The keys this centre trusts (:class:`~dispatch_console.store.chain.TrustedKey`)."""
        from dispatch_console.store.chain import trusted_keys

        with self._reader.connect() as conn:
            return sorted(trusted_keys(conn).values(), key=lambda k: k.added_at_us)

    def _upsert(self, table: Any, rows: list[dict[str, Any]], keys: list[str]) -> None:
        if not rows:
            return
        insert_fn = pg_dialect.insert if self.dialect == "postgresql" else sqlite_dialect.insert
        statement = insert_fn(table)
        statement = statement.on_conflict_do_update(
            index_elements=keys,
            set_={c: statement.excluded[c] for c in rows[0] if c not in keys},
        )
        with self._writer.begin() as conn:
            conn.execute(statement, rows)


class WriteTransaction:
    """Inside :meth:`Store.writing`: read since a sequence number, look up keys, append."""

    def __init__(
        self, store: Store, conn: Connection, last: tuple[Any, ...] | bool | None = False
    ) -> None:
        self.store = store
        self.conn = conn
        #: The last stored event's (seq, received_at_us, chain_hash) read with the lock (None:
        #: no event stored yet; False: not read yet).
        self._last = last
        self._next: tuple[int, int, bytes] | None = None
        #: The last sequence number stored when the transaction began (read with ``_next``).
        self._started_at: int | None = None
        #: Keys looked up in this transaction: the seq they are stored at, or None (not stored
        #: when looked up; nobody else can store them while this transaction holds the lock).
        self._looked_up: dict[str, int | None] = {}
        #: Keys appended in this transaction (known to be stored once it commits).
        self.keys_written: dict[str, int] = {}

    def read(
        self, incident_id: str, after_seq: int, types: Iterable[str] | None = None
    ) -> list[ev.Event]:
        """Events of ``incident_id`` after ``after_seq`` (stored by anyone, committed), of
        ``types`` only if given."""
        table = schema.events
        query = select(*_EVENT_COLUMNS).where(
            table.c.incident_id == incident_id, table.c.seq > after_seq
        )
        if types is not None:
            query = query.where(table.c.type.in_(list(types)))
        rows = self.conn.execute(query.order_by(table.c.seq))
        events = [self.store._to_event(row) for row in rows]
        # Committed by someone: a repeat of one of their keys is known without a query.
        self.store._remember_keys(
            {e.idempotency_key: e.seq for e in events if e is not None and e.idempotency_key}
        )
        return [e for e in events if e is not None]

    def record_device_positions(self, positions: Sequence[tuple[str, float, float, int]]) -> None:
        """Devices' last known positions, in this transaction (see the store's method)."""
        write_device_positions(self.conn, positions)

    def _check_console_users(self, drafts: Sequence[ev.EventDraft] | Sequence[RawDraft]) -> None:
        """The store's own guard on every append (:meth:`append`, :meth:`append_raw`),
        whatever code wrote the drafts: a console user changes an incident only if registered in
        a commanding role (an observer or a trainer never does). An imported incident's
        history (``importing.append_incident``) is not checked: its users are another
        center's."""
        for d in drafts:
            problem = _not_a_console_user(d)
            if problem is not None:
                raise StoreError(problem)
        names = {
            d.actor.name
            for d in drafts
            if d.actor.kind is ev.ActorKind.CONSOLE_USER and d.incident_id is not None
        }
        if not names:
            return
        roles = self.user_roles(names)
        for name in sorted(names):
            role = roles.get(name)
            if role not in ev.COMMANDING_ROLES:
                registered = (
                    "not a registered console user" if role is None else f"registered as {role}"
                )
                raise StoreError(f"refused: {name} is {registered} and may not change incidents")

    def user_roles(self, names: Iterable[str]) -> dict[str, str]:
        """The registered roles of those of the console users ``names`` who are registered."""
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return {}
        table = schema.console_users
        rows = self.conn.execute(
            select(table.c.name, table.c.role).where(table.c.name.in_(wanted))
        ).all()
        return {str(name): str(role) for name, role in rows}

    def existing_keys(self, keys: Iterable[str]) -> dict[str, int]:
        """The keys of ``keys`` that are stored, with their sequence numbers."""
        found: dict[str, int] = {}
        wanted: list[str] = []
        recent = self.store._recent_keys
        looked_up = self._looked_up
        written = self.keys_written
        for key in dict.fromkeys(keys):
            seq = written.get(key) or recent.get(key)
            if seq is None and key in looked_up:
                seq = looked_up[key]
                if seq is None:
                    continue
            if seq is not None:
                found[key] = seq
            else:
                wanted.append(key)
        if wanted:
            stored = _existing_keys(self.conn, wanted)
            for key in wanted:
                looked_up[key] = stored.get(key)
            found.update(stored)
        return found

    def quiet_since(self, seq: int) -> bool:
        """Whether every event stored after ``seq`` was stored by this store object (so a
        caller that had folded everything up to ``seq`` has nothing of others' to read): no
        other writer stored anything since this store's own consecutive transactions began at
        or before ``seq``. Costs no query beyond the one every append makes anyway."""
        run = self.store._own_run
        if run is None or run[0] > seq:
            return False
        return self.seq_at_start() == run[1]

    def seq_at_start(self) -> int:
        """The last sequence number stored when this transaction took the lock."""
        self._next_seq()
        assert self._started_at is not None
        return self._started_at

    def own_run(self, run: tuple[int, int] | None) -> tuple[int, int] | None:
        """The store's run of its own events once this transaction committed."""
        if self._started_at is None or self._next is None:
            return run  # it read no sequence number: it appended nothing
        if run is not None and run[1] == self._started_at:
            return run[0], self._next[0]
        return self._started_at, self._next[0]

    def _next_seq(self) -> tuple[int, int, bytes]:
        """The last sequence number, the received time a new event may not go below, and the
        last event's chain hash."""
        if self._next is None:
            last: Any = self._last
            if last is False:
                last = self.conn.execute(
                    select(
                        schema.events.c.seq,
                        schema.events.c.received_at_us,
                        schema.events.c.chain_hash,
                    )
                    .order_by(schema.events.c.seq.desc())
                    .limit(1)
                ).first()
            self._next = (last[0], last[1], bytes(last[2] or GENESIS)) if last else (0, 0, GENESIS)
            self._started_at = self._next[0]
        seq, last_received, chain = self._next
        return seq, max(self.store._clock(), last_received), chain

    def chained(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """``rows`` (ten columns each, numbered after the last stored event) with their chain
        hashes; the transaction's last event becomes the last of ``rows``."""
        _, received, chain = self._next_seq()
        out, chain = chain_rows(chain, rows)
        self._next = (out[-1][0], max(received, out[-1][4]), chain)
        return out

    def sign_checkpoint(self) -> int:
        """Sign the newest event's chain hash (see :meth:`Store.sign_checkpoint`)."""
        key = self.store.signing_key
        assert key is not None
        seq, _, chain = self._next_seq()
        if seq == 0:
            return 0
        table = schema.chain_checkpoints
        known = self.conn.execute(select(table.c.seq).where(table.c.seq == seq)).first()
        if known is None:
            write_checkpoint(self.conn, key, seq, chain, self.store._clock())
        self.store._checkpointed_seq = seq
        return seq

    def append(self, drafts: Sequence[ev.EventDraft]) -> AppendResult:
        conn = self.conn
        self._check_console_users(drafts)
        seq, received, _ = self._next_seq()
        existing = self.existing_keys(
            d.idempotency_key for d in drafts if d.idempotency_key is not None
        )
        duplicates: dict[str, int] = {}
        rows: list[tuple[Any, ...]] = []
        stored: list[ev.Event] = []
        for draft in drafts:
            key = draft.idempotency_key
            if key is not None and key in existing:
                duplicates[key] = existing[key]
                continue
            payload_json = _checked_payload(draft)
            seq += 1
            if key is not None:
                existing[key] = seq
            payload = draft.payload
            rows.append(
                (
                    seq,
                    draft.incident_id,
                    payload.TYPE,
                    draft.occurred_at_us,
                    received,
                    draft.actor.kind.value,
                    draft.actor.name,
                    draft.source.value,
                    payload_json,
                    key,
                )
            )
            stored.append(
                ev.Event(
                    seq,
                    draft.incident_id,
                    payload.TYPE,
                    draft.occurred_at_us,
                    received,
                    draft.actor,
                    draft.source,
                    payload,
                    key,
                )
            )
        if rows:
            self.store.insert_events(conn, self.chained(rows))
            self.keys_written.update(
                (e.idempotency_key, e.seq) for e in stored if e.idempotency_key
            )
        return AppendResult(stored, duplicates)

    def append_raw(self, drafts: Sequence[RawDraft]) -> AppendResult:
        """Store events whose payloads come as JSON (a feed's flood of facts), draft by draft.

        Each payload is decoded once as its type: that proves the stored bytes can be read
        again, and the decoded payload is the one the returned event carries (what is folded
        and published is what a replay will read). A draft whose payload does not decode as
        its type, or whose identifiers are longer than their columns, is refused on its own
        (``refused``: index -> why); the others are stored.

        Idempotency without a query per batch: a key this store knows to be committed, or
        repeated in the batch, is a duplicate at once; any other key is inserted, and the
        unique index on the key has the last word. Only if it refuses one (another writer
        stored it) are the batch's keys looked up, and the batch inserted again without them,
        so sequence numbers stay contiguous.
        """
        refused: dict[int, str] = {}
        forged = {i: p for i, d in enumerate(drafts) if (p := _not_a_console_user(d))}
        if forged:  # refused one by one: the rest of a gateway's batch is stored
            for why in forged.values():
                log.warning("event refused: %s", why)
            drafts = [d if i not in forged else _REFUSED_DRAFT for i, d in enumerate(drafts)]
        self._check_console_users(drafts)
        payloads = _decoded_payloads(drafts, refused)
        for index, why in forged.items():
            refused[index] = why
            payloads[index] = None
        recent = self.store._recent_keys
        written = self.keys_written
        duplicates: dict[str, int] = {}
        repeats: list[str] = []
        batch_keys: set[str] = set()
        candidates: list[tuple[RawDraft, ev.Payload]] = []
        for index, draft in enumerate(drafts):
            payload = payloads[index]
            if payload is None:
                continue
            key = draft.idempotency_key
            if key is not None:
                seq = written.get(key) or recent.get(key) or self._looked_up.get(key)
                if seq is not None:
                    duplicates[key] = seq
                    continue
                if key in batch_keys:
                    repeats.append(key)
                    continue
                batch_keys.add(key)
            candidates.append((draft, payload))
        stored = self._insert_raw(candidates) if candidates else []
        if len(stored) < len(candidates):  # another writer stored some of the keys
            stored_keys = {e.idempotency_key for e in stored}
            for draft, _ in candidates:
                key = draft.idempotency_key
                if key is not None and key not in stored_keys:
                    seq = self._looked_up.get(key)
                    assert seq is not None
                    duplicates[key] = seq
        for key in repeats:
            if key not in duplicates:
                duplicates[key] = self.keys_written[key]
        return AppendResult(stored, duplicates, refused)

    def _insert_raw(self, candidates: list[tuple[RawDraft, ev.Payload]]) -> list[ev.Event]:
        """Insert ``candidates`` (their keys not known to be stored); if another writer stored
        some of the keys meanwhile, look them up and insert the rest (so sequence numbers stay
        contiguous)."""
        rows, stored = self._raw_rows(candidates)
        saved = self._next
        keys = [d.idempotency_key for d, _ in candidates if d.idempotency_key is not None]
        existing = self._insert_unless_stored(self.chained(rows), keys)
        if existing:
            self._next = saved
            for key in keys:
                self._looked_up[key] = existing.get(key)
            rest = [(d, p) for d, p in candidates if d.idempotency_key not in existing]
            if not rest:
                return []
            rows, stored = self._raw_rows(rest)
            self.store.insert_events(self.conn, self.chained(rows))
        written = self.keys_written
        for made in stored:
            if made.idempotency_key is not None:
                written[made.idempotency_key] = made.seq
        return stored

    def _insert_unless_stored(
        self, chained: list[tuple[Any, ...]], keys: list[str]
    ) -> dict[str, int]:
        """Insert ``chained`` unless one of ``keys`` is stored already; return those that were
        (empty: everything inserted). PostgreSQL: ONE statement does both (no savepoint: two
        round trips fewer per group commit; the write lock is held, so nobody can store one of
        the keys in between). SQLite: under a savepoint, the keys looked up on a conflict."""
        conn = self.conn
        if self.store.dialect == "postgresql":
            return {
                str(key): int(seq)
                for key, seq in conn.exec_driver_sql(
                    _PG_INSERT_UNLESS_STORED, (_pg_rows_json(chained),)
                )
            }
        try:
            with conn.begin_nested():
                self.store.insert_events(conn, chained)
        except IntegrityError:
            existing = _existing_keys(conn, keys)
            if not existing:
                raise
            return existing
        return {}

    def _raw_rows(
        self, candidates: list[tuple[RawDraft, ev.Payload]]
    ) -> tuple[list[tuple[Any, ...]], list[ev.Event]]:
        seq, received, _ = self._next_seq()
        rows: list[tuple[Any, ...]] = []
        stored: list[ev.Event] = []
        make_event = ev.Event
        for draft, payload in candidates:
            seq += 1
            incident_id, actor, key = draft.incident_id, draft.actor, draft.idempotency_key
            occurred, source, type_, raw = (
                draft.occurred_at_us,
                draft.source,
                draft.type,
                draft.payload_json,
            )
            rows.append(
                (
                    seq,
                    incident_id,
                    type_,
                    occurred,
                    received,
                    actor.kind._value_,  # not .value: a property, slow in a loop this hot
                    actor.name,
                    source._value_,
                    raw.decode(),
                    key,
                )
            )
            stored.append(
                make_event(seq, incident_id, type_, occurred, received, actor, source, payload, key)
            )
        return rows, stored


_MAX_INCIDENT_ID, _MAX_ACTOR_NAME, _MAX_KEY = 64, 200, 300  # the columns' lengths
#: Stands in for a refused draft in a raw batch (never stored).
_REFUSED_DRAFT = RawDraft(
    None, 0, ev.Actor(ev.ActorKind.SYSTEM, "refused"), ev.Source.FEED, "refused", b"{}"
)


def _not_a_console_user(draft: ev.EventDraft | RawDraft) -> str | None:
    """Why ``draft`` is refused if it is a console user's decision labelled as the system or a
    device (:data:`~dispatch_console.domain.events.CONSOLE_ONLY_TYPES`), else None."""
    type_ = draft.type if isinstance(draft, RawDraft) else draft.payload.TYPE
    if type_ in ev.CONSOLE_ONLY_TYPES and draft.actor.kind is not ev.ActorKind.CONSOLE_USER:
        return (
            f"refused: {type_} is a console user's decision, not the "
            f"{draft.actor.kind.value} {draft.actor.name[:40]!r}'s"
        )
    return None


_LIMITS = (
    ("incident id", _MAX_INCIDENT_ID),
    ("actor name", _MAX_ACTOR_NAME),
    ("idempotency key", _MAX_KEY),
)


def _checked_payload(draft: ev.EventDraft) -> str:
    """The payload's JSON, after proving it decodes back as its type (types, allowed values,
    finite coordinates): the store never keeps an event it could not read again."""
    problem = _too_long(draft.incident_id, draft.actor.name, draft.idempotency_key)
    if problem is not None:
        raise StoreError(problem)
    raw = ev.encode_payload(draft.payload)
    try:
        decoded = ev.decode_payload(draft.payload.TYPE, raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise StoreError(f"{draft.payload.TYPE} refused: {exc}") from None
    if decoded != draft.payload:  # NaN or infinity, which JSON writes as null
        raise StoreError(f"{draft.payload.TYPE} refused: a number is not finite")
    return raw.decode()


_list_decoders: dict[str, msgspec.json.Decoder[Any]] = {
    name: msgspec.json.Decoder(list[cls])  # type: ignore[valid-type]
    for name, cls in ev.PAYLOAD_TYPES.items()
}


def _decoded_payloads(
    drafts: Sequence[RawDraft], refused: dict[int, str]
) -> list[ev.Payload | None]:
    """Each draft's payload decoded as its type (``None`` where refused, with the reason).

    Drafts of one type are decoded in one call, as a JSON array of their payloads (counted:
    a payload that is not exactly one JSON value cannot pass); if that fails, each is decoded
    on its own to find the ones to refuse."""
    payloads: list[ev.Payload | None] = [None] * len(drafts)
    by_type: dict[str, list[int]] = {}
    for index, draft in enumerate(drafts):
        incident_id, key = draft.incident_id, draft.idempotency_key
        if (
            (incident_id is not None and len(incident_id) > _MAX_INCIDENT_ID)
            or len(draft.actor.name) > _MAX_ACTOR_NAME
            or (key is not None and len(key) > _MAX_KEY)
        ):
            refused[index] = str(_too_long(incident_id, draft.actor.name, key))
        elif draft.type not in _list_decoders:
            refused[index] = f"unknown event type {draft.type!r}"
        else:
            by_type.setdefault(draft.type, []).append(index)
    for type_, indexes in by_type.items():
        try:
            decoded = _list_decoders[type_].decode(
                b"[" + b",".join([drafts[i].payload_json for i in indexes]) + b"]"
            )
        except (msgspec.ValidationError, msgspec.DecodeError):
            decoded = []
        if len(decoded) == len(indexes):
            for index, payload in zip(indexes, decoded, strict=True):
                payloads[index] = payload
            continue
        for index in indexes:
            try:
                payloads[index] = ev.decode_payload(type_, drafts[index].payload_json)
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                refused[index] = f"{type_} refused: {exc}"
    return payloads


def _too_long(incident_id: str | None, actor_name: str, key: str | None) -> str | None:
    for (what, limit), value in zip(_LIMITS, (incident_id, actor_name, key), strict=True):
        if value is not None and len(value) > limit:
            return f"{what} longer than {limit} characters: {value[:40]!r}…"
    return None


#: Event rows in one SQLite INSERT at most (eleven parameters each).
_SQLITE_ROWS_PER_INSERT = 500


@functools.lru_cache(maxsize=64)
def _sqlite_insert(rows: int) -> str:
    """An INSERT of ``rows`` event rows in one statement (SQLite)."""
    one = "(" + ", ".join("?" * 11) + ")"
    return (
        "INSERT INTO events (seq, incident_id, type, occurred_at_us, received_at_us, "
        "actor_kind, actor_name, source, payload, idempotency_key, chain_hash) VALUES "
        + ", ".join([one] * rows)
    )


#: A batch of event rows as ONE parameter (PostgreSQL): a JSON array of rows, encoded in C
#: (msgspec) and read by the server in C. Arrays as parameters were dumped element by element
#: in Python, with escaping (measured: half of the writer's time storing a CoT burst). Read as
#: ``jsonb``, parsed once: as ``json`` each ``->>`` parsed its row's text again, eleven times
#: a row (measured: 63 ms of a 2,000-report CoT group's 78 ms statement; as jsonb, 1.3 ms).
_PG_ROWS = (
    "SELECT (e->>0)::bigint AS seq, e->>1 AS incident_id, e->>2 AS type, "
    "(e->>3)::bigint AS occurred_at_us, (e->>4)::bigint AS received_at_us, "
    "e->>5 AS actor_kind, e->>6 AS actor_name, e->>7 AS source, e->>8 AS payload, "
    "e->>9 AS idempotency_key, decode(e->>10, 'base64') AS chain_hash "
    "FROM jsonb_array_elements(%s::jsonb) AS e"
)
_PG_EVENT_COLUMNS = (
    "seq, incident_id, type, occurred_at_us, received_at_us, actor_kind, actor_name, source, "
    "payload, idempotency_key, chain_hash"
)
#: All rows of a batch of events in one INSERT on PostgreSQL (see :meth:`Store.insert_events`).
_PG_INSERT_ROWS = f"INSERT INTO events ({_PG_EVENT_COLUMNS}) {_PG_ROWS}"
#: The batch inserted only if none of its keys is stored; the stored ones are returned (then
#: nothing was inserted). One statement, one NOTIFY.
_PG_INSERT_UNLESS_STORED = (
    f"WITH batch AS ({_PG_ROWS}), "
    "stored AS (SELECT idempotency_key, seq FROM events WHERE idempotency_key IN "
    "(SELECT idempotency_key FROM batch WHERE idempotency_key IS NOT NULL)), "
    f"added AS (INSERT INTO events ({_PG_EVENT_COLUMNS}) SELECT {_PG_EVENT_COLUMNS} FROM batch "
    "WHERE NOT EXISTS (SELECT 1 FROM stored)) "
    "SELECT idempotency_key, seq FROM stored"
)
_rows_encoder = msgspec.json.Encoder()


def _pg_rows_json(rows: Sequence[tuple[Any, ...]]) -> str:
    """Event rows as the JSON array :data:`_PG_ROWS` reads (bytes as base64)."""
    return _rows_encoder.encode(rows).decode()


#: One simple-query message (no parameters): the transaction, the write lock, durable commits,
#: then the last event (its statement's snapshot is taken once the lock is held).
_PG_BEGIN_LOCKED = (
    # READ COMMITTED whatever the server's default: the last event's statement must take its
    # snapshot after the lock is granted (under REPEATABLE READ the transaction's first
    # statement, the lock's, would fix it before).
    f"BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({_PG_APPEND_LOCK}), "
    "set_config('synchronous_commit', 'on', true); "
    "SELECT seq, received_at_us, chain_hash FROM events ORDER BY seq DESC LIMIT 1"
)


def _pg_begin_locked(conn: Connection) -> tuple[Any, ...] | None:
    """Send :data:`_PG_BEGIN_LOCKED` on ``conn`` (whose driver is in autocommit): the last
    event's row, or None if none is stored."""
    import psycopg

    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(_PG_BEGIN_LOCKED)
        while cursor.nextset():
            pass  # to the last statement's result
        row = cursor.fetchone()
    except psycopg.Error as failed:
        # As SQLAlchemy would have raised it (a lock timeout, a cancelled wait, a lost
        # connection: OperationalError), so that callers tell "unreachable" from "wrong".
        raise DBAPIError.instance(_PG_BEGIN_LOCKED, None, failed, psycopg.Error) from failed
    finally:
        cursor.close()
    return tuple(row) if row is not None else None


#: A pooled PostgreSQL connection idle longer than this is pinged before use (a server that
#: restarted, or a host that went away, is found before the query; see ``_ping_when_idle``).
PING_IDLE_S = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection with a round trip only if it sat idle in the pool longer
    than :data:`PING_IDLE_S` (``pool_pre_ping`` pings on EVERY checkout: on a gateway's group
    commit, that was a round trip for each of its three or four checkouts). A dead connection
    fails the ping and is replaced (SQLAlchemy's pessimistic disconnect recipe); one that
    dies within a second of its last use fails its query instead, which callers treat as the
    store being unreachable (the gateway journals, and goes on when it answers again)."""
    from sqlalchemy import exc as sa_exc

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is not None and time.monotonic() - idle_since < PING_IDLE_S:
            return
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            # Out of the transaction the ping began: a connection goes out idle (a write
            # transaction sends its own BEGIN, with its lock, in autocommit).
            dbapi_connection.rollback()
        except Exception as failed:
            raise sa_exc.DisconnectionError(str(failed)) from failed


def _existing_keys(conn: Connection, keys: Iterable[str]) -> dict[str, int]:
    wanted = list(dict.fromkeys(keys))
    found: dict[str, int] = {}
    column = schema.events.c.idempotency_key
    for start in range(0, len(wanted), _KEY_CHUNK):
        chunk = wanted[start : start + _KEY_CHUNK]
        for key, seq in conn.execute(select(column, schema.events.c.seq).where(column.in_(chunk))):
            found[key] = seq
    return found


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for a burst of short-lived objects that form no
    cycles (folding thousands of events, storing a batch of positions): left on, it would
    walk every object of the process several times a batch (measured: a quarter of the
    gateway's time per stored position). Reference counting frees them as usual."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _snapshot_state(blob: bytes | None, incident_id: str) -> IncidentState:
    if blob is not None:
        try:
            return decode_state(blob)
        except (msgspec.DecodeError, msgspec.ValidationError, zlib.error) as exc:
            log.warning("snapshot of %s unreadable (%s); folding from the start", incident_id, exc)
    return IncidentState(incident_id=incident_id)


def school_row(s: School, updated_at_us: int) -> dict[str, Any]:
    """A school as a row of the ``schools`` table."""
    return {
        "school_id": s.school_id,
        "name": s.name,
        "lon": s.lon,
        "lat": s.lat,
        "address": s.address,
        "phone": s.phone,
        "classification": s.classification,
        "campus": _school_encoder.encode(s.campus).decode() if s.campus else None,
        "pre_plan": _school_encoder.encode(s.pre_plan).decode(),
        "notification_radius_m": s.notification_radius_m,
        "updated_at_us": updated_at_us,
    }


def _school(row: Any) -> School:
    return School(
        school_id=row["school_id"],
        name=row["name"],
        lon=row["lon"],
        lat=row["lat"],
        address=row["address"],
        phone=row["phone"],
        classification=row["classification"],
        campus=_geometry_decoder.decode(row["campus"]) if row["campus"] else None,
        pre_plan=_preplan_decoder.decode(row["pre_plan"]),
        notification_radius_m=row["notification_radius_m"],
    )


def _sqlite_setup(engine: Engine, *, begin: str, synchronous: str = "FULL") -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event says BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: durable on power loss, not only on kill -9. (NORMAL only for the snapshot
        # cache: in WAL mode its commits skip the fsync, and the next FULL commit's fsync of
        # the log covers them; checkpoints still sync, so nothing committed FULL is weakened.)
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin)


def _first_line(exc: BaseException) -> str:
    text_ = str(getattr(exc, "orig", None) or exc)
    return text_.strip().splitlines()[0] if text_.strip() else type(exc).__name__
