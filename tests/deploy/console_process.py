"""A real console in a process of its own, driven over JSON lines (deployment tests, benchmarks).

Run: ``python -m tests.deploy.console_process --db URL --user NAME --role ROLE``.

It builds the console with :func:`build_console` (no embedded gateway: another process runs
it), shows the window offscreen and runs the Qt event loop. On stdout, one JSON line per thing
that happened, written in the GUI thread right after the window handled it:

- ``{"kind": "ready", "last_seq": N}`` once the window has loaded the store;
- ``{"kind": "events", "seqs": [...], "types": [...], "incidents": [...],
  "received_at_us": [...], "seen_us": T}`` per batch the window received (``T``: wall clock,
  microseconds, just after the window applied it);
- ``{"kind": "health", "live": bool, "message": str, "banner": str | None}`` (the banner's
  text if the window shows it);
- ``{"kind": "command_done", "description": str, "ok": bool, "message": str}``;
- ``{"kind": "submitted", "description": str, "incident": ID, "version": N}``: a command
  went to the window's submit path, decided on version ``N`` of the incident;
- ``{"kind": "state", ...}`` answering ``state``; ``{"kind": "error", ...}`` for a bad command.

On stdin, one JSON command a line, run in the GUI thread through the window's own paths:
``{"op": "stage", "incident": ID, "name": NAME, "lon": X, "lat": Y, "radius_m": R}`` (a new
staging area, as the map's editor stores it), ``{"op": "direct", "incident": ID, "responder":
RID, "area": AREA_ID}`` (drag-to-direct on the map), ``{"op": "state", "incident": ID}``,
``{"op": "quit"}``. End of stdin quits too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, TextIO

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QApplication

from dispatch_console.app import commands
from dispatch_console.app.backend import Loaded
from dispatch_console.domain import events as ev
from dispatch_console.domain.state import IncidentState
from dispatch_console.launch.console import Console, ConsoleOptions, build_console
from dispatch_console.ui.shell.user import User


def now_us() -> int:
    return time.time_ns() // 1000


class Driver(QObject):
    """Lives in the GUI thread: reports what the window received, runs stdin's commands."""

    #: A command read from stdin (emitted by the reader thread: queued to the GUI thread).
    command = Signal(object)

    def __init__(self, console: Console, app: QApplication, out: TextIO) -> None:
        super().__init__()
        self.console = console
        self.window = console.window
        self.app = app
        self.out = out
        self.command.connect(self.run)
        # Connected after the window's own slots (build_console connected those): each of ours
        # runs right after the window's for the same emission.
        signals = console.feed.signals
        signals.loaded.connect(self.on_loaded)
        signals.events.connect(self.on_events)
        signals.health.connect(self.on_health)
        console.commands.signals.command_done.connect(self.on_command_done)

    def write(self, record: dict[str, Any]) -> None:
        self.out.write(json.dumps(record, separators=(",", ":")) + "\n")
        self.out.flush()

    @Slot(object)
    def on_loaded(self, loaded: Loaded) -> None:
        self.write({"kind": "ready", "last_seq": loaded.last_seq})

    @Slot(object)
    def on_events(self, events: list[ev.Event]) -> None:
        seen = now_us()
        self.write(
            {
                "kind": "events",
                "seqs": [e.seq for e in events],
                "types": [e.type for e in events],
                "incidents": [e.incident_id for e in events],
                "received_at_us": [e.received_at_us for e in events],
                "seen_us": seen,
            }
        )

    @Slot(bool, str)
    def on_health(self, live: bool, message: str, _unreachable: bool = True) -> None:
        banner = self.window.banner
        shown = None if banner.isHidden() else banner.text()  # after the window's own slot
        self.write({"kind": "health", "live": live, "message": message, "banner": shown})

    @Slot(str, bool, str)
    def on_command_done(self, description: str, ok: bool, message: str) -> None:
        self.write(
            {"kind": "command_done", "description": description, "ok": ok, "message": message}
        )

    @Slot(object)
    def run(self, op: dict[str, Any]) -> None:
        try:
            self._run(op)
        except Exception as exc:  # a bad command is reported; the console carries on
            self.write({"kind": "error", "op": op, "message": f"{type(exc).__name__}: {exc}"})

    def _run(self, op: dict[str, Any]) -> None:
        name = op.get("op")
        if name == "quit":
            self.app.quit()
            return
        state = self._state(str(op["incident"]))
        if name == "state":
            self.write(
                {
                    "kind": "state",
                    "incident": state.incident_id,
                    "last_seq": state.last_seq,
                    "directed_to": {r: s.directed_to for r, s in state.responders.items()},
                    "staging_areas": {a: s.name for a, s in state.staging_areas.items()},
                }
            )
            return
        self.window.selection.focus(state.incident_id)  # what the user acts on
        if name == "stage":
            geometry = commands.point_geometry(float(op["lon"]), float(op["lat"]))
            payloads = commands.set_staging_area(str(op["name"]), geometry, op.get("radius_m"))
            self._submitted("edit staging areas and perimeters", state)
            self.window.store_area_edit(payloads)
        elif name == "direct":
            area = str(op["area"])
            self._submitted(f"direct 1 to {commands.staging_area_name(state, area)}", state)
            self.window.direct_dropped(frozenset({str(op["responder"])}), area)
        else:
            raise ValueError(f"unknown op {name!r}")

    def _state(self, incident_id: str) -> IncidentState:
        state = self.window.console.incidents.get(incident_id)
        if state is None:
            raise KeyError(f"incident {incident_id} is not in this console")
        return state

    def _submitted(self, description: str, state: IncidentState) -> None:
        """The version the window's submit path attaches (the incident's ``last_seq`` now:
        this runs in the GUI thread just before it)."""
        self.write(
            {
                "kind": "submitted",
                "description": description,
                "incident": state.incident_id,
                "version": state.last_seq,
            }
        )


def read_commands(stream: TextIO, driver: Driver) -> None:
    """In a thread of its own: never blocks the GUI thread."""
    for line in stream:
        if not line.strip():
            continue
        try:
            op = json.loads(line)
        except ValueError:
            op = {"op": "invalid", "line": line.strip()}
        driver.command.emit(op if isinstance(op, dict) else {"op": "invalid", "line": line})
    driver.command.emit({"op": "quit"})  # stdin closed: whoever drove this console is gone


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--role", required=True)
    args = parser.parse_args(argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    with tempfile.TemporaryDirectory(prefix="dc-console-") as folder:
        options = ConsoleOptions(
            args.db,
            gateway=False,
            user=User(args.user, args.role),
            settings_file=Path(folder) / "console.ini",  # not the user's own settings
        )
        console = build_console(options, start_feed=False)
        assert console is not None  # the user is given
        try:
            driver = Driver(console, app, sys.stdout)
            console.window.resize(1920, 1080)
            console.window.show()
            threading.Thread(
                target=read_commands, args=(sys.stdin, driver), name="stdin", daemon=True
            ).start()
            console.feed.start()
            return app.exec()
        finally:
            console.close()


if __name__ == "__main__":
    sys.exit(main())
