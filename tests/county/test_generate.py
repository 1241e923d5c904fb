"""The generated demo county: deterministic, importable, and plausible."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections import Counter
from pathlib import Path

import pytest
from shapely.geometry import shape

from dispatch_console.county.generate import (
    AGENCIES,
    DEFAULT_SEED,
    FILES,
    DemoCountyFiles,
    render_demo_county,
    write_demo_county,
)
from dispatch_console.county.roads import RoadGraph
from dispatch_console.domain.geometry import LocalFrame, geodesic_distance_m
from dispatch_console.domain.reference import School
from dispatch_console.importers import parse_roster, parse_schools
from dispatch_console.importers.roads_geojson import parse_roads

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def county() -> DemoCountyFiles:
    return render_demo_county()


@pytest.fixture(scope="module")
def schools(county: DemoCountyFiles) -> list[School]:
    return parse_schools(county.files["schools.geojson"]).imported


@pytest.fixture(scope="module")
def graph(county: DemoCountyFiles) -> RoadGraph:
    return RoadGraph(parse_roads(county.files["roads.geojson"]).imported)


def rows(county: DemoCountyFiles, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(county.files[name].decode())))


# --- determinism and format --------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    first = write_demo_county(tmp_path / "a")
    second = write_demo_county(tmp_path / "b", seed=DEFAULT_SEED)
    other = write_demo_county(tmp_path / "c", seed=7)
    assert sorted(first) == sorted(FILES)
    for name in FILES:
        assert first[name].read_bytes() == second[name].read_bytes()
        assert first[name].read_bytes() != other[name].read_bytes()


def test_committed_demo_files_are_what_the_generator_makes(county: DemoCountyFiles) -> None:
    for name in FILES:
        committed = (ROOT / "resources" / "demo" / name).read_bytes()
        assert committed == county.files[name], (
            f"resources/demo/{name} is out of date: run tools/generate_demo_county.py"
        )


def test_file_format(county: DemoCountyFiles) -> None:
    for name, data in county.files.items():
        text = data.decode()
        assert "\r" not in text and text.endswith("\n"), name
    assert len(county.files["roads.geojson"]) < 1_500_000
    for name in ("roads.geojson", "schools.geojson"):
        text = county.files[name].decode()

        def sorted_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
            keys = [k for k, _ in pairs]
            assert keys == sorted(keys)
            return dict(pairs)

        json.loads(text, object_pairs_hook=sorted_keys)
        floats = re.findall(r"-?\d+\.\d+", text)
        assert floats and all(len(f.split(".")[1]) == 7 for f in floats)
    devices = county.files["devices.csv"].decode()
    assert all(len(f.split(".")[1]) == 7 for f in re.findall(r"-?\d+\.\d+", devices))


# --- roads -------------------------------------------------------------------------------------


def test_roads(county: DemoCountyFiles, graph: RoadGraph) -> None:
    report = parse_roads(county.files["roads.geojson"])
    assert report.rejected == [] and report.skipped == [] and report.warnings == []
    classes = Counter(r.road_class for r in report.imported)
    assert set(classes) == {"arterial", "collector", "local"}
    assert classes["local"] > classes["collector"] > classes["arterial"]
    assert all(r.name for r in report.imported)
    assert {"Valley Pike", "Ashford Rd", "Carverton Bypass", "Elm St", "Lincoln Ave"} <= {
        r.name for r in report.imported
    }
    assert graph.largest_component_share() > 0.95
    assert graph.component_sizes() == [graph.node_count]  # in fact all connected
    assert graph.node_count > 600


# --- schools -----------------------------------------------------------------------------------


def test_schools_import_cleanly(county: DemoCountyFiles, schools: list[School]) -> None:
    report = parse_schools(county.files["schools.geojson"])
    assert report.summary() == "10 imported (50 pre-plan features attached), 0 rejected, " + (
        "0 skipped, 0 warnings"
    )
    assert Counter(s.classification for s in schools) == {"Elementary": 5, "Middle": 3, "High": 2}
    assert len({s.school_id for s in schools}) == 10
    for school in schools:
        plan = school.pre_plan
        assert school.campus is not None and school.campus["type"] == "Polygon"
        assert school.address and school.phone
        kinds = sorted(a.geometry["type"] for a in plan.staging_areas)
        assert kinds == ["Point", "Polygon"]
        point_area = next(a for a in plan.staging_areas if a.geometry["type"] == "Point")
        assert point_area.radius_m is not None and point_area.radius_m > 0
        assert plan.inner_perimeter is not None and plan.inner_perimeter.radius_m is None
        assert plan.outer_perimeter is not None and plan.outer_perimeter.radius_m == 400
        assert plan.check_in is not None


def test_lincoln_is_the_example_school(schools: list[School]) -> None:
    example = parse_schools((ROOT / "resources" / "example" / "lincoln_hs.geojson").read_bytes())
    (lincoln,) = example.imported
    assert next(s for s in schools if s.school_id == "lincoln-hs") == lincoln
    assert (lincoln.lon, lincoln.lat) == pytest.approx((-84.54, 38.225))


def test_inner_perimeter_is_the_campus_grown_by_50_m(schools: list[School]) -> None:
    for school in schools:
        assert school.campus is not None and school.pre_plan.inner_perimeter is not None
        frame = LocalFrame(school.lon, school.lat)
        campus = frame.project(shape(school.campus))
        inner = frame.project(shape(school.pre_plan.inner_perimeter.geometry))
        assert inner.contains(campus)
        assert campus.buffer(45).area < inner.area < campus.buffer(55).area


def test_staging_areas_are_on_roads_away_from_the_school_and_reachable(
    schools: list[School], graph: RoadGraph
) -> None:
    for school in schools:
        start = (school.lon, school.lat)
        assert graph.snap(*start).distance_m < 250  # the campus centre, to the nearest street
        for area in school.pre_plan.staging_areas:
            centre = shape(area.geometry).centroid
            where = (centre.x, centre.y)
            straight = geodesic_distance_m(*start, *where)
            assert 400 <= straight <= 900, (school.school_id, area.name, straight)
            route = graph.route(start, where)
            assert route.end_snap_m < 60, (school.school_id, area.name)  # on (or by) a road
            assert straight - 300 < route.length_m < 3 * straight
            assert math.isfinite(route.travel_time_s) and route.travel_time_s > 0
        # The staging areas and the check-in are outside the outer perimeter (400 m).
        assert school.pre_plan.check_in is not None
        check_in = school.pre_plan.check_in
        assert geodesic_distance_m(*start, check_in.lon, check_in.lat) > 400


def test_schools_are_apart(schools: list[School]) -> None:
    for k, a in enumerate(schools):
        for b in schools[k + 1 :]:
            assert geodesic_distance_m(a.lon, a.lat, b.lon, b.lat) > 800


# --- people and devices ------------------------------------------------------------------------


def test_roster_imports_cleanly(county: DemoCountyFiles) -> None:
    report = parse_roster(county.files["roster.csv"])
    assert report.summary() == "150 imported, 0 rejected, 0 skipped, 0 warnings"
    entries = report.imported
    assert list(AGENCIES) == list(dict.fromkeys(e.agency for e in entries))
    assert len(AGENCIES) == 3
    by_status = Counter(e.status for e in entries)
    assert 5 <= by_status["retired"] <= 25
    assert len({(e.agency, e.badge) for e in entries}) == 150
    assert len({e.name for e in entries}) == 150
    for entry in entries:
        if entry.status == "active":
            assert re.match(r"^(Ofc|Cpl|Sgt|Lt|Det|Dep|Tpr)\. ", entry.name)
        else:
            assert "." not in entry.name


def test_devices(county: DemoCountyFiles, graph: RoadGraph) -> None:
    devices = rows(county, "devices.csv")
    roster = parse_roster(county.files["roster.csv"]).imported
    owner = {d: (e.agency, e.badge) for e in roster for d in e.device_ids}
    assert list(devices[0]) == ["device_id", "tak_uid", "home_lat", "home_lon", "agency", "badge"]
    assert len({d["device_id"] for d in devices}) == len(devices)
    assert set(owner) <= {d["device_id"] for d in devices}

    tak = [d for d in devices if d["tak_uid"]]
    assert 0.25 < len(tak) / len(devices) < 0.42
    assert all(re.fullmatch(r"ANDROID-[0-9a-f]{16}", d["tak_uid"]) for d in tak)
    assert all(d["device_id"].startswith("tak-") == bool(d["tak_uid"]) for d in devices)
    assert len({d["tak_uid"] for d in tak}) == len(tak)

    on_roster = [d for d in devices if d["device_id"] in owner]
    assert all(owner[d["device_id"]] == (d["agency"], d["badge"]) for d in on_roster)
    strangers = [d for d in devices if d["device_id"] not in owner]
    assert len(strangers) == 6
    claims = {(e.agency, e.badge) for e in roster}
    assert all((d["agency"], d["badge"]) not in claims for d in strangers)
    assert sum(1 for d in strangers if d["agency"]) == 3

    for device in devices:  # at home, on a local street
        point = graph.snap(float(device["home_lon"]), float(device["home_lat"]))
        assert point.distance_m < 0.5
        assert graph.edges[point.edge].road_class == "local"
