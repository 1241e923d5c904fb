"""The road graph: hand-made networks with known answers, and the real Georgetown streets."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from dispatch_console.county.roads import SPEED_MPS, Road, RoadClass, RoadGraph, load_road_graph
from dispatch_console.domain.geometry import LocalFrame, geodesic_distance_m
from dispatch_console.importers import load_schools

FRAME = LocalFrame(-84.54, 38.225)


def at(x: float, y: float) -> tuple[float, float]:
    """The lon/lat of a point given in metres from the frame's centre."""
    return FRAME.to_wgs84(x, y)


def road(road_id: str, road_class: RoadClass, *xy: tuple[float, float]) -> Road:
    return Road(road_id, road_id, road_class, SPEED_MPS[road_class], tuple(at(*p) for p in xy))


def ladder() -> list[Road]:
    """Four columns 200 m apart (x = 0, 200, 400, 600) and two rows 50 m apart: the lower row
    (y = 0) is an arterial, the upper (y = 50) and the rungs are local streets."""
    columns = [road(f"col-{i}", "local", (200.0 * i, 0.0), (200.0 * i, 50.0)) for i in range(4)]
    return [
        road("low", "arterial", *((200.0 * i, 0.0) for i in range(4))),
        road("high", "local", *((200.0 * i, 50.0) for i in range(4))),
        *columns,
    ]


def test_nodes_and_edges_of_a_ladder() -> None:
    graph = RoadGraph(ladder(), frame=FRAME)
    assert graph.node_count == 8
    assert len(graph.edges) == 3 + 3 + 4
    assert graph.component_sizes() == [8]
    assert graph.largest_component_share() == 1.0
    low = [e for e in graph.edges if e.road_id == "low"]
    assert [round(e.length_m, 6) for e in low] == [200.0, 200.0, 200.0]
    assert low[0].time_s == pytest.approx(10.0)
    assert graph.nearest_node(*at(395.0, 8.0)) == graph.nearest_node(*at(400.0, 0.0))


def test_quickest_route_takes_the_arterial() -> None:
    graph = RoadGraph(ladder(), frame=FRAME)
    # Along the local street: 600 m at 9 m/s = 66.7 s. Down, along the arterial, up:
    # 50 / 9 + 600 / 20 + 50 / 9 = 41.1 s.
    route = graph.route(at(0.0, 50.0), at(600.0, 50.0))

    assert route.length_m == pytest.approx(700.0, abs=1e-3)
    assert route.travel_time_s == pytest.approx(50 / 9 + 600 / 20 + 50 / 9, abs=1e-3)
    expected = [(0, 50), (0, 0), (200, 0), (400, 0), (600, 0), (600, 50)]
    assert len(route.points) == len(expected)
    for point, (x, y) in zip(route.points, expected, strict=True):
        assert FRAME.distance_m(*point, *at(x, y)) < 0.01
    assert route.speeds_mps == (9.0, 20.0, 20.0, 20.0, 9.0)
    assert route.lengths_m == pytest.approx((50.0, 200.0, 200.0, 200.0, 50.0), abs=1e-3)
    assert route.start_snap_m == pytest.approx(0.0, abs=1e-6)
    assert len(route.nodes) == 6


def test_short_hop_stays_on_the_local_street() -> None:
    graph = RoadGraph(ladder(), frame=FRAME)
    # 150 m at 9 m/s = 16.7 s; round by the arterial: 5.6 + 10 + 5.6 + 5.6 = 26.7 s.
    route = graph.route(at(0.0, 50.0), at(150.0, 50.0))
    assert route.length_m == pytest.approx(150.0, abs=1e-3)
    assert route.speeds_mps == (9.0,)
    # But a whole block: 200 m = 22.2 s, while down, along, up is 5.6 + 10 + 5.6 = 21.1 s.
    assert graph.route(at(0.0, 50.0), at(200.0, 50.0)).length_m == pytest.approx(300.0)


def test_route_from_and_to_the_middle_of_streets() -> None:
    graph = RoadGraph(ladder(), frame=FRAME)
    # From 30 m off the high street, between columns 0 and 1; to the middle of rung 3.
    route = graph.route(at(100.0, 80.0), at(600.0, 25.0))

    assert route.start_snap_m == pytest.approx(30.0, abs=0.01)
    assert route.end_snap_m == pytest.approx(0.0, abs=0.01)
    assert FRAME.distance_m(*route.points[0], *at(100.0, 50.0)) < 0.01
    assert FRAME.distance_m(*route.points[-1], *at(600.0, 25.0)) < 0.01
    # East to column 1, down, east on the arterial, up rung 3 halfway: 100 + 50 + 400 + 25 m,
    # 11.1 + 5.6 + 20 + 2.8 = 39.4 s (west to column 0 first would be 49.4 s, the high street
    # all the way 58.3 s).
    assert route.length_m == pytest.approx(575.0, abs=0.01)
    assert route.travel_time_s == pytest.approx(100 / 9 + 50 / 9 + 20 + 25 / 9, abs=0.01)
    assert route.speeds_mps == (9.0, 9.0, 20.0, 20.0, 9.0)


