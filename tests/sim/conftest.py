"""An embedded gateway on a SQLite store with the demo county loaded, for the simulator tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dispatch_console.county.load import DemoCounty, load_demo_county
from dispatch_console.feeds.keys import NewKey, SecretBox
from dispatch_console.feeds.server import GatewayThread, Listen
from dispatch_console.resources import resource
from dispatch_console.service import IncidentService
from dispatch_console.sim.run import SimResult, run_scenario
from dispatch_console.store import Store


def scenario_path(name: str) -> Path:
    return resource("scenarios", f"{name}.toml")


@dataclass
class SimGateway:
    store_url: str
    store: Store
    county: DemoCounty
    thread: GatewayThread

    @property
    def ports(self) -> dict[str, int]:
        return self.thread.gateway.ports

    @property
    def keys(self) -> dict[str, NewKey]:
        return {**self.county.school_keys, **self.county.device_keys}

    def run(self, name: str, **kwargs: object) -> SimResult:
        return run_scenario(
            scenario_path(name),
            gateway_url=f"http://127.0.0.1:{self.ports['http']}",
            udp=("127.0.0.1", self.ports["udp"]),
            tcp=("127.0.0.1", self.ports["tcp"]),
            keys=self.keys,
            store_url=self.store_url,
            **kwargs,  # type: ignore[arg-type]
        )

    def service(self) -> IncidentService:
        return IncidentService(self.store)


@pytest.fixture
def sim_gateway(tmp_path: Path) -> Iterator[Callable[[str], SimGateway]]:
    """Makes gateways (each on its own store, in a folder of its own under ``tmp_path``)."""
    started: list[SimGateway] = []

    def start(folder_name: str = "gw") -> SimGateway:
        folder = tmp_path / folder_name
        folder.mkdir()
        url = f"sqlite:///{folder / 'store.sqlite3'}"
        box = SecretBox(folder / "master.key")
        store = Store(url)
        county = load_demo_county(store, box)
        thread = GatewayThread(url, Listen("127.0.0.1", 0, 0, 0, udp_worker=False), box=box)
        thread.start_and_wait()
        gateway = SimGateway(url, store, county, thread)
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.thread.stop()
        gateway.store.close()
