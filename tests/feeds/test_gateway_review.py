"""Defects found in review, each pinned by a test (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import pytest

from dispatch_console.feeds.auth import sign
from dispatch_console.feeds.cot.parse import parse_cot
from dispatch_console.feeds.keys import SecretBox, new_key_material
from dispatch_console.service import IncidentService
from tests.feeds.gateway_fixture import TAK_UID, Key, RunningGateway
from tests.feeds.test_contract import example
from tests.feeds.test_tak_interop import _pli, _wait


def _read_cot(conn: socket.socket, seconds: float) -> list[bytes]:
    conn.settimeout(0.2)
    data = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            chunk = conn.recv(65536)
        except TimeoutError:
            continue
        if not chunk:
            break
        data += chunk
    return [part + b"</event>" for part in data.split(b"</event>") if part.strip()]


def test_a_second_connection_cannot_take_over_a_bound_tak_uid(gateway: RunningGateway) -> None:
    _, opened = gateway.post("/v1/activations", example("activation"), "school")
    tcp = ("127.0.0.1", gateway.ports["tcp"])
    with socket.create_connection(tcp) as device:
        device.sendall(_pli(TAK_UID, 38.2480, -84.5800, "GPD-212"))
        first = _read_cot(device, 2.0)
        assert any(parse_cot(d).type == "b-t-f" for d in first)  # the real device has its alert
        with socket.create_connection(tcp) as impostor:
            impostor.sendall(_pli(TAK_UID, 38.9, -80.0, "GPD-212"))
            assert _read_cot(impostor, 1.5) == []  # nothing for the second claimant
        _wait(
            lambda: any(
                "bound to another connection" in r.reason for r in gateway.store.rejections()
            )
        )
    # Not acknowledged yet: the alert goes again when the device reconnects.
    with socket.create_connection(tcp) as device:
        device.sendall(_pli(TAK_UID, 38.2481, -84.5801, "GPD-212"))
        again = _read_cot(device, 2.0)
        assert any(parse_cot(d).type == "b-t-f" for d in again)
    assert opened["notified"] == 3


def test_an_unsigned_flood_naming_a_key_does_not_rate_limit_that_key(
    gateway: RunningGateway,
) -> None:
    school = gateway.keys["school"]
    for _ in range(150):
        gateway.post("/v1/activations", example("activation"), Key(school.key_id, "wrong"))
    gateway.thread.gateway.peer_limiter.burst = 1e9  # the address limit is not what is tested
    status, answer = gateway.post("/v1/activations", example("activation"), "school")
    assert status == 202, answer


def test_a_removed_devices_key_stops_working_and_its_successor_starts_clean(
    gateway: RunningGateway,
) -> None:
    profile = {
        "messages": [
            {
                "id": "p1",
                "kind": "profile",
                "at": "2026-11-24T09:14:20Z",
                "name": "Imposter",
                "duty": "off",
            }
        ]
    }
    assert gateway.post("/v1/devices/dev-walker/messages", profile, "dev-walker")[0] == 202
    gateway.store.remove_device("dev-walker")
    core = gateway.thread.gateway.core
    assert core is not None
    core.keys._ttl = 0.0
    core.reference.forget_devices()
    status, _ = gateway.post("/v1/devices/dev-walker/messages", profile, "dev-walker")
    assert status == 401
    device = gateway.store.add_device("dev-walker", home=(-84.5050, 38.2020))
    assert device.profile is None and device.last_at_us is None
    assert all(k.revoked for k in gateway.store.api_keys() if k.scope == "dev-walker")


def test_messages_naming_incidents_the_device_is_not_in_create_nothing(
    gateway: RunningGateway,
) -> None:
    body = {
        "messages": [
            {
                "id": f"s{i}",
                "kind": "status",
                "at": "2026-11-24T09:14:20Z",
                "incident_id": f"junk-{i}",
                "status": "en_route",
            }
            for i in range(50)
        ]
    }
    status, answer = gateway.post("/v1/devices/dev-ruiz/messages", body, "dev-ruiz")
    assert status == 202 and {r["result"] for r in answer["results"]} == {"refused"}
    core = gateway.thread.gateway.core
    assert core is not None and core.service.live_incidents() == []

    # The rejection log is flushed twice a second: wait for the one line (generous timeout).
    def logged() -> int:
        return sum("refused 50 of 50" in r.reason for r in gateway.store.rejections())

    _wait(lambda: logged() >= 1, timeout=30)
    assert logged() == 1
    assert core.service.live_incidents() == []


def test_an_activation_interrupted_before_alerting_is_completed_by_its_retry(
    gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    core = gateway.thread.gateway.core
    assert core is not None
    real = core._notify
    calls = {"n": 0}

    def failing_once(*args: Any, **kwargs: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(core, "_notify", failing_once)
    status, _ = gateway.post("/v1/activations", example("activation"), "school")
    assert status == 500
    status, answer = gateway.post("/v1/activations", example("activation"), "school")
    assert status == 202 and answer["duplicate"] is True and answer["notified"] == 3
    state = IncidentService(gateway.store).state(answer["incident_id"])
    assert set(state.responders) == {"dev-ruiz", "dev-chen", "dev-walker"}


def test_two_alert_systems_of_one_school_may_use_the_same_message_id(
    gateway: RunningGateway,
) -> None:
    box = SecretBox(gateway.thread.gateway.box.path)  # type: ignore[union-attr]
    material = new_key_material("school")
    gateway.store.add_key(material.key_id, "school", "lincoln-hs", box.seal(material.secret), None)
    _, first = gateway.post("/v1/activations", example("activation"), "school")
    status, second = gateway.post(
        "/v1/activations", example("activation"), Key(material.key_id, material.secret)
    )
    assert status == 202 and second["incident_id"] == first["incident_id"]
    assert len(IncidentService(gateway.store).state(first["incident_id"]).alerts) == 2


def test_notifications_for_a_closed_incident_are_refused(gateway: RunningGateway) -> None:
    from dispatch_console.domain import events as ev

    _, opened = gateway.post("/v1/activations", example("activation"), "school")
    core = gateway.thread.gateway.core
    assert core is not None
    core.service.store.set_user("IC", "incident commander")
    gateway.thread.gateway._writer.submit(
        core.service.execute,
        opened["incident_id"],
        [ev.IncidentStatusChanged("all_clear")],
        actor=ev.Actor(ev.ActorKind.CONSOLE_USER, "IC"),
        source=ev.Source.CONSOLE,
    ).result()
    status, answer = gateway.post(
        f"/v1/incidents/{opened['incident_id']}/notified", example("notified"), "school"
    )
    assert status == 409 and "all clear" in answer["error"]


def test_a_non_ascii_digit_in_the_signature_time_is_a_401(gateway: RunningGateway) -> None:
    body = json.dumps(example("activation")).encode()
    status, _ = gateway.post("/v1/activations", body, "school", signature="t=²,v1=" + "0" * 64)
    assert status == 401
    good = sign(gateway.keys["school"].secret.encode(), int(time.time()), body)
    assert gateway.post("/v1/activations", body, "school", signature=good)[0] == 202


def test_a_flood_of_made_up_tak_uids_is_capped_per_incident(gateway: RunningGateway) -> None:
    from dispatch_console.feeds import core as core_module

    _, opened = gateway.post("/v1/activations", example("activation"), "school")
    cap = core_module.MAX_UNREGISTERED_PER_INCIDENT
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for n in range(cap + 50):
            sock.sendto(
                _pli(f"FAKE-{n:05d}", 38.23, -84.545, f"F{n}"), ("127.0.0.1", gateway.ports["udp"])
            )
            if n % 50 == 49:
                time.sleep(0.05)

    def settled() -> bool:
        state = IncidentService(gateway.store).state(opened["incident_id"])
        return sum(r.startswith("tak:") for r in state.responders) >= cap

    _wait(settled)
    time.sleep(0.5)
    state = IncidentService(gateway.store).state(opened["incident_id"])
    assert sum(r.startswith("tak:") for r in state.responders) == cap


def test_a_cot_stale_window_of_days_is_capped(gateway: RunningGateway) -> None:
    _, opened = gateway.post("/v1/activations", example("activation"), "school")
    now = time.time()
    t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    stale = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 17 * 86400))
    pli = (
        f"<event version='2.0' uid='{TAK_UID}' type='a-f-G-U-C' time='{t}' start='{t}' "
        f"stale='{stale}' how='m-g'><point lat='38.2480' lon='-84.5800' hae='0' ce='5' "
        f"le='0'/></event>"
    ).encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(pli, ("127.0.0.1", gateway.ports["udp"]))

    def located() -> bool:
        state = IncidentService(gateway.store).state(opened["incident_id"])
        return state.responders["dev-chen"].position is not None

    _wait(located)
    position = (
        IncidentService(gateway.store).state(opened["incident_id"]).responders["dev-chen"].position
    )
    assert position is not None and position.stale_at_us - position.at_us <= 600_000_000


def test_a_registered_device_near_an_incident_it_was_not_alerted_to_joins_it(
    gateway: RunningGateway,
) -> None:
    activation = {**example("activation"), "notified_device_ids": ["dev-ruiz"]}
    _, opened = gateway.post("/v1/activations", activation, "school")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(
            _pli(TAK_UID, 38.2290, -84.5440, "GPD-212"), ("127.0.0.1", gateway.ports["udp"])
        )

    def joined() -> bool:
        state = IncidentService(gateway.store).state(opened["incident_id"])
        chen = state.responders.get("dev-chen")
        return chen is not None and chen.position is not None

    _wait(joined)
    position = {
        "messages": [
            {
                "id": "w1",
                "kind": "position",
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "lat": 38.2300,
                "lon": -84.5450,
            }
        ]
    }
    assert gateway.post("/v1/devices/dev-walker/messages", position, "dev-walker")[0] == 202
    state = IncidentService(gateway.store).state(opened["incident_id"])
    assert set(state.responders) == {"dev-ruiz", "dev-chen", "dev-walker"}
    walker = state.responders["dev-walker"]
    assert walker.position is not None and walker.position.lat == 38.2300


def test_a_gateway_that_fails_to_start_releases_everything(store_url: str, tmp_path: Any) -> None:
    from dispatch_console.feeds.server import GatewayThread, Listen

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            udp_port = probe.getsockname()[1]
        thread = GatewayThread(
            store_url,
            Listen("127.0.0.1", 0, udp_port, taken, udp_worker=True),
            box=SecretBox(tmp_path / "master.key"),
        )
        with pytest.raises(RuntimeError, match="failed to start"):
            thread.start_and_wait()
        thread.join(30)
    assert thread.gateway._udp_worker is not None and not thread.gateway._udp_worker.alive
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
        again.bind(("127.0.0.1", udp_port))  # the UDP port is free again


def test_a_gateway_refuses_to_start_with_the_wrong_master_key(
    gateway: RunningGateway, tmp_path: Any
) -> None:
    from dispatch_console.feeds.server import GatewayThread, Listen

    other = GatewayThread(
        gateway.store_url,
        Listen("127.0.0.1", 0, 0, 0, udp_worker=False),
        box=SecretBox(tmp_path / "another-master.key"),
    )
    with pytest.raises(RuntimeError, match="master key"):
        other.start_and_wait()
    other.join(30)


def test_an_older_or_replayed_profile_does_not_replace_a_newer_one(gateway: RunningGateway) -> None:
    def profile(message_id: str, at: str, name: str) -> dict[str, Any]:
        return {
            "messages": [
                {
                    "id": message_id,
                    "kind": "profile",
                    "at": at,
                    "name": name,
                    "attire": {"uniform": False, "top_color": "black"},
                }
            ]
        }

    gateway.post(
        "/v1/devices/dev-ruiz/messages",
        profile("p2", "2026-11-24T09:20:00Z", "Det. M. Ruiz"),
        "dev-ruiz",
    )
    gateway.post(
        "/v1/devices/dev-ruiz/messages",
        profile("p1", "2026-11-24T09:10:00Z", "Someone Else"),
        "dev-ruiz",
    )
    device = gateway.store.device("dev-ruiz")
    assert device is not None and device.profile is not None
    assert device.profile["name"] == "Det. M. Ruiz"
