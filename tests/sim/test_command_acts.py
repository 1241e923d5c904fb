"""The demo plays a whole incident: the scenario's incident commander takes command, says the
threat is stopped, stands everyone down, checks in who arrived, declares the all clear and
releases everyone; parked devices keep reporting, so nobody waiting at staging goes STALE."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

from dispatch_console.app.demo_ic import act_payloads
from dispatch_console.domain.lifecycle import ResponderStatus
from dispatch_console.sim.engine import STATIONARY_REPORT_S
from dispatch_console.sim.run import run_scenario
from dispatch_console.sim.scenario import load_scenario
from dispatch_console.store import Store
from tests.sim.conftest import scenario_path
from tests.sim.test_engine import FakeGateway, _engine, _positions, _seconds
from tests.sim.test_run import Start

ENDING = """
[[command]]
at_s = 5
act = "establish"
commander = "Lt. J. Hayes"
command_post = "Staging A"

[[command]]
at_s = 100
act = "threat_stopped"

[[command]]
at_s = 104
act = "stand_down"

[[command]]
at_s = 110
act = "check_in"

[[command]]
at_s = 114
act = "all_clear"

[[command]]
at_s = 118
act = "release"
"""


def test_the_large_scenario_ends_the_incident_in_order() -> None:
    scenario = load_scenario(scenario_path("large_active_shooter"))
    acts = [a.act for a in scenario.command]
    assert acts == ["establish", "threat_stopped", "stand_down", "check_in", "all_clear",
                    "release"]  # fmt: skip
    assert scenario.command[0].commander == "Lt. J. Hayes"
    assert scenario.command[-1].at_s < scenario.duration_s

    fake = FakeGateway()
    engine = _engine("large_active_shooter", fake)
    engine.run()
    start = engine.start_us
    assert [(act, (at - start) // 1_000_000) for act, at in fake.acts] == [
        (a.act, int(a.at_s)) for a in scenario.command
    ]
    assert engine.counts.command_acts == len(scenario.command)
    # A parked officer keeps reporting inside the 30 s a position stays fresh, to the end.
    assert STATIONARY_REPORT_S < 30
    seconds = [_seconds(p["at"]) - start // 1_000_000 for p in _positions(fake, "ios-a474f6")]
    assert seconds[-1] >= scenario.duration_s - STATIONARY_REPORT_S
    assert max(b - a for a, b in itertools.pairwise(seconds)) <= STATIONARY_REPORT_S


def test_the_same_seed_sends_the_same_messages_with_the_acts() -> None:
    one, two = FakeGateway(), FakeGateway()
    first = _engine("large_active_shooter", one)
    first.run(until_s=460)
    second = _engine("large_active_shooter", two)
    second.run(until_s=460)
    assert first.sent == second.sent and "command " + '"stand_down"' in first.sent


def test_a_scenario_with_an_ending_finishes_the_incident(
    sim_gateway: Start, tmp_path: Path
) -> None:
    text = scenario_path("small_lockdown").read_text(encoding="utf-8")
    path = tmp_path / "ending.toml"
    path.write_text(text.replace("duration_s = 150", "duration_s = 125") + ENDING, "utf-8")
    gateway = sim_gateway()
    result = run_scenario(
        path,
        gateway_url=f"http://127.0.0.1:{gateway.ports['http']}",
        udp=("127.0.0.1", gateway.ports["udp"]),
        tcp=("127.0.0.1", gateway.ports["tcp"]),
        keys=gateway.keys,
        store_url=gateway.store_url,
        start_us=(int(time.time()) - 130) * 1_000_000,
        acts=act_payloads,
    )
    assert result.incident_id is not None and result.counts.command_acts == 6
    with Store(gateway.store_url) as store:
        state = store.state_at(result.incident_id)
        types = [e.type for e in store.read(result.incident_id)]
    assert state.status == "all_clear"
    assert state.commander == "Lt. J. Hayes" and state.command_post == "Staging A"
    assert [p.how for p in state.command] == ["established"]  # taken before anyone acted
    assert {r.status for r in state.responders.values()} == {ResponderStatus.RELEASED}
    assert types.count("responder_identified") >= 1  # checked in at staging first
    kinds = [b.kind for b in state.broadcasts.values()]
    assert kinds == ["message", "stand_down"]
    order = [t for t in types if t in ("broadcast_sent", "incident_status_changed")]
    assert order == ["broadcast_sent", "broadcast_sent", "incident_status_changed"]
    assert types.index("responder_released") > types.index("incident_status_changed")
