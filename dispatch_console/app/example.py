"""The built-in example incident: a short active-shooter call at Lincoln High School.

Written through the same write path as a live incident (the service validates every change),
on a simulated clock, and flagged as an exercise so that it can never pass for a real call.
It shows the problems the console exists for: self-dispatch, an off-duty officer in plain
clothes (black shirt) inside the inner perimeter while the suspect wears a black shirt, an
UNVERIFIED responder, and a refused attempt to assign someone nobody has identified.
"""

from __future__ import annotations

from dataclasses import dataclass

from dispatch_console.domain import events as ev
from dispatch_console.domain.geometry import local_frame
from dispatch_console.domain.lifecycle import RuleViolation
from dispatch_console.domain.reference import School
from dispatch_console.domain.roster import Roster
from dispatch_console.domain.timeutil import US_PER_S, parse_iso
from dispatch_console.service import IncidentService
from dispatch_console.store import Store

START_US = parse_iso("2026-11-24T09:14:05Z")
SCHOOL_ID = "lincoln-hs"
END_S = 420
DISPATCHER = ev.Actor(ev.ActorKind.CONSOLE_USER, "Dispatcher A. Moreno")
COMMANDER = ev.Actor(ev.ActorKind.CONSOLE_USER, "Lt. J. Hayes (IC)")
SYSTEM = ev.Actor(ev.ActorKind.SYSTEM, "gateway")


class SimClock:
    def __init__(self, start_us: int) -> None:
        self.now_us = start_us

    def __call__(self) -> int:
        return self.now_us


@dataclass(frozen=True)
class Officer:
    responder_id: str
    profile: ev.ResponderProfileReported


def _profile(
    rid: str,
    name: str,
    agency: str,
    badge: str,
    callsign: str,
    duty: ev.Duty,
    radio: bool,
    attire: ev.Attire,
) -> ev.ResponderProfileReported:
    return ev.ResponderProfileReported(rid, name, agency, badge, callsign, duty, radio, attire)


UNIFORM = ev.Attire(uniform=True)
OFFICERS = [
    Officer(
        "dev-ruiz",
        _profile(
            "dev-ruiz",
            "Det. M. Ruiz",
            "Georgetown PD",
            "4411",
            "GPD-D11",
            "off",
            False,
            ev.Attire(False, "black", "t-shirt", "blue", None, "none"),
        ),
    ),
    Officer(
        "dev-chen",
        _profile(
            "dev-chen", "Ofc. K. Chen", "Georgetown PD", "3207", "GPD-212", "on", True, UNIFORM
        ),
    ),
    Officer(
        "dev-walker",
        _profile(
            "dev-walker", "Dep. A. Walker", "Scott County SO", "118", "SCSO-18", "on", True, UNIFORM
        ),
    ),
    Officer(
        "dev-brooks",
        _profile(
            "dev-brooks", "Sgt. D. Brooks", "Georgetown PD", "2050", "GPD-S5", "on", True, UNIFORM
        ),
    ),
    Officer(
        "dev-grant",
        _profile(
            "dev-grant",
            "T. Grant",
            "Kentucky State Police",
            "77",
            "GRANT",
            "off",
            False,
            ev.Attire(False, "grey", "hoodie", "blue", "ball cap", "none"),
        ),
    ),
    Officer(
        "dev-price",
        _profile(
            "dev-price",
            "L. Price (ret.)",
            "Georgetown PD",
            "1102",
            "PRICE",
            "off",
            False,
            ev.Attire(False, "white", "polo", "khaki", None, "badge_on_belt"),
        ),
    ),
    Officer(
        "dev-patel",
        _profile(
            "dev-patel", "Ofc. S. Patel", "Scott County SO", "131", "SCSO-31", "on", True, UNIFORM
        ),
    ),
    Officer(
        "dev-diaz",
        _profile(
            "dev-diaz", "Ofc. R. Diaz", "Georgetown PD", "3390", "GPD-230", "on", True, UNIFORM
        ),
    ),
]


