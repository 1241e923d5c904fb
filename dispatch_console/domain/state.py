"""Incident state: what the fold of an incident's events produces.

Mutable ``msgspec`` structs: the fold updates them in place (fast), and a snapshot is just the
state encoded with msgpack (safe to decode, unlike pickle, and exact). Nothing here reads a
clock: questions that depend on "now" (is this position stale?) take the instant as an argument,
so the same code answers for the live console and for replay at any second.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import NamedTuple

import msgspec

from dispatch_console.domain.events import (
    COMMANDER_ROLE,
    WARNING_PRIORITY,
    AlertType,
    ArrivalPlace,
    AssignmentTask,
    Attire,
    BroadcastKind,
    DirectiveDetails,
    DirectiveKind,
    Duty,
    Geometry,
    IdentificationMethod,
    IncidentStatus,
    PerimeterKind,
    RosterVerdict,
    SuspectDescription,
    WarningKind,
)
from dispatch_console.domain.lifecycle import RESPONDING, ResponderStatus

#: Positions kept on the responder in state (for heading and a short tail); full trails come
#: from the event store for a time window.
TRACK_LIMIT = 5

#: The domain's default stale time when a feed gives none.
DEFAULT_STALE_US = 30_000_000


class Position(msgspec.Struct, array_like=True, gc=False):
    lat: float
    lon: float
    at_us: int
    stale_at_us: int
    accuracy_m: float | None = None
    speed_mps: float | None = None
    heading_deg: float | None = None

    def is_stale(self, now_us: int) -> bool:
        return now_us >= self.stale_at_us


class Alert(msgspec.Struct):
    alert_id: str
    school_id: str
    alert_type: AlertType
    activated_at_us: int
    received_at_us: int
    activated_by_name: str | None = None
    activated_by_role: str | None = None
    location_detail: str | None = None
    message: str | None = None
    acknowledged_at_us: int | None = None
    acknowledged_by: str | None = None


class SuspectRevision(msgspec.Struct):
    rev: int
    revised_at_us: int
    revised_by: str
    description: SuspectDescription


class StagingArea(msgspec.Struct):
    staging_area_id: str
    name: str
    geometry: Geometry
    radius_m: float | None = None
    manager: str | None = None
    capacity: int | None = None


class Perimeter(msgspec.Struct):
    perimeter_id: str
    kind: PerimeterKind
    geometry: Geometry
    radius_m: float | None = None


class CheckInPoint(msgspec.Struct):
    name: str
    lon: float
    lat: float


class Identification(msgspec.Struct):
    method: IdentificationMethod
    verifier: str
    at_us: int
    team: str | None = None


class Equipment(msgspec.Struct):
    radio_id: str | None = None
    radio_channel: str | None = None
    marking: str | None = None


class Assignment(msgspec.Struct):
    task: AssignmentTask
    team: str
    at_us: int
    by: str
    location: str | None = None
    radio_channel: str | None = None
    report_to: str | None = None


class Directive(msgspec.Struct):
    directive_id: str
    responder_id: str
    device_id: str
    kind: DirectiveKind
    text: str
    queued_at_us: int
    staging_area_id: str | None = None
    delivered_at_us: int | None = None
    delivered_via: str | None = None
    acknowledged_at_us: int | None = None
    broadcast_id: str | None = None
    details: DirectiveDetails | None = None


class Broadcast(msgspec.Struct):
    broadcast_id: str
    kind: BroadcastKind
    text: str
    sent_at_us: int
    sent_by: str
    staging_area_id: str | None = None
    #: The directive of each responder it went to.
    directive_ids: list[str] = msgspec.field(default_factory=list)


class AlertGate(msgspec.Struct):
    """An agency's off-duty and retired officers held until a dispatcher releases their alert
    (or it is released automatically at ``release_at_us``)."""

    agency: str
    held_at_us: int
    device_ids: list[str] = msgspec.field(default_factory=list)
    release_at_us: int | None = None
    released_at_us: int | None = None
    released_by: str | None = None
    automatic: bool = False

    @property
    def open(self) -> bool:
        return self.released_at_us is None

    def seconds_left(self, now_us: int) -> float | None:
        """Seconds to the automatic release (None: no automatic release, or released)."""
        if not self.open or self.release_at_us is None:
            return None
        return max(0.0, (self.release_at_us - now_us) / 1_000_000)


class IncidentWarning(msgspec.Struct):
    """A friendly-fire warning: active while ``ended_at_us`` is None."""

    warning_id: str
    kind: WarningKind
    responder_id: str
    detail: str
    raised_at_us: int
    matched_fields: tuple[str, ...] = ()
    acknowledged_at_us: int | None = None
    acknowledged_by: str | None = None
    ended_at_us: int | None = None
    end_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.ended_at_us is None

    @property
    def priority(self) -> int:
        return WARNING_PRIORITY[self.kind]


class Par(msgspec.Struct):
    """A personnel accountability report (roll call)."""

    par_id: str
    started_at_us: int
    started_by: str
    responder_ids: list[str]
    #: responder id -> when they were marked accounted for.
    accounted: dict[str, int] = msgspec.field(default_factory=dict)
    ended_at_us: int | None = None

    @property
    def unaccounted(self) -> list[str]:
        return [r for r in self.responder_ids if r not in self.accounted]


class CommandPeriod(msgspec.Struct):
    """One incident commander's time in command: from ``since_us`` until ``until_us`` (None:
    in command now). ``how``: ``established``, ``assumed`` (acted as IC before anyone
    established command) or ``transferred`` (handed over by ``from_commander``)."""

    commander: str
    since_us: int
    how: str
    by: str
    command_post: str | None = None
    lon: float | None = None
    lat: float | None = None
    from_commander: str | None = None
    reason: str | None = None
    until_us: int | None = None


class Acts(msgspec.Struct):
    """A console user's acts in an incident: the first and the last (event time), how many."""

    first_us: int
    last_us: int
    count: int = 1


