"""``dispatch-console replay``: the replay window on one incident of a store, run until closed.

Reads the incident's place and roads from the store once, builds the window and runs the event
loop; the window itself (:mod:`dispatch_console.ui.replay.replay_window`) is only a view.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QTimer

from dispatch_console.launch.console import ORGANIZATION, qt_application
from dispatch_console.store import Store
from dispatch_console.ui.replay.replay_window import ReplayWindow, incident_place, roads_for
from dispatch_console.ui.shell.theme import THEMES

#: Where the replay keeps its window layout (apart from the live console's).
REPLAY_APPLICATION = "Dispatch Console Replay"


def run_replay(
    store_url: str | None,
    incident_id: str,
    *,
    start_us: int | None = None,
    speed: float = 10.0,
    roads_file: Path | None = None,
    theme: str | None = None,
    settings_file: Path | None = None,
    quit_after_s: float | None = None,
) -> int:
    """Open the replay window on ``incident_id`` and run until it is closed."""
    app = qt_application(REPLAY_APPLICATION, "replay")
    settings = (
        QSettings(str(settings_file), QSettings.Format.IniFormat)
        if settings_file is not None
        else QSettings(ORGANIZATION, REPLAY_APPLICATION)
    )
    store = Store(store_url)
    try:
        place = incident_place(store, incident_id)
        stored = store.roads() if roads_file is None else []
        roads = roads_for(*place, roads_file, stored=stored) if place is not None else stored
        window = ReplayWindow.load(
            store,
            incident_id,
            settings=settings,
            roads=roads,
            start_us=start_us,
            theme=THEMES.get(theme or ""),
        )
    finally:
        store.close()
    window.set_speed(speed)
    if not window.restored:
        window.resize(1920, 1080)
    window.show()
    window.fit_map()
    if quit_after_s is not None:
        QTimer.singleShot(int(quit_after_s * 1000), window.close)
    return int(app.exec())
