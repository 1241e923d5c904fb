"""TAK protocol version 1 (protobuf) to the same :class:`CotEvent` as the XML path.

Two framings carry a ``TakMessage``: mesh (UDP, one per datagram) ``0xbf 0x01 0xbf`` then the
message; stream (TCP) ``0xbf``, a varint length, then the message. The message class comes
from the ``takproto`` package (only its generated protobuf class is used: its XML functions
use the standard library's unhardened parser). Without ``takproto`` every protobuf message is
rejected with a reason that says so, and XML keeps working.

Strongly typed fields (contact, __group, precisionlocation, takv, track) come from the
protobuf; everything else in ``detail`` travels as an XML fragment (``xmlDetail``), which is
parsed by the same hardened parser, with the same declaration check, as a whole XML event.
Protobuf times are milliseconds and proto3 scalars have no "absent": a ``<track>`` without
``speed`` arrives as speed 0.0, and ``hae``/``ce``/``le`` left out arrive as 0.0.
"""

from __future__ import annotations

import importlib
import math
import re
from functools import cache
from typing import Any, Final

from lxml import etree

from dispatch_console.feeds.cot.parse import (
    DEFAULT_MAX_BYTES,
    DETAIL_XML_DROPPED,
    DETAIL_XML_MAX_CHARS,
    CotEvent,
    CotPosition,
    CotRejected,
    CotTakv,
    DetailFields,
    assemble,
    check_size_and_declarations,
    checked_measure,
    is_friendly_ground,
    parse_cot,
    parse_position,
    parse_xml,
    shown,
)

MAGIC: Final = 0xBF
MESH_HEADER: Final = b"\xbf\x01\xbf"
MAX_VARINT_BYTES: Final = 10
_MAX_TIME_MS: Final = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, as far as parse_iso goes
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@cache
def _message_class() -> Any | None:
    """takproto's generated ``TakMessage`` class, or None when takproto is not installed."""
    try:
        module = importlib.import_module("takproto.proto")
    except ImportError:
        return None
    return getattr(module, "TakMessage", None)


def takproto_available() -> bool:
    return _message_class() is not None


