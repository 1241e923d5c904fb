"""parse_roads on the real street files and on synthetic bad input.

Positions are around Georgetown, Kentucky.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pyproj import Transformer

from dispatch_console.importers import ImportFileError, Problem
from dispatch_console.importers.roads_geojson import (
    SPEED_MPS,
    Road,
    infer_road_class,
    load_roads,
    parse_roads,
)

Feature = dict[str, Any]
LINE = [[-84.5600, 38.2050], [-84.5590, 38.2052], [-84.5580, 38.2055]]
OTHER = [[-84.5580, 38.2055], [-84.5580, 38.2070]]


def feature(geometry: Any, feature_id: Any = None, **props: Any) -> Feature:
    result: Feature = {"type": "Feature", "properties": props, "geometry": geometry}
    if feature_id is not None:
        result["id"] = feature_id
    return result


def line(coords: list[list[float]] = LINE, **props: Any) -> Feature:
    return feature({"type": "LineString", "coordinates": coords}, **props)


def fc(*features: Any, crs: Any = None) -> str:
    document: dict[str, Any] = {"type": "FeatureCollection", "features": list(features)}
    if crs is not None:
        document["crs"] = crs
    return json.dumps(document)


# --- the real files ---------------------------------------------------------------------------


@pytest.mark.shared_data
def test_georgetown_streets(shared_data: Path) -> None:
    report = load_roads(shared_data / "roads" / "georgetown_ky_streets_20170104.geojson")

    assert report.summary() == "2424 imported, 0 rejected, 0 skipped, 1 warning"
    assert report.warnings == [
        Problem(
            None,
            "10 roads have no class attribute (road_class, highway, MTFCC, functional class, "
            "owner or plow priority); read as local",
        )
    ]
    roads = report.imported
    assert Counter(r.road_class for r in roads) == {
        "arterial": 331,
        "collector": 703,
        "local": 1390,
    }
    # 10 MultiLineStrings of two lines each: 2414 features, 2424 roads.
    parts = [r.road_id for r in roads if "/" in r.road_id]
    assert len(parts) == 20
    assert parts[:2] == ["feature-876/0", "feature-876/1"]
    assert len({r.road_id for r in roads}) == len(roads)

    first = roads[0]
    assert (first.road_id, first.name, first.road_class) == (
        "feature-0",
        "CHERRY BLOSSOM WAY",
        "arterial",  # Street_Own "State"
    )
    assert first.speed_mps == SPEED_MPS["arterial"] == 20.0
    assert first.coordinates[0] == (-84.54085197473881, 38.27138995947911)
    assert len(first.coordinates) == 17
    assert roads[1].road_class == "collector"  # Not Dedicated, legend 1 (emergency route)
    for road in roads:
        assert len(road.coordinates) >= 2
        assert all(-84.75 < lon < -84.40 and 38.10 < lat < 38.40 for lon, lat in road.coordinates)
    assert {r.road_class for r in roads if r.name == "I-75"} == {"arterial"}


@pytest.mark.shared_data
def test_scott_county_streets(shared_data: Path) -> None:
    report = load_roads(shared_data / "roads" / "scott_county_ky_streets_20170104.geojson")

    assert report.summary() == "3560 imported, 0 rejected, 54 skipped, 1 warning"
    assert len(report.skipped) == 54
    assert {p.reason for p in report.skipped} == {"geometry is null"}
    assert report.skipped[0] == Problem(145, "geometry is null", "MARY BOURNE DR")
    assert report.rejected == []
    assert "15 roads have no class attribute" in report.warnings[0].reason
    assert Counter(r.road_class for r in report.imported) == {
        "arterial": 740,
        "collector": 1152,
        "local": 1668,
    }
    assert len([r for r in report.imported if "/" in r.road_id]) == 18  # 9 MultiLineStrings
    # "<Null>" and "" in the names read as no value; RD_NAME is always set here.
    assert all(r.name for r in report.imported)


# --- geometry ----------------------------------------------------------------------------------


def test_multilinestring_parts_are_roads() -> None:
    multi = feature(
        {"type": "MultiLineString", "coordinates": [LINE, OTHER]}, "main-st", name="Main St"
    )
    report = parse_roads(fc(multi, line(OTHER, name="Other")))

    assert report.summary() == "3 imported, 0 rejected, 0 skipped, 1 warning"
    assert [r.road_id for r in report.imported] == ["main-st/0", "main-st/1", "feature-1"]
    assert report.imported[0].coordinates == tuple((lon, lat) for lon, lat in LINE)
    assert report.imported[1].name == "Main St"


def test_null_geometry_skipped_and_missing_geometry_rejected() -> None:
    no_member = {"type": "Feature", "properties": {"name": "Ghost Rd"}}
    report = parse_roads(fc(line(), feature(None, name="Dusk Ct"), no_member))

    assert report.summary() == "1 imported, 1 rejected, 1 skipped, 1 warning"
    assert report.skipped == [Problem(1, "geometry is null", "Dusk Ct")]
    assert report.rejected == [Problem(2, "the feature has no geometry member", "Ghost Rd")]


def test_null_strings_and_missing_properties() -> None:
    report = parse_roads(
        fc(
            line(RD_NAME="<Null>", Street_Own="", plow="31"),
            line(RD_NAME="  ", legend=2),
            feature({"type": "LineString", "coordinates": LINE}),  # properties: {}
            {"type": "Feature", "geometry": {"type": "LineString", "coordinates": LINE}},
            {
                "type": "Feature",
                "properties": None,
                "geometry": {"type": "LineString", "coordinates": LINE},
            },
        )
    )
    assert report.rejected == []
    assert [(r.name, r.road_class) for r in report.imported] == [
        (None, "collector"),  # plow 31: a first-priority city street
        (None, "local"),  # legend 2
        (None, "local"),
        (None, "local"),
        (None, "local"),
    ]
    assert report.warnings[0].reason.startswith("3 roads have no class attribute")


@pytest.mark.parametrize(
    ("coordinates", "reason"),
    [
        ([[-84.56, 38.205]], "LineString has 1 position; a line needs at least 2"),
        ([], "LineString has 0 positions; a line needs at least 2"),
        (
            [[-84.56, 38.205], [-84.56, 38.205]],
            "LineString has no length (all its positions are equal)",
        ),
        (
            [[-84.56, 38.205], [float("nan"), 38.2]],
            "coordinates are not finite numbers (NaN or Infinity)",
        ),
        ([[-84.56, 38.205], ["x", 38.2]], "coordinate 'x' is not a number"),
        ([[-84.56, 38.205], [-84.5]], "[-84.5] is not a position [lon, lat]"),
        ([[-84.56, 38.205], [0, 0]], "LineString has a position at 0, 0 (a placeholder)"),
        ([[-84.56, 38.205], [-200.0, 38.2]], "longitude -200.0 is outside -180..180"),
        (
            [[1512345.5, 218765.25], [1512400.0, 218800.0]],
            "coordinates look projected (x=1512345.5, y=218765.25), not WGS84 lon/lat",
        ),
        ([[38.205, -120.5], [38.206, -120.5]], "latitude and longitude appear swapped"),
        ("not a list", "LineString is not a list of positions"),
    ],
)
def test_bad_coordinates_rejected_with_index_and_reason(coordinates: Any, reason: str) -> None:
    bad = feature({"type": "LineString", "coordinates": coordinates}, name="Bad Rd")
    report = parse_roads(fc(line(name="Good Rd"), bad, line(OTHER, name="Also Good")))

    assert report.rejected == [Problem(1, reason, "Bad Rd")]
    assert [r.name for r in report.imported] == ["Good Rd", "Also Good"]


def test_bad_part_of_a_multilinestring_rejects_the_feature() -> None:
    multi = feature({"type": "MultiLineString", "coordinates": [LINE, [[-84.55, 38.2]]]})
    report = parse_roads(fc(line(), multi))
    assert report.rejected == [
        Problem(1, "line 1 of the MultiLineString has 1 position; a line needs at least 2")
    ]


@pytest.mark.parametrize(
    ("geometry", "reason"),
    [
        (
            {"type": "Point", "coordinates": [-84.56, 38.2]},
            "a Point cannot be a road (expected LineString or MultiLineString)",
        ),
        ({"type": "Circle", "coordinates": []}, "unknown geometry type 'Circle'"),
        ({"type": "LineString"}, "LineString has no coordinates"),
        (
            {"type": "MultiLineString", "coordinates": []},
            "MultiLineString coordinates are not a list of lines",
        ),
        ("LINESTRING (0 0, 1 1)", "geometry is not a GeoJSON object"),
    ],
)
def test_bad_geometry_rejected(geometry: Any, reason: str) -> None:
    report = parse_roads(fc(line(), feature(geometry)))
    assert report.rejected == [Problem(1, reason)]
    assert len(report.imported) == 1


def test_not_features_rejected() -> None:
    report = parse_roads(
        fc(line(), {"type": "LineString", "coordinates": LINE}, 12, line() | {"properties": [1]})
    )
    assert report.rejected == [
        Problem(1, "a bare LineString geometry, not a Feature"),
        Problem(2, "not a GeoJSON Feature"),
        Problem(3, "properties is not an object"),
    ]


def test_repeated_positions_are_dropped() -> None:
    coords = [LINE[0], LINE[0], LINE[1], LINE[1], LINE[2]]
    (road,) = parse_roads(fc(line(coords))).imported
    assert road.coordinates == tuple((lon, lat) for lon, lat in LINE)


def test_crs_member_transforms_and_warns() -> None:
    to_kentucky_north = Transformer.from_crs("EPSG:4326", "EPSG:3089", always_xy=True)
    projected = [list(to_kentucky_north.transform(lon, lat)) for lon, lat in LINE]
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3089"}}
    report = parse_roads(fc(line(projected, name="Main St"), crs=crs))

    assert report.warnings[0] == Problem(None, "coordinates transformed from EPSG:3089 to WGS84")
    (road,) = report.imported
    for (lon, lat), (lon0, lat0) in zip(road.coordinates, LINE, strict=True):
        assert lon == pytest.approx(lon0, abs=1e-9) and lat == pytest.approx(lat0, abs=1e-9)


def test_crs84_member_is_silent_and_an_unknown_crs_stops_the_file() -> None:
    crs84 = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}
    assert parse_roads(fc(line(road_class="local"), crs=crs84)).summary() == (
        "1 imported, 0 rejected, 0 skipped, 0 warnings"
    )
    with pytest.raises(ImportFileError, match="cannot identify the CRS"):
        parse_roads(fc(line(), crs={"type": "name", "properties": {"name": "Mars 2000"}}))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"type": "FeatureCollection", "features": []}', "empty FeatureCollection"),
        ("[1, 2]", "not GeoJSON"),
        ("{", "not valid JSON"),
        ("", "the file is empty"),
    ],
)
def test_file_errors(text: str, message: str) -> None:
    with pytest.raises(ImportFileError, match=message):
        parse_roads(text, source="roads.geojson")


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="cannot read the file"):
        load_roads(tmp_path / "missing.geojson")


# --- ids and classes ------------------------------------------------------------------------


def test_road_ids_explicit_unique_and_clashing() -> None:
    report = parse_roads(
        fc(
            line(road_id="r1", road_class="local"),
            line(id=7, road_class="local"),
            feature({"type": "LineString", "coordinates": LINE}, "f-9", road_class="local"),
            line(road_id="r1", road_class="local"),
        )
    )
    assert [r.road_id for r in report.imported] == ["r1", "7", "f-9", "r1-2"]
    assert report.warnings == [
        Problem(
            3, "road_id 'r1' is already used by feature 0; this road is imported as 'r1-2'", None
        )
    ]


def test_own_road_class_wins_and_a_bad_one_warns() -> None:
    report = parse_roads(
        fc(
            line(road_class="Arterial", highway="residential"),
            line(road_class="highway", highway="secondary", name="Paris Pike"),
            line(road_class="freeway"),
        )
    )
    assert [r.road_class for r in report.imported] == ["arterial", "collector", "local"]
    assert [r.speed_mps for r in report.imported] == [20.0, 13.0, 9.0]
    assert [p.reason for p in report.warnings] == [
        "1 road has no class attribute (road_class, highway, MTFCC, functional class, owner or "
        "plow priority); read as local",
        "road_class 'highway' is not arterial, collector or local; read as collector",
        "road_class 'freeway' is not arterial, collector or local; read as local",
    ]


def test_roads_not_for_cars_are_skipped() -> None:
    report = parse_roads(
        fc(line(highway="footway", name="Trail"), line(MTFCC="S1820"), line(highway="primary"))
    )
    assert report.skipped == [
        Problem(0, "not a road for cars (highway=footway)", "Trail"),
        Problem(1, "not a road for cars (MTFCC S1820)"),
    ]
    assert [r.road_class for r in report.imported] == ["arterial"]


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"highway": "motorway_link"}, ("arterial", "highway")),
        ({"highway": "tertiary"}, ("collector", "highway")),
        ({"highway": "residential"}, ("local", "highway")),
        ({"fclass": "primary"}, ("arterial", "highway")),
        ({"highway": "weird", "mtfcc": "S1200"}, ("arterial", "mtfcc")),
        ({"mtfcc": "S1400"}, ("local", "mtfcc")),
        ({"f_system": 3}, ("arterial", "f_system")),
        ({"functional_class": "5"}, ("collector", "functional_class")),
        ({"func_class": 7}, ("local", "func_class")),
        ({"rd_name": "I-75 X", "street_own": "City"}, ("arterial", "name")),
        ({"name": "US 25"}, ("arterial", "name")),
        ({"name": "Usher Ln"}, (None, None)),
        ({"street_own": "State"}, ("arterial", "street_own")),
        ({"street_own": "County & State (KY-32)"}, ("arterial", "street_own")),
        ({"street_own": "County"}, ("collector", "street_own")),
        ({"street_own": "County & Private", "legend": 5}, ("collector", "street_own")),
        ({"street_own": "NOT IN COUNTY", "legend": 5, "plow": "60"}, ("local", "plow")),
        ({"street_own": "City", "legend": 1, "plow": "31"}, ("collector", "legend")),
        ({"street_own": "City", "legend": 3}, ("local", "legend")),
        ({"street_own": "Private", "legend": 5, "plow": "40"}, ("local", "plow")),
        ({"street_own": "<Null>", "legend": 0, "plow": ""}, (None, None)),
        ({}, (None, None)),
    ],
)
def test_infer_road_class(props: dict[str, Any], expected: tuple[str | None, str | None]) -> None:
    assert infer_road_class(props) == expected


def test_road_is_a_frozen_struct() -> None:
    road = Road("r", None, "local", 9.0, ((0.1, 0.2), (0.3, 0.4)))
    with pytest.raises(AttributeError):
        road.name = "x"  # type: ignore[misc]
