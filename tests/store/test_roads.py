"""Roads in the store (revision 0006): ``import-roads`` replaces them, every console, replay
and report of the store reads them; the audit trail records the import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dispatch_console.cli import main
from dispatch_console.domain import events as ev
from dispatch_console.domain.reference import Road
from dispatch_console.store import Store

ROADS = [
    Road("r1", "Main St", "arterial", 20.0, ((-84.56, 38.2), (-84.55, 38.21))),
    Road("r2", None, "local", 9.0, ((-84.55, 38.2), (-84.54, 38.2), (-84.53, 38.205))),
]


def test_roads_are_replaced_as_a_whole_and_read_back_exactly(store_url: str) -> None:
    with Store(store_url) as store:
        assert store.roads() == []
        assert store.replace_roads(ROADS) == 2
        assert store.roads() == ROADS
        assert store.replace_roads(ROADS[1:]) == 1
        assert store.roads() == ROADS[1:]


def _roads_file(path: Path) -> Path:
    features = [
        {
            "type": "Feature",
            "properties": {"name": r.name, "road_class": r.road_class, "id": r.road_id},
            "geometry": {"type": "LineString", "coordinates": [list(c) for c in r.coordinates]},
        }
        for r in ROADS
    ]
    point = {"type": "Point", "coordinates": [-84.5, 38.2]}
    features.append({"type": "Feature", "properties": {}, "geometry": point})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_import_roads_command_stores_them_reports_and_audits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    file = _roads_file(tmp_path / "roads.geojson")
    assert main(["import-roads", str(file), "--db", db]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "feature 2: rejected: a Point cannot be a road (expected LineString or MultiLineString)",
        f"{file}: 2 imported, 1 rejected, 0 skipped, 0 warnings",
    ]
    with Store(db) as store:
        assert store.roads() == ROADS
        audit = [e.payload for e in store.read(None, types=[ev.RoadsImported.TYPE])]
    assert audit == [ev.RoadsImported(str(tmp_path / "roads.geojson"), 2, 1, 0)]


def test_a_file_with_no_road_leaves_the_stored_roads_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    with Store(db) as store:
        store.replace_roads(ROADS)
    empty = tmp_path / "points.geojson"
    point = {"type": "Point", "coordinates": [-84.5, 38.2]}
    empty.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": point}))
    assert main(["import-roads", str(empty), "--db", db]) != 0
    assert "no roads imported; the stored roads are unchanged" in capsys.readouterr().out
    with Store(db) as store:
        assert store.roads() == ROADS
