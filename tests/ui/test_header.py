"""The incident header: identity, elapsed time, counts and the suspect line of the focus."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

from dispatch_console.app.live import Changes, ConsoleState
from dispatch_console.domain import events as ev
from dispatch_console.ui.shell.header import COUNTS, IncidentHeader, hms
from dispatch_console.ui.shell.selection import Selection
from dispatch_console.ui.shell.theme import NIGHT
from tests.ui.factory import (
    DISPATCHER,
    SCHOOL_ACTOR,
    T0,
    Built,
    EventWriter,
    S,
    build_incident,
    demo_schools,
)


def make_header(
    qtbot: QtBot, console: ConsoleState, focus: str | None, now_us: int
) -> IncidentHeader:
    selection = Selection()
    selection.focus(focus)
    header = IncidentHeader(console, selection, NIGHT)
    qtbot.addWidget(header)
    header.refresh(Changes(), now_us)
    return header


@pytest.fixture
def built() -> Built:
    return build_incident(60)


def test_counts_match_the_state_counts(qtbot: QtBot, built: Built) -> None:
    header = make_header(qtbot, built.console, built.incident_id, built.now_us)
    counts = built.console.incidents[built.incident_id].counts(built.now_us)
    shown = {c.name: header.text_of(c.name) for c in COUNTS}
    assert shown == {c.name: str(counts[c.key]) for c in COUNTS}
    assert shown["notified"] == "60"
    # The factory's r001 is en route or present with a position 2.5 minutes old.
    assert int(shown["unaccounted"]) == counts["stale_responding"] >= 1


def test_elapsed_time_since_activation_at_a_fixed_instant(qtbot: QtBot, built: Built) -> None:
    opened = built.console.incidents[built.incident_id].opened_at_us
    header = make_header(qtbot, built.console, built.incident_id, opened + (7 * 60 + 42) * S)
    assert header.text_of("elapsed") == "00:07:42"
    header.refresh(Changes(), opened + (3600 + 2 * 60 + 3) * S)
    assert header.text_of("elapsed") == "01:02:03"
    assert hms(-5 * S) == "00:00:00"


def test_identity_line_names_school_and_alert_type(qtbot: QtBot, built: Built) -> None:
    header = make_header(qtbot, built.console, built.incident_id, built.now_us)
    assert header.text_of("school") == built.school.name
    assert header.text_of("alert_type") == "ACTIVE SHOOTER"
    assert header.text_of("exercise") == ""
    assert header.text_of("empty") == ""


def test_suspect_line_shows_latest_description_revision_and_time(
    qtbot: QtBot, built: Built
) -> None:
    header = make_header(qtbot, built.console, built.incident_id, built.now_us)
    assert header.text_of("suspect") == (
        "SUSPECT: male, white, black shirt, blue jeans, armed: rifle (rev 1, T+00:01:00)"
    )
    opened = built.console.incidents[built.incident_id].opened_at_us
    writer = EventWriter(built.incident_id, built.console.last_seq + 1)
    revised = ev.SuspectDescription(sex="male", race="white", top_color="black",
                                    top_type="shirt", bottom_color="blue", bottom_type="jeans",
                                    headwear="red cap")  # fmt: skip
    writer.add(ev.SuspectDescriptionRevised(revised), opened + (5 * 60 + 10) * S, DISPATCHER)
    header.refresh(built.console.apply(writer.events), built.now_us)
    assert header.text_of("suspect") == (
        "SUSPECT: male, white, black shirt, blue jeans, red cap (rev 2, T+00:05:10)"
    )


def test_arrived_not_checked_in_is_emphasised_only_while_above_zero(
    qtbot: QtBot, built: Built
) -> None:
    header = make_header(qtbot, built.console, built.incident_id, built.now_us)
    state = built.console.incidents[built.incident_id]
    waiting = [r.responder_id for r in state.responders.values() if r.arrived_not_checked_in]
    assert header.text_of("arrived_not_checked_in") == str(len(waiting)) != "0"
    assert header.is_emphasised("arrived_not_checked_in")
    assert not header.is_emphasised("notified")
    writer = EventWriter(built.incident_id, built.console.last_seq + 1)
    for k, responder_id in enumerate(waiting):
        writer.add(ev.ResponderIdentified(responder_id, "known_personally", "Sgt. Staging"),
                   built.now_us + k, DISPATCHER)  # fmt: skip
    before = state.counts(built.now_us)["identified"]
    header.refresh(built.console.apply(writer.events), built.now_us + S)
    assert header.text_of("arrived_not_checked_in") == "0"
    assert not header.is_emphasised("arrived_not_checked_in")
    assert header.text_of("identified") == str(before + len(waiting))


def test_exercise_is_marked_with_a_banner(qtbot: QtBot) -> None:
    school = demo_schools()[0]
    console = ConsoleState(demo_schools())
    writer = EventWriter("inc-drill")
    writer.add(
        ev.IncidentOpened(school.school_id, school.name, "lockdown", school.lon, school.lat,
                          exercise=True),
        T0,
        SCHOOL_ACTOR,
    )  # fmt: skip
    console.apply(writer.events)
    header = make_header(qtbot, console, "inc-drill", T0 + 65 * S)
    assert header.text_of("exercise") == "EXERCISE"
    assert not header.exercise.isHidden()
    assert header.text_of("alert_type") == "LOCKDOWN"
    assert header.text_of("suspect") == "SUSPECT: no description yet"
    assert header.text_of("elapsed") == "00:01:05"


def test_without_an_incident_says_so_calmly_then_follows_the_focus(
    qtbot: QtBot, built: Built
) -> None:
    header = make_header(qtbot, built.console, None, built.now_us)
    assert header.text_of("empty") == "No active incident"
    assert header.text_of("school") == "" and header.text_of("notified") == ""
    header.selection.focus(built.incident_id)
    assert header.text_of("empty") == ""
    assert header.text_of("school") == built.school.name
    header.selection.focus(None)
    assert header.text_of("empty") == "No active incident"


def test_closed_incident_shows_its_status_and_stops_the_clock(qtbot: QtBot, built: Built) -> None:
    state = built.console.incidents[built.incident_id]
    writer = EventWriter(built.incident_id, built.console.last_seq + 1)
    writer.add(ev.IncidentStatusChanged("all_clear"), state.opened_at_us + 600 * S, DISPATCHER)
    header = make_header(qtbot, built.console, built.incident_id, built.now_us)
    header.refresh(built.console.apply(writer.events), state.opened_at_us + 900 * S)
    assert header.text_of("alert_type") == "ACTIVE SHOOTER · ALL CLEAR"
    assert header.text_of("elapsed") == "00:10:00"
