"""Reference data that outlives incidents: schools with their pre-plans, and rosters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

import msgspec

from dispatch_console.domain.events import Geometry

#: Default notification radius: 10 miles (feed contract), set per school.
DEFAULT_NOTIFICATION_RADIUS_M = 16_093.44


class PlannedArea(msgspec.Struct, frozen=True):
    """A staging area or perimeter of a pre-plan: a polygon, or a point with a radius."""

    area_id: str
    name: str
    geometry: Geometry
    radius_m: float | None = None
    capacity: int | None = None


class CheckIn(msgspec.Struct, frozen=True):
    name: str
    lon: float
    lat: float


class PrePlan(msgspec.Struct, frozen=True):
    staging_areas: tuple[PlannedArea, ...] = ()
    inner_perimeter: PlannedArea | None = None
    outer_perimeter: PlannedArea | None = None
    check_in: CheckIn | None = None
    contacts: tuple[str, ...] = ()


class School(msgspec.Struct, frozen=True):
    school_id: str
    name: str
    lon: float
    lat: float
    address: str | None = None
    phone: str | None = None
    classification: str | None = None
    campus: Geometry | None = None
    pre_plan: PrePlan = PrePlan()
    notification_radius_m: float = DEFAULT_NOTIFICATION_RADIUS_M


RosterStatus = Literal["active", "retired"]


class RosterEntry(msgspec.Struct, frozen=True):
    """One officer on an agency's roster; ``(agency, badge)`` is the key."""

    agency: str
    badge: str
    name: str
    status: RosterStatus
    device_ids: tuple[str, ...] = ()


# --- roads (imported with import-roads, stored with the schools) ---

RoadClass = Literal["arterial", "collector", "local"]
ROAD_CLASSES: Final[tuple[RoadClass, ...]] = ("arterial", "collector", "local")

#: Travel speed by class, in metres per second: what a responder's car averages on such a road
#: in a small county (posted limit, slowed by junctions), not the posted limit itself.
#: arterial 20 m/s = 72 km/h = 45 mph; collector 13 m/s = 47 km/h = 29 mph;
#: local 9 m/s = 32 km/h = 20 mph.
SPEED_MPS: Final[Mapping[RoadClass, float]] = {"arterial": 20.0, "collector": 13.0, "local": 9.0}


class Road(msgspec.Struct, frozen=True):
    """One drivable line: ``coordinates`` are WGS84 ``(lon, lat)``, at least two distinct."""

    road_id: str
    name: str | None
    road_class: RoadClass
    speed_mps: float
    coordinates: tuple[tuple[float, float], ...]
