"""Scenario files: the shipped ones load; a bad one names the file, the field and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch_console.sim.scenario import ScenarioError, load_scenario
from tests.sim.conftest import scenario_path

HEAD = """
name = "t"
[activation]
school_id = "lincoln-hs"
type = "lockdown"
at_s = 1
"""

OFFICER = """
[[officers]]
device_id = "ios-a474f6"
behaviour = "self_dispatch_to_school"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_scenarios_load() -> None:
    small = load_scenario(scenario_path("small_lockdown"))
    assert small.activation.type == "lockdown" and len(small.officers) == 6
    shirt = load_scenario(scenario_path("black_shirt"))
    first = shirt.officers[0]
    assert first.attire["top_color"] == "black" and not first.attire["uniform"]
    assert any(r.description.get("top_color") == "black" for r in shirt.activation.suspect)
    large = load_scenario(scenario_path("large_active_shooter"))
    assert len(large.officers) >= 80
    assert sum(o.behaviour == "self_dispatch_to_school" for o in large.officers) >= 30
    assert sum(not o.attire["uniform"] for o in large.officers) >= 5
    assert sum(o.is_tak for o in large.officers) >= 5
    unlisted = {"and-4dec76", "and-4d773f", "and-e0013c", "tak-b7566b"}  # on no roster
    assert unlisted <= {o.device_id for o in large.officers}
    assert len({o.device_id for o in large.officers}) == len(large.officers)


def test_population_is_seeded() -> None:
    a = load_scenario(scenario_path("large_active_shooter"))
    b = load_scenario(scenario_path("large_active_shooter"))
    assert a.officers == b.officers


def test_roster_name_is_claimed_by_default() -> None:
    small = load_scenario(scenario_path("small_lockdown"))
    assert small.officers[0].name == "Sgt. Emily Davis"


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        ("name = [", "(file)", "not valid TOML"),
        ('name = "t"\n' + OFFICER, "activation", "is required"),
        (HEAD + "colour = 1\n" + OFFICER, "activation.colour", "unknown field"),
        (HEAD.replace("lockdown", "riot") + OFFICER, "activation.type", "'riot' is not one of"),
        (HEAD, "officers", "at least one officer"),
        (HEAD + OFFICER.replace("ios-a474f6", "nope"), "officers[0].device_id", "not in devices"),
        (
            HEAD + OFFICER.replace("self_dispatch_to_school", "run"),
            "officers[0].behaviour",
            "'run' is not one of",
        ),
        (
            HEAD + OFFICER.replace("self_dispatch_to_school", "lose_gps"),
            "officers[0].lose_gps",
            "needs lose_gps",
        ),
        (
            HEAD + OFFICER + "lose_gps = {from_s = 9, to_s = 3}\n",
            "officers[0].lose_gps.to_s",
            "after from_s",
        ),
        (
            HEAD + OFFICER + 'attire = {uniform = true, top_color = "black"}\n',
            "officers[0].attire.top_color",
            "only for plainclothes",
        ),
        (
            HEAD + OFFICER + 'attire = {uniform = false, visible_id = "cape"}\n',
            "officers[0].attire.visible_id",
            "not one of",
        ),
        (HEAD + OFFICER + 'start = "patrol"\n', "officers[0].lat", "is required"),
        (HEAD + OFFICER + "lat = 38.2\n", "officers[0].lat", 'only with start = "patrol"'),
        (HEAD + OFFICER + "ack_delay_s = -1\n", "officers[0].ack_delay_s", "between"),
        (HEAD + OFFICER + 'has_radio = "yes"\n', "officers[0].has_radio", "true or false"),
        (
            HEAD + OFFICER.replace("ios-a474f6", "tak-bc974a") + "report_interval_s = 60\n",
            "officers[0].report_interval_s",
            "between 2 and 20",
        ),
        (HEAD + OFFICER + OFFICER, "officers[1].device_id", "listed twice"),
        (
            HEAD + "[[activation.suspect]]\nat_s = 3\n" + OFFICER,
            "activation.suspect[0].(table)",
            "at least one description field",
        ),
        (HEAD + "[population]\ncount = 50000\n", "population.count", "between"),
        (HEAD + "[population]\ncount = 200\n", "population.count", "free devices"),
        (
            HEAD + "[population]\ncount = 2\n[population.behaviours]\nlose_gps = 1\n",
            "population.behaviours.lose_gps",
            "unknown field",
        ),
    ],
)
def test_bad_scenarios_name_file_field_and_reason(
    tmp_path: Path, text: str, field: str, reason: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ScenarioError) as raised:
        load_scenario(path)
    error = raised.value
    assert error.file == str(path)
    assert error.field == field
    assert reason in error.reason
    assert str(error).startswith(f"{path}: {field}: ")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "absent.toml")
