"""The engine alone, against a fake gateway: driving, reporting, GPS outages, pacing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dispatch_console.county.load import demo_directory
from dispatch_console.county.roads import load_road_graph
from dispatch_console.importers.geojson_schools import load_schools
from dispatch_console.sim.engine import Engine
from dispatch_console.sim.scenario import Officer, ScriptedAct, load_scenario
from tests.sim.conftest import scenario_path

ROOT = Path(__file__).resolve().parents[2]


class FakeGateway:
    """Answers like the gateway: one incident, one alert directive per device (staging-a)."""

    def __init__(self, staging: str | None = "staging-a") -> None:
        self.staging = staging
        self.posts: list[tuple[str, list[dict[str, Any]]]] = []
        self.cots: list[bytes] = []
        self.acked: set[str] = set()
        self.acts: list[tuple[str, int]] = []

    def activation(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"incident_id": "inc-1", "notified": 3}

    def device_messages(self, device_id: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
        self.posts.append((device_id, messages))
        for m in messages:
            if m["kind"] == "directive_ack":
                self.acked.add(m["directive_id"])
        return {"results": [{"id": m["id"], "result": "stored"} for m in messages]}

    def directives(self, device_id: str) -> list[dict[str, Any]]:
        directive_id = f"dir-{device_id}"
        if directive_id in self.acked:
            return []
        alert = {"directive_id": directive_id, "incident_id": "inc-1", "kind": "alert"}
        return [{**alert, "text": "go", "staging_area_id": self.staging}]

    def cot(self, officer: Officer, data: bytes) -> None:
        self.cots.append(data)

    def suspect(self, incident_id: str, description: dict[str, str], at_us: int) -> bool:
        return False

    def command(self, incident_id: str, act: ScriptedAct, at_us: int) -> bool:
        self.acts.append((act.act, at_us))
        return True


def _engine(name: str, fake: FakeGateway, **kwargs: Any) -> Engine:
    folder = demo_directory()
    schools = {s.school_id: s for s in load_schools(folder / "schools.geojson").imported}
    graph = load_road_graph(folder / "roads.geojson")
    scenario = load_scenario(scenario_path(name))
    return Engine(scenario, fake, graph, schools, start_us=1_790_000_000_000_000, **kwargs)


def _positions(fake: FakeGateway, device_id: str) -> list[dict[str, Any]]:
    return [
        m for d, batch in fake.posts if d == device_id for m in batch if m["kind"] == "position"
    ]


def test_driving_respects_road_speeds_and_arrives() -> None:
    fake = FakeGateway()
    engine = _engine("small_lockdown", fake)
    engine.run()
    moving = [p for p in _positions(fake, "ios-a474f6") if "speed_mps" in p]
    assert moving and max(p["speed_mps"] for p in moving) <= 20.0
    statuses = [
        m["status"] for d, b in fake.posts if d == "ios-a474f6" for m in b if m["kind"] == "status"
    ]
    assert statuses == ["en_route", "on_scene"]
    # Consecutive moving reports are 5 s apart (the app's interval).
    times = [p["at"] for p in moving]
    assert len(set(times)) == len(times)


def test_gps_outage_sends_no_positions() -> None:
    fake = FakeGateway()
    engine = _engine("large_active_shooter", fake)
    engine.run(until_s=120)
    start = engine.start_us
    seconds = [_seconds(p["at"]) - start // 1_000_000 for p in _positions(fake, "ios-465cbe")]
    assert seconds and not [s for s in seconds if 30 <= s < 90]
    assert any(s >= 90 for s in seconds)


def _seconds(text: str) -> int:
    from dispatch_console.domain.timeutil import parse_iso

    return parse_iso(text) // 1_000_000


def test_waits_for_go_to_staging_without_a_staging_area() -> None:
    fake = FakeGateway(staging=None)
    engine = _engine("small_lockdown", fake)
    engine.run()
    sent = [m for d, b in fake.posts if d == "ios-465cbe" for m in b]
    assert any(m["kind"] == "ack" and m["responding"] for m in sent)
    assert not any(m["kind"] == "status" for m in sent)  # nowhere to go yet


def test_tak_reports_are_cot() -> None:
    fake = FakeGateway()
    _engine("small_lockdown", fake).run()
    assert fake.cots and all(b'type="a-f-G-U-C"' in c for c in fake.cots)
    assert all(b'uid="ANDROID-' in c for c in fake.cots)


def test_speed_paces_the_clock() -> None:
    slept: list[float] = []
    fake = FakeGateway()
    # Real time: the fake sleep does not wait, so each step is due later than the wall clock
    # (a step computes in far less than a simulated second, even on a loaded machine).
    engine = _engine("small_lockdown", fake, speed=1.0, sleep=slept.append)
    engine.run(until_s=5)
    # Simulated second t is due at wall t / speed from the start: never sleeps past it.
    assert len(slept) >= 4 and max(slept) <= 5 + 1e-9


def test_docs_example_loads(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "scenarios.md").read_text(encoding="utf-8")
    example = text.split("## Example", 1)[1].split("```toml", 1)[1].split("```", 1)[0]
    path = tmp_path / "example.toml"
    path.write_text(example, encoding="utf-8")
    scenario = load_scenario(path)
    assert len(scenario.officers) == 23
    assert json.dumps(scenario.officers[0].attire)


class DirectingGateway(FakeGateway):
    """An alert without a staging area; from ``at`` on, a go_to_staging directive too."""

    def __init__(self) -> None:
        super().__init__(staging=None)
        self.directing = False

    def directives(self, device_id: str) -> list[dict[str, Any]]:
        listed = super().directives(device_id)
        directive_id = f"go-{device_id}"
        if self.directing and directive_id not in self.acked:
            go = {"directive_id": directive_id, "incident_id": "inc-1", "kind": "go_to_staging"}
            listed.append({**go, "text": "go to B", "staging_area_id": "staging-b"})
        return listed


def test_go_to_staging_directive_sends_a_waiting_officer() -> None:
    fake = DirectingGateway()
    engine = _engine("small_lockdown", fake)
    for t in range(0, 301):
        fake.directing = t >= 30
        engine.step(float(t))
    sent = [m for d, b in fake.posts if d == "ios-465cbe" for m in b]
    statuses = [(m["status"], m.get("staging_area_id")) for m in sent if m["kind"] == "status"]
    assert statuses == [("en_route", None), ("at_staging", "staging-b")]
    assert _seconds(next(m["at"] for m in sent if m["kind"] == "status")) >= (
        engine.start_us // 1_000_000 + 30
    )
    # Directed before setting off: not self-dispatched; only the app officer who drove to the
    # school on the alert was (both go-to-staging officers waited for the directive).
    assert engine.counts.self_dispatched == 1
    assert engine.counts.arrived_staging == 2
    acked = {m["directive_id"] for m in sent if m["kind"] == "directive_ack"}
    assert acked == {"dir-ios-465cbe", "go-ios-465cbe"}
