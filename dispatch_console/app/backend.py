"""The console's workers: everything that touches the database runs here, off the GUI thread.

- :class:`StoreFeed` reads the store in a thread of its own: first the active incidents'
  states, then every new event in sequence order, as soon as PostgreSQL notifies an append
  (LISTEN/NOTIFY: other consoles and the gateway may be on other machines) or, on SQLite, at
  the poll interval (the sequence is the truth: after an error it
  re-reads from the last sequence it delivered, so nothing is missed or applied twice). It
  hands batches to the GUI thread through a queued Qt signal. With the states and before each
  batch it reads the registered roles of the console users who acted that it does not know
  yet (who acted as incident commander in an older record: the header and the ICS 211 say so).
- :class:`CommandRunner` executes the user's commands (acknowledge an alert, ...) through the
  incident service, one at a time, in a thread of its own, and reports each outcome.

Both stop and join their thread in :meth:`stop`; neither ever blocks the GUI thread.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from sqlalchemy.engine import make_url

from dispatch_console.domain import events as ev
from dispatch_console.domain.lifecycle import RuleViolation
from dispatch_console.domain.state import IncidentState
from dispatch_console.service import IncidentService
from dispatch_console.store import PG_CONNECT_ARGS, Store, StoreError, error_line, unreachable
from dispatch_console.store.chain import advance_witness, read_witness, verify_chain

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg.rows import TupleRow

    #: A PostgreSQL connection listening for the store's notifications.
    Listener = Connection[TupleRow]

log = logging.getLogger(__name__)

#: How often the feed looks for new events when nobody wakes it (an embedded gateway does).
POLL_S = 0.2
#: Listening to PostgreSQL's notifications, the store is read on a notification and otherwise
#: only this often (a safety net: each console's reads cost the shared server).
LISTENING_POLL_S = 2.0
#: The event log's hash chain is verified at start and this often (seconds).
VERIFY_EVERY_S = 300.0
#: Events per batch handed to the GUI thread (a big backlog arrives in digestible pieces).
BATCH = 5_000
#: Event types left out of the event log backlog read at start (positions flood it).
BACKLOG_SKIPS = frozenset({ev.ResponderPosition.TYPE})


@dataclass(frozen=True)
class Loaded:
    """What the feed read at start: active incidents' states and the log's backlog."""

    states: list[IncidentState]
    last_seq: int
    backlog: list[ev.Event]
    #: The registered roles (name -> role) of the console users who acted in ``states``.
    roles: dict[str, str] = field(default_factory=dict)


class _Signals(QObject):
    loaded = Signal(object)  # Loaded
    events = Signal(object)  # list[ev.Event]
    #: dict[str, str]: registered roles of console users first seen acting in the next batch.
    roles = Signal(object)
    #: (live, why, unreachable): live False with why, and whether the store could not be
    #: reached (rather than read and failed); (True, "live", True) when back.
    health = Signal(bool, str, bool)
    #: (description, ok, message) of one command.
    command_done = Signal(str, bool, str)
    #: (intact, message): the event log's hash chain verified (store/chain.py), or broken.
    integrity = Signal(bool, str)


class StoreFeed:
    """Reads new events from the store and hands them to the GUI thread (see module doc)."""

    def __init__(
        self,
        store_url: str | None,
        *,
        poll_s: float = POLL_S,
        verify_every_s: float | None = VERIFY_EVERY_S,
        witness: Path | None = None,
    ) -> None:
        self.store_url = store_url
        #: The witness file: the newest signed checkpoint this console has seen (chain.py).
        self.witness = witness
        self.poll_s = poll_s
        self.verify_every_s = verify_every_s
        self.signals = _Signals()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        #: Set to verify at once (the unlock) or to stop waiting (stop).
        self._verify_now = threading.Event()
        self._thread = threading.Thread(target=self._run, name="store-feed", daemon=True)
        self._verifier = threading.Thread(target=self._verify, name="log-verify", daemon=True)
        #: Set while the session is locked: no verification (see :meth:`pause`).
        self._paused = threading.Event()
        self.last_seq = 0
        #: Console users whose role was read already (registered or not).
        self._roles_read: set[str] = set()

    def pause_verification(self, paused: bool) -> None:
        """While a PostgreSQL session is locked its ticket is revoked and the database shows it
        no event: verifying then would see a log cut short of its checkpoints (a false alarm).
        Verification waits for the unlock, then runs at once (thread-safe)."""
        if paused:
            self._paused.set()
        else:
            self._paused.clear()
            self._verify_now.set()

    def start(self) -> None:
        self._thread.start()
        if self.verify_every_s is not None:
            self._verifier.start()

    def _verify(self) -> None:
        """Verify the event log's chain at start and every :attr:`verify_every_s` (in its own
        thread: a long log takes seconds), saying whether it is intact."""
        assert self.verify_every_s is not None
        while not self._stopping.is_set():
            if self._paused.is_set():
                self._verify_now.wait(1.0)
                continue
            self._verify_now.clear()
            try:
                witness = read_witness(self.witness) if self.witness is not None else None
                with Store(self.store_url, migrate=False) as store:
                    result = verify_chain(store, pause_s=0.002, witness=witness)
                    if self._paused.is_set():  # locked meanwhile: what it read is not the log
                        continue
                    if self.witness is not None and result.ok:
                        advance_witness(self.witness, store)
                first = result.first_break()
                if first is not None:
                    self.signals.integrity.emit(False, first.describe())
                elif result.problems:
                    self.signals.integrity.emit(False, result.problems[0])
                else:
                    self.signals.integrity.emit(True, f"intact up to event {result.last_seq}")
            except Exception as exc:  # unreachable: the health banner says so already
                log.info("log verification not done: %s", _reason(exc))
            self._verify_now.wait(self.verify_every_s)

    def wake(self, _events: list[ev.Event] | None = None) -> None:
        """Look now (thread-safe; a service subscriber in this process calls it)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        self._verify_now.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._verifier.is_alive():
            self._verifier.join(timeout)

    def _run(self) -> None:
        store: Store | None = None
        listener: Listener | None = None
        loaded = False
        healthy = True
        while not self._stopping.is_set():
            try:
                if store is None:
                    store = Store(self.store_url)
                    listener = _listen(store.url)
                if not loaded:
                    self.signals.loaded.emit(self._load(store))
                    loaded = True
                self._poll(store)
                if not healthy:
                    healthy = True
                    self.signals.health.emit(True, "live", True)
                self._wait(listener)
            except Exception as exc:  # the database went away: say so, retry, never die
                if healthy:
                    log.warning("store feed: %s: %s; retrying", type(exc).__name__, exc)
                    cause = exc.__cause__
                    lost = unreachable(exc) or (cause is not None and unreachable(cause))
                    self.signals.health.emit(False, _reason(cause or exc), lost)
                healthy = False
                if store is not None:
                    store.close()
                    store = None
                _close_listener(listener)
                listener = None
                self._stopping.wait(1.0)
        if store is not None:
            store.close()
        _close_listener(listener)

    def _wait(self, listener: Listener | None) -> None:
        """Until new events may be there: a PostgreSQL notification (any writer, any
        machine), a wake-up from this process, or the poll interval."""
        if listener is None:
            self._wake.wait(self.poll_s)
        else:  # in short slices, so that a wake-up or a stop is heard at once
            deadline = time.monotonic() + max(self.poll_s, LISTENING_POLL_S)
            while not self._wake.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or any(
                    True for _ in listener.notifies(timeout=min(0.1, remaining), stop_after=1)
                ):
                    break
        self._wake.clear()

    def _load(self, store: Store) -> Loaded:
        loaded = load_active(store)
        self.last_seq = loaded.last_seq
        self._roles_read.update(name for state in loaded.states for name in state.acted)
        return loaded

    def _poll(self, store: Store) -> None:
        while not self._stopping.is_set():
            batch, last_seq, more = store.read_after(self.last_seq, BATCH)
            if batch:
                self._read_roles(store, batch)
            self.last_seq = last_seq  # past an event this version cannot read, too
            if batch:
                self.signals.events.emit(batch)
            if not more:
                return

    def _read_roles(self, store: Store, batch: list[ev.Event]) -> None:
        """The roles of the console users acting in ``batch`` whose role was not read yet,
        handed over before the batch (queued signals arrive in order)."""
        new = {
            e.actor.name
            for e in batch
            if e.actor.kind is ev.ActorKind.CONSOLE_USER and e.actor.name not in self._roles_read
        }
        if not new:
            return
        roles = store.user_roles(new)
        self._roles_read |= new
        if roles:
            self.signals.roles.emit(roles)


