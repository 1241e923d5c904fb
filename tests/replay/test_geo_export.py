"""KML (Google Earth's time slider) and GeoJSON exports of an incident, parsed back."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from dispatch_console.cli import main
from dispatch_console.domain import events as ev
from dispatch_console.domain.timeutil import iso
from dispatch_console.store import Store
from tests.builders import IC, T0, Recorder, S

NS = {"k": "http://www.opengis.net/kml/2.2", "gx": "http://www.google.com/kml/ext/2.2"}


def _incident(db: str) -> None:
    rec = Recorder().opened().notified("r1", "r2", "r3")
    for i in range(3):
        rec.position("r1", 38.22 + i / 1000, -84.55, at_s=10 + i)
    rec.position("r2", 38.23, -84.54, at_s=20)
    rec.position("r2", 38.229, -84.541, at_s=15)  # older: stored, but not part of the track
    rec.position("r2", 38.231, -84.539, at_s=25)
    # r3 reports no position: no track.
    rec.add(
        ev.WarningRaised("w1", "unidentified_in_inner_perimeter", "r1", "r1 inside, unidentified"),
        12,
    )
    rec.add(ev.WarningEnded("w1", "identified"), 40)
    with Store(db) as store:
        store.set_user(IC.name, "incident commander")
        store.append(rec.drafts())


def test_kml_and_kmz_have_one_time_stamped_track_per_responder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    _incident(db)
    kml = tmp_path / "inc.kml"
    assert main(["export-kml", "inc-1", "-o", str(kml), "--db", db]) == 0
    assert "2 responder tracks, 5 positions, 1 warnings" in capsys.readouterr().out
    kmz = tmp_path / "inc.kmz"
    assert main(["export-kml", "inc-1", "-o", str(kmz), "--db", db]) == 0
    with zipfile.ZipFile(kmz) as zf:
        assert zf.namelist() == ["doc.kml"]
        assert zf.read("doc.kml") == kml.read_bytes()

    root = etree.fromstring(kml.read_bytes())
    tracks = root.findall(".//gx:Track", NS)
    names = [t.getparent().findtext("k:name", namespaces=NS) for t in tracks]
    assert names == ["r1", "r2"]
    whens = [[w.text for w in t.findall("k:when", NS)] for t in tracks]
    assert whens == [
        [iso(T0 + s * S) for s in (10, 11, 12)],
        [iso(T0 + s * S) for s in (20, 25)],
    ]
    coords = [[c.text for c in t.findall("gx:coord", NS)] for t in tracks]
    assert [len(c) for c in coords] == [3, 2]
    assert coords[1][0] == "-84.5400000 38.2300000 0"

    (warning,) = root.xpath("//k:Folder[k:name='Warnings']/k:Placemark", namespaces=NS)
    assert warning.findtext("k:TimeStamp/k:when", namespaces=NS) == iso(T0 + 12 * S)
    # r1's last position at or before the warning (its fix at +12 s).
    assert warning.findtext("k:Point/k:coordinates", namespaces=NS) == "-84.5500000,38.2220000"
    areas = root.xpath("//k:Folder[k:name='Areas']/k:Placemark/k:name/text()", namespaces=NS)
    assert areas == ["Staging A", "Inner perimeter"]


def test_geojson_has_the_same_features(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    _incident(db)
    out = tmp_path / "inc.geojson"
    assert main(["export-geojson", "inc-1", "-o", str(out), "--db", db]) == 0
    doc = json.loads(out.read_text())
    kinds = [f["properties"]["kind"] for f in doc["features"]]
    assert kinds == ["school", "staging_area", "inner_perimeter", "track", "track", "warning"]
    r2 = doc["features"][4]
    assert r2["geometry"]["coordinates"] == [[-84.54, 38.23], [-84.539, 38.231]]
    assert r2["properties"]["times"] == [iso(T0 + 20 * S), iso(T0 + 25 * S)]
    assert doc["features"][1]["geometry"]["type"] == "Polygon"  # a point with a radius


def test_export_refuses_an_unknown_incident_and_a_wrong_extension(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    _incident(db)
    assert main(["export-kml", "nope", "-o", str(tmp_path / "x.kml"), "--db", db]) != 0
    assert main(["export-kml", "inc-1", "-o", str(tmp_path / "x.pdf"), "--db", db]) != 0
    assert not (tmp_path / "x.kml").exists() and not (tmp_path / "x.pdf").exists()
