"""Incident command as events: established (or assumed), transferred, and who held it when."""

from __future__ import annotations

import pytest

from dispatch_console.app import commands
from dispatch_console.domain import events as ev
from dispatch_console.domain.decide import validate
from dispatch_console.domain.lifecycle import Rule, RuleViolation
from dispatch_console.domain.state import decode_state, encode_state
from tests.builders import SCHOOL_LAT, SCHOOL_LON, T0, Recorder, S

ORTIZ = ev.Actor(ev.ActorKind.CONSOLE_USER, "Capt. R. Ortiz")


def _refused(rec: Recorder, payload: ev.Payload) -> Rule:
    with pytest.raises(RuleViolation) as refused:
        validate(rec.state(), payload)
    return refused.value.rule


def test_command_is_established_then_transferred_and_the_history_kept() -> None:
    rec = Recorder().opened()
    assert rec.state().commander is None
    established = ev.CommandEstablished("Lt. Hayes", "Engine 3 tailboard", SCHOOL_LON, SCHOOL_LAT)
    validate(rec.state(), established)
    rec.add(established, 60)
    moved = ev.CommandTransferred("Lt. Hayes", "Capt. R. Ortiz", reason="senior officer arrived")
    validate(rec.state(), moved)
    rec.add(moved, 600, actor=ORTIZ)
    state = decode_state(encode_state(rec.state()))  # the snapshot keeps it too
    assert state.commander == "Capt. R. Ortiz"
    assert state.command_post == "Engine 3 tailboard"  # the post stays unless it moves
    first, second = state.command
    assert (first.commander, first.how, first.since_us, first.until_us) == (
        "Lt. Hayes", "established", T0 + 60 * S, T0 + 600 * S,
    )  # fmt: skip
    assert (second.how, second.from_commander, second.reason, second.until_us) == (
        "transferred", "Lt. Hayes", "senior officer arrived", None,
    )  # fmt: skip
    assert state.commander_at(T0 + 30 * S) is None
    assert state.commander_at(T0 + 60 * S) == "Lt. Hayes"
    assert state.commander_at(T0 + 599 * S) == "Lt. Hayes"
    assert state.commander_at(T0 + 601 * S) == "Capt. R. Ortiz"


def test_command_rules() -> None:
    rec = Recorder()
    assert _refused(rec, ev.CommandEstablished("Lt. Hayes")) is Rule.INCIDENT_NOT_OPEN
    rec.opened()
    assert _refused(rec, ev.CommandEstablished("  ")) is Rule.COMMANDER_REQUIRED
    assert _refused(rec, ev.CommandTransferred("x", "Lt. Hayes")) is Rule.NO_COMMAND
    rec.add(ev.CommandEstablished("Lt. Hayes"), 10)
    assert _refused(rec, ev.CommandEstablished("Sgt. Lee")) is Rule.COMMAND_ALREADY_ESTABLISHED
    # Handed over by whoever holds it now, decided on what the user saw.
    assert _refused(rec, ev.CommandTransferred("Sgt. Lee", "Capt. Ortiz")) is Rule.NOT_IN_COMMAND
    assert _refused(rec, ev.CommandTransferred("Lt. Hayes", "")) is Rule.COMMANDER_REQUIRED
    assert (
        _refused(rec, ev.CommandTransferred("Lt. Hayes", "Lt. Hayes"))
        is Rule.COMMAND_ALREADY_ESTABLISHED
    )
    rec.add(ev.IncidentStatusChanged("all_clear"), 20)
    assert _refused(rec, ev.CommandTransferred("Lt. Hayes", "Capt. Ortiz")) is Rule.INCIDENT_CLOSED


def test_a_command_post_point_is_checked() -> None:
    with pytest.raises(ValueError, match="both"):
        ev.CommandEstablished("Lt. Hayes", "lot", lon=-84.5)
    with pytest.raises(ValueError, match="latitude"):
        ev.CommandEstablished("Lt. Hayes", "lot", lon=-84.5, lat=123.0)


def test_an_older_records_assignment_still_reads_as_command() -> None:
    rec = Recorder().opened()
    rec.add(ev.IncidentCommanderAssigned("Lt. Hayes"), 10)
    rec.add(ev.IncidentCommanderAssigned("Capt. Ortiz"), 20)
    state = rec.state()
    assert state.commander == "Capt. Ortiz"
    assert [(p.commander, p.how, p.from_commander) for p in state.command] == [
        ("Lt. Hayes", "established", None),
        ("Capt. Ortiz", "transferred", "Lt. Hayes"),
    ]


def test_take_command_establishes_first_then_transfers() -> None:
    rec = Recorder().opened()
    first = commands.take_command(rec.state(), " Lt. Hayes ", " church lot ")
    assert first == [ev.CommandEstablished("Lt. Hayes", "church lot")]
    rec.add(first[0], 10)
    second = commands.take_command(rec.state(), "Capt. Ortiz", "", reason=" relieved ")
    assert second == [
        ev.CommandTransferred("Lt. Hayes", "Capt. Ortiz", None, None, None, "relieved")
    ]