def read_varint(data: bytes | bytearray, offset: int) -> tuple[int, int] | None:
    """A protobuf base-128 varint at ``offset``: (value, offset after it); None if incomplete.

    Raises :class:`CotRejected` for a varint longer than 10 bytes.
    """
    value = 0
    for index in range(MAX_VARINT_BYTES):
        position = offset + index
        if position >= len(data):
            return None
        byte = data[position]
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return value, position + 1
    raise CotRejected("protobuf length prefix is longer than 10 bytes")


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def parse_message(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> CotEvent:
    """XML or TAK protobuf (mesh or stream framing), told apart by the first byte."""
    if data[:1] == b"\xbf":
        return parse_tak_protobuf(data, max_bytes=max_bytes)
    return parse_cot(data, max_bytes=max_bytes)


def parse_tak_protobuf(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> CotEvent:
    """One framed TAK protocol v1 message to a :class:`CotEvent`; :class:`CotRejected` if not."""
    if not isinstance(data, bytes):
        data = bytes(data)
    size = len(data)
    if size == 0:
        raise CotRejected("empty message")
    if size > max_bytes:
        raise CotRejected(f"message is {size} bytes, over the {max_bytes}-byte limit")
    if data[0] != MAGIC:
        raise CotRejected("not TAK protocol version 1 (no 0xbf magic byte)")
    if size >= 3 and data[2] == MAGIC and data[1] != 0x01 and data[1] != size - 2:
        raise CotRejected(f"unsupported TAK protocol version {data[1]} in a mesh header")
    if data[:3] == MESH_HEADER:
        payload = data[3:]
    else:
        header = read_varint(data, 1)
        if header is None:
            raise CotRejected("protobuf stream frame ends inside its length prefix")
        length, start = header
        if length != size - start:
            raise CotRejected(
                f"protobuf stream frame says {length} bytes but {size - start} bytes follow"
            )
        payload = data[start:]
    message_class = _message_class()
    if message_class is None:
        raise CotRejected("TAK protobuf is not supported here (takproto is not installed)")
    message = message_class()
    try:
        message.ParseFromString(payload)
    except Exception as exc:  # any decoder failure is a rejection, never a crash
        raise CotRejected(f"not a valid TAK protobuf message: {type(exc).__name__}") from None
    if not message.HasField("cotEvent"):
        raise CotRejected("TAK protobuf message has no cotEvent")
    return _event_from_proto(message.cotEvent, max_bytes)


def _text(value: str, name: str) -> str:
    if _NOT_XML_CHAR.search(value):
        raise CotRejected(f"protobuf {name} contains characters not allowed in XML")
    return value


def _time_us(ms: int, name: str) -> int:
    if ms == 0:
        raise CotRejected(f"protobuf cotEvent has no {name}")
    if ms > _MAX_TIME_MS:
        raise CotRejected(f"protobuf {name} {ms} ms is past the year 9999")
    return ms * 1000


def _coordinate(value: float, name: str, limit: float) -> float:
    if not math.isfinite(value):
        raise CotRejected(f"<point> {name} is not finite: {shown(value)}")
    if not -limit <= value <= limit:
        raise CotRejected(f"<point> {name} {value!r} is outside [-{limit:g}, {limit:g}]")
    return value


def _event_from_proto(cot: Any, max_bytes: int) -> CotEvent:
    uid = _text(str(cot.uid), "uid")
    cot_type = _text(str(cot.type), "type")
    if not uid.strip():
        raise CotRejected("protobuf cotEvent has an empty uid")
    if not cot_type.strip():
        raise CotRejected("protobuf cotEvent has an empty type")
    how = _text(str(cot.how), "how") or None
    time_us = _time_us(int(cot.sendTime), "sendTime")
    start_us = _time_us(int(cot.startTime), "startTime")
    stale_us = _time_us(int(cot.staleTime), "staleTime")
    lat = _coordinate(float(cot.lat), "lat", 90.0)
    lon = _coordinate(float(cot.lon), "lon", 180.0)
    flags: list[str] = []
    hae = checked_measure(float(cot.hae), "hae", flags, signed=True)
    ce = checked_measure(float(cot.ce), "ce", flags, signed=False)
    le = checked_measure(float(cot.le), "le", flags, signed=False)

    fields = DetailFields()
    detail_xml: str | None = None
    if cot.HasField("detail"):
        detail = cot.detail
        fragment = str(detail.xmlDetail)
        encoded = b"<detail>" + fragment.encode("utf-8") + b"</detail>"
        check_size_and_declarations(encoded, max_bytes + 17, "xmlDetail")
        element = parse_xml(encoded)
        fields.read(element, flags)
        detail_xml = etree.tostring(element, encoding="unicode", with_tail=False)
        if len(detail_xml) > DETAIL_XML_MAX_CHARS:
            detail_xml = None
            flags.append(DETAIL_XML_DROPPED)
        _typed_detail(detail, fields, flags)
    return assemble(
        uid,
        cot_type,
        how,
        time_us,
        start_us,
        stale_us,
        lat,
        lon,
        hae,
        ce,
        le,
        fields,
        detail_xml,
        flags,
    )


def _typed_detail(detail: Any, fields: DetailFields, flags: list[str]) -> None:
    """The strongly typed detail fields override what the XML fragment said."""
    if detail.HasField("contact"):
        contact = detail.contact
        fields.set_contact(
            _text(str(contact.callsign), "callsign"),
            _text(str(contact.endpoint), "endpoint"),
            flags,
        )
    if detail.HasField("group"):
        fields.group_name = _text(str(detail.group.name), "group name") or None
        fields.group_role = _text(str(detail.group.role), "group role") or None
    if detail.HasField("precisionLocation"):
        location = detail.precisionLocation
        fields.geopointsrc = _text(str(location.geopointsrc), "geopointsrc") or None
        fields.altsrc = _text(str(location.altsrc), "altsrc") or None
    if detail.HasField("takv"):
        takv = detail.takv
        fields.takv = CotTakv(
            _text(str(takv.device), "takv device") or None,
            _text(str(takv.platform), "takv platform") or None,
            _text(str(takv.os), "takv os") or None,
            _text(str(takv.version), "takv version") or None,
        )
    if detail.HasField("track"):
        fields.set_track(float(detail.track.speed), float(detail.track.course), flags)


def position_of(event: CotEvent) -> CotPosition | None:
    """The position report in ``event``, or ``None`` if it is not a friendly ground unit."""
    if not is_friendly_ground(event.type):
        return None
    return CotPosition(
        event.uid,
        event.type,
        event.time_us,
        event.stale_us,
        event.lat,
        event.lon,
        event.ce,
        event.callsign,
        event.speed_mps,
        event.course_deg,
    )


def parse_position_message(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> CotPosition | None:
    """:func:`~dispatch_console.feeds.cot.parse.parse_position` for XML, and for TAK protocol
    version 1 (a first byte of 0xbf: mesh or stream framing) through the protobuf decoder."""
    if data[:1] == b"\xbf":
        return position_of(parse_tak_protobuf(data, max_bytes=max_bytes))
    return parse_position(data, max_bytes=max_bytes)
