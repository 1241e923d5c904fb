from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, shape

from dispatch_console.domain.geometry import (
    DEFAULT_RESPONSE_SPEED_MPS,
    Area,
    AreaIndex,
    LocalFrame,
    area_shape,
    geodesic_distance_m,
    straight_line_eta_s,
)
from tests.builders import INNER, SCHOOL_LAT, SCHOOL_LON, STAGING_A

FRAME = LocalFrame(SCHOOL_LON, SCHOOL_LAT)


def test_local_distances_agree_with_the_ellipsoid_within_a_county() -> None:
    for dlon, dlat in ((0.01, 0), (0, 0.01), (0.1, 0.1), (-0.15, 0.08)):
        local = FRAME.distance_m(SCHOOL_LON, SCHOOL_LAT, SCHOOL_LON + dlon, SCHOOL_LAT + dlat)
        true = geodesic_distance_m(SCHOOL_LON, SCHOOL_LAT, SCHOOL_LON + dlon, SCHOOL_LAT + dlat)
        assert local == pytest.approx(true, rel=1e-3)


def test_one_degree_of_latitude_is_about_111_km() -> None:
    assert geodesic_distance_m(0, 0, 0, 1) == pytest.approx(110_574, rel=1e-3)


def test_areas_are_in_square_metres() -> None:
    circle = FRAME.circle(SCHOOL_LON, SCHOOL_LAT, 100)
    assert FRAME.area_m2(circle) == pytest.approx(math.pi * 100**2, rel=0.01)
    inner = FRAME.area_m2(shape(INNER))
    assert inner == pytest.approx(400 * 320, rel=0.05)  # drawn as 400 m x 320 m


def test_round_trip_through_the_local_frame() -> None:
    x, y = FRAME.to_local(-84.53, 38.23)
    lon, lat = FRAME.to_wgs84(x, y)
    assert (lon, lat) == pytest.approx((-84.53, 38.23), abs=1e-9)


def test_straight_line_eta_uses_the_default_speed_when_parked_or_unknown() -> None:
    assert straight_line_eta_s(1400) == pytest.approx(1400 / DEFAULT_RESPONSE_SPEED_MPS)
    assert straight_line_eta_s(1400, 0.3) == pytest.approx(1400 / DEFAULT_RESPONSE_SPEED_MPS)
    assert straight_line_eta_s(1400, 28.0) == pytest.approx(50.0)


def _index() -> AreaIndex:
    return AreaIndex(
        FRAME,
        [
            Area("inner", "inner_perimeter", area_shape(INNER, None, FRAME)),
            Area("staging-a", "staging_area", area_shape(STAGING_A, 60, FRAME)),
            Area(
                "outer",
                "outer_perimeter",
                area_shape({"type": "Point", "coordinates": [SCHOOL_LON, SCHOOL_LAT]}, 400, FRAME),
            ),
        ],
    )


def test_point_in_perimeter_and_staging_area() -> None:
    inside = _index().containing(
        {
            "at-school": (SCHOOL_LON, SCHOOL_LAT),
            "at-staging": (-84.5459, 38.2296),
            "far": (-84.60, 38.30),
        }
    )
    assert sorted(inside["at-school"]) == ["inner", "outer"]
    assert inside["at-staging"] == ["staging-a"]
    assert inside["far"] == []


def test_nearest_staging_area() -> None:
    index = _index()
    nearest = index.nearest(-84.5470, 38.2300, kind="staging_area")
    assert nearest is not None and nearest[0] == "staging-a"
    assert nearest[1] == pytest.approx(
        max(0.0, FRAME.distance_m(-84.5470, 38.2300, -84.5459, 38.2293) - 60), abs=2.0
    )
    assert AreaIndex(FRAME, []).nearest(0, 0) is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-84.56, -84.52), st.floats(38.21, 38.24)), max_size=80))
def test_the_spatial_index_agrees_with_testing_each_point_against_each_area(
    points: list[tuple[float, float]],
) -> None:
    index = _index()
    named = {f"r{i}": p for i, p in enumerate(points)}
    result = index.containing(named)
    for key, (lon, lat) in named.items():
        x, y = FRAME.to_local(lon, lat)
        expected = sorted(a.area_id for a in index.areas if a.shape.intersects(Point(x, y)))
        assert sorted(result[key]) == expected
