"""Road centrelines from GeoJSON, for routing responders (a simulator, ETA estimates).

Reads what real street files look like: LineString and MultiLineString mixed (each line of a
MultiLineString becomes one :class:`Road`), ESRI ``"<Null>"`` strings, missing properties,
``"geometry": null`` (skipped and counted), an old-style ``crs`` member (handled as for schools).
Every road gets a class (``arterial``, ``collector``, ``local``) and the speed of that class: from
our own ``road_class`` property, or inferred from the attributes real files carry (OSM
``highway``, TIGER ``MTFCC``, HPMS functional class, a route number in the name, the owner of
the street, a snow-plow priority). The rules are in ``docs/import-formats.md`` ("Roads").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dispatch_console.domain.reference import ROAD_CLASSES, SPEED_MPS, Road, RoadClass
from dispatch_console.importers._crs import SourceCrs
from dispatch_console.importers._geometry import (
    GEOJSON_GEOMETRY_TYPES,
    GeometryRejected,
    Position,
    _to_wgs84,
    position_list,
)
from dispatch_console.importers._text import clean_text, normalize_key, read_file
from dispatch_console.importers.geojson_schools import (
    _short,
    _unique,
    feature_properties,
    read_collection,
    transformed_warning,
)
from dispatch_console.importers.report import ImportReport, Problem

__all__ = [
    "ROAD_CLASSES",
    "ROAD_NAME_KEYS",
    "SPEED_MPS",
    "NotARoad",
    "Road",
    "RoadClass",
    "infer_road_class",
    "load_roads",
    "parse_roads",
    "roads_from_features",
]

#: Property keys that may hold a road's name, in order (the first with a value wins); OSM ``ref``
#: (``"US 25"``) is the last resort.
ROAD_NAME_KEYS = (
    "name", "road_name", "rd_name", "street_name", "streetname", "st_name", "str_name",
    "fullname", "full_name", "label", "ref",
)  # fmt: skip


class NotARoad(Exception):
    """A line that is not for cars (a footway, a bike path): skipped, not rejected."""


# --- road class inference ---------------------------------------------------------------------

#: OSM ``highway`` values of lines that are not for cars: such a feature is skipped.
_NOT_FOR_CARS = (
    "footway", "path", "cycleway", "pedestrian", "steps", "bridleway", "corridor", "sidewalk",
    "crossing", "platform", "proposed", "construction", "abandoned",
)  # fmt: skip
_OSM_HIGHWAY: dict[str, RoadClass | None] = {
    **dict.fromkeys(
        ("motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link"),
        "arterial",
    ),
    **dict.fromkeys(("secondary", "secondary_link", "tertiary", "tertiary_link"), "collector"),
    **dict.fromkeys(
        ("residential", "unclassified", "living_street", "service", "road", "track", "busway"),
        "local",
    ),
    **dict.fromkeys(_NOT_FOR_CARS, None),
}
# US Census TIGER/Line feature class codes.
_MTFCC: dict[str, RoadClass | None] = {
    "S1100": "arterial",  # primary road (limited access)
    "S1200": "arterial",  # secondary road (US and state highways)
    "S1630": "arterial",  # ramp
    "S1400": "local",  # local neighbourhood road, rural road, city street
    "S1500": "local",  # vehicular trail (4WD)
    "S1640": "local",  # service drive
    "S1730": "local",  # alley
    "S1740": "local",  # private road
    "S1750": "local",  # internal census use
    "S1780": "local",  # parking lot road
    "S1710": None,  # walkway / pedestrian trail
    "S1720": None,  # stairway
    "S1820": None,  # bike path or trail
    "S1830": None,  # bridle path
}
_FUNCTIONAL_CLASS_KEYS = ("f_system", "functional_class", "func_class", "funclass")
_OWNER_KEYS = ("street_own", "ownership", "owner")
#: An Interstate or US route number in the name (``I-75``, ``US 25``, ``Interstate 64``).
_ROUTE_NAME = re.compile(r"^(?:i|ih|interstate|us|u\.s\.)[\s-]*[0-9]+\b", re.IGNORECASE)
#: Snow-plow priority in the Georgetown-Scott County files (``legend``: 1 emergency route,
#: 2 secondary, 3 tertiary, 4 not prioritised, 5 not a city street; ``plow``: 10 state, 20 county,
#: 3x city and 5x undedicated streets by priority, 40 private, 60 outside the county).
_LEGEND: dict[str, RoadClass] = {"1": "collector", "2": "local", "3": "local", "4": "local"}
_PLOW: dict[str, RoadClass] = {
    "10": "arterial", "20": "collector", "31": "collector", "51": "collector",
    "30": "local", "32": "local", "33": "local", "40": "local", "50": "local", "52": "local",
    "53": "local", "60": "local",
}  # fmt: skip


def _road_name(props: Mapping[str, Any]) -> str | None:
    return next((t for k in ROAD_NAME_KEYS if (t := clean_text(props.get(k))) is not None), None)


def infer_road_class(props: Mapping[str, Any]) -> tuple[RoadClass | None, str | None]:
    """The class real-world attributes give a road, and the attribute that decided it.

    ``props`` has normalised keys (``normalize_key``). ``(None, None)`` when nothing tells;
    raises :class:`NotARoad` for a line that is not for cars (a footway, a bike path). Our own
    ``road_class`` is not read here (see :func:`parse_roads`).
    """
    highway = clean_text(props.get("highway")) or clean_text(props.get("fclass"))
    if highway is not None and highway.lower() in _OSM_HIGHWAY:
        found = _OSM_HIGHWAY[highway.lower()]
        if found is None:
            raise NotARoad(f"not a road for cars (highway={highway})")
        return found, "highway"
    mtfcc = clean_text(props.get("mtfcc"))
    if mtfcc is not None and mtfcc.upper() in _MTFCC:
        found = _MTFCC[mtfcc.upper()]
        if found is None:
            raise NotARoad(f"not a road for cars (MTFCC {mtfcc})")
        return found, "mtfcc"
    for key in _FUNCTIONAL_CLASS_KEYS:
        code = clean_text(props.get(key))
        if code is not None and code in {"1", "2", "3", "4", "5", "6", "7"}:
            number = int(code)
            return ("arterial" if number <= 4 else "collector" if number <= 6 else "local"), key
    name = _road_name(props)
    if name is not None and _ROUTE_NAME.match(name):
        return "arterial", "name"
    for key in _OWNER_KEYS:
        owner = clean_text(props.get(key))
        if owner is None:
            continue
        words = re.findall(r"[a-z]+", owner.lower())
        if "state" in words:
            return "arterial", key
        if words[:1] == ["county"]:
            return "collector", key
        break  # city, private, not dedicated ...: the priority below decides
    legend = clean_text(props.get("legend"))
    if legend is not None and legend in _LEGEND:
        return _LEGEND[legend], "legend"
    plow = clean_text(props.get("plow"))
    if plow is not None and plow in _PLOW:
        return _PLOW[plow], "plow"
    return None, None


# --- import -----------------------------------------------------------------------------------


def load_roads(path: str | Path) -> ImportReport[Road]:
    """:func:`parse_roads` on a file; an unreadable file is an :class:`ImportFileError`."""
    return parse_roads(read_file(path), source=str(path))


def parse_roads(data: bytes | str, *, source: str = "<input>") -> ImportReport[Road]:
    """Roads from GeoJSON text, in file order (a MultiLineString's lines in their order)."""
    features, crs = read_collection(data, source)
    return roads_from_features(features, crs, source=source)


def roads_from_features(
    features: list[Any], crs: SourceCrs, *, source: str = "<input>"
) -> ImportReport[Road]:
    """Roads from GeoJSON-shaped features whose coordinates are in ``crs`` (the GeoJSON and
    the GIS readers' one code path)."""
    report: ImportReport[Road] = ImportReport(source=source, unit="feature")
    if not crs.is_wgs84:
        report.warnings.append(transformed_warning(crs))
    used_ids: set[str] = set()
    first_with: dict[str, int] = {}
    unclassified = 0
    for index, feature in enumerate(features):
        result = _check_feature(index, feature, crs, report)
        if result is None:
            continue
        explicit_id, name, road_class, lines = result
        if road_class is None:
            unclassified += 1
            road_class = "local"
        base = explicit_id or f"feature-{index}"
        first_with.setdefault(base, index)
        ids = [base] if len(lines) == 1 else [f"{base}/{k}" for k in range(len(lines))]
        for road_id, line in zip(ids, lines, strict=True):
            unique = _unique(road_id, used_ids)
            if explicit_id is not None and unique != road_id:
                report.warnings.append(
                    Problem(
                        index,
                        f"road_id {road_id!r} is already used by feature {first_with[base]}; "
                        f"this road is imported as {unique!r}",
                        name,
                    )
                )
            report.imported.append(
                Road(unique, name, road_class, SPEED_MPS[road_class], tuple(line))
            )
    if unclassified:
        noun = "road has" if unclassified == 1 else "roads have"
        report.warnings.append(
            Problem(
                None,
                f"{unclassified} {noun} no class attribute (road_class, highway, MTFCC, "
                "functional class, owner or plow priority); read as local",
            )
        )
    for problems in (report.rejected, report.skipped, report.warnings):
        problems.sort(key=lambda p: (p.index is not None, p.index or 0))
    return report


_Checked = tuple[str | None, str | None, RoadClass | None, list[list[Position]]]


def _check_feature(
    index: int, feature: object, crs: SourceCrs, report: ImportReport[Road]
) -> _Checked | None:
    def reject(reason: str, name: str | None = None) -> None:
        report.rejected.append(Problem(index, reason, name))

    props = feature_properties(feature)
    if isinstance(props, str):
        reject(props)
        return None
    assert isinstance(feature, dict)  # feature_properties said it is a Feature
    name = _road_name(props)
    explicit_id = (
        clean_text(props.get("road_id"))
        or clean_text(props.get("id"))
        or clean_text(feature.get("id"))
    )

    if "geometry" not in feature:
        reject("the feature has no geometry member", name)
        return None
    if feature["geometry"] is None:
        report.skipped.append(Problem(index, "geometry is null", name))
        return None

    try:
        road_class = _road_class(index, props, name, report)
    except NotARoad as exc:
        report.skipped.append(Problem(index, str(exc), name))
        return None
    try:
        lines = _lines(feature["geometry"], crs)
    except GeometryRejected as exc:
        reject(exc.reason, name)
        return None
    return explicit_id, name, road_class, lines


def _road_class(
    index: int, props: dict[str, Any], name: str | None, report: ImportReport[Road]
) -> RoadClass | None:
    own = clean_text(props.get("road_class"))
    if own is not None:
        folded = normalize_key(own)
        for road_class in ROAD_CLASSES:
            if folded == road_class:
                return road_class
        inferred, _ = infer_road_class(props)
        report.warnings.append(
            Problem(
                index,
                f"road_class {_short(own)} is not arterial, collector or local; "
                f"read as {inferred or 'local'}",
                name,
            )
        )
        return inferred
    return infer_road_class(props)[0]


def _lines(geometry: object, crs: SourceCrs) -> list[list[Position]]:
    """The lines of a LineString or MultiLineString, in WGS84, repeated positions dropped."""
    if not isinstance(geometry, dict):
        raise GeometryRejected("geometry is not a GeoJSON object")
    kind = geometry.get("type")
    if not isinstance(kind, str):
        raise GeometryRejected("geometry has no type")
    if kind not in ("LineString", "MultiLineString"):
        if kind in GEOJSON_GEOMETRY_TYPES:
            raise GeometryRejected(f"a {kind} cannot be a road (expected LineString or "
                                   "MultiLineString)")  # fmt: skip
        raise GeometryRejected(f"unknown geometry type {_short(kind)}")
    if "coordinates" not in geometry:
        raise GeometryRejected(f"{kind} has no coordinates")
    coordinates = geometry["coordinates"]
    parts: list[tuple[str, object]]
    if kind == "LineString":
        parts = [("LineString", coordinates)]
    else:
        if not isinstance(coordinates, list) or not coordinates:
            raise GeometryRejected("MultiLineString coordinates are not a list of lines")
        parts = [(f"line {k} of the MultiLineString", c) for k, c in enumerate(coordinates)]

    raw: list[list[Position]] = []
    for what, value in parts:
        positions = position_list(value, what)
        if len(positions) < 2:
            raise GeometryRejected(
                f"{what} has {len(positions)} position{'' if len(positions) == 1 else 's'}; "
                "a line needs at least 2"
            )
        if (0.0, 0.0) in positions:
            raise GeometryRejected(f"{what} has a position at 0, 0 (a placeholder)")
        raw.append(positions)

    flat = _to_wgs84([p for line in raw for p in line], crs)
    result: list[list[Position]] = []
    at = 0
    for (what, _), line in zip(parts, raw, strict=True):
        converted = flat[at : at + len(line)]
        at += len(line)
        distinct = [p for k, p in enumerate(converted) if k == 0 or p != converted[k - 1]]
        if len(distinct) < 2:
            raise GeometryRejected(f"{what} has no length (all its positions are equal)")
        result.append(distinct)
    return result
