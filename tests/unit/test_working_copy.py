"""The working copy a batch's commands are checked against: folding into it never touches the
live state, and it ends exactly where a whole deep copy would (every event type)."""

from __future__ import annotations

import pytest

from dispatch_console.domain import events as ev
from dispatch_console.domain.fold import RECORD_LOCAL, WorkingCopy, apply, replay
from dispatch_console.domain.state import IncidentState, copy_state, encode_state
from tests.builders import T0, S
from tests.unit.test_sentences import SAMPLES, _events

#: Both sample responders known first, so that every responder event finds its record.
SETUP = [
    ev.Event(
        n,
        "inc-1",
        ev.ResponderNotified.TYPE,
        T0,
        T0,
        ev.Actor(ev.ActorKind.SYSTEM, "gateway"),
        ev.Source.FEED,
        ev.ResponderNotified(rid, rid),
    )
    for n, rid in enumerate(("and-4dec76", "ios-9b8fec"), 1)
]


def _renumbered(events: list[ev.Event]) -> list[ev.Event]:
    return [
        ev.Event(
            len(SETUP) + n, e.incident_id, e.type, e.occurred_at_us, e.received_at_us, e.actor,
            e.source, e.payload,
        )
        for n, e in enumerate(events, 1)
    ]  # fmt: skip


EVENTS = _renumbered(_events())


def _state_before(index: int) -> IncidentState:
    return replay("inc-1", SETUP + EVENTS[:index])


@pytest.mark.parametrize("index", range(len(EVENTS)), ids=[e.type for e in EVENTS])
def test_one_event_leaves_the_live_state_alone_and_matches_a_deep_copy(index: int) -> None:
    live = _state_before(index)
    before = encode_state(live)
    expected = copy_state(live)
    event = EVENTS[index]
    apply(expected, event)

    working = WorkingCopy(live)
    working.apply(event)

    assert encode_state(live) == before, f"{event.type} changed the live state"
    assert encode_state(working.state) == encode_state(expected)


@pytest.mark.parametrize("start", range(0, len(EVENTS), 4))
def test_a_run_of_events_leaves_the_live_state_alone(start: int) -> None:
    """Several events in turn, record-local ones and then others (the copy becomes whole)."""
    live = _state_before(start)
    before = encode_state(live)
    expected = copy_state(live)
    working = WorkingCopy(live)
    for event in EVENTS[start:]:
        apply(expected, event)
        working.apply(event)
    assert encode_state(live) == before
    assert encode_state(working.state) == encode_state(expected)


def test_the_same_record_twice_is_copied_once_and_keeps_both_changes() -> None:
    live = _state_before(len(EVENTS) // 2)
    working = WorkingCopy(live)
    at = T0 + 500 * S
    actor = ev.Actor(ev.ActorKind.SYSTEM, "monitor")
    for n, lat in enumerate((38.231, 38.232), 1):
        payload = ev.ResponderPosition("and-4dec76", lat, -84.55, at + n, at + 30 * S)
        working.apply(ev.Event(0, "inc-1", payload.TYPE, at + n, at + n, actor,
                               ev.Source.FEED, payload))  # fmt: skip
    copied = working.state.responders["and-4dec76"]
    assert [p.lat for p in copied.track[-2:]] == [38.231, 38.232]
    assert live.responders["and-4dec76"] is not copied
    assert all(p.lat not in (38.231, 38.232) for p in live.responders["and-4dec76"].track)
    # Records no event named are shared, not copied.
    assert working.state.responders["ios-9b8fec"] is live.responders["ios-9b8fec"]


def test_only_record_local_types_are_folded_without_a_whole_copy() -> None:
    assert set(SAMPLES) >= RECORD_LOCAL
    for event in EVENTS:
        working = WorkingCopy(_state_before(EVENTS.index(event)))
        working.apply(event)
        assert working._whole is (event.type not in RECORD_LOCAL)
