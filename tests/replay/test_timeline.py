"""Timeline: the state at any instant is the fold of the events up to it (checked against a
naive fold), on a factory incident whose event times are scrambled."""

from __future__ import annotations

import itertools
import random

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch_console.domain import events as ev
from dispatch_console.domain.fold import replay
from dispatch_console.domain.state import IncidentState
from dispatch_console.replay.timeline import Timeline, TimelineError
from tests.builders import T0, Recorder, S
from tests.ui.factory import build_incident

BASE = build_incident(30, seed=3, minutes=8.0).events


def naive_state(events: list[ev.Event], t_us: int) -> IncidentState:
    """Written apart from the timeline: fold events in sequence order while the running
    maximum of their event times stays at or before ``t_us``."""
    chosen: list[ev.Event] = []
    running = None
    for e in events:
        running = e.occurred_at_us if running is None else max(running, e.occurred_at_us)
        if running > t_us:
            break
        chosen.append(e)
    return replay(events[0].incident_id or "", chosen)


def scrambled(seed: int, spread_s: int) -> list[ev.Event]:
    """The factory's events with event times moved up to ``spread_s`` either way (device
    clocks ahead and behind, late batches); sequence order and received times unchanged."""
    rng = random.Random(seed)
    out = []
    for e in BASE:
        shift = rng.randint(-spread_s, spread_s) * S if rng.random() < 0.3 else 0
        out.append(msgspec.structs.replace(e, occurred_at_us=e.occurred_at_us + shift))
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    spread_s=st.sampled_from([0, 3, 30, 120]),
    every=st.sampled_from([1, 7, 50, 100_000]),
    picks=st.lists(st.floats(-0.05, 1.05), min_size=3, max_size=8),
)
def test_state_at_equals_the_naive_fold(
    seed: int, spread_s: int, every: int, picks: list[float]
) -> None:
    events = scrambled(seed, spread_s)
    timeline = Timeline(events, checkpoint_every=every)
    span = timeline.end_us - timeline.start_us
    instants = [timeline.start_us + int(p * span) for p in picks]
    instants += [timeline.time_of(i) for i in (0, len(events) // 2, len(events) - 1)]
    for t in instants:
        expected = naive_state(events, t)
        got = timeline.state_at(t)
        assert got == expected, t
        assert got.event_count == timeline.index_at(t)


def test_in_order_events_replay_exactly_the_events_up_to_the_instant() -> None:
    timeline = Timeline(BASE, checkpoint_every=40)
    rng = random.Random(5)
    for _ in range(30):
        t = rng.randint(timeline.start_us - S, timeline.end_us + S)
        upto = [e for e in BASE if e.occurred_at_us <= t]
        assert timeline.state_at(t) == replay(BASE[0].incident_id or "", upto)
    assert timeline.final_state == replay(BASE[0].incident_id or "", BASE)


def test_a_late_event_waits_for_the_events_the_console_saw_first() -> None:
    rec = Recorder().opened()
    rec.notified("r1")
    rec.add(ev.ResponderEnRoute("r1"), 10)
    late = rec.add(ev.ResponderAcknowledged("r1", True), 20)
    rec.events[-1] = msgspec.structs.replace(late, occurred_at_us=T0 + 5 * S)  # sent late
    rec.add(ev.ResponderArrived("r1", "scene"), 30)
    timeline = Timeline(rec.events)
    times = [timeline.time_of(i) for i in range(len(rec.events))]
    assert times[-3:] == [T0 + 10 * S, T0 + 10 * S, T0 + 30 * S]
    assert timeline.state_at(T0 + 9 * S).responders["r1"].acknowledged_at_us is None
    at_10 = timeline.state_at(T0 + 10 * S).responders["r1"]
    assert at_10.status == "en_route" and at_10.acknowledged_at_us == T0 + 5 * S
    # Received times play no part in the time axis.
    shifted = [msgspec.structs.replace(e, received_at_us=e.received_at_us + 3600 * S) for e in
               rec.events]  # fmt: skip
    assert [Timeline(shifted).time_of(i) for i in range(len(shifted))] == times


def test_index_events_between_and_steps_to_events_of_a_kind() -> None:
    timeline = Timeline(BASE)
    times = [timeline.time_of(i) for i in range(len(timeline))]
    assert timeline.index_at(timeline.start_us - 1) == 0
    assert timeline.index_at(timeline.end_us) == len(BASE)
    # Consecutive windows fold every event once.
    cuts = [timeline.start_us - 1, *range(timeline.start_us, timeline.end_us, 7 * S)]
    cuts.append(timeline.end_us)
    stitched = [e for a, b in itertools.pairwise(cuts) for e in timeline.events_between(a, b)]
    assert stitched == list(BASE)

    kinds = {ev.ResponderArrived.TYPE, ev.ResponderIdentified.TYPE}
    marks = sorted({times[i] for i, e in enumerate(BASE) if e.type in kinds})
    assert len(marks) >= 2
    assert timeline.next_time(timeline.start_us, kinds) == marks[0]
    assert timeline.next_time(marks[0], kinds) == marks[1]
    assert timeline.next_time(marks[-1], kinds) is None
    assert timeline.previous_time(marks[1], kinds) == marks[0]
    assert timeline.previous_time(marks[0], kinds) is None
    assert timeline.previous_time(marks[0] + 1, kinds) == marks[0]
    assert timeline.next_time(timeline.start_us) == min(t for t in times if t > timeline.start_us)
    assert timeline.previous_time(timeline.start_us) is None
    assert timeline.next_time(timeline.start_us, {"no_such_type"}) is None
    assert timeline.count_of(ev.ResponderArrived.TYPE) == sum(
        e.type == ev.ResponderArrived.TYPE for e in BASE
    )


def test_trail_is_the_positions_reported_in_the_window() -> None:
    timeline = Timeline(BASE)
    rid = "r002"
    mine = [
        (timeline.time_of(i), e.payload)
        for i, e in enumerate(BASE)
        if isinstance(e.payload, ev.ResponderPosition) and e.payload.responder_id == rid
    ]
    t = mine[20][0]
    window = 60 * S
    expected = [(p.at_us, p.lon, p.lat) for at, p in mine if t - window < at <= t]
    trail = timeline.trail(rid, t, window)
    assert trail == expected and len(trail) >= 2
    assert timeline.trail(rid, timeline.start_us, window) == []
    assert timeline.trail("nobody", t, window) == []
    assert rid in timeline.responders_with_positions()


def test_cursor_moves_forward_by_folding_and_back_by_rebuilding() -> None:
    timeline = Timeline(BASE, checkpoint_every=100)
    assert len(BASE) > 300
    cursor = timeline.cursor()
    t = timeline.start_us
    while t < timeline.end_us:
        t += 2 * S
        folded = cursor.move_to(t)
        assert folded is not None  # small steps fold in place
        assert cursor.state == timeline.state_at(t)
    assert cursor.move_to(t) == []
    assert cursor.move_to(timeline.start_us + 60 * S) is None  # backwards: rebuilt
    assert cursor.state == timeline.state_at(timeline.start_us + 60 * S)
    assert cursor.move_to(timeline.end_us) is None  # far ahead: from a checkpoint
    assert cursor.state == timeline.final_state


def test_state_at_returns_a_new_state_each_time() -> None:
    timeline = Timeline(BASE)
    first = timeline.state_at(timeline.end_us)
    first.responders.clear()
    assert timeline.state_at(timeline.end_us).responders


def test_a_timeline_needs_events_of_one_incident() -> None:
    with pytest.raises(TimelineError):
        Timeline([])
    other = Recorder("inc-2").opened().events
    with pytest.raises(TimelineError):
        Timeline([*Recorder().opened().events, *other])
