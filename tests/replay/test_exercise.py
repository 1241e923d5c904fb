"""Exercises: a scenario run as an exercise opens an exercise incident, marked everywhere."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dispatch_console.cli import main
from dispatch_console.domain import events as ev
from dispatch_console.replay.metrics import compute
from dispatch_console.replay.timeline import Timeline
from tests.sim.conftest import SimGateway, scenario_path


def test_run_scenario_as_an_exercise(
    sim_gateway: Callable[..., SimGateway], capsys: pytest.CaptureFixture[str]
) -> None:
    gateway = sim_gateway()
    result = gateway.run("small_lockdown", exercise=True)
    assert result.incident_id is not None
    assert any('"exercise":true' in line for line in result.sent if line.startswith("activation"))
    events = list(gateway.store.read(result.incident_id))
    opened = events[0].payload
    assert isinstance(opened, ev.IncidentOpened) and opened.exercise is True
    state = gateway.service().state(result.incident_id)
    assert state.exercise
    alerts = [d for d in state.directives.values() if d.kind == "alert"]
    assert alerts and all(d.text.startswith("EXERCISE, NOT A REAL CALL.") for d in alerts)
    timeline = Timeline(events)
    assert timeline.exercise and timeline.state_at(timeline.start_us).exercise
    assert compute(events).exercise
    capsys.readouterr()
    assert main(["incidents", "--db", gateway.store_url]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if result.incident_id in line)
    assert "[EXERCISE]" in row


def test_a_scenario_run_without_the_flag_is_live(sim_gateway: Callable[..., SimGateway]) -> None:
    gateway = sim_gateway()
    result = gateway.run("small_lockdown", until_s=5)
    assert result.incident_id is not None
    assert not gateway.service().state(result.incident_id).exercise
    assert not any("exercise" in line for line in result.sent)  # the digest is unchanged


def test_simulate_exercise_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "sim.sqlite3")
    scenario = str(scenario_path("small_lockdown"))
    key = str(tmp_path / "master.key")
    args = ["simulate", scenario, "--db", db, "--until", "20", "--master-key", key, "--exercise"]
    assert main(args) == 0
    out = capsys.readouterr().out
    incident = out.splitlines()[0].split()[1]
    assert out.startswith(f"incident {incident} [EXERCISE]")
    assert main(["incidents", "--db", db]) == 0
    listing = capsys.readouterr().out
    row = next(line for line in listing.splitlines() if line.startswith(incident))
    assert "[EXERCISE]" in row
