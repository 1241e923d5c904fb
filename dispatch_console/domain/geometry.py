"""Geometry in metres: WGS84 lon/lat in, local projected metres for every measurement.

Positions and outlines are stored as WGS84 lon/lat (GeoJSON order). Distances, areas and
containment are computed in a :class:`LocalFrame`, an azimuthal equidistant projection centred
on the incident (distances from the centre are exact, and within a county the distortion is
far below GPS noise). :class:`AreaIndex` answers "which responders are inside which area" for
many points and many areas at once with a shapely ``STRtree``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import Geod, Transformer
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from dispatch_console.domain.events import Geometry

_GEOD = Geod(ellps="WGS84")

#: Straight-line ETA assumes this speed when the responder's own is unknown or near zero
#: (about 50 km/h: an urban emergency drive, slowed by traffic and junctions).
DEFAULT_RESPONSE_SPEED_MPS = 14.0
#: Below this speed a responder is treated as not moving (GPS jitter at a standstill).
MOVING_SPEED_MPS = 2.0


def geodesic_distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Distance on the WGS84 ellipsoid, in metres."""
    _, _, distance = _GEOD.inv(lon1, lat1, lon2, lat2)
    return float(distance)


def straight_line_eta_s(distance_m: float, speed_mps: float | None = None) -> float:
    """Seconds to cover ``distance_m`` in a straight line at the responder's speed.

    A speed under :data:`MOVING_SPEED_MPS` (or none) uses :data:`DEFAULT_RESPONSE_SPEED_MPS`:
    a parked car is not going to take forever, and a walking pace is not a driving pace.
    """
    speed = speed_mps if speed_mps is not None and speed_mps >= MOVING_SPEED_MPS else None
    return distance_m / (speed or DEFAULT_RESPONSE_SPEED_MPS)


