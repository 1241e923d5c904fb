"""The monitor derives only what changed (issue 14): a batch that moves 5 of 2,000 responders
costs 5 evaluations, not 2,000; and over a simulated incident the incremental monitor stores
exactly what deriving everything would have stored, step by step."""

from __future__ import annotations

import random
from typing import Any

import pytest

import dispatch_console.domain.monitor as domain_monitor
from dispatch_console.domain import events as ev
from dispatch_console.domain.lifecycle import RuleViolation
from dispatch_console.domain.monitor import MONITOR, derive
from dispatch_console.service import IncidentService
from dispatch_console.service.incidents import PositionFields, PositionReport
from dispatch_console.service.monitor import Monitor
from dispatch_console.store import Store
from tests.builders import SCHOOL_LAT, SCHOOL_LON, S
from tests.service.test_monitor_service import ALERT, GW, IC, SCHOOL, Clock
from tests.users import register

INNER_POINT = (38.2250, -84.5400)
PLAINCLOTHES = ev.Attire(False, "black", "t-shirt", "blue", None, "none")
UNIFORM = ev.Attire(True)


def _setup(store: Store, clock: Clock) -> tuple[IncidentService, Monitor, str]:
    register(store, IC)
    service = IncidentService(store, clock=clock)
    monitor = Monitor(service)
    service.subscribe(monitor.as_subscriber())
    incident, _ = service.open_incident(SCHOOL, ALERT, actor=GW, source=ev.Source.FEED)
    return service, monitor, incident


def _join(service: IncidentService, incident: str, rids: list[str], rng: random.Random) -> None:
    payloads: list[ev.Payload] = []
    for rid in rids:
        attire = PLAINCLOTHES if rng.random() < 0.4 else UNIFORM
        verdict = "not_on_roster" if rng.random() < 0.1 else "sworn_active"
        payloads += [
            ev.ResponderNotified(rid, rid),
            ev.ResponderProfileReported(
                rid, f"Officer {rid}", "Georgetown PD", rid[2:], None, "on", rng.random() < 0.8,
                attire,
            ),
            ev.ResponderRosterChecked(rid, verdict, f"Officer {rid}"),
            ev.ResponderAcknowledged(rid, True),
            ev.ResponderEnRoute(rid),
        ]  # fmt: skip
    service.execute(incident, payloads, actor=GW, source=ev.Source.FEED)


def _place(rng: random.Random) -> tuple[float, float]:
    """Anywhere from inside the inner perimeter to well outside the outer one (600 m)."""
    kind = rng.random()
    if kind < 0.2:
        return INNER_POINT[0] + rng.uniform(-2e-4, 2e-4), INNER_POINT[1] + rng.uniform(-2e-4, 2e-4)
    if kind < 0.5:  # near the outer perimeter's edge (GPS noise at the boundary)
        return SCHOOL_LAT + rng.choice([-1, 1]) * rng.uniform(0.0050, 0.0058), SCHOOL_LON
    return SCHOOL_LAT + rng.uniform(-0.02, 0.02), SCHOOL_LON + rng.uniform(-0.02, 0.02)


def _positions(
    service: IncidentService, incident: str, rids: list[str], rng: random.Random
) -> None:
    now = service.clock()
    reports = []
    for rid in rids:
        lat, lon = _place(rng)
        fields = PositionFields(rid, lat, lon, now, now + 30 * S, 8.0, 2.0, rng.uniform(0, 360))
        reports.append(
            PositionReport(incident, ev.Actor(ev.ActorKind.DEVICE, rid), ev.Source.FEED, fields)
        )
    outcome = service.record_positions(reports)
    assert not outcome.refused


