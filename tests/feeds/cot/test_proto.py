"""TAK protocol version 1: takproto's own encoding decodes to the same CotEvent as the XML."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch_console.feeds.cot import (
    CotEvent,
    CotRejected,
    CotStreamSplitter,
    build_alert_marker,
    build_chat,
    build_staging_polygon,
    parse_cot,
    parse_message,
    parse_tak_protobuf,
)
from dispatch_console.feeds.cot.proto import encode_varint, read_varint
from tests.feeds.cot.samples import ALERT, CHAT, PLI, check_event

takproto: Any = pytest.importorskip("takproto")

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
MESH = takproto.TAKProtoVer.MESH
STREAM = takproto.TAKProtoVer.STREAM
NOW = 1_795_511_645_123_000


def _ms(ev: CotEvent) -> CotEvent:
    """The XML event as protobuf can carry it: milliseconds, no detail text to compare."""
    return dataclasses.replace(
        ev,
        time_us=ev.time_us - ev.time_us % 1000,
        start_us=ev.start_us - ev.start_us % 1000,
        stale_us=ev.stale_us - ev.stale_us % 1000,
        detail_xml=None,
    )


def _same(xml: bytes, framing: Any) -> tuple[CotEvent, CotEvent]:
    proto = bytes(takproto.xml2proto(xml, framing))
    from_proto = parse_message(proto)
    return _ms(parse_cot(xml)), dataclasses.replace(from_proto, detail_xml=None)


@pytest.mark.parametrize("framing", [MESH, STREAM], ids=["mesh", "stream"])
@pytest.mark.parametrize("xml", [PLI, ALERT, CHAT], ids=["pli", "alert", "chat"])
def test_samples_decode_to_the_same_event(xml: bytes, framing: Any) -> None:
    want, got = _same(xml, framing)
    assert got == want


def test_pli_framings() -> None:
    mesh = bytes(takproto.xml2proto(PLI, MESH))
    stream = bytes(takproto.xml2proto(PLI, STREAM))
    assert mesh[:3] == b"\xbf\x01\xbf"
    assert stream[0] == 0xBF and read_varint(stream, 1) == (len(stream) - 3, 3)
    ev = parse_tak_protobuf(mesh)
    assert (ev.callsign, ev.group_name, ev.speed_mps, ev.course_deg) == (
        "ALPHA-1",
        "Orange",
        0.0,
        327.66875837972367,
    )
    assert ev.endpoint is not None and ev.endpoint.port == 4242
    assert ev.detail_xml == '<detail><uid Droid="ALPHA-1"/></detail>'  # the xmlDetail part
    assert parse_tak_protobuf(stream) == ev


def test_outbound_messages_survive_protobuf() -> None:
    for xml in (
        build_alert_marker(
            uid="inc-1", lat=38.2, lon=-84.5, title="ALERT", text="shots", now_us=NOW,
            stale_after_us=60_000_000,
        ),
        build_chat(
            recipient_uid="ANDROID-2", recipient_callsign="BRAVO-2", message="Go to Staging A",
            message_id="d-1", now_us=NOW, stale_after_us=60_000_000,
        ),
        build_staging_polygon(
            uid="s", name="Staging A", vertices=[(38.2, -84.5), (38.3, -84.5), (38.3, -84.4)],
            now_us=NOW, stale_after_us=60_000_000,
        ),
    ):  # fmt: skip
        want, got = _same(xml, MESH)
        assert got == want


@pytest.mark.shared_data
def test_real_captures_decode_to_the_same_event(shared_data: Path) -> None:
    compared = 0
    for path in sorted((shared_data / "cot").iterdir()):
        if "BROKEN" in path.name:
            continue
        xml = path.read_bytes()
        for framing in (MESH, STREAM):
            want, got = _same(xml, framing)
            if path.name == "af_squadcar_overhead_marker.xml":
                # <track course='0.0'/> has no speed; proto3 has no "absent" for a double.
                assert (want.speed_mps, got.speed_mps) == (None, 0.0)
                got = dataclasses.replace(got, speed_mps=None)
            assert got == want, path.name
            compared += 1
    assert compared == 44


def test_splitter_carries_takproto_frames() -> None:
    frames = [bytes(takproto.xml2proto(x, STREAM)) for x in (PLI, CHAT, ALERT)]
    data = b"".join(frames)
    splitter = CotStreamSplitter()
    out = [m for i in range(0, len(data), 5) for m in splitter.feed(data[i : i + 5])]
    assert out == frames
    assert [parse_message(m) for m in out if isinstance(m, bytes)] == [
        parse_tak_protobuf(f) for f in frames
    ]


# --- hostile protobuf ---------------------------------------------------------------------


def _message(**event: Any) -> Any:
    message = takproto.proto.TakMessage()
    cot = message.cotEvent
    defaults: dict[str, Any] = {
        "type": "a-f-G-U-C",
        "uid": "u-1",
        "how": "m-g",
        "sendTime": NOW // 1000,
        "startTime": NOW // 1000,
        "staleTime": NOW // 1000 + 60_000,
        "lat": 38.2,
        "lon": -84.5,
        "hae": 9999999.0,
        "ce": 9999999.0,
        "le": 9999999.0,
    }
    detail = event.pop("xmlDetail", None)
    for name, value in {**defaults, **event}.items():
        setattr(cot, name, value)
    if detail is not None:
        cot.detail.xmlDetail = detail
    return message


def _mesh(message: Any) -> bytes:
    return b"\xbf\x01\xbf" + bytes(message.SerializeToString())


def _reason(data: bytes) -> str:
    with pytest.raises(CotRejected) as caught:
        parse_message(data)
    return caught.value.reason


def test_hostile_protobuf_reasons() -> None:
    good = _mesh(_message())
    assert parse_message(good).uid == "u-1"
    assert (
        _reason(b"\xbf\x02\xbf" + good[3:]) == "unsupported TAK protocol version 2 in a mesh header"
    )
    assert _reason(b"\xbf" + encode_varint(len(good)) + good[3:]) == (
        f"protobuf stream frame says {len(good)} bytes but {len(good) - 3} bytes follow"
    )
    assert _reason(b"\xbf\x80") == "protobuf stream frame ends inside its length prefix"
    assert _reason(b"\xbf\x01\xbf\xff\xff") == "not a valid TAK protobuf message: DecodeError"
    assert _reason(b"\xbf\x01\xbf") == "TAK protobuf message has no cotEvent"
    assert _reason(_mesh(_message(lat=float("nan")))) == "<point> lat is not finite: nan"
    assert _reason(_mesh(_message(lon=-180.5))) == "<point> lon -180.5 is outside [-180, 180]"
    assert _reason(_mesh(_message(uid=""))) == "protobuf cotEvent has an empty uid"
    assert _reason(_mesh(_message(sendTime=0))) == "protobuf cotEvent has no sendTime"
    assert _reason(_mesh(_message(staleTime=2**63))) == (
        f"protobuf staleTime {2**63} ms is past the year 9999"
    )
    assert _reason(_mesh(_message(uid="a\x00b"))) == (
        "protobuf uid contains characters not allowed in XML"
    )
    doctype = '<!DOCTYPE x [<!ENTITY a "b">]><remarks>&a;</remarks>'
    assert _reason(_mesh(_message(xmlDetail=doctype))) == (
        "xmlDetail contains a DOCTYPE or ENTITY declaration (never used in CoT)"
    )
    assert _reason(_mesh(_message(xmlDetail="</detail><detail>"))).startswith(
        "not well-formed XML: "
    )
    assert _reason(b"\xbf" * 70_000) == "message is 70000 bytes, over the 65536-byte limit"


@FUZZ
@given(st.binary(max_size=400))
def test_random_payloads(payload: bytes) -> None:
    for data in (b"\xbf\x01\xbf" + payload, b"\xbf" + encode_varint(len(payload)) + payload):
        try:
            check_event(parse_message(data))
        except CotRejected as exc:
            assert exc.reason and "\n" not in exc.reason


@FUZZ
@given(
    st.text(max_size=20),
    st.floats(),
    st.floats(),
    st.floats(),
    st.integers(min_value=0, max_value=2**64 - 1),
    st.text(max_size=60),
)
def test_random_field_values(
    uid: str, lat: float, lon: float, ce: float, stale: int, detail: str
) -> None:
    try:
        message = _message(uid=uid, lat=lat, lon=lon, ce=ce, staleTime=stale, xmlDetail=detail)
    except ValueError:
        return  # protobuf itself refuses the value (a lone surrogate)
    try:
        ev = parse_message(_mesh(message))
    except CotRejected as exc:
        assert exc.reason and "\n" not in exc.reason
        return
    check_event(ev)
    assert (ev.uid, ev.lat, ev.lon, ev.stale_us) == (uid, lat, lon, stale * 1000)
