"""Outbound CoT: every builder's output parses back to what was meant, escaped and bounded."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lxml import etree

from dispatch_console.feeds.cot import (
    CotEmergency,
    CotLink,
    build_alert_cancel,
    build_alert_marker,
    build_chat,
    build_staging_circle,
    build_staging_marker,
    build_staging_polygon,
    is_chat,
    is_emergency,
    is_emergency_cancel,
    parse_cot,
)
from dispatch_console.feeds.cot.build import xml_safe
from tests.feeds.cot.samples import check_event

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
DECLARATION = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
NOW = 1_795_511_645_123_456  # 2026-11-24T09:14:05.123456Z
MINUTE = 60_000_000
NOW_MS = 1_795_511_645_123_000  # CoT times are written in milliseconds
SCHOOL = (38.2098, -84.5588)
HOSTILE = "Gym <C> & \"east\" 'wing' ]]> &amp; \x00\x1b\ud800 \u202eRTL\u202c \U0001f6a8"


def _detail(xml: bytes) -> etree._Element:
    root = etree.fromstring(xml)
    detail = root.find("detail")
    assert detail is not None
    return detail


def test_alert_marker() -> None:
    xml = build_alert_marker(
        uid="inc-7f3a-9-1-1",
        lat=SCHOOL[0],
        lon=SCHOOL[1],
        title="ALERT Lincoln HS",
        text="Active shooter - Gym, building C: shots heard near gym",
        now_us=NOW,
        stale_after_us=10 * MINUTE,
    )
    assert xml.startswith(DECLARATION + b"<event ")
    ev = parse_cot(xml)
    assert (ev.uid, ev.type, ev.how) == ("inc-7f3a-9-1-1", "b-a-o-tbl", "h-e")
    assert (ev.lat, ev.lon, ev.hae, ev.ce, ev.le) == (SCHOOL[0], SCHOOL[1], None, None, None)
    assert (ev.time_us, ev.start_us, ev.stale_us) == (NOW_MS, NOW_MS, NOW_MS + 10 * MINUTE)
    assert ev.callsign == "ALERT Lincoln HS"
    assert ev.remarks == "Active shooter - Gym, building C: shots heard near gym"
    assert ev.emergency == CotEmergency("911 Alert", False, "Dispatch")
    assert ev.links == (CotLink("dispatch-console", "a-f-G-U-C", "p-p", None, None, None, None),)
    assert ev.flags == ()
    assert is_emergency(ev)
    assert b'time="2026-11-24T09:14:05.123Z"' in xml
    assert b'stale="2026-11-24T09:24:05.123Z"' in xml


def test_quiet_alert_marker_has_no_emergency() -> None:
    xml = build_alert_marker(
        uid="inc-1",
        lat=1.0,
        lon=2.0,
        title="Lockdown",
        text="Lockdown",
        now_us=NOW,
        stale_after_us=MINUTE,
        cot_type="a-h-G",
        emergency_type=None,
    )
    ev = parse_cot(xml)
    assert (ev.type, ev.emergency) == ("a-h-G", None)
    assert not is_emergency(ev)


def test_alert_cancel() -> None:
    ev = parse_cot(
        build_alert_cancel(uid="inc-7f3a-9-1-1", lat=1.5, lon=-2.5, now_us=NOW, stale_after_us=1)
    )
    assert (ev.uid, ev.type, ev.emergency) == (
        "inc-7f3a-9-1-1",
        "b-a-o-can",
        CotEmergency(None, True, "Dispatch"),
    )
    assert ev.stale_us == ev.time_us  # 1 us later, in whole milliseconds
    assert is_emergency_cancel(ev) and not is_emergency(ev)


def test_chat_to_one_device() -> None:
    message = "Go to Staging A (church lot, Elm St), not the school"
    xml = build_chat(
        recipient_uid="ANDROID-000000000000002",
        recipient_callsign="BRAVO-2",
        message=message,
        message_id="dir-42",
        now_us=NOW,
        stale_after_us=24 * 60 * MINUTE,
    )
    ev = parse_cot(xml)
    assert ev.uid == "GeoChat.dispatch-console.BRAVO-2.dir-42"
    assert (ev.type, ev.how, ev.lat, ev.lon) == ("b-t-f", "h-g-i-g-o", 0.0, 0.0)
    assert is_chat(ev)
    assert ev.remarks == message
    assert ev.chat is not None
    assert ev.chat.chatroom == "BRAVO-2"
    assert ev.chat.chat_id == "ANDROID-000000000000002"
    assert ev.chat.sender_callsign == "Dispatch"
    assert ev.chat.parent == "RootContactGroup"
    assert ev.chat.group_owner is False
    assert ev.chat.sender_uid == "dispatch-console"
    assert ev.chat.recipient_uids == ("ANDROID-000000000000002",)
    assert ev.chat.to == "ANDROID-000000000000002"
    assert ev.links == (CotLink("dispatch-console", "a-f-G-U-C", "p-p", None, None, None, None),)
    assert ev.flags == ("null_island",)  # the console has no position of its own
    detail = _detail(xml)
    remarks = detail.find("remarks")
    assert remarks is not None
    assert remarks.get("source") == "BAO.F.ATAK.dispatch-console"
    assert remarks.get("time") == "2026-11-24T09:14:05.123Z"
    dest = detail.find("marti/dest")
    assert dest is not None and dest.get("callsign") == "BRAVO-2"


@pytest.mark.shared_data
def test_chat_has_the_structure_of_a_real_atak_direct_message(shared_data: Path) -> None:
    real = _detail((shared_data / "cot" / "af_p2pchat_b-t-f.xml").read_bytes())
    ours = _detail(
        build_chat(
            recipient_uid="ANDROID-000000000000002",
            recipient_callsign="BRAVO-2",
            message="hi",
            message_id="m-1",
            now_us=NOW,
            stale_after_us=MINUTE,
        )
    )
    for path in ["__chat", "__chat/chatgrp", "link", "remarks"]:
        real_element, our_element = real.find(path), ours.find(path)
        assert real_element is not None and our_element is not None
        assert set(real_element.attrib) <= set(our_element.attrib), path
    real_chat, our_chat = real.find("__chat"), ours.find("__chat")
    assert real_chat is not None and our_chat is not None
    for name in ["parent", "groupOwner", "chatroom", "id", "senderCallsign"]:
        if name != "senderCallsign":
            assert our_chat.get(name) == real_chat.get(name), name


def test_staging_marker() -> None:
    xml = build_staging_marker(
        uid="staging-a",
        name="Staging A",
        lat=38.2101,
        lon=-84.5521,
        now_us=NOW,
        stale_after_us=60 * MINUTE,
        remarks="church lot, Elm St",
    )
    ev = parse_cot(xml)
    assert (ev.uid, ev.type, ev.callsign, ev.remarks) == (
        "staging-a",
        "b-m-p-s-m",
        "Staging A",
        "church lot, Elm St",
    )
    assert (ev.lat, ev.lon) == (38.2101, -84.5521)
    usericon = _detail(xml).find("usericon")
    assert usericon is not None
    assert usericon.get("iconsetpath") == "COT_MAPPING_SPOTMAP/b-m-p-s-m/-16711936"


def test_staging_circle() -> None:
    xml = build_staging_circle(
        uid="staging-a.area",
        name="Staging A",
        lat=38.2101,
        lon=-84.5521,
        radius_m=75.5,
        now_us=NOW,
        stale_after_us=60 * MINUTE,
    )
    ev = parse_cot(xml)
    assert (ev.type, ev.callsign, ev.lat, ev.lon, ev.links) == (
        "u-d-c-c",
        "Staging A",
        38.2101,
        -84.5521,
        (),  # the style link sits inside <shape>
    )
    detail = _detail(xml)
    ellipse = detail.find("shape/ellipse")
    assert ellipse is not None
    assert (ellipse.get("major"), ellipse.get("minor"), ellipse.get("angle")) == (
        "75.5",
        "75.5",
        "360",
    )
    assert detail.findtext("shape/link/Style/LineStyle/color") == "ff00ff00"
    assert detail.findtext("shape/link/Style/PolyStyle/color") == "4000ff00"
    fill = detail.find("fillColor")
    assert fill is not None and fill.get("value") == str(0x4000FF00)


def test_staging_polygon() -> None:
    ring = [(38.21, -84.553), (38.211, -84.552), (38.2105, -84.551)]
    xml = build_staging_polygon(
        uid="staging-b.area", name="Staging B", vertices=ring, now_us=NOW, stale_after_us=MINUTE
    )
    ev = parse_cot(xml)
    assert (ev.type, ev.callsign) == ("u-d-f", "Staging B")
    assert [link.point for link in ev.links] == [*ring, ring[0]]
    assert ev.lat == pytest.approx(sum(v[0] for v in ring) / 3, abs=1e-12)
    assert ev.lon == pytest.approx(sum(v[1] for v in ring) / 3, abs=1e-12)
    closed = build_staging_polygon(
        uid="staging-b.area",
        name="Staging B",
        vertices=[*ring, ring[0]],
        now_us=NOW,
        stale_after_us=MINUTE,
    )
    assert closed == xml  # an already closed ring is not closed twice


def test_hostile_text_is_escaped_and_made_xml_safe() -> None:
    xml = build_alert_marker(
        uid=HOSTILE,
        lat=1.0,
        lon=2.0,
        title=HOSTILE,
        text=HOSTILE,
        now_us=NOW,
        stale_after_us=MINUTE,
        sender_callsign=HOSTILE,
    )
    safe = "Gym <C> & \"east\" 'wing' ]]> &amp; \ufffd\ufffd\ufffd \u202eRTL\u202c \U0001f6a8"
    assert xml_safe(HOSTILE) == safe
    ev = parse_cot(xml)
    assert (ev.uid, ev.callsign, ev.remarks) == (safe, safe, safe)
    assert ev.emergency == CotEmergency("911 Alert", False, safe)
    assert b"<C>" not in xml and b"&lt;C&gt;" in xml


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lat": float("nan")},
        {"lat": 90.5},
        {"lon": float("-inf")},
        {"lon": -181.0},
        {"stale_after_us": 0},
        {"now_us": 0},
        {"uid": " "},
    ],
)
def test_builders_refuse_impossible_values(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {
        "uid": "u",
        "name": "n",
        "lat": 1.0,
        "lon": 2.0,
        "now_us": NOW,
        "stale_after_us": MINUTE,
    }
    args.update(kwargs)
    with pytest.raises(ValueError):
        build_staging_marker(**args)  # type: ignore[arg-type]


def test_shapes_refuse_impossible_geometry() -> None:
    with pytest.raises(ValueError, match="at least 3 distinct vertices"):
        build_staging_polygon(
            uid="u", name="n", vertices=[(1, 1), (1, 2), (1, 1)], now_us=NOW, stale_after_us=1
        )
    with pytest.raises(ValueError, match="position out of range"):
        build_staging_polygon(
            uid="u", name="n", vertices=[(1, 1), (1, 2), (91, 1)], now_us=NOW, stale_after_us=1
        )
    with pytest.raises(ValueError, match="radius_m must be a positive number"):
        build_staging_circle(
            uid="u", name="n", lat=1, lon=1, radius_m=0.0, now_us=NOW, stale_after_us=1
        )


latitudes = st.floats(min_value=-90, max_value=90, allow_nan=False)
longitudes = st.floats(min_value=-180, max_value=180, allow_nan=False)
times = st.integers(min_value=946_684_800_000_000, max_value=4_102_444_799_000_000)
stale_windows = st.integers(min_value=1, max_value=30 * 24 * 3600 * 1_000_000)


@FUZZ
@given(st.text(max_size=80), st.text(min_size=1, max_size=30), latitudes, longitudes, times)
@example("line\nbreak\ttab\rcr", "a\nb", 1e-05, -1.2345678901234567e-05, 946_684_800_000_999)
def test_chat_round_trip(message: str, callsign: str, lat: float, lon: float, now: int) -> None:
    xml = build_chat(
        recipient_uid="ANDROID-1",
        recipient_callsign=callsign,
        message=message,
        message_id="m",
        now_us=now,
        stale_after_us=MINUTE,
        lat=lat,
        lon=lon,
    )
    ev = parse_cot(xml)
    check_event(ev)
    assert ev.remarks == xml_safe(message)
    assert ev.chat is not None and ev.chat.chatroom == (xml_safe(callsign) or None)
    assert (ev.lat, ev.lon) == (lat, lon)
    assert ev.time_us == now - now % 1000
    assert ev.stale_us == (now + MINUTE) - (now + MINUTE) % 1000


@FUZZ
@given(
    st.text(min_size=1, max_size=40),
    st.text(max_size=80),
    latitudes,
    longitudes,
    st.floats(min_value=0.001, max_value=50_000),
    times,
    stale_windows,
)
def test_staging_round_trip(
    name: str, remarks: str, lat: float, lon: float, radius: float, now: int, stale: int
) -> None:
    for xml in (
        build_staging_marker(
            uid="s", name=name, lat=lat, lon=lon, now_us=now, stale_after_us=stale, remarks=remarks
        ),
        build_staging_circle(
            uid="s",
            name=name,
            lat=lat,
            lon=lon,
            radius_m=radius,
            now_us=now,
            stale_after_us=stale,
            remarks=remarks,
        ),
    ):
        ev = parse_cot(xml)
        check_event(ev)
        assert (ev.callsign, ev.remarks) == (xml_safe(name) or None, xml_safe(remarks))
        assert (ev.lat, ev.lon, ev.time_us) == (lat, lon, now - now % 1000)
        assert ev.stale_us == (now + stale) - (now + stale) % 1000
    ellipse = _detail(xml).find("shape/ellipse")
    assert ellipse is not None and float(ellipse.get("major", "")) == radius


@FUZZ
@given(st.lists(st.tuples(latitudes, longitudes), min_size=3, max_size=12, unique=True))
def test_polygon_round_trip(ring: list[tuple[float, float]]) -> None:
    if ring[0] == ring[-1]:
        ring = ring[:-1]
    xml = build_staging_polygon(uid="p", name="P", vertices=ring, now_us=NOW, stale_after_us=1)
    ev = parse_cot(xml)
    check_event(ev)
    assert [link.point for link in ev.links] == [*ring, ring[0]]
