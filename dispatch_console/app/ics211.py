"""The ICS 211 incident check-in list of an incident at an instant, and its CSV (Qt-free).

One row per responder who was checked in (identified by someone on scene), and, in a section
of its own, every responder who arrived but was never checked in: nobody knows who they are,
they cannot be assigned, and a personnel accountability report must find them.

The form's blocks (FEMA ICS 211): 1 incident name, 2 incident number, 3 check-in location,
4 start date/time, then per resource 5 (state, agency, category, kind, type, name or
identifier, ST/TF), 6 order request #, 7 date/time check-in, 8 leader's name, 9 total number of
personnel, 10 incident contact information, 11 home unit or agency, 12 departure point, date and
time, 13 method of travel, 14 incident assignment, 15 other qualifications, 16 data provided to
resources unit, and 17 prepared by. As on the real form, 10 and 16 are columns (how to reach
this resource at the incident; when its line went to the resources unit); the incident's own
contact (the IC, the school) is a header field. This problem adds: plainclothes descriptor,
armed, radio issued, identity verified by and how, marking issued, where and when they
arrived, and their status at the report's instant.

Nothing is invented: what the record does not hold is written "not recorded" or left blank,
and what is assumed (method of travel from duty status) says so in the cell and in the notes.
Times are local, with their UTC offset.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Literal, TypeVar

from dispatch_console.domain import events as ev
from dispatch_console.domain.geometry import Area, AreaIndex, area_shape, local_frame
from dispatch_console.domain.reference import School
from dispatch_console.domain.sentences import ACTING_COMMANDER, acting_commander_text
from dispatch_console.domain.state import IncidentState, Responder
from dispatch_console.domain.text import has_unsafe, neutralise
from dispatch_console.domain.timeutil import from_us

FORM_TITLE = "INCIDENT CHECK-IN LIST (ICS 211)"
#: Block 5 for every resource here: single law-enforcement officers (no strike teams).
CATEGORY = "LE"
KIND = "Law enforcement officer"
#: Block 3's check boxes, in the form's order.
CHECK_IN_KINDS = ("Base", "Staging Area", "ICP", "Helibase", "Other")
NOT_RECORDED = "not recorded"

Section = Literal["checked_in", "not_checked_in"]
SECTION_LABELS: dict[str, str] = {
    "checked_in": "checked in",
    "not_checked_in": "ARRIVED, NOT CHECKED IN",
}

_INCIDENT_TYPES = {
    "active_shooter": "active shooter",
    "lockdown": "lockdown",
    "medical": "medical",
    "fire": "fire",
    "other": "other",
}
_ROSTER = {
    "sworn_active": "sworn, active",
    "retired": "retired (LEOSA)",
    "not_on_roster": "NOT ON ROSTER",
    None: "roster not checked",
}
_METHODS = {
    "credentials_in_person": "credentials checked in person",
    "known_personally": "known personally",
    "agency_confirmed_by_phone": "agency confirmed by phone",
    "agency_confirmed_by_radio": "agency confirmed by radio",
}
_TASKS = {
    "contact_team": "contact team",
    "rescue_task_force": "rescue task force",
    "perimeter_post": "perimeter post",
    "traffic": "traffic",
    "reunification": "reunification",
    "other": "other task",
}
_MARKINGS = {"raid_jacket": "raid jacket", "vest": "vest"}
_TRAVEL = {"off": "POV (assumed)", "on": "agency vehicle (assumed)"}
_COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")

NOTES = (
    "13 Method of travel is assumed from duty status (off duty: POV, personal vehicle; on "
    "duty: agency vehicle): responders do not report it.",
    "12 Departure point: the first position the responder's device reported.",
    "Armed: the console records no such field; \u201cnot recorded\u201d means unknown, not "
    "unarmed.",
    "5 State and 8 Leader's name are not recorded (blank); 9 is 1 per line (single resources).",
    "Inside a perimeter: by the geofence, or by the last known position.",
    "ARRIVED, NOT CHECKED IN: at staging or on scene by position or report, but nobody has "
    "verified who they are; identity, agency and roster status are as their device claims; "
    "they cannot be assigned until identified.",
)


@dataclass(frozen=True)
class TimeFormat:
    """How times are written: local (``tz``; None: this computer's zone), with or without
    seconds and the UTC offset (a report whose times all share one offset may state it once)."""

    tz: tzinfo | None = None
    seconds: bool = True
    offset: bool = True
    #: False: the time of day only (a page whose times all fall on one date says it once).
    date: bool = True

    def local(self, us: int) -> datetime:
        return from_us(us).astimezone(self.tz)

    def __call__(self, us: int | None) -> str:
        if us is None:
            return ""
        moment = self.local(us)
        pattern = ("%Y-%m-%d " if self.date else "") + ("%H:%M:%S" if self.seconds else "%H:%M")
        text = moment.strftime(pattern)
        return f"{text} {utc_offset(moment)}" if self.offset else text

    def dated(self) -> TimeFormat:
        return TimeFormat(self.tz, self.seconds, self.offset, date=True)


def print_time_format(state: IncidentState, now_us: int, tz: tzinfo | None = None) -> TimeFormat:
    """Times for a printed page: to the minute, without the offset when the incident's start
    and ``now_us`` share one, and without the date when they share it (the header states them
    once). The preparation time (blocks 16 and 17) always has its date."""
    moments = [from_us(us).astimezone(tz) for us in (state.opened_at_us, now_us)]
    offsets = {utc_offset(m) for m in moments}
    dates = {m.date() for m in moments}
    return TimeFormat(tz, seconds=False, offset=len(offsets) > 1, date=len(dates) > 1)


def utc_offset(moment: datetime) -> str:
    """``-05:00`` / ``+00:00``."""
    delta = moment.utcoffset()
    minutes = int(delta.total_seconds() // 60) if delta is not None else 0
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


@dataclass(frozen=True)
class FirstPosition:
    """Where a responder was first reported (the departure point of block 12)."""

    lat: float
    lon: float
    at_us: int


def first_positions(events: Iterable[ev.Event]) -> dict[str, FirstPosition]:
    """Each responder's earliest reported position in ``events`` (the incident's event log):
    the state keeps only the last few, so a caller with the store reads them from there."""
    first: dict[str, FirstPosition] = {}
    for event in events:
        p = event.payload
        if not isinstance(p, ev.ResponderPosition):
            continue
        known = first.get(p.responder_id)
        if known is None or p.at_us < known.at_us:
            first[p.responder_id] = FirstPosition(p.lat, p.lon, p.at_us)
    return first


@dataclass(frozen=True)
class Ics211Header:
    incident_name: str  # 1
    incident_number: str  # 2
    check_in_kinds: tuple[str, ...]  # 3: the boxes ticked, among CHECK_IN_KINDS
    check_in_location: str  # 3: the places' names
    start: str  # 4
    incident_contact: str  # the incident's contact: IC, school phone, pre-plan contacts
    incident_commander: str
    status: str
    as_of: str  # the instant the list describes
    time_zone: str  # "local time, UTC-05:00" (or the offsets when they differ)
    prepared_name: str  # 17
    prepared_position: str  # 17
    prepared_at: str  # 17
    exercise: bool
    checked_in: int
    not_checked_in: int


@dataclass(frozen=True)
class Ics211Row:
    section: Section
    responder_id: str
    # 5. resource
    state: str
    agency: str
    category: str
    kind: str
    type: str
    name: str
    st_tf: str
    order_request: str  # 6
    check_in: str  # 7
    leader: str  # 8
    personnel: int  # 9
    contact: str  # 10
    home_unit: str  # 11
    departure: str  # 12
    travel: str  # 13
    assignment: str  # 14
    qualifications: str  # 15
    data_to_resources_unit: str  # 16
    # this problem's columns
    attire: str
    armed: str
    radio: str
    verified: str
    marking: str
    arrived: str
    status: str
    #: Inside the inner perimeter at the instant (a friendly-fire risk if not identified).
    inside_inner: bool = False
    #: Not on any roster (shown prominently).
    not_on_roster: bool = False
    plainclothes: bool = False


@dataclass(frozen=True)
class Ics211:
    header: Ics211Header
    checked_in: tuple[Ics211Row, ...]
    not_checked_in: tuple[Ics211Row, ...]
    notes: tuple[str, ...] = NOTES

    @property
    def rows(self) -> tuple[Ics211Row, ...]:
        return self.checked_in + self.not_checked_in


#: CSV columns: (row field, header). Block numbers lead, as on the form.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("section", "Section"),
    ("state", "5 State"),
    ("agency", "5 Agency"),
    ("category", "5 Category"),
    ("kind", "5 Kind"),
    ("type", "5 Type"),
    ("name", "5 Resource name or identifier"),
    ("st_tf", "5 ST/TF"),
    ("order_request", "6 Order request #"),
    ("check_in", "7 Date/time check-in"),
    ("leader", "8 Leader's name"),
    ("personnel", "9 Total number of personnel"),
    ("contact", "10 Incident contact information"),
    ("home_unit", "11 Home unit or agency"),
    ("departure", "12 Departure point, date and time"),
    ("travel", "13 Method of travel"),
    ("assignment", "14 Incident assignment"),
    ("qualifications", "15 Other qualifications (roster)"),
    ("data_to_resources_unit", "16 Data provided to resources unit"),
    ("attire", "Plainclothes descriptor"),
    ("armed", "Armed"),
    ("radio", "Radio issued"),
    ("verified", "Identity verified by / how"),
    ("marking", "Marking issued"),
    ("arrived", "Arrived (time, place)"),
    ("status", "Status at report time"),
    ("responder_id", "Responder id"),
)
assert {name for name, _ in COLUMNS} <= {f.name for f in fields(Ics211Row)}


def build_ics211(
    state: IncidentState,
    now_us: int,
    *,
    school: School | None = None,
    prepared_by: str | None = None,
    position: str | None = None,
    prepared_at_us: int | None = None,
    location: str | None = None,
    departures: Mapping[str, FirstPosition] | None = None,
    time_format: TimeFormat | None = None,
    roles: Mapping[str, str] | None = None,
) -> Ics211:
    """The check-in list of ``state`` as known at ``now_us``.

    ``school`` adds its phone and pre-plan contacts to the incident contact; ``location``
    replaces block 3's text (the boxes are ticked from its words: base, staging, ICP,
    helibase, else other); ``departures`` (see :func:`first_positions`) gives block 12 its
    departure point; ``prepared_at_us`` (default ``now_us``) is block 17's date/time.
    ``roles`` (console user -> registered role) names who acted as incident commander where
    nobody established command (an older record).
    """
    fmt = time_format or TimeFormat()
    prepared_at_us = now_us if prepared_at_us is None else prepared_at_us
    departures = departures or {}
    checked: list[Responder] = []
    unchecked: list[Responder] = []
    for r in state.responders.values():
        if r.identification is not None:
            checked.append(r)
        elif r.arrived_at_us is not None:
            unchecked.append(r)
    checked.sort(key=lambda r: (r.identification.at_us if r.identification else 0, _name(r)))
    unchecked.sort(key=lambda r: (r.arrived_at_us or 0, _name(r)))
    stamp = _prepared_format(fmt, state, now_us, prepared_at_us)(prepared_at_us)
    stamp += f" {_initials(prepared_by)}" if prepared_by else ""
    row = _RowBuilder(state, fmt, departures, stamp)
    header = _header(
        state,
        now_us,
        school=school,
        prepared_by=prepared_by,
        position=position,
        prepared_at_us=prepared_at_us,
        location=location,
        checked=checked,
        counts=(len(checked), len(unchecked)),
        fmt=fmt,
        roles=roles or {},
    )
    return Ics211(
        _neutral(header),
        tuple(_neutral(row(r, "checked_in")) for r in checked),
        tuple(_neutral(row(r, "not_checked_in")) for r in unchecked),
    )


_D = TypeVar("_D", Ics211Header, Ics211Row)


def _neutral(record: _D) -> _D:
    """Every text of the form with control and bidi characters made visible (names, agencies
    and callsigns come from responders' own apps; the CSV and the PDF are made from this)."""
    changed: dict[str, Any] = {
        f.name: neutralise(value)
        for f in dataclasses.fields(record)
        if isinstance(value := getattr(record, f.name), str) and has_unsafe(value)
    }
    return dataclasses.replace(record, **changed) if changed else record


def _header(
    state: IncidentState,
    now_us: int,
    *,
    school: School | None,
    prepared_by: str | None,
    position: str | None,
    prepared_at_us: int,
    location: str | None,
    checked: Sequence[Responder],
    counts: tuple[int, int],
    fmt: TimeFormat,
    roles: Mapping[str, str],
) -> Ics211Header:
    kinds, place = _check_in_location(state, checked, location)
    contact = []
    commander = state.commander or ""
    if state.commander:
        post = state.command_post
        contact.append(f"IC: {state.commander}" + (f" (command post: {post})" if post else ""))
    elif acting := state.acting_commanders(roles):
        # An older record: nobody established command, but an incident commander acted.
        contact.append("IC: " + acting_commander_text(acting, fmt.dated()))
        commander = ", ".join(a.name for a in acting) + f" — {ACTING_COMMANDER}"
    if school is not None:
        if school.phone and not any(school.phone in c for c in school.pre_plan.contacts):
            contact.append(f"School: {school.phone}")
        contact.extend(school.pre_plan.contacts)
    instants = (state.opened_at_us, now_us, prepared_at_us)
    offsets = sorted({utc_offset(fmt.local(us)) for us in instants})
    zone = "local time (" + " / ".join(f"UTC{o}" for o in offsets) + ")"
    if not fmt.date:
        zone = f"{fmt.local(now_us):%Y-%m-%d}, {zone}"
    dated = fmt.dated()
    return Ics211Header(
        incident_name=incident_name(state),
        incident_number=state.incident_id,
        check_in_kinds=kinds,
        check_in_location=place,
        start=dated(state.opened_at_us) if state.opened else "",
        incident_contact="; ".join(contact) or NOT_RECORDED,
        incident_commander=commander,
        status=state.status.replace("_", " "),
        as_of=dated(now_us),
        time_zone=zone,
        prepared_name=prepared_by or "",
        prepared_position=position or "",
        prepared_at=_prepared_format(fmt, state, now_us, prepared_at_us)(prepared_at_us),
        exercise=state.exercise,
        checked_in=counts[0],
        not_checked_in=counts[1],
    )


def _prepared_format(
    fmt: TimeFormat, state: IncidentState, now_us: int, prepared_at_us: int
) -> TimeFormat:
    """The preparation time is often another day (or, across a DST change, another offset)
    than the incident: dated always, and with its offset when it differs."""
    offsets = {utc_offset(fmt.local(us)) for us in (state.opened_at_us, now_us)}
    other = utc_offset(fmt.local(prepared_at_us)) not in offsets
    return TimeFormat(fmt.tz, fmt.seconds, fmt.offset or other, date=True)


def incident_name(state: IncidentState) -> str:
    """Block 1: ``Lincoln High School — active shooter``."""
    kind = _INCIDENT_TYPES.get(state.incident_type, state.incident_type.replace("_", " "))
    return f"{state.school_name or state.school_id or state.incident_id} \u2014 {kind}"


def _check_in_location(
    state: IncidentState, checked: Sequence[Responder], location: str | None
) -> tuple[tuple[str, ...], str]:
    if location:
        words = set(re.findall(r"[a-z]+", location.lower()))
        ticked = {
            kind
            for kind, word in (
                ("Base", "base"),
                ("Staging Area", "staging"),
                ("ICP", "icp"),
                ("Helibase", "helibase"),
            )
            if word in words
        }
        if "command" in words and "post" in words:
            ticked.add("ICP")
        return tuple(k for k in CHECK_IN_KINDS if k in ticked) or ("Other",), location
    names: list[str] = []
    ticked = set()
    if state.check_in_point is not None:
        names.append(state.check_in_point.name)
        ticked.add("Staging Area" if "staging" in state.check_in_point.name.lower() else "Other")
    for r in checked:
        if r.arrived_place == "staging" or r.staging_area_id:
            ticked.add("Staging Area")
            area = _area_name(state, r.staging_area_id)
            if area and area not in names:
                names.append(area)
        elif r.arrived_place == "scene" and "on scene" not in names:
            ticked.add("Other")
            names.append("on scene")
    if not names:
        names = [a.name for a in state.staging_areas.values()]
        ticked.update({"Staging Area"} if names else set())
    return tuple(k for k in CHECK_IN_KINDS if k in ticked), "; ".join(names)


def _area_name(state: IncidentState, area_id: str | None) -> str:
    if area_id is None:
        return ""
    area = state.staging_areas.get(area_id)
    return area.name if area is not None else area_id


def _name(r: Responder) -> str:
    return r.name or r.callsign or r.responder_id


def _initials(name: str) -> str:
    words = [w for w in name.replace(".", " ").split() if w[:1].isalpha()]
    return "".join(w[0].upper() for w in words[-2:])


class _RowBuilder:
    def __init__(
        self,
        state: IncidentState,
        fmt: TimeFormat,
        departures: Mapping[str, FirstPosition],
        stamp: str,
    ) -> None:
        self.state = state
        self.fmt = fmt
        self.departures = departures
        self.stamp = stamp
        self.frame = local_frame(state.lon, state.lat)
        self.inside = _inside_perimeters(state)
        self.orders: dict[str, str] = {}
        for d in sorted(state.directives.values(), key=lambda d: (d.queued_at_us, d.directive_id)):
            if d.kind == "go_to_staging" and d.broadcast_id is None:
                self.orders.setdefault(d.responder_id, d.directive_id)

    def __call__(self, r: Responder, section: Section) -> Ics211Row:
        checked = section == "checked_in"
        inside_inner = "inner" in self.inside.get(r.responder_id, ())
        equipment = r.equipment
        return Ics211Row(
            section=section,
            responder_id=r.responder_id,
            state="",
            agency=r.agency or "",
            category=CATEGORY,
            kind=KIND,
            type={"on": "on duty", "off": "off duty"}.get(r.duty or "", ""),
            name=self._identifier(r),
            st_tf="",
            order_request=self._order(r),
            check_in=self.fmt(r.identification.at_us) if r.identification else "NOT CHECKED IN",
            leader="",
            personnel=1,
            contact=self._contact(r),
            home_unit=r.agency or "",
            departure=self._departure(r),
            travel=_TRAVEL.get(r.duty or "", NOT_RECORDED),
            assignment=self._assignment(r) if checked else "none (not identified)",
            qualifications=_ROSTER.get(r.roster_verdict, "roster not checked"),
            data_to_resources_unit=self.stamp,
            attire=r.attire.describe() if r.attire is not None else NOT_RECORDED,
            armed=NOT_RECORDED,
            radio=self._radio(r),
            verified=self._verified(r),
            marking=_MARKINGS.get(equipment.marking or "", equipment.marking or "none issued")
            if equipment is not None
            else "none issued",
            arrived=self._arrived(r, inside_inner),
            status=r.status.label,
            inside_inner=inside_inner,
            not_on_roster=r.roster_verdict == "not_on_roster",
            plainclothes=r.plainclothes,
        )

    @staticmethod
    def _verified(r: Responder) -> str:
        found = r.identification
        if found is None:
            return "NOT IDENTIFIED"
        return f"{found.verifier}: {_METHODS.get(found.method, found.method)}"

    @staticmethod
    def _identifier(r: Responder) -> str:
        parts = [r.name or r.responder_id]
        if r.badge:
            parts.append(f"#{r.badge}")
        if r.callsign and r.callsign != r.name:
            parts.append(f"({r.callsign})")
        return " ".join(parts)

    def _order(self, r: Responder) -> str:
        order = self.orders.get(r.responder_id)
        if order is not None:
            return order
        if r.self_dispatched:
            return "self-dispatched"
        if r.directed_to is not None:
            return "directed, no order #"
        return ""

    def _contact(self, r: Responder) -> str:
        parts = []
        if r.callsign:
            parts.append(f"callsign {r.callsign}")
        channel = r.radio_channel
        if channel:
            parts.append(f"radio {channel}")
        return "; ".join(parts) or "console app only"

    def _departure(self, r: Responder) -> str:
        how = ""
        if r.self_dispatched:
            how = "self-dispatched"
            if r.directed_to is not None:
                how += f" (later directed to {self._short_area(r.directed_to)})"
        elif r.directed_to is not None:
            how = f"directed to {self._short_area(r.directed_to)}"
        first = self.departures.get(r.responder_id)
        if first is not None:
            x, y = self.frame.to_local(first.lon, first.lat)
            distance = math.hypot(x, y)
            bearing = math.degrees(math.atan2(x, y)) % 360
            where = f"{distance / 1000:.1f} km {_COMPASS[round(bearing / 45) % 8]} of school"
            text = f"{where}, {self.fmt(first.at_us)}"
        elif r.en_route_at_us is not None:
            text = f"en route {self.fmt(r.en_route_at_us)}"
        else:
            text = NOT_RECORDED
        return f"{text}; {how}" if how else text

    def _short_area(self, area_id: str) -> str:
        """``Staging A`` of ``Staging A (church lot, Elm St)``: block 3 and the arrival say
        where it is."""
        return _area_name(self.state, area_id).split(" (", 1)[0]

    def _assignment(self, r: Responder) -> str:
        parts = []
        if r.assignment is not None:
            a = r.assignment
            task = _TASKS.get(a.task, a.task)
            parts.append(f"{task}, {a.team}" + (f" at {a.location}" if a.location else ""))
            if a.report_to:
                parts.append(f"reports to {a.report_to}")
        elif r.identification is not None and r.identification.team:
            parts.append(f"{r.identification.team}, awaiting task")
        elif r.status.value == "staged":
            area = _area_name(self.state, r.staging_area_id)
            parts.append(f"staged at {area}" if area else "staged")
        elif r.released_at_us is None:
            parts.append("awaiting assignment")
        if r.released_at_us is not None:
            parts.append(f"released {self.fmt(r.released_at_us)}")
        return "; ".join(parts)

    @staticmethod
    def _radio(r: Responder) -> str:
        equipment = r.equipment
        channel = r.radio_channel
        radio_id = equipment.radio_id if equipment is not None else None
        if radio_id or channel:
            if radio_id and channel:
                return f"{radio_id} on {channel}"
            if radio_id:
                return radio_id
            return f"channel {channel}; radio id not recorded"
        if r.has_radio is True:
            return "none issued; own radio"
        if r.has_radio is False:
            return "none issued; NO RADIO"
        return "none issued"

    def _arrived(self, r: Responder, inside_inner: bool) -> str:
        if r.arrived_at_us is None:
            text = NOT_RECORDED
        elif r.arrived_place == "staging":
            area = _area_name(self.state, r.staging_area_id)
            text = f"{self.fmt(r.arrived_at_us)}, {area or 'staging'}"
        else:
            text = f"{self.fmt(r.arrived_at_us)}, on scene"
        if inside_inner:
            text += "; INSIDE INNER PERIMETER"
        elif "outer" in self.inside.get(r.responder_id, ()):
            text += "; inside outer perimeter"
        return text


def _inside_perimeters(state: IncidentState) -> dict[str, set[str]]:
    """The kinds of perimeter (inner, outer) each responder is inside: as the geofence events
    last said, or as their last known position says (the list may be made before, or
    without, the geofence's events)."""
    kinds = {p.perimeter_id: p.kind for p in state.perimeters.values()}
    inside: dict[str, set[str]] = {}
    for r in state.responders.values():
        found: set[str] = {kinds[pid] for pid in r.inside_perimeters if pid in kinds}
        if found:
            inside[r.responder_id] = found
    if not state.perimeters:
        return inside
    frame = local_frame(state.lon, state.lat)
    index = AreaIndex(
        frame,
        [
            Area(p.perimeter_id, p.kind, area_shape(p.geometry, p.radius_m, frame))
            for p in state.perimeters.values()
        ],
    )
    points = {
        r.responder_id: (r.position.lon, r.position.lat)
        for r in state.responders.values()
        if r.position is not None and r.arrived_at_us is not None
    }
    for rid, ids in index.containing(points).items():
        if ids:
            inside.setdefault(rid, set()).update(kinds[i] for i in ids)
    return inside


def write_csv(report: Ics211, path: Path | str, *, header: bool = True) -> Path:
    """Write the list as CSV (UTF-8 with a BOM, so spreadsheets read the dashes right).

    With ``header``, the form's header blocks come first (one ``block, value`` row each),
    then an empty row, then the table; without, the table alone. Each table row says its
    section: checked in, or ARRIVED, NOT CHECKED IN.
    """
    path = Path(path)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        if header:
            for row in header_rows(report):
                writer.writerow([csv_safe(cell) for cell in row])
            writer.writerow([])
        writer.writerow([title for _, title in COLUMNS])
        for item in report.rows:
            writer.writerow(_csv_cells(item))
    return path


def header_rows(report: Ics211) -> list[tuple[str, str]]:
    """The header blocks as (label, value) pairs, in the form's order."""
    h = report.header
    boxes = " ".join(f"[{'X' if k in h.check_in_kinds else ' '}] {k}" for k in CHECK_IN_KINDS)
    rows: list[tuple[str, str]] = []
    if h.exercise:
        rows.append(("*** EXERCISE ***", "This is an exercise, not a real incident."))
    rows += [
        ("Form", FORM_TITLE),
        ("1 Incident name", h.incident_name),
        ("2 Incident number", h.incident_number),
        ("3 Check-in location", f"{boxes}: {h.check_in_location}".rstrip(": ")),
        ("4 Start date/time", h.start),
        ("Incident contact", h.incident_contact),
        ("Incident status", h.status),
        ("Data as of", h.as_of),
        ("Times", h.time_zone),
        ("Checked in", str(h.checked_in)),
        ("Arrived, NOT checked in", str(h.not_checked_in)),
        ("17 Prepared by: name", h.prepared_name),
        ("17 Prepared by: position/title", h.prepared_position),
        ("17 Prepared by: date/time", h.prepared_at),
    ]
    rows += [("Note", note) for note in report.notes]
    return rows


def _csv_cells(row: Ics211Row) -> list[str]:
    cells = []
    for name, _ in COLUMNS:
        value = getattr(row, name)
        cells.append(SECTION_LABELS[value] if name == "section" else csv_safe(str(value)))
    return cells


def csv_safe(text: str) -> str:
    """Names, agencies and callsigns come from responders' own apps: a cell a spreadsheet
    would run as a formula (``=HYPERLINK(...)``) is written as text, with a leading quote."""
    text = neutralise(text)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
