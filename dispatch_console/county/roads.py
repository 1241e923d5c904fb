"""A road graph for routing responders: nodes where roads meet, edges timed by road class.

Built from :class:`~dispatch_console.importers.roads_geojson.Road` lines. Line vertices closer
than ``snap_m`` (1 m) are one point, so roads digitised separately still meet; a point becomes a
graph node when it ends a road, is shared by two roads, or is passed twice by one. The lines
between nodes are the edges, with their length in metres (measured in one
:class:`~dispatch_console.domain.geometry.LocalFrame`) and their travel time at the class speed.
Every road is two-way (the sources carry no one-way information we trust).

:meth:`RoadGraph.route` snaps both ends to the nearest point on a road of the largest connected
component (a stray piece of road, a private drive drawn unconnected, must not trap a route) and
runs Dijkstra (``heapq``) on travel time. Everything is deterministic: the same roads in the same
order give the same nodes, edges and routes.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from numpy.typing import NDArray

from dispatch_console.domain.geometry import LocalFrame
from dispatch_console.importers.roads_geojson import (
    SPEED_MPS,
    Road,
    RoadClass,
    load_roads,
)

__all__ = [
    "SNAP_M",
    "SPEED_MPS",
    "Edge",
    "Road",
    "RoadClass",
    "RoadGraph",
    "RoadPoint",
    "Route",
    "load_road_graph",
    "point_along",
]

#: Line vertices closer than this (metres) are one point.
SNAP_M = 1.0

LonLat = tuple[float, float]
_FloatArray = NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Edge:
    """A stretch of one road between two nodes. ``xy`` (metres, the graph's frame) and
    ``lonlat`` run from node ``u`` to node ``v``; ``cum_m`` is the distance from ``u`` to each
    vertex."""

    u: int
    v: int
    road_id: str
    name: str | None
    road_class: RoadClass
    speed_mps: float
    xy: _FloatArray
    lonlat: _FloatArray
    cum_m: _FloatArray

    @property
    def length_m(self) -> float:
        return float(self.cum_m[-1])

    @property
    def time_s(self) -> float:
        return self.length_m / self.speed_mps


@dataclass(frozen=True)
class Route:
    """A drive along the roads. ``points`` are WGS84 ``(lon, lat)``; segment ``k`` runs from
    ``points[k]`` to ``points[k + 1]``, is ``lengths_m[k]`` long and has the speed limit
    ``speeds_mps[k]`` (its road's class speed). The route starts and ends on the road nearest the
    requested places; ``start_snap_m`` / ``end_snap_m`` say how far away that was."""

    points: tuple[LonLat, ...]
    speeds_mps: tuple[float, ...]
    lengths_m: tuple[float, ...]
    nodes: tuple[int, ...]
    start_snap_m: float
    end_snap_m: float

    @property
    def length_m(self) -> float:
        return math.fsum(self.lengths_m)

    @property
    def travel_time_s(self) -> float:
        return math.fsum(d / s for d, s in zip(self.lengths_m, self.speeds_mps, strict=True))


@dataclass(frozen=True)
class RoadPoint:
    """The point of a road nearest some place: on ``edges[edge]``, ``along_m`` from its ``u``
    end, ``distance_m`` from that place, at ``lonlat``."""

    edge: int
    along_m: float
    distance_m: float
    lonlat: LonLat


@dataclass
class _Piece:
    road: Road
    clusters: list[int] = field(default_factory=list)


class RoadGraph:
    """Nodes and edges of a road network; see the module docstring."""

    def __init__(
        self, roads: Iterable[Road], *, snap_m: float = SNAP_M, frame: LocalFrame | None = None
    ) -> None:
        road_list = list(roads)
        if not road_list:
            raise ValueError("no roads to build a graph from")
        counts = [len(r.coordinates) for r in road_list]
        lonlat = np.array([p for r in road_list for p in r.coordinates], dtype=np.float64)
        if frame is None:
            lo, hi = lonlat.min(axis=0), lonlat.max(axis=0)
            frame = LocalFrame(float(lo[0] + hi[0]) / 2, float(lo[1] + hi[1]) / 2)
        self.frame = frame
        xs, ys = frame.to_local_many(lonlat[:, 0], lonlat[:, 1])
        cluster_of, rep = _snap_clusters(xs, ys, snap_m)

        pieces: list[_Piece] = []
        start = 0
        for road, count in zip(road_list, counts, strict=True):
            piece = _Piece(road)
            for c in cluster_of[start : start + count]:
                if not piece.clusters or piece.clusters[-1] != c:
                    piece.clusters.append(c)
            start += count
            if len(piece.clusters) >= 2:  # shorter than snap_m: nothing left of it
                pieces.append(piece)

        visits = np.zeros(len(rep), dtype=np.int64)
        for piece in pieces:
            np.add.at(visits, np.asarray(piece.clusters), 1)
            visits[piece.clusters[0]] += 1  # an end is always a node
            visits[piece.clusters[-1]] += 1

        node_of: dict[int, int] = {}
        for piece in pieces:
            for c in piece.clusters:
                if visits[c] >= 2 and c not in node_of:
                    node_of[c] = len(node_of)
        node_clusters = np.fromiter(node_of, dtype=np.int64, count=len(node_of))
        self.node_xy: _FloatArray = np.column_stack([xs, ys])[rep[node_clusters]]
        self.node_lonlat: _FloatArray = lonlat[rep[node_clusters]]

        self.edges: list[Edge] = []
        all_xy = np.column_stack([xs, ys])
        for piece in pieces:
            cut = [k for k, c in enumerate(piece.clusters) if c in node_of]
            for a, b in itertools.pairwise(cut):
                members = rep[np.asarray(piece.clusters[a : b + 1])]
                xy = all_xy[members]
                steps = np.hypot(*np.diff(xy, axis=0).T)
                self.edges.append(
                    Edge(
                        u=node_of[piece.clusters[a]],
                        v=node_of[piece.clusters[b]],
                        road_id=piece.road.road_id,
                        name=piece.road.name,
                        road_class=piece.road.road_class,
                        speed_mps=piece.road.speed_mps,
                        xy=xy,
                        lonlat=lonlat[members],
                        cum_m=np.concatenate([[0.0], np.cumsum(steps)]),
                    )
                )

        #: node -> (neighbour, edge index, travel time in s) for each edge at it.
        self._adjacent: list[list[tuple[int, int, float]]] = [[] for _ in range(len(node_of))]
        for index, edge in enumerate(self.edges):
            if edge.u != edge.v:  # a loop back to its own node never shortens a route
                self._adjacent[edge.u].append((edge.v, index, edge.time_s))
                self._adjacent[edge.v].append((edge.u, index, edge.time_s))
        self.component = _components(len(node_of), self.edges)
        sizes = np.bincount(self.component)
        #: The label of the largest component (on a tie, the one holding the lowest node).
        self.largest_component = int(np.argmax(sizes))
        self._largest_edges = np.array(
            [k for k, e in enumerate(self.edges) if self.component[e.u] == self.largest_component],
            dtype=np.int64,
        )
        self._tree: shapely.STRtree | None = None

    # --- facts ----------------------------------------------------------------------------------

    @property
    def node_count(self) -> int:
        return len(self.node_xy)

    def component_sizes(self) -> list[int]:
        """Nodes per connected component, largest first."""
        return sorted((int(n) for n in np.bincount(self.component)), reverse=True)

    def largest_component_share(self) -> float:
        """The share of nodes in the largest connected component (1.0: all connected)."""
        return self.component_sizes()[0] / self.node_count

    # --- queries --------------------------------------------------------------------------------

    def nearest_node(self, lon: float, lat: float, *, largest_component: bool = False) -> int:
        """The node nearest a position (in the largest component only, if asked)."""
        x, y = self.frame.to_local(lon, lat)
        d2 = (self.node_xy[:, 0] - x) ** 2 + (self.node_xy[:, 1] - y) ** 2
        if largest_component:
            d2 = np.where(self.component == self.largest_component, d2, np.inf)
        return int(np.argmin(d2))

    def route(self, from_lonlat: LonLat, to_lonlat: LonLat) -> Route:
        """The quickest drive between two places, along roads of the largest component."""
        start = self.snap(*from_lonlat)
        end = self.snap(*to_lonlat)
        e_start, e_end = self.edges[start.edge], self.edges[end.edge]

        best = math.inf
        best_exit: int | None = None  # the node the route leaves the graph at; None: direct
        if start.edge == end.edge:
            best = abs(end.along_m - start.along_m) / e_start.speed_mps
        exits = {
            e_end.u: end.along_m / e_end.speed_mps,
            e_end.v: (e_end.length_m - end.along_m) / e_end.speed_mps,
        }
        if e_end.u == e_end.v:
            exits[e_end.u] = min(end.along_m, e_end.length_m - end.along_m) / e_end.speed_mps

        dist: dict[int, float] = {}
        previous: dict[int, tuple[int, int] | None] = {}
        heap: list[tuple[float, int]] = []
        for node, along in (
            (e_start.u, start.along_m),
            (e_start.v, e_start.length_m - start.along_m),
        ):
            cost = along / e_start.speed_mps
            if cost < dist.get(node, math.inf):
                dist[node] = cost
                previous[node] = None
                heapq.heappush(heap, (cost, node))
        done: set[int] = set()
        while heap:
            cost, node = heapq.heappop(heap)
            if cost >= best:
                break
            if node in done:
                continue
            done.add(node)
            if node in exits and cost + exits[node] < best:
                best, best_exit = cost + exits[node], node
            for neighbour, index, time_s in self._adjacent[node]:
                candidate = cost + time_s
                if candidate < dist.get(neighbour, math.inf):
                    dist[neighbour] = candidate
                    previous[neighbour] = (node, index)
                    heapq.heappush(heap, (candidate, neighbour))

        builder = _PolylineBuilder()
        nodes: list[int] = []
        if best_exit is None:
            builder.add(e_start, start.along_m, end.along_m)
        else:
            path: list[tuple[int, int]] = []  # (node arrived at, edge taken)
            node = best_exit
            while (step := previous[node]) is not None:
                path.append((node, step[1]))
                node = step[0]
            entry = node
            path.reverse()
            builder.add(e_start, start.along_m, _end_towards(e_start, entry, start.along_m))
            nodes.append(entry)
            at = entry
            for arrived, index in path:
                edge = self.edges[index]
                forward = edge.u == at
                builder.add(
                    edge, 0.0 if forward else edge.length_m, edge.length_m if forward else 0.0
                )
                nodes.append(arrived)
                at = arrived
            builder.add(e_end, _end_towards(e_end, at, end.along_m), end.along_m)
        points, speeds, lengths = builder.result()
        return Route(points, speeds, lengths, tuple(nodes), start.distance_m, end.distance_m)

    def snap(self, lon: float, lat: float) -> RoadPoint:
        """The nearest point on a road of the largest component (on a tie, the first edge)."""
        if not np.isfinite([lon, lat]).all():
            raise ValueError(f"not a position: ({lon}, {lat})")
        if self._tree is None:
            lines = [shapely.linestrings(self.edges[k].xy) for k in self._largest_edges]
            self._tree = shapely.STRtree(lines)
        point = shapely.Point(*self.frame.to_local(lon, lat))
        found = self._tree.query_nearest(point, all_matches=True)
        position = int(np.min(found))
        index = int(self._largest_edges[position])
        line = self._tree.geometries[position]
        along = float(shapely.line_locate_point(line, point))
        distance = float(shapely.distance(line, point))
        return RoadPoint(index, along, distance, point_along(self.edges[index], along))


class _PolylineBuilder:
    """Joins pieces of edges into one polyline with per-segment speeds and lengths."""

    def __init__(self) -> None:
        self.points: list[LonLat] = []
        self.speeds: list[float] = []
        self.lengths: list[float] = []

    def add(self, edge: Edge, a: float, b: float) -> None:
        """The part of ``edge`` from ``a`` to ``b`` metres from its ``u`` end (``a > b`` runs
        backwards)."""
        lo, hi = min(a, b), max(a, b)
        inner = [k for k in range(len(edge.cum_m)) if lo < edge.cum_m[k] < hi]
        stations = [lo, *(float(edge.cum_m[k]) for k in inner), hi]
        coords = [
            point_along(edge, lo),
            *(_pair(edge.lonlat[k]) for k in inner),
            point_along(edge, hi),
        ]
        if a > b:
            stations.reverse()
            coords.reverse()
        if not self.points:
            self.points.append(coords[0])
        for k in range(1, len(coords)):
            length = abs(stations[k] - stations[k - 1])
            if length <= 0.0:
                continue
            self.points.append(coords[k])
            self.speeds.append(edge.speed_mps)
            self.lengths.append(length)

    def result(self) -> tuple[tuple[LonLat, ...], tuple[float, ...], tuple[float, ...]]:
        return tuple(self.points), tuple(self.speeds), tuple(self.lengths)


def _end_towards(edge: Edge, node: int, along: float) -> float:
    """Where ``node`` is on ``edge`` (metres from ``u``), seen from ``along``: on a loop (both
    ends one node) the nearer end."""
    if edge.u == edge.v:
        return 0.0 if along <= edge.length_m - along else edge.length_m
    return 0.0 if node == edge.u else edge.length_m


def _pair(row: _FloatArray) -> LonLat:
    return float(row[0]), float(row[1])


def point_along(edge: Edge, along: float) -> LonLat:
    """The lon/lat ``along`` metres from the edge's ``u`` end (linear within a segment)."""
    cum = edge.cum_m
    k = int(np.searchsorted(cum, along, side="right")) - 1
    k = min(max(k, 0), len(cum) - 2)
    span = float(cum[k + 1] - cum[k])
    t = 0.0 if span <= 0 else min(max((along - float(cum[k])) / span, 0.0), 1.0)
    if t == 0.0:
        return _pair(edge.lonlat[k])
    if t == 1.0:
        return _pair(edge.lonlat[k + 1])
    a, b = edge.lonlat[k], edge.lonlat[k + 1]
    return float(a[0] + (b[0] - a[0]) * t), float(a[1] + (b[1] - a[1]) * t)


def _snap_clusters(
    xs: _FloatArray, ys: _FloatArray, snap_m: float
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Each vertex's cluster, and each cluster's representative vertex (its first).

    Greedy, in the order points first appear: a point joins the nearest cluster whose
    representative lies closer than ``snap_m``, or starts a new one. Exact duplicates are merged
    first; only points with a neighbour that close (found in bulk with an STRtree) need the loop.
    """
    unique, first, inverse = np.unique(
        np.column_stack([xs, ys]), axis=0, return_index=True, return_inverse=True
    )
    order = np.argsort(first, kind="stable")  # unique points in the order they first appear
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    points = shapely.points(unique)
    near_i, near_j = shapely.STRtree(points).query(points, predicate="dwithin", distance=snap_m)
    d2 = ((unique[near_i] - unique[near_j]) ** 2).sum(axis=1)
    keep = (near_i != near_j) & (d2 < snap_m * snap_m) & (rank[near_j] < rank[near_i])
    earlier: dict[int, list[tuple[float, int]]] = {}
    for i, j, d in zip(
        near_i[keep].tolist(), near_j[keep].tolist(), d2[keep].tolist(), strict=True
    ):
        earlier.setdefault(i, []).append((d, j))

    cluster_of_unique = np.full(len(unique), -1, dtype=np.int64)
    is_rep = np.zeros(len(unique), dtype=bool)
    reps: list[int] = []  # cluster -> representative vertex
    for u in order.tolist():
        leaders = [(d, int(cluster_of_unique[j])) for d, j in earlier.get(u, ()) if is_rep[j]]
        if leaders:
            cluster_of_unique[u] = min(leaders)[1]  # the nearest; on a tie the oldest cluster
            continue
        cluster_of_unique[u] = len(reps)
        is_rep[u] = True
        reps.append(int(first[u]))
    return cluster_of_unique[inverse.reshape(-1)], np.asarray(reps, dtype=np.int64)


def _components(count: int, edges: Sequence[Edge]) -> NDArray[np.int64]:
    """A component label per node: labels count from 0 in order of each one's lowest node."""
    parent = list(range(count))

    def root(n: int) -> int:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for edge in edges:
        a, b = root(edge.u), root(edge.v)
        if a != b:
            parent[max(a, b)] = min(a, b)
    labels: dict[int, int] = {}
    return np.fromiter(
        (labels.setdefault(root(n), len(labels)) for n in range(count)), np.int64, count
    )


def load_road_graph(path: str | Path, *, snap_m: float = SNAP_M) -> RoadGraph:
    """A :class:`RoadGraph` of a road GeoJSON file (what the importer rejects is left out)."""
    return RoadGraph(load_roads(path).imported, snap_m=snap_m)
