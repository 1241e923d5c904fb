"""Done when: replaying a simulated scenario gives the same metrics as the live run of it."""

from __future__ import annotations

from collections.abc import Callable

from dispatch_console.replay.metrics import compute, series
from dispatch_console.replay.timeline import Timeline
from tests.replay.scripted import run_live
from tests.sim.conftest import SimGateway

S = 1_000_000


def test_replay_of_a_simulated_scenario_gives_the_live_metrics(
    sim_gateway: Callable[..., SimGateway],
) -> None:
    gateway = sim_gateway()
    live = run_live(gateway, "black_shirt")
    store = gateway.store
    # What the console saw, batch by batch during the run, is what the store holds.
    stored = list(store.read(live.incident_id))
    assert [e.seq for e in live.seen] == [e.seq for e in stored]

    live_metrics = compute(live.seen)
    timeline = Timeline.load(store, live.incident_id)
    replayed = compute(timeline.events)
    assert replayed == live_metrics

    # The figures say something: the scenario's officers went in unidentified.
    assert live_metrics.to_acknowledgement_us is not None
    assert live_metrics.to_first_on_scene_us is not None
    assert live_metrics.to_first_identified_us is not None
    assert live_metrics.to_first_assignment_us is not None
    assert live_metrics.self_dispatched and live_metrics.never_identified
    assert "and-aaff56" in live_metrics.bypassed_staging  # directed, went to the school anyway
    # From the monitor's perimeter events when the gateway runs one, else from positions.
    assert live_metrics.inside_from in ("perimeter_events", "positions")
    assert live_metrics.peak_unidentified_inner >= 1 and live_metrics.exposure_us > 0
    assert live_metrics.closed_at_us is not None

    # The state at the end: the console's, the timeline's and the store's agree.
    end_state = timeline.state_at(timeline.end_us)
    assert end_state == store.state_at(live.incident_id)
    assert end_state == live.console.incidents[live.incident_id]
    # ... and at instants on the way, the timeline replays what the console had seen then.
    for fraction in (0.1, 0.35, 0.6, 0.9):
        t = timeline.start_us + int(fraction * (timeline.end_us - timeline.start_us))
        assert timeline.state_at(t).event_count == timeline.index_at(t)
    charts = series(timeline.events, 5 * S)
    assert int(charts.unidentified_inner.max()) == live_metrics.peak_unidentified_inner