def test_a_batch_moving_5_of_2000_responders_derives_5_not_2000(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    service, monitor, incident = _setup(store, clock)
    rng = random.Random(14)
    rids = [f"r-{n}" for n in range(2000)]
    clock.at(1)
    _join(service, incident, rids, rng)
    clock.at(2)
    _positions(service, incident, rids, rng)
    assert monitor.evaluated == 2000  # the first time: everything
    surveyed: list[int] = []
    real_survey = domain_monitor.survey

    def counting_survey(state: Any, index: Any = None, members: Any = None) -> Any:
        surveyed.append(len(state.responders if members is None else members))
        return real_survey(state, index, members)

    monkeypatch.setattr(domain_monitor, "survey", counting_survey)
    for step in range(3):
        clock.at(3 + step)
        moved = rng.sample(rids, 5)
        _positions(service, incident, moved, rng)
        # Only the 5 (and those the monitor's own events were about) were derived again.
        assert monitor.evaluated == 5
        assert surveyed[-1] == 5
        # And nothing is left that deriving everything would find.
        state = service.state(incident)
        assert derive(state, max(clock(), state.last_event_at_us)) == []
    # An area changing concerns every responder: all are derived again.
    clock.at(10)
    service.execute(
        incident,
        [ev.PerimeterSet("outer", "outer", {"type": "Point",
                                            "coordinates": [SCHOOL_LON, SCHOOL_LAT]}, 800.0)],
        actor=IC, source=ev.Source.CONSOLE,
    )  # fmt: skip
    assert monitor.evaluated == 2000
    # On the timer, with nothing new and no position gone stale: nothing is derived.
    clock.at(11)
    assert monitor.check() == [] and monitor.evaluated == 0
    # 30 s later every position went stale: those inside a perimeter are warned about.
    clock.at(40)
    stored = monitor.check()
    assert monitor.evaluated == 2000
    assert stored and {e.payload.kind for e in stored} == {"stale_or_no_radio_in_perimeter"}


def _step(
    service: IncidentService, monitor: Monitor, incident: str, rids: list[str],
    rng: random.Random, clock: Clock,
) -> str:  # fmt: skip
    """One random thing that happens in an incident."""
    roll = rng.random()
    actor, source = IC, ev.Source.CONSOLE
    payloads: list[ev.Payload]
    if roll < 0.45:
        _positions(service, incident, rng.sample(rids, rng.randint(1, 6)), rng)
        return "positions"
    rid = rng.choice(rids)
    if roll < 0.55:
        payloads = [ev.ResponderIdentified(rid, "credentials_in_person", "Sgt. Brooks")]
    elif roll < 0.62:
        top = rng.choice(["black", "navy", "grey", "red"])
        text = f"white male, {top} {rng.choice(['shirt', 'hoodie'])}, blue jeans"
        payloads = [ev.SuspectDescriptionRevised(ev.SuspectDescription(free_text=text))]
    elif roll < 0.7:
        payloads = [ev.ResponderDirected(rid, "staging-a")]
    elif roll < 0.75:
        payloads = [ev.ResponderReleased(rid, "sent home")]
    elif roll < 0.8:
        payloads = [ev.ResponderEquipmentIssued(rid, "R-7", "TAC-2", "raid_jacket")]
    elif roll < 0.87:
        attire = rng.choice([PLAINCLOTHES, UNIFORM, ev.Attire(False, "navy", "hoodie", "blue")])
        payloads = [ev.ResponderProfileReported(rid, None, None, None, None, None, None, attire)]
        actor, source = ev.Actor(ev.ActorKind.DEVICE, rid), ev.Source.FEED
    elif roll < 0.9:
        radius = rng.choice([500.0, 600.0, 700.0])
        point = {"type": "Point", "coordinates": [SCHOOL_LON, SCHOOL_LAT]}
        payloads = [ev.PerimeterSet("outer", "outer", point, radius)]
    else:
        return "timer"
    try:
        service.execute(incident, payloads, actor=actor, source=source)
    except RuleViolation:
        return "refused"
    return payloads[0].TYPE


@pytest.mark.parametrize("seed", [1, 2])
def test_the_incremental_monitor_stores_what_deriving_everything_would(
    store: Store, seed: int
) -> None:
    clock = Clock()
    service, monitor, incident = _setup(store, clock)
    rng = random.Random(seed)
    rids = [f"r-{n}" for n in range(60)]
    expected: list[ev.Payload] = []
    got: list[ev.Payload] = []

    def before_the_monitor(events: list[ev.Event]) -> None:
        """What deriving everything finds, on the state the monitor is about to derive."""
        if any(e.actor == MONITOR for e in events):
            return
        state = service.state(incident)
        expected.extend(derive(state, max(clock(), state.last_event_at_us)))

    def after_the_monitor(events: list[ev.Event]) -> None:
        got.extend(e.payload for e in events if e.actor == MONITOR)

    # Subscribed in front of the monitor (which the service tells in order), and after it.
    service._subscribers.insert(0, before_the_monitor)
    service.subscribe(after_the_monitor)
    clock.at(1)
    _join(service, incident, rids, rng)
    seconds = 2.0
    kinds: set[str] = set()
    incremental = 0
    for _ in range(250):
        seconds += rng.choice([0.5, 1.0, 3.0, 9.0])
        clock.at(seconds)
        expected.clear()
        got.clear()
        what = _step(service, monitor, incident, rids, rng, clock)
        if what == "timer":
            state = service.state(incident)
            expected.extend(derive(state, max(clock(), state.last_event_at_us)))
            monitor.check()
        assert got == expected, what
        if 0 < monitor.evaluated < len(rids):
            incremental += 1
        kinds.update(type(p).__name__ for p in got)
    # The run went through what it is meant to compare, mostly incrementally.
    assert incremental > 100
    assert {"WarningRaised", "WarningEnded", "PerimeterEntered", "PerimeterExited"} <= kinds
    assert "ResponderArrived" in kinds
