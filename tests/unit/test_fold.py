from __future__ import annotations

import msgspec
import pytest

from dispatch_console.domain import events as ev
from dispatch_console.domain.fold import fold, replay
from dispatch_console.domain.lifecycle import ResponderStatus
from dispatch_console.domain.state import TRACK_LIMIT, IncidentState, decode_state, encode_state
from tests.builders import T0, Recorder, S


def test_a_responder_who_goes_en_route_undirected_is_self_dispatched_for_good() -> None:
    rec = Recorder().opened().notified("r1", "r2")
    rec.add(ev.ResponderEnRoute("r1"), 5)
    rec.add(ev.ResponderDirected("r2", "staging-a"), 6)
    rec.add(ev.ResponderEnRoute("r2"), 7)
    rec.add(ev.ResponderDirected("r1", "staging-a"), 8)  # directed only after leaving
    rec.add(ev.ResponderArrived("r1", "staging", "staging-a"), 60)
    rec.add(ev.ResponderIdentified("r1", "credentials_in_person", "Sgt. B"), 70)
    state = rec.state()
    assert state.responders["r1"].self_dispatched is True
    assert state.responders["r1"].status is ResponderStatus.IDENTIFIED
    assert state.responders["r2"].self_dispatched is False


def test_arriving_without_ever_reporting_en_route_also_counts_as_self_dispatch() -> None:
    rec = Recorder().opened().notified("r1")
    rec.add(ev.ResponderArrived("r1", "scene"), 30)
    responder = rec.state().responders["r1"]
    assert responder.self_dispatched and responder.arrived_at_us == T0 + 30 * S


def test_an_older_position_is_kept_in_the_log_but_does_not_move_the_responder_back() -> None:
    rec = Recorder().opened().notified("r1")
    rec.position("r1", 38.20, -84.50, at_s=20)
    rec.position("r1", 38.10, -84.40, at_s=10)  # arrives late
    rec.position("r1", 38.20, -84.50, at_s=20)  # duplicate
    responder = rec.state().responders["r1"]
    assert responder.position is not None and responder.position.at_us == T0 + 20 * S
    assert responder.position.lat == 38.20
    assert len(responder.track) == 1


def test_the_track_in_state_is_bounded() -> None:
    rec = Recorder().opened().notified("r1")
    for i in range(TRACK_LIMIT * 3):
        rec.position("r1", 38.2 + i * 1e-4, -84.5, at_s=10 + i)
    responder = rec.state().responders["r1"]
    assert len(responder.track) == TRACK_LIMIT
    assert responder.track[-1] == responder.position


def test_staleness_is_judged_at_the_instant_asked() -> None:
    rec = Recorder().opened().notified("r1")
    rec.position("r1", 38.2, -84.5, at_s=10, stale_s=30)
    responder = rec.state().responders["r1"]
    assert not responder.is_stale(T0 + 39 * S)
    assert responder.is_stale(T0 + 40 * S)


def test_every_suspect_description_revision_is_kept_in_order() -> None:
    rec = Recorder().opened()
    rec.add(ev.SuspectDescriptionRevised(ev.SuspectDescription(sex="male", top_color="black")), 60)
    rec.add(ev.SuspectDescriptionRevised(ev.SuspectDescription(sex="male", top_color="red")), 120)
    state = rec.state()
    assert [r.rev for r in state.suspect_revisions] == [1, 2]
    assert state.suspect is not None and state.suspect.description.top_color == "red"
    assert state.suspect_revisions[0].description.top_color == "black"
    assert state.suspect.revised_by == "Lt. Hayes"


def test_staging_areas_and_perimeters_can_be_changed_and_removed() -> None:
    rec = Recorder().opened()
    rec.add(
        ev.StagingAreaSet(
            "staging-a", "Staging A (moved)", {"type": "Point", "coordinates": [-84.55, 38.23]}, 80
        )
    )
    rec.add(ev.PerimeterRemoved("inner"))
    state = rec.state()
    assert state.staging_areas["staging-a"].name == "Staging A (moved)"
    assert state.staging_areas["staging-a"].radius_m == 80
    assert "inner" not in state.perimeters


def test_events_about_unknown_responders_are_skipped_not_fatal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rec = Recorder().opened()
    rec.position("ghost", 38.2, -84.5, at_s=5)
    state = rec.state()
    assert state.responders == {}
    assert state.event_count == 4
    assert "ghost" in caplog.text


def test_folding_in_parts_equals_folding_at_once_and_survives_a_snapshot() -> None:
    rec = Recorder().opened().notified("r1", "r2")
    rec.add(ev.ResponderEnRoute("r1"), 5)
    for i in range(20):
        rec.position("r1", 38.2 + i * 1e-4, -84.5, at_s=10 + i)
    rec.add(ev.ResponderArrived("r1", "scene"), 40)
    whole = rec.state()
    for cut in range(len(rec.events) + 1):
        part = replay("inc-1", rec.events[:cut])
        part = decode_state(encode_state(part))  # through a snapshot
        fold(rec.events[cut:], part)
        assert part == whole


def test_state_header_counts() -> None:
    rec = Recorder().opened().notified("r1", "r2", "r3")
    rec.add(ev.ResponderAcknowledged("r1", True), 2)
    rec.add(ev.ResponderAcknowledged("r2", False), 2)
    rec.add(ev.ResponderArrived("r1", "staging", "staging-a"), 30)
    counts = rec.state().counts(T0 + 31 * S)
    assert counts["notified"] == 3
    assert counts["acknowledged"] == 1
    assert counts["declined"] == 1
    assert counts["at_staging"] == 1
    assert counts["arrived_not_checked_in"] == 1
    assert counts["self_dispatched"] == 1


def test_state_encodes_to_builtins_for_json() -> None:
    state = Recorder().opened().notified("r1").state()
    document = msgspec.to_builtins(state)
    assert document["responders"]["r1"]["status"] == "notified"
    assert isinstance(IncidentState(incident_id="x"), IncidentState)


def test_a_device_clock_running_ahead_neither_pins_the_position_nor_keeps_it_fresh() -> None:
    rec = Recorder().opened().notified("r1")
    # The device says "an hour from now" (received at 10 s): capped to the receive time.
    at = T0 + 10 * S
    ahead = ev.ResponderPosition("r1", 38.3, -84.6, at + 3600 * S, at + 3630 * S)
    rec.add(ahead, 10, actor=ev.Actor(ev.ActorKind.DEVICE, "r1"))
    rec.position("r1", 38.2, -84.5, at_s=20)
    responder = rec.state().responders["r1"]
    assert responder.position is not None and responder.position.lat == 38.2  # not pinned
    rec2 = Recorder().opened().notified("r1")
    rec2.add(ahead, 10, actor=ev.Actor(ev.ActorKind.DEVICE, "r1"))
    assert rec2.state().responders["r1"].is_stale(T0 + 41 * S)  # stale 30 s after receipt
