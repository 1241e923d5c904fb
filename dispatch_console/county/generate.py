"""A fictional county for the demo: Harlan Valley County, deterministic per seed.

Placed around Lincoln High School (``resources/example/lincoln_hs.geojson``, about lon -84.54,
lat 38.225), which is one of its schools, unchanged. The county has three towns with street
grids (Carverton, the county seat, around Lincoln High; Millbrook to the north-west; Ashford to
the south-east), arterials crossing it and a bypass ring around Carverton, rural collectors,
ten schools with a complete pre-plan each, three agencies with a roster of 150 officers, and
their alerting devices (a third of them TAK), plus a few devices that are on no roster.

:func:`write_demo_county` writes four files (``FILES``): the same seed gives byte-identical
files (sorted keys, 7-decimal coordinates, ``\\n`` line ends, no timestamps). No keys are written:
secrets must not be committed; :func:`dispatch_console.county.load.load_demo_county` makes them
when it loads the county into a store.

All geometry is laid out in metres in a :class:`LocalFrame` centred on :data:`ORIGIN` (x east,
y north) and converted to WGS84 at the end.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import math
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry

from dispatch_console.county.roads import Edge, RoadGraph, point_along
from dispatch_console.domain.geometry import LocalFrame
from dispatch_console.importers.roads_geojson import SPEED_MPS, Road, RoadClass

__all__ = [
    "AGENCIES",
    "COUNTY_NAME",
    "DEFAULT_SEED",
    "DEVICE_COLUMNS",
    "FILES",
    "ORIGIN",
    "DemoCountyFiles",
    "render_demo_county",
    "write_demo_county",
]

DEFAULT_SEED = 2026
COUNTY_NAME = "Harlan Valley County"
#: The centre of Lincoln High School's campus: (0, 0) of the county's metric frame.
ORIGIN = (-84.54, 38.225)
#: Each agency's response rules (``domain/rules.py``): three agencies, three different rules.
RULE_FILES = ("rules-carverton-pd.toml", "rules-harlan-valley-so.toml", "rules-ksp-post-17.toml")
FILES = ("roads.geojson", "schools.geojson", "roster.csv", "devices.csv", *RULE_FILES)
ROSTER_COLUMNS = (
    "agency", "badge", "name", "status", "device_ids", "training_date", "leosa_qualified"
)  # fmt: skip
#: Active-shooter training: most officers trained within the year before this date, some
#: long before (their training has lapsed); a third of the retired are LEOSA-qualified.
_TRAINING_UNTIL = dt.date(2026, 11, 30)
_LAPSED_SHARE = 0.15
_LEOSA_SHARE = 1 / 3
DEVICE_COLUMNS = ("device_id", "tak_uid", "home_lat", "home_lon", "agency", "badge")

#: A city police department, a county sheriff's office, a state police post. Badges: four
#: digits (``1035``), ``S-`` and three digits (``S-118``), four digits with a leading zero
#: (``0412``).
AGENCIES = (
    "Carverton Police Department",
    "Harlan Valley County Sheriff's Office",
    "Kentucky State Police Post 17",
)
_AGENCY_OFFICERS = (60, 55, 35)
#: Ranks written before an active officer's name (a retired officer's name has none), weighted.
_RANKS = (
    (("Ofc.", 0.68), ("Cpl.", 0.08), ("Sgt.", 0.12), ("Lt.", 0.05), ("Det.", 0.07)),
    (("Dep.", 0.70), ("Cpl.", 0.06), ("Sgt.", 0.12), ("Lt.", 0.05), ("Det.", 0.07)),
    (("Tpr.", 0.78), ("Sgt.", 0.12), ("Lt.", 0.05), ("Det.", 0.05)),
)
_RETIRED_SHARE = 0.08
_TAK_SHARE = 1 / 3
#: Where each agency's officers live: weights of Carverton, Millbrook, Ashford, the country.
_HOME_AREAS = ((0.8, 0.1, 0.1, 0.0), (0.3, 0.2, 0.2, 0.3), (0.25, 0.25, 0.25, 0.25))
_RURAL = "rural"
_LANES = 36  # dead-end country lanes off the rural roads

_COUNTY_HALF_WIDTH = 14_000.0  # metres, east-west
_COUNTY_HALF_HEIGHT = 12_000.0  # north-south
_RING_RADIUS = 2_700.0
_RING_VERTICES = 64
_NODE_EPS = 0.5  # metres: a crossing this close to a vertex is put on the vertex

XY = tuple[float, float]


# --- Lincoln High School, exactly as in resources/example/lincoln_hs.geojson ------------------

LINCOLN_ID = "lincoln-hs"
_LINCOLN_CAMPUS = (
    (-84.541713, 38.224009), (-84.538287, 38.224009), (-84.538287, 38.225991),
    (-84.541713, 38.225991), (-84.541713, 38.224009),
)  # fmt: skip
_LINCOLN_FEATURES: tuple[dict[str, Any], ...] = (
    {
        "type": "Feature",
        "id": LINCOLN_ID,
        "properties": {
            "kind": "school", "school_id": LINCOLN_ID, "name": "Lincoln High School",
            "address": "1200 Lincoln Ave", "phone": "555-0100", "classification": "High",
        },
        "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in _LINCOLN_CAMPUS]]},
    },
    {
        "type": "Feature",
        "properties": {
            "kind": "staging_area", "school_id": LINCOLN_ID, "id": "staging-a",
            "name": "Staging A (church lot, Elm St)", "radius_m": 60, "capacity": 40,
        },
        "geometry": {"type": "Point", "coordinates": [-84.545939, 38.229324]},
    },
    {
        "type": "Feature",
        "properties": {
            "kind": "staging_area", "school_id": LINCOLN_ID, "id": "staging-b",
            "name": "Staging B (bus depot)", "capacity": 60,
        },
        "geometry": {"type": "Polygon", "coordinates": [[
            [-84.535204, 38.219955], [-84.534062, 38.219955], [-84.534062, 38.220676],
            [-84.535204, 38.220676], [-84.535204, 38.219955],
        ]]},
    },
    {
        "type": "Feature",
        "properties": {
            "kind": "inner_perimeter", "school_id": LINCOLN_ID, "id": "inner",
            "name": "Inner perimeter (campus + 50 m)",
        },
        "geometry": {"type": "Polygon", "coordinates": [[
            [-84.542284, 38.223559], [-84.537716, 38.223559], [-84.537716, 38.226441],
            [-84.542284, 38.226441], [-84.542284, 38.223559],
        ]]},
    },
    {
        "type": "Feature",
        "properties": {
            "kind": "outer_perimeter", "school_id": LINCOLN_ID, "id": "outer",
            "name": "Outer perimeter (400 m)", "radius_m": 400,
        },
        "geometry": {"type": "Point", "coordinates": [-84.54, 38.225]},
    },
    {
        "type": "Feature",
        "properties": {
            "kind": "check_in", "school_id": LINCOLN_ID, "name": "Check-in at Staging A",
        },
        "geometry": {"type": "Point", "coordinates": [-84.5457, 38.2292]},
    },
)  # fmt: skip


# --- towns ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Town:
    name: str
    centre: XY
    radius: float
    block: float
    angle_deg: float = 0.0
    jitter: float = 0.0
    drop: float = 0.0  # share of local blocks left out (a less regular grid)
    wobble: float = 0.0  # how far the town's outline is from a circle
    #: Grid lines (rows run east-west at index j, columns north-south at index i) that are
    #: arterial: laid by the arterial that passes through, not by the grid.
    arterial_rows: frozenset[int] = frozenset()
    arterial_cols: frozenset[int] = frozenset()
    collector_rows: Mapping[int, str] = field(default_factory=dict)
    collector_cols: Mapping[int, str] = field(default_factory=dict)
    row_names: Mapping[int, str] = field(default_factory=dict)  # names that must not change
    street_names: tuple[str, ...] = ()


_TREES = (
    "Oak", "Maple", "Cedar", "Walnut", "Hickory", "Chestnut", "Locust", "Poplar", "Sycamore",
    "Willow", "Birch", "Pine", "Magnolia", "Dogwood", "Ash", "Spruce", "Juniper", "Laurel",
    "Holly", "Linden", "Beech", "Cherry", "Hawthorn", "Redbud", "Mulberry",
)  # fmt: skip
_PEOPLE = (
    "Adams", "Boone", "Clay", "Hamilton", "Franklin", "Marshall", "Morgan", "Scott", "Shelby",
    "Harrison", "Knox", "Logan", "Owen", "Todd", "Warren", "Monroe", "Madison", "Jackson",
    "Taylor", "Grant", "Pike", "Russell", "Mercer", "Hardin", "Bourbon",
)  # fmt: skip
_MEADOWS = (
    "Meadow", "Orchard", "Spring", "Mill", "Bridge", "Church", "Market", "Water", "Prospect",
    "Highland", "Valley", "Ridge", "Park", "College", "Depot", "Stable", "Bluegrass", "Fairway",
    "Harvest", "Pleasant", "Sunset", "Creek", "Forest", "Garden", "Lake",
)  # fmt: skip

CARVERTON = _Town(
    "Carverton", (0.0, 0.0), radius=1_800.0, block=160.0, wobble=0.06,
    arterial_rows=frozenset({-4}), arterial_cols=frozenset({4}),
    collector_rows={6: "Church St"}, collector_cols={-5: "Broadway"},
    row_names={3: "Elm St", -1: "Lincoln Ave"}, street_names=_TREES,
)  # fmt: skip
MILLBROOK = _Town(
    "Millbrook", (-8_200.0, 4_800.0), radius=1_100.0, block=150.0, angle_deg=14.0,
    jitter=12.0, drop=0.06, wobble=0.1, arterial_rows=frozenset({0}),
    collector_cols={0: "Mill St"}, collector_rows={4: "Spring St"}, street_names=_PEOPLE,
)  # fmt: skip
ASHFORD = _Town(
    "Ashford", (7_600.0, -5_600.0), radius=1_200.0, block=150.0, angle_deg=-9.0,
    jitter=12.0, drop=0.06, wobble=0.1, arterial_cols=frozenset({0}),
    collector_rows={0: "Front St"}, collector_cols={-4: "Depot St"}, street_names=_MEADOWS,
)  # fmt: skip
TOWNS = (CARVERTON, MILLBROOK, ASHFORD)
_AREA_NAMES = (*(t.name for t in TOWNS), _RURAL)


def _area_of(edge: Edge) -> str:
    """The town an edge is in (its middle within 1.2 town radii of the centre), or rural."""
    middle = edge.xy[len(edge.xy) // 2]
    for town in TOWNS:
        if math.dist((float(middle[0]), float(middle[1])), town.centre) <= town.radius * 1.2:
            return town.name
    return _RURAL


class _Grid:
    """A town's street grid: node positions by (i, j), and which nodes exist."""

    def __init__(self, town: _Town, rng: random.Random) -> None:
        self.town = town
        angle = math.radians(town.angle_deg)
        self._cos, self._sin = math.cos(angle), math.sin(angle)
        n = math.ceil(town.radius * (1 + town.wobble * 2) / town.block) + 1
        self.indexes = list(range(-n, n + 1))
        phase1, phase2 = rng.uniform(0, math.tau), rng.uniform(0, math.tau)
        self.pos: dict[tuple[int, int], XY] = {}
        for i in self.indexes:
            for j in self.indexes:
                theta = math.atan2(j, i)
                wobble = math.sin(2 * theta + phase1) + 0.6 * math.sin(3 * theta + phase2)
                jitter = (rng.uniform(-1, 1) * town.jitter, rng.uniform(-1, 1) * town.jitter)
                if math.hypot(i, j) * town.block <= town.radius * (1 + town.wobble * wobble):
                    self.pos[(i, j)] = self._place(i, j, jitter)
        # Main streets run unbroken from one side of town to the other.
        for j in (*sorted(town.arterial_rows), *town.collector_rows):
            self._fill([(i, j) for i in self.indexes])
        for i in (*sorted(town.arterial_cols), *town.collector_cols):
            self._fill([(i, j) for j in self.indexes])

    def _place(self, i: int, j: int, jitter: XY = (0.0, 0.0)) -> XY:
        x, y = i * self.town.block, j * self.town.block
        return (
            self.town.centre[0] + x * self._cos - y * self._sin + jitter[0],
            self.town.centre[1] + x * self._sin + y * self._cos + jitter[1],
        )

    def _fill(self, line: list[tuple[int, int]]) -> None:
        """Add the missing nodes between the first and the last of ``line`` that exist."""
        present = [k for k, cell in enumerate(line) if cell in self.pos]
        for cell in line[present[0] : present[-1] + 1]:
            if cell not in self.pos:
                self.pos[cell] = self._place(*cell)

    def row(self, j: int) -> list[XY]:
        """The nodes of the (unbroken) row ``j``, west to east."""
        return [self.pos[(i, j)] for i in self.indexes if (i, j) in self.pos]

    def col(self, i: int) -> list[XY]:
        """The nodes of the (unbroken) column ``i``, south to north."""
        return [self.pos[(i, j)] for j in self.indexes if (i, j) in self.pos]