class ActingCommander(NamedTuple):
    """A console user registered as incident commander who acted in an incident where nobody
    established command (older records, before command was recorded as events): the acting
    incident commander, from their first act to their last."""

    name: str
    first_us: int
    last_us: int
    acts: int


class Responder(msgspec.Struct):
    responder_id: str
    device_id: str
    notified_at_us: int
    status: ResponderStatus = ResponderStatus.NOTIFIED
    status_since_us: int = 0
    self_dispatched: bool = False
    name: str | None = None
    agency: str | None = None
    badge: str | None = None
    callsign: str | None = None
    duty: Duty | None = None
    has_radio: bool | None = None
    attire: Attire | None = None
    roster_verdict: RosterVerdict | None = None
    roster_name: str | None = None
    roster_reason: str | None = None
    acknowledged_at_us: int | None = None
    en_route_at_us: int | None = None
    arrived_at_us: int | None = None
    arrived_place: ArrivalPlace | None = None
    directed_to: str | None = None
    directed_at_us: int | None = None
    staging_area_id: str | None = None
    identification: Identification | None = None
    equipment: Equipment | None = None
    assignment: Assignment | None = None
    released_at_us: int | None = None
    #: Perimeters (ids) the responder is inside, as the geofence last detected.
    inside_perimeters: list[str] = msgspec.field(default_factory=list)
    position: Position | None = None
    track: list[Position] = msgspec.field(default_factory=list)

    @property
    def display_name(self) -> str:
        return self.callsign or self.name or self.responder_id

    @property
    def identified(self) -> bool:
        return self.identification is not None

    @property
    def team(self) -> str | None:
        """The team: the assignment's, else the one given at check-in."""
        if self.assignment is not None:
            return self.assignment.team
        return self.identification.team if self.identification is not None else None

    @property
    def radio_channel(self) -> str | None:
        """The radio channel the responder was last told: the assignment's, else the one
        issued at check-in."""
        if self.assignment is not None and self.assignment.radio_channel:
            return self.assignment.radio_channel
        return self.equipment.radio_channel if self.equipment is not None else None

    @property
    def plainclothes(self) -> bool:
        return self.attire is not None and not self.attire.uniform

    @property
    def unverified(self) -> bool:
        """Not known to be a sworn or retired officer: not on any roster, or not checked yet."""
        return self.roster_verdict not in ("sworn_active", "retired")

    @property
    def arrived_not_checked_in(self) -> bool:
        return self.status in (ResponderStatus.AT_STAGING, ResponderStatus.ON_SCENE)

    def is_stale(self, now_us: int) -> bool:
        return self.position is None or self.position.is_stale(now_us)


