"""Replay window benchmarks (issue 8): playback frames and seeks with every panel refreshed.

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_playback.py
[--events 1000000] [--responders 700] [--playback-responders 500] [--frames 600] [--seeks 30]``

Incidents are synthesized in memory by ``benchmarks/bench_replay.py``'s ``synthesize`` (a 2-hour
active-shooter incident near Lincoln High School: responders drive in, report positions every
few seconds, arrive, get identified and assigned, some enter the inner perimeter).

1. **Playback at 60x**, ``--playback-responders`` responders moving: the replay window
   (1920x1080, offscreen, night theme, charts shown) plays from T+30 min. One frame is what the
   play timer does: the instant moves by 60 × 1/30 s = 2 s of event time, the events in between
   are folded into the console (``ConsoleState.apply``), every panel is refreshed with what
   changed, and the window is painted (``processEvents``: Qt repaints what was updated; and, as
   a pessimistic second figure, a forced ``repaint()`` of the whole window). Frames per second
   = 1 / frame time (target: at least 30).
2. **Seek** in the ``--events`` incident: ``ReplayWindow.seek`` at random instants (state at the
   instant from the timeline's checkpoints, trails of the last 5 minutes, the event log's last
   50,000 events, the map and the event log reloaded, every panel refreshed) and the paint that
   follows. Target: at most 200 ms until every panel shows the instant.

Prints figures; asserts nothing. The first seek and the first frames warm caches: the figures
are medians, p95 and max over the rest.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_replay import synthesize  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from dispatch_console.domain import events as ev  # noqa: E402
from dispatch_console.replay.timeline import Timeline  # noqa: E402
from dispatch_console.ui.replay.replay_window import ReplayWindow, fill_console, roads_for  # noqa: E402

S = 1_000_000
LON, LAT = -84.54, 38.225


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def figures(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.1f} ms, p95 {percentile(values, 0.95):.1f} ms, "
        f"max {max(values):.1f} ms"
    )


def open_window(app: QApplication, timeline: Timeline, folder: Path) -> tuple[ReplayWindow, float]:
    from tests.ui.factory import demo_schools

    settings = QSettings(str(folder / "bench.ini"), QSettings.Format.IniFormat)
    started = time.perf_counter()
    window = ReplayWindow(
        timeline, schools=demo_schools(), roads=roads_for(LON, LAT), settings=settings
    )
    window.resize(1920, 1080)
    window.show()
    for _ in range(5):
        app.processEvents()
    return window, time.perf_counter() - started


def playback(app: QApplication, responders: int, frames: int, folder: Path) -> None:
    events = synthesize(total=responders * 2000, responders=responders)
    timeline = Timeline(events)
    positions = sum(1 for e in events if e.type == ev.ResponderPosition.TYPE)
    per_s = positions / ((timeline.end_us - timeline.start_us) / S)
    window, opened_s = open_window(app, timeline, folder)
    print(
        f"playback incident: {len(events):,} events, {responders} responders, "
        f"{per_s:.0f} positions per event second; window opened in {opened_s:.1f} s"
    )
    window.seek(timeline.start_us + 1800 * S)
    window.fit_map()
    window.set_speed(60.0)
    for forced in (False, True):
        times: list[float] = []
        apply_ms: list[float] = []
        folded = 0
        gc.collect()
        for frame in range(frames + 10):
            before = window.instant_us
            started = time.perf_counter()
            window.tick(1 / 30)  # fold + refresh every panel
            ticked = time.perf_counter()
            if forced:
                window.repaint()
            app.processEvents()  # paint what changed
            done = time.perf_counter()
            if frame >= 10:
                times.append((done - started) * 1000)
                apply_ms.append((ticked - started) * 1000)
                folded += timeline.index_at(window.instant_us) - timeline.index_at(before)
        if window.instant_us >= timeline.end_us:
            print("  (reached the end of the incident: fewer events in the last frames)")
        fps = 1000 / statistics.median(times)
        mean_fps = 1000 * len(times) / sum(times)
        what = "forced full-window repaint" if forced else "Qt repaints what changed"
        print(
            f"  60x, {what}: frame {figures(times)} -> {fps:.0f} fps median, "
            f"{mean_fps:.0f} fps mean ({folded / len(times):.0f} events per frame; fold + panels "
            f"median {statistics.median(apply_ms):.1f} ms)"
        )
    window.settings.clear()
    window.close()
    window.deleteLater()
    app.processEvents()


def seeking(app: QApplication, total: int, responders: int, seeks: int, folder: Path) -> None:
    started = time.perf_counter()
    events = synthesize(total=total, responders=responders)
    synth_s = time.perf_counter() - started
    started = time.perf_counter()
    timeline = Timeline(events)
    build_s = time.perf_counter() - started
    span_h = (timeline.end_us - timeline.start_us) / S / 3600
    print(
        f"seek incident: {len(events):,} events, {responders} responders, {span_h:.2f} h "
        f"(synthesized in {synth_s:.1f} s, timeline built in {build_s:.1f} s)"
    )
    window, opened_s = open_window(app, timeline, folder)
    print(
        f"  window opened (charts' series of {len(events):,} events included) in {opened_s:.1f} s"
    )
    rng = random.Random(3)
    instants = [rng.randint(timeline.start_us, timeline.end_us) for _ in range(seeks + 1)]
    total_ms: list[float] = []
    seek_ms: list[float] = []
    paint_ms: list[float] = []
    for k, t in enumerate(instants):
        gc.collect()
        started = time.perf_counter()
        window.seek(t)
        sought = time.perf_counter()
        app.processEvents()
        done = time.perf_counter()
        if k:
            total_ms.append((done - started) * 1000)
            seek_ms.append((sought - started) * 1000)
            paint_ms.append((done - sought) * 1000)
        counts = timeline.state_at(t).counts(t)
        assert window.header.text_of("notified") == str(counts["notified"])
    print(f"  seek until every panel is painted: {figures(total_ms)} (target: 200 ms)")
    print(
        f"    of which rebuild + refresh every panel: {figures(seek_ms)}; paint {figures(paint_ms)}"
    )
    # Where the time goes, at the same instants, without the views.
    parts: dict[str, list[float]] = {"state_at": [], "console (state, trails, log)": []}
    for t in instants[1:]:
        started = time.perf_counter()
        timeline.state_at(t)
        parts["state_at"].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        fill_console(window.console, timeline, t, index=window.index)
        parts["console (state, trails, log)"].append((time.perf_counter() - started) * 1000)
    for name, values in parts.items():
        print(f"    {name}: {figures(values)}")
    window.settings.clear()
    window.close()
    window.deleteLater()
    app.processEvents()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--responders", type=int, default=700)
    parser.add_argument("--playback-responders", type=int, default=500)
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--seeks", type=int, default=30)
    parser.add_argument("--skip-seek", action="store_true")
    parser.add_argument("--skip-playback", action="store_true")
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-playback-") as name:
        folder = Path(name)
        if not args.skip_playback:
            playback(app, args.playback_responders, args.frames, folder)
        if not args.skip_seek:
            seeking(app, args.events, args.responders, args.seeks, folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