def test_route_within_one_edge() -> None:
    graph = RoadGraph(ladder(), frame=FRAME)
    route = graph.route(at(250.0, 0.0), at(330.0, 0.0))
    assert route.length_m == pytest.approx(80.0, abs=0.01)
    assert route.nodes == ()
    backwards = graph.route(at(330.0, 0.0), at(250.0, 0.0))
    assert backwards.points == route.points[::-1]


def test_route_to_the_same_place_is_empty() -> None:
    graph = RoadGraph(ladder(), frame=FRAME)
    route = graph.route(at(100.0, 0.0), at(100.0, 0.0))
    assert route.length_m == 0.0
    assert route.speeds_mps == ()
    assert len(route.points) == 1


def test_vertices_within_a_metre_are_one_node() -> None:
    roads = [
        road("a", "local", (0.0, 0.0), (100.0, 0.0)),
        road("b", "local", (100.4, 0.3), (200.0, 0.0)),  # 0.5 m from a's end: joined
        road("c", "local", (202.0, 0.0), (300.0, 0.0)),  # 2 m from b's end: not joined
    ]
    graph = RoadGraph(roads, frame=FRAME)
    assert graph.component_sizes() == [3, 2]
    route = graph.route(at(0.0, 0.0), at(200.0, 0.0))
    assert route.length_m == pytest.approx(200.0, abs=0.5)


def test_a_vertex_shared_inside_two_roads_is_a_junction() -> None:
    # Two long roads crossing at a vertex both have (not at their ends): a four-way junction.
    roads = [
        road("ew", "local", (-100.0, 0.0), (0.0, 0.0), (100.0, 0.0)),
        road("ns", "local", (0.0, -100.0), (0.0, 0.0), (0.0, 100.0)),
    ]
    graph = RoadGraph(roads, frame=FRAME)
    assert graph.node_count == 5
    assert len(graph.edges) == 4
    assert graph.route(at(-100.0, 0.0), at(0.0, 100.0)).length_m == pytest.approx(200.0)


def test_a_loop_road_has_a_node_where_it_closes() -> None:
    square = [(0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0), (0.0, 0.0)]
    roads = [road("loop", "local", *square), road("spur", "local", (0.0, 0.0), (-100.0, 0.0))]
    graph = RoadGraph(roads, frame=FRAME)
    route = graph.route(at(-100.0, 0.0), at(100.0, 10.0))
    assert route.length_m == pytest.approx(210.0, abs=0.01)  # the short way round


def test_routes_stay_in_the_largest_component() -> None:
    island = road("island", "arterial", (5000.0, 5000.0), (5100.0, 5000.0))
    graph = RoadGraph([*ladder(), island], frame=FRAME)
    assert graph.component_sizes() == [8, 2]
    assert graph.largest_component_share() == pytest.approx(0.8)
    # Starting on the island: the route starts on the nearest road of the main network.
    route = graph.route(at(5050.0, 5000.0), at(0.0, 0.0))
    assert route.start_snap_m > 6000
    assert FRAME.distance_m(*route.points[0], *at(600.0, 50.0)) < 0.01
    assert graph.nearest_node(*at(5050.0, 5001.0)) != graph.nearest_node(
        *at(5050.0, 5001.0), largest_component=True
    )


def test_graph_is_deterministic() -> None:
    first, second = RoadGraph(ladder()), RoadGraph(ladder())
    assert [(e.u, e.v, e.road_id) for e in first.edges] == [
        (e.u, e.v, e.road_id) for e in second.edges
    ]
    a = first.route(at(10.0, 50.0), at(590.0, 50.0))
    b = second.route(at(10.0, 50.0), at(590.0, 50.0))
    assert a == b


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="no roads"):
        RoadGraph([])
    graph = RoadGraph(ladder(), frame=FRAME)
    with pytest.raises(ValueError, match="not a position"):
        graph.route((math.nan, 38.2), at(0.0, 0.0))


# --- the real Georgetown streets ---------------------------------------------------------------


@pytest.mark.shared_data
def test_route_between_two_georgetown_schools(shared_data: Path) -> None:
    graph = load_road_graph(shared_data / "roads" / "georgetown_ky_streets_20170104.geojson")
    assert graph.largest_component_share() > 0.95

    schools = {s.name: s for s in load_schools(
        shared_data / "schools" / "scott_county_ky_schools.geojson"
    ).imported}  # fmt: skip
    pairs = [
        ("Garth Elementary School", "Georgetown Middle School"),
        ("Western Elementary School", "Scott County Middle School"),
        ("Southern Elementary School", "Garth Elementary School"),
    ]
    for a_name, b_name in pairs:
        a, b = schools[a_name], schools[b_name]
        route = graph.route((a.lon, a.lat), (b.lon, b.lat))
        straight = geodesic_distance_m(a.lon, a.lat, b.lon, b.lat)
        assert route.start_snap_m < 200 and route.end_snap_m < 200
        assert straight < route.length_m < 3 * straight
        assert route.travel_time_s > route.length_m / 20.0
        assert len(route.points) == len(route.speeds_mps) + 1


@pytest.mark.shared_data
def test_county_graph(shared_data: Path) -> None:
    # How fast it builds and routes: tools/bench_road_graph.py (tests assert no wall-clock time).
    graph = load_road_graph(shared_data / "roads" / "scott_county_ky_streets_20170104.geojson")
    assert (graph.node_count, len(graph.edges)) == (2920, 3762)
    assert graph.largest_component_share() > 0.99
