"""Outbound CoT: the alert at the school, GeoChat lines, staging areas (marker, circle, polygon).

Every document is UTF-8 bytes starting ``<?xml version="1.0" encoding="UTF-8"
standalone="yes"?>``, built with lxml (so every value is escaped), with ``time``/``start`` =
``now_us`` and ``stale`` = ``now_us + stale_after_us``, in milliseconds as ATAK writes them.
Text that XML cannot carry (control characters, lone surrogates: possible in a school's free
text) is replaced by U+FFFD rather than refused, so an alert always goes out.

Types, chosen for what ATAK shows:
- the alert is an ATAK emergency (``b-a-o-tbl`` "911 Alert" by default, with
  ``<emergency>``): ATAK raises its emergency notification and draws a flashing alert marker
  at the point; ``b-a-o-can`` with the same uid (:func:`build_alert_cancel`) takes it down.
  A plain marker type (``cot_type="a-h-G"``, ``emergency_type=None``) is there for a quieter
  alert;
- a staging area point is a spot-map marker (``b-m-p-s-m``, green), its area a drawn circle
  (``u-d-c-c``: ``ellipse@major``/``@minor`` are the radius in metres) or a closed free-form
  polygon (``u-d-f``, one ``<link point="lat,lon"/>`` per vertex, first vertex repeated last);
- a chat line is GeoChat (``b-t-f``) as ATAK sends a direct message: ``__chat`` with
  ``chatgrp``, a ``link`` to the sender, ``remarks`` with ``source``/``to``/``time``, and
  ``marti/dest`` so a TAK Server routes it to the callsign.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Final

from lxml import etree

from dispatch_console.domain.timeutil import from_us

XML_DECLARATION: Final = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
CONSOLE_UID: Final = "dispatch-console"
CONSOLE_CALLSIGN: Final = "Dispatch"
CONSOLE_TYPE: Final = "a-f-G-U-C"
ALERT_TYPE: Final = "b-a-o-tbl"
ALERT_EMERGENCY_TYPE: Final = "911 Alert"
ALERT_CANCEL_TYPE: Final = "b-a-o-can"
CHAT_TYPE: Final = "b-t-f"
STAGING_MARKER_TYPE: Final = "b-m-p-s-m"
CIRCLE_TYPE: Final = "u-d-c-c"
POLYGON_TYPE: Final = "u-d-f"
UNKNOWN: Final = "9999999.0"
GREEN_ARGB: Final = -16711936  # 0xFF00FF00 as the signed int ATAK writes
GREEN_FILL_ARGB: Final = 0x4000FF00  # a quarter-opaque green
RED_ARGB: Final = -65536  # 0xFFFF0000

_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """Text XML 1.0 can carry: anything else becomes U+FFFD."""
    return _NOT_XML_CHAR.sub("\ufffd", text)


def cot_time(us: int) -> str:
    """``2026-11-24T09:14:05.123Z``: always three fractional digits (ATAK's own format)."""
    moment = from_us(us)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond // 1000:03d}Z"


def _number(value: float) -> str:
    """Shortest text that reads back as the same float, never in exponent notation."""
    text = repr(float(value))
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text


def _check_position(lat: float, lon: float) -> None:
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise ValueError(f"position must be finite: {lat!r}, {lon!r}")
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise ValueError(f"position out of range: lat {lat!r}, lon {lon!r}")


def _check_times(now_us: int, stale_after_us: int) -> None:
    if stale_after_us <= 0:
        raise ValueError(f"stale_after_us must be positive: {stale_after_us}")
    if now_us <= 0:
        raise ValueError(f"now_us must be after the epoch: {now_us}")


def _attrs(values: Mapping[str, str]) -> dict[str, str]:
    return {name: xml_safe(value) for name, value in values.items()}


def _event(
    uid: str,
    cot_type: str,
    how: str,
    now_us: int,
    stale_after_us: int,
    lat: float,
    lon: float,
    *,
    hae: float | None = None,
    ce: float | None = None,
) -> tuple[etree._Element, etree._Element]:
    """``<event>`` with its ``<point>`` and an empty ``<detail>`` (returned)."""
    _check_position(lat, lon)
    _check_times(now_us, stale_after_us)
    if not uid.strip():
        raise ValueError("uid must not be empty")
    now = cot_time(now_us)
    event = etree.Element(
        "event",
        _attrs(
            {
                "version": "2.0",
                "uid": uid,
                "type": cot_type,
                "how": how,
                "time": now,
                "start": now,
                "stale": cot_time(now_us + stale_after_us),
            }
        ),
    )
    etree.SubElement(
        event,
        "point",
        {
            "lat": _number(lat),
            "lon": _number(lon),
            "hae": UNKNOWN if hae is None else _number(hae),
            "ce": UNKNOWN if ce is None else _number(ce),
            "le": UNKNOWN,
        },
    )
    return event, etree.SubElement(event, "detail")


def _sub(
    parent: etree._Element, tag: str, attrs: Mapping[str, str] | None = None
) -> etree._Element:
    return etree.SubElement(parent, tag, _attrs(attrs or {}))


def _remarks(detail: etree._Element, text: str, attrs: Mapping[str, str] | None = None) -> None:
    _sub(detail, "remarks", attrs).text = xml_safe(text)


def _serialise(event: etree._Element) -> bytes:
    body: bytes = etree.tostring(event, encoding="UTF-8", xml_declaration=False)
    return XML_DECLARATION + body


def build_alert_marker(
    *,
    uid: str,
    lat: float,
    lon: float,
    title: str,
    text: str,
    now_us: int,
    stale_after_us: int,
    sender_uid: str = CONSOLE_UID,
    sender_callsign: str = CONSOLE_CALLSIGN,
    cot_type: str = ALERT_TYPE,
    emergency_type: str | None = ALERT_EMERGENCY_TYPE,
) -> bytes:
    """The alert at the school: ``title`` is the label on the map, ``text`` the remarks.

    Use one ``uid`` per incident (e.g. ``"<incident id>-9-1-1"``, ATAK's convention) so that a
    resend updates the marker and :func:`build_alert_cancel` removes it.
    """
    event, detail = _event(uid, cot_type, "h-e", now_us, stale_after_us, lat, lon)
    _sub(detail, "contact", {"callsign": title})
    if emergency_type is not None:
        _sub(detail, "emergency", {"type": emergency_type}).text = xml_safe(sender_callsign)
    _sub(detail, "link", {"uid": sender_uid, "type": CONSOLE_TYPE, "relation": "p-p"})
    _sub(detail, "color", {"argb": str(RED_ARGB)})
    _remarks(detail, text)
    return _serialise(event)


def build_alert_cancel(
    *,
    uid: str,
    lat: float,
    lon: float,
    now_us: int,
    stale_after_us: int,
    sender_callsign: str = CONSOLE_CALLSIGN,
) -> bytes:
    """Take down the emergency alert ``uid`` (``b-a-o-can``, ``<emergency cancel="true">``)."""
    event, detail = _event(uid, ALERT_CANCEL_TYPE, "h-e", now_us, stale_after_us, lat, lon)
    _sub(detail, "emergency", {"cancel": "true"}).text = xml_safe(sender_callsign)
    return _serialise(event)


def build_chat(
    *,
    recipient_uid: str,
    recipient_callsign: str,
    message: str,
    message_id: str,
    now_us: int,
    stale_after_us: int,
    sender_uid: str = CONSOLE_UID,
    sender_callsign: str = CONSOLE_CALLSIGN,
    lat: float = 0.0,
    lon: float = 0.0,
) -> bytes:
    """A GeoChat direct message from the console to one TAK device.

    ``message_id`` makes the event uid (``GeoChat.<sender uid>.<recipient callsign>.<id>``,
    as ATAK builds it): a directive id keeps a resend idempotent. ``lat``/``lon`` is the
    sender's position; 0,0 (as WinTAK sends) when the console has none.
    """
    uid = f"GeoChat.{sender_uid}.{recipient_callsign}.{message_id}"
    event, detail = _event(uid, CHAT_TYPE, "h-g-i-g-o", now_us, stale_after_us, lat, lon)
    chat = _sub(
        detail,
        "__chat",
        {
            "parent": "RootContactGroup",
            "groupOwner": "false",
            "messageId": message_id,
            "chatroom": recipient_callsign,
            "id": recipient_uid,
            "senderCallsign": sender_callsign,
        },
    )
    _sub(chat, "chatgrp", {"uid0": sender_uid, "uid1": recipient_uid, "id": recipient_uid})
    _sub(detail, "link", {"uid": sender_uid, "type": CONSOLE_TYPE, "relation": "p-p"})
    _remarks(
        detail,
        message,
        {"source": f"BAO.F.ATAK.{sender_uid}", "to": recipient_uid, "time": cot_time(now_us)},
    )
    _sub(_sub(detail, "marti"), "dest", {"callsign": recipient_callsign})
    return _serialise(event)


def build_staging_marker(
    *,
    uid: str,
    name: str,
    lat: float,
    lon: float,
    now_us: int,
    stale_after_us: int,
    remarks: str = "",
    argb: int = GREEN_ARGB,
    parent_uid: str = CONSOLE_UID,
    parent_callsign: str = CONSOLE_CALLSIGN,
) -> bytes:
    """A staging area as a spot-map marker labelled ``name``."""
    event, detail = _event(uid, STAGING_MARKER_TYPE, "h-g-i-g-o", now_us, stale_after_us, lat, lon)
    _sub(detail, "contact", {"callsign": name})
    _sub(
        detail,
        "link",
        {
            "uid": parent_uid,
            "type": CONSOLE_TYPE,
            "parent_callsign": parent_callsign,
            "relation": "p-p",
        },
    )
    _sub(detail, "color", {"argb": str(argb)})
    _sub(detail, "usericon", {"iconsetpath": f"COT_MAPPING_SPOTMAP/{STAGING_MARKER_TYPE}/{argb}"})
    _remarks(detail, remarks)
    return _serialise(event)


def _shape_style(detail: etree._Element, name: str, remarks: str, stroke: int, fill: int) -> None:
    _sub(detail, "contact", {"callsign": name})
    _remarks(detail, remarks)
    _sub(detail, "strokeColor", {"value": str(stroke)})
    _sub(detail, "strokeWeight", {"value": "4.0"})
    _sub(detail, "fillColor", {"value": str(fill)})
    _sub(detail, "labels_on", {"value": "true"})


def _kml_colour(argb: int) -> str:
    """ATAK's signed ARGB int as KML's ``aabbggrr``."""
    value = argb & 0xFFFFFFFF
    a, r, g, b = value >> 24, (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF
    return f"{a:02x}{b:02x}{g:02x}{r:02x}"


def build_staging_circle(
    *,
    uid: str,
    name: str,
    lat: float,
    lon: float,
    radius_m: float,
    now_us: int,
    stale_after_us: int,
    remarks: str = "",
    stroke_argb: int = GREEN_ARGB,
    fill_argb: int = GREEN_FILL_ARGB,
) -> bytes:
    """A staging area as a drawn circle of ``radius_m`` metres around ``lat``/``lon``."""
    if not (math.isfinite(radius_m) and radius_m > 0.0):
        raise ValueError(f"radius_m must be a positive number: {radius_m!r}")
    event, detail = _event(uid, CIRCLE_TYPE, "h-e", now_us, stale_after_us, lat, lon)
    shape = _sub(detail, "shape")
    radius = _number(radius_m)
    _sub(shape, "ellipse", {"major": radius, "minor": radius, "angle": "360"})
    style_link = _sub(
        shape, "link", {"uid": f"{uid}.Style", "type": "b-x-KmlStyle", "relation": "p-c"}
    )
    style = _sub(style_link, "Style")
    line = _sub(style, "LineStyle")
    _sub(line, "color").text = _kml_colour(stroke_argb)
    _sub(line, "width").text = "4.0"
    _sub(_sub(style, "PolyStyle"), "color").text = _kml_colour(fill_argb)
    _shape_style(detail, name, remarks, stroke_argb, fill_argb)
    return _serialise(event)


def build_staging_polygon(
    *,
    uid: str,
    name: str,
    vertices: Sequence[tuple[float, float]],
    now_us: int,
    stale_after_us: int,
    remarks: str = "",
    stroke_argb: int = GREEN_ARGB,
    fill_argb: int = GREEN_FILL_ARGB,
) -> bytes:
    """A staging area as a closed free-form polygon; ``vertices`` are ``(lat, lon)``.

    The ring is closed by repeating the first vertex (unless it already is); the event point
    is the mean of the distinct vertices.
    """
    ring = list(vertices)
    if len(ring) >= 2 and ring[0] == ring[-1]:
        ring.pop()
    if len(ring) < 3:
        raise ValueError(f"a polygon needs at least 3 distinct vertices, got {len(ring)}")
    for vertex_lat, vertex_lon in ring:
        _check_position(vertex_lat, vertex_lon)
    centre_lat = sum(v[0] for v in ring) / len(ring)
    centre_lon = sum(v[1] for v in ring) / len(ring)
    event, detail = _event(uid, POLYGON_TYPE, "h-e", now_us, stale_after_us, centre_lat, centre_lon)
    for vertex_lat, vertex_lon in [*ring, ring[0]]:
        _sub(detail, "link", {"point": f"{_number(vertex_lat)},{_number(vertex_lon)}"})
    _shape_style(detail, name, remarks, stroke_argb, fill_argb)
    return _serialise(event)
