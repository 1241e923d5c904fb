"""The MBTiles basemap: reading the spec (TMS rows, metadata), and tiles placed on the map."""

from __future__ import annotations

import logging
import math
import sqlite3
from pathlib import Path

import pytest
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF
from PySide6.QtGui import QColor, QImage
from pytestqt.qtbot import QtBot

from dispatch_console.app.live import Changes
from dispatch_console.ui.map.map_view import MapView
from dispatch_console.ui.map.mbtiles import (
    MBTiles,
    MBTilesError,
    TileKey,
    ground_resolution,
    lonlat_to_tile,
    tile_bounds,
    tiles_covering,
    tms_row,
    zoom_for,
)
from dispatch_console.ui.shell.selection import Selection
from dispatch_console.ui.shell.theme import NIGHT
from tests.ui.factory import build_incident

#: The offscreen platform says this whenever a top-level window is shown.
pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints")

RED = QColor("#d03030")
BLUE = QColor("#3050d0")


def png(color: QColor, size: int = 256) -> bytes:
    """A solid-colour PNG tile."""
    image = QImage(size, size, QImage.Format.Format_RGB32)
    image.fill(color)
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    assert image.save(buffer, "PNG")  # type: ignore[call-overload]
    buffer.close()
    return bytes(data.data())