class LocalFrame:
    """A metric plane centred on ``(lon0, lat0)``; x east and y north, in metres."""

    def __init__(self, lon0: float, lat0: float) -> None:
        self.lon0 = lon0
        self.lat0 = lat0
        crs = f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +ellps=WGS84 +units=m +no_defs"
        self._forward = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        self._inverse = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)

    def to_local(self, lon: float, lat: float) -> tuple[float, float]:
        x, y = self._forward.transform(lon, lat)
        return float(x), float(y)

    def to_wgs84(self, x: float, y: float) -> tuple[float, float]:
        lon, lat = self._inverse.transform(x, y)
        return float(lon), float(lat)

    def to_local_many(
        self,
        lons: Sequence[float] | NDArray[np.float64],
        lats: Sequence[float] | NDArray[np.float64],
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        xs, ys = self._forward.transform(np.asarray(lons, float), np.asarray(lats, float))
        return np.asarray(xs, float), np.asarray(ys, float)

    def project(self, geometry: BaseGeometry) -> BaseGeometry:
        """A lon/lat shapely geometry in this frame's metres."""

        def forward(coords: NDArray[np.float64]) -> NDArray[np.float64]:
            xs, ys = self._forward.transform(coords[:, 0], coords[:, 1])
            return np.column_stack([xs, ys])

        projected: BaseGeometry = shapely.transform(geometry, forward)
        return projected

    def unproject(self, geometry: BaseGeometry) -> BaseGeometry:
        def inverse(coords: NDArray[np.float64]) -> NDArray[np.float64]:
            lons, lats = self._inverse.transform(coords[:, 0], coords[:, 1])
            return np.column_stack([lons, lats])

        result: BaseGeometry = shapely.transform(geometry, inverse)
        return result

    def distance_m(self, lon1: float, lat1: float, lon2: float, lat2: float) -> float:
        x1, y1 = self.to_local(lon1, lat1)
        x2, y2 = self.to_local(lon2, lat2)
        return math.hypot(x2 - x1, y2 - y1)

    def area_m2(self, geometry: BaseGeometry) -> float:
        return float(self.project(geometry).area)

    def circle(self, lon: float, lat: float, radius_m: float, segments: int = 32) -> BaseGeometry:
        """A circle of ``radius_m`` around a point, in lon/lat (for a point-with-radius area)."""
        x, y = self.to_local(lon, lat)
        return self.unproject(Point(x, y).buffer(radius_m, quad_segs=max(4, segments // 4)))


#: The mean Earth radius (IUGG), for the near-distance rule below.
EARTH_RADIUS_M = 6_371_008.8


def near_distance_m(lon0: float, lat0: float, lon: float, lat: float) -> float:
    """Metres from ``(lon0, lat0)`` to ``(lon, lat)``, equirectangular: within a few metres of
    the geodesic at the ranges a notification radius spans (tens of km), and far cheaper than
    a projection. The one rule for "within the notification radius", whether an activation
    picks whom to alert (:func:`near_distances_m`) or a report joins an incident."""
    dx = math.radians(lon - lon0) * math.cos(math.radians(lat0))
    dy = math.radians(lat - lat0)
    return EARTH_RADIUS_M * math.hypot(dx, dy)


def near_distances_m(
    lon0: float, lat0: float, lons: NDArray[np.float64], lats: NDArray[np.float64]
) -> NDArray[np.float64]:
    """:func:`near_distance_m` for many points at once (the same formula, in numpy)."""
    dx = np.radians(lons - lon0) * math.cos(math.radians(lat0))
    dy = np.radians(lats - lat0)
    return EARTH_RADIUS_M * np.hypot(dx, dy)


@lru_cache(maxsize=64)
def local_frame(lon0: float, lat0: float) -> LocalFrame:
    """A shared :class:`LocalFrame` per centre (building a projection costs a millisecond)."""
    return LocalFrame(lon0, lat0)


def area_shape(geometry: Geometry, radius_m: float | None, frame: LocalFrame) -> BaseGeometry:
    """The metric shape of an area given as GeoJSON: a polygon, or a point with a radius."""
    geom = frame.project(shape(geometry))
    if radius_m is not None and radius_m > 0:
        return geom.buffer(radius_m, quad_segs=16)
    return geom


def area_problem(geometry: Geometry, radius_m: float | None) -> str | None:
    """Why ``geometry`` (GeoJSON, WGS84) with ``radius_m`` is not a usable area, or ``None``."""
    if radius_m is not None and not (math.isfinite(radius_m) and 0 < radius_m <= 50_000):
        return f"radius {radius_m} m is not a positive distance"
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    if kind not in ("Point", "Polygon", "MultiPolygon"):
        return f"geometry type {kind!r} is not a Point, Polygon or MultiPolygon"
    if kind == "Point" and radius_m is None:
        return "a point area needs a radius"
    try:
        geom = shape(geometry)
    except Exception as bad:
        return f"malformed {kind}: {bad}"
    if geom.is_empty:
        return f"empty {kind}"
    coords = shapely.get_coordinates(geom)
    if not np.isfinite(coords).all():
        return "coordinates are not finite numbers"
    if (np.abs(coords[:, 0]) > 180).any() or (np.abs(coords[:, 1]) > 90).any():
        return "coordinates are outside WGS84 longitude/latitude"
    if not geom.is_valid:
        return f"invalid {kind}: {shapely.is_valid_reason(geom)}"
    return None


@dataclass(frozen=True)
class Area:
    """An area to test positions against (staging area, perimeter, campus): id, kind, shape."""

    area_id: str
    kind: str
    shape: BaseGeometry  # in the index's local frame (metres)


class AreaIndex:
    """Many responders against many areas, with a spatial index.

    Areas change rarely and points every second, so the index is built over the points of each
    query and probed with the areas (the faster direction on this machine, ``baselines.md``).
    """

    def __init__(self, frame: LocalFrame, areas: Iterable[Area]) -> None:
        self.frame = frame
        self.areas = list(areas)
        self._shapes = np.array([a.shape for a in self.areas], dtype=object)

    def containing(self, points: Mapping[str, tuple[float, float]]) -> dict[str, list[str]]:
        """For ``{responder_id: (lon, lat)}``, the ids of the areas each point lies in or on."""
        result: dict[str, list[str]] = {key: [] for key in points}
        if not points or not self.areas:
            return result
        keys = list(points)
        lons = [points[k][0] for k in keys]
        lats = [points[k][1] for k in keys]
        xs, ys = self.frame.to_local_many(lons, lats)
        tree = shapely.STRtree(shapely.points(xs, ys))
        pairs: NDArray[Any] = tree.query(self._shapes, predicate="intersects")
        for area_index, point_index in pairs.T:
            result[keys[int(point_index)]].append(self.areas[int(area_index)].area_id)
        return result

    def nearest(self, lon: float, lat: float, kind: str | None = None) -> tuple[str, float] | None:
        """The nearest area (of ``kind``, if given) and the distance to its edge in metres."""
        x, y = self.frame.to_local(lon, lat)
        point = Point(x, y)
        best: tuple[str, float] | None = None
        for area in self.areas:
            if kind is not None and area.kind != kind:
                continue
            distance = float(area.shape.distance(point))
            if best is None or distance < best[1]:
                best = (area.area_id, distance)
        return best
