"""OASIS CAP 1.2 alerts from school-alert vendors (``POST /v1/cap``, ``application/cap+xml``).

Parsing is hardened exactly as for CoT (one code path: :func:`check_size_and_declarations` and
:func:`parse_xml` of ``feeds/cot/parse.py``: a size cap, no DOCTYPE or ENTITY, UTF-8, no DTD, no
network, no huge trees). Then CAP 1.2's rules: the root is ``<alert>`` in the CAP 1.2 namespace
with ``identifier``, ``sender``, ``sent``, ``status``, ``msgType`` and ``scope``; a refusal names
the element (``400``).

The mapping (field by field in the README, "CAP 1.2 alerts"):

- ``msgType`` Alert: an activation (:meth:`GatewayCore.activation`, one code path with the
  JSON activation): it opens the school's incident or joins the open one; ``202
  {"incident_id": ...}``. The alert's id is ``<key id>/cap:<identifier>``.
- Update: revises the alert it ``references`` (``AlertRevised``: the area's ``areaDesc`` as
  the location detail, ``description`` or ``headline`` as the message).
- Cancel: ends the incident of the alert it references as a false alarm, with ``note`` (or the
  description) as the reason (``incident_status_changed`` to ``cancelled``).
- ``status`` Actual: live; Exercise or Test: an exercise incident, never a live one. System and
  Draft are not acted on (``422``), nor are msgType Ack and Error.
- ``event`` / ``eventCode``: the alert type, by the words in :data:`TYPE_WORDS`.
- The school: a school key's own. A vendor key's is the school whose campus (or location)
  the ``<area>`` (``circle`` or ``polygon``) touches, else the nearest within
  :data:`SCHOOL_MATCH_M`; none: ``422`` naming the area; one outside the vendor's schools: ``403``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Final

from lxml import etree
from shapely.geometry import Point, Polygon, shape
from shapely.geometry.base import BaseGeometry

from dispatch_console.domain import events as ev
from dispatch_console.domain.geometry import local_frame
from dispatch_console.domain.lifecycle import RuleViolation
from dispatch_console.domain.reference import School
from dispatch_console.feeds.cot.parse import CotRejected, check_size_and_declarations, parse_xml
from dispatch_console.store.registry import ALL_SCHOOLS

if TYPE_CHECKING:
    from dispatch_console.feeds.core import GatewayCore, Reply
    from dispatch_console.feeds.keys import OpenKey

__all__ = [
    "CAP_CONTENT_TYPES",
    "CAP_NS",
    "MAX_CAP_BYTES",
    "SCHOOL_MATCH_M",
    "TYPE_WORDS",
    "CapArea",
    "CapMessage",
    "CapRejected",
    "alert_type_of",
    "handle_cap",
    "parse_cap",
]

CAP_NS: Final = "urn:oasis:names:tc:emergency:cap:1.2"
CAP_CONTENT_TYPES: Final = frozenset({"application/cap+xml", "application/xml", "text/xml"})
MAX_CAP_BYTES: Final = 64 * 1024
#: A vendor's area names the school whose campus it touches, or the nearest within this.
SCHOOL_MATCH_M: Final = 150.0
_N = f"{{{CAP_NS}}}"

STATUSES: Final = ("Actual", "Exercise", "System", "Test", "Draft")
MSG_TYPES: Final = ("Alert", "Update", "Cancel", "Ack", "Error")
SCOPES: Final = ("Public", "Restricted", "Private")
_ID_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F)) - {",", "<", "&"}

#: Words (lower case) in ``eventCode`` values, then in ``event``, that give the alert type; the
#: first type with a match wins, in this order (so "gunfire" is an active shooter, not a fire).
TYPE_WORDS: Final[tuple[tuple[ev.AlertType, tuple[str, ...]], ...]] = (
    ("active_shooter", ("active shooter", "active_shooter", "shooter", "shooting", "shots fired",
                        "gunfire", "gunman", "gun", "armed", "assailant", "active threat",
                        "active_threat", "attacker", "weapon", "stabbing")),
    ("lockdown", ("lockdown", "lock down", "lock-down", "lock_down", "hold", "secure")),
    ("fire", ("fire", "smoke", "explosion")),
    ("medical", ("medical", "ems", "cardiac", "injur", "ambulance", "aed", "overdose")),
)  # fmt: skip


class CapRejected(Exception):
    """Not acceptable CAP: ``status`` (400, 422) and one line naming the element."""

    def __init__(self, status: int, reason: str, element: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.element = element


@dataclass(frozen=True)
class CapArea:
    description: str
    #: Circles as ``(lon, lat, radius_m)``; polygons as rings of ``(lon, lat)``.
    circles: tuple[tuple[float, float, float], ...] = ()
    polygons: tuple[tuple[tuple[float, float], ...], ...] = ()

    def text(self) -> str:
        parts = [f"circle {lat},{lon} {r / 1000:g} km" for lon, lat, r in self.circles]
        parts += [f"polygon of {len(p)} points from {p[0][1]},{p[0][0]}" for p in self.polygons]
        return f"{self.description!r} ({'; '.join(parts) or 'no circle or polygon'})"


@dataclass(frozen=True)
class CapMessage:
    identifier: str
    sender: str
    sent: str
    status: str
    msg_type: str
    references: tuple[str, ...] = ()
    note: str | None = None
    event: str | None = None
    event_codes: tuple[str, ...] = ()
    headline: str | None = None
    description: str | None = None
    sender_name: str | None = None
    areas: tuple[CapArea, ...] = field(default_factory=tuple)

    @property
    def exercise(self) -> bool:
        return self.status in ("Exercise", "Test")

    @property
    def location_detail(self) -> str | None:
        text = "; ".join(a.description for a in self.areas if a.description)
        return text[:2000] or None

    @property
    def message(self) -> str | None:
        return (self.description or self.headline or self.event or "")[:2000] or None


# --- parsing ----------------------------------------------------------------------------------


def parse_cap(data: bytes) -> CapMessage:
    """A CAP 1.2 ``<alert>``, or :class:`CapRejected` (400) naming what is wrong."""
    try:
        check_size_and_declarations(data, MAX_CAP_BYTES, "CAP message")
        root = parse_xml(data)
    except CotRejected as bad:
        raise CapRejected(400, f"not CAP 1.2: {bad.reason}") from None
    if root.tag != _N + "alert":
        raise CapRejected(
            400,
            f"not CAP 1.2: the root element is <{_local(root.tag)}> in "
            f"{_namespace(root.tag) or 'no namespace'} (expected <alert> in {CAP_NS})",
            _local(root.tag),
        )
    identifier = _required(root, "identifier")
    if len(identifier) > 100 or not set(identifier) <= _ID_CHARS:
        raise CapRejected(400, "not CAP 1.2: <identifier> has spaces, commas, < or &, or is "
                          "longer than 100 characters", "identifier")  # fmt: skip
    status = _choice(root, "status", STATUSES)
    msg_type = _choice(root, "msgType", MSG_TYPES)
    _choice(root, "scope", SCOPES)
    references = tuple((_text(root, "references") or "").split())
    infos = root.findall(_N + "info")
    info = _english(infos)
    message = CapMessage(
        identifier=identifier,
        sender=_required(root, "sender"),
        sent=_required(root, "sent"),
        status=status,
        msg_type=msg_type,
        references=references,
        note=_text(root, "note"),
    )
    if info is None:
        return message
    event = _text(info, "event")
    if event is None:
        raise CapRejected(400, "not CAP 1.2: <info> has no <event>", "event")
    codes: list[str] = []
    for code in info.findall(_N + "eventCode"):
        codes.extend(filter(None, (_text(code, "valueName"), _text(code, "value"))))
    return replace(
        message,
        event=event,
        event_codes=tuple(codes),
        headline=_text(info, "headline"),
        description=_text(info, "description"),
        sender_name=_text(info, "senderName"),
        areas=tuple(_area(a) for a in info.findall(_N + "area")),
    )


def _english(infos: list[etree._Element]) -> etree._Element | None:
    """The first ``<info>`` in English (no ``language`` means en-US), else the first."""
    for info in infos:
        language = (_text(info, "language") or "en-US").lower()
        if language.startswith("en"):
            return info
    return infos[0] if infos else None


def _area(element: etree._Element) -> CapArea:
    description = _text(element, "areaDesc")
    if description is None:
        raise CapRejected(400, "not CAP 1.2: <area> has no <areaDesc>", "areaDesc")
    circles = []
    for circle in element.findall(_N + "circle"):
        text = (circle.text or "").strip()
        try:
            point, radius = text.split()
            lat, lon = _pair(point)
            radius_m = float(radius) * 1000.0
        except ValueError:
            raise CapRejected(
                400, f"not CAP 1.2: <circle> {text[:60]!r} is not 'lat,lon radius-km'", "circle"
            ) from None
        if not (math.isfinite(radius_m) and 0 <= radius_m <= 100_000):
            raise CapRejected(400, f"<circle> radius {radius!r} km is out of range", "circle")
        circles.append((lon, lat, radius_m))
    polygons = []
    for polygon in element.findall(_N + "polygon"):
        text = (polygon.text or "").strip()
        try:
            points = tuple((lon, lat) for lat, lon in map(_pair, text.split()))
        except ValueError:
            raise CapRejected(
                400, f"not CAP 1.2: <polygon> {text[:60]!r} is not 'lat,lon lat,lon ...'", "polygon"
            ) from None
        if len(points) < 4 or points[0] != points[-1]:
            raise CapRejected(
                400, "not CAP 1.2: a <polygon> needs 4 or more points, the first equal to the last",
                "polygon",
            )  # fmt: skip
        polygons.append(points)
    return CapArea(description, tuple(circles), tuple(polygons))


def _pair(text: str) -> tuple[float, float]:
    lat_text, lon_text = text.split(",")
    lat, lon = float(lat_text), float(lon_text)
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(text)
    return lat, lon


def _text(parent: etree._Element, name: str) -> str | None:
    child = parent.find(_N + name)
    if child is None:
        return None
    text = "".join(str(t) for t in child.itertext()).strip()
    return text or None


def _required(parent: etree._Element, name: str) -> str:
    value = _text(parent, name)
    if value is None:
        raise CapRejected(400, f"not CAP 1.2: <{_local(parent.tag)}> has no <{name}>", name)
    return value


def _choice(parent: etree._Element, name: str, allowed: tuple[str, ...]) -> str:
    value = _required(parent, name)
    if value not in allowed:
        raise CapRejected(
            400, f"not CAP 1.2: <{name}> is {value[:40]!r} (expected {', '.join(allowed)})", name
        )
    return value


def _local(tag: object) -> str:
    return str(tag).rpartition("}")[2][:60]


def _namespace(tag: object) -> str:
    text = str(tag)
    return text[1:].partition("}")[0][:100] if text.startswith("{") else ""


def alert_type_of(message: CapMessage) -> ev.AlertType:
    """The alert type named by the message's ``eventCode`` values, else its ``event``."""
    for texts in (message.event_codes, (message.event or "",)):
        folded = " ".join(t.lower() for t in texts)
        for alert_type, words in TYPE_WORDS:
            if any(w in folded for w in words):
                return alert_type
    return "other"


