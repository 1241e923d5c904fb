"""What every part of the gateway's logic shares: its clock, its reference caches, the incident
service, the position pipeline, TAK out, and the rejection log.

Everything here runs on ONE thread (the gateway's writer), so the live incident states need no
further locking and checks such as "was this message id stored already?" cannot race within a
process. HTTP handlers and CoT listeners hand their work to that thread and wait for its reply,
which is given only after the events are durably stored.

The logic is split by concern, one module each:

- :mod:`~dispatch_console.feeds.reference`: reference caches (devices, schools, roster, radii);
- :mod:`~dispatch_console.feeds.positions`: the one position pipeline (routing, joining a
  nearby incident, last-known position, staleness), for HTTP and CoT alike;
- :mod:`~dispatch_console.feeds.routes`: the HTTP routes (activations, notified lists, device
  messages in group commits, directives); new routes (CAP, EIDO...) go beside them;
- :mod:`~dispatch_console.feeds.outage`: what is answered while the store is unreachable (the
  durable journal itself is :mod:`~dispatch_console.feeds.journal`);
- :mod:`~dispatch_console.feeds.tak_out`: directives to TAK devices as CoT;
- :mod:`~dispatch_console.feeds.rejections`: the rejection log, aggregated and bounded per
  source (every refusal names the sender's address: :meth:`GatewayBase.from_peer`);
- :mod:`~dispatch_console.feeds.identity` and :mod:`~dispatch_console.feeds.ca`: which CoT
  reports are admitted (uid caps; a device enrolled with a certificate is heard only on its own
  TLS connection), applied by the position pipeline whatever the transport;
- :mod:`~dispatch_console.feeds.core`: :class:`GatewayCore`, all of them together, plus
  authentication and the CoT entry points the transports call.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from dispatch_console.domain import events as ev
from dispatch_console.domain.state import IncidentState
from dispatch_console.domain.timeutil import parse_iso
from dispatch_console.feeds import contract as c
from dispatch_console.feeds.keys import KeyRing, SecretBox
from dispatch_console.feeds.positions import PositionPipeline, time_problem
from dispatch_console.feeds.reference import GATEWAY, ReferenceCache
from dispatch_console.feeds.rejections import RejectionLog
from dispatch_console.feeds.tak_out import TakOut
from dispatch_console.service import IncidentService
from dispatch_console.store import Store, unreachable
from dispatch_console.store.registry import Rejection, excerpt_of
from dispatch_console.store.store import wall_clock_us

log = logging.getLogger("dispatch_console.feeds.core")

__all__ = ["GATEWAY", "GatewayBase", "Reply", "error"]

#: Rejections kept in memory before they are written at once (else a few times a second).
REJECTIONS_FLUSH_AT = 200


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]


def error(status: int, message: str, field: str | None = None) -> Reply:
    body: dict[str, Any] = {"error": message}
    if field is not None:
        body["field"] = field
    return Reply(status, body)


class GatewayBase:
    def __init__(
        self,
        store: Store,
        box: SecretBox,
        *,
        clock: Callable[[], int] = wall_clock_us,
    ) -> None:
        self.store = store
        self._wall_clock = clock
        #: While a journaled message is forwarded: the time it was received (see ``received_at``).
        self._received_us: int | None = None
        #: The incident the last activation was to open (its id is promised if the store went
        #: away while it was being stored: it may be stored under that id).
        self.attempted_incident_id: str | None = None
        self.service = IncidentService(store, clock=self.clock)
        self.keys = KeyRing(store.key, box)
        self.reference = ReferenceCache(store)
        self.positions = PositionPipeline(self.service, self.reference, self.clock)
        self.tak = TakOut(self.service, self.reference, clock=self.clock, wall_clock=clock)
        #: Refusals, aggregated and bounded per source (:mod:`~.rejections`).
        self.rejections = RejectionLog()
        #: The address of the request being handled (every rejection names it); see
        #: :meth:`from_peer`.
        self.peer: str | None = None
        self.listeners: list[Callable[[list[ev.Event]], None]] = []
        self.service.subscribe(self._published)
        self.service.load_active()

    @property
    def offline(self) -> bool:
        """The store is known to be down (set by the gateway): reference data comes from the
        copies read last, without asking the store (each try could take seconds)."""
        return self.reference.offline

    @offline.setter
    def offline(self, value: bool) -> None:
        self.reference.offline = value

    def clock(self) -> int:
        """Now; or, while a journaled message is forwarded, when it was received."""
        received = self._received_us
        return self._wall_clock() if received is None else received

    @contextlib.contextmanager
    def received_at(self, at_us: int) -> Iterator[None]:
        """Handle a message as at ``at_us``, when it was received and journaled: its
        signature's age, its times and the events it makes are judged as they would have been."""
        self._received_us = at_us
        try:
            yield
        finally:
            self._received_us = None

    @contextlib.contextmanager
    def from_peer(self, peer: str | None) -> Iterator[None]:
        """Handle a request from ``peer``: any refusal meanwhile names that address."""
        before, self.peer = self.peer, peer
        try:
            yield
        finally:
            self.peer = before

    # --- incidents held here ------------------------------------------------------------------

    def active_incident_at(
        self, school_id: str, exercise: bool | None = None
    ) -> IncidentState | None:
        """The open incident at ``school_id``; with ``exercise`` given, only a live one
        (``False``) or only an exercise (``True``): a real alert never joins a drill."""
        for state in self.service.live_incidents():
            if (
                state.opened
                and not state.closed
                and state.school_id == school_id
                and (exercise is None or state.exercise == exercise)
            ):
                return state
        return None

    def _incidents_with(self, device_id: str) -> list[IncidentState]:
        """Every incident held here in which this device's responder is, open or closed."""
        return [s for s in self.service.live_incidents() if device_id in s.responders]

    def incidents_of(self, device_id: str) -> list[IncidentState]:
        """Active incidents in which this device's responder was notified."""
        return [
            s
            for s in self.service.live_incidents()
            if s.opened and not s.closed and device_id in s.responders
        ]

    def _held(self, incident_id: str) -> IncidentState | None:
        """The incident's state, if this gateway holds it in memory (never read from the
        store: a request about an incident nobody alerted must not load one)."""
        return next(
            (s for s in self.service.live_incidents() if s.incident_id == incident_id), None
        )

    # --- the rejection log and the periodic writes ----------------------------------------------

    def reject(self, transport: str, sender: str, reason: str, data: bytes | str) -> None:
        if self.peer and "@" not in sender:  # the address too, whatever refused it
            sender = f"{sender}@{self.peer}"
        reason = excerpt_of(reason, 500)  # a sender's bytes never reach a terminal raw
        sender = excerpt_of(sender, 200)
        rejection = Rejection(self.clock(), transport, sender, reason, excerpt_of(data))
        if self.rejections.add(rejection):  # the first from its source: the rest are counted
            log.warning("rejected %s message from %s: %s", transport, sender, reason)
        if self.rejections.waiting >= REJECTIONS_FLUSH_AT and not self.offline:
            try:
                self.flush()
            except Exception as exc:  # kept for the next flush; the refusal stands
                if not unreachable(exc):
                    raise

    def flush(self) -> None:
        """Write coalesced device positions and the rejection log (called a few times a second
        and on shutdown)."""
        positions = self.positions.take_last_known()
        if positions:
            try:
                self.store.record_device_positions(positions)
            except Exception:
                self.positions.keep(positions)  # kept for the next try
                raise
        self.rejections.write(self.store, self.clock())  # kept for the next flush if it fails

    # --- helpers ------------------------------------------------------------------------------

    def _time(self, text: str, field_path: str) -> int:
        try:
            at_us = parse_iso(text)
        except ValueError as bad:
            raise c.BodyError(str(bad), field_path) from None
        problem = time_problem(at_us, self.clock())
        if problem is not None:
            raise c.BodyError(problem, field_path)
        return at_us

    def _bad(self, transport: str, sender: str, bad: c.BodyError, body: bytes) -> Reply:
        self.reject(transport, sender, f"400: {bad.error} at {bad.field}", body)
        return error(400, bad.error, bad.field)

    def _already_stored(self, idempotency_key: str) -> str | None:
        """The incident of an event stored under this key, if there is one."""
        return self.store.incident_of_key(idempotency_key)

    def _published(self, events: list[ev.Event]) -> None:
        for listener in self.listeners:
            listener(events)
