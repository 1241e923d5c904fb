"""Each scenario end to end against a real embedded gateway; counts read back from the store."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from dispatch_console.domain.rules import DEFAULT_AGENCY
from dispatch_console.domain.state import IncidentState
from dispatch_console.sim.run import SimResult, main
from dispatch_console.sim.scenario import load_scenario
from dispatch_console.store import Store
from tests.sim.conftest import SimGateway, scenario_path

Start = Callable[..., SimGateway]


def _alerted(state: IncidentState) -> set[str]:
    """Devices the console sent an alert directive."""
    return {d.device_id for d in state.directives.values() if d.kind == "alert"}


def _store_counts(state: IncidentState, name: str) -> dict[str, int]:
    """What the store says of the scenario's app officers the console alerted (TAK devices send
    positions only; an app user the rules do not alert may still join as unsolicited)."""
    scenario = load_scenario(scenario_path(name))
    apps = {o.device_id for o in scenario.officers if not o.is_tak}
    alerted = _alerted(state)
    mine = [r for r in state.responders.values() if r.device_id in apps & alerted]
    return {
        "notified": len(mine),
        "acknowledged": sum(r.acknowledged_at_us is not None for r in mine),
        "declined": sum(r.status == "declined" for r in mine),
        "self_dispatched": sum(r.self_dispatched for r in mine),
        "arrived_school": sum(r.arrived_place == "scene" for r in mine),
        "arrived_staging": sum(r.arrived_place == "staging" for r in mine),
    }


def _sim_counts(result: SimResult) -> dict[str, int]:
    c = result.counts
    return {
        "notified": c.notified,
        "acknowledged": c.acknowledged,
        "declined": c.declined,
        "self_dispatched": c.self_dispatched,
        "arrived_school": c.arrived_school,
        "arrived_staging": c.arrived_staging,
    }


def _assert_matches(store: dict[str, int], sim: dict[str, int]) -> None:
    """The store agrees with what the simulated officers did; it may know of more arrivals
    (the geofence sees an officer arrive before the officer's app says so), never fewer."""
    arrivals = ("arrived_school", "arrived_staging")
    assert {k: v for k, v in store.items() if k not in arrivals} == {
        k: v for k, v in sim.items() if k not in arrivals
    }
    # Where an officer counts as arrived (scene or staging) may differ by a few when the
    # geofence and the officer's own report disagree on the place; the total never falls short.
    assert sum(store[k] for k in arrivals) >= sum(sim[k] for k in arrivals)
    for key in arrivals:
        assert abs(store[key] - sim[key]) <= 3, key


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_small_lockdown(sim_gateway: Start) -> None:
    gateway = sim_gateway()
    result = gateway.run("small_lockdown")
    assert result.incident_id is not None
    assert result.counts.refused == 0
    state = gateway.service().state(result.incident_id)
    expected = {
        "notified": 5,  # every app officer (all live within the school's 10 miles)
        "acknowledged": 3,
        "declined": 1,
        "self_dispatched": 3,  # no IC directed anyone: everyone who moved self-dispatched
        "arrived_school": 1,
        "arrived_staging": 2,
    }
    assert _sim_counts(result) == expected
    assert _store_counts(state, "small_lockdown") == expected
    assert state.responders["ios-ef2112"].status == "notified"  # "ignore": never answered
    assert {
        r.staging_area_id for r in state.responders.values() if r.arrived_place == "staging"
    } == {"staging-a"}
    assert state.suspect is not None and state.suspect.description.top_color == "red"
    # The TAK officer's CoT over UDP reaches the incident as positions of its responder.
    _wait_for(
        lambda: (
            gateway.service().state(result.incident_id or "").responders["tak-bc974a"].position
            is not None
        )
    )


def test_black_shirt_officer_is_first_on_scene(sim_gateway: Start) -> None:
    gateway = sim_gateway()
    result = gateway.run("black_shirt")
    assert result.incident_id is not None
    state = gateway.service().state(result.incident_id)
    _assert_matches(_store_counts(state, "black_shirt"), _sim_counts(result))
    on_scene = sorted(
        (r for r in state.responders.values() if r.arrived_place == "scene"),
        key=lambda r: r.arrived_at_us or 0,
    )
    first = on_scene[0]
    assert first.device_id == result.first_on_scene == "ios-9b8fec"
    assert first.plainclothes and first.attire is not None
    assert first.attire.top_color == "black" and first.attire.visible_id == "none"
    assert first.roster_verdict == "sworn_active" and first.has_radio is False
    # When she arrived, the suspect description in force already said "black shirt".
    assert first.arrived_at_us is not None
    in_force = [r for r in state.suspect_revisions if r.revised_at_us <= first.arrived_at_us]
    assert in_force and in_force[-1].description.top_color == "black"
    assert in_force[-1].description.race == "white"
    assert "black shirt" in (in_force[-1].description.free_text or "")
    assert state.suspect is not None and state.suspect.description.top_color == "black"


def test_large_active_shooter(sim_gateway: Start) -> None:
    gateway = sim_gateway()
    result = gateway.run("large_active_shooter", until_s=120)
    assert result.incident_id is not None
    assert result.counts.refused == 0
    state = gateway.service().state(result.incident_id)
    store = _store_counts(state, "large_active_shooter")
    _assert_matches(store, _sim_counts(result))
    assert store["notified"] >= 50
    assert store["self_dispatched"] >= 40
    assert store["arrived_school"] >= 3 and store["arrived_staging"] >= 1
    assert store["declined"] >= 3
    counts = state.counts(state.last_event_at_us)
    assert counts["notified"] >= 80
    assert counts["plainclothes_responding"] >= 10
    # No agency rules loaded: the default rule alerts officers on a roster only. The app users
    # on no roster, and the retired officers the roster does not mark LEOSA-qualified, get no
    # alert; their phones' positions near the school still show them (unsolicited), unverified
    # or retired, and they never answered.
    scenario = load_scenario(scenario_path("large_active_shooter"))
    apps = {o.device_id for o in scenario.officers if not o.is_tak}
    not_alerted = {d: state.responders[d] for d in apps - _alerted(state) if d in state.responders}
    assert {"and-4dec76", "and-4d773f", "and-e0013c"} <= set(not_alerted)
    assert {r.roster_verdict for r in not_alerted.values()} == {"not_on_roster", "retired"}
    assert all(
        r.status == "notified" and r.acknowledged_at_us is None for r in not_alerted.values()
    )
    not_leosa = {
        d for e in gateway.store.roster() if e.status == "retired" and not e.leosa_qualified
        for d in e.device_ids
    }  # fmt: skip
    retired = {d for d, r in not_alerted.items() if r.roster_verdict == "retired"}
    assert retired and retired <= not_leosa
    # TAK over a TCP stream reaches the store too.
    _wait_for(
        lambda: (
            gateway.service().state(result.incident_id or "").responders["tak-da3114"].position
            is not None
        )
    )


def test_same_seed_same_messages(sim_gateway: Start) -> None:
    start_us = (int(time.time()) - 120) * 1_000_000
    one = sim_gateway("one").run("small_lockdown", start_us=start_us, until_s=90)
    two = sim_gateway("two").run("small_lockdown", start_us=start_us, until_s=90)
    three = sim_gateway("three").run("small_lockdown", start_us=start_us, until_s=90, seed=2)
    assert one.incident_id != two.incident_id  # the gateways made up their own ids...
    assert one.sent == two.sent  # ...but the officers sent the same messages
    assert one.digest == two.digest
    assert three.digest != one.digest
    assert any(line.startswith("cot tak-bc974a") for line in one.sent)
    assert any('"kind":"directive_ack"' in line for line in one.sent)


def test_main_with_embedded_gateway(
    tmp_path: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path}/cli.sqlite3"
    argv = [str(scenario_path("black_shirt")), "--db", db, "--master-key", f"{tmp_path}/mk"]
    assert main([*argv, "--until", "60", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "incident " in out and "self-dispatched" in out and "digest " in out
    # The demo county as `make run` plays it: under its three agencies' response rules.
    with Store(db) as store:
        (incident,) = [i.incident_id for i in store.incidents()]
        state = store.state_at(incident)
    assert len(state.rules_in_force) == 3
    assert DEFAULT_AGENCY not in state.rules_in_force


def test_main_reports_bad_scenario(
    tmp_path: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = f"{tmp_path}/bad.toml"
    with open(bad, "w", encoding="utf-8") as handle:
        handle.write('name = "x"\n')
    assert main([bad, "--gateway", "http://127.0.0.1:9", "--keys", bad]) == 1
    assert "activation: is required" in capsys.readouterr().err
