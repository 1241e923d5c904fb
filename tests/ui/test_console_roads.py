"""A console on a store with imported roads draws them without --roads; --roads overrides."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pytestqt.qtbot import QtBot

from dispatch_console.domain.reference import Road
from dispatch_console.launch.console import ConsoleOptions, build_console
from dispatch_console.store import Store
from dispatch_console.ui.shell.user import User

STORED = [
    Road("main", "Main St", "arterial", 20.0, ((-84.56, 38.2), (-84.55, 38.21))),
    Road("elm", "Elm St", "local", 9.0, ((-84.55, 38.2), (-84.54, 38.2), (-84.53, 38.205))),
]


def _drawn(qtbot: QtBot, tmp_path: Path, url: str, roads: Path | None) -> dict[str, int]:
    options = ConsoleOptions(
        url,
        gateway=False,
        roads=roads,
        user=User("Dispatcher A. Moreno", "dispatcher"),
        settings_file=tmp_path / "console.ini",
    )
    console = build_console(options, start_feed=False)
    assert console is not None
    qtbot.addWidget(console.window)
    try:
        curves = console.window.map._roads
        drawn = {}
        for cls, curve in curves.items():
            x, _ = curve.getData()
            drawn[cls] = 0 if x is None else int(np.count_nonzero(~np.isnan(x)))
        return drawn
    finally:
        console.close()


def test_the_console_draws_the_stored_roads_and_roads_overrides_them(
    qtbot: QtBot, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'console.sqlite3'}"
    with Store(url) as store:
        store.replace_roads(STORED)
    # Vertices drawn per class: the stored arterial (2) and local (3) roads.
    assert _drawn(qtbot, tmp_path, url, None) == {"arterial": 2, "collector": 0, "local": 3}

    override = tmp_path / "override.geojson"
    override.write_text(
        json.dumps(
            {
                "type": "Feature",
                "properties": {"name": "Oak", "road_class": "collector"},
                "geometry": {"type": "LineString", "coordinates": [[-84.5, 38.2], [-84.49, 38.2]]},
            }
        )
    )
    assert _drawn(qtbot, tmp_path, url, override) == {"arterial": 0, "collector": 2, "local": 0}


def test_replay_and_report_take_the_stored_roads_unless_a_file_is_given(tmp_path: Path) -> None:
    from dispatch_console.ui.replay.replay_window import roads_for

    assert roads_for(-84.55, 38.2, stored=STORED) == STORED
    override = tmp_path / "one.geojson"
    override.write_text(
        json.dumps(
            {
                "type": "Feature",
                "properties": {"id": "oak"},
                "geometry": {"type": "LineString", "coordinates": [[-84.5, 38.2], [-84.49, 38.2]]},
            }
        )
    )
    assert [r.road_id for r in roads_for(-84.55, 38.2, override, stored=STORED)] == ["oak"]
