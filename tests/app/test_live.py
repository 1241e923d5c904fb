"""ConsoleState: the console's fold of the store's events (no Qt, no database)."""

from __future__ import annotations

from dispatch_console.app.live import TRAIL_WINDOW_US, ConsoleState
from dispatch_console.domain import events as ev
from dispatch_console.domain.fold import fold
from dispatch_console.domain.state import IncidentState
from tests.ui.factory import DISPATCHER, EventWriter, S, build_incident, demo_schools


def test_console_state_equals_the_services_fold_of_the_same_events() -> None:
    built = build_incident(30)
    expected = fold(built.events, IncidentState(incident_id=built.incident_id))
    assert built.console.incidents[built.incident_id] == expected


def test_events_at_or_below_the_last_sequence_are_applied_once() -> None:
    built = build_incident(10)
    before = built.console.incidents[built.incident_id].event_count
    changes = built.console.apply(built.events[-5:])
    assert changes.duplicates == 5
    assert not changes
    assert built.console.incidents[built.incident_id].event_count == before


def test_an_event_already_in_a_loaded_state_is_not_applied_again() -> None:
    built = build_incident(10)
    state = fold(built.events, IncidentState(incident_id=built.incident_id))
    console = ConsoleState(demo_schools())
    # the store's sequence was read before the state: the last events come again
    console.load([state], last_seq=built.events[-4].seq)
    changes = console.apply(built.events[-4:])
    assert changes.duplicates == 4  # one at the read sequence, three in the state already
    assert console.incidents[built.incident_id].event_count == len(built.events)
    writer = EventWriter(built.incident_id, built.events[-1].seq + 1)
    writer.add(ev.ResponderNotified("late", "dev-late"), built.now_us)
    assert console.apply(writer.events).new_responders == {built.incident_id}


def test_changes_name_new_alerts_new_responders_areas_and_positions() -> None:
    console = ConsoleState(demo_schools())
    built = build_incident(3, console=console)
    school = built.school
    writer = EventWriter(built.incident_id, built.events[-1].seq + 1)
    t = built.now_us
    writer.add(ev.AlertReceived("act-2", school.school_id, "active_shooter", t), t)
    writer.add(ev.ResponderNotified("new-1", "dev-new-1"), t)
    writer.add(ev.ResponderPosition("r002", school.lat, school.lon, t, t + 30 * S), t)
    writer.add(
        ev.StagingAreaRemoved(next(iter(console.incidents[built.incident_id].staging_areas))), t
    )
    changes = console.apply(writer.events)
    assert changes.new_alerts == [(built.incident_id, "act-2")]
    assert changes.alerts
    assert changes.new_responders == {built.incident_id}
    assert (built.incident_id, "r002") in changes.responders
    assert changes.areas == {built.incident_id}
    assert [e.seq for e in changes.events] == [e.seq for e in writer.events]
    assert console.trail(built.incident_id, "r002", t)[-1].at_us == t


def test_trail_covers_the_last_five_minutes_only() -> None:
    built = build_incident(5, minutes=12)
    now = built.now_us
    trail = built.console.trail(built.incident_id, "r002", now)
    assert trail
    assert all(now - TRAIL_WINDOW_US <= p.at_us <= now for p in trail)
    assert built.console.trail(built.incident_id, "nobody", now) == []


def test_focus_goes_to_the_newest_unacknowledged_alert() -> None:
    console = ConsoleState(demo_schools())
    first = build_incident(2, seed=1, console=console)
    second = build_incident(
        2, seed=2, school_index=1, console=console, first_seq=first.events[-1].seq + 1,
        acknowledge_alert=True,
    )  # fmt: skip
    assert console.default_focus() == first.incident_id  # the acknowledged one waits
    writer = EventWriter(first.incident_id, second.events[-1].seq + 1)
    writer.add(ev.AlertAcknowledged("act-1", DISPATCHER.name), first.now_us, DISPATCHER)
    console.apply(writer.events)
    assert console.unacknowledged_alerts() == []
    # nothing waits: the newest active incident (both opened at the same instant: either)
    assert console.default_focus() in {first.incident_id, second.incident_id}


def test_a_live_incident_is_focused_before_an_exercise() -> None:
    console = ConsoleState(demo_schools())
    live = build_incident(2, seed=1, console=console)
    drill = build_incident(2, seed=2, school_index=1, console=console,
                           first_seq=live.events[-1].seq + 1)  # fmt: skip
    drill_state = console.incidents[drill.incident_id]
    drill_state.exercise = True
    drill_state.alerts["act-1"].received_at_us += 10_000_000  # the newer alert
    assert console.default_focus() == live.incident_id
    assert [s.incident_id for s, _ in console.unacknowledged_alerts()] == [
        live.incident_id, drill.incident_id,
    ]  # fmt: skip


def test_a_closed_incidents_alert_waits_for_nobody() -> None:
    built = build_incident(2)
    writer = EventWriter(built.incident_id, built.events[-1].seq + 1)
    writer.add(ev.IncidentStatusChanged("cancelled", "false alarm"), built.now_us, DISPATCHER)
    built.console.apply(writer.events)
    assert built.console.unacknowledged_alerts() == []
    assert built.console.default_focus() is None