class IncidentState(msgspec.Struct):
    incident_id: str
    school_id: str = ""
    school_name: str = ""
    incident_type: AlertType = "other"
    lon: float = 0.0
    lat: float = 0.0
    exercise: bool = False
    opened: bool = False
    opened_at_us: int = 0
    status: IncidentStatus = "active"
    status_changed_at_us: int = 0
    #: The incident commander now (None: command not established).
    commander: str | None = None
    #: Who held command when, oldest first (the last one holds it now).
    command: list[CommandPeriod] = msgspec.field(default_factory=list)
    #: Console users who acted in the incident (by name): their first and last act.
    acted: dict[str, Acts] = msgspec.field(default_factory=dict)
    alerts: dict[str, Alert] = msgspec.field(default_factory=dict)
    suspect_revisions: list[SuspectRevision] = msgspec.field(default_factory=list)
    staging_areas: dict[str, StagingArea] = msgspec.field(default_factory=dict)
    perimeters: dict[str, Perimeter] = msgspec.field(default_factory=dict)
    check_in_point: CheckInPoint | None = None
    responders: dict[str, Responder] = msgspec.field(default_factory=dict)
    directives: dict[str, Directive] = msgspec.field(default_factory=dict)
    broadcasts: dict[str, Broadcast] = msgspec.field(default_factory=dict)
    #: Every warning raised (active and ended), by id.
    warnings: dict[str, IncidentWarning] = msgspec.field(default_factory=dict)
    #: Roll calls, oldest first (the last one may be running).
    pars: list[Par] = msgspec.field(default_factory=list)
    #: Agency response rules applied (agency -> (version, rules JSON)), in the order applied.
    rules_in_force: dict[str, tuple[int, str]] = msgspec.field(default_factory=dict)
    #: Dispatcher gates, by agency.
    gates: dict[str, AlertGate] = msgspec.field(default_factory=dict)
    #: Sequence number, count and received time of the last event folded in.
    last_seq: int = 0
    event_count: int = 0
    last_received_at_us: int = 0
    last_event_at_us: int = 0

    @property
    def suspect(self) -> SuspectRevision | None:
        return self.suspect_revisions[-1] if self.suspect_revisions else None

    @property
    def command_post(self) -> str | None:
        return self.command[-1].command_post if self.command else None

    def acting_commanders(self, roles: Mapping[str, str]) -> list[ActingCommander]:
        """While nobody has established command: the console users registered (``roles``:
        name -> role) as incident commander who acted, first to act first. Empty once command
        is established (the record then says who held it, from when)."""
        if self.command:
            return []
        found = [
            ActingCommander(name, acts.first_us, acts.last_us, acts.count)
            for name, acts in self.acted.items()
            if roles.get(name) == COMMANDER_ROLE
        ]
        return sorted(found, key=lambda a: (a.first_us, a.name))

    def commander_at(self, t_us: int) -> str | None:
        """Who held command at ``t_us`` (None: nobody had established it by then)."""
        holder = None
        for period in self.command:
            if period.since_us > t_us:
                break
            holder = period.commander
        return holder

    @property
    def closed(self) -> bool:
        return self.status != "active"

    def active_warnings(self) -> list[IncidentWarning]:
        """Active warnings, highest priority first, then oldest first."""
        active = [w for w in self.warnings.values() if w.ended_at_us is None]
        return sorted(active, key=lambda w: (w.priority, w.raised_at_us, w.warning_id))

    @property
    def par(self) -> Par | None:
        """The roll call running now, if any."""
        return self.pars[-1] if self.pars and self.pars[-1].ended_at_us is None else None

    def last_directive(self, responder_id: str, kind: DirectiveKind) -> Directive | None:
        """The newest directive of ``kind`` sent to the responder (how far it got: delivered,
        acknowledged), or None."""
        found = None
        for d in self.directives.values():  # in the order queued
            if d.responder_id == responder_id and d.kind == kind:
                found = d
        return found

    def pending_directives(self, device_id: str) -> list[Directive]:
        """Directives for ``device_id`` not yet acknowledged, oldest first."""
        return [
            d
            for d in self.directives.values()
            if d.device_id == device_id and d.acknowledged_at_us is None
        ]

    def counts(self, now_us: int) -> dict[str, int]:
        """The incident header's counts at ``now_us``."""
        by_status = dict.fromkeys((s.value for s in ResponderStatus), 0)
        self_dispatched = stale = arrived_not_checked_in = unverified = plainclothes = 0
        for r in self.responders.values():
            by_status[r.status.value] += 1
            self_dispatched += r.self_dispatched
            arrived_not_checked_in += r.arrived_not_checked_in
            if r.status in RESPONDING:
                stale += r.is_stale(now_us)
                unverified += r.unverified
                plainclothes += r.plainclothes
        acknowledged = sum(1 for r in self.responders.values() if r.acknowledged_at_us is not None)
        return {
            **by_status,
            "still_notified": by_status["notified"],
            "notified": len(self.responders),
            "acknowledged": acknowledged,
            "self_dispatched": self_dispatched,
            "arrived_not_checked_in": arrived_not_checked_in,
            "stale_responding": stale,
            "unverified_responding": unverified,
            "plainclothes_responding": plainclothes,
        }


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(IncidentState)

#: Bumped whenever the shape of the state or its encoding changes: snapshots of another
#: format are ignored (they are a cache; the events are the truth).
STATE_FORMAT = 7


def encode_state(state: IncidentState) -> bytes:
    """msgpack, then zlib at its fastest level (a 2,000-responder state: ~1 MB to ~0.3 MB)."""
    return compress_state(encode_state_uncompressed(state))


def encode_state_uncompressed(state: IncidentState) -> bytes:
    """The first half of :func:`encode_state` (a copy of the state as it is now)."""
    return _encoder.encode(state)


def compress_state(raw: bytes) -> bytes:
    """The second half of :func:`encode_state` (zlib lets go of the GIL while it works)."""
    return zlib.compress(raw, 1)


def decode_state(blob: bytes) -> IncidentState:
    return _decoder.decode(zlib.decompress(blob))


_responder_decoder = msgspec.msgpack.Decoder(Responder)


def copy_state(state: IncidentState) -> IncidentState:
    """A deep copy that shares nothing with ``state`` (msgpack there and back: no zlib)."""
    return _decoder.decode(_encoder.encode(state))


def copy_responder(responder: Responder) -> Responder:
    """A deep copy of one responder's record."""
    return _responder_decoder.decode(_encoder.encode(responder))
