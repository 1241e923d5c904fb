"""An optional raster basemap read from an MBTiles file (no network, ever).

MBTiles (https://github.com/mapbox/mbtiles-spec) is one SQLite file: a ``tiles`` table
``(zoom_level, tile_column, tile_row, tile_data)`` with rows in TMS order (row 0 at the
south), and a ``metadata`` table of ``(name, value)`` with ``name``, ``format`` (png or jpg),
``bounds`` (``west,south,east,north``) and ``minzoom``/``maxzoom``.

:class:`MBTiles` reads a file (read-only) and speaks XYZ (row 0 at the north, as every web
map does), flipping rows on the way in. :class:`BasemapLayer` shows the tiles of the zoom that
fits the map's view in the map's local metric frame: each tile's corners go Web Mercator ->
lon/lat -> local metres, and the tile image is mapped onto that quadrilateral. Tiles are decoded
lazily on the GUI thread in small time-boxed slices (a few milliseconds each, so the map never
freezes) and cached.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QImage, QPixmap, QPolygonF, QTransform
from PySide6.QtWidgets import QGraphicsPixmapItem

from dispatch_console.domain.geometry import LocalFrame

log = logging.getLogger(__name__)

#: Tile edge in pixels (the MBTiles raster convention).
TILE_PX = 256
#: Web Mercator sphere radius (EPSG:3857), metres.
EARTH_RADIUS_M = 6_378_137.0
#: Latitude limit of Web Mercator.
MAX_LAT = 85.0511287798066
#: At most this many tiles on screen: beyond it a coarser zoom is used.
MAX_VISIBLE_TILES = 64
#: Decoded tiles kept in memory.
CACHE_TILES = 256
#: Decoding works in slices of at most this long, then yields to the event loop.
DECODE_SLICE_S = 0.006

_FORMATS = {"png": "PNG", "jpg": "JPG", "jpeg": "JPG", "webp": "WEBP"}


class MBTilesError(Exception):
    """The file is missing, not an MBTiles database, or not a raster tileset we can show."""


@dataclass(frozen=True)
class TileKey:
    """A tile in XYZ addressing (row 0 at the north)."""

    z: int
    x: int
    y: int


# --- Web Mercator tile arithmetic --------------------------------------------------------------


def tile_lon(x: float, z: int) -> float:
    """Longitude of the west edge of tile column ``x`` (fractional columns allowed)."""
    return x / (1 << z) * 360.0 - 180.0


def tile_lat(y: float, z: int) -> float:
    """Latitude of the north edge of XYZ tile row ``y`` (fractional rows allowed)."""
    n = math.pi * (1.0 - 2.0 * y / (1 << z))
    return math.degrees(math.atan(math.sinh(n)))


def tile_bounds(key: TileKey) -> tuple[float, float, float, float]:
    """``(west, south, east, north)`` of a tile in degrees."""
    return (
        tile_lon(key.x, key.z),
        tile_lat(key.y + 1, key.z),
        tile_lon(key.x + 1, key.z),
        tile_lat(key.y, key.z),
    )


def lonlat_to_tile(lon: float, lat: float, z: int) -> tuple[float, float]:
    """Fractional XYZ tile coordinates of a point at zoom ``z``."""
    lat = max(-MAX_LAT, min(MAX_LAT, lat))
    n = 1 << z
    x = (lon + 180.0) / 360.0 * n
    rad = math.radians(lat)
    y = (1.0 - math.log(math.tan(rad) + 1.0 / math.cos(rad)) / math.pi) / 2.0 * n
    return x, y


def tms_row(y: int, z: int) -> int:
    """The MBTiles (TMS) row of XYZ row ``y``: TMS counts rows from the south."""
    return (1 << z) - 1 - y


def ground_resolution(z: float, lat: float) -> float:
    """Metres per tile pixel at zoom ``z`` and latitude ``lat``."""
    return 2 * math.pi * EARTH_RADIUS_M * math.cos(math.radians(lat)) / (TILE_PX * 2**z)


def zoom_for(metres_per_px: float, lat: float, minzoom: int, maxzoom: int) -> int:
    """The zoom whose tile pixels are closest to the screen's pixels, within the file's range."""
    if not (metres_per_px > 0 and math.isfinite(metres_per_px)):
        return minzoom
    z = math.log2(ground_resolution(0, lat) / metres_per_px)
    return max(minzoom, min(maxzoom, round(z)))


def tiles_covering(west: float, south: float, east: float, north: float, z: int) -> list[TileKey]:
    """XYZ tiles at zoom ``z`` that cover a lon/lat box."""
    n = 1 << z
    x0, y0 = lonlat_to_tile(west, north, z)
    x1, y1 = lonlat_to_tile(east, south, z)
    cols = range(max(0, math.floor(x0)), min(n - 1, math.floor(x1)) + 1)
    rows = range(max(0, math.floor(y0)), min(n - 1, math.floor(y1)) + 1)
    return [TileKey(z, x, y) for y in rows for x in cols]


# --- the file ---------------------------------------------------------------------------------


class MBTiles:
    """A raster MBTiles file opened read-only."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise MBTilesError(f"{self.path}: no such file")
        try:
            self._db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise MBTilesError(f"{self.path}: cannot open ({exc})") from exc
        try:
            self.metadata = self._read_metadata()
            self.format = self._read_format()
            self.minzoom, self.maxzoom = self._read_zooms()
            self.bounds = self._read_bounds()
        except sqlite3.Error as exc:
            self._db.close()
            raise MBTilesError(f"{self.path}: not an MBTiles database ({exc})") from exc
        except MBTilesError:
            self._db.close()
            raise

    @property
    def name(self) -> str:
        return self.metadata.get("name", self.path.stem)

    def _read_metadata(self) -> dict[str, str]:
        rows = self._db.execute("SELECT name, value FROM metadata").fetchall()
        self._db.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles LIMIT 1")
        return {str(name): str(value) for name, value in rows}

    def _read_format(self) -> str:
        fmt = self.metadata.get("format", "png").strip().lower()
        if fmt not in _FORMATS:
            raise MBTilesError(
                f"{self.path}: tile format {fmt!r} is not a raster image (png, jpg or webp)"
            )
        return _FORMATS[fmt]

    def _read_zooms(self) -> tuple[int, int]:
        try:
            return int(self.metadata["minzoom"]), int(self.metadata["maxzoom"])
        except (KeyError, ValueError):
            low, high = self._db.execute(
                "SELECT MIN(zoom_level), MAX(zoom_level) FROM tiles"
            ).fetchone()
            if low is None:
                raise MBTilesError(f"{self.path}: the tiles table is empty") from None
            return int(low), int(high)

    def _read_bounds(self) -> tuple[float, float, float, float]:
        text = self.metadata.get("bounds")
        if text:
            try:
                west, south, east, north = (float(v) for v in text.split(","))
            except ValueError:
                log.warning("%s: unreadable bounds %r, assuming the whole world", self.path, text)
            else:
                return west, south, east, north
        return -180.0, -MAX_LAT, 180.0, MAX_LAT

    def tile_data(self, key: TileKey) -> bytes | None:
        """The encoded image of an XYZ tile, or ``None`` if the file does not have it."""
        row = self._db.execute(
            "SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
            (key.z, key.x, tms_row(key.y, key.z)),
        ).fetchone()
        return None if row is None else bytes(row[0])

    def tile_data_exists(self, key: TileKey) -> bool:
        try:
            row = self._db.execute(
                "SELECT 1 FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
                (key.z, key.x, tms_row(key.y, key.z)),
            ).fetchone()
        except sqlite3.Error:
            return False
        return row is not None

    def decode(self, key: TileKey) -> QImage | None:
        """The tile as an image (``None`` when absent or undecodable)."""
        data = self.tile_data(key)
        if data is None:
            return None
        image = QImage()
        if not image.loadFromData(data) and not image.loadFromData(data, self.format):
            return None
        return image

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> MBTiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- the layer on the map -----------------------------------------------------------------------