# --- lines and the network -------------------------------------------------------------------


@dataclass
class _Line:
    name: str
    road_class: RoadClass
    xy: list[XY]


def _meander(a: XY, b: XY, rng: random.Random, step: float = 250.0) -> list[XY]:
    """A rural road from ``a`` to ``b``: vertices every ``step`` metres, swinging gently."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    length = math.hypot(dx, dy)
    count = max(1, round(length / step))
    nx, ny = -dy / length, dx / length
    amplitude = min(450.0, 0.07 * length)
    amp1, amp2 = amplitude * rng.uniform(0.5, 1.0), amplitude * rng.uniform(0.1, 0.3)
    f1, f2 = rng.choice((1, 2)), rng.choice((3, 5))
    ph1, ph2 = rng.uniform(0, math.tau), rng.uniform(0, math.tau)
    points = [a]
    for k in range(1, count):
        t = k / count
        offset = math.sin(math.pi * t) * (
            amp1 * math.sin(f1 * math.pi * t + ph1) + amp2 * math.sin(f2 * math.pi * t + ph2)
        )
        points.append((a[0] + dx * t + nx * offset, a[1] + dy * t + ny * offset))
    points.append(b)
    return points


def _chain(rng: random.Random, *parts: XY | list[XY]) -> list[XY]:
    """A road through fixed stretches (lists of nodes, laid as they are) joined by rural
    meanders between them (single points are places the road passes)."""
    points: list[XY] = []
    for part in parts:
        stretch = part if isinstance(part, list) else [part]
        if points:
            points.extend(_meander(points[-1], stretch[0], rng)[1:-1])
        points.extend(stretch)
    return points


def _ring(rng: random.Random) -> list[XY]:
    phase = rng.uniform(0, math.tau)
    ring = []
    for k in range(_RING_VERTICES):
        theta = math.tau * k / _RING_VERTICES
        r = _RING_RADIUS * (1 + 0.04 * math.sin(2 * theta + phase))
        ring.append((r * math.cos(theta), r * math.sin(theta)))
    return [*ring, ring[0]]


def _ring_at(ring: list[XY], degrees: float) -> XY:
    return ring[round(degrees / 360 * _RING_VERTICES) % _RING_VERTICES]


def _grid_lines(grid: _Grid, campuses: Sequence[BaseGeometry], rng: random.Random) -> list[_Line]:
    """The town's streets, but for its arterial lines: one line per unbroken run of blocks."""
    town = grid.town
    names = list(town.street_names)
    rng.shuffle(names)
    lines: list[_Line] = []
    blockers = shapely.STRtree(list(campuses)) if campuses else None

    def blocked(a: XY, b: XY) -> bool:
        if blockers is None:
            return False
        return len(blockers.query(LineString([a, b]), predicate="intersects")) > 0

    def runs(nodes: list[tuple[int, int]], name: str, road_class: RoadClass) -> None:
        run: list[XY] = []
        for a, b in itertools.pairwise(nodes):
            keep = a in grid.pos and b in grid.pos and not blocked(grid.pos[a], grid.pos[b])
            if keep and road_class == "local" and rng.random() < town.drop:
                keep = False
            if keep:
                run = run or [grid.pos[a]]
                run.append(grid.pos[b])
            elif run:
                lines.append(_Line(name, road_class, run))
                run = []
        if run:
            lines.append(_Line(name, road_class, run))

    ordinal = 0
    for j in grid.indexes:
        if j in town.arterial_rows or not any((i, j) in grid.pos for i in grid.indexes):
            continue
        road_class: RoadClass
        if j in town.collector_rows:
            name, road_class = town.collector_rows[j], "collector"
        else:
            name = town.row_names.get(j) or f"{names[(j + 100) % len(names)]} St"
            road_class = "local"
        runs([(i, j) for i in grid.indexes], name, road_class)
    for i in grid.indexes:
        if i in town.arterial_cols or not any((i, j) in grid.pos for j in grid.indexes):
            continue
        ordinal += 1
        if i in town.collector_cols:
            name, road_class = town.collector_cols[i], "collector"
        else:
            name, road_class = f"{_ordinal(ordinal)} Ave", "local"
        runs([(i, j) for j in grid.indexes], name, road_class)
    return lines


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _node_lines(lines: list[_Line]) -> None:
    """Make every crossing a shared vertex of both lines (in place)."""
    geoms = [LineString(line.xy) for line in lines]
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    extra: list[list[XY]] = [[] for _ in lines]
    for a, b in sorted(zip(left.tolist(), right.tolist(), strict=True)):
        if a >= b:
            continue
        crossing = shapely.intersection(geoms[a], geoms[b])
        for x, y in shapely.get_coordinates(crossing).tolist():
            point = _vertex_near(lines[a].xy, (x, y)) or _vertex_near(lines[b].xy, (x, y)) or (x, y)
            extra[a].append(point)
            extra[b].append(point)
    for line, geom, points in zip(lines, geoms, extra, strict=True):
        for point in points:
            _insert_vertex(line, geom, point)


