"""Events: the one record of every change.

An :class:`Event` is immutable. The store gives it its sequence number and received time;
everything else (incident, event time, actor, source, type, payload) is decided by whoever
made the change. Live state, replay and the audit trail are all folds of the same events.

Payloads are typed ``msgspec`` structs, one per event type, so a stored event is validated
when it is decoded and the fold never sees a malformed payload.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from enum import StrEnum
from typing import Any, ClassVar, Literal, get_args

import msgspec


class ActorKind(StrEnum):
    CONSOLE_USER = "console_user"
    DEVICE = "device"
    SYSTEM = "system"


class Source(StrEnum):
    FEED = "feed"
    CONSOLE = "console"
    SIMULATOR = "simulator"
    IMPORT = "import"


class Actor(msgspec.Struct, frozen=True, gc=False):
    """Who made a change: a console user (by name), a device (by id) or the system."""

    kind: ActorKind
    name: str

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.name}"

    @classmethod
    def parse(cls, text: str) -> Actor:
        kind, _, name = text.partition(":")
        return cls(ActorKind(kind), name)


SYSTEM = Actor(ActorKind.SYSTEM, "dispatch-console")


class Payload(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True, gc=False
):
    """Base of every payload. ``TYPE`` is the event type it belongs to."""

    TYPE: ClassVar[str] = ""


# --- shared value types --------------------------------------------------------------------

#: What a console user may be (issue: several consoles, one incident).
Role = Literal["dispatcher", "incident commander", "observer", "trainer"]
ROLES: tuple[Role, ...] = get_args(Role)
#: Roles that may change an incident (the others watch; the service refuses their events).
COMMANDING_ROLES: frozenset[str] = frozenset({"dispatcher", "incident commander"})
#: The role whose acts, where nobody established command, make its holder the acting IC.
COMMANDER_ROLE: Role = "incident commander"

AlertType = Literal["active_shooter", "lockdown", "medical", "fire", "other"]
IncidentStatus = Literal["active", "all_clear", "cancelled"]
Duty = Literal["on", "off"]
VisibleId = Literal["raid_jacket", "vest", "badge_on_belt", "none"]
RosterVerdict = Literal["sworn_active", "retired", "not_on_roster"]
PerimeterKind = Literal["inner", "outer"]
ArrivalPlace = Literal["staging", "scene"]
IdentificationMethod = Literal[
    "credentials_in_person",
    "known_personally",
    "agency_confirmed_by_phone",
    "agency_confirmed_by_radio",
]
AssignmentTask = Literal[
    "contact_team", "rescue_task_force", "perimeter_post", "traffic", "reunification", "other"
]


class Attire(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Uniform, or plainclothes with what a colleague would see of them."""

    uniform: bool
    top_color: str | None = None
    top_type: str | None = None
    bottom_color: str | None = None
    headwear: str | None = None
    visible_id: VisibleId | None = None

    @property
    def plainclothes(self) -> bool:
        return not self.uniform

    def describe(self) -> str:
        if self.uniform:
            return "uniform"
        parts = [
            " ".join(p for p in (self.top_color, self.top_type) if p),
            " ".join(p for p in (self.bottom_color, "pants" if self.bottom_color else None) if p),
            self.headwear or "",
            f"ID: {(self.visible_id or '').replace('_', ' ')}"
            if self.visible_id not in (None, "none")
            else "no visible ID",
        ]
        return "plainclothes: " + ", ".join(p for p in parts if p)


