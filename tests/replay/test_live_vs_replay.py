"""Done when: replaying a simulated scenario gives what the live console showed, and the same
metrics.

The live side is the console's own fold (``ConsoleState``, as the window keeps it), captured
while the run goes on, right after each read of the store (:class:`LiveSnapshot`: a copy of the
state and the run's clock then). The replay side is a :class:`Timeline` loaded from the store
afterwards: its state at each of those instants, and the after-action metrics of the events it
folds up to each. A replay that differs from what the console showed fails: the test checks that
its comparison catches a replay missing one event.
"""

from __future__ import annotations

from collections.abc import Callable

from dispatch_console.domain import events as ev
from dispatch_console.domain.state import IncidentState
from dispatch_console.replay.metrics import Metrics, compute, series
from dispatch_console.replay.timeline import Timeline
from tests.replay.scripted import LiveRun, LiveSnapshot, run_live
from tests.sim.conftest import SimGateway

S = 1_000_000


def _live_figures(state: IncidentState) -> dict[str, object]:
    """Figures the console's state shows (the header's counts, the responders table)."""
    responders = state.responders.values()
    return {
        "notified": len(state.responders),
        "responded": sum(r.en_route_at_us is not None for r in responders),
        "self_dispatched": tuple(sorted(r.responder_id for r in responders if r.self_dispatched)),
        "never_identified": tuple(
            sorted(
                r.responder_id
                for r in responders
                if r.arrived_at_us is not None and r.identification is None
            )
        ),
        "acknowledged": any(a.acknowledged_at_us is not None for a in state.alerts.values()),
        "identified": any(r.identification is not None for r in responders),
    }


def _replay_figures(metrics: Metrics) -> dict[str, object]:
    """The same figures from the after-action metrics of a replay."""
    return {
        "notified": metrics.notified,
        "responded": metrics.responded,
        "self_dispatched": metrics.self_dispatched,
        "never_identified": metrics.never_identified,
        "acknowledged": metrics.to_acknowledgement_us is not None,
        "identified": metrics.to_first_identified_us is not None,
    }


def _differences(snapshots: list[LiveSnapshot], timeline: Timeline) -> tuple[list[str], int]:
    """Where the replay differs from what the console showed, and at how many instants the
    replay's state at the instant was compared whole.

    At each instant ``t`` of a snapshot the replay's ``state_at(t)`` must be the console's state
    then, and the replay's metrics up to ``t`` must give the console's figures. An event stored
    after the console's read but stamped at or before ``t`` (a late UDP report) is in the replay
    at ``t`` by design (the module docstring of ``replay.timeline``): at such an instant the
    replay's state after exactly the events the console had is compared instead."""
    found: list[str] = []
    whole = 0
    seqs = [e.seq for e in timeline.events]
    for snap in snapshots:
        live = snap.state
        at = timeline.index_at(snap.at_us)
        replayed = timeline.state_at(snap.at_us)
        if replayed.last_seq > live.last_seq:  # late events: compare the console's prefix
            at = sum(seq <= live.last_seq for seq in seqs)
            replayed = timeline.state_after(at)
        else:
            whole += 1
        when = f"t={(snap.at_us - timeline.start_us) / S:.1f} s"
        if replayed != live:
            changed = sorted(
                rid
                for rid in live.responders.keys() | replayed.responders.keys()
                if live.responders.get(rid) != replayed.responders.get(rid)
            )
            found.append(
                f"{when}: live state (last seq {live.last_seq}, {live.event_count} events) != "
                f"replay (last seq {replayed.last_seq}, {replayed.event_count} events); "
                f"responders differing: {changed[:5]}"
            )
        if at:
            live_figures = _live_figures(live)
            replay_figures = _replay_figures(compute(timeline.events[:at]))
            if live_figures != replay_figures:
                diff = {
                    k: (v, replay_figures[k])
                    for k, v in live_figures.items()
                    if replay_figures[k] != v
                }
                found.append(f"{when}: figures live != replay: {diff}")
    return found, whole


def _live_run(sim_gateway: Callable[..., SimGateway]) -> tuple[LiveRun, SimGateway]:
    gateway = sim_gateway()
    return run_live(gateway, "black_shirt"), gateway


def test_replay_of_a_simulated_scenario_gives_what_the_live_console_showed(
    sim_gateway: Callable[..., SimGateway],
) -> None:
    live, gateway = _live_run(sim_gateway)
    store = gateway.store
    # What the console saw, batch by batch during the run, is what the store holds.
    stored = list(store.read(live.incident_id))
    assert [e.seq for e in live.seen] == [e.seq for e in stored]
    timeline = Timeline.load(store, live.incident_id, checkpoint_every=50)

    # At every read during the run (every 5 simulated seconds), the replay at that instant is
    # what the console's own fold showed then, and its metrics give the console's figures.
    snapshots = live.snapshots
    assert len(snapshots) >= 10
    assert len({s.state.last_seq for s in snapshots}) == len(snapshots)  # each a new moment
    differences, whole = _differences(snapshots, timeline)
    assert differences == []
    assert whole >= len(snapshots) // 2, f"only {whole} instants compared whole"
    # The instants span the run: before the acknowledgement, identification and the end.
    shown = [_live_figures(s.state) for s in snapshots]
    assert not shown[0]["acknowledged"] and shown[-1]["acknowledged"]
    assert not shown[0]["identified"] and shown[-1]["identified"]

    live_metrics = compute(live.seen)
    replayed = compute(timeline.events)
    assert replayed == live_metrics
    # The figures say something: the scenario's officers went in unidentified.
    assert replayed.to_acknowledgement_us is not None
    assert replayed.to_first_on_scene_us is not None
    assert replayed.to_first_identified_us is not None
    assert replayed.to_first_assignment_us is not None
    assert replayed.self_dispatched and replayed.never_identified
    assert "and-aaff56" in replayed.bypassed_staging  # directed, went to the school anyway
    # From the monitor's perimeter events when the gateway runs one, else from positions.
    assert replayed.inside_from in ("perimeter_events", "positions")
    assert replayed.peak_unidentified_inner >= 1 and replayed.exposure_us > 0
    assert replayed.closed_at_us is not None

    # The state at the end: the console's, the timeline's and the store's agree.
    end_state = timeline.state_at(timeline.end_us)
    assert end_state == store.state_at(live.incident_id)
    assert end_state == live.console.incidents[live.incident_id]
    charts = series(timeline.events, 5 * S)
    assert int(charts.unidentified_inner.max()) == replayed.peak_unidentified_inner

    # A replay that differs from the live run is caught (the comparison can fail).
    identified = next(e for e in stored if isinstance(e.payload, ev.ResponderIdentified))
    tampered = Timeline([e for e in stored if e.seq != identified.seq], checkpoint_every=50)
    differences, _ = _differences(snapshots, tampered)
    assert differences, "a replay missing the identification was not caught"
    assert any("figures live != replay" in d and "never_identified" in d for d in differences)
    assert any("live state" in d and identified.payload.responder_id in d for d in differences)  # type: ignore[attr-defined]
