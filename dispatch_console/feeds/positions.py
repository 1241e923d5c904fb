"""One position pipeline: a device's position is one fact whatever transport brought it.

HTTP device messages and Cursor-on-Target reports (UDP, TCP, TLS) both come here as a
:class:`Fix`, in a :class:`PositionBatch` (one per HTTP group commit or CoT batch). This module
alone decides, for every transport alike:

- **the sender's time** (:func:`time_problem`): before 2000 or more than 5 minutes ahead is
  refused;
- **staleness** (:func:`stale_of`): a stated stale time is kept within ``[at, at + 10 min]``,
  none stated means :data:`~dispatch_console.domain.state.DEFAULT_STALE_US`;
- **who may report for a uid** (:meth:`PositionPipeline.admit`, see
  :mod:`~dispatch_console.feeds.identity`): a uid and a callsign within their length caps; on a
  TLS connection, only the uid its client certificate proves; on plain CoT (UDP, TCP), never the
  uid of a device enrolled with a certificate;
- **routing**: who reports (a registered device, by its id or its TAK uid; an unregistered TAK
  uid) and which active incidents its positions go to, worked out once per responder and batch;
- **joining**: a registered device reporting from within the notification radius of an active
  incident it was never alerted to joins it (``unsolicited``, with its profile and roster
  verdict); an unregistered TAK uid near one shows there as UNVERIFIED, at most
  :data:`MAX_UNREGISTERED_PER_INCIDENT` per incident;
- **last-known position**: the newest report of each registered device wins (a clock running
  ahead is capped at now); it is what alerts the device to the next incident.

The caller stores ``batch.commands`` and ``batch.reports`` in one durable transaction
(:meth:`IncidentService.record_positions`). Per report no ``Command`` is made, and the work per
batch is proportional to the reports in it and the incidents open, never to past positions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dispatch_console.domain import events as ev
from dispatch_console.domain.fold import CLOCK_TOLERANCE_US
from dispatch_console.domain.geometry import near_distance_m
from dispatch_console.domain.state import DEFAULT_STALE_US, IncidentState
from dispatch_console.domain.timeutil import US_PER_S
from dispatch_console.feeds.cot.parse import CotPosition
from dispatch_console.feeds.identity import Reject, admitted
from dispatch_console.feeds.reference import GATEWAY, ReferenceCache
from dispatch_console.service import Command, IncidentService, PositionFields, PositionReport
from dispatch_console.store.registry import Device

#: Sender times further than this in the future are refused (a device clock gone wrong).
MAX_FUTURE_US = 300 * US_PER_S
#: Reports before this are from a device whose clock was never set.
EARLIEST_US = 946_684_800 * US_PER_S
#: The longest a position stays current without a newer report.
MAX_STALE_WINDOW_US = 600 * US_PER_S
#: Unregistered TAK contacts added to one incident at most (each is an UNVERIFIED responder);
#: past that, a flood of made-up uids is refused instead of burying the real responders.
MAX_UNREGISTERED_PER_INCIDENT = 200


def time_problem(at_us: int, now_us: int) -> str | None:
    """Why a sender's time is refused, or None (the same rule for every transport)."""
    if at_us < EARLIEST_US:
        return "time is before the year 2000 (clock never set)"
    if at_us > now_us + MAX_FUTURE_US:
        return "time is more than 5 minutes in the future"
    return None


def stale_of(at_us: int, stale_us: int | None) -> int:
    """When a position stops being current: as stated, within ``[at, at + 10 min]`` (a stale
    time before the time is stale at once; a window of days, as some clients send, is capped);
    none stated: :data:`DEFAULT_STALE_US` after it."""
    if stale_us is None:
        return at_us + DEFAULT_STALE_US
    if stale_us < at_us:
        return at_us
    if stale_us > at_us + MAX_STALE_WINDOW_US:
        return at_us + MAX_STALE_WINDOW_US
    return stale_us


@dataclass(slots=True)
class Route:
    """Who one responder is and where its positions go, worked out once per batch."""

    responder_id: str
    actor: ev.Actor
    device: Device | None
    #: Registered: the active incidents it is a responder of (joined ones added on the way).
    member: list[IncidentState] = field(default_factory=list)
    #: Registered: the active incidents it may join by reporting from near them.
    others: list[IncidentState] = field(default_factory=list)
    #: Unregistered: the incidents in which this batch made it an UNVERIFIED responder.
    contacted: set[str] = field(default_factory=set)