# --- the school of a vendor's area -----------------------------------------------------------


def school_at(area: CapArea, schools: list[School]) -> School | None:
    """The school whose campus (or location) the area touches, else the nearest within
    :data:`SCHOOL_MATCH_M`."""
    if not area.circles and not area.polygons:
        return None
    lon0, lat0 = area.circles[0][:2] if area.circles else area.polygons[0][0]
    frame = local_frame(round(lon0, 3), round(lat0, 3))
    shapes: list[BaseGeometry] = [
        frame.project(Point(lon, lat)).buffer(radius, quad_segs=16) if radius > 0
        else frame.project(Point(lon, lat))
        for lon, lat, radius in area.circles
    ]  # fmt: skip
    shapes += [frame.project(Polygon(ring)) for ring in area.polygons]
    best: tuple[float, str, School] | None = None
    for school in schools:
        place = shape(school.campus) if school.campus else Point(school.lon, school.lat)
        where = frame.project(place)
        distance = min(s.distance(where) for s in shapes)
        if distance <= SCHOOL_MATCH_M and (best is None or (distance, school.school_id) < best[:2]):
            best = (distance, school.school_id, school)
    return best[2] if best is not None else None


# --- the gateway's answer ---------------------------------------------------------------------


def handle_cap(core: GatewayCore, key: OpenKey, body: bytes) -> Reply:
    """Answer one signed CAP message (on the gateway's writer thread)."""
    from dispatch_console.feeds.core import error

    try:
        message = parse_cap(body)
        if message.status in ("System", "Draft"):
            raise CapRejected(422, f"CAP status {message.status} is not acted on", "status")
        if message.msg_type in ("Ack", "Error"):
            raise CapRejected(422, f"CAP msgType {message.msg_type} is not acted on", "msgType")
        if message.msg_type == "Alert":
            return _alert(core, key, message)
        return _update_or_cancel(core, key, message, body)
    except CapRejected as refused:
        core.reject("http", key.key_id, f"{refused.status}: CAP: {refused.reason}", body)
        return error(refused.status, refused.reason, refused.element)