def _vertex_near(xy: list[XY], point: XY) -> XY | None:
    best = min(xy, key=lambda v: (v[0] - point[0]) ** 2 + (v[1] - point[1]) ** 2)
    return best if math.dist(best, point) <= _NODE_EPS else None


def _insert_vertex(line: _Line, geom: LineString, point: XY) -> None:
    near = _vertex_near(line.xy, point)
    if near == point:
        return
    if near is not None:
        line.xy = [point if v == near else v for v in line.xy]
        return
    along = geom.project(Point(point))
    travelled = 0.0
    for k in range(len(line.xy) - 1):
        step = math.dist(line.xy[k], line.xy[k + 1])
        if travelled + step >= along:
            line.xy.insert(k + 1, point)
            return
        travelled += step
    line.xy.insert(len(line.xy) - 1, point)


# --- the county ------------------------------------------------------------------------------


@dataclass
class _School:
    school_id: str
    name: str
    classification: str
    campus: Polygon  # metres
    features: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class _SchoolPlan:
    name: str
    classification: str
    town: _Town | None
    blocks: tuple[int, int] = (0, 0)  # a town school: (w, h) in blocks
    size_m: tuple[float, float] = (0.0, 0.0)  # a rural school: along the road, deep
    host_road: str = ""  # a rural school: the road it stands by


