"""The gateway's CoT position path, batch by batch (SQLite and PostgreSQL): who a uid is and
where its positions go is worked out once per batch, a contact joins an incident once however
many of its reports a batch holds, and a report reaching two gateways is stored once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatch_console.domain import events as ev
from dispatch_console.feeds.core import GatewayCore
from dispatch_console.feeds.cot.parse import CotPosition
from dispatch_console.feeds.keys import SecretBox, new_key_material
from dispatch_console.importers.geojson_schools import load_schools
from dispatch_console.resources import resource
from dispatch_console.store import Store
from tests.feeds.gateway_fixture import DEVICES, TAK_UID, register_officers

S = 1_000_000
NEAR = (38.2290, -84.5440)


class Setup:
    def __init__(self, store_url: str, folder: Path) -> None:
        self.url = store_url
        self.box = SecretBox(folder / "master.key")
        self.store = Store(store_url)
        self.store.upsert_schools(load_schools(resource("example", "lincoln_hs.geojson")).imported)
        material = new_key_material("school")
        self.store.add_key(
            material.key_id, "school", "lincoln-hs", self.box.seal(material.secret), None
        )
        self.school_key = material.key_id
        for device_id, (lat, lon) in DEVICES.items():
            tak = TAK_UID if device_id == "dev-chen" else None
            self.store.add_device(device_id, tak_uid=tak, home=(lon, lat), label=device_id)
        register_officers(self.store)
        self.cores: list[GatewayCore] = []

    def core(self) -> GatewayCore:
        store = self.store if not self.cores else Store(self.url, migrate=False)
        core = GatewayCore(store, self.box)
        self.cores.append(core)
        return core

    def open_incident(self, core: GatewayCore, notified: list[str]) -> str:
        key = core.keys.get(self.school_key)
        assert key is not None
        body = {
            "id": "act-1",
            "school_id": "lincoln-hs",
            "type": "active_shooter",
            "activated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "notified_device_ids": notified,
        }
        reply = core.activation(key, json.dumps(body).encode())
        assert reply.status == 202, reply.body
        return str(reply.body["incident_id"])

    def close(self) -> None:
        for core in self.cores:
            core.store.close()


@pytest.fixture
def setup(store_url: str, tmp_path: Path) -> Iterator[Setup]:
    made = Setup(store_url, tmp_path)
    yield made
    made.close()


def _cot(uid: str, at_us: int, lat: float = NEAR[0], lon: float = NEAR[1]) -> CotPosition:
    return CotPosition(uid, "a-f-G-U-C", at_us, at_us + 30 * S, lat, lon, 5.0, "X", 1.0, 90.0)


def _events(store: Store, incident: str, after: int) -> list[ev.Event]:
    return [e for e in store.read(incident) if e.seq > after]


def test_a_device_joins_once_however_many_of_its_reports_a_batch_holds(setup: Setup) -> None:
    core = setup.core()
    incident = setup.open_incident(core, ["dev-ruiz"])
    before = setup.store.last_seq()
    now = int(time.time() * S)
    uids = core.cot_positions([(_cot(TAK_UID, now + n * 1000), "udp:1") for n in range(5)], "udp")
    assert uids == {TAK_UID}
    events = _events(setup.store, incident, before)
    assert [e.type for e in events] == ["responder_notified"] + ["responder_position"] * 5
    assert events[0].payload == ev.ResponderNotified("dev-chen", "dev-chen", "unsolicited")
    assert [e.seq for e in events] == list(range(before + 1, before + 7))  # one transaction
    chen = core.service.state(incident).responders["dev-chen"]
    assert chen.position is not None and chen.position.at_us == now + 4000


def test_an_unregistered_uid_is_contacted_once_per_incident(setup: Setup) -> None:
    core = setup.core()
    incident = setup.open_incident(core, ["dev-ruiz"])
    before = setup.store.last_seq()
    now = int(time.time() * S)
    core.cot_positions([(_cot("STRANGER-1", now + n * 1000), "udp:1") for n in range(5)], "udp")
    core.cot_positions([(_cot("STRANGER-1", now + 9000), "udp:1")], "udp")
    types = [e.type for e in _events(setup.store, incident, before)]
    assert (
        types
        == [
            "responder_notified",
            "responder_profile_reported",
            "responder_roster_checked",
        ]
        + ["responder_position"] * 6
    )
    assert core.positions.unregistered_count[incident] == 1
    state = core.service.state(incident)
    assert state.responders["tak:STRANGER-1"].position is not None


def test_reports_refused_by_the_gateway_store_nothing_and_the_rest_go_in(setup: Setup) -> None:
    core = setup.core()
    incident = setup.open_incident(core, ["dev-ruiz", "dev-chen"])
    before = setup.store.last_seq()
    now = int(time.time() * S)
    batch = [
        (_cot(TAK_UID, now, 0.0, 0.0), "udp:1"),
        (_cot(TAK_UID, 900_000_000 * S), "udp:2"),
        (_cot(TAK_UID, now + 3600 * S), "udp:3"),
        (_cot(TAK_UID, now), "udp:4"),
    ]
    assert core.cot_positions(batch, "udp") == {TAK_UID}
    assert [e.type for e in _events(setup.store, incident, before)] == ["responder_position"]
    core.flush()
    reasons = [r.reason for r in setup.store.rejections()]
    assert any("0,0" in r for r in reasons) and any("2000" in r for r in reasons)
    assert any("future" in r for r in reasons)


def test_a_report_reaching_two_gateways_is_stored_once(setup: Setup) -> None:
    first = setup.core()
    incident = setup.open_incident(first, ["dev-ruiz", "dev-chen"])
    second = setup.core()
    now = int(time.time() * S)
    reports = [(_cot(TAK_UID, now + n * 1000), "udp:1") for n in range(6)]
    first.cot_positions(reports[:4], "udp")
    second.cot_positions(reports[2:], "udp")
    first.cot_positions(reports, "udp")  # and again, all of them, through the first
    positions = [e for e in setup.store.read(incident) if e.type == "responder_position"]
    assert sorted(e.occurred_at_us for e in positions) == [now + n * 1000 for n in range(6)]
    assert len({e.idempotency_key for e in positions}) == 6
    seqs = [e.seq for e in setup.store.read(incident)]
    assert seqs == list(range(1, len(seqs) + 1))
    for core in (first, second):
        chen = core.service.state(incident).responders["dev-chen"]
        assert chen.position is not None and chen.position.at_us == now + 5000


def test_a_device_far_from_every_incident_only_updates_its_last_position(setup: Setup) -> None:
    core = setup.core()
    incident = setup.open_incident(core, ["dev-ruiz"])
    before = setup.store.last_seq()
    now = int(time.time() * S)
    core.cot_positions([(_cot(TAK_UID, now, 38.9, -84.54), "udp:1")], "udp")
    assert _events(setup.store, incident, before) == []
    core.flush()
    chen = setup.store.devices()
    assert [(d.last_lat, d.last_lon) for d in chen if d.device_id == "dev-chen"] == [(38.9, -84.54)]