def _alert(core: GatewayCore, key: OpenKey, message: CapMessage) -> Reply:
    from dispatch_console.feeds.keys import OpenKey

    if key.kind == "school":
        school_id = key.scope
    elif key.kind == "vendor":
        areas = [a for a in message.areas if a.circles or a.polygons]
        if not areas:
            raise CapRejected(
                422, "a vendor's alert needs an <area> with a <circle> or <polygon>", "area"
            )
        school = school_at(areas[0], core.store.schools())
        if school is None:
            raise CapRejected(
                422,
                f"no school at {areas[0].text()} (none within {SCHOOL_MATCH_M:g} m)",
                "area",
            )
        allowed = core.store.vendor_schools(key.key_id)
        if ALL_SCHOOLS not in allowed and school.school_id not in allowed:
            raise CapRejected(403, f"this vendor key may not send alerts for {school.school_id}")
        school_id = school.school_id
    else:
        raise CapRejected(403, f"a {key.kind} key may not send CAP alerts")
    activation = {
        "id": f"cap:{message.identifier}",
        "school_id": school_id,
        "type": alert_type_of(message),
        "activated_at": message.sent,
        "activated_by": {"name": (message.sender_name or message.sender)[:200], "role": "CAP"},
        "location_detail": message.location_detail,
        "message": message.message,
        "exercise": message.exercise,
    }
    # The vendor's key, speaking for the school it was matched to: the activation's checks.
    as_school = OpenKey(key.key_id, "school", school_id, key.secret)
    return core.activation(as_school, json.dumps(activation).encode())


