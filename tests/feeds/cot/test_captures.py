"""The real CoT captures in ../shared/data/cot (see that folder's README for their quirks)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from dispatch_console.feeds.cot import (
    CotEmergency,
    CotEndpoint,
    CotEvent,
    CotLink,
    CotRejected,
    CotTakv,
    is_chat,
    is_emergency,
    is_emergency_cancel,
    is_position_report,
    parse_cot,
)

pytestmark = pytest.mark.shared_data

BROKEN = "fts_wintak_pli_BROKEN_health.cot"
ALL_CAPTURES = 23


def _read(shared_data: Path, name: str) -> bytes:
    return (shared_data / "cot" / name).read_bytes()


def _parse(shared_data: Path, name: str) -> CotEvent:
    return parse_cot(_read(shared_data, name))


def test_every_capture_is_accepted_or_rejected_with_a_reason(shared_data: Path) -> None:
    files = sorted(p for p in (shared_data / "cot").iterdir() if p.is_file())
    assert len(files) == ALL_CAPTURES
    accepted: dict[str, CotEvent] = {}
    rejected: dict[str, str] = {}
    for path in files:
        try:
            accepted[path.name] = parse_cot(path.read_bytes())
        except CotRejected as exc:
            rejected[path.name] = exc.reason
    assert list(rejected) == [BROKEN]
    assert rejected[BROKEN].startswith("not well-formed XML: Extra content at the end")
    assert "\n" not in rejected[BROKEN]
    assert {name: ev.type for name, ev in accepted.items()} == {
        "af_casevac_b-r-f-h-c.xml": "b-r-f-h-c",
        "af_circle_u-d-c-c.xml": "u-d-c-c",
        "af_freehand_u-d-f-m.xml": "u-d-f-m",
        "af_geofence_alt_u-d-r.xml": "u-d-r",
        "af_groupchat_b-t-f.xml": "b-t-f",
        "af_op_b-m-p-s-p-op.xml": "b-m-p-s-p-op",
        "af_p2pchat_b-t-f.xml": "b-t-f",
        "af_pli_a-f-G-U-C.xml": "a-f-G-U-C",
        "af_pli_endpoint0000_a-f-G-U-C.xml": "a-f-G-U-C",
        "af_rectangle_u-d-r.xml": "u-d-r",
        "af_route_b-m-r.xml": "b-m-r",
        "af_squadcar_overhead_marker.xml": "overhead_marker",
        "af_waypoint_b-m-p-w-GOTO.xml": "b-m-p-w-GOTO",
        "fts_alert_911_b-a-o-tbl.cot": "b-a-o-tbl",
        "fts_alert_cancel_b-a-o-can.cot": "b-a-o-can",
        "fts_alert_incontact_b-a-o-opn.cot": "b-a-o-opn",
        "fts_delete_t-x-d-d.cot": "t-x-d-d",
        "fts_freeform_u-d-f.cot": "u-d-f",
        "fts_rangebearing_u-rb-a.cot": "u-rb-a",
        "fts_rectangle_u-d-r.cot": "u-d-r",
        "fts_spot_b-m-p-s-m.cot": "b-m-p-s-m",
        "fts_wintak_teamchat_b-t-f.cot": "b-t-f",
    }
    # Null Island only where the README says the point is a placeholder.
    assert sorted(n for n, ev in accepted.items() if "null_island" in ev.flags) == [
        "af_freehand_u-d-f-m.xml",
        "af_route_b-m-r.xml",
        "fts_delete_t-x-d-d.cot",
        "fts_wintak_teamchat_b-t-f.cot",
    ]
    # stale 17 days after time: reported as a long stale window.
    assert sorted(n for n, ev in accepted.items() if "long_stale" in ev.flags) == [
        "af_casevac_b-r-f-h-c.xml",
        "fts_spot_b-m-p-s-m.cot",
    ]
    assert [n for n, ev in accepted.items() if is_position_report(ev)] == [
        "af_pli_a-f-G-U-C.xml",
        "af_pli_endpoint0000_a-f-G-U-C.xml",
    ]


def test_pli(shared_data: Path) -> None:
    ev = _parse(shared_data, "af_pli_a-f-G-U-C.xml")
    assert ev == CotEvent(
        uid="ANDROID-53af0912586418dc",
        type="a-f-G-U-C",
        how="h-e",
        time_us=1_598_735_640_406_000,  # 2020-08-29T21:14:00.406Z
        start_us=1_598_735_640_406_000,
        stale_us=1_598_735_715_406_000,
        lat=39.71401955573084,
        lon=-104.99452709918448,
        hae=1586.245787738948,
        ce=None,  # 9999999.0: unknown
        le=None,
        callsign="ALPHA-1",
        endpoint=CotEndpoint("192.0.2.10:4242:tcp", "192.0.2.10", 4242, "tcp"),
        speed_mps=0.0,
        course_deg=327.66875837972367,
        group_name="Orange",
        group_role="Team Lead",
        takv=CotTakv("GOOGLE PIXEL 4 XL", "ATAK-CIV", "29", "4.0.0.7 (a457ad0d).1597850931-CIV"),
        geopointsrc="USER",
        altsrc="DTED2",
        detail_xml=ev.detail_xml,
        flags=(),
    )
    assert ev.detail_xml is not None
    assert ev.detail_xml.startswith('<detail><takv os="29" version=')
    assert '<uid Droid="ALPHA-1"/>' in ev.detail_xml  # unknown elements kept as they came
    assert '<status battery="58"/>' in ev.detail_xml
    assert not ev.is_stale_at(1_598_735_715_405_999)
    assert ev.is_stale_at(1_598_735_715_406_000)


def test_pli_endpoint_zero_means_reply_to_sender(shared_data: Path) -> None:
    ev = _parse(shared_data, "af_pli_endpoint0000_a-f-G-U-C.xml")
    assert ev.endpoint == CotEndpoint("0.0.0.0:4242:tcp", None, 4242, "tcp")
    assert ev.endpoint.reply_to_sender
    real = _parse(shared_data, "af_pli_a-f-G-U-C.xml").endpoint
    assert real is not None and not real.reply_to_sender


def test_alert_with_detail_before_point(shared_data: Path) -> None:
    ev = _parse(shared_data, "fts_alert_911_b-a-o-tbl.cot")
    assert (ev.uid, ev.type, ev.how) == ("ANDROID-000000000000001-9-1-1", "b-a-o-tbl", "h-e")
    assert (ev.lat, ev.lon, ev.hae, ev.ce, ev.le) == (55.7555821, 37.6270905, 162.119, None, None)
    assert ev.callsign == "testClient1-Alert"
    assert ev.remarks == "CALL 911 NOW"
    assert ev.emergency == CotEmergency("911 Alert", False, "helioClient1")
    assert ev.links == (
        CotLink("ANDROID-000000000000001", "a-f-G-U-C", "p-p", None, None, None, None),
    )
    assert (ev.time_us, ev.stale_us - ev.time_us) == (1_666_099_902_224_000, 10_000_000)
    assert is_emergency(ev) and not is_emergency_cancel(ev)


def test_alert_cancel_and_in_contact(shared_data: Path) -> None:
    cancel = _parse(shared_data, "fts_alert_cancel_b-a-o-can.cot")
    assert cancel.emergency == CotEmergency(None, True, "helioClient1")
    assert (cancel.callsign, cancel.links, cancel.remarks) == (None, (), None)
    assert is_emergency_cancel(cancel) and not is_emergency(cancel)
    contact = _parse(shared_data, "fts_alert_incontact_b-a-o-opn.cot")
    assert contact.emergency == CotEmergency("In Contact", False, "helioClient1")
    assert (contact.lat, contact.lon, contact.hae) == (55.7555821, 37.6270905, 162.119)
    assert contact.ce is None  # "9999999" without a decimal point is unknown too
    assert contact.stale_us - contact.time_us == 10_000_000
    assert is_emergency(contact)


def test_two_and_six_digit_fractional_seconds(shared_data: Path) -> None:
    chat = _parse(shared_data, "fts_wintak_teamchat_b-t-f.cot")
    assert chat.time_us == 1_652_707_499_710_000  # 2022-05-16T13:24:59.71Z
    delete = _parse(shared_data, "fts_delete_t-x-d-d.cot")
    assert delete.time_us == 1_666_878_926_688_141  # .688141Z
    assert delete.start_us == 1_666_878_926_688_292  # start written before time, and later
    assert delete.stale_us == 1_666_878_986_688_306
    assert delete.flags == ("null_island",)


def test_entity_in_callsign_is_decoded(shared_data: Path) -> None:
    ev = _parse(shared_data, "fts_rangebearing_u-rb-a.cot")
    assert ev.callsign == "R&B 1"
    assert ev.remarks == ""


def test_broken_health_file_is_rejected(shared_data: Path) -> None:
    with pytest.raises(CotRejected) as caught:
        parse_cot(_read(shared_data, BROKEN))
    assert caught.value.reason == (
        "not well-formed XML: Extra content at the end of the document, line 4, column 2"
    )


def test_freehand_escaped_inner_event_is_not_parsed(shared_data: Path) -> None:
    ev = _parse(shared_data, "af_freehand_u-d-f-m.xml")
    assert ev.uid == "30408da0-5e20-4eb5-a818-14dfe25d0be2"  # the outer event, not the inner
    assert ev.type == "u-d-f-m"
    assert (ev.lat, ev.lon, ev.hae) == (0.0, 0.0, None)
    assert ev.flags == ("null_island",)
    assert ev.callsign == "Freehand 2"
    assert ev.remarks == "But"
    assert ev.links == (CotLink(None, None, None, None, None, None, None),)
    assert ev.detail_xml is not None
    detail = etree.fromstring(ev.detail_xml)
    assert [child.tag for child in detail.iter()].count("event") == 0
    line = detail[0].get("line")
    assert line is not None
    assert line.startswith("<?xml version='1.0' encoding='UTF-8' standalone='yes'?><event ")
    assert "uid='88cde5f4-f5c6-4941-bf1e-0eb43d63ad6b'" in line  # still text, not markup
    assert "&lt;event version=" in ev.detail_xml


def test_chats(shared_data: Path) -> None:
    p2p = _parse(shared_data, "af_p2pchat_b-t-f.xml")
    assert is_chat(p2p)
    assert p2p.remarks == "you are a dog"
    chat = p2p.chat
    assert chat is not None
    assert (chat.chatroom, chat.chat_id, chat.sender_callsign, chat.parent, chat.group_owner) == (
        "BRAVO-2",
        "ANDROID-000000000000002",
        "ALPHA-1",
        "RootContactGroup",
        False,
    )
    assert chat.sender_uid == "ANDROID-53af0912586418dc"
    assert chat.recipient_uids == ("ANDROID-000000000000002",)
    assert chat.to == "ANDROID-000000000000002"
    team = _parse(shared_data, "fts_wintak_teamchat_b-t-f.cot")
    assert team.remarks == "Test message from wintak in team "  # trailing space kept
    assert team.chat is not None
    assert team.chat.recipient_uids == ("user1", "user2")
    assert (team.chat.to, team.chat.parent, team.chat.sender_callsign) == ("Red", None, "Wintak")
    group = _parse(shared_data, "af_groupchat_b-t-f.xml")
    assert group.chat is not None
    assert (group.chat.chatroom, group.chat.group_owner, group.chat.to) == ("okm", True, None)


def test_shapes_links_with_two_and_three_values(shared_data: Path) -> None:
    ev = _parse(shared_data, "af_rectangle_u-d-r.xml")
    assert [(link.point, link.point_hae) for link in ev.links] == [
        ((39.734374690892466, -105.000951756657), 1583.000100853604),
        ((39.72561220672946, -104.9910075127075), 1591.5484945254186),
        ((39.72685459182151, -104.98916936139345), None),
        ((39.735616232147535, -104.99911502806049), None),
    ]
    route = _parse(shared_data, "af_route_b-m-r.xml")
    assert len(route.links) == 11
    assert route.links[3] == CotLink(
        "23a5e2db-a00a-47b3-addd-450ff2982360",
        "b-m-p-w",
        "c",
        "CP1",
        None,
        (39.529834273062676, -105.75886674741635),
        3175.9541488988066,
    )


def test_human_entered_ce_and_unknown_type(shared_data: Path) -> None:
    op = _parse(shared_data, "af_op_b-m-p-s-p-op.xml")
    assert (op.ce, op.le, op.remarks) == (198.5, None, "")
    car = _parse(shared_data, "af_squadcar_overhead_marker.xml")
    assert (car.type, car.callsign, car.remarks) == ("overhead_marker", "Squad Car", "Do p")
    assert (car.speed_mps, car.course_deg) == (None, 0.0)
