"""Interop with a real TAK client library: pytak sends Cursor-on-Target to the gateway's UDP
and TCP listeners and receives the gateway's outbound CoT (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET
from typing import Any

import pytak

from dispatch_console.domain.lifecycle import ResponderStatus
from dispatch_console.feeds.cot.parse import parse_cot
from dispatch_console.service import IncidentService
from tests.feeds.gateway_fixture import TAK_UID, RunningGateway
from tests.feeds.test_contract import example


def _pli(uid: str, lat: float, lon: float, callsign: str) -> bytes:
    """A position report as pytak itself makes it."""
    event = pytak.gen_cot_xml(
        lat=lat,
        lon=lon,
        ce=8,
        hae=250,
        le=9999999,
        uid=uid,
        stale=60,
        cot_type="a-f-G-U-C",
        callsign=callsign,
    )
    assert event is not None
    return ET.tostring(event)


def _wait(condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


class Collect(pytak.RXWorker):  # type: ignore[misc]
    def __init__(self, queue: asyncio.Queue[bytes], config: dict[str, str], reader: Any) -> None:
        super().__init__(queue, config, reader)
        self.received: list[bytes] = []

    async def handle_data(self, data: bytes) -> None:
        self.received.append(data)


async def _tak_client_session(port: int, send: list[bytes], expect: int) -> list[bytes]:
    config = {"COT_URL": f"tcp://127.0.0.1:{port}"}
    reader, writer = await pytak.protocol_factory(config)
    tx = pytak.TXWorker(asyncio.Queue(), config, writer)
    rx = Collect(asyncio.Queue(), config, reader)
    for data in send:
        await tx.send_data(data)
    deadline = time.monotonic() + 15
    while len(rx.received) < expect and time.monotonic() < deadline:
        try:
            data = await asyncio.wait_for(rx.readcot(), timeout=1.0)
        except TimeoutError:
            continue
        if data:
            rx.received.append(data)
    writer.close()
    return rx.received


def test_a_tak_device_on_tcp_reports_its_position_and_receives_its_alert(
    gateway: RunningGateway,
) -> None:
    _, opened = gateway.post("/v1/activations", example("activation"), "school")
    incident_id = opened["incident_id"]
    received = asyncio.run(
        _tak_client_session(
            gateway.ports["tcp"], [_pli(TAK_UID, 38.2480, -84.5800, "GPD-212")], expect=3
        )
    )
    parsed = [parse_cot(data) for data in received]
    kinds = {p.type for p in parsed}
    assert "b-t-f" in kinds and any(p.type.startswith("b-a-o") for p in parsed), kinds
    chat = next(p for p in parsed if p.type == "b-t-f")
    assert chat.remarks is not None and "Lincoln High School" in chat.remarks
    assert "Staging A" in chat.remarks
    staging = [p for p in parsed if p.type.startswith("u-d")]
    assert staging and "Staging A" in (staging[0].callsign or "")

    def delivered() -> bool:
        state = IncidentService(gateway.store).state(incident_id)
        chen = state.responders["dev-chen"]
        alert = next(d for d in state.directives.values() if d.device_id == "dev-chen")
        return chen.position is not None and alert.delivered_via == "cot"

    _wait(delivered)
    chen = IncidentService(gateway.store).state(incident_id).responders["dev-chen"]
    assert chen.position is not None and abs(chen.position.lat - 38.2480) < 1e-6
    assert chen.position.accuracy_m == 8.0


def test_pytak_over_udp_puts_an_unregistered_contact_in_the_incident_as_unverified(
    gateway_with_udp_worker: RunningGateway,
) -> None:
    gateway = gateway_with_udp_worker
    _, opened = gateway.post("/v1/activations", example("activation"), "school")
    incident_id = opened["incident_id"]

    async def send() -> None:
        config = {"COT_URL": f"udp+wo://127.0.0.1:{gateway.ports['udp']}"}
        _, writer = await pytak.protocol_factory(config)
        tx = pytak.TXWorker(asyncio.Queue(), config, writer)
        await tx.send_data(_pli("ANDROID-deadbeef00000001", 38.2300, -84.5450, "STRANGER"))
        await tx.send_data(b"<event><not-cot/></event>")  # rejected, the listener carries on
        await tx.send_data(_pli("ANDROID-deadbeef00000001", 38.2301, -84.5451, "STRANGER"))

    asyncio.run(send())

    def contact_seen() -> bool:
        state = IncidentService(gateway.store).state(incident_id)
        contact = state.responders.get("tak:ANDROID-deadbeef00000001")
        return (
            contact is not None
            and contact.position is not None
            and (abs(contact.position.lat - 38.2301) < 1e-6)
        )

    _wait(contact_seen)
    # The operators' figures: every datagram was received (the kernel dropped none), and the
    # gateway stored all it could (the store was never down).
    status, health = gateway.get("/v1/health?stats", None)
    assert status == 200 and health["cot_udp"] == {"received": 3, "not_stored": 0}, health
    contact = (
        IncidentService(gateway.store).state(incident_id).responders["tak:ANDROID-deadbeef00000001"]
    )
    assert contact.callsign == "STRANGER" and contact.roster_verdict == "not_on_roster"
    assert contact.status is ResponderStatus.NOTIFIED
    assert "not registered" in (contact.roster_reason or "")
    _wait(lambda: any(r.transport == "udp" for r in gateway.store.rejections()))


def test_the_real_captures_sent_over_udp_never_stop_the_listener(
    gateway_with_udp_worker: RunningGateway, shared_data: Any
) -> None:
    gateway = gateway_with_udp_worker
    import socket

    captures = sorted((shared_data / "cot").iterdir())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for path in captures:
            sock.sendto(path.read_bytes(), ("127.0.0.1", gateway.ports["udp"]))
    _wait(lambda: any("not well-formed" in r.reason for r in gateway.store.rejections()))
    assert gateway.get("/v1/health", None)[0] == 200
    # and the listener still takes positions afterwards
    _, opened = gateway.post("/v1/activations", example("activation"), "school")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(
            _pli(TAK_UID, 38.2481, -84.5801, "GPD-212"), ("127.0.0.1", gateway.ports["udp"])
        )

    def chen_located() -> bool:
        state = IncidentService(gateway.store).state(opened["incident_id"])
        return state.responders["dev-chen"].position is not None

    _wait(chen_located)


def test_the_in_process_udp_listener_takes_positions_too(gateway: RunningGateway) -> None:
    import socket

    _, opened = gateway.post("/v1/activations", example("activation"), "school")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(
            b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><event/>",
            ("127.0.0.1", gateway.ports["udp"]),
        )
        sock.sendto(
            _pli(TAK_UID, 38.2482, -84.5802, "GPD-212"), ("127.0.0.1", gateway.ports["udp"])
        )

    def chen_located() -> bool:
        state = IncidentService(gateway.store).state(opened["incident_id"])
        return state.responders["dev-chen"].position is not None

    _wait(chen_located)
    _wait(lambda: any("DOCTYPE" in r.reason for r in gateway.store.rejections()))


def test_tak_protocol_v1_protobuf_over_udp_mesh_and_tcp_stream(
    gateway_with_udp_worker: RunningGateway,
) -> None:
    import socket

    import takproto

    gateway = gateway_with_udp_worker
    _, opened = gateway.post("/v1/activations", example("activation"), "school")
    incident_id = opened["incident_id"]
    mesh = bytes(
        takproto.xml2proto(_pli(TAK_UID, 38.2490, -84.5810, "GPD-212"), takproto.TAKProtoVer.MESH)
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(mesh, ("127.0.0.1", gateway.ports["udp"]))

    def chen_at(lat: float) -> bool:
        position = IncidentService(gateway.store).state(incident_id).responders["dev-chen"].position
        return position is not None and abs(position.lat - lat) < 1e-6

    _wait(lambda: chen_at(38.2490))
    time.sleep(1.1)  # CoT times have a resolution of whole seconds in pytak's generator
    stream = bytes(
        takproto.xml2proto(_pli(TAK_UID, 38.2495, -84.5815, "GPD-212"), takproto.TAKProtoVer.STREAM)
    )
    with socket.create_connection(("127.0.0.1", gateway.ports["tcp"])) as conn:
        conn.sendall(stream)
        _wait(lambda: chen_at(38.2495))
