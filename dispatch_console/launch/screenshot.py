"""``dispatch-console screenshot``: the console on the demo scenario at a fixed moment, to PNG.

Runs the scenario through a real embedded gateway into a throw-away database (as fast as it
can, up to ``at_s``), then opens the console offscreen on that store with its clock stopped at
that simulated second, and grabs the window. The same seed gives the same incident.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from dispatch_console.app.backend import load_active
from dispatch_console.app.demo_ic import act_payloads
from dispatch_console.app.live import ConsoleState
from dispatch_console.county.load import load_demo_county
from dispatch_console.feeds.keys import SecretBox
from dispatch_console.feeds.server import GatewayThread, Listen
from dispatch_console.importers.roads_geojson import load_roads
from dispatch_console.resources import resource
from dispatch_console.sim.run import run_scenario
from dispatch_console.store import Store
from dispatch_console.ui.shell.main_window import MainWindow
from dispatch_console.ui.shell.theme import THEMES
from dispatch_console.ui.shell.user import User


class _NoSubmit:
    """The screenshot never acts on the incident."""

    def __call__(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("the screenshot console is read-only")


class _FixedClock:
    def __init__(self, now_us: int) -> None:
        self.now_us = now_us

    def __call__(self) -> int:
        return self.now_us


class SimulatedTime:
    """The simulator's clock, for a gateway that runs on simulated time (set at each step)."""

    def __init__(self, now_us: int) -> None:
        self.now_us = now_us

    def __call__(self) -> int:
        return self.now_us

    def set(self, now_us: int) -> None:
        self.now_us = now_us


def simulate_into(store_url: str, scenario: Path, at_s: float, box: SecretBox) -> int:
    """Run ``scenario`` up to ``at_s`` through an embedded gateway on simulated time (as fast as
    it can); return the instant (µs) that simulated second is."""
    store = Store(store_url)
    try:
        county = load_demo_county(store, box, rules=True)
    finally:
        store.close()
    keys = {**county.school_keys, **county.device_keys}
    start_us = (int(time.time()) - int(at_s) - 5) * 1_000_000
    clock = SimulatedTime(start_us)
    gateway = GatewayThread(
        store_url, Listen("127.0.0.1", 0, 0, 0, udp_worker=False), box=box, clock=clock
    )
    gateway.start_and_wait()
    try:
        ports = gateway.gateway.ports
        run_scenario(
            scenario,
            gateway_url=f"http://127.0.0.1:{ports['http']}",
            udp=("127.0.0.1", ports["udp"]),
            tcp=("127.0.0.1", ports["tcp"]),
            keys=keys,
            until_s=at_s,
            start_us=start_us,
            store_url=store_url,
            on_time=clock.set,
            acts=act_payloads,  # the scripted incident commander, as in the demo
        )
    finally:
        gateway.stop()
    return start_us + int(at_s * 1_000_000)


def open_window(
    store_url: str, now_us: int, *, settings_file: Path, theme: str = "night"
) -> MainWindow:
    """A read-only console window on ``store_url`` with its clock stopped at ``now_us``."""
    store = Store(store_url)
    try:
        schools = store.schools()
        loaded = load_active(store)
    finally:
        store.close()
    roads = list(load_roads(resource("demo", "roads.geojson")).imported)
    console = ConsoleState(schools, roads)
    settings = QSettings(str(settings_file), QSettings.Format.IniFormat)
    window = MainWindow(
        console,
        User("Dispatcher A. Moreno", "dispatcher"),
        settings=settings,
        clock=_FixedClock(now_us),
        submit=_NoSubmit(),
        theme=THEMES[theme],
    )
    window.on_loaded(loaded)
    return window


def render_demo_screenshot(
    output: Path,
    scenario: Path,
    *,
    at_s: float = 150.0,
    size: tuple[int, int] = (1920, 1080),
    theme: str = "night",
) -> Path:
    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    with tempfile.TemporaryDirectory(prefix="dispatch-screenshot-") as folder:
        url = f"sqlite:///{Path(folder) / 'screenshot.sqlite3'}"
        box = SecretBox(Path(folder) / "master.key")
        now_us = simulate_into(url, scenario, at_s, box)
        window = open_window(url, now_us, settings_file=Path(folder) / "ui.ini", theme=theme)
        window.resize(*size)
        window.show()
        _run_events(app, 0.6)  # laid out, then the docks sized for the window (short timers)
        window.fit_map()
        window.refresh_now()
        _run_events(app, 0.4)
        output.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(output)):
            raise OSError(f"could not write {output}")
        window.settings.clear()  # the temporary settings are not the user's
        window.close()
        window.deleteLater()
        app.processEvents()
    return output


def _run_events(app: QApplication, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


__all__ = ["open_window", "render_demo_screenshot", "simulate_into"]
