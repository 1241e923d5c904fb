"""A real gateway on free ports, with a store, schools, devices and keys: for the feed tests."""

from __future__ import annotations

import json
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dispatch_console.domain.reference import RosterEntry
from dispatch_console.feeds.auth import sign
from dispatch_console.feeds.keys import SecretBox, new_key_material
from dispatch_console.feeds.server import GatewayThread, Listen
from dispatch_console.importers.geojson_schools import load_schools
from dispatch_console.importers.roster_csv import load_roster
from dispatch_console.resources import resource
from dispatch_console.store import Store

SCHOOL_LON, SCHOOL_LAT = -84.5400, 38.2250

#: Devices and where they are registered (home or patrol area): all but the last are within
#: the 10-mile notification radius of Lincoln High School.
DEVICES = {
    "dev-ruiz": (38.2355, -84.5611),
    "dev-chen": (38.2480, -84.5800),
    "dev-walker": (38.2020, -84.5050),
    "dev-far": (38.9000, -84.5400),  # 75 km north: not alerted
}
TAK_UID = "ANDROID-0000000000000042"


def example_roster() -> list[RosterEntry]:
    """The example roster (resources/example/roster.csv, as in the README's set-up): it
    registers dev-ruiz, dev-chen and dev-walker to their officers, so the default rule (no
    agency rules loaded: officers on a roster only, never an app user) alerts them."""
    return list(load_roster(resource("example", "roster.csv")).imported)


def register_officers(store: Store, entries: Iterable[RosterEntry] | None = None) -> None:
    """Add ``entries`` to the store's roster (kept: the entries already there of other badges)."""
    added = example_roster() if entries is None else list(entries)
    keys = {(e.agency, e.badge) for e in added}
    kept = [e for e in store.roster() if (e.agency, e.badge) not in keys]
    store.replace_roster([*kept, *added])


def officer(device_id: str, n: int, agency: str = "Scott County Sheriff") -> RosterEntry:
    """An active officer of ``agency`` (badge ``9000 + n``) the device is registered to."""
    return RosterEntry(agency, str(9000 + n), f"Officer {device_id}", "active", (device_id,))


@dataclass
class Key:
    key_id: str
    secret: str


@dataclass
class RunningGateway:
    url: str
    store_url: str
    ports: dict[str, int]
    keys: dict[str, Key]
    thread: GatewayThread
    store: Store
    clock_offset_s: float = 0.0
    sent: list[str] = field(default_factory=list)
    #: How requests trust the gateway's certificate when it serves HTTPS.
    tls: ssl.SSLContext | None = None

    def request(
        self,
        method: str,
        path: str,
        body: bytes | dict[str, Any] | None = None,
        key: str | Key | None = None,
        *,
        t: int | None = None,
        signature: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        raw = body if isinstance(body, bytes) else (json.dumps(body).encode() if body else b"")
        headers = {"Content-Type": "application/json"}
        chosen = self.keys[key] if isinstance(key, str) else key
        if chosen is not None:
            now = int(time.time()) if t is None else t
            headers["X-Dispatch-Key-Id"] = chosen.key_id
            headers["X-Dispatch-Signature"] = (
                signature if signature is not None else sign(chosen.secret.encode(), now, raw)
            )
        request = urllib.request.Request(
            self.url + path, data=raw if method == "POST" else None, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=30, context=self.tls) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as failed:
            with failed:
                return failed.code, json.loads(failed.read() or b"{}")

    def post(
        self, path: str, body: bytes | dict[str, Any], key: str | Key | None, **kwargs: Any
    ) -> tuple[int, dict[str, Any]]:
        return self.request("POST", path, body, key, **kwargs)

    def get(self, path: str, key: str | Key | None, **kw: Any) -> tuple[int, dict[str, Any]]:
        return self.request("GET", path, None, key, **kw)

    def stop(self) -> None:
        self.thread.stop()
        self.store.close()


def wait_until_healthy(
    client: RunningGateway,
    child: subprocess.Popen[bytes],
    output: Callable[[], str] | None = None,
    timeout_s: float = 60.0,
) -> None:
    """Until the gateway process ``child`` answers ``/v1/health`` with 200. Fails if it exits
    (with ``output()``, by default its stderr) or has not answered within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if client.get("/v1/health", None)[0] == 200:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, "gateway did not start"
        if child.poll() is not None:
            shown = output() if output else (child.stderr.read().decode() if child.stderr else "")
            raise AssertionError(f"the gateway exited ({child.returncode}): {shown}")
        time.sleep(0.1)


def start_gateway(
    store_url: str, folder: Path, *, udp_worker: bool = False, **listen_options: Any
) -> RunningGateway:
    """The gateway as deployed, but with CoT UDP received in-process unless ``udp_worker``
    (starting the worker process costs a second; the tests that send UDP use it)."""
    box = SecretBox(folder / "master.key")
    store = Store(store_url)
    store.upsert_schools(load_schools(resource("example", "lincoln_hs.geojson")).imported)
    keys: dict[str, Key] = {}

    def add_key(name: str, kind: str, scope: str) -> None:
        material = new_key_material(kind)  # type: ignore[arg-type]
        store.add_key(material.key_id, kind, scope, box.seal(material.secret), name)  # type: ignore[arg-type]
        keys[name] = Key(material.key_id, material.secret)

    add_key("school", "school", "lincoln-hs")
    for device_id, (lat, lon) in DEVICES.items():
        tak = TAK_UID if device_id == "dev-chen" else None
        store.add_device(device_id, tak_uid=tak, home=(lon, lat), label=device_id)
        add_key(device_id, "device", device_id)
    register_officers(store)
    listen = Listen("127.0.0.1", 0, 0, 0, udp_worker=udp_worker, **listen_options)
    journal = str(folder / "gateway-journal.sqlite3")
    thread = GatewayThread(store_url, listen, box=box, journal_path=journal)
    thread.start_and_wait()
    ports = dict(thread.gateway.ports)
    scheme = "https" if listen.certfile else "http"
    return RunningGateway(
        f"{scheme}://127.0.0.1:{ports['http']}", store_url, ports, keys, thread, store
    )