@dataclass
class Move:
    """A straight drive from ``start`` to ``end`` (metres from the school) between two times."""

    responder_id: str
    start: tuple[float, float]
    end: tuple[float, float]
    depart_s: int
    arrive_s: int


def build_example(
    store: Store, school: School, roster: Roster, clock: SimClock
) -> tuple[str, list[str]]:
    """Write the example incident into ``store``; return its id and the refusals it met."""
    service = IncidentService(store, clock=clock)
    store.set_user(DISPATCHER.name, "dispatcher")  # console users must be registered to act
    store.set_user(COMMANDER.name, "incident commander")
    frame = local_frame(school.lon, school.lat)
    refusals: list[str] = []

    def at(seconds: int) -> None:
        clock.now_us = START_US + seconds * US_PER_S

    at(0)
    alert = ev.AlertReceived(
        "act-7f3a",
        SCHOOL_ID,
        "active_shooter",
        START_US - 2 * US_PER_S,
        "J. Ortiz",
        "front office",
        "Gym, building C",
        "shots heard near gym",
    )
    school_actor = ev.Actor(ev.ActorKind.DEVICE, f"school:{SCHOOL_ID}")
    incident, _ = service.open_incident(
        school,
        alert,
        actor=school_actor,
        source=ev.Source.FEED,
        exercise=True,
        idempotency_key="school:lincoln-hs/act-7f3a",
    )

    def do(actor: ev.Actor, *payloads: ev.Payload, source: ev.Source = ev.Source.CONSOLE) -> None:
        try:
            service.execute(incident, payloads, actor=actor, source=source)
        except RuleViolation as refusal:
            refusals.append(str(refusal))

    at(3)
    for officer in OFFICERS:
        do(
            SYSTEM,
            ev.ResponderNotified(officer.responder_id, officer.responder_id),
            source=ev.Source.FEED,
        )

    moves = [
        Move("dev-ruiz", (-2200, 1500), (-40, 20), 25, 250),  # self-dispatches into the school
        Move("dev-walker", (3000, -2500), (140, -100), 40, 290),  # self-dispatches to the school
        Move("dev-brooks", (-1800, 2400), (-520, 480), 70, 210),  # directed to staging A
        Move("dev-chen", (-3500, 2600), (-515, 470), 75, 300),  # directed to staging A
        Move("dev-grant", (2500, 3200), (-530, 490), 60, 390),  # self-dispatches, UNVERIFIED
    ]
    script: list[tuple[int, ev.Actor, ev.Source, ev.Payload]] = []

    def when(seconds: int, actor: ev.Actor, payload: ev.Payload) -> None:
        source = (
            ev.Source.FEED if actor.kind is not ev.ActorKind.CONSOLE_USER else ev.Source.CONSOLE
        )
        script.append((seconds, actor, source, payload))

    def device(rid: str) -> ev.Actor:
        return ev.Actor(ev.ActorKind.DEVICE, rid)

    acknowledgements = (
        (8, "dev-ruiz"),
        (12, "dev-walker"),
        (15, "dev-brooks"),
        (20, "dev-chen"),
        (22, "dev-grant"),
        (30, "dev-price"),
        (45, "dev-patel"),
    )
    profiles = {o.responder_id: o for o in OFFICERS}
    for seconds, rid in acknowledgements:
        officer = profiles[rid]
        when(seconds, device(rid), officer.profile)
        when(seconds, device(rid), ev.ResponderAcknowledged(rid, rid != "dev-price"))
        match = roster.match(agency=officer.profile.agency, badge=officer.profile.badge,
                             name=officer.profile.name, device_id=rid)  # fmt: skip
        roster_name = match.entry.name if match.entry is not None else None
        checked = ev.ResponderRosterChecked(
            rid,
            match.verdict,
            roster_name,
            officer.profile.agency,
            officer.profile.badge,
            match.reason,
        )
        when(seconds + 1, SYSTEM, checked)
    when(18, DISPATCHER, ev.AlertAcknowledged("act-7f3a", DISPATCHER.name))
    for move in moves:
        rid = move.responder_id
        if rid in ("dev-brooks", "dev-chen"):
            when(move.depart_s - 10, DISPATCHER, ev.ResponderDirected(rid, "staging-a"))
        when(move.depart_s, device(rid), ev.ResponderEnRoute(rid))
        for t in range(move.depart_s, move.arrive_s + 1, 5):
            when(t, device(rid), _position(frame, move, t))
        if rid != "dev-walker":  # Walker's phone loses GPS on arrival: his position goes stale
            for t in range(move.arrive_s + 15, END_S + 1, 15):
                when(t, device(rid), _position(frame, move, t))
        if move.end[1] > 300:
            when(move.arrive_s, SYSTEM, ev.ResponderArrived(rid, "staging", "staging-a"))
        else:
            when(move.arrive_s, SYSTEM, ev.ResponderArrived(rid, "scene"))
    first_description = ev.SuspectDescription(
        sex="male",
        race="white",
        top_color="black",
        top_type="shirt",
        free_text="caller: shots near the gym",
    )
    second_description = ev.SuspectDescription(
        sex="male",
        race="white",
        age_range="20-30",
        top_color="black",
        top_type="shirt",
        bottom_color="blue",
        bottom_type="jeans",
        weapon="rifle",
        free_text="second caller: backpack, last seen east hallway",
    )
    ic = COMMANDER
    when(90, DISPATCHER, ev.SuspectDescriptionRevised(first_description))
    when(120, ic, ev.CommandEstablished("Lt. J. Hayes", "Engine 3 tailboard, Elm St lot"))
    when(225, ic, ev.ResponderIdentified("dev-brooks", "known_personally", "Lt. J. Hayes"))
    when(230, ic, ev.ResponderEquipmentIssued("dev-brooks", None, "TAC-2", "vest"))
    when(235, ic, ev.ResponderStaged("dev-brooks", "staging-a"))
    when(310, DISPATCHER, ev.SuspectDescriptionRevised(second_description))
    when(330, ic, ev.ResponderIdentified("dev-chen", "credentials_in_person", "Sgt. D. Brooks"))
    when(340, ic, ev.ResponderEquipmentIssued("dev-chen", "R-114", "TAC-2", None))
    when(360, ic, ev.ResponderAssigned("dev-chen", "contact_team", "Team 1"))
    when(365, ic, ev.ResponderAssigned("dev-brooks", "contact_team", "Team 1"))
    # The IC tries to send the UNVERIFIED arrival in with the team: the rule refuses it.
    when(400, ic, ev.ResponderAssigned("dev-grant", "contact_team", "Team 1"))
    for seconds, actor, source, payload in sorted(script, key=lambda item: item[0]):
        at(seconds)
        do(actor, payload, source=source)
    at(END_S)
    return incident, refusals


def _position(frame: object, move: Move, t: int) -> ev.ResponderPosition:
    from dispatch_console.domain.geometry import LocalFrame

    assert isinstance(frame, LocalFrame)
    span = max(1, move.arrive_s - move.depart_s)
    f = min(1.0, max(0.0, (t - move.depart_s) / span))
    x = move.start[0] + (move.end[0] - move.start[0]) * f
    y = move.start[1] + (move.end[1] - move.start[1]) * f
    lon, lat = frame.to_wgs84(x, y)
    at_us = START_US + t * US_PER_S
    dx, dy = move.end[0] - move.start[0], move.end[1] - move.start[1]
    speed = 0.0 if f >= 1.0 else (dx * dx + dy * dy) ** 0.5 / span
    return ev.ResponderPosition(
        move.responder_id,
        round(lat, 7),
        round(lon, 7),
        at_us,
        at_us + 30 * US_PER_S,
        8.0,
        round(speed, 1),
    )