def load_active(store: Store) -> Loaded:
    """The active incidents' states and their non-position events (the log's backlog), and
    the registered roles of the console users who acted in them."""
    # The global sequence first: each state knows its own last sequence, so an event appended
    # while the states are read is applied once (ConsoleState checks both).
    last_seq = store.last_seq()
    states = []
    backlog: list[ev.Event] = []
    for summary in store.incidents():
        if summary.status != "active":
            continue
        states.append(store.state_at(summary.incident_id))
        backlog.extend(
            e
            for e in store.read(summary.incident_id, until_seq=last_seq)
            if e.type not in BACKLOG_SKIPS
        )
    backlog.sort(key=lambda e: e.seq)
    roles = store.user_roles(name for state in states for name in state.acted)
    return Loaded(states, last_seq, backlog, roles)


@dataclass(frozen=True)
class Job:
    incident_id: str
    payloads: Sequence[ev.Payload]
    actor: ev.Actor
    description: str
    #: The incident's ``last_seq`` the user saw when deciding (``None``: not checked).
    expected_seq: int | None = None


@dataclass(frozen=True)
class Registration:
    """Register the console's user in the store (name and role), before its commands."""

    name: str
    role: str


class CommandRunner:
    """Executes commands through the incident service in a worker thread (see module doc)."""

    def __init__(
        self,
        store_url: str | None,
        *,
        on_stored: Callable[[list[ev.Event]], None] | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.store_url = store_url
        self.on_stored = on_stored
        self.clock = clock
        self.signals = _Signals()
        self._jobs: queue.Queue[Job | Registration | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="commands", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(
        self,
        incident_id: str,
        payloads: Sequence[ev.Payload],
        *,
        actor: ev.Actor,
        description: str,
        expected_seq: int | None = None,
    ) -> None:
        """Queue a command. ``expected_seq``: the incident's ``last_seq`` the user decided on;
        if another console user changed what it acts on since, it is refused (``CONFLICT``)."""
        self._jobs.put(Job(incident_id, list(payloads), actor, description, expected_seq))

    def register_user(self, name: str, role: str) -> None:
        """Register the console's user in the store, in the worker thread, before any command
        queued after it (the service refuses commands of unregistered users and of roles that
        only watch)."""
        self._jobs.put(Registration(name, role))

    def stop(self, timeout: float = 10.0) -> None:
        self._jobs.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        service: IncidentService | None = None
        store: Store | None = None
        user: Registration | None = None
        while True:
            job = self._jobs.get()
            if job is None:
                break
            if isinstance(job, Registration):
                user = job
                description = f"register {job.name} as {job.role}"
            else:
                description = job.description
            try:
                if service is None:
                    store = Store(self.store_url)
                    service = IncidentService(store, clock=self.clock)
                    if self.on_stored is not None:
                        service.subscribe(self.on_stored)
                    if user is not None:  # at each (re)connection: the store may be new
                        service.store.set_user(user.name, user.role)
                elif isinstance(job, Registration):
                    service.store.set_user(job.name, job.role)
                if isinstance(job, Registration):
                    log.info("console user %s registered as %s", job.name, job.role)
                    continue
                service.execute(
                    job.incident_id,
                    job.payloads,
                    actor=job.actor,
                    source=ev.Source.CONSOLE,
                    expected_seq=job.expected_seq,
                )
            except RuleViolation as refusal:
                log.info("refused: %s: %s", description, refusal)
                self.signals.command_done.emit(description, False, str(refusal))
            except (StoreError, Exception) as exc:
                log.warning("%s failed: %s: %s", description, type(exc).__name__, exc)
                self.signals.command_done.emit(description, False, f"not stored: {error_line(exc)}")
                if store is not None:
                    store.close()
                store = service = None
            else:
                self.signals.command_done.emit(description, True, "")
        if store is not None:
            store.close()


#: The channel the store's trigger notifies on every append (PostgreSQL only).
NOTIFY_CHANNEL = "dispatch_events"


def _listen(url: str) -> Listener | None:
    """A connection listening for the store's notifications, or None (SQLite polls)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return None
    import psycopg

    # Keywords, not a URI: a login role named after its user ("Lt. Hayes") has spaces, which
    # a URI must percent-encode and SQLAlchemy's rendering does not.
    given: dict[str, str | int | None] = {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "password": parsed.password,
        "dbname": parsed.database,
        **{k: v for k, v in parsed.query.items() if isinstance(v, str)},  # sslmode=…
    }
    # The store's connection settings: an idle listener whose server or network went away is
    # noticed in seconds (keepalives), not after hours, and the feed reconnects.
    keywords = {**{k: v for k, v in given.items() if v is not None}, **PG_CONNECT_ARGS}
    conninfo = psycopg.conninfo.make_conninfo("", **keywords)
    connection = psycopg.connect(conninfo, autocommit=True)
    connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
    return connection


def _close_listener(listener: Listener | None) -> None:
    if listener is not None:
        with contextlib.suppress(Exception):
            listener.close()


def wall_clock_us() -> int:
    return time.time_ns() // 1_000


def _reason(exc: BaseException) -> str:
    """Why the store cannot be read, in a few words for the banner: the driver's first line
    without the exception classes SQLAlchemy puts before it."""
    text = str(exc).strip().splitlines()
    line = re.sub(r"^(\([\w.]+\)\s*)+", "", text[0]) if text else ""
    line = re.sub(r"\s*\(Background on this error.*$", "", line)
    return (line or type(exc).__name__)[:160]