_SCHOOL_PLANS = (
    _SchoolPlan("Carverton Middle School", "Middle", CARVERTON, (2, 1)),
    _SchoolPlan("Washington Elementary School", "Elementary", CARVERTON, (1, 1)),
    _SchoolPlan("Maple Grove Elementary School", "Elementary", CARVERTON, (1, 1)),
    _SchoolPlan("Millbrook Elementary School", "Elementary", MILLBROOK, (1, 1)),
    _SchoolPlan("Millbrook Middle School", "Middle", MILLBROOK, (2, 1)),
    _SchoolPlan("Ashford Elementary School", "Elementary", ASHFORD, (1, 1)),
    _SchoolPlan("Ashford Middle School", "Middle", ASHFORD, (2, 1)),
    _SchoolPlan(
        "Harlan Valley High School", "High", None, size_m=(320.0, 220.0), host_road="Ashford Rd"
    ),
    _SchoolPlan(
        "Pine Ridge Elementary School",
        "Elementary",
        None,
        size_m=(200.0, 140.0),
        host_road="Pine Ridge Rd",
    ),
)
_SCHOOL_SPACING_M = 850.0  # outer perimeters (400 m) of two schools do not overlap
_CAMPUS_INSET_M = 14.0

_PLACES = (
    "First Baptist Church lot", "Grace Methodist Church lot", "community center lot",
    "fire station", "public library lot", "VFW post lot", "fairgrounds", "ballfield lot",
    "grocery store lot", "park and ride", "farm bureau lot", "feed store lot",
    "post office lot", "rec center lot", "Masonic lodge lot", "extension office lot",
    "water plant gate", "Church of Christ lot", "St. Mary's Church lot", "county garage",
    "Lions Club lot", "bank lot",
)  # fmt: skip


_RULES = (
    """# Carverton Police Department: every trained officer, on duty and off; off duty to
# staging only, identified there, in a raid jacket or POLICE vest. Demo county, seed {seed}.
agency = "Carverton Police Department"
version = 1

[alert]
on_duty = true
off_duty = true
leosa_retired = false
training_required = true
training_valid_days = 365

[off_duty]
staging_only = true
identification_required = true
attire = "raid_jacket_or_vest"
attire_reminder = "Put on your raid jacket or POLICE vest before you leave the car."

[gate]
enabled = false
""",
    """# Harlan Valley County Sheriff's Office: trained deputies on and off duty and
# LEOSA-qualified retired deputies; off duty and retired wait for a dispatcher's release
# (automatic after 90 s). Demo county, seed {seed}.
agency = "Harlan Valley County Sheriff's Office"
version = 1

[alert]
on_duty = true
off_duty = true
leosa_retired = true
training_required = true
training_valid_days = 365

[off_duty]
staging_only = true
identification_required = true
attire = "vest"
attire_reminder = "Put on the marked SHERIFF vest from your trunk before you leave the car."

[gate]
enabled = true
auto_release_s = 90
""",
    """# Kentucky State Police Post 17: on-duty troopers only (no off-duty self-dispatch).
# Demo county, seed {seed}.
agency = "Kentucky State Police Post 17"
version = 1

[alert]
on_duty = true
off_duty = false
leosa_retired = false
training_required = false

[off_duty]
staging_only = true
identification_required = true
attire = "raid_jacket_or_vest"

[gate]
enabled = false
""",
)


@dataclass(frozen=True)
class DemoCountyFiles:
    """The four files of a county, as bytes, by file name (see :data:`FILES`)."""

    files: Mapping[str, bytes]
    seed: int


def render_demo_county(seed: int = DEFAULT_SEED) -> DemoCountyFiles:
    """The county's files for ``seed``, in memory."""
    return _Builder(seed).build()