def write_mbtiles(
    path: Path, tiles: dict[TileKey, bytes], metadata: dict[str, str] | None = None
) -> Path:
    """An MBTiles file as the spec has it: TMS rows, a metadata table (tests only)."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    db.execute(
        "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER,"
        " tile_data BLOB)"
    )
    zooms = [k.z for k in tiles] or [0]
    meta = {"name": "test", "format": "png", "minzoom": str(min(zooms)),
            "maxzoom": str(max(zooms)), "bounds": "-180,-85,180,85"}  # fmt: skip
    meta.update(metadata or {})
    db.executemany("INSERT INTO metadata VALUES (?, ?)", list(meta.items()))
    db.executemany(
        "INSERT INTO tiles VALUES (?, ?, ?, ?)",
        [(k.z, k.x, tms_row(k.y, k.z), data) for k, data in tiles.items()],
    )
    db.commit()
    db.close()
    return path


def colour_at_centre(image: QImage | None) -> str:
    assert image is not None and not image.isNull()
    return image.pixelColor(image.width() // 2, image.height() // 2).name()


# --- tile arithmetic -------------------------------------------------------------------------


def test_tile_bounds_of_the_north_west_tile_at_zoom_one() -> None:
    west, south, east, north = tile_bounds(TileKey(1, 0, 0))
    assert (west, east) == (-180.0, 0.0)
    assert south == pytest.approx(0.0, abs=1e-9)
    assert north == pytest.approx(85.0511287798, abs=1e-6)


def test_lonlat_to_tile_inverts_tile_bounds() -> None:
    key = TileKey(13, 2171, 3150)
    west, south, east, north = tile_bounds(key)
    x, y = lonlat_to_tile((west + east) / 2, (south + north) / 2, 13)
    assert (math.floor(x), math.floor(y)) == (key.x, key.y)


def test_tms_row_counts_from_the_south() -> None:
    assert tms_row(0, 1) == 1
    assert tms_row(1, 1) == 0
    assert tms_row(0, 0) == 0
    assert tms_row(5, 4) == 10


def test_zoom_for_matches_screen_pixels_and_stays_in_the_file_range() -> None:
    z = zoom_for(10.0, 38.2, 0, 20)
    assert ground_resolution(z, 38.2) == pytest.approx(10.0, rel=0.5)
    assert zoom_for(10.0, 38.2, 0, 12) == 12
    assert zoom_for(10.0, 38.2, 15, 18) == 15


def test_tiles_covering_a_box_are_the_tiles_its_corners_fall_in() -> None:
    keys = tiles_covering(-84.6, 38.2, -84.5, 38.25, 12)
    xs = {k.x for k in keys}
    ys = {k.y for k in keys}
    x0, y0 = lonlat_to_tile(-84.6, 38.25, 12)
    x1, y1 = lonlat_to_tile(-84.5, 38.2, 12)
    assert xs == set(range(math.floor(x0), math.floor(x1) + 1))
    assert ys == set(range(math.floor(y0), math.floor(y1) + 1))


# --- reading the file ----------------------------------------------------------------------------


def test_reads_metadata_and_decodes_tiles(qapp: object, tmp_path: Path) -> None:
    path = write_mbtiles(
        tmp_path / "t.mbtiles",
        {TileKey(3, 2, 3): png(RED)},
        {"name": "County", "bounds": "-85,38,-84,38.5", "minzoom": "2", "maxzoom": "9"},
    )
    with MBTiles(path) as tiles:
        assert tiles.name == "County"
        assert tiles.format == "PNG"
        assert (tiles.minzoom, tiles.maxzoom) == (2, 9)
        assert tiles.bounds == (-85.0, 38.0, -84.0, 38.5)
        assert colour_at_centre(tiles.decode(TileKey(3, 2, 3))) == RED.name()
        assert tiles.tile_data(TileKey(3, 2, 4)) is None


def test_rows_are_flipped_from_tms_to_xyz(qapp: object, tmp_path: Path) -> None:
    path = tmp_path / "flip.mbtiles"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    db.execute("CREATE TABLE tiles (zoom_level, tile_column, tile_row, tile_data)")
    db.execute("INSERT INTO metadata VALUES ('format', 'png')")
    # Written the way the spec stores them: TMS row 1 is the NORTHERN row at zoom 1.
    db.execute("INSERT INTO tiles VALUES (1, 0, 1, ?)", (png(RED),))
    db.execute("INSERT INTO tiles VALUES (1, 0, 0, ?)", (png(BLUE),))
    db.commit()
    db.close()
    with MBTiles(path) as tiles:
        assert (tiles.minzoom, tiles.maxzoom) == (1, 1)  # from the tiles, no metadata
        north, south = tiles.decode(TileKey(1, 0, 0)), tiles.decode(TileKey(1, 0, 1))
        assert colour_at_centre(north) == RED.name()
        assert colour_at_centre(south) == BLUE.name()


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.mbtiles"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(MBTilesError, match="not an MBTiles database"):
        MBTiles(path)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MBTilesError, match="no such file"):
        MBTiles(tmp_path / "nowhere.mbtiles")


def test_a_sqlite_file_without_tiles_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.mbtiles"
    sqlite3.connect(path).execute("CREATE TABLE other (x)").connection.close()
    with pytest.raises(MBTilesError, match="not an MBTiles database"):
        MBTiles(path)


def test_vector_tiles_are_refused(tmp_path: Path) -> None:
    path = write_mbtiles(tmp_path / "v.mbtiles", {TileKey(0, 0, 0): b"\x1a\x00"}, {"format": "pbf"})
    with pytest.raises(MBTilesError, match="not a raster image"):
        MBTiles(path)


# --- on the map ----------------------------------------------------------------------------------


def county_tiles(west: float, south: float, east: float, north: float) -> dict[TileKey, bytes]:
    """A checkerboard of solid tiles over a box at zooms 11 to 13."""
    red, blue = png(RED), png(BLUE)
    return {
        key: red if (key.x + key.y) % 2 else blue
        for z in (11, 12, 13)
        for key in tiles_covering(west, south, east, north, z)
    }


@pytest.fixture
def county_map(qtbot: QtBot) -> MapView:
    built = build_incident(10)
    selection = Selection()
    view = MapView(built.console, selection, NIGHT)  # no incident in focus: the whole county
    qtbot.addWidget(view)
    view.resize(800, 600)
    view.show()
    qtbot.waitExposed(view)
    view.fit_to_incident()
    view.refresh(Changes(), built.now_us)
    return view


def view_box_lonlat(view: MapView) -> tuple[float, float, float, float]:
    rect = view.viewbox.viewRect()
    corners = [view.frame.to_wgs84(x, y) for x in (rect.left(), rect.right())
               for y in (rect.top(), rect.bottom())]  # fmt: skip
    lons, lats = [c[0] for c in corners], [c[1] for c in corners]
    return min(lons), min(lats), max(lons), max(lats)


def test_basemap_tiles_cover_the_view_at_the_fitting_zoom(
    qtbot: QtBot, county_map: MapView, tmp_path: Path
) -> None:
    west, south, east, north = view_box_lonlat(county_map)
    path = write_mbtiles(
        tmp_path / "county.mbtiles",
        county_tiles(west - 0.05, south - 0.05, east + 0.05, north + 0.05),
        {"bounds": f"{west - 0.05},{south - 0.05},{east + 0.05},{north + 0.05}",
         "minzoom": "11", "maxzoom": "13"},
    )  # fmt: skip
    assert county_map.load_mbtiles(path)
    layer = county_map.basemap
    qtbot.waitUntil(lambda: layer.pending == 0)
    items = layer.tile_items()
    mpp = county_map.viewbox.viewPixelSize()[0]
    assert layer.zoom == zoom_for(mpp, (south + north) / 2, 11, 13)
    assert set(items) == set(tiles_covering(west, south, east, north, layer.zoom))
    # Each tile's corners sit where the frame projects their longitude and latitude.
    for key, item in items.items():
        w, s, e, n = tile_bounds(key)
        size = item.pixmap().width()
        placed_nw = item.transform().map(QPointF(0, 0))
        placed_se = item.transform().map(QPointF(size, size))
        for placed, (lon, lat) in ((placed_nw, (w, n)), (placed_se, (e, s))):
            x, y = county_map.frame.to_local(lon, lat)
            assert placed.x() == pytest.approx(x, abs=0.5)
            assert placed.y() == pytest.approx(y, abs=0.5)
    # The checkerboard shows through: the decoded colours are the tiles' own.
    colours = {item.pixmap().toImage().pixelColor(128, 128).name() for item in items.values()}
    assert colours <= {RED.name(), BLUE.name()}


def test_zooming_in_switches_to_finer_tiles(
    qtbot: QtBot, county_map: MapView, tmp_path: Path
) -> None:
    west, south, east, north = view_box_lonlat(county_map)
    path = write_mbtiles(
        tmp_path / "county.mbtiles", county_tiles(west, south, east, north),
        {"minzoom": "11", "maxzoom": "13"},
    )  # fmt: skip
    assert county_map.load_mbtiles(path)
    layer = county_map.basemap
    qtbot.waitUntil(lambda: layer.pending == 0)
    county_map.viewbox.scaleBy((1 / 8, 1 / 8))  # zoom in eight times
    qtbot.waitUntil(lambda: layer.pending == 0)
    assert layer.zoom == 13
    assert layer.tile_items()
    assert {key.z for key in layer.tile_items()} == {13}


def test_a_bad_basemap_file_is_logged_and_the_map_carries_on(
    county_map: MapView, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "broken.mbtiles"
    path.write_bytes(b"\x00garbage" * 500)
    markers = county_map.marker_count()
    with caplog.at_level(logging.ERROR, logger="dispatch_console.ui.map.mbtiles"):
        assert county_map.load_mbtiles(path) is False
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "broken.mbtiles" in errors[0].getMessage()
    assert "not an MBTiles database" in errors[0].getMessage()
    assert county_map.basemap.source is None
    county_map.refresh(Changes(), 0)
    assert county_map.marker_count() == markers
    assert county_map.grab().width() == 800


def test_an_undecodable_tile_is_skipped(qtbot: QtBot, county_map: MapView, tmp_path: Path) -> None:
    west, south, east, north = view_box_lonlat(county_map)
    tiles = {k: v for k, v in county_tiles(west, south, east, north).items() if k.z == 13}
    county_map.viewbox.scaleBy((1 / 4, 1 / 4))
    west, south, east, north = view_box_lonlat(county_map)
    shown = tiles_covering(west, south, east, north, 13)
    spoiled = shown[0]
    tiles[spoiled] = b"\x89PNG but not really"
    assert county_map.load_mbtiles(
        write_mbtiles(tmp_path / "c.mbtiles", tiles, {"minzoom": "13", "maxzoom": "13"})
    )
    layer = county_map.basemap
    qtbot.waitUntil(lambda: layer.pending == 0)
    assert set(layer.tile_items()) == set(shown) - {spoiled}
