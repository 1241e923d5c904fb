"""parse_schools on synthetic GeoJSON: one test (or case) per class of bad input.

Every bad-feature test puts good features in the same file and checks they still import.
Positions are around Georgetown, Kentucky.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pyproj import Transformer
from shapely.geometry import Point, shape

from dispatch_console.importers import ImportFileError, Problem, load_schools, parse_schools

Feature = dict[str, Any]

GARTH = (-84.55901672439072, 38.20588535967629)
WESTERN = (-84.59793741430664, 38.21122154867327)
MIDDLE = (-84.55741390383075, 38.1997406288472)
SOUTHERN = (-84.5559268115496, 38.19388408431662)
CAMPUS = [[-84.5600, 38.2050], [-84.5580, 38.2050], [-84.5580, 38.2068], [-84.5600, 38.2068]]


def feature(geometry: Any, feature_id: Any = None, **props: Any) -> Feature:
    result: Feature = {"type": "Feature", "properties": props, "geometry": geometry}
    if feature_id is not None:
        result["id"] = feature_id
    return result


def pt(lon: float, lat: float, **props: Any) -> Feature:
    return feature({"type": "Point", "coordinates": [lon, lat]}, **props)


def poly(*rings: list[list[float]], **props: Any) -> Feature:
    return feature({"type": "Polygon", "coordinates": [list(r) for r in rings]}, **props)


def closed(ring: list[list[float]]) -> list[list[float]]:
    return [*ring, ring[0]]


def fc(*features: Any, crs: Any = None) -> str:
    document: dict[str, Any] = {"type": "FeatureCollection", "features": list(features)}
    if crs is not None:
        document["crs"] = crs
    return json.dumps(document)  # allow_nan: NaN/Infinity are written as Python's json does


def named_crs(name: str) -> dict[str, Any]:
    return {"type": "name", "properties": {"name": name}}


def good() -> list[Feature]:
    """Three good schools, to sit beside a bad feature."""
    return [
        pt(*GARTH, name="Garth Elementary School"),
        pt(*WESTERN, name="Western Elementary School"),
        pt(*MIDDLE, name="Georgetown Middle School"),
    ]


GOOD_NAMES = ["Garth Elementary School", "Western Elementary School", "Georgetown Middle School"]


def one_bad(bad: Feature) -> tuple[list[str], list[Problem], list[Problem]]:
    """Import [good, good, BAD (feature 2), good]; the imported names, rejected, skipped."""
    g = good()
    report = parse_schools(fc(g[0], g[1], bad, g[2]))
    return [s.name for s in report.imported], report.rejected, report.skipped


# --- whole-file errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("", "the file is empty"),
        ("  \n", "the file is empty"),
        ('{"type": "FeatureCollection", ', "not valid JSON: Expecting property name enclosed"),
        ("<kml></kml>", "not valid JSON: Expecting value (line 1, column 1)"),
        (b'{"type": "Feature", "properties": {"name": "Gar\xe7a"}}', "not UTF-8 text (byte 0xe7"),
        ('{"type": "x"}'.encode("utf-16"), "the file is UTF-16 text; save it as UTF-8"),
        ("[" * 50_000, "not usable JSON: nested too deeply"),
        ("[]", "not GeoJSON: the top level is a JSON array, not a FeatureCollection"),
        ('"schools"', "not GeoJSON: the top level is a JSON string, not a FeatureCollection"),
        ("null", "not GeoJSON: the top level is a JSON null, not a FeatureCollection"),
        ('{"features": []}', "not GeoJSON: expected a FeatureCollection (no type member)"),
        ('{"type": "Topology"}', "not GeoJSON: expected a FeatureCollection (type 'Topology')"),
        ('{"type": "FeatureCollection"}', "the FeatureCollection has no features array"),
        ('{"type": "FeatureCollection", "features": {}}', "the FeatureCollection has no features"),
        ('{"type": "FeatureCollection", "features": []}', "empty FeatureCollection"),
        ('{"type": "Point", "coordinates": [-84.5, 38.2]}', "a bare Point geometry"),
    ],
)
def test_whole_file_errors(data: str | bytes, reason: str) -> None:
    with pytest.raises(ImportFileError) as caught:
        parse_schools(data, source="in.geojson")
    assert caught.value.reason.startswith(reason)
    assert str(caught.value).startswith("in.geojson: ")
    assert "\n" not in str(caught.value)


def test_load_schools_missing_file_is_an_import_file_error(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="cannot read the file: No such file"):
        load_schools(tmp_path / "nope.geojson")


def test_load_schools_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "s.geojson"
    path.write_text(fc(*good()), encoding="utf-8")
    report = load_schools(path)
    assert report.source == str(path)
    assert [s.name for s in report.imported] == GOOD_NAMES


@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbf" + fc(*good()).encode(),
        "\ufeff" + fc(*good()),
        fc(*good()).encode(),
    ],
    ids=["utf8-bom-bytes", "bom-str", "bytes"],
)
def test_byte_order_mark_tolerated(data: str | bytes) -> None:
    assert [s.name for s in parse_schools(data).imported] == GOOD_NAMES


def test_lone_feature_is_feature_zero() -> None:
    report = parse_schools(json.dumps(pt(*GARTH, name="Garth Elementary School")))
    assert [s.school_id for s in report.imported] == ["garth-elementary-school"]
    bad = parse_schools(json.dumps(pt(*GARTH)))
    assert bad.rejected == [Problem(0, "missing name")]


# --- CRS ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "crs",
    [
        named_crs("urn:ogc:def:crs:OGC:1.3:CRS84"),
        named_crs("urn:ogc:def:crs:OGC::CRS84"),
        named_crs("CRS84"),
        named_crs("OGC:CRS84"),
        named_crs("http://www.opengis.net/def/crs/OGC/1.3/CRS84"),
        named_crs("EPSG:4326"),
        named_crs("epsg:4326"),
        named_crs("urn:ogc:def:crs:EPSG::4326"),
        named_crs("urn:ogc:def:crs:EPSG:6.6:4326"),
        named_crs("http://www.opengis.net/def/crs/EPSG/0/4326"),
        {"type": "EPSG", "properties": {"code": 4326}},
    ],
)
def test_wgs84_crs_accepted_silently(crs: dict[str, Any]) -> None:
    report = parse_schools(fc(*good(), crs=crs))
    assert report.summary() == "3 imported, 0 rejected, 0 skipped, 0 warnings"
    assert (report.imported[0].lon, report.imported[0].lat) == GARTH


def test_null_crs_means_wgs84() -> None:
    document = json.loads(fc(*good()))
    document["crs"] = None
    assert parse_schools(json.dumps(document)).summary().startswith("3 imported, 0 rejected")


@pytest.mark.parametrize(
    ("epsg", "crs_member"),
    [
        (3089, named_crs("urn:ogc:def:crs:EPSG::3089")),
        (2246, named_crs("EPSG:2246")),
        (2246, {"type": "EPSG", "properties": {"code": "2246"}}),
        (3857, named_crs("http://www.opengis.net/def/crs/EPSG/0/3857")),
    ],
)
def test_other_epsg_transformed_with_a_warning(epsg: int, crs_member: dict[str, Any]) -> None:
    to_projected = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True)
    features = []
    for (lon, lat), name in zip((GARTH, WESTERN, MIDDLE), GOOD_NAMES, strict=True):
        x, y = to_projected.transform(lon, lat)
        features.append(pt(x, y, name=name))
    ring = [list(to_projected.transform(lon, lat)) for lon, lat in closed(CAMPUS)]
    features.append(poly(ring, name="Campus School"))

    report = parse_schools(fc(*features, crs=crs_member))

    assert report.warnings == [Problem(None, f"coordinates transformed from EPSG:{epsg} to WGS84")]
    assert [s.name for s in report.imported] == [*GOOD_NAMES, "Campus School"]
    for school, (lon, lat) in zip(report.imported, (GARTH, WESTERN, MIDDLE), strict=False):
        assert school.lon == pytest.approx(lon, abs=1e-7)
        assert school.lat == pytest.approx(lat, abs=1e-7)
    campus = report.imported[3].campus
    assert campus is not None
    for (lon, lat), expected in zip(campus["coordinates"][0], closed(CAMPUS), strict=True):
        assert (lon, lat) == pytest.approx(tuple(expected), abs=1e-7)
    assert (
        report.lines()[0] == f"<input>: warning: coordinates transformed from EPSG:{epsg} to WGS84"
    )


def test_esri_code_is_identified_and_transformed() -> None:
    report = parse_schools(fc(pt(1_545_000.0, 200_000.0, name="X"), crs=named_crs("ESRI:102679")))
    assert report.warnings == [Problem(None, "coordinates transformed from ESRI:102679 to WGS84")]
    assert len(report.imported) == 1
    assert -85.5 < report.imported[0].lon < -83.5 and 37.5 < report.imported[0].lat < 39.0


def test_coordinates_that_do_not_survive_the_transform_are_rejected() -> None:
    features = [pt(1_545_000.0, 200_000.0, name="Ok"), pt(1e300, 1e300, name="Huge")]
    report = parse_schools(fc(*features, crs=named_crs("EPSG:3089")))
    assert [s.name for s in report.imported] == ["Ok"]
    assert report.rejected == [
        Problem(1, "coordinates [1e+300, 1e+300] cannot be transformed from EPSG:3089", "Huge")
    ]


@pytest.mark.parametrize(
    ("crs", "reason"),
    [
        (named_crs("EPSG:99999"), "unknown CRS EPSG:99999"),
        (named_crs("urn:ogc:def:crs:OGC:1.3:CRS27"), "cannot identify the CRS"),
        (named_crs("NAD83 / Kentucky North"), "cannot identify the CRS 'NAD83 / Kentucky North'"),
        ({"type": "link", "properties": {"href": "x.prj", "type": "esriwkt"}}, "cannot identify"),
        ({"type": "name", "properties": {}}, "cannot identify the CRS"),
        ({"type": "EPSG", "properties": {"code": "abc"}}, "cannot identify the CRS"),
        ("EPSG:4326", "the crs member is not an object"),
    ],
)
def test_unidentifiable_crs_is_a_file_error(crs: Any, reason: str) -> None:
    with pytest.raises(ImportFileError) as caught:
        parse_schools(fc(*good(), crs=crs))
    assert caught.value.reason.startswith(reason)


@pytest.mark.parametrize("crs", [None, named_crs("urn:ogc:def:crs:OGC:1.3:CRS84")])
def test_projected_coordinates_without_a_crs_are_never_lon_lat(crs: Any) -> None:
    g = good()
    stateplane = pt(1_512_345.5, 218_765.25, name="Garth Elementary School")
    report = parse_schools(fc(g[0], g[1], stateplane, g[2], crs=crs))
    assert [s.name for s in report.imported] == GOOD_NAMES
    assert report.rejected == [
        Problem(
            2,
            "coordinates look projected (x=1512345.5, y=218765.25), not WGS84 lon/lat",
            "Garth Elementary School",
        )
    ]


def test_projected_polygon_is_rejected_too() -> None:
    ring = closed([[1_512_000.0, 218_000.0], [1_513_000.0, 218_000.0], [1_513_000.0, 219_000.0]])
    names, rejected, _ = one_bad(poly(ring, name="P"))
    assert names == GOOD_NAMES
    assert rejected == [
        Problem(2, "coordinates look projected (x=1512000, y=218000), not WGS84 lon/lat", "P")
    ]


# --- geometry -------------------------------------------------------------------------------


def test_null_geometry_is_skipped_and_counted() -> None:
    names, rejected, skipped = one_bad(feature(None, name="Ghost School"))
    assert names == GOOD_NAMES
    assert rejected == []
    assert skipped == [Problem(2, "geometry is null", "Ghost School")]


def test_missing_geometry_member_is_rejected() -> None:
    bad: Feature = {"type": "Feature", "properties": {"name": "N"}}
    names, rejected, _ = one_bad(bad)
    assert names == GOOD_NAMES
    assert rejected == [Problem(2, "the feature has no geometry member", "N")]


@pytest.mark.parametrize(
    ("geometry", "reason"),
    [
        (
            {"type": "LineString", "coordinates": [[-84.5, 38.2], [-84.6, 38.3]]},
            "a LineString cannot be a school location (expected Point or Polygon or MultiPolygon)",
        ),
        (
            {"type": "MultiPoint", "coordinates": [[-84.5, 38.2]]},
            "a MultiPoint cannot be a school location",
        ),
        (
            {"type": "GeometryCollection", "geometries": []},
            "a GeometryCollection cannot be a school location",
        ),
        ({"type": "Circle", "coordinates": [-84.5, 38.2]}, "unknown geometry type 'Circle'"),
        ({"coordinates": [-84.5, 38.2]}, "geometry has no type"),
        ({"type": "Point"}, "Point has no coordinates"),
        ([-84.5, 38.2], "geometry is not a GeoJSON object"),
        ({"type": "Point", "coordinates": [-84.5]}, "[-84.5] is not a position [lon, lat]"),
        ({"type": "Point", "coordinates": "-84.5 38.2"}, "'-84.5 38.2' is not a position"),
        ({"type": "Point", "coordinates": [-84.5, "38.2"]}, "coordinate '38.2' is not a number"),
        ({"type": "Point", "coordinates": [-84.5, True]}, "coordinate True is not a number"),
        ({"type": "Point", "coordinates": [-84.5, None]}, "coordinate None is not a number"),
    ],
)
def test_bad_geometry_shapes_are_rejected(geometry: Any, reason: str) -> None:
    names, rejected, _ = one_bad(feature(geometry, name="Bad"))
    assert names == GOOD_NAMES
    assert [(p.index, p.name) for p in rejected] == [(2, "Bad")]
    assert rejected[0].reason.startswith(reason)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "-1e400", "9" * 5000])
def test_non_finite_coordinates_are_rejected(literal: str) -> None:
    g = good()
    bad = f'{{"type": "Feature", "properties": {{"name": "NaNville"}}, "geometry": {{"type": "Point", "coordinates": [{literal}, 38.2]}}}}'  # noqa: E501
    text = fc(g[0], g[1]).removesuffix("]}") + ", " + bad + ", " + json.dumps(g[2]) + "]}"
    report = parse_schools(text)
    assert [s.name for s in report.imported] == GOOD_NAMES
    assert report.rejected == [
        Problem(2, "coordinates are not finite numbers (NaN or Infinity)", "NaNville")
    ]


@pytest.mark.parametrize(
    ("position", "reason"),
    [
        ([-120.0, 95.0], "latitude 95.0 is outside -90..90"),
        ([200.0, 38.2], "longitude 200.0 is outside -180..180"),
        ([-500.5, 38.2], "longitude -500.5 is outside -180..180"),
        ([0, 0], "coordinates are 0, 0 (a placeholder, not a location)"),
        ([0.0, -0.0], "coordinates are 0, 0 (a placeholder, not a location)"),
    ],
)
def test_out_of_range_positions_are_rejected(position: list[float], reason: str) -> None:
    names, rejected, _ = one_bad(pt(*position, name="Far"))
    assert names == GOOD_NAMES
    assert rejected == [Problem(2, reason, "Far")]


def test_swapped_lat_lon_out_of_range() -> None:
    # California [lon -120.5, lat 38.2] written as [38.2, -120.5]: latitude -120.5 is impossible.
    names, rejected, _ = one_bad(pt(38.2, -120.5, name="Swapped"))
    assert names == GOOD_NAMES
    assert rejected == [Problem(2, "latitude and longitude appear swapped", "Swapped")]


def test_swapped_lat_lon_both_in_range_detected_from_the_other_features() -> None:
    # [38.2059, -84.5590] is a valid position (Antarctica), but the file is in Kentucky.
    g = good()
    swapped = pt(GARTH[1], GARTH[0], name="Swapped Garth")
    report = parse_schools(fc(g[0], swapped, g[1], g[2], pt(*SOUTHERN, name="Southern")))
    assert [s.name for s in report.imported] == [*GOOD_NAMES, "Southern"]
    assert report.rejected == [Problem(1, "latitude and longitude appear swapped", "Swapped Garth")]


def test_swapped_polygon_both_in_range_detected() -> None:
    ring = closed([[lat, lon] for lon, lat in CAMPUS])
    names, rejected, _ = one_bad(poly(ring, name="Swapped campus"))
    assert names == GOOD_NAMES
    assert rejected == [Problem(2, "latitude and longitude appear swapped", "Swapped campus")]


@pytest.mark.parametrize("position", [(-97.7431, 30.2672), (-0.1276, 51.5072), (38.2059, 84.559)])
def test_far_away_school_is_not_a_swap(position: tuple[float, float]) -> None:
    # Austin, London, the Arctic: all > 500 km from Kentucky, but swapping lat and lon does not
    # bring any of them near the other schools.
    names, rejected, _ = one_bad(pt(*position, name="Far High"))
    assert names == [*GOOD_NAMES[:2], "Far High", GOOD_NAMES[2]]
    assert rejected == []


def test_swap_heuristic_needs_three_other_features() -> None:
    # With only two other features there is no meaningful median: the feature is imported.
    g = good()
    report = parse_schools(fc(g[0], g[1], pt(GARTH[1], GARTH[0], name="S")))
    assert [s.name for s in report.imported] == [*GOOD_NAMES[:2], "S"]


def test_polygon_campus_location_is_inside_the_outline() -> None:
    report = parse_schools(fc(*good(), poly(closed(CAMPUS), name="Campus School")))
    school = report.imported[3]
    assert school.campus == {"type": "Polygon", "coordinates": [closed(CAMPUS)]}
    assert shape(school.campus).contains(Point(school.lon, school.lat))


def test_multipolygon_campus_and_3d_positions_accepted() -> None:
    east = [[x + 0.003, y, 250.0] for x, y in CAMPUS]
    multi = feature(
        {"type": "MultiPolygon", "coordinates": [[closed(CAMPUS)], [closed(east)]]},
        name="Two Campuses",
    )
    with_altitude = feature({"type": "Point", "coordinates": [-84.55, 38.2, 280.5, 1]}, name="Z")
    report = parse_schools(fc(*good(), multi, with_altitude))
    assert report.rejected == []
    campus = report.imported[3].campus
    assert campus is not None and campus["type"] == "MultiPolygon"
    assert campus["coordinates"][1][0][0] == [east[0][0], east[0][1]]  # altitude dropped
    assert (report.imported[4].lon, report.imported[4].lat) == (-84.55, 38.2)


@pytest.mark.parametrize(
    ("rings", "reason"),
    [
        (
            [CAMPUS],  # not closed
            "exterior ring is not closed (first position [-84.56, 38.205], last [-84.56, 38.2068])",
        ),
        (
            [[*CAMPUS[:2], CAMPUS[0]]],
            "exterior ring has 3 positions; a closed ring needs at least 4",
        ),
        ([[]], "exterior ring has 0 positions; a closed ring needs at least 4"),
        ([], "polygon coordinates are not a list of rings"),
        (
            [closed(CAMPUS), [[-84.559, 38.206], [-84.5585, 38.206], [-84.559, 38.206]]],
            "hole 1 has 3 positions; a closed ring needs at least 4",
        ),
        (
            [closed([[-84.56, 38.20], [-84.55, 38.21], [-84.55, 38.20], [-84.56, 38.21]])],
            "polygon self-intersects at (-84.555, 38.205)",
        ),
        (
            [
                closed([[-84.56, 38.20], [-84.55, 38.20], [-84.55, 38.21], [-84.56, 38.21]]),
                closed([[-84.50, 38.30], [-84.49, 38.30], [-84.49, 38.31]]),
            ],
            "polygon is invalid: hole lies outside shell at (-84.5, 38.3)",
        ),
        (
            [closed([[-84.56, 38.20], [-84.56, 38.20], [-84.56, 38.20]])],
            "polygon is invalid: too few points in geometry component at (-84.56, 38.2)",
        ),
    ],
)
def test_bad_polygons_are_rejected(rings: list[list[list[float]]], reason: str) -> None:
    names, rejected, _ = one_bad(poly(*rings, name="Lincoln HS"))
    assert names == GOOD_NAMES
    assert rejected == [Problem(2, reason, "Lincoln HS")]


def test_overlapping_multipolygon_parts_are_rejected() -> None:
    a = closed([[-84.56, 38.20], [-84.54, 38.20], [-84.54, 38.22], [-84.56, 38.22]])
    b = closed([[-84.55, 38.21], [-84.53, 38.21], [-84.53, 38.23], [-84.55, 38.23]])
    unclosed = feature({"type": "MultiPolygon", "coordinates": [[a], [b[:-1]]]}, name="M2")
    overlap = feature({"type": "MultiPolygon", "coordinates": [[a], [b]]}, name="M")
    report = parse_schools(fc(*good(), overlap, unclosed))
    assert report.rejected == [
        Problem(3, "polygon self-intersects at (-84.55, 38.22)", "M"),
        Problem(
            4,
            "polygon 1, exterior ring is not closed (first position [-84.55, 38.21], "
            "last [-84.55, 38.23])",
            "M2",
        ),
    ]


def test_non_feature_entries_are_rejected() -> None:
    g = good()
    report = parse_schools(
        fc(g[0], {"type": "Point", "coordinates": [-84.5, 38.2]}, "x", g[1], None, g[2])
    )
    assert [s.name for s in report.imported] == GOOD_NAMES
    assert report.rejected == [
        Problem(1, "a bare Point geometry, not a Feature"),
        Problem(2, "not a GeoJSON Feature"),
        Problem(4, "not a GeoJSON Feature"),
    ]


# --- properties -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("props", "name"),
    [
        ({"SCHOOL": "Western Elementary School", "NAME": "Western Elementary"},
         "Western Elementary School"),
        ({"NAME": "Western Elementary", "SCHOOL": "Western Elementary School"},
         "Western Elementary School"),
        ({"School Name": "  Garth Elementary  "}, "Garth Elementary"),
        ({"school-name": "Garth"}, "Garth"),
        ({"FACILITY_NAME": "Elkhorn Crossing School"}, "Elkhorn Crossing School"),
        ({"Facility": "Elkhorn"}, "Elkhorn"),
        ({"SCHOOL": "Garth", "NAME": "Garth Elementary School"}, "Garth Elementary School"),
        ({"facility": "Southern Elementary School", "school_name": "Southern"},
         "Southern Elementary School"),
        ({"name": "Abc", "school": "Xyz"}, "Xyz"),  # equal length: earlier key in NAME_KEYS
        ({"name": "Long School Name", "school": "<Null>"}, "Long School Name"),
        ({"name": 1234}, "1234"),
    ],
)  # fmt: skip
def test_name_from_candidate_keys_longest_wins(props: dict[str, Any], name: str) -> None:
    report = parse_schools(fc(pt(*GARTH, **props)))
    assert [s.name for s in report.imported] == [name]


@pytest.mark.parametrize(
    "props",
    [
        {},
        {"TYPE": "school"},
        {"name": None},
        {"name": ""},
        {"name": "   "},
        {"NAME": "<Null>"},
        {"name": "<null>", "school": ""},
        {"name": ["Garth"]},
        {"name": True},
    ],
)
def test_missing_name_is_rejected_with_its_index(props: dict[str, Any]) -> None:
    names, rejected, _ = one_bad(pt(*SOUTHERN, **props))
    assert names == GOOD_NAMES
    assert rejected == [Problem(2, "missing name", None)]


def test_properties_null_and_not_an_object() -> None:
    g = good()
    no_props = {"type": "Feature", "properties": None, "geometry": g[0]["geometry"]}
    bad_props = {"type": "Feature", "properties": [1], "geometry": g[0]["geometry"]}
    report = parse_schools(fc(no_props, bad_props, *g))
    assert report.rejected == [
        Problem(0, "missing name"),
        Problem(1, "properties is not an object"),
    ]
    assert [s.name for s in report.imported] == GOOD_NAMES


def test_address_phone_classification_and_nulls() -> None:
    features = [
        pt(*GARTH, SCHOOL="A", ADDRESS="501 S Hamilton St", CLASSIFICA="Elementary",
           PHONE="502-863-1170"),
        pt(*WESTERN, SCHOOL="B", ADDRESS=None, CLASSIFICA="<Null>"),  # no PHONE key
        pt(*MIDDLE, name="C", address="", phone=5028633805, school_type=" Middle "),
        feature({"type": "Point", "coordinates": list(SOUTHERN)}, None, name="D",
                **{"addr:housenumber": "1200", "addr:street": "Fairfax Way",
                   "Telephone": "502-863-0772", "category": "Elementary"}),
    ]  # fmt: skip
    schools = parse_schools(fc(*features)).imported
    assert [(s.address, s.phone, s.classification) for s in schools] == [
        ("501 S Hamilton St", "502-863-1170", "Elementary"),
        (None, None, None),
        (None, "5028633805", "Middle"),
        ("1200 Fairfax Way", "502-863-0772", "Elementary"),
    ]


def test_duplicate_keys_differing_in_case_first_value_wins() -> None:
    text = (
        '{"type": "Feature", "properties": {"Name": "<Null>", "name": "Garth", "NAME": "Other"},'
        ' "geometry": {"type": "Point", "coordinates": [-84.559, 38.2059]}}'
    )
    assert [s.name for s in parse_schools(text).imported] == ["Garth"]


def test_contacts_and_notification_radius() -> None:
    features = [
        pt(*GARTH, name="A", contacts=["Principal 502-1", " ", None, "SRO 502-2"],
           notification_radius_m=8000),
        pt(*WESTERN, name="B", contacts="Office 502-3; Nurse 502-4\nSRO 502-5"),
        pt(*MIDDLE, name="C", contacts={"x": 1}, notification_radius_m=-5),
    ]  # fmt: skip
    report = parse_schools(fc(*features))
    a, b, c = report.imported
    assert a.pre_plan.contacts == ("Principal 502-1", "SRO 502-2")
    assert a.notification_radius_m == 8000.0
    assert b.pre_plan.contacts == ("Office 502-3", "Nurse 502-4", "SRO 502-5")
    assert c.pre_plan.contacts == ()
    assert c.notification_radius_m == 16093.44
    assert report.warnings == [
        Problem(2, "notification_radius_m -5 is not a positive number; using 16093.4 m", "C")
    ]


# --- ids ------------------------------------------------------------------------------------


def test_school_ids_from_properties_feature_id_or_slug() -> None:
    features = [
        pt(*GARTH, name="Garth", school_id="GES-01", id="ignored"),
        pt(*WESTERN, name="Western", id=17),
        feature({"type": "Point", "coordinates": list(MIDDLE)}, 42, name="Middle"),
        feature({"type": "Point", "coordinates": list(SOUTHERN)}, 12.0, name="Southern"),
        pt(-84.54, 38.18, name="St. John's Catholic School"),
        pt(-84.53, 38.18, name="École Saint-Médard"),
        pt(-84.52, 38.18, name="!!!"),
    ]
    report = parse_schools(fc(*features))
    assert [s.school_id for s in report.imported] == [
        "GES-01", "17", "42", "12", "st-john-s-catholic-school", "ecole-saint-medard", "school",
    ]  # fmt: skip


def test_id_collisions_get_deterministic_suffixes() -> None:
    features = [
        pt(-84.50, 38.20, name="Lincoln Elementary"),
        pt(-84.60, 38.30, name="Lincoln Elementary"),
        pt(-84.40, 38.10, name="lincoln-elementary-2"),  # slug taken by the second one
        pt(-84.45, 38.15, name="Lincoln  Elementary"),
        pt(*GARTH, name="A", id=12),
        pt(*WESTERN, name="B", id="12"),
    ]
    text = fc(*features)
    first, second = parse_schools(text), parse_schools(text)
    ids = [s.school_id for s in first.imported]
    assert ids == [
        "lincoln-elementary", "lincoln-elementary-2", "lincoln-elementary-2-2",
        "lincoln-elementary-3", "12", "12-2",
    ]  # fmt: skip
    assert ids == [s.school_id for s in second.imported]
    assert first.warnings == [
        Problem(
            5, "school_id '12' is already used by feature 4; this school is imported as '12-2'", "B"
        )
    ]


# --- near duplicates ------------------------------------------------------------------------


def test_near_duplicates_warn_naming_both_features() -> None:
    features = [
        pt(*GARTH, name="Garth Elementary School"),
        pt(*WESTERN, name="Western Elementary"),
        pt(GARTH[0] + 0.0003, GARTH[1], name="garth  elementary SCHOOL"),  # ~26 m east
        pt(GARTH[0], GARTH[1] + 0.0001, name="Royal Spring Middle"),  # ~11 m, other name
        pt(WESTERN[0] + 0.005, WESTERN[1], name="Western Elementary"),  # ~440 m: not a dup
    ]
    report = parse_schools(fc(*features))
    assert len(report.imported) == 5
    assert report.warnings == [
        Problem(
            2,
            "possible duplicate of feature 0 (Garth Elementary School): same name, 26 m apart",
            "garth  elementary SCHOOL",
        )
    ]


# --- pre-plans ------------------------------------------------------------------------------


def _docs_example() -> str:
    docs = Path(__file__).resolve().parents[2] / "docs" / "import-formats.md"
    match = re.search(r"```json\n(.*?)```", docs.read_text(encoding="utf-8"), re.S)
    assert match is not None
    return match.group(1)


def test_documented_example_imports_as_documented() -> None:
    report = parse_schools(_docs_example())
    assert report.summary() == (
        "2 imported (5 pre-plan features attached), 0 rejected, 0 skipped, 0 warnings"
    )
    garth, middle = report.imported
    assert (garth.school_id, middle.school_id) == ("garth-elementary-school", "gms")
    plan = garth.pre_plan
    assert [(a.area_id, a.name, a.radius_m, a.capacity) for a in plan.staging_areas] == [
        ("garth-elementary-school/staging-a-church-parking-lot",
         "Staging A: church parking lot", None, 60),
        ("garth-elementary-school/staging-b-ballfield-lot", "Staging B: ballfield lot", 75.0, 40),
    ]  # fmt: skip
    assert plan.staging_areas[1].geometry == {"type": "Point", "coordinates": [-84.568, 38.211]}
    assert (
        plan.inner_perimeter is not None and plan.inner_perimeter.name == "Building and playground"
    )
    assert plan.inner_perimeter.geometry["type"] == "Polygon"
    assert plan.outer_perimeter is not None and plan.outer_perimeter.radius_m == 600.0
    assert plan.check_in is not None
    assert (plan.check_in.name, plan.check_in.lon, plan.check_in.lat) == (
        "Check-in at Staging A", -84.5497, 38.2053,
    )  # fmt: skip
    assert plan.contacts == ("Principal: 502-863-1170", "SRO dispatch: 502-863-7820")
    assert garth.campus is not None
    assert middle.pre_plan.staging_areas == () and middle.classification == "Middle"


def area(kind: str, school_id: str | None, geometry: Any, **props: Any) -> Feature:
    if school_id is not None:
        props["school_id"] = school_id
    return feature(geometry, kind=kind, **props)


SQUARE = {
    "type": "Polygon",
    "coordinates": [closed([[-84.550, 38.205], [-84.549, 38.205], [-84.549, 38.2056],
                            [-84.550, 38.2056]])],
}  # fmt: skip
PIN = {"type": "Point", "coordinates": [-84.568, 38.211]}
G = "garth-elementary-school"


def test_pre_plan_features_before_their_school_and_kind_spelling() -> None:
    features = [
        area("Staging Area", G, SQUARE, name="Lot A", capacity="25"),
        area("INNER-PERIMETER", G, PIN, radius_m="150"),
        area("check_in", G, PIN),
        *good(),
        area("outer_perimeter", G, SQUARE, radius_m=300, id="garth-outer"),
    ]
    report = parse_schools(fc(*features))
    assert report.rejected == [] and report.warnings == []
    assert report.attached == 4
    plan = report.imported[0].pre_plan
    assert [(a.area_id, a.capacity) for a in plan.staging_areas] == [(f"{G}/lot-a", 25)]
    assert plan.inner_perimeter is not None
    assert (plan.inner_perimeter.name, plan.inner_perimeter.radius_m) == ("Inner perimeter", 150.0)
    assert plan.outer_perimeter is not None and plan.outer_perimeter.area_id == "garth-outer"
    assert plan.check_in is not None and plan.check_in.name == "Check-in"
    assert [s.name for s in report.imported] == GOOD_NAMES


@pytest.mark.parametrize(
    ("bad", "reason", "name"),
    [
        (area("staging_area", "nope", SQUARE, name="Lot"),
         "school_id 'nope' names no school in this file", "Lot"),
        (area("staging_area", None, SQUARE, name="Lot"),
         "missing school_id: which school is this staging area for?", "Lot"),
        (area("staging_area", G, SQUARE), "missing name", None),
        (area("staging_area", G, PIN, name="Lot"),
         "a Point as a staging area needs a radius_m (metres)", "Lot"),
        (area("outer_perimeter", G, PIN, radius_m=-10),
         "radius_m must be a positive number of metres (got -10)", "Outer perimeter"),
        (area("staging_area", G, PIN, name="Lot", radius_m="wide"),
         "radius_m must be a positive number of metres (got 'wide')", "Lot"),
        (area("staging_area", G, PIN, name="Lot", radius_m=[5]),
         "radius_m must be a positive number of metres (got [5])", "Lot"),
        (area("check_in", G, SQUARE, name="CP"),
         "a Polygon cannot be a check-in point (expected Point)", "CP"),
        (area("staging_area", G, {"type": "LineString", "coordinates": [[-84.5, 38.2]]},
              name="Lot"),
         "a LineString cannot be a staging area (expected Polygon or MultiPolygon or Point)",
         "Lot"),
        (area("inner_perimeter", G, {"type": "Polygon", "coordinates": [
            closed([[-84.56, 38.20], [-84.55, 38.21], [-84.55, 38.20], [-84.56, 38.21]])]}),
         "polygon self-intersects at (-84.555, 38.205)", "Inner perimeter"),
        (area("staging_area", G, {"type": "Point", "coordinates": [1_512_000, 218_000]},
              name="Lot", radius_m=50),
         "coordinates look projected (x=1512000, y=218000), not WGS84 lon/lat", "Lot"),
        (area("command_post", G, PIN, name="ICP"),
         "unknown kind 'command_post' (expected school, staging_area, inner_perimeter, "
         "outer_perimeter, check_in)", None),
    ],
)  # fmt: skip
def test_bad_pre_plan_features_are_rejected(bad: Feature, reason: str, name: str | None) -> None:
    ok = area("staging_area", G, SQUARE, name="Lot A")
    report = parse_schools(fc(*good(), ok, bad))
    assert report.rejected == [Problem(4, reason, name)]
    assert [s.name for s in report.imported] == GOOD_NAMES
    assert report.attached == 1
    assert [a.name for a in report.imported[0].pre_plan.staging_areas] == ["Lot A"]


def test_pre_plan_for_a_rejected_or_skipped_school() -> None:
    features = [
        pt(200.0, 38.2, name="Broken School", id="B1"),
        feature(None, name="Ghost School"),
        *good(),
        area("staging_area", "B1", SQUARE, name="Lot 1"),
        area("staging_area", "ghost-school", SQUARE, name="Lot 2"),
    ]
    report = parse_schools(fc(*features))
    assert report.rejected == [
        Problem(0, "longitude 200.0 is outside -180..180", "Broken School"),
        Problem(5, "school_id 'B1' names a school that was not imported (feature 0)", "Lot 1"),
        Problem(
            6, "school_id 'ghost-school' names a school that was not imported (feature 1)", "Lot 2"
        ),
    ]
    assert report.skipped == [Problem(1, "geometry is null", "Ghost School")]


def test_second_perimeter_or_check_in_is_rejected_and_duplicate_area_ids_warn() -> None:
    features = [
        *good(),
        area("inner_perimeter", G, SQUARE, name="Inner 1"),
        area("inner_perimeter", G, SQUARE, name="Inner 2"),
        area("check_in", G, PIN),
        area("check_in", G, PIN, name="CP 2"),
        area("staging_area", G, SQUARE, name="Lot", id="A"),
        area("staging_area", G, SQUARE, name="Lot", id="A"),
        area("staging_area", G, SQUARE, name="Lot", capacity="lots"),
        area("staging_area", G, PIN, name="Lot", radius_m=40, capacity=12.5),
    ]
    report = parse_schools(fc(*features))
    assert report.rejected == [
        Problem(4, f"school '{G}' already has an inner perimeter (feature 3)", "Inner 2"),
        Problem(6, f"school '{G}' already has a check-in point (feature 5)", "CP 2"),
    ]
    assert report.warnings == [
        Problem(
            8, "area id 'A' is already used by feature 7; this area is imported as 'A-2'", "Lot"
        ),
        Problem(9, "capacity 'lots' is not a whole number; ignored", "Lot"),
        Problem(10, "capacity 12.5 is not a whole number; ignored", "Lot"),
    ]
    plan = report.imported[0].pre_plan
    assert [a.area_id for a in plan.staging_areas] == ["A", "A-2", f"{G}/lot", f"{G}/lot-2"]
    assert plan.inner_perimeter is not None and plan.inner_perimeter.name == "Inner 1"
    assert report.attached == 6


def test_output_order_is_file_order() -> None:
    names = [f"School {i:02d}" for i in range(30)]
    features = [pt(-84.5 - i * 0.001, 38.2, name=n) for i, n in enumerate(reversed(names))]
    report = parse_schools(fc(*features))
    assert [s.name for s in report.imported] == list(reversed(names))
