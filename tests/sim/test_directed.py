"""A go_to_staging directive from the console reroutes an officer, over the real gateway."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dispatch_console.county.load import demo_directory
from dispatch_console.county.roads import load_road_graph
from dispatch_console.domain import events as ev
from dispatch_console.importers.geojson_schools import load_schools
from dispatch_console.sim.engine import Engine
from dispatch_console.sim.run import HttpCotTransport
from dispatch_console.sim.scenario import load_scenario
from tests.sim.conftest import SimGateway
from tests.users import register

SCENARIO = """
name = "directed"
seed = 5
duration_s = 200

[activation]
school_id = "lincoln-hs"
type = "active_shooter"
at_s = 1

[[officers]]
device_id = "ios-a474f6"
start = "patrol"
lat = 38.2210
lon = -84.5310
behaviour = "go_to_staging_when_directed"
ack_delay_s = 2

[[officers]]
device_id = "ios-9b8fec"
behaviour = "ignore_directive_go_to_school"
ack_delay_s = 2
"""

IC = ev.Actor(ev.ActorKind.CONSOLE_USER, "Lt. Test (IC)")


def test_directive_reroutes_only_the_officer_who_follows_it(
    sim_gateway: Callable[..., SimGateway], tmp_path: Path
) -> None:
    gateway = sim_gateway()
    path = tmp_path / "directed.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    folder = demo_directory()
    schools = {s.school_id: s for s in load_schools(folder / "schools.geojson").imported}
    transport = HttpCotTransport(
        f"http://127.0.0.1:{gateway.ports['http']}",
        gateway.keys,
        school_id="lincoln-hs",
        store_url=gateway.store_url,
    )
    engine = Engine(
        load_scenario(path), transport, load_road_graph(folder / "roads.geojson"), schools
    )
    service = gateway.service()
    register(service.store, IC)
    try:
        for t in range(0, 201):
            if t == 12:  # the IC sends both officers to Staging B
                assert engine.incident_id is not None
                for device_id in ("ios-a474f6", "ios-9b8fec"):
                    service.execute(
                        engine.incident_id,
                        [
                            ev.ResponderDirected(device_id, "staging-b"),
                            ev.DirectiveQueued(
                                f"dir-b-{device_id}",
                                device_id,
                                device_id,
                                "go_to_staging",
                                "Go to Staging B (bus depot), NOT the school",
                                "staging-b",
                            ),
                        ],
                        actor=IC,
                        source=ev.Source.CONSOLE,
                    )
            engine.step(float(t))
    finally:
        transport.close()
    assert engine.incident_id is not None
    state = gateway.service().state(engine.incident_id)
    follower, ignorer = state.responders["ios-a474f6"], state.responders["ios-9b8fec"]
    assert follower.arrived_place == "staging" and follower.staging_area_id == "staging-b"
    assert follower.directed_to == "staging-b"
    assert ignorer.arrived_place == "scene" and ignorer.directed_to == "staging-b"
    for responder in (follower, ignorer):
        assert state.directives[f"dir-b-{responder.device_id}"].acknowledged_at_us is not None
    assert engine.counts.arrived_staging == 1 and engine.counts.arrived_school == 1
