"""Kill -9 the gateway process under load: every message it acknowledged is stored."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from dispatch_console.feeds.keys import SecretBox, new_key_material
from dispatch_console.importers.geojson_schools import load_schools
from dispatch_console.resources import resource
from dispatch_console.store import Store
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


def test_every_acknowledged_message_survives_kill_9_of_the_gateway(
    store_url: str, tmp_path: Path
) -> None:
    master = tmp_path / "master.key"
    box = SecretBox(master)
    keys: dict[str, Key] = {}
    with Store(store_url) as store:
        store.upsert_schools(load_schools(resource("example", "lincoln_hs.geojson")).imported)
        for name, kind, scope in (
            ("school", "school", "lincoln-hs"),
            ("dev-1", "device", "dev-1"),
            ("dev-2", "device", "dev-2"),
        ):
            if kind == "device":
                store.add_device(scope, home=(-84.55, 38.23))
            material = new_key_material(kind)  # type: ignore[arg-type]
            store.add_key(material.key_id, kind, scope, box.seal(material.secret), None)  # type: ignore[arg-type]
            keys[name] = Key(material.key_id, material.secret)
        register_officers(store, [officer("dev-1", 1), officer("dev-2", 2)])
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DISPATCH_CONSOLE_MASTER_KEY_FILE": str(master)}
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dispatch_console.cli",
            "gateway",
            "--db",
            store_url,
            "--http-port",
            str(port),
            "--udp-port",
            str(free_port(socket.SOCK_DGRAM)),
            "--tcp-port",
            str(free_port()),
            "--cot-plaintext",
            "--no-cot-tls",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    client = RunningGateway(f"http://127.0.0.1:{port}", store_url, {}, keys, None, None)  # type: ignore[arg-type]
    try:
        wait_until_healthy(client, child)
        status, opened = client.post("/v1/activations", example("activation"), "school")
        assert status == 202, opened
        acknowledged: list[tuple[str, str]] = []
        lock = threading.Lock()
        stop = threading.Event()

        def send(device: str) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                messages = [
                    {
                        "id": f"{device}-{n}-{i}",
                        "kind": "position",
                        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "lat": 38.23 + n * 1e-5,
                        "lon": -84.55 + i * 1e-5,
                    }
                    for i in range(10)
                ]
                try:
                    status, _ = client.post(
                        f"/v1/devices/{device}/messages", {"messages": messages}, device
                    )
                except OSError:
                    return  # the gateway is gone
                if status == 202:
                    with lock:
                        acknowledged.extend((keys[device].key_id, m["id"]) for m in messages)

        senders = [threading.Thread(target=send, args=(d,)) for d in ("dev-1", "dev-2")]
        for sender in senders:
            sender.start()
        while True:
            with lock:
                if len(acknowledged) >= 400:
                    break
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)  # mid-stream: requests are in flight
        child.wait(timeout=30)
        stop.set()
        for sender in senders:
            sender.join(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stderr:
            child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    with Store(store_url) as reopened:
        missing = [
            (key_id, message_id)
            for key_id, message_id in acknowledged
            if reopened.incident_of_key(f"{key_id}/{message_id}") is None
        ]
        assert len(acknowledged) >= 400 and missing == []
