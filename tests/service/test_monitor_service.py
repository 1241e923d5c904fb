"""The monitor as a service subscriber, against real SQLite and PostgreSQL stores."""

from __future__ import annotations

import logging

import pytest

from dispatch_console.domain import events as ev
from dispatch_console.domain.reference import CheckIn, PlannedArea, PrePlan, School
from dispatch_console.service import IncidentService
from dispatch_console.service.incidents import PositionFields, PositionReport
from dispatch_console.service.monitor import Monitor
from dispatch_console.store import Store
from tests.builders import INNER, SCHOOL_LAT, SCHOOL_LON, STAGING_A, T0, S
from tests.users import register

IC = ev.Actor(ev.ActorKind.CONSOLE_USER, "Lt. Hayes")
GW = ev.Actor(ev.ActorKind.SYSTEM, "gateway")
DEVICE = ev.Actor(ev.ActorKind.DEVICE, "r1")
SCHOOL = School(
    "lincoln-hs",
    "Lincoln High School",
    SCHOOL_LON,
    SCHOOL_LAT,
    pre_plan=PrePlan(
        staging_areas=(PlannedArea("staging-a", "Staging A", STAGING_A, 60.0, 40),),
        inner_perimeter=PlannedArea("inner", "Inner", INNER),
        outer_perimeter=PlannedArea(
            "outer", "Outer", {"type": "Point", "coordinates": [SCHOOL_LON, SCHOOL_LAT]}, 600.0
        ),
        check_in=CheckIn("Check-in A", -84.5457, 38.2292),
    ),
)
ALERT = ev.AlertReceived("act-1", "lincoln-hs", "active_shooter", T0, "J. Ortiz", "office")
IN_INNER = (38.2250, -84.5400)
FAR = (38.2600, -84.5400)
BLACK_TEE_BADGE = ev.Attire(False, "black", "t-shirt", "blue", None, "badge_on_belt")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now

    def at(self, seconds: float) -> int:
        self.now = T0 + int(seconds * S)
        return self.now


def _service(store: Store, clock: Clock) -> tuple[IncidentService, Monitor]:
    register(store, IC)
    service = IncidentService(store, clock=clock)
    monitor = Monitor(service)
    service.subscribe(monitor.as_subscriber())
    return service, monitor


def _report(service: IncidentService, incident: str, place: tuple[float, float]) -> None:
    now = service.clock()
    fields = PositionFields("r1", place[0], place[1], now, now + 30 * S, 8.0, 10.0)
    outcome = service.record_positions([PositionReport(incident, DEVICE, ev.Source.FEED, fields)])
    assert not outcome.refused


def _warning_events(store: Store, incident: str) -> list[tuple[str, str, str | None]]:
    out: list[tuple[str, str, str | None]] = []
    for event in store.read(incident):
        p = event.payload
        if isinstance(p, ev.WarningRaised):
            out.append(("raised", p.kind, None))
        elif isinstance(p, ev.WarningEnded):
            out.append(("ended", p.warning_id.split(":")[0], p.reason))
    return out


def _arrive_plainclothes(service: IncidentService, clock: Clock) -> str:
    incident, _ = service.open_incident(SCHOOL, ALERT, actor=GW, source=ev.Source.FEED)
    clock.at(1)
    service.execute(
        incident,
        [
            ev.ResponderNotified("r1", "r1"),
            ev.ResponderProfileReported(
                "r1", "Sgt. Elena Cox", "Georgetown PD", "1234", None, "off", True,
                BLACK_TEE_BADGE,
            ),
            ev.ResponderRosterChecked("r1", "sworn_active", "Elena Cox"),
            ev.ResponderAcknowledged("r1", True),
            ev.ResponderEnRoute("r1"),
        ],
        actor=GW,
        source=ev.Source.FEED,
    )  # fmt: skip
    clock.at(2)
    _report(service, incident, FAR)
    return incident