class SuspectDescription(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sex: str | None = None
    race: str | None = None
    age_range: str | None = None
    height: str | None = None
    build: str | None = None
    hair: str | None = None
    top_color: str | None = None
    top_type: str | None = None
    bottom_color: str | None = None
    bottom_type: str | None = None
    headwear: str | None = None
    weapon: str | None = None
    free_text: str | None = None

    def describe(self) -> str:
        fields = (
            self.sex,
            self.race,
            self.age_range,
            self.build,
            self.height,
            self.hair,
            " ".join(p for p in (self.top_color, self.top_type) if p),
            " ".join(p for p in (self.bottom_color, self.bottom_type) if p),
            self.headwear,
            self.weapon and f"armed: {self.weapon}",
            self.free_text,
        )
        return ", ".join(f for f in fields if f) or "no description"


def check_lat_lon(lat: float, lon: float) -> None:
    """Refuse a position that is not a finite WGS84 latitude/longitude."""
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise ValueError("latitude and longitude must be finite numbers")
    if not -90.0 <= lat <= 90.0:
        raise ValueError(f"latitude {lat} is outside -90..90")
    if not -180.0 <= lon <= 180.0:
        raise ValueError(f"longitude {lon} is outside -180..180")


Geometry = dict[str, Any]
"""A GeoJSON geometry object (RFC 7946), WGS84 lon/lat."""


# --- reference data (no incident) ----------------------------------------------------------


class SchoolsImported(Payload, frozen=True):
    TYPE: ClassVar[str] = "schools_imported"
    file: str
    imported: int
    rejected: int
    skipped: int


class RosterImported(Payload, frozen=True):
    TYPE: ClassVar[str] = "roster_imported"
    file: str
    imported: int
    rejected: int


class RoadsImported(Payload, frozen=True):
    """The store's roads were replaced by those of ``file`` (``import-roads``)."""

    TYPE: ClassVar[str] = "roads_imported"
    file: str
    imported: int
    rejected: int
    skipped: int


class IncidentImported(Payload, frozen=True):
    """The last event of an incident brought from a portable file: where it came from and
    whether a key this centre trusts signed it (``trusted`` False: imported as untrusted, and
    shown so wherever the incident is)."""

    TYPE: ClassVar[str] = "incident_imported"
    file: str
    events: int
    trusted: bool
    signer_key_id: str | None = None
    #: The trusted key's label (who signed), when trusted.
    signer: str | None = None
    #: Why it is untrusted ("unsigned", "signed by an unknown key ...", "bad signature").
    why_untrusted: str | None = None


class ConsoleUserAudit(Payload, frozen=True):
    """Who signed in at a console, failed to, was locked out or unlocked, whose role changed,
    whose session locked (issue 16): reference data, no incident. ``action``: enrolled,
    signed_in, signed_out, sign_in_failed, locked_out, unlocked, role_changed, session_locked,
    session_unlocked, unlock_failed."""

    TYPE: ClassVar[str] = "console_user_audit"
    action: str
    name: str
    role: str | None = None
    detail: str | None = None


class AccessChanged(Payload, frozen=True):
    """An administration of who may speak to the gateway: a key made or revoked, a device
    registered, removed or enrolled with a certificate, a gateway's own PostgreSQL login role
    made (``gateway``) (the actor says who did it)."""

    TYPE: ClassVar[str] = "access_changed"
    what: Literal["key", "device", "certificate", "user", "gateway"]
    action: str  # "added", "revoked", "registered", "removed", "enrolled"
    subject: str  # the key id, device id, certificate serial, user or login role name
    scope: str | None = None  # a key's school or device
    detail: str | None = None


# --- incident --------------------------------------------------------------------------------


class IncidentOpened(Payload, frozen=True):
    TYPE: ClassVar[str] = "incident_opened"
    school_id: str
    school_name: str
    incident_type: AlertType
    lon: float
    lat: float
    exercise: bool = False

    def __post_init__(self) -> None:
        check_lat_lon(self.lat, self.lon)


class AlertReceived(Payload, frozen=True):
    TYPE: ClassVar[str] = "alert_received"
    alert_id: str
    school_id: str
    alert_type: AlertType
    activated_at_us: int
    activated_by_name: str | None = None
    activated_by_role: str | None = None
    location_detail: str | None = None
    message: str | None = None


class AlertAcknowledged(Payload, frozen=True):
    TYPE: ClassVar[str] = "alert_acknowledged"
    alert_id: str
    by: str


class IncidentCommanderAssigned(Payload, frozen=True):
    """Kept so that records written before command was established and transferred
    (``command_established``, ``command_transferred``) still read: folded as one of those."""

    TYPE: ClassVar[str] = "incident_commander_assigned"
    name: str


def _check_command_post(lon: float | None, lat: float | None) -> None:
    if (lon is None) != (lat is None):
        raise ValueError("a command post location needs both latitude and longitude")
    if lon is not None and lat is not None:
        check_lat_lon(lat, lon)


class CommandEstablished(Payload, frozen=True):
    """Incident command established: who is incident commander (IC), and where the command
    post is (a name, and optionally a point). ``assumed``: recorded by the service when a
    console user in the incident commander role acted before anyone established command (they
    are taken to have assumed it by acting)."""

    TYPE: ClassVar[str] = "command_established"
    commander: str
    command_post: str | None = None
    lon: float | None = None
    lat: float | None = None
    assumed: bool = False

    def __post_init__(self) -> None:
        _check_command_post(self.lon, self.lat)


class CommandTransferred(Payload, frozen=True):
    """Command handed from ``from_commander`` to ``to_commander`` (the command post may move
    with it; left out, it stays where it was)."""

    TYPE: ClassVar[str] = "command_transferred"
    from_commander: str
    to_commander: str
    command_post: str | None = None
    lon: float | None = None
    lat: float | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        _check_command_post(self.lon, self.lat)


class AlertRevised(Payload, frozen=True):
    """The sender revised an alert it sent (a CAP ``Update``): where in the school, what is
    happening. ``None`` leaves a field as it was."""

    TYPE: ClassVar[str] = "alert_revised"
    alert_id: str
    location_detail: str | None = None
    message: str | None = None


class IncidentStatusChanged(Payload, frozen=True):
    TYPE: ClassVar[str] = "incident_status_changed"
    status: IncidentStatus
    reason: str | None = None


class SuspectDescriptionRevised(Payload, frozen=True):
    TYPE: ClassVar[str] = "suspect_description_revised"
    description: SuspectDescription


class StagingAreaSet(Payload, frozen=True):
    """A staging area created or changed (moved, renamed): the whole area each time."""

    TYPE: ClassVar[str] = "staging_area_set"
    staging_area_id: str
    name: str
    geometry: Geometry
    radius_m: float | None = None
    manager: str | None = None
    capacity: int | None = None


class StagingAreaRemoved(Payload, frozen=True):
    TYPE: ClassVar[str] = "staging_area_removed"
    staging_area_id: str


class PerimeterSet(Payload, frozen=True):
    TYPE: ClassVar[str] = "perimeter_set"
    perimeter_id: str
    kind: PerimeterKind
    geometry: Geometry
    radius_m: float | None = None


class PerimeterRemoved(Payload, frozen=True):
    TYPE: ClassVar[str] = "perimeter_removed"
    perimeter_id: str


class CheckInPointSet(Payload, frozen=True):
    TYPE: ClassVar[str] = "check_in_point_set"
    name: str
    lon: float
    lat: float


# --- responders ------------------------------------------------------------------------------


class ResponderNotified(Payload, frozen=True):
    TYPE: ClassVar[str] = "responder_notified"
    responder_id: str
    device_id: str
    notified_by: Literal["console", "school", "unregistered", "unsolicited"] = "console"


class ResponderProfileReported(Payload, frozen=True):
    """The identity a responder claims, as their device reports it (not yet verified)."""

    TYPE: ClassVar[str] = "responder_profile_reported"
    responder_id: str
    name: str | None = None
    agency: str | None = None
    badge: str | None = None
    callsign: str | None = None
    duty: Duty | None = None
    has_radio: bool | None = None
    attire: Attire | None = None


class ResponderRosterChecked(Payload, frozen=True):
    TYPE: ClassVar[str] = "responder_roster_checked"
    responder_id: str
    verdict: RosterVerdict
    roster_name: str | None = None
    agency: str | None = None
    badge: str | None = None
    reason: str | None = None


class ResponderAcknowledged(Payload, frozen=True):
    """The responder answered the alert: responding (acknowledged) or not (declined)."""

    TYPE: ClassVar[str] = "responder_acknowledged"
    responder_id: str
    responding: bool


class ResponderPosition(Payload, frozen=True):
    TYPE: ClassVar[str] = "responder_position"
    responder_id: str
    lat: float
    lon: float
    at_us: int
    stale_at_us: int
    accuracy_m: float | None = None
    speed_mps: float | None = None
    heading_deg: float | None = None

    def __post_init__(self) -> None:
        check_lat_lon(self.lat, self.lon)
        for name in ("accuracy_m", "speed_mps", "heading_deg"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number")
        if self.stale_at_us < self.at_us:
            raise ValueError("stale time is earlier than the position's time")


class ResponderEnRoute(Payload, frozen=True):
    TYPE: ClassVar[str] = "responder_en_route"
    responder_id: str


class ResponderArrived(Payload, frozen=True):
    TYPE: ClassVar[str] = "responder_arrived"
    responder_id: str
    place: ArrivalPlace
    staging_area_id: str | None = None


class ResponderDirected(Payload, frozen=True):
    TYPE: ClassVar[str] = "responder_directed"
    responder_id: str
    staging_area_id: str


class ResponderIdentified(Payload, frozen=True):
    TYPE: ClassVar[str] = "responder_identified"
    responder_id: str
    method: IdentificationMethod
    verifier: str
    #: The team staging put the officer in at check-in, if any (the task comes with the
    #: assignment).
    team: str | None = None


class ResponderEquipmentIssued(Payload, frozen=True):
    TYPE: ClassVar[str] = "responder_equipment_issued"
    responder_id: str
    radio_id: str | None = None
    radio_channel: str | None = None
    marking: Literal["raid_jacket", "vest"] | None = None


class ResponderStaged(Payload, frozen=True):
    TYPE: ClassVar[str] = "responder_staged"
    responder_id: str
    staging_area_id: str | None = None


class ResponderAssigned(Payload, frozen=True):
    TYPE: ClassVar[str] = "responder_assigned"
    responder_id: str
    task: AssignmentTask
    team: str
    #: Where: a place or sector ("east wing, building B", "Sector 2").
    location: str | None = None
    radio_channel: str | None = None
    #: Whom the officer reports to there ("Sgt. Lee").
    report_to: str | None = None


class ResponderReleased(Payload, frozen=True):
    TYPE: ClassVar[str] = "responder_released"
    responder_id: str
    reason: str | None = None


# --- outbound directives (console -> responder devices) ------------------------------------

DirectiveKind = Literal[
    "alert", "go_to_staging", "identified", "assignment", "released", "stand_down", "message"
]
#: The longest team, radio channel, place or name a directive's details carry.
MAX_DETAIL_CHARS = 80
DETAIL_FIELDS = ("team", "radio_channel", "location", "report_to")


class DirectiveDetails(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True, gc=False
):
    """What an ``identified`` or ``assignment`` directive tells the officer, field by field
    (the responder page shows each large; the directive's ``text`` says the same in one line
    for TAK devices and the log)."""

    team: str | None = None
    radio_channel: str | None = None
    #: The visible marking to wear (issued at staging).
    marking: Literal["raid_jacket", "vest"] | None = None
    task: AssignmentTask | None = None
    #: Where: a place or sector.
    location: str | None = None
    #: Whom to report to.
    report_to: str | None = None


class DirectiveQueued(Payload, frozen=True):
    """A directive for one responder's device, waiting to be fetched (app) or pushed (TAK)."""

    TYPE: ClassVar[str] = "directive_queued"
    directive_id: str
    responder_id: str
    device_id: str
    kind: DirectiveKind
    text: str
    staging_area_id: str | None = None
    #: Set when the directive is one responder's copy of a broadcast.
    broadcast_id: str | None = None
    #: The fields of an ``identified`` or ``assignment`` directive.
    details: DirectiveDetails | None = None


class DirectiveDelivered(Payload, frozen=True):
    TYPE: ClassVar[str] = "directive_delivered"
    directive_id: str
    via: Literal["http", "cot"]


class DirectiveAcknowledged(Payload, frozen=True):
    TYPE: ClassVar[str] = "directive_acknowledged"
    directive_id: str


# --- agency response rules ------------------------------------------------------------------


class AgencyRulesApplied(Payload, frozen=True):
    """An agency's response rules (``domain.rules.AgencyRules`` as JSON) decided who of its
    officers this incident alerted and what they were told: part of the incident's record."""

    TYPE: ClassVar[str] = "agency_rules_applied"
    agency: str
    version: int
    rules_json: str


class AlertGateHeld(Payload, frozen=True):
    """Off-duty and retired officers of an agency whose alert waits for a dispatcher's release
    (or the automatic release at ``release_at_us``; None: only a dispatcher releases it)."""

    TYPE: ClassVar[str] = "alert_gate_held"
    agency: str
    device_ids: tuple[str, ...]
    release_at_us: int | None = None


class AlertGateReleased(Payload, frozen=True):
    TYPE: ClassVar[str] = "alert_gate_released"
    agency: str
    automatic: bool = False


# --- broadcasts, geofences, warnings, accountability (incident command) -------------------

BroadcastKind = Literal["go_to_staging", "stand_down", "message"]


class BroadcastSent(Payload, frozen=True):
    """A message to every notified responder at once; each gets a ``DirectiveQueued`` with
    this ``broadcast_id`` (counted delivered and acknowledged per broadcast)."""

    TYPE: ClassVar[str] = "broadcast_sent"
    broadcast_id: str
    kind: BroadcastKind
    text: str
    staging_area_id: str | None = None


class PerimeterEntered(Payload, frozen=True):
    """Detected from positions (a geofence), never reported by a device."""

    TYPE: ClassVar[str] = "perimeter_entered"
    responder_id: str
    perimeter_id: str
    kind: PerimeterKind


class PerimeterExited(Payload, frozen=True):
    TYPE: ClassVar[str] = "perimeter_exited"
    responder_id: str
    perimeter_id: str
    kind: PerimeterKind


#: The five friendly-fire warnings of the domain notes, highest priority first.
WarningKind = Literal[
    "unidentified_in_inner_perimeter",
    "attire_matches_suspect",
    "bypassing_staging",
    "stale_or_no_radio_in_perimeter",
    "not_on_roster",
]
WARNING_KINDS: tuple[WarningKind, ...] = get_args(WarningKind)
#: 1 is the highest priority.
WARNING_PRIORITY: dict[str, int] = {kind: rank for rank, kind in enumerate(WARNING_KINDS, 1)}


class WarningRaised(Payload, frozen=True):
    """A warning starts. ``detail`` is the sentence shown; ``matched_fields`` names what
    matched for an attire/suspect match (e.g. ``("top_color", "top_type")``)."""

    TYPE: ClassVar[str] = "warning_raised"
    warning_id: str
    kind: WarningKind
    responder_id: str
    detail: str
    matched_fields: tuple[str, ...] = ()


class WarningAcknowledged(Payload, frozen=True):
    TYPE: ClassVar[str] = "warning_acknowledged"
    warning_id: str
    by: str


class WarningEnded(Payload, frozen=True):
    TYPE: ClassVar[str] = "warning_ended"
    warning_id: str
    reason: str | None = None


class ParStarted(Payload, frozen=True):
    """A personnel accountability roll call of ``responder_ids`` (everyone on scene then)."""

    TYPE: ClassVar[str] = "par_started"
    par_id: str
    responder_ids: tuple[str, ...]


class ParAccounted(Payload, frozen=True):
    TYPE: ClassVar[str] = "par_accounted"
    par_id: str
    responder_id: str
    accounted: bool = True


class ParEnded(Payload, frozen=True):
    TYPE: ClassVar[str] = "par_ended"
    par_id: str


#: Reference-data and administration events (no incident): the schools, the roster, the roads,
#: console users' audit, and who may speak to the gateway (keys, devices, certificates).
REFERENCE_DATA_TYPES: tuple[str, ...] = (
    SchoolsImported.TYPE,
    RosterImported.TYPE,
    RoadsImported.TYPE,
    ConsoleUserAudit.TYPE,
    AccessChanged.TYPE,
)

PAYLOAD_TYPES: dict[str, type[Payload]] = {
    cls.TYPE: cls
    for cls in (
        SchoolsImported,
        RosterImported,
        AccessChanged,
        RoadsImported,
        IncidentOpened,
        AlertReceived,
        AlertRevised,
        AlertAcknowledged,
        IncidentCommanderAssigned,
        CommandEstablished,
        CommandTransferred,
        IncidentStatusChanged,
        SuspectDescriptionRevised,
        StagingAreaSet,
        StagingAreaRemoved,
        PerimeterSet,
        PerimeterRemoved,
        CheckInPointSet,
        ResponderNotified,
        ResponderProfileReported,
        ResponderRosterChecked,
        ResponderAcknowledged,
        ResponderPosition,
        ResponderEnRoute,
        ResponderArrived,
        ResponderDirected,
        ResponderIdentified,
        ResponderEquipmentIssued,
        ResponderStaged,
        ResponderAssigned,
        ResponderReleased,
        DirectiveQueued,
        DirectiveDelivered,
        DirectiveAcknowledged,
        AgencyRulesApplied,
        AlertGateHeld,
        AlertGateReleased,
        BroadcastSent,
        PerimeterEntered,
        PerimeterExited,
        WarningRaised,
        WarningAcknowledged,
        WarningEnded,
        ParStarted,
        ParAccounted,
        ParEnded,
        IncidentImported,
        ConsoleUserAudit,
    )
}


#: Decisions only a person at a console makes (issue 16): the store refuses them from the system or
#: a device (a forged "system" event carrying an incident commander's acknowledgement).
CONSOLE_ONLY_TYPES: frozenset[str] = frozenset(
    cls.TYPE
    for cls in (
        AlertAcknowledged,
        IncidentCommanderAssigned,
        CommandEstablished,
        CommandTransferred,
        ResponderIdentified,
        ResponderEquipmentIssued,
        ResponderAssigned,
        ResponderReleased,
        ResponderDirected,
        BroadcastSent,
        WarningAcknowledged,
        ParStarted,
        ParEnded,
        StagingAreaRemoved,
        PerimeterRemoved,
    )
)


class UnknownEventType(ValueError):
    pass


class Event(msgspec.Struct, frozen=True, gc=False):
    """A stored, immutable event.

    Events, actors and payloads are not tracked by Python's cycle collector (``gc=False``: they
    are immutable and cannot form cycles): a console holds hundreds of thousands of them, and
    tracking them made every full collection stop the GUI thread for 100 ms or more."""

    seq: int
    incident_id: str | None
    type: str
    occurred_at_us: int
    received_at_us: int
    actor: Actor
    source: Source
    payload: Payload
    idempotency_key: str | None = None


class EventDraft(msgspec.Struct, frozen=True):
    """An event not yet stored: the store adds ``seq`` and ``received_at_us``."""

    incident_id: str | None
    occurred_at_us: int
    actor: Actor
    source: Source
    payload: Payload
    idempotency_key: str | None = None

    @property
    def type(self) -> str:
        return self.payload.TYPE


_encoder = msgspec.json.Encoder()
_decoders: dict[str, msgspec.json.Decoder[Any]] = {
    name: msgspec.json.Decoder(cls) for name, cls in PAYLOAD_TYPES.items()
}


def encode_payload(payload: Payload) -> bytes:
    return _encoder.encode(payload)


def decode_payload(event_type: str, raw: bytes | str) -> Payload:
    """Decode and validate a stored payload; raises on an unknown type or a bad payload."""
    decoder = _decoders.get(event_type)
    if decoder is None:
        raise UnknownEventType(f"unknown event type {event_type!r}")
    payload: Payload = decoder.decode(raw)
    return payload


def payload_to_dict(payload: Payload) -> dict[str, Any]:
    result: dict[str, Any] = msgspec.to_builtins(payload)
    return result


def event_to_dict(event: Event) -> dict[str, Any]:
    """The JSON shape of an event for export (``events --format jsonl``)."""
    from dispatch_console.domain.timeutil import iso

    return {
        "seq": event.seq,
        "incident_id": event.incident_id,
        "type": event.type,
        "event_time": iso(event.occurred_at_us),
        "received_time": iso(event.received_at_us),
        "actor": {"kind": event.actor.kind.value, "name": event.actor.name},
        "source": event.source.value,
        "payload": payload_to_dict(event.payload),
        "idempotency_key": event.idempotency_key,
    }


def untrusted_import(events: Iterable[Event]) -> str | None:
    """Why an incident's events came from a file not signed by a key its centre trusted (the
    first such :class:`IncidentImported` mark), or None if none did."""
    for event in events:
        p = event.payload
        if isinstance(p, IncidentImported) and not p.trusted:
            return p.why_untrusted or "not signed by a trusted key"
    return None
