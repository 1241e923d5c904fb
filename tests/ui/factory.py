"""A realistic console state without a database: a demo-county school under an active-shooter
alert and ``n`` responders in every status, built as events and folded (tests only)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from dispatch_console.app.live import ConsoleState
from dispatch_console.domain import events as ev
from dispatch_console.domain.geometry import local_frame
from dispatch_console.domain.reference import School
from dispatch_console.importers.geojson_schools import load_schools
from dispatch_console.importers.roads_geojson import Road, load_roads
from dispatch_console.resources import resource

T0 = 1_795_000_000_000_000  # 2026-11-19T...Z, in microseconds
S = 1_000_000
SCHOOL_ACTOR = ev.Actor(ev.ActorKind.DEVICE, "school:demo")
GATEWAY = ev.Actor(ev.ActorKind.SYSTEM, "gateway")
DISPATCHER = ev.Actor(ev.ActorKind.CONSOLE_USER, "Dispatcher A. Moreno")

_SCHOOLS: list[School] | None = None
_ROADS: list[Road] | None = None


def demo_schools() -> list[School]:
    global _SCHOOLS
    if _SCHOOLS is None:
        _SCHOOLS = list(load_schools(resource("demo", "schools.geojson")).imported)
    return _SCHOOLS


def demo_roads() -> list[Road]:
    global _ROADS
    if _ROADS is None:
        _ROADS = list(load_roads(resource("demo", "roads.geojson")).imported)
    return _ROADS


@dataclass
class Built:
    console: ConsoleState
    incident_id: str
    school: School
    #: The instant the state describes (last event + a few seconds).
    now_us: int
    events: list[ev.Event]


class EventWriter:
    """Stored-looking events with consecutive sequence numbers."""

    def __init__(self, incident_id: str, first_seq: int = 1) -> None:
        self.incident_id = incident_id
        self.seq = first_seq - 1
        self.events: list[ev.Event] = []

    def add(self, payload: ev.Payload, at_us: int, actor: ev.Actor = GATEWAY) -> ev.Event:
        self.seq += 1
        source = ev.Source.CONSOLE if actor.kind is ev.ActorKind.CONSOLE_USER else ev.Source.FEED
        event = ev.Event(
            self.seq, self.incident_id, payload.TYPE, at_us, at_us, actor, source, payload
        )
        self.events.append(event)
        return event


def opening_events(
    writer: EventWriter, school: School, at_us: int, alert_id: str = "act-1"
) -> None:
    writer.add(
        ev.IncidentOpened(school.school_id, school.name, "active_shooter", school.lon, school.lat),
        at_us,
        SCHOOL_ACTOR,
    )
    writer.add(
        ev.AlertReceived(
            alert_id, school.school_id, "active_shooter", at_us - 2 * S, "J. Ortiz",
            "front office", "Gym, building C", "shots heard near gym",
        ),
        at_us,
        SCHOOL_ACTOR,
    )  # fmt: skip
    plan = school.pre_plan
    for area in plan.staging_areas:
        writer.add(ev.StagingAreaSet(area.area_id, area.name, area.geometry, area.radius_m), at_us)
    if plan.inner_perimeter is not None:
        p = plan.inner_perimeter
        writer.add(ev.PerimeterSet(p.area_id, "inner", p.geometry, p.radius_m), at_us)
    if plan.outer_perimeter is not None:
        p = plan.outer_perimeter
        writer.add(ev.PerimeterSet(p.area_id, "outer", p.geometry, p.radius_m), at_us)
    writer.add(
        ev.SuspectDescriptionRevised(
            ev.SuspectDescription(sex="male", race="white", top_color="black", top_type="shirt",
                                  bottom_color="blue", bottom_type="jeans", weapon="rifle")
        ),
        at_us + 60 * S,
        DISPATCHER,
    )  # fmt: skip


AGENCIES = ("Georgetown PD", "Scott County SO", "Kentucky State Police")
BLACK_SHIRT = ev.Attire(False, "black", "t-shirt", "blue", None, "none")
GREY_HOODIE = ev.Attire(False, "grey", "hoodie", "blue", None, "badge_on_belt")
UNIFORM = ev.Attire(uniform=True)


def build_incident(
    n: int = 40,
    *,
    seed: int = 1,
    school_index: int = 0,
    minutes: float = 6.0,
    acknowledge_alert: bool = False,
    console: ConsoleState | None = None,
    first_seq: int = 1,
) -> Built:
    """An incident ``minutes`` after activation with ``n`` responders in a realistic mix.

    Responder ``r000`` is the seed's case: off duty, plainclothes in a black shirt, on scene
    and unidentified. ``r001`` has a stale position. Every fifth is self-dispatched.
    """
    rng = random.Random(seed)
    schools = demo_schools()
    school = schools[school_index % len(schools)]
    if console is None:
        console = ConsoleState(schools, demo_roads())
    incident_id = f"inc-{school.school_id}-{seed}"
    writer = EventWriter(incident_id, first_seq)
    start = T0
    opening_events(writer, school, start)
    frame = local_frame(school.lon, school.lat)
    end = start + int(minutes * 60 * S)
    statuses = ["en_route", "en_route", "en_route", "on_scene", "at_staging", "identified",
                "assigned", "acknowledged", "declined", "notified"]  # fmt: skip
    staging = school.pre_plan.staging_areas[0] if school.pre_plan.staging_areas else None
    for i in range(n):
        rid = f"r{i:03d}"
        t = start + 3 * S
        writer.add(ev.ResponderNotified(rid, f"dev-{i:03d}"), t)
        duty: ev.Duty = "off" if i % 3 == 0 else "on"
        attire = BLACK_SHIRT if i == 0 else GREY_HOODIE if i % 7 == 3 else UNIFORM
        status = "on_scene" if i == 0 else statuses[i % len(statuses)]
        writer.add(
            ev.ResponderProfileReported(
                rid, f"Officer {i:03d}", AGENCIES[i % 3], str(1000 + i), f"U-{i:03d}", duty,
                attire.uniform, attire,
            ),
            t + S,
            ev.Actor(ev.ActorKind.DEVICE, f"dev-{i:03d}"),
        )  # fmt: skip
        verdict: ev.RosterVerdict = (
            "not_on_roster" if i % 11 == 5 else "retired" if i % 13 == 6 else "sworn_active"
        )
        writer.add(ev.ResponderRosterChecked(rid, verdict, f"Officer {i:03d}"), t + S)
        if status == "notified":
            continue
        t += int(rng.uniform(10, 60) * S)
        writer.add(ev.ResponderAcknowledged(rid, status != "declined"), t)
        if status in ("declined", "acknowledged"):
            continue
        angle = rng.uniform(0, 2 * math.pi)
        distance = rng.uniform(1500, 6000)
        present = status != "en_route"
        n_points = 30
        for k in range(n_points):
            frac = (k + 1) / n_points
            left = distance * (1 - frac) if present else distance * (1 - 0.7 * frac)
            x, y = left * math.cos(angle), left * math.sin(angle)
            lon, lat = frame.to_wgs84(x + rng.gauss(0, 5), y + rng.gauss(0, 5))
            # r001 went silent 2.5 minutes ago: its last position is stale.
            last = end - (150 if i == 1 else 20) * S
            at = t + int(frac * (last - t))
            stale_at = at + 30 * S
            writer.add(
                ev.ResponderPosition(
                    rid, lat, lon, at, stale_at, 8.0, 0.0 if present else 14.0,
                    math.degrees(math.atan2(-x, -y)) % 360,
                ),
                at,
                ev.Actor(ev.ActorKind.DEVICE, f"dev-{i:03d}"),
            )  # fmt: skip
            if k == 0:
                writer.add(ev.ResponderEnRoute(rid), at)
        if not present:
            continue
        arrive_at = end - 20 * S
        if status == "on_scene":
            writer.add(ev.ResponderArrived(rid, "scene"), arrive_at)
            continue
        area_id = staging.area_id if staging else None
        writer.add(ev.ResponderArrived(rid, "staging", area_id), arrive_at)
        if status in ("identified", "assigned"):
            writer.add(
                ev.ResponderIdentified(rid, "credentials_in_person", "Sgt. Staging"),
                arrive_at + 5 * S,
                DISPATCHER,
            )
        if status == "assigned":
            writer.add(ev.ResponderAssigned(rid, "perimeter_post", "Team 2"), arrive_at + 10 * S,
                       DISPATCHER)  # fmt: skip
    if acknowledge_alert:
        writer.add(ev.AlertAcknowledged("act-1", DISPATCHER.name), start + 5 * S, DISPATCHER)
    events = sorted(writer.events, key=lambda e: e.occurred_at_us)
    events = [
        ev.Event(first_seq + k, e.incident_id, e.type, e.occurred_at_us, e.received_at_us,
                 e.actor, e.source, e.payload)
        for k, e in enumerate(events)
    ]  # fmt: skip
    console.apply(events)
    return Built(console, incident_id, school, end, events)
