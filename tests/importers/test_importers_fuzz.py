"""Hostile input: importers raise nothing but ImportFileError and never yield a bad position."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch_console.domain.reference import School
from dispatch_console.importers import ImportFileError, ImportReport, parse_roster, parse_schools

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=40,
)

hostile_numbers = (
    st.floats(allow_nan=True, allow_infinity=True)
    | st.floats(min_value=-200, max_value=200)
    | st.floats(min_value=-1e7, max_value=1e7)
    | st.sampled_from([0, 0.0, -0.0, 90.0, -90.0, 180.0, 1e308, -1e308, 5e-324, 1_512_345.5])
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.text(max_size=5)
    | st.none()
    | st.booleans()
)
kentucky_lon = st.floats(min_value=-84.7, max_value=-84.4)
kentucky_lat = st.floats(min_value=38.1, max_value=38.4)
good_positions = st.tuples(kentucky_lon, kentucky_lat).map(list)
hostile_positions = st.lists(hostile_numbers, max_size=4)
positions = st.one_of(good_positions, good_positions, hostile_positions)


@st.composite
def rings(draw: st.DrawFn) -> list[Any]:
    if draw(st.booleans()):
        # A small quadrilateral around a Kentucky point, corners in any order (so sometimes a
        # bow-tie), one corner sometimes replaced by something hostile.
        lon, lat = draw(kentucky_lon), draw(kentucky_lat)
        size = draw(st.floats(min_value=1e-9, max_value=0.01))
        square: list[Any] = [
            [lon, lat],
            [lon + size, lat],
            [lon + size, lat + size],
            [lon, lat + size],
        ]
        points: list[Any] = list(draw(st.permutations(square)))
        if draw(st.integers(0, 3)) == 0:
            points[draw(st.integers(0, 3))] = draw(positions)
    else:
        points = draw(st.lists(positions, min_size=0, max_size=6))
    if points and draw(st.integers(0, 4)) > 0:
        points.append(points[0])  # closed, usually
    return points


@st.composite
def geometries(draw: st.DrawFn) -> Any:
    kind = draw(
        st.sampled_from(
            ["Point", "Point", "Polygon", "Polygon", "MultiPolygon", "LineString", "Nope"]
        )
    )
    if draw(st.integers(0, 19)) == 0:
        return draw(json_values)
    if kind == "Point":
        coordinates: Any = draw(positions)
    elif kind == "Polygon":
        coordinates = draw(st.lists(rings(), min_size=1, max_size=2))
    elif kind == "MultiPolygon":
        coordinates = draw(st.lists(st.lists(rings(), min_size=1, max_size=2), max_size=3))
    else:
        coordinates = draw(json_values)
    return {"type": kind, "coordinates": coordinates}


names = st.sampled_from(
    [
        "Garth Elementary",
        "garth  ELEMENTARY",
        "École Ünïcødé 学校 🏫",
        "<Null>",
        "   ",
        "\x00\u202e\n",
    ]
) | st.text(max_size=15)
values = json_scalars | st.sampled_from(
    ["staging_area", "inner_perimeter", "outer_perimeter", "check_in", "school", "garth", "<Null>",
     "25", "-3", "1e999"]
)  # fmt: skip


KINDS = [None, None, None, "school", "staging_area", "inner_perimeter", "outer_perimeter",
         "check_in", "Staging Area", "bogus"]  # fmt: skip


@st.composite
def features(draw: st.DrawFn) -> Any:
    props: dict[str, Any] = draw(
        st.dictionaries(
            st.sampled_from(
                ["NAME", "School Name", "id", "school_id", "radius_m", "capacity", "contacts",
                 "notification_radius_m", "ADDRESS", "PHONE", "weird"]
            ),
            values,
            max_size=6,
        )
    )  # fmt: skip
    if draw(st.integers(0, 4)):
        props["name"] = draw(names)
    kind = draw(st.sampled_from(KINDS))
    if kind in (None, "school") and draw(st.booleans()):
        props["school_id"] = "garth"
    if kind is not None:
        props["kind"] = kind
        if draw(st.integers(0, 3)):
            props["school_id"] = draw(st.sampled_from(["garth", "garth-elementary", "nope"]))
            props.setdefault("radius_m", draw(st.sampled_from([50, 0, -1, "80", None])))
    result: dict[str, Any] = {
        "type": "Feature" if draw(st.integers(0, 19)) else draw(json_scalars),
        "properties": props if draw(st.integers(0, 19)) else draw(json_values),
    }
    if draw(st.integers(0, 19)):
        result["geometry"] = None if draw(st.integers(0, 9)) == 0 else draw(geometries())
    if draw(st.integers(0, 2)) == 0:
        result["id"] = draw(st.sampled_from(["garth", 12, 12.0, None]) | json_scalars)
    return result


crs_members = st.sampled_from(
    [
        None,
        {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
        {"type": "name", "properties": {"name": "EPSG:3089"}},
        {"type": "name", "properties": {"name": "EPSG:3857"}},
        {"type": "EPSG", "properties": {"code": 4269}},
        {"type": "name", "properties": {"name": "EPSG:999999"}},
        {"type": "link", "properties": {"href": "x"}},
        "EPSG:4326",
    ]
)


def _all_positions(value: Any) -> list[tuple[float, float]]:
    if isinstance(value, list) and value and all(isinstance(v, float) for v in value):
        return [(value[0], value[1])]
    if isinstance(value, list):
        return [p for item in value for p in _all_positions(item)]
    return []


def _assert_sane(report: ImportReport[School], feature_count: int | None) -> None:
    def ok(lon: float, lat: float) -> bool:
        return math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90

    for school in report.imported:
        assert isinstance(school, School)
        assert ok(school.lon, school.lat), school
        assert school.name.strip() and school.school_id
        geometries = [school.campus] if school.campus else []
        plan = school.pre_plan
        areas = [*plan.staging_areas, plan.inner_perimeter, plan.outer_perimeter]
        geometries += [a.geometry for a in areas if a is not None]
        for geometry in geometries:
            coordinates = _all_positions(geometry["coordinates"])
            assert coordinates and all(ok(lon, lat) for lon, lat in coordinates)
        if plan.check_in is not None:
            assert ok(plan.check_in.lon, plan.check_in.lat)
    assert len({s.school_id for s in report.imported}) == len(report.imported)
    if feature_count is not None:
        # Every feature is accounted for exactly once.
        accounted = len(report.imported) + len(report.rejected) + len(report.skipped)
        assert accounted + report.attached == feature_count
    assert report.summary()
    lines = report.lines()
    assert len(lines) == len(report.rejected) + len(report.skipped) + len(report.warnings)
    assert all("\n" not in line and "\r" not in line for line in lines)


def _parse(data: str | bytes, feature_count: int | None = None) -> None:
    try:
        report = parse_schools(data)
    except ImportFileError as exc:
        assert str(exc) and "\n" not in exc.reason
        return
    _assert_sane(report, feature_count)


@FUZZ
@given(json_values)
def test_any_json_value(value: Any) -> None:
    _parse(json.dumps(value))


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes(data: bytes) -> None:
    _parse(data)


@FUZZ
@given(st.lists(features(), min_size=1, max_size=8), crs_members)
def test_mutated_feature_collections(items: list[Any], crs: Any) -> None:
    document: dict[str, Any] = {"type": "FeatureCollection", "features": items}
    if crs is not None:
        document["crs"] = crs
    _parse(json.dumps(document), len(items))


@FUZZ
@given(st.lists(json_values, min_size=1, max_size=6))
def test_feature_collection_of_anything(items: list[Any]) -> None:
    _parse(json.dumps({"type": "FeatureCollection", "features": items}), len(items))


csv_cells = st.text(max_size=12) | st.sampled_from(
    ["active", "SWORN", "leosa", "Retired", "GPD", "0142", "a;b|c d", '"', "\r\n", "\ufeff"]
)


@FUZZ
@given(
    st.lists(st.lists(csv_cells, max_size=7), max_size=8),
    st.sampled_from([",", ";", "\t"]),
    st.booleans(),
)
def test_roster_any_text(rows: list[list[str]], delimiter: str, with_header: bool) -> None:
    header = ["agency", "Badge", "NAME", "status", "device ids"] if with_header else []
    text = "\n".join(delimiter.join(row) for row in [header, *rows])
    try:
        report = parse_roster(text)
    except ImportFileError as exc:
        assert str(exc) and "\n" not in exc.reason
        return
    keys = [(e.agency.casefold(), e.badge.casefold()) for e in report.imported]
    assert len(set(keys)) == len(keys)
    devices = [d.casefold() for e in report.imported for d in e.device_ids]
    assert len(set(devices)) == len(devices)
    for entry in report.imported:
        assert entry.agency and entry.badge and entry.name
        assert entry.status in ("active", "retired")
    assert all("\n" not in line and "\r" not in line for line in report.lines())


@FUZZ
@given(st.binary(max_size=300))
def test_roster_any_bytes(data: bytes) -> None:
    try:
        report = parse_roster(data)
    except ImportFileError as exc:
        assert str(exc) and "\n" not in exc.reason
        return
    assert all("\n" not in line for line in report.lines())
