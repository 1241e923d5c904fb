#!/usr/bin/env python3
"""Print how fast the road graph builds and routes, on the real county streets and the demo.

    .venv/bin/python tools/bench_road_graph.py [--shared ../shared/data]

Figures only (tests never assert wall-clock times). The aims: a graph of ~5,000 road pieces
built well under a second, a route under 50 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from dispatch_console.county.roads import RoadGraph  # noqa: E402
from dispatch_console.importers.roads_geojson import load_roads  # noqa: E402


def bench(path: Path, routes: int = 50) -> None:
    started = time.perf_counter()
    roads = load_roads(path).imported
    imported = time.perf_counter() - started
    builds = []
    for _ in range(3):
        started = time.perf_counter()
        graph = RoadGraph(roads)
        builds.append(time.perf_counter() - started)
    vertices = sum(len(r.coordinates) for r in roads)
    print(f"{path.name}: {len(roads)} roads, {vertices} vertices -> {graph.node_count} nodes, "
          f"{len(graph.edges)} edges")  # fmt: skip
    print(
        f"  import {imported * 1000:.0f} ms; build median {statistics.median(builds) * 1000:.0f} ms"
    )
    rng = random.Random(1)
    lon0, lat0 = graph.node_lonlat.min(axis=0)
    lon1, lat1 = graph.node_lonlat.max(axis=0)
    graph.route((lon0, lat0), (lon1, lat1))  # the first route builds the spatial index
    times = []
    for _ in range(routes):
        a = (rng.uniform(lon0, lon1), rng.uniform(lat0, lat1))
        b = (rng.uniform(lon0, lon1), rng.uniform(lat0, lat1))
        started = time.perf_counter()
        graph.route(a, b)
        times.append(time.perf_counter() - started)
    times.sort()
    print(f"  route (random ends, {routes}): median {statistics.median(times) * 1000:.1f} ms, "
          f"max {times[-1] * 1000:.1f} ms")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    paths = [
        args.shared / "roads" / "georgetown_ky_streets_20170104.geojson",
        args.shared / "roads" / "scott_county_ky_streets_20170104.geojson",
        ROOT / "resources" / "demo" / "roads.geojson",
    ]
    for path in paths:
        if path.exists():
            bench(path)
        else:
            print(f"{path}: not found, skipped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
