"""CAP 1.2 alerts through a real gateway (``POST /v1/cap``): a school key and vendor keys open,
update, cancel and exercise incidents; every refusal is answered precisely and logged."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dispatch_console.domain import events as ev
from dispatch_console.domain.reference import School
from dispatch_console.feeds.auth import sign
from dispatch_console.feeds.cap import CapRejected, alert_type_of, parse_cap
from dispatch_console.feeds.keys import SecretBox, new_key_material
from tests.feeds.gateway_fixture import Key, RunningGateway

GARTH = School("garth", "Garth Elementary School", -84.5590, 38.2059)
# Inside Lincoln High School's campus, and 2 km from any school.
IN_LINCOLN = "38.2250,-84.5400 0.05"
NOWHERE = "38.2450,-84.5100 0.05"


def cap(
    identifier: str,
    *,
    msg_type: str = "Alert",
    status: str = "Actual",
    event: str = "Active shooter",
    circle: str | None = IN_LINCOLN,
    references: str | None = None,
    note: str | None = None,
    area_desc: str = "Main building, east stairwell",
    description: str = "Shots reported near the gym",
    root: str = "alert",
    namespace: str = "urn:oasis:names:tc:emergency:cap:1.2",
) -> bytes:
    sent = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    area = (
        f"<area><areaDesc>{area_desc}</areaDesc>"
        + (f"<circle>{circle}</circle>" if circle else "")
        + "</area>"
    )
    info = (
        "<info><category>Security</category>"
        f"<event>{event}</event><urgency>Immediate</urgency><severity>Extreme</severity>"
        "<certainty>Observed</certainty><senderName>SafeSchools Panic Button</senderName>"
        f"<headline>{event}</headline><description>{description}</description>{area}</info>"
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><{root} xmlns="{namespace}">'
        f"<identifier>{identifier}</identifier><sender>alerts@vendor.example</sender>"
        f"<sent>{sent}</sent><status>{status}</status><msgType>{msg_type}</msgType>"
        "<scope>Restricted</scope>"
        + (f"<references>{references}</references>" if references else "")
        + (f"<note>{note}</note>" if note else "")
        + (info if msg_type != "Cancel" else "")
        + f"</{root}>"
    ).encode()


def post_cap(
    gateway: RunningGateway, body: bytes, key: Key, content_type: str = "application/cap+xml"
) -> tuple[int, dict[str, Any]]:
    headers = {
        "Content-Type": content_type,
        "X-Dispatch-Key-Id": key.key_id,
        "X-Dispatch-Signature": sign(key.secret.encode(), int(time.time()), body),
    }
    request = urllib.request.Request(gateway.url + "/v1/cap", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as failed:
        with failed:
            return failed.code, json.loads(failed.read() or b"{}")


def vendor_key(gateway: RunningGateway, folder: Path, name: str, schools: list[str]) -> Key:
    box = SecretBox(folder / "master.key")  # the fixture's gateway's master key (start_gateway)
    material = new_key_material("vendor")
    gateway.store.add_key(material.key_id, "vendor", name, box.seal(material.secret), name)
    gateway.store.set_vendor_schools(material.key_id, schools)
    return Key(material.key_id, material.secret)


def wait_for_reasons(gateway: RunningGateway, fragments: list[str]) -> list[str]:
    deadline = time.monotonic() + 10
    reasons: list[str] = []
    while time.monotonic() < deadline:
        reasons = [r.reason for r in gateway.store.rejections(1000)]
        if all(any(f in r for r in reasons) for f in fragments):
            break
        time.sleep(0.1)
    return reasons


def test_a_school_key_opens_updates_and_cancels_an_incident(gateway: RunningGateway) -> None:
    key = Key(gateway.keys["school"].key_id, gateway.keys["school"].secret)
    status, body = post_cap(gateway, cap("A-1"), key)
    assert status == 202, body
    incident_id = body["incident_id"]
    assert body["notified"] == 3  # the devices within the school's radius
    # Sent again: stored once, the devices are not alerted twice.
    assert post_cap(gateway, cap("A-1"), key) == (
        202,
        {"incident_id": incident_id, "duplicate": True, "notified": 0},
    )
    # A second Alert joins the open incident.
    assert post_cap(gateway, cap("A-2", event="Lockdown"), key)[1]["incident_id"] == incident_id

    update = cap(
        "A-3",
        msg_type="Update",
        references="alerts@vendor.example,A-1,2026-12-07T20:00:00+00:00",
        area_desc="Gym, north doors",
        description="Suspect seen leaving toward the parking lot",
    )
    assert post_cap(gateway, update, key) == (202, {"incident_id": incident_id})
    state = gateway.store.state_at(incident_id)
    alert = state.alerts[f"{key.key_id}/cap:A-1"]
    assert alert.alert_type == "active_shooter"
    assert (alert.location_detail, alert.message) == (
        "Gym, north doors",
        "Suspect seen leaving toward the parking lot",
    )
    assert state.alerts[f"{key.key_id}/cap:A-2"].alert_type == "lockdown"
    assert not state.exercise

    cancel = cap("A-4", msg_type="Cancel", references="A-1", note="Student pressed it by mistake")
    assert post_cap(gateway, cancel, key) == (202, {"incident_id": incident_id})
    state = gateway.store.state_at(incident_id)
    assert state.status == "cancelled"
    changed = list(gateway.store.read(incident_id, types=[ev.IncidentStatusChanged.TYPE]))
    assert changed[-1].payload == ev.IncidentStatusChanged(
        "cancelled", "false alarm (CAP Cancel): Student pressed it by mistake"
    )
    # Updating a closed incident is refused, and logged.
    late = cap("A-5", msg_type="Update", references="A-1")
    assert post_cap(gateway, late, key)[0] == 409

    # Exercise and Test open an exercise, never the live incident.
    status, body = post_cap(gateway, cap("X-1", status="Exercise"), key)
    assert status == 202
    assert gateway.store.state_at(body["incident_id"]).exercise
    status, test_body = post_cap(gateway, cap("X-2", status="Test", event="Fire alarm"), key)
    assert test_body["incident_id"] == body["incident_id"]
    assert wait_for_reasons(gateway, ["409: CAP Update"])


def test_vendor_keys_find_the_school_by_area_and_stay_within_their_schools(
    gateway: RunningGateway, tmp_path: Path
) -> None:
    gateway.store.upsert_schools([GARTH])
    garth_only = vendor_key(gateway, tmp_path, "Vendor G", ["garth"])
    everywhere = vendor_key(gateway, tmp_path, "Vendor All", ["*"])

    status, body = post_cap(gateway, cap("V-1"), garth_only)
    assert (status, body["error"]) == (403, "this vendor key may not send alerts for lincoln-hs")
    status, body = post_cap(gateway, cap("V-2", circle=NOWHERE), everywhere)
    assert status == 422
    assert body["error"].startswith("no school at 'Main building, east stairwell' (circle 38.245")
    status, body = post_cap(gateway, cap("V-3", circle=None), everywhere)
    assert (status, body["field"]) == (422, "area")

    status, body = post_cap(gateway, cap("V-4"), everywhere)
    assert status == 202
    assert gateway.store.state_at(body["incident_id"]).school_id == "lincoln-hs"
    # 100 m from Garth's point (no campus): the nearest within 150 m.
    status, body = post_cap(gateway, cap("V-5", circle="38.2068,-84.5590 0"), garth_only)
    assert status == 202
    assert gateway.store.state_at(body["incident_id"]).school_id == "garth"
    # A vendor cannot cancel another key's alert.
    other = post_cap(gateway, cap("V-6", msg_type="Cancel", references="V-4"), garth_only)
    assert other[0] == 404
    reasons = wait_for_reasons(gateway, ["403: CAP", "422: CAP: no school at", "404: CAP"])
    assert any("403: CAP: this vendor key may not send alerts for lincoln-hs" in r for r in reasons)


def test_what_is_not_cap_is_refused_naming_the_element(gateway: RunningGateway) -> None:
    key = Key(gateway.keys["school"].key_id, gateway.keys["school"].secret)
    device = Key(gateway.keys["dev-ruiz"].key_id, gateway.keys["dev-ruiz"].secret)
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "xx">]>'
        b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">&x;</alert>'
    )
    cases = {
        "cap 1.1": (cap("B-1", namespace="urn:oasis:names:tc:emergency:cap:1.1"), key),
        "not alert": (cap("B-2", root="event"), key),
        "bad status": (cap("B-3", status="Real"), key),
        "draft": (cap("B-4", status="Draft"), key),
        "entity": (bomb, key),
        "bad circle": (cap("B-5", circle="38.2,-84.5"), key),
        "no references": (cap("B-6", msg_type="Update"), key),
        "device key": (cap("B-7"), device),
    }
    answers = {name: post_cap(gateway, body, k) for name, (body, k) in cases.items()}
    assert answers["cap 1.1"][0] == 400
    assert (
        "root element is <alert> in urn:oasis:names:tc:emergency:cap:1.1"
        in (answers["cap 1.1"][1]["error"])
    )
    assert answers["not alert"][0] == 400
    assert answers["bad status"] == (
        400,
        {
            "error": "not CAP 1.2: <status> is 'Real' (expected Actual, Exercise, System, "
            "Test, Draft)",
            "field": "status",
        },
    )
    assert answers["draft"][0] == 422
    assert answers["entity"][0] == 400 and "DOCTYPE" in answers["entity"][1]["error"]
    assert (answers["bad circle"][0], answers["bad circle"][1]["field"]) == (400, "circle")
    assert (answers["no references"][0], answers["no references"][1]["field"]) == (
        400,
        "references",
    )
    assert answers["device key"][0] == 403
    assert post_cap(gateway, cap("B-8"), key, content_type="application/json")[0] == 415
    assert gateway.store.incidents() == []
    reasons = wait_for_reasons(gateway, ["400: CAP", "422: CAP", "403: CAP", "415: CAP"])
    assert sum("CAP" in r for r in reasons) >= len(cases) + 1


@pytest.mark.parametrize(
    ("event", "codes", "expected"),
    [
        ("Active Shooter", (), "active_shooter"),
        ("Gunfire reported", (), "active_shooter"),
        ("Emergency", ("SAME", "CDW", "ALERT_TYPE", "lockdown"), "lockdown"),
        ("Fire alarm", (), "fire"),
        ("Medical emergency", (), "medical"),
        ("Weather", (), "other"),
    ],
)
def test_event_and_event_code_map_to_alert_types(
    event: str, codes: tuple[str, ...], expected: str
) -> None:
    message = parse_cap(cap("T-1", event=event))
    assert alert_type_of(replace(message, event_codes=codes)) == expected


def test_a_polygon_must_be_closed() -> None:
    body = cap("P-1").replace(
        b"<circle>38.2250,-84.5400 0.05</circle>",
        b"<polygon>38.22,-84.54 38.23,-84.54 38.23,-84.53</polygon>",
    )
    with pytest.raises(CapRejected, match="4 or more points"):
        parse_cap(body)
