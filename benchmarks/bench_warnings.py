"""Warning evaluation benchmark: 2,000 responders against 50 areas, after each batch of positions.

Run: ``.venv/bin/python benchmarks/bench_warnings.py [--responders 2000] [--batches 300]
[--share 0.2]``.

The issue's requirement: "warning evaluation for 2,000 responders vs 50 areas after each batch
of positions <= 5 ms median". The incident is ``tests/ui/factory.build_incident`` (a demo
school, every status, 40 % of responders inside the inner perimeter, the black-shirt case)
with 46 more areas: 44 staging areas (polygons and points with a radius) in a ring 300 m to
2.5 km out, and a second building's inner and outer perimeters (50 areas in all).

Each batch is one second: a ``--share`` of the responders with a position report (en-route
ones drive 14 m/s towards the school, present ones wander a few metres), the positions are
folded into the state (not timed), then timed:

- ``derive``: :func:`dispatch_console.domain.monitor.derive` (locate the batch's positions,
  geofence, arrivals, findings, raise/end: what the monitor runs after each batch); its
  events are then folded (not timed) so the next batch starts from an up-to-date state, as
  in the live console;
- ``evaluate``: :func:`dispatch_console.domain.warnings.evaluate` from cold: every position
  located again (the index forgets the ones it located), every finding with its detail;
- ``radio line``: :func:`dispatch_console.domain.warnings.radio_line`.

Also the cold build of the area index (once per change of the areas). Prints figures,
asserts nothing (tests never time anything).
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ui/factory.py
from dispatch_console.domain import events as ev
from dispatch_console.domain.fold import apply, replay
from dispatch_console.domain.lifecycle import PRESENT
from dispatch_console.domain.lifecycle import ResponderStatus as S
from dispatch_console.domain.monitor import MONITOR, derive
from dispatch_console.domain.state import IncidentState
from dispatch_console.domain.warnings import (
    GeofenceIndex,
    evaluate,
    metres_per_degree,
    radio_line,
)
from tests.ui.factory import build_incident

SECOND = 1_000_000
DEVICE = ev.Actor(ev.ActorKind.DEVICE, "bench")


class Events:
    def __init__(self, state: IncidentState) -> None:
        self.state = state
        self.seq = state.last_seq

    def add(self, payload: ev.Payload, at_us: int, actor: ev.Actor = MONITOR) -> None:
        self.seq += 1
        event = ev.Event(
            self.seq, self.state.incident_id, payload.TYPE, at_us, at_us, actor,
            ev.Source.FEED, payload,
        )  # fmt: skip
        apply(self.state, event)


def _polygon(lon: float, lat: float, radius_m: float, kx: float, ky: float) -> ev.Geometry:
    ring = [
        [lon + radius_m * math.cos(a) / kx, lat + radius_m * math.sin(a) / ky]
        for a in (2 * math.pi * k / 8 for k in range(8))
    ]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def add_areas(events: Events, at_us: int, rng: random.Random) -> None:
    """44 staging areas and a second building's two perimeters: 50 areas with the plan's."""
    state = events.state
    kx, ky = metres_per_degree(state.lat)
    for k in range(44):
        angle = rng.uniform(0, 2 * math.pi)
        distance = rng.uniform(300, 2500)
        lon = state.lon + distance * math.cos(angle) / kx
        lat = state.lat + distance * math.sin(angle) / ky
        if k % 2:
            geometry: ev.Geometry = {"type": "Point", "coordinates": [lon, lat]}
            events.add(ev.StagingAreaSet(f"bench-s{k}", f"Staging {k}", geometry, 60.0), at_us)
        else:
            geometry = _polygon(lon, lat, 80.0, kx, ky)
            events.add(ev.StagingAreaSet(f"bench-s{k}", f"Staging {k}", geometry), at_us)
    lon, lat = state.lon + 700 / kx, state.lat + 200 / ky
    events.add(ev.PerimeterSet("bench-inner", "inner", _polygon(lon, lat, 120, kx, ky)), at_us)
    point: ev.Geometry = {"type": "Point", "coordinates": [lon, lat]}
    events.add(ev.PerimeterSet("bench-outer", "outer", point, 450.0), at_us)


def move(events: Events, now_us: int, share: float, rng: random.Random) -> int:
    """One second of reports from ``share`` of the responders with a position."""
    state = events.state
    kx, ky = metres_per_degree(state.lat)
    moved = 0
    for rid, r in state.responders.items():
        pos = r.position
        if pos is None or rng.random() >= share:
            continue
        dx = (state.lon - pos.lon) * kx
        dy = (state.lat - pos.lat) * ky
        left = math.hypot(dx, dy)
        if r.status is S.EN_ROUTE and left > 30:
            step = min(14.0 * 5, left)  # five seconds since its last report
            ex, ey = dx / left * step, dy / left * step
            speed = 14.0
        else:
            ex, ey = rng.gauss(0, 4), rng.gauss(0, 4)
            speed = 0.5 if r.status in PRESENT else 1.5
        heading = math.degrees(math.atan2(ex, ey)) % 360
        payload = ev.ResponderPosition(
            rid, pos.lat + ey / ky, pos.lon + ex / kx, now_us, now_us + 30 * SECOND, 8.0, speed,
            heading,
        )  # fmt: skip
        events.add(payload, now_us, DEVICE)
        moved += 1
    return moved


def figures(name: str, samples: list[float]) -> str:
    ms = sorted(s * 1e3 for s in samples)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    return (
        f"{name:<11} median {statistics.median(ms):6.2f} ms   p95 {p95:6.2f} ms   "
        f"max {ms[-1]:6.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--responders", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--share", type=float, default=0.2, help="share reporting per batch")
    args = parser.parse_args()
    rng = random.Random(3)

    built = build_incident(args.responders)
    state = replay(built.incident_id, built.events)
    events = Events(state)
    now = built.now_us
    add_areas(events, now, rng)
    areas = len(state.staging_areas) + len(state.perimeters)

    cold = []
    for _ in range(20):
        t = time.perf_counter()
        GeofenceIndex(state.lon, state.lat, state.staging_areas.values(), state.perimeters.values())
        cold.append(time.perf_counter() - t)
    for payload in derive(state, now):  # the state the monitor keeps up to date
        events.add(payload, now)

    index = GeofenceIndex.for_state(state)
    timed: dict[str, list[float]] = {"derive": [], "evaluate": [], "radio line": []}
    derived = findings = moved = 0
    gc.collect()
    for _ in range(args.batches):
        now += SECOND
        moved += move(events, now, args.share, rng)
        t = time.perf_counter()
        payloads = derive(state, now)
        timed["derive"].append(time.perf_counter() - t)
        index._seen.clear()  # every position located again: the whole evaluation, cold
        t = time.perf_counter()
        found = evaluate(state, now)
        timed["evaluate"].append(time.perf_counter() - t)
        t = time.perf_counter()
        radio_line(state, now)
        timed["radio line"].append(time.perf_counter() - t)
        findings += len(found)
        derived += len(payloads)
        for payload in payloads:
            events.add(payload, now)

    n = args.batches
    print(
        f"{len(state.responders)} responders, {areas} areas, {n} batches of "
        f"{moved / n:.0f} positions; {findings / n:.0f} findings and {derived / n:.1f} derived "
        f"events per batch; {len(state.active_warnings())} active warnings at the end"
    )
    print(figures("index build", cold))
    for name, samples in timed.items():
        print(figures(name, samples))
    for name in ("derive", "evaluate"):
        median_ms = statistics.median(timed[name]) * 1e3
        verdict = "meets" if median_ms <= 5.0 else "MISSES"
        print(f"{name} median {median_ms:.2f} ms {verdict} the 5 ms target")


if __name__ == "__main__":
    main()