class BasemapLayer(QObject):
    """Tiles of one MBTiles file, placed in ``frame`` inside ``viewbox`` below everything else."""

    def __init__(self, viewbox: pg.ViewBox, frame: LocalFrame, z_value: float = -100.0) -> None:
        super().__init__(viewbox)
        self._viewbox = viewbox
        self._frame = frame
        self._z_value = z_value
        self._tiles: MBTiles | None = None
        self._cache: OrderedDict[TileKey, QPixmap | None] = OrderedDict()
        self._items: dict[TileKey, QGraphicsPixmapItem] = {}
        self._pending: deque[TileKey] = deque()
        self._wanted: set[TileKey] = set()
        self._visible = True
        self.zoom: int | None = None
        self.bad_tiles = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._decode_slice)

    @property
    def source(self) -> MBTiles | None:
        return self._tiles

    @property
    def pending(self) -> int:
        """Tiles still waiting to be decoded."""
        return len(self._pending)

    def open(self, path: str | Path) -> bool:
        """Show ``path``; on any problem log why, show no basemap and return ``False``."""
        self.close()
        try:
            self._tiles = MBTiles(path)
        except MBTilesError as exc:
            log.error("basemap not loaded: %s", exc)
            return False
        log.info(
            "basemap %s: %s tiles, zoom %d-%d",
            self._tiles.name, self._tiles.format, self._tiles.minzoom, self._tiles.maxzoom,
        )  # fmt: skip
        return True

    def close(self) -> None:
        self._timer.stop()
        for item in self._items.values():
            self._viewbox.removeItem(item)
        self._items.clear()
        self._cache.clear()
        self._pending.clear()
        self._wanted.clear()
        self.zoom = None
        if self._tiles is not None:
            self._tiles.close()
            self._tiles = None

    def set_visible(self, visible: bool) -> None:
        self._visible = visible
        for item in self._items.values():
            item.setVisible(visible)

    def tile_items(self) -> dict[TileKey, QGraphicsPixmapItem]:
        """The tiles on the map now (for tests)."""
        return dict(self._items)

    def update_view(self, rect: QRectF, metres_per_px: float) -> None:
        """Show the tiles covering ``rect`` (local metres) at the zoom that fits the view."""
        tiles = self._tiles
        if tiles is None or rect.isEmpty():
            return
        corners = [
            self._frame.to_wgs84(x, y)
            for x in (rect.left(), rect.right())
            for y in (rect.top(), rect.bottom())
        ]
        lons = [c[0] for c in corners]
        lats = [c[1] for c in corners]
        west, east = max(min(lons), tiles.bounds[0]), min(max(lons), tiles.bounds[2])
        south, north = max(min(lats), tiles.bounds[1]), min(max(lats), tiles.bounds[3])
        if west >= east or south >= north:
            self._show(set(), None)
            return
        lat = (south + north) / 2
        z = zoom_for(metres_per_px, lat, tiles.minzoom, tiles.maxzoom)
        keys = tiles_covering(west, south, east, north, z)
        while len(keys) > MAX_VISIBLE_TILES and z > tiles.minzoom:
            z -= 1
            keys = tiles_covering(west, south, east, north, z)
        if len(keys) > MAX_VISIBLE_TILES:
            cx, cy = lonlat_to_tile((west + east) / 2, lat, z)
            keys.sort(key=lambda k: (k.x + 0.5 - cx) ** 2 + (k.y + 0.5 - cy) ** 2)
            keys = keys[:MAX_VISIBLE_TILES]
        self._show(set(keys), z)

    def _show(self, wanted: set[TileKey], z: int | None) -> None:
        self.zoom = z
        self._wanted = wanted
        waiting = [k for k in wanted if k not in self._cache]
        for key in wanted - set(waiting):
            self._place(key)
        self._pending = deque(sorted(waiting, key=lambda k: (k.y, k.x)))
        if self._pending:
            self._timer.start()
        else:
            self._drop_unwanted()

    def _decode_slice(self) -> None:
        tiles = self._tiles
        if tiles is None:
            return
        deadline = time.perf_counter() + DECODE_SLICE_S
        while self._pending and time.perf_counter() < deadline:
            key = self._pending.popleft()
            if key not in self._wanted or key in self._cache:
                continue
            try:
                image = tiles.decode(key)
            except sqlite3.Error as exc:
                log.error("basemap %s: cannot read tile %s: %s", tiles.path, key, exc)
                image = None
            if image is None and tiles.tile_data_exists(key):
                self.bad_tiles += 1
                if self.bad_tiles == 1:
                    log.warning("basemap %s: tile %s is not a readable image", tiles.path, key)
            self._remember(key, None if image is None else QPixmap.fromImage(image))
            self._place(key)
        if self._pending:
            self._timer.start()
        else:
            self._drop_unwanted()

    def _remember(self, key: TileKey, pixmap: QPixmap | None) -> None:
        self._cache[key] = pixmap
        self._cache.move_to_end(key)
        while len(self._cache) > CACHE_TILES:
            old, _ = self._cache.popitem(last=False)
            if old not in self._wanted and old in self._items:
                self._viewbox.removeItem(self._items.pop(old))

    def _place(self, key: TileKey) -> None:
        pixmap = self._cache.get(key)
        if pixmap is None or key in self._items:
            return
        item = QGraphicsPixmapItem(pixmap)
        item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        item.setTransform(self._tile_transform(key, pixmap.width(), pixmap.height()))
        # Newer zooms above older ones, so a coarser tile waits underneath until replaced.
        item.setZValue(self._z_value + key.z / 100.0)
        item.setVisible(self._visible)
        self._viewbox.addItem(item, ignoreBounds=True)
        self._items[key] = item

    def _tile_transform(self, key: TileKey, width: int, height: int) -> QTransform:
        """Maps the tile's pixels onto its corners in the local frame (projected exactly)."""
        z = key.z
        lons = [
            tile_lon(key.x, z),
            tile_lon(key.x + 1, z),
            tile_lon(key.x + 1, z),
            tile_lon(key.x, z),
        ]
        lats = [
            tile_lat(key.y, z),
            tile_lat(key.y, z),
            tile_lat(key.y + 1, z),
            tile_lat(key.y + 1, z),
        ]
        xs, ys = self._frame.to_local_many(lons, lats)
        source = QPolygonF(
            [QPointF(0, 0), QPointF(width, 0), QPointF(width, height), QPointF(0, height)]
        )
        target = QPolygonF([QPointF(float(x), float(y)) for x, y in zip(xs, ys, strict=True)])
        transform = QTransform()
        if not QTransform.quadToQuad(source, target, transform):
            log.warning("basemap tile %s cannot be placed", key)
        return transform

    def _drop_unwanted(self) -> None:
        for key in [k for k in self._items if k not in self._wanted]:
            self._viewbox.removeItem(self._items.pop(key))
