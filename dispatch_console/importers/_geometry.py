"""Checking one GeoJSON geometry: structure, numbers, CRS, range, and polygon validity.

Every check raises :class:`GeometryRejected` with a reason that says what is wrong and where,
so that whoever maintains the file can fix it. Nothing here guesses a correction.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from dispatch_console.domain.events import Geometry, check_lat_lon
from dispatch_console.importers._crs import SourceCrs
from dispatch_console.importers._text import fmt_number

Position = tuple[float, float]
Ring = list[Position]

GEOJSON_GEOMETRY_TYPES = frozenset(
    {
        "Point", "MultiPoint", "LineString", "MultiLineString",
        "Polygon", "MultiPolygon", "GeometryCollection",
    }
)  # fmt: skip

#: Beyond this, a number cannot be degrees; it is a projected x or y (metres or feet).
_PROJECTED_THRESHOLD = 1000.0

_VALIDITY = re.compile(r"^(?P<what>.*)\[(?P<x>\S+) (?P<y>\S+)\]$")


class GeometryRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CheckedGeometry:
    """A geometry that passed every check, in WGS84, with one point to stand for it."""

    type: str
    geojson: Geometry
    lon: float
    lat: float


def check_geometry(
    geometry: object, allowed: Sequence[str], crs: SourceCrs, role: str
) -> CheckedGeometry:
    """Check a (non-null) GeoJSON geometry for use as ``role`` (e.g. ``"a school location"``)."""
    if not isinstance(geometry, dict):
        raise GeometryRejected("geometry is not a GeoJSON object")
    kind = geometry.get("type")
    if not isinstance(kind, str):
        raise GeometryRejected("geometry has no type")
    if kind not in allowed:
        if kind in GEOJSON_GEOMETRY_TYPES:
            raise GeometryRejected(f"a {kind} cannot be {role} (expected {' or '.join(allowed)})")
        raise GeometryRejected(f"unknown geometry type {_quote(kind)}")
    if "coordinates" not in geometry:
        raise GeometryRejected(f"{kind} has no coordinates")
    coordinates = geometry["coordinates"]

    if kind == "Point":
        raw_point = _position(coordinates)
        if raw_point == (0.0, 0.0):
            raise GeometryRejected("coordinates are 0, 0 (a placeholder, not a location)")
        (point,) = _to_wgs84([raw_point], crs)
        return CheckedGeometry("Point", {"type": "Point", "coordinates": list(point)}, *point)

    polygons_raw: list[list[Ring]]
    if kind == "Polygon":
        polygons_raw = [_polygon(coordinates, "")]
    else:  # MultiPolygon
        if not isinstance(coordinates, list) or not coordinates:
            raise GeometryRejected("MultiPolygon coordinates are not a list of polygons")
        polygons_raw = [_polygon(c, f"polygon {i}, ") for i, c in enumerate(coordinates)]

    flat = [p for polygon in polygons_raw for ring in polygon for p in ring]
    wgs = iter(_to_wgs84(flat, crs))
    polygons = [[[next(wgs) for _ in ring] for ring in polygon] for polygon in polygons_raw]

    shape: BaseGeometry
    if kind == "Polygon":
        shape = Polygon(polygons[0][0], polygons[0][1:])
        geojson: Geometry = {"type": "Polygon", "coordinates": _lists(polygons[0])}
    else:
        shape = MultiPolygon([(poly[0], poly[1:]) for poly in polygons])
        geojson = {"type": "MultiPolygon", "coordinates": [_lists(poly) for poly in polygons]}
    _check_valid(shape)
    where = shape.representative_point()
    return CheckedGeometry(kind, geojson, float(where.x), float(where.y))


def _lists(rings: list[Ring]) -> list[list[list[float]]]:
    return [[[x, y] for x, y in ring] for ring in rings]


def _position(value: object) -> Position:
    if not isinstance(value, list) or len(value) < 2:
        raise GeometryRejected(f"{_short(value)} is not a position [lon, lat]")
    numbers: list[float] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise GeometryRejected(f"coordinate {_short(item)} is not a number")
        try:
            number = float(item)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise GeometryRejected("coordinates are not finite numbers (NaN or Infinity)")
        numbers.append(number)
    return numbers[0], numbers[1]


def _polygon(value: object, prefix: str) -> list[Ring]:
    if not isinstance(value, list) or not value:
        raise GeometryRejected(f"{prefix}polygon coordinates are not a list of rings")
    return [_ring(ring, f"{prefix}{_ring_name(i)}") for i, ring in enumerate(value)]


def _ring_name(index: int) -> str:
    return "exterior ring" if index == 0 else f"hole {index}"


def position_list(value: object, name: str) -> list[Position]:
    """``value`` as GeoJSON positions, or :class:`GeometryRejected` naming ``name``."""
    if not isinstance(value, list):
        raise GeometryRejected(f"{name} is not a list of positions")
    return [_position(p) for p in value]


def _ring(value: object, name: str) -> Ring:
    positions = position_list(value, name)
    if len(positions) < 4:
        raise GeometryRejected(
            f"{name} has {len(positions)} positions; a closed ring needs at least 4"
        )
    if positions[0] != positions[-1]:
        raise GeometryRejected(
            f"{name} is not closed (first position {_pos(positions[0])}, "
            f"last {_pos(positions[-1])})"
        )
    return positions


def _to_wgs84(positions: list[Position], crs: SourceCrs) -> list[Position]:
    """Transform to WGS84 and check every position is a valid lon/lat."""
    result: list[Position] = []
    for x, y in positions:
        converted = crs.to_wgs84(x, y)
        if converted is None:
            raise GeometryRejected(
                f"coordinates {_pos((x, y))} cannot be transformed from {crs.name}"
            )
        result.append(converted)
    for (x, y), (lon, lat) in zip(positions, result, strict=True):
        if _in_range(lon, lat):
            continue
        if crs.is_wgs84:
            if abs(x) > _PROJECTED_THRESHOLD or abs(y) > _PROJECTED_THRESHOLD:
                raise GeometryRejected(
                    f"coordinates look projected (x={fmt_number(x)}, y={fmt_number(y)}), "
                    "not WGS84 lon/lat"
                )
            if all(_in_range(b, a) for a, b in result):
                raise GeometryRejected("latitude and longitude appear swapped")
        try:
            check_lat_lon(lat, lon)
        except ValueError as exc:
            prefix = "" if crs.is_wgs84 else f"after transforming from {crs.name}: "
            raise GeometryRejected(f"{prefix}{exc}") from None
    return result


def _in_range(lon: float, lat: float) -> bool:
    return -180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0


def _check_valid(shape: BaseGeometry) -> None:
    reason = str(shapely.is_valid_reason(shape))
    if reason == "Valid Geometry":
        return
    match = _VALIDITY.match(reason)
    what, at = reason, ""
    if match:
        what = match.group("what")
        at = f" at ({match.group('x')}, {match.group('y')})"
    if "self-intersection" in what.lower():
        raise GeometryRejected(f"polygon self-intersects{at}")
    raise GeometryRejected(f"polygon is invalid: {what.lower()}{at}")


def _pos(position: Position) -> str:
    return f"[{fmt_number(position[0])}, {fmt_number(position[1])}]"


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _quote(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")