@dataclass(slots=True)
class PositionBatch:
    """The positions of one group, and the joins they bring about (stored first)."""

    open_states: list[IncidentState]
    #: The gateway's clock when the batch began (one reading for all its reports).
    now_us: int
    commands: list[Command] = field(default_factory=list)
    reports: list[PositionReport] = field(default_factory=list)
    routes: dict[str, Route] = field(default_factory=dict)


class PositionPipeline:
    """Routing, joining, last-known position and staleness for every transport."""

    def __init__(
        self, service: IncidentService, reference: ReferenceCache, clock: Callable[[], int]
    ) -> None:
        self.service = service
        self.reference = reference
        self.clock = clock
        #: The newest position of each registered device not yet written to the registry.
        self.last_known: dict[str, tuple[str, float, float, int]] = {}
        self.unregistered_count: dict[str, int] = {}

    def batch(self) -> PositionBatch:
        return PositionBatch(
            [s for s in self.service.live_incidents() if s.opened and not s.closed], self.clock()
        )

    # --- who may report -----------------------------------------------------------------------

    def admit(
        self,
        positions: Sequence[tuple[CotPosition, str]],
        transport: str,
        reject: Reject,
        proven: tuple[str, str | None] | None = None,
    ) -> list[tuple[CotPosition, str]]:
        """The CoT reports that may be routed; the others are refused through ``reject``.
        ``proven``: ``(device id, its TAK uid)`` that the connection's client certificate
        proves (None: plain CoT, whatever its transport)."""
        return admitted(
            positions, transport, reject, enrolled=self.reference.enrolled(), proven=proven
        )

    # --- routing ------------------------------------------------------------------------------

    def route_device(self, batch: PositionBatch, device: Device) -> Route:
        route = batch.routes.get(device.device_id)
        if route is None:
            route = batch.routes[device.device_id] = self._registered(device, batch)
        return route

    def route_uid(self, batch: PositionBatch, uid: str) -> Route:
        """Who reports as TAK ``uid`` (a registered device, or an unregistered contact)."""
        key = f"tak:{uid}"
        route = batch.routes.get(key)
        if route is None:
            device = self.reference.device_for_tak_uid(uid)
            if device is None:
                route = Route(key, ev.Actor(ev.ActorKind.DEVICE, key), None)
            else:
                route = self.route_device(batch, device)
            batch.routes[key] = route
        return route

    def _registered(self, device: Device, batch: PositionBatch) -> Route:
        responder_id = device.device_id
        route = Route(responder_id, ev.Actor(ev.ActorKind.DEVICE, responder_id), device)
        for state in batch.open_states:
            (route.member if responder_id in state.responders else route.others).append(state)
        return route

    # --- one position ---------------------------------------------------------------------------

    def add(
        self,
        batch: PositionBatch,
        route: Route,
        fields: PositionFields,
        key: str,
        *,
        per_incident_keys: bool,
        callsign: str | None = None,
        uid: str = "",
    ) -> int:
        """Route one position (``fields.responder_id`` is the route's): remember it as the
        last known, join nearby incidents, and add a report per incident it goes to. ``key``:
        the report's idempotency key (``key:incident`` for every incident with
        ``per_incident_keys``, else for all but the first). Returns the reports added."""
        at_us = fields.at_us
        lon, lat = fields.lon, fields.lat
        if route.device is not None:
            self.remember(route.responder_id, lon, lat, at_us, batch.now_us)
            if route.others:
                self._join_near(batch, route, lon, lat, at_us)
            targets = route.member
        else:
            targets = self._contact_near(batch, route, lon, lat, callsign, uid)
        reports = batch.reports
        actor = route.actor
        feed = ev.Source.FEED
        for n, state in enumerate(targets):
            incident_id = state.incident_id
            report_key = key if n == 0 and not per_incident_keys else f"{key}:{incident_id}"
            reports.append(PositionReport(incident_id, actor, feed, fields, report_key))
        return len(targets)

    def remember(
        self, device_id: str, lon: float, lat: float, at_us: int, now_us: int | None = None
    ) -> None:
        """The newest report wins, whatever order reports arrive in (a clock running ahead is
        capped at now, so it cannot hold the last known position). ``now_us``: the clock's
        reading, if the caller has one."""
        latest = (self.clock() if now_us is None else now_us) + CLOCK_TOLERANCE_US
        capped = at_us if at_us < latest else latest
        known = self.last_known.get(device_id)
        if known is None or known[3] < capped:
            self.last_known[device_id] = (device_id, lon, lat, capped)

    def take_last_known(self) -> list[tuple[str, float, float, int]]:
        """The positions to write to the registry (given back with :meth:`keep` if that
        fails)."""
        taken = list(self.last_known.values())
        self.last_known.clear()
        return taken

    def keep(self, positions: Sequence[tuple[str, float, float, int]]) -> None:
        for device_id, lon, lat, at_us in positions:
            known = self.last_known.get(device_id)
            if known is None or known[3] < at_us:
                self.last_known[device_id] = (device_id, lon, lat, at_us)

    # --- joining --------------------------------------------------------------------------------

    def _join_near(
        self, batch: PositionBatch, route: Route, lon: float, lat: float, at_us: int
    ) -> None:
        """A registered device that reports from near an active incident it was never alerted
        to (registered later, or the school's own list left it out) joins that incident as an
        unsolicited responder, with its claimed identity and roster verdict: an armed officer
        the incident commander cannot see is worse than one listed as self-dispatched."""
        device = route.device
        assert device is not None
        for state in [s for s in route.others if self.near(s, lon, lat)]:
            batch.commands.extend(self.join_commands(state, device, at_us))
            route.others.remove(state)
            route.member.append(state)

    def join_commands(self, state: IncidentState, device: Device, at_us: int) -> list[Command]:
        notified = ev.ResponderNotified(device.device_id, device.device_id, "unsolicited")
        commands = [Command(state.incident_id, notified, GATEWAY, ev.Source.FEED, at_us)]
        if device.profile:
            commands.extend(
                self.reference.profile_commands(
                    state.incident_id, device.device_id, device.profile, at_us
                )
            )
        return commands

    def _contact_near(
        self,
        batch: PositionBatch,
        route: Route,
        lon: float,
        lat: float,
        callsign: str | None,
        uid: str,
    ) -> list[IncidentState]:
        """The active incidents near an unregistered uid's report, where it shows as an
        UNVERIFIED responder (made one on its first report there, within the limit)."""
        targets = []
        responder_id = route.responder_id
        for state in batch.open_states:
            if not self.near(state, lon, lat):
                continue
            incident_id = state.incident_id
            if responder_id not in state.responders and incident_id not in route.contacted:
                unregistered = self.unregistered_count.get(incident_id, 0)
                if unregistered >= MAX_UNREGISTERED_PER_INCIDENT:
                    continue
                self.unregistered_count[incident_id] = unregistered + 1
                route.contacted.add(incident_id)
                batch.commands.extend(
                    _unregistered_contact(state, responder_id, callsign, uid, self.clock())
                )
            targets.append(state)
        return targets

    def near(self, state: IncidentState, lon: float, lat: float) -> bool:
        """Within the notification radius of the incident's school. An equirectangular
        distance is far cheaper than a projection and within a few metres of it at these
        ranges; the radius is what matters here, not the metre."""
        distance = near_distance_m(state.lon, state.lat, lon, lat)
        return distance <= self.reference.radius(state.school_id)


def _unregistered_contact(
    state: IncidentState, responder_id: str, callsign: str | None, uid: str, now_us: int
) -> list[Command]:
    """A TAK contact whose uid no device is registered with shows as UNVERIFIED (as of when
    the gateway saw it)."""
    at = state.incident_id
    feed = ev.Source.FEED
    return [
        Command(at, ev.ResponderNotified(responder_id, responder_id, "unregistered"), GATEWAY,
                feed, now_us),
        Command(at, ev.ResponderProfileReported(responder_id, callsign=callsign), GATEWAY,
                feed, now_us),
        Command(
            at,
            ev.ResponderRosterChecked(
                responder_id, "not_on_roster", None, None, None,
                f"TAK uid {uid} is not registered to any device",
            ),
            GATEWAY,
            feed,
            now_us,
        ),
    ]  # fmt: skip
