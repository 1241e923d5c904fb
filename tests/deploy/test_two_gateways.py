"""Two gateway processes on one PostgreSQL (as on two hosts behind a load balancer), each
taking part of the phones, under load: every message is stored once (a retry that the balancer
sends to the other gateway included), every alert directive is delivered (fetched over HTTP
from either gateway, or pushed as CoT to a TAK device connected to the gateway that did not
queue it)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from dispatch_console.domain import events as ev
from dispatch_console.domain.timeutil import US_PER_S, iso
from dispatch_console.feeds.keys import SecretBox, new_key_material
from dispatch_console.importers.geojson_schools import load_schools
from dispatch_console.resources import resource
from dispatch_console.store import Store
from tests.conftest import PostgresDatabases
from tests.feeds.gateway_fixture import (
    Key,
    RunningGateway,
    officer,
    register_officers,
    wait_until_healthy,
)
from tests.feeds.test_contract import example
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
DEVICES = [f"dev-{i}" for i in range(12)]
TAK_DEVICE, TAK = "dev-1", "ANDROID-TWO-GATEWAYS-1"  # served by gateway B
ROUNDS = 12


@contextmanager
def _gateway(url: str, folder: Path, name: str) -> Iterator[tuple[RunningGateway, int]]:
    """``dispatch-console gateway`` in a process of its own: a client for it, its CoT port."""
    port, tcp = free_port(), free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DISPATCH_CONSOLE_MASTER_KEY_FILE": str(folder / "master.key"),
    }
    log = (folder / f"gateway-{name}.log").open("wb")
    child = subprocess.Popen(
        [sys.executable, "-m", "dispatch_console.cli", "gateway", "--db", url,
         "--http-port", str(port), "--udp-port", str(free_port(socket.SOCK_DGRAM)),
         "--tcp-port", str(tcp), "--no-udp-worker", "--cot-plaintext", "--no-cot-tls",
         "--journal", str(folder / f"journal-{name}.sqlite3")],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    client = RunningGateway(f"http://127.0.0.1:{port}", url, {}, {}, None, None)  # type: ignore[arg-type]
    try:
        wait_until_healthy(client, child, (folder / f"gateway-{name}.log").read_text)
        yield client, tcp
    finally:
        child.terminate()
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(10)
        log.close()


def _setup(url: str, folder: Path) -> dict[str, Key]:
    box = SecretBox(folder / "master.key")
    keys: dict[str, Key] = {}
    with Store(url) as store:
        store.upsert_schools(load_schools(resource("example", "lincoln_hs.geojson")).imported)
        material = new_key_material("school")
        store.add_key(material.key_id, "school", "lincoln-hs", box.seal(material.secret), None)
        keys["school"] = Key(material.key_id, material.secret)
        for device in DEVICES:
            store.add_device(
                device, tak_uid=TAK if device == TAK_DEVICE else None, home=(-84.55, 38.23)
            )
            material = new_key_material("device")
            store.add_key(material.key_id, "device", device, box.seal(material.secret), None)
            keys[device] = Key(material.key_id, material.secret)
        register_officers(store, [officer(d, n) for n, d in enumerate(DEVICES)])
    return keys


def _wait(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _pli(at_us: int) -> bytes:
    return (
        f'<event version="2.0" uid="{TAK}" type="a-f-G-U-C" how="m-g" time="{iso(at_us)}" '
        f'start="{iso(at_us)}" stale="{iso(at_us + 60 * US_PER_S)}"><point lat="38.2300" '
        f'lon="-84.5500" hae="0" ce="9" le="9"/><detail><contact callsign="T-1"/></detail>'
        "</event>"
    ).encode()


def test_two_gateways_on_one_postgresql_store_each_message_once_and_deliver_every_directive(
    postgres: PostgresDatabases, tmp_path: Path
) -> None:
    url = postgres.new()
    keys = _setup(url, tmp_path)
    with ExitStack() as stack:
        a, _ = stack.enter_context(_gateway(url, tmp_path, "a"))
        b, b_tcp = stack.enter_context(_gateway(url, tmp_path, "b"))
        for client in (a, b):
            client.keys = keys
        activation = example("activation")
        activation["notified_device_ids"] = DEVICES
        status, opened = a.post("/v1/activations", activation, "school")
        assert status == 202 and opened["notified"] == len(DEVICES), opened
        incident_id = opened["incident_id"]
        store = stack.enter_context(Store(url, migrate=False))

        # The TAK device connects to gateway B, which did not queue its alert: B learns of
        # the incident from the store and pushes the alert as CoT.
        tak = stack.enter_context(socket.create_connection(("127.0.0.1", b_tcp), timeout=30))
        tak.sendall(_pli(int(time.time()) * US_PER_S))
        received = b""
        deadline = time.monotonic() + 30
        while b"b-t-f" not in received and time.monotonic() < deadline:
            tak.sendall(_pli(int(time.time()) * US_PER_S))
            tak.settimeout(1.0)
            with contextlib.suppress(TimeoutError):
                received += tak.recv(65536)
        assert b"b-t-f" in received, "no GeoChat alert reached the TAK device on gateway B"

        acknowledged: Counter[tuple[str, str]] = Counter()
        refused: list[tuple[str, int]] = []
        lock = threading.Lock()

        def phone(index: int, device: str) -> None:
            mine, other = (a, b) if index % 2 == 0 else (b, a)
            for n in range(ROUNDS):
                message = {
                    "id": f"{device}-{n}",
                    "kind": "position",
                    "at": iso(int(time.time() * 1000) * 1000),
                    "lat": 38.2300 + n * 1e-5,
                    "lon": -84.5500 + index * 1e-5,
                }
                status, _ = mine.post(
                    f"/v1/devices/{device}/messages", {"messages": [message]}, device
                )
                if n % 4 == 3:  # the balancer resends it to the other gateway (a timeout)
                    again, answer_again = other.post(
                        f"/v1/devices/{device}/messages", {"messages": [message]}, device
                    )
                    assert again != 202 or answer_again["results"][0]["result"] == "duplicate"
                with lock:
                    if status == 202:
                        acknowledged[(device, message["id"])] += 1
                    else:
                        refused.append((device, status))
            # Its alert, from its own gateway (queued by A, delivered by either).
            status, listed = mine.get(f"/v1/devices/{device}/directives", device)
            assert status == 200 and [d["kind"] for d in listed["directives"]] == ["alert"]

        threads = [threading.Thread(target=phone, args=(i, d)) for i, d in enumerate(DEVICES)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not refused, refused
        assert len(acknowledged) == len(DEVICES) * ROUNDS

        events = list(store.read(incident_id))
        keyed = Counter(e.idempotency_key for e in events if e.idempotency_key)
        for device, message_id in acknowledged:
            assert keyed[f"{keys[device].key_id}/{message_id}"] == 1, (device, message_id)
        queued = {
            e.payload.directive_id: e.payload.device_id
            for e in events
            if isinstance(e.payload, ev.DirectiveQueued)
        }
        delivered = Counter(
            e.payload.directive_id for e in events if isinstance(e.payload, ev.DirectiveDelivered)
        )
        assert sorted(queued.values()) == sorted(DEVICES)
        assert all(delivered[d] == 1 for d in queued), delivered
        # Both gateways took their part of the phones.
        writers = Counter(
            e.actor.name for e in events if isinstance(e.payload, ev.ResponderPosition)
        )
        assert set(writers) == set(DEVICES) | {TAK_DEVICE}
