"""Replay benchmarks (issue 8): seek in a 2-hour incident of 1,000,000 events, and playback.

Run: ``.venv/bin/python benchmarks/bench_replay.py [--events 1000000] [--responders 700]
[--seeks 50] [--sqlite]``.

1. Synthesizes a 2-hour active-shooter incident as domain events (folded in memory, no store):
   ``--responders`` responders alerted in the first minutes drive towards the school, report a
   position every few seconds (the interval is chosen to reach ``--events``), arrive at
   staging or on scene, get identified and assigned; some enter the inner perimeter.
2. Builds a :class:`~dispatch_console.replay.timeline.Timeline` (one fold of every event, with
   in-memory checkpoints) and times it: the one-time load cost.
3. Times ``state_at`` at ``--seeks`` random instants: median, p95 and max (target: far below
   the 200 ms the issue allows until every panel shows the instant).
4. Playback: 60x at 30 frames per second is 2 s of event time per frame; times the per-frame
   fold (``Cursor.move_to``) over a stretch where ``--playback-responders`` responders move.
5. With ``--sqlite``: writes the events to a SQLite store and times ``Timeline.load`` from it
   (slow: the events are written once, then read and decoded).

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msgspec

from dispatch_console.domain import events as ev
from dispatch_console.replay.metrics import compute, series
from dispatch_console.replay.timeline import Timeline

T0 = 1_795_000_000_000_000
S = 1_000_000
LON, LAT = -84.54, 38.225
M_PER_DEG_LAT = 111_000.0
M_PER_DEG_LON = 111_000.0 * math.cos(math.radians(LAT))
INNER = {
    "type": "Polygon",
    "coordinates": [
        [
            [-84.5423, 38.2236],
            [-84.5377, 38.2236],
            [-84.5377, 38.2264],
            [-84.5423, 38.2264],
            [-84.5423, 38.2236],
        ]
    ],
}
OUTER = {"type": "Point", "coordinates": [LON, LAT]}
STAGING = (-84.5459, 38.2293)

GATEWAY = ev.Actor(ev.ActorKind.SYSTEM, "gateway")
MONITOR = ev.Actor(ev.ActorKind.SYSTEM, "monitor")
IC = ev.Actor(ev.ActorKind.CONSOLE_USER, "Lt. Hayes")
DISPATCHER = ev.Actor(ev.ActorKind.CONSOLE_USER, "Dispatcher A. Moreno")


class Writer:
    """Stored-looking events (consecutive sequence numbers; received = occurred)."""

    def __init__(self, incident_id: str) -> None:
        self.incident_id = incident_id
        self.events: list[ev.Event] = []

    def add(self, payload: ev.Payload, at_us: int, actor: ev.Actor = GATEWAY) -> None:
        source = ev.Source.CONSOLE if actor.kind is ev.ActorKind.CONSOLE_USER else ev.Source.FEED
        self.events.append(
            ev.Event(
                len(self.events) + 1,
                self.incident_id,
                payload.TYPE,
                at_us,
                at_us,
                actor,
                source,
                payload,
            )
        )


def synthesize(
    total: int = 1_000_000, responders: int = 700, duration_s: int = 7200, seed: int = 7
) -> list[ev.Event]:
    """A ``duration_s`` incident of about ``total`` events (see the module docstring)."""
    rng = random.Random(seed)
    end_us = T0 + duration_s * S
    timed: list[tuple[int, int, ev.Payload, ev.Actor]] = []
    order = 0

    def at(t_us: int, payload: ev.Payload, actor: ev.Actor = GATEWAY) -> None:
        nonlocal order
        order += 1
        timed.append((t_us, order, payload, actor))

    at(T0, ev.IncidentOpened("lincoln-hs", "Lincoln High School", "active_shooter", LON, LAT))
    at(T0, ev.AlertReceived("alert-1", "lincoln-hs", "active_shooter", T0 - 2 * S, "J. Ortiz"))
    at(T0, ev.StagingAreaSet("staging-a", "Staging A", {"type": "Point", "coordinates": list(
        STAGING)}, radius_m=80))  # fmt: skip
    at(T0, ev.PerimeterSet("inner", "inner", INNER))
    at(T0, ev.PerimeterSet("outer", "outer", OUTER, radius_m=600))
    at(T0 + 40 * S, ev.AlertAcknowledged("alert-1", "Dispatcher A. Moreno"), DISPATCHER)
    at(T0 + 60 * S, ev.IncidentCommanderAssigned("Lt. Hayes"), IC)
    per_responder = max(10, (total - 40 * responders) // responders)
    interval_us = max(S, ((duration_s - 150) * S) // per_responder)  # they set off late
    for i in range(responders):
        rid = f"r{i:04d}"
        device = ev.Actor(ev.ActorKind.DEVICE, rid)
        notified = T0 + rng.randint(1, 120) * S
        at(notified, ev.ResponderNotified(rid, rid))
        at(notified, ev.DirectiveQueued(f"d-{rid}", rid, rid, "alert", "Go to Staging A"))
        plain = rng.random() < 0.3
        attire = (
            ev.Attire(False, "black", "t-shirt", "blue", None, "none") if plain else ev.Attire(True)
        )
        duty = rng.choice(("on", "off"))
        profile = ev.ResponderProfileReported(
            rid, f"Officer {i}", "Georgetown PD", str(1000 + i), None, duty, rng.random() < 0.7
        )
        at(notified + S, msgspec.structs.replace(profile, attire=attire), device)
        at(notified + S, ev.ResponderRosterChecked(rid, "sworn_active", f"Officer {i}"))
        ack = notified + rng.randint(3, 60) * S
        at(ack, ev.ResponderAcknowledged(rid, True), device)
        directed = rng.random() < 0.5
        if directed:
            at(ack + 5 * S, ev.ResponderDirected(rid, "staging-a"), IC)
        at(ack + 10 * S, ev.ResponderEnRoute(rid), device)
        # Drive from 2-12 km out towards staging (or the school) at 12-20 m/s.
        distance = rng.uniform(2000, 12000)
        bearing = rng.uniform(0, 2 * math.pi)
        x, y = distance * math.cos(bearing), distance * math.sin(bearing)
        to_school = rng.random() < 0.25
        gx, gy = (0.0, 0.0) if to_school else (
            (STAGING[0] - LON) * M_PER_DEG_LON, (STAGING[1] - LAT) * M_PER_DEG_LAT)  # fmt: skip
        speed = rng.uniform(12, 20)
        t = ack + 10 * S + rng.randint(0, interval_us // S) * S
        arrived = inside = False
        identified_at = None
        while t < end_us:
            dx, dy = gx - x, gy - y
            d = math.hypot(dx, dy)
            step = speed * interval_us / S
            if d > step:
                x += dx / d * step
                y += dy / d * step
            else:
                x, y = gx + rng.uniform(-30, 30), gy + rng.uniform(-30, 30)
                if not arrived:
                    arrived = True
                    at(t, ev.ResponderArrived(rid, "scene" if to_school else "staging",
                       None if to_school else "staging-a"), device)  # fmt: skip
                    if to_school and not inside:
                        inside = True
                        at(t, ev.PerimeterEntered(rid, "inner", "inner"), MONITOR)
                    if rng.random() < 0.8:
                        identified_at = t + rng.randint(60, 900) * S
            lon, lat = LON + x / M_PER_DEG_LON, LAT + y / M_PER_DEG_LAT
            at(t, ev.ResponderPosition(rid, lat, lon, t, t + 30 * S, 8.0, speed, 0.0), device)
            if identified_at is not None and t >= identified_at:
                at(t, ev.ResponderIdentified(rid, "credentials_in_person", "Sgt. Lee"), IC)
                if rng.random() < 0.6:
                    at(t + S, ev.ResponderAssigned(rid, "perimeter_post", "Team 1"), IC)
                identified_at = None
                if to_school:  # leaves the school once identified, back to staging
                    gx, gy = (STAGING[0] - LON) * M_PER_DEG_LON, (STAGING[1] - LAT) * M_PER_DEG_LAT
                    to_school = False
            if inside and not to_school and math.hypot(x, y) > 200:
                inside = False
                at(t, ev.PerimeterExited(rid, "inner", "inner"), MONITOR)
            t += interval_us + rng.randint(-S // 2, S // 2)
    timed.sort(key=lambda item: (item[0], item[1]))
    writer = Writer("bench-replay")
    for t_us, _, payload, actor in timed:
        writer.add(payload, t_us, actor)
    return writer.events


def peak_rss_mib() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--responders", type=int, default=700)
    parser.add_argument("--seeks", type=int, default=50)
    parser.add_argument("--checkpoint-every", type=int, default=None)
    parser.add_argument("--playback-responders", type=int, default=500)
    parser.add_argument("--sqlite", action="store_true", help="also write and load a SQLite store")
    parser.add_argument("--metrics", action="store_true", help="also time metrics.compute")
    args = parser.parse_args()

    started = time.perf_counter()
    events = synthesize(args.events, args.responders)
    print(
        f"synthesized {len(events):,} events, {args.responders} responders, "
        f"{(events[-1].occurred_at_us - events[0].occurred_at_us) / S / 3600:.2f} h "
        f"in {time.perf_counter() - started:.1f} s"
    )
    gc.collect()
    kwargs = {} if args.checkpoint_every is None else {"checkpoint_every": args.checkpoint_every}
    started = time.perf_counter()
    timeline = Timeline(events, **kwargs)
    build_s = time.perf_counter() - started
    size = sum(len(c) for c in timeline._checkpoints)
    print(
        f"timeline built (one fold, {len(timeline._checkpoints)} checkpoints every "
        f"{timeline.checkpoint_every:,} events, {size / 2**20:.1f} MiB): {build_s:.2f} s; "
        f"peak memory of the process so far {peak_rss_mib():,.0f} MiB"
    )

    rng = random.Random(1)
    seeks: list[float] = []
    for _ in range(args.seeks):
        t = rng.randint(timeline.start_us, timeline.end_us)
        started = time.perf_counter()
        state = timeline.state_at(t)
        seeks.append((time.perf_counter() - started) * 1000)
        assert state.event_count == timeline.index_at(t)
    print(
        f"state_at at {args.seeks} random instants: median {statistics.median(seeks):.1f} ms, "
        f"p95 {percentile(seeks, 0.95):.1f} ms, max {max(seeks):.1f} ms (target: 200 ms for "
        "every panel)"
    )

    # Playback at 60x, 30 fps: 2 s of event time per frame, over an hour from minute 30 (when
    # every responder is moving or on scene), in an incident of --playback-responders
    # responders each reporting a position every 5 s (the domain notes' rate while moving).
    n = args.playback_responders
    small = Timeline(synthesize(int(n * 7050 / 5) + 40 * n, n), **kwargs)
    moving = small.count_of(ev.ResponderPosition.TYPE) / ((small.end_us - small.start_us) / S)
    start = small.start_us + 1800 * S
    cursor = small.cursor(start)
    frames: list[float] = []
    folded = 0
    for frame in range(1, 60 * 30 + 1):  # one minute of wall time: one hour of event time
        started = time.perf_counter()
        out = cursor.move_to(start + frame * 2 * S)
        frames.append((time.perf_counter() - started) * 1000)
        folded += len(out or ())
    print(
        f"playback 60x at 30 fps, {n} responders ({moving:.0f} "
        f"positions per event second): per-frame fold median {statistics.median(frames):.3f} "
        f"ms, p95 {percentile(frames, 0.95):.3f} ms, max {max(frames):.3f} ms "
        f"({folded / len(frames):.0f} events per frame; a frame has 33 ms)"
    )
    if args.metrics:
        started = time.perf_counter()
        metrics = compute(timeline.events)
        print(
            f"metrics.compute over {len(timeline):,} events: {time.perf_counter() - started:.2f}"
            f" s (exposure {metrics.exposure_person_minutes:.1f} person-minutes)"
        )
        started = time.perf_counter()
        charts = series(timeline.events, 10 * S)
        print(
            f"metrics.series every 10 s ({len(charts.times_us)} instants, "
            f"{len(charts.responder_ids)} distance curves): {time.perf_counter() - started:.2f} s"
        )
    if args.sqlite:
        sqlite_load(events)
    return 0


def sqlite_load(events: list[ev.Event]) -> None:
    from dispatch_console.store import Store

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        with Store(url, clock=lambda: events[-1].received_at_us) as store:
            started = time.perf_counter()
            drafts = [
                ev.EventDraft(e.incident_id, e.occurred_at_us, e.actor, e.source, e.payload)
                for e in events
            ]
            for start in range(0, len(drafts), 20_000):
                store.append(drafts[start : start + 20_000])
            print(f"wrote {len(drafts):,} events to SQLite: {time.perf_counter() - started:.1f} s")
            started = time.perf_counter()
            timeline = Timeline.load(store, events[0].incident_id or "")
            print(
                f"Timeline.load from SQLite (read, decode, fold, checkpoints): "
                f"{time.perf_counter() - started:.1f} s for {len(timeline):,} events"
            )


if __name__ == "__main__":
    raise SystemExit(main())