def write_demo_county(directory: str | Path, seed: int = DEFAULT_SEED) -> dict[str, Path]:
    """Write the county's files into ``directory`` (created if needed); their paths by name."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, data in render_demo_county(seed).files.items():
        path = out / name
        path.write_bytes(data)
        written[name] = path
    return written


class _Builder:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.frame = LocalFrame(*ORIGIN)
        # One generator per concern, so that changing one (more officers) leaves the others.
        self.rng_roads = random.Random(f"{seed}/roads")
        self.rng_schools = random.Random(f"{seed}/schools")
        self.rng_people = random.Random(f"{seed}/people")
        self.device_ids: set[str] = set()  # every device id handed out

    def build(self) -> DemoCountyFiles:
        grids = {town.name: _Grid(town, self.rng_roads) for town in TOWNS}
        schools = self._town_schools(grids)
        lines = self._roads(grids, schools)
        self._rural_schools(lines, schools)
        self._lanes(lines, schools)
        _node_lines(lines)
        roads = self._connected_roads(lines)
        graph = RoadGraph(roads, frame=self.frame)
        self._pre_plans(schools, graph)
        officers = self._roster()
        devices = self._devices(officers, graph)
        files = {
            "roads.geojson": _feature_collection(_road_features(roads)),
            "schools.geojson": _feature_collection(
                [*_LINCOLN_FEATURES, *(f for s in schools for f in s.features)]
            ),
            "roster.csv": _csv(
                ROSTER_COLUMNS,
                [
                    (o.agency, o.badge, o.name, o.status, ";".join(o.devices), *training)
                    for o, training in zip(officers, self._training(officers), strict=True)
                ],
            ),
            "devices.csv": _csv(
                DEVICE_COLUMNS,
                [
                    (d.device_id, d.tak_uid, _num(d.home[1]), _num(d.home[0]), d.agency, d.badge)
                    for d in devices
                ],
            ),
        }
        for name, rules in zip(RULE_FILES, _RULES, strict=True):
            files[name] = rules.format(seed=self.seed).encode()
        return DemoCountyFiles(files, self.seed)

    def _training(self, officers: list[_Officer]) -> list[tuple[str, str]]:
        """(training date, LEOSA-qualified) per officer, from a generator of their own."""
        rng = random.Random(f"{self.seed}/training")
        rows = []
        for officer in officers:
            days = rng.randint(400, 1500) if rng.random() < _LAPSED_SHARE else rng.randint(0, 330)
            trained = (_TRAINING_UNTIL - dt.timedelta(days=days)).isoformat()
            leosa = officer.status == "retired" and rng.random() < _LEOSA_SHARE
            rows.append((trained, "yes" if leosa else "no"))
        return rows

    # --- schools in towns (before the streets: their blocks lose the streets inside) ----------

    def _town_schools(self, grids: Mapping[str, _Grid]) -> list[_School]:
        lincoln = self._to_local_polygon(_LINCOLN_CAMPUS)
        schools = [_School(LINCOLN_ID, "Lincoln High School", "High", lincoln)]
        taken = [lincoln.centroid]
        for plan in _SCHOOL_PLANS:
            if plan.town is None:
                continue
            grid = grids[plan.town.name]
            campus = self._choose_block(grid, plan.blocks, taken)
            taken.append(campus.centroid)
            schools.append(_School(_school_id(plan.name), plan.name, plan.classification, campus))
        return schools

    def _choose_block(self, grid: _Grid, blocks: tuple[int, int], taken: list[Point]) -> Polygon:
        town, (w, h) = grid.town, blocks
        special_cols = {*town.arterial_cols, *town.collector_cols}
        special_rows = {*town.arterial_rows, *town.collector_rows}
        candidates: list[Polygon] = []
        for i0, j0 in sorted(grid.pos):
            cells = [(i0 + di, j0 + dj) for di in range(w + 1) for dj in range(h + 1)]
            if not all(c in grid.pos for c in cells):
                continue
            if any(i0 < i < i0 + w for i in special_cols) or any(
                j0 < j < j0 + h for j in special_rows
            ):
                continue
            corners = [
                grid.pos[c] for c in ((i0, j0), (i0 + w, j0), (i0 + w, j0 + h), (i0, j0 + h))
            ]
            campus = Polygon(corners).buffer(-_CAMPUS_INSET_M, join_style="mitre")
            centre = campus.centroid
            from_centre = math.dist((centre.x, centre.y), town.centre)
            if not 0.2 * town.radius <= from_centre <= 0.7 * town.radius:
                continue
            if any(centre.distance(other) < _SCHOOL_SPACING_M for other in taken):
                continue
            candidates.append(campus)
        return self.rng_schools.choice(candidates)

    # --- roads ---------------------------------------------------------------------------------

    def _roads(self, grids: Mapping[str, _Grid], schools: list[_School]) -> list[_Line]:
        rng = self.rng_roads
        carverton, millbrook, ashford = (grids[t.name] for t in TOWNS)
        ring = _ring(rng)
        hw, hh = _COUNTY_HALF_WIDTH, _COUNTY_HALF_HEIGHT
        valley_pike = _chain(
            rng, (-hw, 5_600.0), millbrook.row(0), carverton.row(-4), (hw, -1_200.0)
        )
        ashford_rd = _chain(rng, (1_500.0, hh), carverton.col(4)[::-1], ashford.col(0)[::-1],
                            (8_800.0, -hh))  # fmt: skip
        lines = [
            _Line("Valley Pike", "arterial", valley_pike),
            _Line("Ashford Rd", "arterial", ashford_rd),
            _Line("Carverton Bypass", "arterial", ring),
            _Line("Frankfort Rd", "arterial",
                  _chain(rng, (13_000.0, 10_500.0), _ring_at(ring, 45))),
            _Line("Frankfort Rd", "arterial", _chain(rng, _ring_at(ring, 225), (-13_000.0, -hh))),
            _Line("Old Mill Rd", "collector", _chain(rng, millbrook.col(0)[-1], (-6_500.0, hh))),
            _Line("Millbrook Rd", "collector",
                  _chain(rng, millbrook.col(0)[0], (-5_200.0, 300.0), _ring_at(ring, 170))),
            _Line("Cane Run Rd", "collector", _chain(rng, carverton.col(-5)[-1], (-2_500.0, hh))),
            _Line("Pine Ridge Rd", "collector",
                  _chain(rng, carverton.row(6)[-1], (8_000.0, 5_000.0), (hw, 6_500.0))),
            _Line("Dry Fork Rd", "collector", _chain(rng, ashford.row(0)[-1], (hw, -7_800.0))),
            _Line("Elkhorn Rd", "collector",
                  _chain(rng, ashford.row(0)[0], (2_500.0, -6_500.0), _ring_at(ring, 250))),
            _Line("Sawmill Rd", "collector",
                  _chain(rng, carverton.col(-5)[0], (-6_000.0, -7_000.0), (-9_000.0, -hh))),
        ]  # fmt: skip
        campuses = [s.campus for s in schools]
        for town in TOWNS:
            lines.extend(_grid_lines(grids[town.name], campuses, rng))
        return lines

    def _rural_schools(self, lines: list[_Line], schools: list[_School]) -> None:
        """Rural schools beside a rural road, each with a driveway into the campus."""
        rng = self.rng_schools
        for plan in _SCHOOL_PLANS:
            if plan.town is not None:
                continue
            host = next(line for line in lines if line.name == plan.host_road)
            others = shapely.STRtree([LineString(line.xy) for line in lines])
            length, depth = plan.size_m
            setback = 30.0
            candidates = list(range(2, len(host.xy) - 2))
            rng.shuffle(candidates)
            for k in candidates:
                px, py = host.xy[k]
                if any(math.dist((px, py), town.centre) < 1_500 for town in TOWNS):
                    continue
                (ax, ay), (bx, by) = host.xy[k - 1], host.xy[k + 1]
                norm = math.hypot(bx - ax, by - ay)
                ux, uy = (bx - ax) / norm, (by - ay) / norm
                side = rng.choice((-1.0, 1.0))
                nx, ny = -uy * side, ux * side
                cx, cy = px + nx * (setback + depth / 2), py + ny * (setback + depth / 2)
                campus = Polygon(
                    [
                        (cx + sx * ux * length / 2 + sy * nx * depth / 2,
                         cy + sx * uy * length / 2 + sy * ny * depth / 2)
                        for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))
                    ]
                )  # fmt: skip
                if len(others.query(campus.buffer(25.0), predicate="intersects")):
                    continue
                if any(campus.distance(s.campus) < _SCHOOL_SPACING_M for s in schools):
                    continue
                driveway = [
                    (px, py),
                    (px + nx * (setback + depth * 0.3), py + ny * (setback + depth * 0.3)),
                ]
                lines.append(_Line(plan.name.removesuffix(" School") + " Dr", "local", driveway))
                schools.append(
                    _School(_school_id(plan.name), plan.name, plan.classification, campus)
                )
                break
            else:
                raise RuntimeError(f"no site for {plan.name}")

    def _lanes(self, lines: list[_Line], schools: list[_School]) -> None:
        """Dead-end country lanes off the rural roads, clear of everything else."""
        rng = self.rng_roads
        rural = [line for line in lines if line.road_class != "local" and len(line.xy) > 8]
        names = rng.sample(_LAST, _LANES)
        tries = 0
        while len(names) > 0 and tries < 2_000:
            tries += 1
            host = rng.choice(rural)
            k = rng.randrange(2, len(host.xy) - 2)
            px, py = host.xy[k]
            if any(math.dist((px, py), t.centre) < t.radius * 1.4 for t in TOWNS):
                continue
            (ax, ay), (bx, by) = host.xy[k - 1], host.xy[k + 1]
            heading = math.atan2(by - ay, bx - ax) + rng.choice((-1, 1)) * math.radians(
                rng.uniform(60, 120)
            )
            length = rng.uniform(300.0, 1_400.0)
            end = (px + length * math.cos(heading), py + length * math.sin(heading))
            if abs(end[0]) > _COUNTY_HALF_WIDTH or abs(end[1]) > _COUNTY_HALF_HEIGHT:
                continue
            lane = _meander((px, py), end, rng, step=150.0)
            clear = LineString(lane[1:]) if len(lane) > 2 else None
            if (
                clear is None
                or any(clear.distance(LineString(line.xy)) < 60.0 for line in lines)
                or any(clear.distance(s.campus) < 150.0 for s in schools)
            ):
                continue
            lines.append(_Line(f"{names.pop()} Ln", "local", lane))

    def _connected_roads(self, lines: list[_Line]) -> list[Road]:
        """The lines as roads in WGS84 (7 decimals), without the bits cut off from the rest."""
        roads: list[Road] = []
        for k, line in enumerate(lines):
            geom = self.frame.unproject(LineString(line.xy))
            coords = [(round(x, 7), round(y, 7)) for x, y in shapely.get_coordinates(geom).tolist()]
            coords = [p for i, p in enumerate(coords) if i == 0 or p != coords[i - 1]]
            if len(coords) >= 2:
                roads.append(
                    Road(
                        f"{k}",
                        line.name,
                        line.road_class,
                        SPEED_MPS[line.road_class],
                        tuple(coords),
                    )
                )
        graph = RoadGraph(roads, frame=self.frame)
        connected = {
            e.road_id for e in graph.edges if graph.component[e.u] == graph.largest_component
        }
        kept = [r for r in roads if r.road_id in connected]
        return [
            Road(f"hv-{n:04d}", r.name, r.road_class, r.speed_mps, r.coordinates)
            for n, r in enumerate(kept, start=1)
        ]

    # --- pre-plans -------------------------------------------------------------------------------

    def _pre_plans(self, schools: list[_School], graph: RoadGraph) -> None:
        rng = self.rng_schools
        places = list(_PLACES)
        rng.shuffle(places)
        road_lines = shapely.STRtree([shapely.linestrings(e.xy) for e in graph.edges])
        locations = {s.school_id: self._location(s) for s in schools}
        stations = list(_stations(graph.edges))
        for number, school in enumerate(schools):
            if school.school_id == LINCOLN_ID:
                continue  # as in the example file
            here = locations[school.school_id]
            others = [p for sid, p in locations.items() if sid != school.school_id]
            campuses = [s.campus for s in schools]
            usable = [
                s
                for s in stations
                if 480.0 <= math.dist(s.xy, here) <= 850.0
                and all(math.dist(s.xy, p) > 480.0 for p in others)
            ]
            rng.shuffle(usable)
            lot_station, lot_polygon, point_station = _staging_sites(
                school.name, here, usable, road_lines, campuses, rng
            )
            radius = rng.choice((50, 60, 75))
            place_a, place_b = places.pop(), places.pop()
            (ax, ay), (bx, by) = list(lot_polygon.exterior.coords)[:2]  # the side by the road
            entrance = ((ax + bx) / 2, (ay + by) / 2)
            inner = school.campus.buffer(50.0, quad_segs=2)
            sid = school.school_id
            street = graph.edges[graph.snap(*self._lonlat(here)).edge].name
            address = f"{rng.randrange(100, 2400, 10)} {street}"
            phone = f"555-01{number + 10:02d}"
            school.features = [
                _feature(
                    {"kind": "school", "school_id": sid, "name": school.name, "address": address,
                     "phone": phone, "classification": school.classification,
                     "contacts": [f"Front office: {phone}", f"Principal: 555-02{number + 10:02d}",
                                  "County dispatch: 555-0199"]},
                    self._polygon(school.campus), feature_id=sid,
                ),
                _feature(
                    {"kind": "staging_area", "school_id": sid, "id": f"{sid}/staging-a",
                     "name": f"Staging A ({place_a}, {lot_station.name})",
                     "capacity": rng.randrange(40, 90, 10)},
                    self._polygon(lot_polygon),
                ),
                _feature(
                    {"kind": "staging_area", "school_id": sid, "id": f"{sid}/staging-b",
                     "name": f"Staging B ({place_b}, {point_station.name})", "radius_m": radius,
                     "capacity": rng.randrange(30, 60, 10)},
                    self._point(point_station.xy),
                ),
                _feature(
                    {"kind": "inner_perimeter", "school_id": sid, "id": f"{sid}/inner",
                     "name": "Inner perimeter (campus + 50 m)"},
                    self._polygon(inner),
                ),
                _feature(
                    {"kind": "outer_perimeter", "school_id": sid, "id": f"{sid}/outer",
                     "name": "Outer perimeter (400 m)", "radius_m": 400},
                    self._point(here),
                ),
                _feature(
                    {"kind": "check_in", "school_id": sid, "name": "Check-in at Staging A"},
                    self._point(entrance),
                ),
            ]  # fmt: skip

    def _location(self, school: _School) -> XY:
        """Where the importer will put the school: the representative point of its outline."""
        outline = Polygon(self._polygon(school.campus)["coordinates"][0])
        point = outline.representative_point()
        return self.frame.to_local(point.x, point.y)

    # --- people and devices -----------------------------------------------------------------------

    def _roster(self) -> list[_Officer]:
        rng = self.rng_people
        names = _unique_names(rng, sum(_AGENCY_OFFICERS) + 10)
        officers: list[_Officer] = []
        for agency_index, (agency, count) in enumerate(
            zip(AGENCIES, _AGENCY_OFFICERS, strict=True)
        ):
            badges = sorted(
                rng.sample(range(1000, 5000) if agency_index == 0 else range(101, 999), count)
            )
            for badge_number in badges:
                first, last = names.pop()
                retired = rng.random() < _RETIRED_SHARE
                if retired:
                    name = f"{first} {last}"
                else:
                    ranks, weights = zip(*_RANKS[agency_index], strict=True)
                    name = f"{rng.choices(ranks, weights)[0]} {first} {last}"
                badge = (str(badge_number), f"S-{badge_number}", f"0{badge_number}")[agency_index]
                roll = rng.random()
                count_devices = 0 if roll < 0.07 else 2 if roll > 0.95 else 1
                devices = []
                for k in range(count_devices):
                    tak = k == 1 or rng.random() < _TAK_SHARE
                    devices.append(_new_device_id(rng, self.device_ids, tak))
                officers.append(
                    _Officer(agency_index, agency, badge, name,
                             "retired" if retired else "active", tuple(devices))
                )  # fmt: skip
        return officers

    def _devices(self, officers: list[_Officer], graph: RoadGraph) -> list[_Device]:
        rng = self.rng_people
        homes = _HomeFinder(graph)
        used_uids: set[str] = set()
        devices: list[_Device] = []
        for officer in officers:
            for device_id in officer.devices:
                area = rng.choices(_AREA_NAMES, _HOME_AREAS[officer.agency_index])[0]
                devices.append(
                    _Device(
                        device_id,
                        _tak_uid(rng, used_uids) if device_id.startswith("tak-") else "",
                        homes.home(area, rng),
                        officer.agency,
                        officer.badge,
                    )
                )
        # Devices on no roster: two claim the city police with badges it never issued, one the
        # sheriff's office, three claim nothing at all.
        claims = [(AGENCIES[0], "5188"), (AGENCIES[0], "0007"), (AGENCIES[1], "S-1042"),
                  ("", ""), ("", ""), ("", "")]  # fmt: skip
        for number, (agency, badge) in enumerate(claims):
            device_id = _new_device_id(rng, self.device_ids, tak=number % 2 == 1)
            devices.append(
                _Device(
                    device_id,
                    _tak_uid(rng, used_uids) if device_id.startswith("tak-") else "",
                    homes.home(rng.choice(_AREA_NAMES), rng),
                    agency,
                    badge,
                )
            )
        return devices

    # --- coordinates ------------------------------------------------------------------------------

    def _lonlat(self, xy: XY) -> XY:
        lon, lat = self.frame.to_wgs84(*xy)
        return round(lon, 7), round(lat, 7)

    def _point(self, xy: XY) -> dict[str, Any]:
        return {"type": "Point", "coordinates": list(self._lonlat(xy))}

    def _polygon(self, polygon: BaseGeometry) -> dict[str, Any]:
        assert isinstance(polygon, Polygon)
        ring = [self._lonlat((x, y)) for x, y in polygon.exterior.coords]
        ring = [p for i, p in enumerate(ring) if i == 0 or p != ring[i - 1]]
        return {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}

    def _to_local_polygon(self, lonlat: Sequence[XY]) -> Polygon:
        return Polygon([self.frame.to_local(lon, lat) for lon, lat in lonlat])


@dataclass(frozen=True)
class _Officer:
    agency_index: int
    agency: str
    badge: str
    name: str
    status: str
    devices: tuple[str, ...]


@dataclass(frozen=True)
class _Device:
    device_id: str
    tak_uid: str
    home: XY  # lon, lat
    agency: str
    badge: str


@dataclass(frozen=True)
class _Station:
    """A place on a road: where, which way the road runs, its name."""

    xy: XY
    direction: XY
    name: str


def _stations(edges: Sequence[Edge], spacing: float = 40.0) -> Iterator[_Station]:
    for edge in edges:
        length = edge.length_m
        if length < 80.0:
            continue
        line = LineString(edge.xy)
        along = 30.0
        while along <= length - 30.0:
            a, b = line.interpolate(along - 1.0), line.interpolate(along + 1.0)
            norm = math.hypot(b.x - a.x, b.y - a.y)
            at = line.interpolate(along)
            yield _Station(
                (at.x, at.y), ((b.x - a.x) / norm, (b.y - a.y) / norm), edge.name or "county road"
            )
            along += spacing


def _lot(
    station: _Station, roads: shapely.STRtree, campuses: Sequence[Polygon], rng: random.Random
) -> tuple[_Station, Polygon] | None:
    """A parking lot (60 m by 40 m) beside the road at ``station``, touching nothing else."""
    ux, uy = station.direction
    sides = [1.0, -1.0]
    rng.shuffle(sides)
    for side in sides:
        nx, ny = -uy * side, ux * side
        x, y = station.xy
        corners = [
            (x + sx * ux * 30.0 + nx * d, y + sx * uy * 30.0 + ny * d)
            for sx, d in ((-1, 10.0), (1, 10.0), (1, 50.0), (-1, 50.0))
        ]
        lot = Polygon(corners)
        if len(roads.query(lot.buffer(3.0), predicate="intersects")):
            continue
        if any(lot.distance(c) < 120.0 for c in campuses):
            continue
        return station, lot
    return None


def _staging_sites(
    school: str,
    here: XY,
    usable: Sequence[_Station],
    roads: shapely.STRtree,
    campuses: Sequence[Polygon],
    rng: random.Random,
) -> tuple[_Station, Polygon, _Station]:
    """A parking lot and a point for the two staging areas, on roads, in different directions
    from the school (at least 100 degrees apart if possible, else 60, else any)."""
    for spread in (100.0, 60.0, 0.0):
        for station in usable:
            lot = _lot(station, roads, campuses, rng)
            if lot is None:
                continue
            bearing = _bearing(here, station.xy)
            for other in usable:
                if (
                    _angle_between(bearing, _bearing(here, other.xy)) >= spread
                    and lot[1].distance(Point(other.xy)) > 150.0
                    and all(Point(other.xy).distance(c) > 150.0 for c in campuses)
                ):
                    return lot[0], lot[1], other
    raise RuntimeError(f"no staging sites for {school}")


def _bearing(a: XY, b: XY) -> float:
    return math.degrees(math.atan2(b[1] - a[1], b[0] - a[0])) % 360.0


def _angle_between(a: float, b: float) -> float:
    d = abs(a - b) % 360.0
    return min(d, 360.0 - d)


class _HomeFinder:
    """Places on local streets in a town or in the country, chosen by length (longer streets,
    more houses)."""

    def __init__(self, graph: RoadGraph) -> None:
        self.by_area: dict[str, tuple[list[Edge], list[float]]] = {}
        for area in _AREA_NAMES:
            edges = [e for e in graph.edges if e.road_class == "local" and _area_of(e) == area]
            self.by_area[area] = (edges, [e.length_m for e in edges])

    def home(self, area: str, rng: random.Random) -> XY:
        edges, weights = self.by_area[area]
        edge = rng.choices(edges, weights)[0]
        lon, lat = point_along(edge, edge.length_m * rng.uniform(0.15, 0.85))
        return round(lon, 7), round(lat, 7)


_FIRST = (
    "James", "Maria", "Robert", "Jennifer", "Michael", "Linda", "William", "Patricia", "David",
    "Elizabeth", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
    "Christopher", "Nancy", "Daniel", "Lisa", "Matthew", "Betty", "Anthony", "Sandra", "Mark",
    "Ashley", "Donald", "Kimberly", "Steven", "Emily", "Paul", "Donna", "Andrew", "Michelle",
    "Joshua", "Carol", "Kenneth", "Amanda", "Kevin", "Melissa", "Brian", "Deborah", "George",
    "Stephanie", "Timothy", "Rebecca", "Ronald", "Laura", "Jason", "Sharon", "Edward", "Cynthia",
    "Jeffrey", "Kathleen", "Ryan", "Amy", "Jacob", "Angela", "Darnell", "Rosa", "Sanjay", "Mei",
    "Luis", "Aisha", "Tyrone", "Priya", "Marcus", "Elena",
)  # fmt: skip
_LAST = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans",
    "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris",
    "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson",
    "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson",
    "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes", "Price",
    "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez",
)  # fmt: skip


def _unique_names(rng: random.Random, count: int) -> list[tuple[str, str]]:
    pairs = [(f, last) for f in _FIRST for last in _LAST]
    return rng.sample(pairs, count)


def _new_device_id(rng: random.Random, used: set[str], tak: bool) -> str:
    while True:
        prefix = "tak" if tak else rng.choice(("ios", "and"))
        device_id = f"{prefix}-{rng.getrandbits(24):06x}"
        if device_id not in used:
            used.add(device_id)
            return device_id


def _tak_uid(rng: random.Random, used: set[str]) -> str:
    """An ATAK uid made from an Android ID (16 hex digits), as ATAK-CIV 4.x does."""
    while True:
        uid = f"ANDROID-{rng.getrandbits(64):016x}"
        if uid not in used:
            used.add(uid)
            return uid


def _school_id(name: str) -> str:
    words = name.lower().removesuffix(" school").replace(".", "").split()
    return "-".join(words)


# --- output ------------------------------------------------------------------------------------


def _num(value: float) -> str:
    return f"{value:.7f}"


def _json(value: object) -> str:
    """Compact JSON with sorted keys and every float written with 7 decimals."""
    if isinstance(value, dict):
        items = (f"{json.dumps(k)}: {_json(value[k])}" for k in sorted(value))
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_json(v) for v in value) + "]"
    if isinstance(value, float):
        return _num(value)
    return json.dumps(value, ensure_ascii=False)


def _feature(
    properties: dict[str, Any], geometry: dict[str, Any], feature_id: str | None = None
) -> dict[str, Any]:
    feature: dict[str, Any] = {"type": "Feature", "properties": properties, "geometry": geometry}
    if feature_id is not None:
        feature["id"] = feature_id
    return feature


def _feature_collection(features: Sequence[Mapping[str, Any]]) -> bytes:
    """One feature per line, so that a change shows as a small diff."""
    body = ",\n".join(_json(dict(f)) for f in features)
    return f'{{"features": [\n{body}\n], "type": "FeatureCollection"}}\n'.encode()


def _road_features(roads: Sequence[Road]) -> list[dict[str, Any]]:
    return [
        _feature(
            {"road_id": r.road_id, "name": r.name, "road_class": r.road_class},
            {"type": "LineString", "coordinates": [[lon, lat] for lon, lat in r.coordinates]},
        )
        for r in roads
    ]


def _csv(header: Sequence[str], rows: Sequence[Sequence[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()
