"""A simulated incident run live through the embedded gateway, with an incident commander
acting at set moments, and a console folding what the store hands it as the run goes (tests)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import msgspec

from dispatch_console.app.live import ConsoleState
from dispatch_console.county.load import demo_directory
from dispatch_console.county.roads import load_road_graph
from dispatch_console.domain import events as ev
from dispatch_console.domain.lifecycle import PRESENT
from dispatch_console.domain.state import IncidentState
from dispatch_console.importers.geojson_schools import load_schools
from dispatch_console.sim.engine import Engine
from dispatch_console.sim.run import HttpCotTransport
from dispatch_console.sim.scenario import load_scenario
from tests.sim.conftest import SimGateway, scenario_path

IC = ev.Actor(ev.ActorKind.CONSOLE_USER, "Lt. Hayes (IC)")
DISPATCHER = ev.Actor(ev.ActorKind.CONSOLE_USER, "Dispatcher A. Moreno")


@dataclass(frozen=True)
class LiveSnapshot:
    """What the console's own fold showed of the incident at one instant of the run: a copy of
    its state right after a read, and the run's clock (simulated time) then."""

    at_us: int
    state: IncidentState


_state_copy = msgspec.msgpack.Decoder(IncidentState)


@dataclass
class LiveRun:
    incident_id: str
    #: The events the console folded, batch by batch, while the run went on.
    seen: list[ev.Event] = field(default_factory=list)
    console: ConsoleState = field(default_factory=ConsoleState)
    #: The console's state of the incident after each read that brought it something.
    snapshots: list[LiveSnapshot] = field(default_factory=list)


def run_live(
    gateway: SimGateway,
    name: str = "black_shirt",
    *,
    exercise: bool = False,
    close: bool = True,
    poll_every_s: int = 5,
) -> LiveRun:
    """Run scenario ``name`` step by step: the dispatcher acknowledges the alert at 15 s, the
    IC directs two officers to staging at 12 s, identifies whoever has arrived at 85 s and
    assigns one at 95 s, and gives the all clear at the end (``close``). Every
    ``poll_every_s`` simulated seconds a console reads the new events and folds them."""
    folder = demo_directory()
    schools = {s.school_id: s for s in load_schools(folder / "schools.geojson").imported}
    scenario = load_scenario(scenario_path(name))
    transport = HttpCotTransport(
        f"http://127.0.0.1:{gateway.ports['http']}",
        gateway.keys,
        school_id=scenario.activation.school_id,
        udp=("127.0.0.1", gateway.ports["udp"]),
        store_url=gateway.store_url,
    )
    engine = Engine(
        scenario,
        transport,
        load_road_graph(folder / "roads.geojson"),
        schools,
        exercise=exercise,
    )
    service = gateway.service()
    store = gateway.store
    store.set_user(IC.name, "incident commander")
    store.set_user(DISPATCHER.name, "dispatcher")
    console = ConsoleState()
    seen: list[ev.Event] = []
    snapshots: list[LiveSnapshot] = []

    def poll(at_us: int | None = None) -> None:
        batch = list(store.read(all_incidents=True, after_seq=console.last_seq))
        changes = console.apply(batch)
        seen.extend(changes.events)
        incident = engine.incident_id
        if at_us is not None and incident in changes.incidents:
            copy = _state_copy.decode(msgspec.msgpack.encode(console.incidents[incident]))
            snapshots.append(LiveSnapshot(at_us, copy))

    def act(payloads: list[ev.Payload], actor: ev.Actor, at_us: int) -> None:
        assert engine.incident_id is not None
        service.execute(
            engine.incident_id,
            payloads,
            actor=actor,
            source=ev.Source.CONSOLE,
            occurred_at_us=at_us,
        )

    try:
        for t in range(0, int(scenario.duration_s) + 1):
            engine.step(float(t))
            now = engine.at_us(t)
            incident = engine.incident_id
            if incident is not None and t == 12:
                for device_id in ("ios-465cbe", "and-aaff56"):
                    act([ev.ResponderDirected(device_id, "staging-a")], IC, now)
            if incident is not None and t == 15:
                state = store.state_at(incident)
                for alert_id in state.alerts:
                    act([ev.AlertAcknowledged(alert_id, DISPATCHER.name)], DISPATCHER, now)
            if incident is not None and t in (85, 95):
                state = store.state_at(incident)
                for r in state.responders.values():
                    if t == 85 and r.status in PRESENT and r.identification is None:
                        act(
                            [ev.ResponderIdentified(r.responder_id, "known_personally", IC.name)],
                            IC,
                            now,
                        )
                        break
                    if t == 95 and r.status == "identified":
                        assign = ev.ResponderAssigned(r.responder_id, "contact_team", "Team 1")
                        act([assign], IC, now)
                        break
            if t % poll_every_s == 0:
                poll(now)
        assert engine.incident_id is not None
        if close:
            end = engine.at_us(scenario.duration_s + 1)
            act([ev.IncidentStatusChanged("all_clear", "suspect in custody")], IC, end)
    finally:
        transport.close()
    # The gateway's monitor derives on its own timer (twice a second): wait until the store
    # has been quiet for a while (after the all clear nothing more follows) before the last read.
    deadline = time.monotonic() + 20
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < 1.5 and time.monotonic() < deadline:
        before = console.last_seq
        poll()
        if console.last_seq != before:
            quiet_since = time.monotonic()
        time.sleep(0.25)
    mine = [e for e in seen if e.incident_id == engine.incident_id]
    return LiveRun(engine.incident_id, mine, console, snapshots)