def test_monitor_stores_warnings_in_order_as_positions_and_commands_are_stored(
    store: Store,
) -> None:
    clock = Clock()
    service, monitor = _service(store, clock)
    incident = _arrive_plainclothes(service, clock)
    assert _warning_events(store, incident) == []

    clock.at(20)
    service.execute(
        incident,
        [ev.SuspectDescriptionRevised(ev.SuspectDescription(sex="male", race="white",
                                      top_color="black", free_text="white male, black shirt"))],
        actor=IC,
        source=ev.Source.CONSOLE,
    )  # fmt: skip
    assert _warning_events(store, incident) == [("raised", "attire_matches_suspect", None)]

    clock.at(60)
    _report(service, incident, IN_INNER)
    clock.at(70)
    service.execute(
        incident,
        [ev.ResponderIdentified("r1", "credentials_in_person", "Sgt. Brooks")],
        actor=IC,
        source=ev.Source.CONSOLE,
    )
    assert _warning_events(store, incident) == [
        ("raised", "attire_matches_suspect", None),
        ("raised", "unidentified_in_inner_perimeter", None),
        ("ended", "unidentified_in_inner_perimeter", "identified"),
    ]

    events = list(store.read(incident))
    types = [e.type for e in events]
    position = max(i for i, t in enumerate(types) if t == "responder_position")
    after_position = [e.type for e in events[position + 1 :] if e.actor == monitor.actor]
    assert after_position[:4] == [
        "perimeter_entered", "perimeter_entered", "responder_arrived", "warning_raised"
    ]  # fmt: skip
    raised = next(e for e in events if isinstance(e.payload, ev.WarningRaised))
    assert raised.actor == ev.Actor(ev.ActorKind.SYSTEM, "monitor")
    assert raised.payload.matched_fields == ("top_color", "top_type")
    assert raised.occurred_at_us == T0 + 20 * S
    assert store.state_at(incident) == service.state(incident)  # replay = live

    # On the timer: the position goes stale inside the perimeters, with no event arriving.
    clock.at(120)
    stored = monitor.check()
    assert [(e.type, getattr(e.payload, "kind", None)) for e in stored] == [
        ("warning_raised", "stale_or_no_radio_in_perimeter")
    ]
    assert monitor.check() == []


def test_a_second_monitor_racing_the_first_stores_nothing_twice_and_raises_nothing(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    service = IncidentService(store, clock=clock)  # no monitor subscribed: checked by hand
    incident = _arrive_plainclothes(service, clock)
    clock.at(60)
    _report(service, incident, IN_INNER)
    other = IncidentService(store, clock=clock)  # another process: the same facts loaded
    assert other.state(incident) == service.state(incident)
    first = Monitor(service).check()
    assert {e.type for e in first} >= {"perimeter_entered", "warning_raised"}
    before = store.last_seq()
    with caplog.at_level(logging.INFO, logger="dispatch_console.service.monitor"):
        assert Monitor(other).check([incident]) == []  # derived from what it knew: too late
    assert store.last_seq() == before
    assert "perimeter_entered in" in caplog.text and "ALREADY_INSIDE" in caplog.text
    assert other.state(incident) == service.state(incident)


def test_the_monitor_ignores_closed_incidents_once_their_warnings_ended(store: Store) -> None:
    clock = Clock()
    service, monitor = _service(store, clock)
    incident = _arrive_plainclothes(service, clock)
    clock.at(60)
    _report(service, incident, IN_INNER)
    assert service.state(incident).active_warnings()
    clock.at(90)
    service.execute(
        incident, [ev.IncidentStatusChanged("all_clear")], actor=IC, source=ev.Source.CONSOLE
    )
    state = service.state(incident)
    assert state.active_warnings() == []
    assert {w.end_reason for w in state.warnings.values()} == {"incident all clear"}
    clock.at(200)
    assert monitor.check() == []
