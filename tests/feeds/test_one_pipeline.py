"""One position pipeline: the same position sent over HTTP (device messages) to one gateway
and over CoT (TCP) to another gives the same events, whether the device was alerted to the
incident or joins it by reporting from near the school."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dispatch_console.domain import events as ev
from dispatch_console.domain.timeutil import US_PER_S, iso
from tests.feeds.gateway_fixture import TAK_UID, RunningGateway, start_gateway
from tests.feeds.test_contract import example

LAT, LON = 38.22911, -84.54402  # 500 m from the school
SPEED, COURSE, ACCURACY = 3.5, 270.0, 8.0


@pytest.fixture
def two_gateways(tmp_path: Path) -> Iterator[tuple[RunningGateway, RunningGateway]]:
    """Two gateways, each on a store of its own (SQLite), set up alike."""
    running: list[RunningGateway] = []
    try:
        for name in ("http", "cot"):
            folder = tmp_path / name
            folder.mkdir()
            running.append(start_gateway(f"sqlite:///{folder / 'store.sqlite3'}", folder))
        yield running[0], running[1]
    finally:
        for gateway in running:
            gateway.stop()


def _cot(at_us: int, stale_us: int) -> bytes:
    return (
        f'<event version="2.0" uid="{TAK_UID}" type="a-f-G-U-C" how="m-g" time="{iso(at_us)}" '
        f'start="{iso(at_us)}" stale="{iso(stale_us)}"><point lat="{LAT}" lon="{LON}" '
        f'hae="250" ce="{ACCURACY}" le="9999999"/><detail><contact callsign="GPD-212"/>'
        f'<track speed="{SPEED}" course="{COURSE}"/></detail></event>'
    ).encode()


def _comparable(events: list[ev.Event]) -> list[tuple[Any, ...]]:
    """What the events say, without what differs by store (sequence numbers, ids, receipt)."""
    shown = []
    for event in events:
        payload = event.payload
        if isinstance(payload, ev.DirectiveQueued | ev.IncidentOpened | ev.AlertReceived):
            continue  # made by the activation (each gateway's own ids and times)
        if isinstance(payload, ev.DirectiveDelivered):
            continue  # a TAK device's connection delivers its pending alert: not a position
        shown.append((type(payload).__name__, event.actor, event.source, payload))
    return shown


def _wait(condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("alerted", [True, False], ids=["alerted", "joins-nearby"])
def test_the_same_position_over_http_and_cot_gives_the_same_events(
    two_gateways: tuple[RunningGateway, RunningGateway], alerted: bool
) -> None:
    http, cot = two_gateways
    activation = example("activation")
    activation["notified_device_ids"] = ["dev-chen"] if alerted else ["dev-ruiz"]
    incidents = []
    for gateway in (http, cot):
        status, opened = gateway.post("/v1/activations", activation, "school")
        assert status == 202, opened
        incidents.append(opened["incident_id"])
    before = [len(list(g.store.read(i))) for g, i in zip((http, cot), incidents, strict=True)]
    at_us = (int(time.time()) - 2) * US_PER_S
    stale_us = at_us + 30 * US_PER_S  # what HTTP positions are given (none stated)
    body = {
        "messages": [
            {
                "id": "p1",
                "kind": "position",
                "at": iso(at_us),
                "lat": LAT,
                "lon": LON,
                "accuracy_m": ACCURACY,
                "speed_mps": SPEED,
                "heading_deg": COURSE,
            }
        ]
    }
    status, answer = http.post("/v1/devices/dev-chen/messages", body, "dev-chen")
    assert status == 202 and answer["results"] == [{"id": "p1", "result": "stored"}]
    with socket.create_connection(("127.0.0.1", cot.ports["tcp"])) as sock:
        sock.sendall(_cot(at_us, stale_us))
        _wait(
            lambda: any(
                isinstance(e.payload, ev.ResponderPosition)
                for e in list(cot.store.read(incidents[1]))[before[1] :]
            )
        )
    over_http = list(http.store.read(incidents[0]))[before[0] :]
    over_cot = list(cot.store.read(incidents[1]))[before[1] :]
    assert _comparable(over_http) == _comparable(over_cot)
    kinds = [type(e.payload).__name__ for e in over_http]
    assert kinds[-1] == "ResponderPosition"
    if not alerted:  # joined as an unsolicited responder, then the position
        assert kinds[0] == "ResponderNotified"
        notified = over_http[0].payload
        assert isinstance(notified, ev.ResponderNotified) and notified.notified_by == "unsolicited"
    position = over_http[-1].payload
    assert isinstance(position, ev.ResponderPosition)
    assert (position.lat, position.lon, position.at_us, position.stale_at_us) == (
        LAT, LON, at_us, stale_us,
    )  # fmt: skip
    # The device's last known position is kept alike (what alerts it to the next incident).
    assert _last(http) == at_us  # written before the 2xx
    _wait(lambda: _last(cot) == at_us)  # CoT: written within half a second


def _last(gateway: RunningGateway) -> int | None:
    return {d.device_id: d for d in gateway.store.devices()}["dev-chen"].last_at_us
