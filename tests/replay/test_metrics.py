"""After-action metrics on hand-built event sequences with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dispatch_console.domain import events as ev
from dispatch_console.domain.geometry import local_frame
from dispatch_console.replay.metrics import STATUSES, Metrics, compute, series
from dispatch_console.replay.timeline import Timeline
from tests.builders import DEVICE, SCHOOL_LAT, SCHOOL_LON, STAGING_A, T0, Recorder, S

INSIDE = (SCHOOL_LAT, SCHOOL_LON)  # the school: inside the inner perimeter
OUTSIDE = (STAGING_A["coordinates"][1], STAGING_A["coordinates"][0])  # staging A
DISPATCHER = ev.Actor(ev.ActorKind.CONSOLE_USER, "Dispatcher A. Moreno")
MONITOR = ev.Actor(ev.ActorKind.SYSTEM, "monitor")


def device(rid: str) -> ev.Actor:
    return ev.Actor(ev.ActorKind.DEVICE, rid)


def entered(rec: Recorder, rid: str, at_s: float, perimeter: str = "inner") -> None:
    kind = "outer" if perimeter == "outer" else "inner"
    rec.add(ev.PerimeterEntered(rid, perimeter, kind), at_s, MONITOR)


def exited(rec: Recorder, rid: str, at_s: float, perimeter: str = "inner") -> None:
    kind = "outer" if perimeter == "outer" else "inner"
    rec.add(ev.PerimeterExited(rid, perimeter, kind), at_s, MONITOR)


def identified(rec: Recorder, rid: str, at_s: float) -> None:
    rec.add(ev.ResponderIdentified(rid, "credentials_in_person", "Sgt. Lee"), at_s)


def test_times_from_activation_counts_and_shares() -> None:
    rec = Recorder().opened()
    rec.add(ev.AlertReceived("a1", "lincoln-hs", "active_shooter", T0 - 5 * S), 0, DEVICE)
    rec.notified("r1", "r2", "r3")
    rec.add(ev.ResponderAcknowledged("r1", True), 5, device("r1"))
    rec.add(ev.ResponderDirected("r2", "staging-a"), 8)
    rec.add(ev.ResponderEnRoute("r1"), 10, device("r1"))
    rec.add(ev.ResponderEnRoute("r2"), 12, device("r2"))
    rec.add(ev.ResponderAcknowledged("r3", False), 15, device("r3"))
    rec.add(ev.AlertAcknowledged("a1", "Dispatcher A. Moreno"), 20, DISPATCHER)
    rec.add(ev.ResponderArrived("r2", "staging", "staging-a"), 90, device("r2"))
    rec.add(ev.ResponderArrived("r1", "scene"), 100, device("r1"))
    identified(rec, "r1", 160)
    rec.add(ev.ResponderAssigned("r1", "contact_team", "Team 1"), 200)

    m = compute(rec.events)
    assert m.activated_at_us == T0 - 5 * S
    assert m.to_acknowledgement_us == 25 * S and m.acknowledged_by == "Dispatcher A. Moreno"
    assert m.to_first_arrival_us == 95 * S
    assert m.to_first_on_scene_us == 105 * S
    assert m.to_first_identified_us == 165 * S
    assert m.to_first_assignment_us == 205 * S
    assert (m.notified, m.responded) == (3, 2)
    assert m.self_dispatched == ("r1",) and m.self_dispatched_share == 0.5
    assert m.never_identified == ("r2",)  # arrived at staging, never checked in
    assert m.bypassed_staging == ()
    assert m.peak_unidentified_inner == 0 and m.peak_unidentified_inner_at_us is None
    assert m.exposure_us == 0 and m.stale_inside_us == 0
    assert (m.start_us, m.end_us) == (T0, T0 + 200 * S)
    assert not m.exercise and m.closed_at_us is None
    labels = dict(m.rows())
    assert labels["Activation to dispatcher acknowledgement"] == "0:25 (m:s)"
    assert labels["Self-dispatched"] == "1 (50% of those who responded)"


def test_what_never_happened_is_none() -> None:
    rec = Recorder().opened()  # no alert: activation is the opening
    rec.notified("r1")
    rec.add(ev.ResponderAcknowledged("r1", False), 30, device("r1"))
    m = compute(rec.events)
    assert m.activated_at_us == T0
    assert m.to_acknowledgement_us is None
    assert m.to_first_arrival_us is None and m.to_first_on_scene_us is None
    assert m.to_first_identified_us is None and m.to_first_assignment_us is None
    assert m.responded == 0 and m.self_dispatched_share is None
    assert dict(m.rows())["Activation to dispatcher acknowledgement"] == "never"


def exposure_incident() -> Recorder:
    """r1 identified while inside; r2 enters twice; r3 released while inside."""
    rec = Recorder().opened()
    rec.notified("r1", "r2", "r3")
    entered(rec, "r1", 100)
    entered(rec, "r2", 100)
    entered(rec, "r3", 120)
    exited(rec, "r2", 130)
    rec.add(ev.ResponderReleased("r3"), 150)
    identified(rec, "r1", 160)  # still inside, identified: exposure ends
    entered(rec, "r2", 200)
    exited(rec, "r2", 230)
    exited(rec, "r1", 300)
    return rec


def test_exposure_identification_inside_re_entry_and_release() -> None:
    m = compute(exposure_incident().events)
    assert m.inside_from == "perimeter_events"
    assert dict(m.exposure_by_responder) == {"r1": 60 * S, "r2": 60 * S, "r3": 30 * S}
    assert m.exposure_us == 150 * S
    assert m.exposure_person_minutes == pytest.approx(2.5)
    assert m.peak_unidentified_inner == 3
    assert m.peak_unidentified_inner_at_us == T0 + 120 * S


def test_a_momentary_count_within_one_instant_is_not_a_peak() -> None:
    rec = Recorder().opened()
    rec.notified("r1", "r2")
    entered(rec, "r1", 100)
    entered(rec, "r2", 150)
    identified(rec, "r2", 150)  # the same instant: never seen as two unidentified inside
    exited(rec, "r1", 200)
    m = compute(rec.events)
    assert m.peak_unidentified_inner == 1
    assert m.peak_unidentified_inner_at_us == T0 + 100 * S
    assert m.exposure_us == 100 * S


def test_all_clear_and_the_last_event_end_exposure() -> None:
    closed = Recorder().opened()
    closed.notified("r1")
    entered(closed, "r1", 100)
    closed.add(ev.IncidentStatusChanged("all_clear"), 160)
    closed.add(ev.ResponderEnRoute("r1"), 400)  # after the all clear: not counted
    m = compute(closed.events)
    assert m.exposure_us == 60 * S and m.closed_at_us == T0 + 160 * S

    running = Recorder().opened()
    running.notified("r1")
    entered(running, "r1", 100)
    running.add(ev.ResponderEnRoute("r1"), 190)
    assert compute(running.events).exposure_us == 90 * S  # clipped at the last event


def test_stale_positions_inside_inner_and_outer_perimeters() -> None:
    rec = Recorder().opened()
    rec.add(ev.PerimeterSet("outer", "outer", {"type": "Point", "coordinates": [-84.54, 38.225]},
                            radius_m=800))  # fmt: skip
    rec.notified("r1", "r2")
    rec.position("r1", *INSIDE, at_s=100)  # stale at 130
    entered(rec, "r1", 100)
    rec.position("r2", *INSIDE, at_s=100)
    entered(rec, "r2", 100, "outer")
    exited(rec, "r2", 160, "outer")  # stale from 130 to 160: 30 s
    rec.position("r1", *INSIDE, at_s=190)  # stale from 130 to 190: 60 s
    exited(rec, "r1", 200)
    m = compute(rec.events)
    assert m.stale_inside_us == 90 * S
    assert m.stale_inside_person_minutes == pytest.approx(1.5)
    assert dict(m.exposure_by_responder) == {"r1": 100 * S}  # the outer perimeter is no hot zone


def test_who_bypassed_staging() -> None:
    rec = Recorder().opened()
    rec.notified("r1", "r2", "r3", "r4", "r5")
    for rid in ("r1", "r2", "r3"):
        rec.add(ev.ResponderDirected(rid, "staging-a"), 10)
    rec.add(ev.ResponderArrived("r1", "scene"), 100, device("r1"))  # directed, went to the school
    rec.add(ev.ResponderArrived("r2", "staging", "staging-a"), 90, device("r2"))
    entered(rec, "r2", 150)  # after staging (e.g. assigned in): not a bypass
    entered(rec, "r3", 120)  # directed, straight into the hot zone
    rec.add(ev.WarningRaised("bypassing_staging:r4:1", "bypassing_staging", "r4", "heading in"), 50)
    rec.add(ev.ResponderArrived("r5", "scene"), 60, device("r5"))  # never directed
    assert compute(rec.events).bypassed_staging == ("r1", "r3", "r4")


def test_inside_from_positions_when_no_perimeter_events() -> None:
    rec = Recorder().opened()
    rec.notified("r1", "r2")
    rec.position("r1", *OUTSIDE, at_s=50)
    rec.position("r1", *INSIDE, at_s=100)
    rec.position("r2", *INSIDE, at_s=100)
    # An older position arriving late does not move r2 out (the fold keeps the newest).
    older = ev.ResponderPosition("r2", *OUTSIDE, T0 + 80 * S, T0 + 110 * S)
    rec.add(older, 110, device("r2"))
    identified(rec, "r1", 130)
    rec.position("r1", *OUTSIDE, at_s=200)
    m = compute(rec.events)
    assert m.inside_from == "positions"
    assert dict(m.exposure_by_responder) == {"r1": 30 * S, "r2": 100 * S}
    assert m.peak_unidentified_inner == 2 and m.peak_unidentified_inner_at_us == T0 + 100 * S
    assert m.stale_inside_us == (70 + 70) * S  # both stale from 130 s: r1 to 200, r2 to 200


def test_a_perimeter_moved_over_responders_counts_them_inside_from_then() -> None:
    rec = Recorder().opened()
    rec.add(ev.PerimeterRemoved("inner"), 0)
    rec.notified("r1")
    rec.position("r1", *OUTSIDE, at_s=50, stale_s=600)
    rec.add(ev.PerimeterSet("inner2", "inner", {"type": "Point", "coordinates": list(
        STAGING_A["coordinates"])}, radius_m=100), 100)  # fmt: skip
    rec.add(ev.ResponderEnRoute("r1"), 160)
    m = compute(rec.events)
    assert m.inside_from == "positions" and m.exposure_us == 60 * S


def test_series_agrees_with_the_state_at_each_instant() -> None:
    rec = exposure_incident()
    rec.position("r1", *INSIDE, at_s=310)
    rec.position("r2", *OUTSIDE, at_s=320)
    events = rec.events
    s = series(events, 10 * S)
    timeline = Timeline(events)
    assert s.times_us[0] == T0 and s.times_us[-1] == timeline.end_us
    assert s.statuses == STATUSES
    frame = local_frame(SCHOOL_LON, SCHOOL_LAT)
    for k, t in enumerate(s.times_us.tolist()):
        state = timeline.state_at(t)
        assert s.status_counts[:, k].sum() == len(state.responders)
        unidentified = sum(
            1
            for r in state.responders.values()
            if "inner" in r.inside_perimeters
            and r.identification is None
            and r.status != "released"
        )
        assert s.unidentified_inner[k] == unidentified, t
        for rid, r in state.responders.items():
            if r.position is None:
                assert rid not in s.responder_ids or math.isnan(s.distance_of(rid)[k])
            else:
                x, y = frame.to_local(r.position.lon, r.position.lat)
                assert s.distance_of(rid)[k] == pytest.approx(math.hypot(x, y), abs=0.01)
    assert int(s.unidentified_inner.max()) == compute(events).peak_unidentified_inner
    assert np.isnan(s.distance_of("r2")[0]) and s.distance_of("r2")[-1] > 300


def test_series_refuses_more_instants_than_it_can_hold() -> None:
    events = exposure_incident().events
    with pytest.raises(ValueError, match="use a longer step"):
        series(events, 1)  # 300 s in microsecond steps
    assert len(series(events, 300 * S).times_us) == 2


def test_metrics_compare_equal_and_refuse_nothing() -> None:
    assert compute(exposure_incident().events) == compute(list(exposure_incident().events))
    with pytest.raises(ValueError):
        compute([])
    assert isinstance(compute(exposure_incident().events), Metrics)