def _update_or_cancel(core: GatewayCore, key: OpenKey, message: CapMessage, body: bytes) -> Reply:
    from dispatch_console.feeds.core import Reply, error

    if key.kind not in ("school", "vendor"):
        raise CapRejected(403, f"a {key.kind} key may not send CAP messages")
    if not message.references:
        raise CapRejected(
            400, f"a CAP {message.msg_type} needs <references> to the alert it is about",
            "references",
        )  # fmt: skip
    idempotency = f"{key.key_id}/cap:{message.identifier}"
    known = core.store.incident_of_key(idempotency)
    if known:
        return Reply(202, {"incident_id": known, "duplicate": True})
    target: tuple[str, str] | None = None
    for reference in message.references:
        parts = reference.split(",")
        referenced = parts[1] if len(parts) == 3 else reference
        alert_id = f"{key.key_id}/cap:{referenced}"
        incident_id = core.store.incident_of_key(alert_id)
        if incident_id:
            target = (incident_id, alert_id)
            break
    if target is None:
        raise CapRejected(
            404,
            f"<references> names no alert this key sent: {' '.join(message.references)[:200]}",
            "references",
        )
    incident_id, alert_id = target
    payload: ev.Payload
    if message.msg_type == "Update":
        payload = ev.AlertRevised(alert_id, message.location_detail, message.description
                                  or message.headline)  # fmt: skip
    else:
        why = message.note or message.description or "cancelled by the sender"
        payload = ev.IncidentStatusChanged("cancelled", f"false alarm (CAP Cancel): {why}"[:500])
    actor = ev.Actor(ev.ActorKind.DEVICE, f"cap:{key.key_id}")
    try:
        core.service.execute(
            incident_id, [payload], actor=actor, source=ev.Source.FEED,
            idempotency_keys=[idempotency],
        )  # fmt: skip
    except RuleViolation as refused:
        core.reject("http", key.key_id, f"409: CAP {message.msg_type}: {refused}", body)
        return error(409, str(refused))
    return Reply(202, {"incident_id": incident_id})
