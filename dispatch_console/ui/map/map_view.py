"""The map: schools, roads, perimeters, staging areas and the responders of the focused incident.

One metric plane (a :class:`LocalFrame` centred on the county's schools: x east, y north, in
metres) drawn with pyqtgraph, aspect locked, north up, with a scale bar. Layers, bottom to top:
an optional MBTiles raster basemap, roads (one curve per class), campus outlines, the areas of
every active incident (outer perimeter amber dashed, inner perimeter red with a light fill,
staging areas green, the check-in point), schools, then the focused incident's responders:
breadcrumb trails, heading ticks, plainclothes rings, the markers, the selection rings, and the
labels on top.

How a responder is drawn (``docs``: console.md, visual language):

* colour = status (``theme.status``, the same palette as the table); stale = grey, never the
  live colour, with the age of the last position beside the callsign ("2m 10s");
* shape = duty: on duty a filled circle, off duty a diamond, unknown a square;
* plainclothes = a ring around the marker; unidentified (not identified while responding or
  present) = a dashed outline;
* selected = a larger ring in ``theme.selection``.

Incident command on the map (issue 7):

* warnings: a responder with an active warning gets a red ring (two for the priority-1 kind,
  unidentified inside the inner perimeter) and a red "! U-012" badge for a label, placed before
  every other label, which never cover a ring; acknowledged ones an amber ring; ended ones
  nothing. Rebuilt only on warning events, the rings otherwise just follow their markers;
* staging area labels say how many responders are there ("Staging A · 6");
* the incident commander edits the areas (``map_edit.AreaEditor``: draw, select, move, rename,
  delete), each edit leaving as ``area_edited`` payloads, drawn only once its events come back;
* dragging one of the selected markers onto a staging area (or its label) asks to direct the
  selected responders there (``direct_requested``); a drop elsewhere does nothing.
  ``set_editing_enabled(False)`` (observers, replay) turns both off.

Speed (2,000 moving responders at 10 Hz, ``benchmarks/bench_map.py``): the responders are
numpy arrays updated in place for the responders named by ``Changes``; markers are one scatter
item whose points take one of a few prebuilt styles (pens, brushes and symbols built once per
theme, never per point per frame); trails and ticks are one curve each; labels are painted by
one item from cached static texts, at most :data:`MAX_RESPONDER_LABELS` of them, hidden when
they would collide.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from numpy.typing import NDArray
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
    QPolygonF,
    QStaticText,
    QTransform,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QStyleOptionGraphicsItem,
    QVBoxLayout,
    QWidget,
)
from shapely.geometry import shape

from dispatch_console.app.live import TRAIL_WINDOW_US, Changes, ConsoleState
from dispatch_console.domain import events as ev
from dispatch_console.domain.geometry import LocalFrame, local_frame
from dispatch_console.domain.lifecycle import PRESENT, RESPONDING, ResponderStatus
from dispatch_console.domain.state import IncidentState
from dispatch_console.domain.views import responder_row
from dispatch_console.ui.map.map_edit import AreaEditor, AreaKind, DrawShape, Tool
from dispatch_console.ui.map.mbtiles import BasemapLayer
from dispatch_console.ui.shell.selection import Selection
from dispatch_console.ui.shell.theme import Theme

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

#: Origin name this view uses with :meth:`Selection.select`.
ORIGIN = "map"

#: Responder marker sizes in screen pixels (a diamond looks smaller than a circle of the same
#: box, a square bigger).
MARKER_PX = {"o": 14.0, "d": 17.0, "s": 12.0}
RING_PX = 24.0
SELECTION_PX = 32.0
SCHOOL_PX = 17.0
CHECK_IN_PX = 18.0
#: Clicks within this many pixels of a marker's edge hit it.
HIT_SLOP_PX = 3.0
#: Label font (11 pt minimum, console.md) and the most responder labels shown at once.
LABEL_PT = 11
MAX_RESPONDER_LABELS = 150
MAX_PLACE_LABELS = 80
#: Unlabelled markers this close (pixels) to a labelled one are counted in its label ("+4").
CROWD_PX = 12.0
#: Heading ticks: drawn for responders moving faster than this, this long on screen.
MOVING_MPS = 2.0
TICK_PX = 20.0
#: Labels are laid out again at least this often while only positions change.
LABEL_LAYOUT_US = 1_000_000
#: Trails are redrawn at least this often (points leave the window) while nothing moves.
TRAIL_REDRAW_US = 2_000_000
#: Breadcrumbs: one kept every ``TRAIL_STEP_US`` over the trail window, plus the current fix.
TRAIL_STEP_US = 10_000_000
TRAIL_SLOTS = TRAIL_WINDOW_US // TRAIL_STEP_US + 1

STATUSES: tuple[ResponderStatus, ...] = tuple(ResponderStatus)
STATUS_CODE = {status: i for i, status in enumerate(STATUSES)}
N_STATUS = len(STATUSES)
#: Duty codes: 0 on duty (circle), 1 off duty (diamond), 2 unknown (square).
DUTY_CODE: dict[str | None, int] = {"on": 0, "off": 1}
DUTY_SYMBOL = ("o", "d", "s")
#: Marker style index: live styles first, then the stale ones (grey whatever the status).
STALE_STYLE_BASE = N_STATUS * 3 * 2

ROAD_CLASSES = ("local", "collector", "arterial")

#: Warning ring levels: an active priority-1 warning (unidentified inside the inner perimeter),
#: another active warning, an acknowledged one.
WARN_TOP, WARN_ACTIVE, WARN_ACKED = 0, 1, 2
WARN_LEVEL_NAMES = ("priority", "active", "acknowledged")
#: Ring radii (screen pixels) per level.
WARN_RING_PX = (17.0, 16.0, 15.0)


#: Event types that start, acknowledge or end a warning (the rings are rebuilt on them only).
WARNING_TYPES = frozenset({
    ev.WarningRaised.TYPE, ev.WarningAcknowledged.TYPE, ev.WarningEnded.TYPE,
})  # fmt: skip
#: Responders counted in a staging area's label: there, with that area's id.
AT_STAGING = frozenset({
    ResponderStatus.AT_STAGING, ResponderStatus.IDENTIFIED, ResponderStatus.STAGED,
    ResponderStatus.ASSIGNED,
})  # fmt: skip


def age_text(seconds: float) -> str:
    """A position's age as a dispatcher reads it: "45s", "2m 10s", "1h 05m"."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def nice_length(metres: float) -> float:
    """The largest 1, 2 or 5 x 10^k metres not above ``metres`` (for the scale bar)."""
    if metres <= 0 or not math.isfinite(metres):
        return 0.0
    power = 10 ** math.floor(math.log10(metres))
    for step in (5, 2, 1):
        if step * power <= metres:
            return float(step * power)
    return float(power)


def distance_text(metres: float) -> str:
    if metres >= 1000:
        km = metres / 1000
        return f"{km:g} km"
    return f"{metres:g} m"


def _school_symbol() -> QPainterPath:
    """A small schoolhouse (walls and a roof), centred, one unit wide (pyqtgraph symbols)."""
    path = QPainterPath()
    path.moveTo(-0.42, 0.45)
    path.lineTo(0.42, 0.45)
    path.lineTo(0.42, -0.08)
    path.lineTo(0.0, -0.48)
    path.lineTo(-0.42, -0.08)
    path.closeSubpath()
    return path


def _object_array(items: Sequence[Any]) -> NDArray[Any]:
    """An object array of ``items`` (without numpy looking inside them)."""
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out


def _polygon_rings(geometry: ev.Geometry) -> list[list[tuple[float, float]]]:
    """Exterior and interior rings (lon, lat) of a GeoJSON Polygon or MultiPolygon."""
    kind = geometry.get("type")
    coords: Any = geometry.get("coordinates", [])
    polygons = [coords] if kind == "Polygon" else coords if kind == "MultiPolygon" else []
    return [[(float(p[0]), float(p[1])) for p in ring] for poly in polygons for ring in poly]


# --- scatter items -----------------------------------------------------------------------------


class _StyledScatter(pg.ScatterPlotItem):  # type: ignore[misc]  # pyqtgraph is untyped: an Any base
    """A pixel-mode scatter whose points each take one of a small table of prebuilt styles.

    :meth:`set_points` is the one update per frame: it fills pyqtgraph's point records from the
    style table with numpy indexing (symbol, size, pen and brush objects shared by all points of a
    style, their pre-rendered atlas fragment looked up once per style), instead of handing
    pyqtgraph per-point lists that it would check one by one. Points are not interactive unless
    a subclass says so.
    """

    #: pyqtgraph's record array of the points (x, y, size, symbol, pen, brush, data, ...).
    data: Any

    def __init__(self) -> None:
        super().__init__(pxMode=True)
        self._styles: list[tuple[Any, float, QPen, QBrush]] = []
        self._symbols: NDArray[Any] = np.empty(0, dtype=object)
        self._pens: NDArray[Any] = np.empty(0, dtype=object)
        self._brushes: NDArray[Any] = np.empty(0, dtype=object)
        self._sizes: FloatArray = np.empty(0)

    def set_styles(self, styles: Sequence[tuple[Any, float, QPen, QBrush]]) -> None:
        """The style table (symbol, size in px, pen, brush); points index into it."""
        self._styles = list(styles)
        self._symbols = _object_array([s[0] for s in styles])
        self._sizes = np.array([s[1] for s in styles], dtype=float)
        self._pens = _object_array([s[2] for s in styles])
        self._brushes = _object_array([s[3] for s in styles])
        self.fragmentAtlas.clear()
        self.data["sourceRect"] = 0

    def set_points(self, x: FloatArray, y: FloatArray, style: IntArray, ids: NDArray[Any]) -> None:
        """Replace every point: positions, style indexes and the id carried by each point."""
        rec: Any = np.empty(len(x), dtype=self.data.dtype)
        rec["x"] = x
        rec["y"] = y
        rec["visible"] = True
        rec["hovered"] = False
        rec["data"] = ids
        if len(rec) and self._styles:
            rec["size"] = self._sizes[style]
            rec["symbol"] = self._symbols[style]
            rec["pen"] = self._pens[style]
            rec["brush"] = self._brushes[style]
            # One atlas lookup per style, not per point: the fragment of every style.
            coords = self.fragmentAtlas[self._styles]
            table = np.array([tuple(c) for c in coords], dtype=rec.dtype["sourceRect"])
            rec["sourceRect"] = table[style]
        self.data = rec
        self._updateMaxSpotSizes(data=rec)
        self.prepareGeometryChange()
        self.informViewBoundsChanged()
        self.bounds = [None, None]
        self.invalidate()

    def index_at(self, pos: QPointF) -> int | None:
        """The point under ``pos`` (item coordinates), the nearest if several."""
        data = self.data
        if len(data) == 0:
            return None
        px, py = self.pixelVectors()
        if px is None or py is None:
            return None
        sx, sy = px.length(), py.length()
        if sx <= 0 or sy <= 0:
            return None
        dx = (data["x"] - pos.x()) / sx
        dy = (data["y"] - pos.y()) / sy
        d2 = dx * dx + dy * dy
        reach = data["size"] / 2 + HIT_SLOP_PX
        inside = np.flatnonzero(d2 <= reach * reach)
        if len(inside) == 0:
            return None
        return int(inside[np.argmin(d2[inside])])

    def ids(self) -> list[str]:
        return [str(i) for i in self.data["data"]]

    def mouseClickEvent(self, ev: Any) -> None:
        ev.ignore()

    def hoverEvent(self, ev: Any) -> None:
        return


class _ResponderScatter(_StyledScatter):
    """The responder markers: clicks and hovers name the responder under the mouse."""

    #: (responder_id, pyqtgraph MouseClickEvent)
    spot_clicked = Signal(str, object)
    #: responder_id under the mouse, or "" when it left every marker
    spot_hovered = Signal(str)

    #: A drag of a draggable marker: (responder_id, start, current position in map metres,
    #: finished)
    spot_dragged = Signal(str, QPointF, QPointF, bool)

    def __init__(self) -> None:
        super().__init__()
        self._hovered = ""
        #: While an area is being drawn the markers take no clicks (they go to the editor).
        self.passive = False
        #: Markers that may be dragged (the selected responders, when directing is allowed).
        self.draggable: frozenset[str] = frozenset()
        self._dragging = ""

    def mouseClickEvent(self, ev: Any) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or self.passive:
            ev.ignore()
            return
        index = self.index_at(ev.pos())
        if index is None:
            ev.ignore()
            return
        ev.accept()
        self.spot_clicked.emit(str(self.data["data"][index]), ev)

    def mouseDragEvent(self, ev: Any) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or self.passive:
            ev.ignore()
            return
        if ev.isStart():
            index = self.index_at(ev.buttonDownPos())
            rid = "" if index is None else str(self.data["data"][index])
            if rid not in self.draggable:
                ev.ignore()
                return
            self._dragging = rid
        if not self._dragging:
            ev.ignore()
            return
        ev.accept()
        rid = self._dragging
        if ev.isFinish():
            self._dragging = ""
        self.spot_dragged.emit(rid, QPointF(ev.buttonDownPos()), QPointF(ev.pos()), ev.isFinish())

    def hoverEvent(self, ev: Any) -> None:
        index = None if ev.isExit() else self.index_at(ev.pos())
        rid = "" if index is None else str(self.data["data"][index])
        if index is not None and not self.passive:
            ev.acceptClicks(Qt.MouseButton.LeftButton)
            shift = ev.modifiers() & Qt.KeyboardModifier.ShiftModifier
            if rid in self.draggable and not shift:
                ev.acceptDrags(Qt.MouseButton.LeftButton)
        if rid != self._hovered:
            self._hovered = rid
            self.spot_hovered.emit(rid)


# --- the view box: pan, zoom, click on nothing, lasso -------------------------------------------


class _MapViewBox(pg.ViewBox):  # type: ignore[misc]  # pyqtgraph is untyped: an Any base
    """Left-drag pans, the wheel zooms; a click on nothing and a Shift+drag lasso are signalled."""

    #: keyboard modifiers of a left click that hit no marker
    empty_clicked = Signal(object)
    #: lasso polygon (list of QPointF, view coordinates) and the keyboard modifiers
    lassoed = Signal(object, object)

    def __init__(self) -> None:
        super().__init__(enableMenu=False, lockAspect=True, defaultPadding=0.02)
        #: The area editor: sees clicks and drags first (drawing, selecting, moving areas).
        self.editor: AreaEditor | None = None
        self._lasso: list[QPointF] | None = None
        self._lasso_item = QGraphicsPathItem()
        self._lasso_item.setZValue(50)
        self.addItem(self._lasso_item, ignoreBounds=True)

    def set_lasso_pen(self, color: str) -> None:
        self._lasso_item.setPen(pg.mkPen(color, width=1.5, style=Qt.PenStyle.DashLine))
        fill = QColor(color)
        fill.setAlpha(30)
        self._lasso_item.setBrush(QBrush(fill))

    def mouseClickEvent(self, ev: Any) -> None:
        if self.editor is not None and self.editor.click(ev):
            ev.accept()
        elif ev.button() == Qt.MouseButton.LeftButton and not ev.double():
            ev.accept()
            self.empty_clicked.emit(ev.modifiers())
        else:
            ev.ignore()

    def mouseDragEvent(self, ev: Any, axis: int | None = None) -> None:
        if self._lasso is None and self.editor is not None and self.editor.drag(ev):
            ev.accept()
            return
        shift = bool(ev.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        left = ev.button() == Qt.MouseButton.LeftButton
        if left and (self._lasso is not None or (ev.isStart() and shift)):
            ev.accept()
            if self._lasso is None:
                self._lasso = [self.mapToView(ev.buttonDownPos())]
            self._lasso.append(self.mapToView(ev.pos()))
            path = QPainterPath()
            path.addPolygon(QPolygonF(self._lasso))
            path.closeSubpath()
            self._lasso_item.setPath(path)
            if ev.isFinish():
                points, self._lasso = self._lasso, None
                self._lasso_item.setPath(QPainterPath())
                self.lassoed.emit(points, ev.modifiers())
            return
        super().mouseDragEvent(ev, axis)


def points_in_polygon(x: FloatArray, y: FloatArray, polygon: Sequence[QPointF]) -> BoolArray:
    """Even-odd point-in-polygon for many points at once."""
    inside = np.zeros(len(x), dtype=bool)
    n = len(polygon)
    if n < 3:
        return inside
    px = np.array([p.x() for p in polygon])
    py = np.array([p.y() for p in polygon])
    for i in range(n):
        x1, y1, x2, y2 = px[i], py[i], px[i - 1], py[i - 1]
        crosses = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = (x2 - x1) * (y - y1) / (y2 - y1) + x1
        inside ^= crosses & (x < x_at)
    return inside


# --- labels and the screen-space chrome -----------------------------------------------------


@dataclass(frozen=True)
class _Label:
    """A label anchored at a map point, offset in pixels; ``kind`` picks font and colour."""

    x: float
    y: float
    text: str
    kind: str  # "responder", "stale", "warning", "warning_ack", "school", "staging", ...
    priority: int
    key: str = ""
    #: The responder's row in the map's arrays (labels follow their marker), or -1.
    slot: int = -1


class _LabelLayer(pg.GraphicsObject):  # type: ignore[misc]  # pyqtgraph is untyped: an Any base
    """Every label of the map, painted by one item from cached :class:`QStaticText`.

    Lives in the view box's pixel space (above the data) and maps each label's anchor with the
    view's current transform when painting, so a pan never leaves labels behind.
    """

    def __init__(self, viewbox: pg.ViewBox) -> None:
        super().__init__()
        self._viewbox = viewbox
        self.setParentItem(viewbox)
        self.setZValue(10)
        self._texts: dict[tuple[str, str], tuple[QStaticText, float, float]] = {}
        self._fonts: dict[str, QFont] = {}
        self._pens: dict[str, QPen] = {}
        self._halo = QColor(0, 0, 0, 150)
        self._backs: dict[str, QColor] = {}
        self._labels: list[_Label] = []
        self._x: FloatArray = np.empty(0)
        self._y: FloatArray = np.empty(0)
        self._moving: IntArray = np.empty(0, dtype=np.int64)
        self._slots: IntArray = np.empty(0, dtype=np.int64)
        viewbox.sigResized.connect(self._resized)

    def _resized(self, _viewbox: object) -> None:
        self.prepareGeometryChange()

    def set_theme(self, theme: Theme) -> None:
        regular = QFont()
        regular.setPointSize(LABEL_PT)
        bold = QFont(regular)
        bold.setBold(True)
        big = QFont(bold)
        big.setPointSize(LABEL_PT + 2)
        self._fonts = {
            "responder": regular,
            "stale": regular,
            "school": regular,
            "incident_school": big,
            "staging": bold,
            "check_in": bold,
            "warning": bold,
            "warning_ack": bold,
        }
        colours = {
            "responder": theme.text,
            "stale": theme.muted,
            "warning": theme.alarm_text,
            "warning_ack": theme.caution,
            "school": theme.muted,
            "incident_school": theme.text,
            "staging": theme.staging,
            "check_in": theme.staging,
        }
        self._pens = {kind: QPen(QColor(c)) for kind, c in colours.items()}
        halo = QColor(theme.map_background)
        halo.setAlpha(225)
        self._halo = halo
        #: A warned responder's label is a red badge ("! U-000"), the urgent thing on top.
        self._backs = {"warning": QColor(theme.alarm)}
        self._texts.clear()
        self.update()

    def measure(self, text: str, kind: str) -> tuple[float, float]:
        return self._static(text, kind)[1:]

    def _static(self, text: str, kind: str) -> tuple[QStaticText, float, float]:
        key = (kind, text)
        cached = self._texts.get(key)
        if cached is None:
            if len(self._texts) > 20_000:
                self._texts.clear()
            font = self._fonts[kind]
            static = QStaticText(text)
            static.setTextFormat(Qt.TextFormat.PlainText)
            static.prepare(QTransform(), font)
            metrics = QFontMetricsF(font)
            cached = (static, metrics.horizontalAdvance(text), metrics.height())
            self._texts[key] = cached
        return cached

    def set_labels(self, labels: list[_Label]) -> None:
        self._labels = labels
        self._x = np.array([lab.x for lab in labels], dtype=float)
        self._y = np.array([lab.y for lab in labels], dtype=float)
        slots = np.array([lab.slot for lab in labels], dtype=np.int64)
        self._moving = np.flatnonzero(slots >= 0)
        self._slots = slots[self._moving]
        self.update()

    def follow(self, x: FloatArray, y: FloatArray) -> None:
        """Move the responder labels to their markers' new positions (no new layout)."""
        if len(self._moving):
            self._x[self._moving] = x[self._slots]
            self._y[self._moving] = y[self._slots]
            self.update()

    def labels(self) -> list[_Label]:
        return list(self._labels)

    def boundingRect(self) -> QRectF:
        return QRectF(self._viewbox.rect())

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        if not self._labels:
            return
        t = self._viewbox.childTransform()
        sx = t.m11() * self._x + t.m21() * self._y + t.dx()
        sy = t.m12() * self._x + t.m22() * self._y + t.dy()
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        halo = self._halo
        backs = self._backs
        last_kind = ""
        for i, label in enumerate(self._labels):
            static, width, height = self._static(label.text, label.kind)
            left, top = _label_origin(label.kind, float(sx[i]), float(sy[i]), width, height)
            painter.fillRect(QRectF(left - 2, top, width + 4, height), backs.get(label.kind, halo))
            if label.kind != last_kind:
                painter.setFont(self._fonts[label.kind])
                painter.setPen(self._pens[label.kind])
                last_kind = label.kind
            painter.drawStaticText(QPointF(left, top), static)


def _label_origin(
    kind: str, sx: float, sy: float, width: float, height: float
) -> tuple[float, float]:
    """Top-left of a label whose anchor is at screen ``(sx, sy)``."""
    if kind in ("school", "incident_school"):
        return sx - width / 2, sy + SCHOOL_PX / 2 + 3
    if kind == "staging":
        return sx - width / 2, sy - height / 2
    if kind == "check_in":
        return sx - width / 2, sy + CHECK_IN_PX / 2 + 1
    if kind == "warning":  # clear of the warning rings
        return sx + WARN_RING_PX[WARN_TOP] + 10, sy - height / 2
    if kind == "warning_ack":
        return sx + WARN_RING_PX[WARN_ACKED] + 5, sy - height / 2
    return sx + 11, sy - height / 2


def _nearest_counts(
    px: FloatArray, py: FloatArray, ox: FloatArray, oy: FloatArray, radius: float
) -> IntArray:
    """For points ``p`` and others ``o``: how many of the others have their nearest ``p``
    within ``radius``. A grid of ``radius`` cells: each other point looks at its own cell and
    the eight around it (numpy, no loop over points; one ``p`` per cell is assumed, as labelled
    markers are further apart than a label's height)."""
    counts = np.zeros(len(px), dtype=np.int64)
    if len(px) == 0 or len(ox) == 0:
        return counts
    keys = _cells(px, py, radius, radius)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    ocx = np.floor(ox / radius).astype(np.int64)
    ocy = np.floor(oy / radius).astype(np.int64)
    best = np.full(len(ox), np.inf)
    owner = np.full(len(ox), -1, dtype=np.int64)
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            want = (ocx + dx) * 1_000_003 + (ocy + dy)
            pos = np.minimum(np.searchsorted(sorted_keys, want), len(sorted_keys) - 1)
            k = order[pos]
            d2 = (ox - px[k]) ** 2 + (oy - py[k]) ** 2
            better = (sorted_keys[pos] == want) & (d2 <= radius * radius) & (d2 < best)
            best[better] = d2[better]
            owner[better] = k[better]
    return np.bincount(owner[owner >= 0], minlength=len(px)).astype(np.int64)


def _cells(sx: FloatArray, sy: FloatArray, width: float, height: float) -> IntArray:
    """One integer per screen cell of ``width`` x ``height`` pixels."""
    cx = np.floor(sx / width).astype(np.int64)
    cy = np.floor(sy / height).astype(np.int64)
    return cx * 1_000_003 + cy


class _WarningLayer(pg.GraphicsObject):  # type: ignore[misc]  # pyqtgraph is untyped: an Any base
    """Rings around the responders with a warning, above every marker and area (labels are
    laid out never to cover a ring, and the warned responders are labelled first).

    Red (``theme.alarm``) for an active warning, a second outer ring for the priority-1 kind,
    amber once acknowledged. Rebuilt only when the warnings change; in between the rings follow
    their markers (a copy of a few coordinates per frame). Each level's rings are rendered once
    per theme into a pixmap (antialiased wide strokes are slow to draw), then blitted.
    """

    def __init__(self, viewbox: pg.ViewBox) -> None:
        super().__init__()
        self._viewbox = viewbox
        self.setParentItem(viewbox)
        self.setZValue(9)  # above every marker; under the labels, which never cover a ring
        self.slots: IntArray = np.empty(0, dtype=np.int64)
        self.levels: IntArray = np.empty(0, dtype=np.int64)
        self._x: FloatArray = np.empty(0)
        self._y: FloatArray = np.empty(0)
        self._shown: BoolArray = np.empty(0, dtype=bool)
        self._pens: list[list[tuple[QPen, float]]] = [[], [], []]
        self._sprites: list[QPixmap] = []
        self._sprite_dpr = 0.0
        #: How many times the rings were rebuilt (not just moved): tests check it stays put.
        self.builds = 0
        viewbox.sigResized.connect(self._resized)

    def _resized(self, _viewbox: object) -> None:
        self.prepareGeometryChange()

    def set_theme(self, theme: Theme) -> None:
        alarm, caution = QColor(theme.alarm), QColor(theme.caution)
        halo = QColor(theme.map_background)
        halo.setAlpha(200)
        self._halo = QPen(halo, 8.0)
        self._sprites = []
        top, active, acked = WARN_RING_PX
        self._pens = [
            [(QPen(alarm, 4.5), top), (QPen(alarm, 2.0), top + 7)],
            [(QPen(alarm, 3.5), active)],
            [(QPen(caution, 2.5), acked)],
        ]
        self.update()

    def set_rings(self, slots: IntArray, levels: IntArray) -> None:
        order = np.argsort(-levels, kind="stable")  # the most urgent painted last, on top
        self.slots = slots[order]
        self.levels = levels[order]
        self.builds += 1

    def follow(self, x: FloatArray, y: FloatArray, has_pos: BoolArray) -> None:
        slots = self.slots
        self._x, self._y, self._shown = x[slots], y[slots], has_pos[slots]
        self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(self._viewbox.rect())

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        if not self._shown.any():
            return
        t = self._viewbox.childTransform()
        sx = t.m11() * self._x + t.m21() * self._y + t.dx()
        sy = t.m12() * self._x + t.m22() * self._y + t.dy()
        dpr = painter.device().devicePixelRatioF() if painter.device() is not None else 1.0
        if not self._sprites or dpr != self._sprite_dpr:
            self._sprites = [self._sprite(rings, dpr) for rings in self._pens]
            self._sprite_dpr = dpr
        for i in np.flatnonzero(self._shown).tolist():
            sprite = self._sprites[int(self.levels[i])]
            half = sprite.width() / sprite.devicePixelRatio() / 2
            painter.drawPixmap(QPointF(float(sx[i]) - half, float(sy[i]) - half), sprite)

    def _sprite(self, rings: list[tuple[QPen, float]], dpr: float) -> QPixmap:
        """One level's rings (on their dark halo) in a transparent pixmap, centred."""
        reach = max((r for _pen, r in rings), default=0.0) + self._halo.widthF() / 2 + 2
        side = math.ceil(2 * reach)
        pixmap = QPixmap(math.ceil(side * dpr), math.ceil(side * dpr))
        pixmap.setDevicePixelRatio(dpr)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        centre = QPointF(side / 2, side / 2)
        painter.setPen(self._halo)
        for _pen, r in rings:
            painter.drawEllipse(centre, r, r)
        for pen, r in rings:
            painter.setPen(pen)
            painter.drawEllipse(centre, r, r)
        painter.end()
        return pixmap


class _Chrome(pg.GraphicsObject):  # type: ignore[misc]  # pyqtgraph is untyped: an Any base
    """Screen-space furniture: the scale bar (bottom left) and the calm "no incident" note."""

    def __init__(self, viewbox: pg.ViewBox) -> None:
        super().__init__()
        self._viewbox = viewbox
        self.setParentItem(viewbox)
        self.setZValue(20)
        self.message = ""
        self._text = QColor("#ffffff")
        self._back = QColor(0, 0, 0, 160)
        self._font = QFont()
        self._font.setPointSize(LABEL_PT)
        viewbox.sigResized.connect(self._resized)
        viewbox.sigRangeChanged.connect(self._range_changed)

    def _resized(self, _viewbox: object) -> None:
        self.prepareGeometryChange()

    def _range_changed(self, *_args: object) -> None:
        self.update()

    def set_theme(self, theme: Theme) -> None:
        self._text = QColor(theme.text)
        back = QColor(theme.panel)
        back.setAlpha(200)
        self._back = back
        self.update()

    def scale_bar(self) -> tuple[float, str, float]:
        """(length in metres, its text, its length in pixels) of the scale bar now shown."""
        mpp = self._viewbox.viewPixelSize()[0]
        if not (mpp > 0 and math.isfinite(mpp)):
            return 0.0, "", 0.0
        metres = nice_length(140 * mpp)
        return metres, distance_text(metres), metres / mpp

    def boundingRect(self) -> QRectF:
        return QRectF(self._viewbox.rect())

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        rect = self._viewbox.rect()
        painter.setFont(self._font)
        metrics = QFontMetricsF(self._font)
        _metres, text, px = self.scale_bar()
        if px > 0:
            left, bottom = rect.left() + 16, rect.bottom() - 16
            box = QRectF(left - 8, bottom - metrics.height() - 18, px + 16, metrics.height() + 26)
            painter.fillRect(box, self._back)
            pen = QPen(self._text, 2)
            painter.setPen(pen)
            painter.drawLine(QPointF(left, bottom), QPointF(left + px, bottom))
            painter.drawLine(QPointF(left, bottom), QPointF(left, bottom - 7))
            painter.drawLine(QPointF(left + px, bottom), QPointF(left + px, bottom - 7))
            painter.drawText(QPointF(left, bottom - 10), text)
        if self.message:
            width = metrics.horizontalAdvance(self.message)
            box = QRectF(rect.center().x() - width / 2 - 12, rect.top() + 14, width + 24, 30)
            painter.fillRect(box, self._back)
            painter.setPen(QPen(self._text))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, self.message)


# --- the responders of the focused incident, as arrays ------------------------------------------


class _Projector:
    """``LocalFrame.to_local_many`` made cheap for the many moving points of every frame.

    The frame's exact projection (an ellipsoidal azimuthal equidistant one, about a microsecond
    a point) is evaluated once on a grid of :data:`GRID_STEP_DEG` around the county; points
    inside it are interpolated bilinearly (the projection is so smooth at this scale that the
    error stays below a few centimetres), points outside go through the frame.
    """

    GRID_STEP_DEG = 0.01
    GRID_HALF_DEG = 0.5

    def __init__(self, frame: LocalFrame) -> None:
        self.frame = frame
        step, half = self.GRID_STEP_DEG, self.GRID_HALF_DEG
        self.lon_min = frame.lon0 - half
        self.lat_min = frame.lat0 - half
        n = round(2 * half / step) + 1
        lons = self.lon_min + step * np.arange(n)
        lats = self.lat_min + step * np.arange(n)
        grid_lon, grid_lat = np.meshgrid(lons, lats)
        x, y = frame.to_local_many(grid_lon.ravel(), grid_lat.ravel())
        self.n = n
        self.gx = x.reshape(n, n)
        self.gy = y.reshape(n, n)

    def to_local_many(
        self, lons: Sequence[float] | FloatArray, lats: Sequence[float] | FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        lon = np.asarray(lons, dtype=float)
        lat = np.asarray(lats, dtype=float)
        fx = (lon - self.lon_min) / self.GRID_STEP_DEG
        fy = (lat - self.lat_min) / self.GRID_STEP_DEG
        inside = (fx >= 0) & (fx < self.n - 1) & (fy >= 0) & (fy < self.n - 1)
        x = np.empty(len(lon))
        y = np.empty(len(lon))
        if not inside.all():
            out = ~inside
            x[out], y[out] = self.frame.to_local_many(lon[out], lat[out])
        i = fx[inside].astype(np.int64)
        j = fy[inside].astype(np.int64)
        tx = fx[inside] - i
        ty = fy[inside] - j
        for grid, target in ((self.gx, x), (self.gy, y)):
            bottom = grid[j, i] * (1 - tx) + grid[j, i + 1] * tx
            top = grid[j + 1, i] * (1 - tx) + grid[j + 1, i + 1] * tx
            target[inside] = bottom * (1 - ty) + top * ty
        return x, y


class _Fleet:
    """Per-responder arrays (one row per responder of the focused incident), updated in place.

    Breadcrumbs live in a ring of :data:`TRAIL_SLOTS` per responder, one kept every
    :data:`TRAIL_STEP_US`.
    """

    def __init__(self, incident_id: str | None = None) -> None:
        self.incident_id = incident_id
        self.ids: list[str] = []
        self.slot: dict[str, int] = {}
        self.ids_arr: NDArray[Any] = np.empty(0, dtype=object)
        self.labels: list[str] = []
        self.x: FloatArray = np.empty(0)
        self.y: FloatArray = np.empty(0)
        self.at_us: IntArray = np.empty(0, dtype=np.int64)
        self.stale_at_us: IntArray = np.empty(0, dtype=np.int64)
        self.heading: FloatArray = np.empty(0)
        self.speed: FloatArray = np.empty(0)
        self.status: IntArray = np.empty(0, dtype=np.int64)
        self.duty: IntArray = np.empty(0, dtype=np.int64)
        self.plain: BoolArray = np.empty(0, dtype=bool)
        self.unidentified: BoolArray = np.empty(0, dtype=bool)
        self.present: BoolArray = np.empty(0, dtype=bool)
        self.has_pos: BoolArray = np.empty(0, dtype=bool)
        self.trail_t: IntArray = np.zeros((0, TRAIL_SLOTS), dtype=np.int64)
        self.trail_x: FloatArray = np.zeros((0, TRAIL_SLOTS))
        self.trail_y: FloatArray = np.zeros((0, TRAIL_SLOTS))
        self.trail_head: IntArray = np.empty(0, dtype=np.int64)
        self.trail_last: IntArray = np.empty(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, responder_ids: Iterable[str]) -> list[str]:
        """New rows for responders not seen yet; returns the ids added."""
        new = [rid for rid in responder_ids if rid not in self.slot]
        if not new:
            return new
        k = len(new)
        for rid in new:
            self.slot[rid] = len(self.ids)
            self.ids.append(rid)
            self.labels.append(rid)
        self.ids_arr = _object_array(self.ids)

        def grow(a: NDArray[Any], fill: Any) -> NDArray[Any]:
            extra = np.full((k, *a.shape[1:]), fill, dtype=a.dtype)
            return np.concatenate([a, extra])

        self.x, self.y = grow(self.x, np.nan), grow(self.y, np.nan)
        self.at_us, self.stale_at_us = grow(self.at_us, 0), grow(self.stale_at_us, 0)
        self.heading, self.speed = grow(self.heading, np.nan), grow(self.speed, np.nan)
        self.status, self.duty = grow(self.status, 0), grow(self.duty, 2)
        self.plain, self.unidentified = grow(self.plain, False), grow(self.unidentified, False)
        self.present, self.has_pos = grow(self.present, False), grow(self.has_pos, False)
        self.trail_t = grow(self.trail_t, 0)
        self.trail_x, self.trail_y = grow(self.trail_x, np.nan), grow(self.trail_y, np.nan)
        self.trail_head, self.trail_last = grow(self.trail_head, 0), grow(self.trail_last, 0)
        return new

    def read(self, state: IncidentState, responder_ids: Iterable[str], frame: _Projector) -> None:
        """Copy the named responders' state (status, duty, attire, position...) into the arrays."""
        responders = state.responders
        slot = self.slot
        labels = self.labels
        rows: list[tuple[int, int, int, bool, bool, bool]] = []
        fixes: list[tuple[Any, ...]] = []
        for rid in responder_ids:
            r = responders.get(rid)
            s = slot.get(rid)
            if r is None or s is None:
                continue
            status = r.status
            attire = r.attire
            rows.append((
                s,
                STATUS_CODE[status],
                DUTY_CODE.get(r.duty, 2),
                attire is not None and not attire.uniform,
                r.identification is None and status in RESPONDING,
                status in PRESENT,
            ))  # fmt: skip
            labels[s] = r.callsign or r.name or rid
            p = r.position
            if p is not None:
                fixes.append((s, p.lon, p.lat, p.at_us, p.stale_at_us, p.heading_deg, p.speed_mps))
        if rows:
            s_, status_, duty_, plain_, unident_, present_ = zip(*rows, strict=True)
            idx = np.array(s_, dtype=np.int64)
            self.status[idx] = status_
            self.duty[idx] = duty_
            self.plain[idx] = plain_
            self.unidentified[idx] = unident_
            self.present[idx] = present_
        self._store_fixes(fixes, frame)

    def read_positions(
        self, state: IncidentState, responder_ids: Iterable[str], frame: _Projector
    ) -> None:
        """Copy only the positions of the named responders (the common case: a new fix)."""
        responder = state.responders.get
        slot = self.slot.get
        pairs = (
            (slot(rid, -1), getattr(responder(rid), "position", None)) for rid in responder_ids
        )
        fixes = [
            (s, p.lon, p.lat, p.at_us, p.stale_at_us, p.heading_deg, p.speed_mps)
            for s, p in pairs
            if p is not None and s >= 0
        ]
        self._store_fixes(fixes, frame)

    def _store_fixes(self, fixes: Sequence[tuple[Any, ...]], frame: _Projector) -> None:
        if not fixes:
            return
        # float64 holds microsecond timestamps exactly (< 2**53) and turns None into NaN.
        table = np.array(fixes, dtype=float)
        idx = table[:, 0].astype(np.int64)
        xs, ys = frame.to_local_many(table[:, 1], table[:, 2])
        self.x[idx] = xs
        self.y[idx] = ys
        self.at_us[idx] = table[:, 3].astype(np.int64)
        self.stale_at_us[idx] = table[:, 4].astype(np.int64)
        self.heading[idx] = table[:, 5]
        self.speed[idx] = table[:, 6]
        self.has_pos[idx] = True

    def add_trail(self, slots: IntArray, at_us: IntArray, xs: FloatArray, ys: FloatArray) -> None:
        """Append breadcrumbs (in time order per responder), keeping one per step."""
        if not len(slots):
            return
        s_all = np.asarray(slots, dtype=np.int64)
        t_all = np.asarray(at_us, dtype=np.int64)
        order = np.argsort(s_all, kind="stable")
        sorted_slots = s_all[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = sorted_slots[1:] != sorted_slots[:-1]
        positions = np.arange(len(order))
        rank = positions - np.maximum.accumulate(np.where(first, positions, 0))
        for r in range(int(rank.max()) + 1):
            pick = order[rank == r]  # at most one point per responder in each round
            s, t = s_all[pick], t_all[pick]
            keep = t - self.trail_last[s] >= TRAIL_STEP_US
            s, t, pick = s[keep], t[keep], pick[keep]
            head = self.trail_head[s]
            self.trail_t[s, head] = t
            self.trail_x[s, head] = xs[pick]
            self.trail_y[s, head] = ys[pick]
            self.trail_head[s] = (head + 1) % TRAIL_SLOTS
            self.trail_last[s] = t

    def trail_curve(
        self, now_us: int, include: BoolArray
    ) -> tuple[FloatArray, FloatArray, BoolArray]:
        """The trails of the ``include``-d responders over the last window, each ending at the
        current fix, as one curve and its connect array."""
        rows = np.flatnonzero(include)
        if len(rows) == 0:
            return np.empty(0), np.empty(0), np.empty(0, dtype=bool)
        since = now_us - TRAIL_WINDOW_US
        order = (self.trail_head[rows, None] + np.arange(TRAIL_SLOTS)[None, :]) % TRAIL_SLOTS
        t = np.take_along_axis(self.trail_t[rows], order, axis=1)
        x = np.take_along_axis(self.trail_x[rows], order, axis=1)
        y = np.take_along_axis(self.trail_y[rows], order, axis=1)
        valid = (t > 0) & (t >= since) & (t <= now_us)
        current = self.has_pos[rows] & (self.at_us[rows] >= since)
        x = np.concatenate([x, self.x[rows, None]], axis=1)
        y = np.concatenate([y, self.y[rows, None]], axis=1)
        valid = np.concatenate([valid, current[:, None]], axis=1)
        valid &= valid.sum(axis=1, keepdims=True) >= 2
        owner = np.nonzero(valid)[0]
        connect = np.zeros(len(owner), dtype=bool)
        connect[:-1] = owner[:-1] == owner[1:]
        return x[valid], y[valid], connect


# --- the map --------------------------------------------------------------------------------


class MapView(QWidget):
    """The incident map (panel contract: ``refresh(changes, now_us)``, ``set_theme(theme)``)."""

    #: A responder marker was double-clicked (open its detail).
    responder_activated = Signal(str)
    #: The selected responders (frozenset of ids) were dragged onto a staging area (its id).
    direct_requested = Signal(object, str)
    #: An area was drawn, moved, renamed or deleted: the payloads to store (list of
    #: StagingAreaSet / StagingAreaRemoved / PerimeterSet / PerimeterRemoved).
    area_edited = Signal(object, object)  # (payloads, the version decided on or None)

    def __init__(
        self,
        console: ConsoleState,
        selection: Selection,
        theme: Theme,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._console = console
        self._selection = selection
        self._theme = theme
        self._frame = self._county_frame(console)
        self._projector = _Projector(self._frame)
        #: The instant drawn; a refresh brings the real one (views never read the clock).
        self._now_us = max((s.last_event_at_us for s in console.incidents.values()), default=0)
        self._fleet = _Fleet()
        self._stale: BoolArray = np.empty(0, dtype=bool)
        self._drawn: IntArray = np.empty(0, dtype=np.int64)
        self._trail_drawn_at = -1
        self._trail_alpha = -1
        self._labels_laid_at = -1
        self._mpp = 0.0
        self._area_items: dict[str, list[QGraphicsItem]] = {}
        self._area_labels: dict[str, list[_Label]] = {}
        self._check_ins: dict[str, tuple[float, float, str]] = {}
        self._school_labels: list[_Label] = []
        self._age_key: tuple[int, ...] = ()
        #: Staging area labels' names and counts per incident: {incident: {area id: name}}.
        self._staging_names: dict[str, dict[str, str]] = {}
        self._staging_counts: dict[str, dict[str, int]] = {}
        #: Warned responders' slots -> ring level (WARN_TOP / WARN_ACTIVE / WARN_ACKED).
        self._warned: dict[int, int] = {}
        self._editing = True

        self._view = pg.GraphicsView(self, background=theme.map_background)
        self._view.setMinimumSize(200, 150)
        self._vb = _MapViewBox()
        self._view.setCentralItem(self._vb)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._view)

        self._basemap = BasemapLayer(self._vb, self._frame)
        self._roads = {cls: pg.PlotCurveItem(skipFiniteCheck=True) for cls in ROAD_CLASSES}
        for z, cls in enumerate(ROAD_CLASSES):
            self._add(self._roads[cls], -50 + z)
        self._campus = pg.PlotCurveItem(skipFiniteCheck=True)
        self._add(self._campus, -45)
        self._schools = _StyledScatter()
        self._add(self._schools, -10)
        self._trails = pg.PlotCurveItem(skipFiniteCheck=True)
        self._trails.setSegmentedLineMode("on")
        self._add(self._trails, 0)
        self._ticks = pg.PlotCurveItem(skipFiniteCheck=True)
        self._ticks.setSegmentedLineMode("on")
        self._add(self._ticks, 1)
        self._rings = _StyledScatter()
        self._add(self._rings, 2)
        self._markers = _ResponderScatter()
        self._add(self._markers, 3)
        self._check_in_item = _StyledScatter()
        self._add(self._check_in_item, 4)
        self._selected = _StyledScatter()
        self._add(self._selected, 5)
        self._drag_ghost = _StyledScatter()
        self._add(self._drag_ghost, 6)
        self._labels = _LabelLayer(self._vb)
        self._warning_layer = _WarningLayer(self._vb)
        self._chrome = _Chrome(self._vb)
        self._editor = AreaEditor(self, theme)
        self._vb.editor = self._editor

        self._apply_theme_styles()
        self._draw_static()
        self._load_focus()
        self._draw_all_areas()
        self._draw_responders(moved=True)
        self.fit_to_incident()

        self._markers.spot_clicked.connect(self._marker_clicked)
        self._markers.spot_hovered.connect(self._marker_hovered)
        self._markers.spot_dragged.connect(self._marker_dragged)
        self._vb.empty_clicked.connect(self._empty_clicked)
        self._vb.lassoed.connect(self._lassoed)
        self._vb.sigRangeChanged.connect(self._range_changed)
        self._vb.sigResized.connect(self._resized)
        selection.changed.connect(self._selection_changed)
        selection.focus_changed.connect(self._focus_changed)

    # --- public API ---------------------------------------------------------------------------

    @property
    def frame(self) -> LocalFrame:
        """The map's metric frame (x east, y north, metres)."""
        return self._frame

    @property
    def viewbox(self) -> pg.ViewBox:
        return self._vb

    @property
    def graphics_view(self) -> pg.GraphicsView:
        return self._view

    @property
    def basemap(self) -> BasemapLayer:
        return self._basemap

    def refresh(self, changes: Changes, now_us: int) -> None:
        """Fold in what ``changes`` names and move the clock to ``now_us``."""
        self._now_us = now_us
        focus = self._selection.incident_id
        moved = relabel = warnings = False
        # Which incidents had events other than positions, and of which types (one pass).
        position = ev.ResponderPosition.TYPE
        other = {(e.incident_id, e.type) for e in changes.events if e.type != position}
        if focus != self._fleet.incident_id:
            self._load_focus()
            moved = relabel = True
        elif focus is not None and focus in changes.incidents:
            moved, relabel = self._apply_responder_changes(focus, changes)
            warnings = any(iid == focus and t in WARNING_TYPES for iid, t in other)
        active = {s.incident_id for s in self._console.active_incidents()}
        redraw = (changes.areas & active) | (set(self._area_items) ^ active)
        if focus is not None and focus in changes.areas:
            redraw.add(focus)
            self._editor.areas_came_back()
        for incident_id in redraw:
            self._draw_areas(incident_id)
        if focus in redraw:
            self._editor.set_areas(self._focused_state())
            self._update_draggable()
        recount = {iid for iid, _t in other if iid is not None} - redraw
        for counted in recount & set(self._staging_names):
            relabel |= self._count_staging(counted)
        self._editor.expire_ghosts(now_us)
        if warnings:
            relabel |= self._draw_warnings()
        self._draw_responders(moved, relabel=relabel or bool(redraw))

    def set_theme(self, theme: Theme) -> None:
        self._theme = theme
        self._view.setBackground(theme.map_background)
        self._apply_theme_styles()
        self._draw_static()
        self._draw_all_areas()
        self._draw_responders(moved=True)

    def fit_to_incident(self, incident_id: str | None = None) -> None:
        """Fit the incident's outer perimeter and its responders (focused incident by default);
        with no incident, the whole county."""
        incident_id = incident_id or self._selection.incident_id
        state = self._console.incident(incident_id)
        xs: list[float] = []
        ys: list[float] = []
        if state is not None:
            for lons, lats in self._area_outlines(state):
                px, py = self._frame.to_local_many(lons, lats)
                xs.extend(px.tolist())
                ys.extend(py.tolist())
            if incident_id == self._fleet.incident_id:
                have = self._fleet.has_pos
                xs.extend(self._fleet.x[have].tolist())
                ys.extend(self._fleet.y[have].tolist())
            else:
                fixes = [r.position for r in state.responders.values() if r.position]
                if fixes:
                    px, py = self._frame.to_local_many(
                        [p.lon for p in fixes], [p.lat for p in fixes]
                    )
                    xs.extend(px.tolist())
                    ys.extend(py.tolist())
            if not xs:
                x, y = self._frame.to_local(state.lon, state.lat)
                xs, ys = [x - 500, x + 500], [y - 500, y + 500]
        else:
            xs, ys = self._county_extent()
        if not xs:
            xs, ys = [-1000.0, 1000.0], [-1000.0, 1000.0]
        rect = QRectF(QPointF(min(xs), min(ys)), QPointF(max(xs), max(ys)))
        if rect.width() < 200 or rect.height() < 200:
            rect = rect.adjusted(-100, -100, 100, 100)
        self._vb.setRange(rect=rect, padding=0.06)

    def load_mbtiles(self, path: str | Path) -> bool:
        """Show a raster basemap from an MBTiles file; ``False`` (logged) if it cannot be read."""
        if not self._basemap.open(path):
            return False
        self._update_basemap()
        return True

    def center_on(self, responder_id: str) -> bool:
        """Pan (keeping the zoom) so that the responder is in the middle of the map."""
        slot = self._fleet.slot.get(responder_id)
        if slot is None or not self._fleet.has_pos[slot]:
            return False
        rect = self._vb.viewRect()
        x, y = float(self._fleet.x[slot]), float(self._fleet.y[slot])
        rect.moveCenter(QPointF(x, y))
        self._vb.setRange(rect=rect, padding=0)
        return True

    def marker_count(self) -> int:
        """Responder markers drawn now."""
        return len(self._markers.data)

    def marker_position(self, responder_id: str) -> tuple[float, float] | None:
        """Where the responder's marker is, in map metres."""
        hit = np.flatnonzero(self._markers.data["data"] == responder_id)
        if len(hit) == 0:
            return None
        rec = self._markers.data[hit[0]]
        return float(rec["x"]), float(rec["y"])

    def marker_style(self, responder_id: str) -> dict[str, Any]:
        """What is drawn for a responder, read back from the drawn items."""
        data = self._markers.data
        hit = np.flatnonzero(data["data"] == responder_id)
        if len(hit) == 0:
            return {"drawn": False}
        rec = data[hit[0]]
        slot = self._fleet.slot[responder_id]
        stale = bool(self._stale[slot]) if slot < len(self._stale) else False
        label = next((lab.text for lab in self._labels.labels() if lab.key == responder_id), None)
        pen: QPen = rec["pen"]
        brush: QBrush = rec["brush"]
        ring = np.flatnonzero(self._rings.data["data"] == responder_id)
        return {
            "drawn": True,
            "color": brush.color().name(),
            "symbol": str(rec["symbol"]),
            "size": float(rec["size"]),
            "dashed": pen.style() != Qt.PenStyle.SolidLine,
            "outline": pen.color().name(),
            "ringed": len(ring) > 0,
            "ring_color": self._rings.data["pen"][ring[0]].color().name() if len(ring) else None,
            "stale": stale,
            "age_text": self._age_text(slot) if stale else None,
            "selected": responder_id in set(self._selected.ids()),
            "label": label,
            "warning": self.warning_rings().get(responder_id),
        }

    def visible_labels(self) -> list[str]:
        """The texts of the labels shown now (responders, schools, staging areas)."""
        return [lab.text for lab in self._labels.labels()]

    def tooltip_text(self, responder_id: str) -> str:
        """The hover text of a responder: who, status, duty, attire, roster, position age."""
        state = self._focused_state()
        r = state.responders.get(responder_id) if state else None
        if state is None or r is None:
            return ""
        row = responder_row(state, r, self._now_us)
        callsign = f" ({r.callsign})" if r.callsign and r.callsign != row.name else ""
        lines = [
            f"{row.name}{callsign}",
            row.agency or "agency unknown",
            f"{row.status.label} · {row.duty}",
            row.attire,
            f"roster: {row.roster}",
            "identified" if row.identified else "NOT identified",
        ]
        if row.self_dispatched:
            lines.append("self-dispatched")
        if row.position_age_s is not None:
            stale = "  STALE" if row.stale else ""
            lines.append(f"position {age_text(row.position_age_s)} ago{stale}")
        else:
            lines.append("no position")
        return "\n".join(lines)

    def scale_bar(self) -> tuple[float, str, float]:
        """(metres, text, pixels) of the scale bar."""
        return self._chrome.scale_bar()

    # --- editing and commands (incident command) ----------------------------------------------

    @property
    def editor(self) -> AreaEditor:
        """The area editor (tools, selected area, dialogs): ``dispatch_console.ui.map.map_edit``."""
        return self._editor

    @property
    def now_us(self) -> int:
        """The instant drawn (the last refresh's)."""
        return self._now_us

    @property
    def editing_enabled(self) -> bool:
        return self._editing

    def set_editing_enabled(self, enabled: bool) -> None:
        """Allow the map's commands: area editing and dragging responders onto a staging area
        (off for observers and replay: no tool bar, no selection of areas, no drag)."""
        self._editing = enabled
        self._editor.set_enabled(enabled)
        self._update_draggable()

    def start_drawing(self, kind: AreaKind, shape: DrawShape = "polygon") -> bool:
        """Start a drawing tool: ``kind`` "staging" | "inner" | "outer", ``shape`` "polygon" |
        "circle" (point + radius). ``False`` if editing is off or no incident is focused."""
        return self._editor.start(Tool(shape, kind))

    def cancel_editing(self) -> None:
        """Drop a drawing or move in progress (nothing is emitted)."""
        self._editor.cancel()

    def clear_pending_edits(self) -> None:
        """Remove the dashed ghosts of edits sent but not back yet (e.g. the service refused
        them; otherwise they go when their events come back, or after 15 s)."""
        self._editor.areas_came_back()

    def select_area(self, area_id: str | None) -> bool:
        """Select the focused incident's staging area or perimeter ``area_id`` (None: none)."""
        if area_id is None:
            self._editor.select(None)
            return True
        for area in self._editor.areas:
            if area.area_id == area_id:
                self._editor.select((area.kind, area.area_id))
                return self._editor.selected is not None
        return False

    @property
    def selected_area_id(self) -> str | None:
        area = self._editor.selected_area()
        return area.area_id if area else None

    def rename_selected_area(self) -> bool:
        """Ask for the selected staging area's name and capacity (a dialog)."""
        return self._editor.rename_selected()

    def delete_selected_area(self) -> bool:
        """Delete the selected area after asking once."""
        return self._editor.delete_selected()

    def focused_state(self) -> IncidentState | None:
        return self._focused_state()

    def set_markers_passive(self, passive: bool) -> None:
        """Markers take no clicks while an area is being drawn."""
        self._markers.passive = passive
        self._update_draggable()

    def staging_label_at(self, x: float, y: float) -> str | None:
        """The focused incident's staging area whose shown label covers map point ``(x, y)``."""
        focus = self._selection.incident_id
        ids = self._staging_names.get(focus or "", {})
        if not ids:
            return None
        t = self._vb.childTransform()
        p = t.map(QPointF(x, y))
        for lab in self._labels.labels():
            if lab.kind != "staging" or lab.key not in ids:
                continue
            a = t.map(QPointF(lab.x, lab.y))
            w, h = self._labels.measure(lab.text, lab.kind)
            left, top = _label_origin(lab.kind, a.x(), a.y(), w, h)
            if left - 3 <= p.x() <= left + w + 3 and top - 2 <= p.y() <= top + h + 2:
                return lab.key
        return None

    def warning_rings(self) -> dict[str, str]:
        """Responders ringed for a warning now: id -> "priority" | "active" | "acknowledged"."""
        f = self._fleet
        layer = self._warning_layer
        return {
            f.ids[int(s)]: WARN_LEVEL_NAMES[int(level)]
            for s, level in zip(layer.slots, layer.levels, strict=True)
            if f.has_pos[int(s)]
        }

    # --- building the layers ----------------------------------------------------------------

    def _add(self, item: QGraphicsItem, z: float) -> None:
        item.setZValue(z)
        self._vb.addItem(item, ignoreBounds=True)

    @staticmethod
    def _county_frame(console: ConsoleState) -> LocalFrame:
        schools = list(console.schools.values())
        if schools:
            lon = sum(s.lon for s in schools) / len(schools)
            lat = sum(s.lat for s in schools) / len(schools)
        elif console.roads:
            points = [c for road in console.roads for c in road.coordinates]
            lon = sum(p[0] for p in points) / len(points)
            lat = sum(p[1] for p in points) / len(points)
        elif console.incidents:
            state = next(iter(console.incidents.values()))
            lon, lat = state.lon, state.lat
        else:
            lon = lat = 0.0
        return local_frame(round(lon, 6), round(lat, 6))

    def _county_extent(self) -> tuple[list[float], list[float]]:
        lons = [s.lon for s in self._console.schools.values()]
        lats = [s.lat for s in self._console.schools.values()]
        for road in self._console.roads:
            for lon, lat in road.coordinates:
                lons.append(lon)
                lats.append(lat)
        if not lons:
            return [], []
        xs, ys = self._frame.to_local_many(lons, lats)
        return [float(xs.min()), float(xs.max())], [float(ys.min()), float(ys.max())]

    def _apply_theme_styles(self) -> None:
        t = self._theme
        outline = pg.mkPen(t.map_background, width=1.5)
        dashed = pg.mkPen(t.text, width=2.0)
        dashed.setStyle(Qt.PenStyle.CustomDashLine)
        dashed.setDashPattern([2.0, 1.6])
        fills = [pg.mkBrush(t.status[s]) for s in STATUSES]
        stale_fill = pg.mkBrush(t.stale)
        pens = (outline, dashed)
        styles: list[tuple[Any, float, QPen, QBrush]] = [
            (DUTY_SYMBOL[d], MARKER_PX[DUTY_SYMBOL[d]], pens[u], fills[s])
            for s in range(N_STATUS)
            for d in range(3)
            for u in range(2)
        ]
        styles += [
            (DUTY_SYMBOL[d], MARKER_PX[DUTY_SYMBOL[d]], pens[u], stale_fill)
            for d in range(3)
            for u in range(2)
        ]
        self._markers.set_styles(styles)
        hollow = pg.mkBrush(None)
        rings = [("o", RING_PX, pg.mkPen(t.status[s], width=2.0), hollow) for s in STATUSES]
        rings.append(("o", RING_PX, pg.mkPen(t.stale, width=2.0), hollow))
        self._rings.set_styles(rings)
        self._selected.set_styles([("o", SELECTION_PX, pg.mkPen(t.selection, width=3.0), hollow)])
        house = _school_symbol()
        self._schools.set_styles([
            (house, SCHOOL_PX, pg.mkPen(t.school, width=1.5), pg.mkBrush(t.map_background)),
            (house, SCHOOL_PX + 4, pg.mkPen(t.school, width=2.5), pg.mkBrush(t.campus)),
        ])  # fmt: skip
        self._check_in_item.set_styles([
            ("star", CHECK_IN_PX, pg.mkPen(t.map_background, width=1.0), pg.mkBrush(t.staging))
        ])  # fmt: skip
        self._trail_alpha = -1
        self._ticks.setPen(pg.mkPen(t.muted, width=1.5))
        self._vb.set_lasso_pen(t.selection)
        ghost = pg.mkPen(t.selection, width=2.0, style=Qt.PenStyle.DashLine)
        ghost_fill = pg.mkBrush(self._faint(t.selection, 70))
        self._drag_ghost.set_styles([("o", MARKER_PX["o"] + 4, ghost, ghost_fill)])
        self._labels.set_theme(t)
        self._warning_layer.set_theme(t)
        self._chrome.set_theme(t)
        self._editor.set_theme(t)

    @staticmethod
    def _faint(color: str, alpha: int) -> QColor:
        c = QColor(color)
        c.setAlpha(alpha)
        return c

    def _draw_static(self) -> None:
        """Roads, campus outlines and schools (they change with the theme only)."""
        t = self._theme
        pens = {
            "local": pg.mkPen(t.road_minor, width=1.0),
            "collector": pg.mkPen(t.road_major, width=1.5),
            "arterial": pg.mkPen(t.road_major, width=3.0),
        }
        for cls in ROAD_CLASSES:
            lines = [r.coordinates for r in self._console.roads if r.road_class == cls]
            x, y, connect = self._polylines(lines)
            self._roads[cls].setData(x, y, connect=connect, pen=pens[cls])
        campuses = []
        for school in self._console.schools.values():
            if school.campus:
                campuses.extend(_polygon_rings(school.campus))
        x, y, connect = self._polylines(campuses)
        self._campus.setData(x, y, connect=connect, pen=pg.mkPen(t.campus, width=1.5))
        self._draw_schools()

    def _polylines(
        self, lines: Sequence[Sequence[tuple[float, float]]]
    ) -> tuple[FloatArray, FloatArray, BoolArray]:
        """Many lon/lat polylines as one projected curve with a connect array."""
        lines = [line for line in lines if len(line) >= 2]
        if not lines:
            return np.empty(0), np.empty(0), np.empty(0, dtype=bool)
        lons = np.array([p[0] for line in lines for p in line])
        lats = np.array([p[1] for line in lines for p in line])
        x, y = self._frame.to_local_many(lons, lats)
        connect = np.ones(len(x), dtype=bool)
        ends = np.cumsum([len(line) for line in lines]) - 1
        connect[ends] = False
        return x, y, connect

    def _draw_schools(self) -> None:
        schools = list(self._console.schools.values())
        incident_schools = {s.school_id for s in self._console.active_incidents()}
        if not schools:
            self._schools.set_points(np.empty(0), np.empty(0), np.empty(0, np.int64), np.empty(0))
            self._school_labels = []
            return
        x, y = self._frame.to_local_many([s.lon for s in schools], [s.lat for s in schools])
        style = np.array([int(s.school_id in incident_schools) for s in schools], dtype=np.int64)
        ids = _object_array([s.school_id for s in schools])
        self._schools.set_points(x, y, style, ids)
        self._school_labels = [
            _Label(
                float(x[i]), float(y[i]), s.name,
                "incident_school" if s.school_id in incident_schools else "school",
                0 if s.school_id in incident_schools else 6, s.school_id,
            )
            for i, s in enumerate(schools)
        ]  # fmt: skip

    # --- areas -----------------------------------------------------------------------------------

    def _area_outlines(self, state: IncidentState) -> list[tuple[list[float], list[float]]]:
        """Lon/lat outlines of the incident's perimeters and staging areas."""
        shapes: list[tuple[list[float], list[float]]] = []
        areas = [(p.geometry, p.radius_m) for p in state.perimeters.values()]
        areas += [(a.geometry, a.radius_m) for a in state.staging_areas.values()]
        for geometry, radius in areas:
            for ring in self._rings_of(geometry, radius):
                shapes.append(([p[0] for p in ring], [p[1] for p in ring]))
        return shapes

    def _rings_of(
        self, geometry: ev.Geometry, radius_m: float | None
    ) -> list[list[tuple[float, float]]]:
        if geometry.get("type") == "Point":
            lon, lat = (float(v) for v in geometry["coordinates"][:2])
            circle = self._frame.circle(lon, lat, radius_m or 25.0, segments=64)
            return [[(float(a), float(b)) for a, b in circle.exterior.coords]]
        rings = _polygon_rings(geometry)
        if radius_m:  # a polygon with a buffer: draw the buffered outline
            buffered = self._frame.unproject(self._frame.project(shape(geometry)).buffer(radius_m))
            polys = getattr(buffered, "geoms", [buffered])
            return [[(float(a), float(b)) for a, b in p.exterior.coords] for p in polys]
        return rings

    def _path(self, rings: list[list[tuple[float, float]]]) -> QPainterPath:
        path = QPainterPath()
        path.setFillRule(Qt.FillRule.OddEvenFill)
        for ring in rings:
            if len(ring) < 3:
                continue
            xs, ys = self._frame.to_local_many([p[0] for p in ring], [p[1] for p in ring])
            path.addPolygon(
                QPolygonF([QPointF(float(a), float(b)) for a, b in zip(xs, ys, strict=True)])
            )
            path.closeSubpath()
        return path

    def _draw_all_areas(self) -> None:
        for incident_id in list(self._area_items):
            self._clear_areas(incident_id)
        for state in self._console.active_incidents():
            self._draw_areas(state.incident_id)
        self._layout_labels()

    def _clear_areas(self, incident_id: str) -> None:
        for item in self._area_items.pop(incident_id, []):
            self._vb.removeItem(item)
        self._area_labels.pop(incident_id, None)
        self._check_ins.pop(incident_id, None)
        self._staging_names.pop(incident_id, None)
        self._staging_counts.pop(incident_id, None)

    def _draw_areas(self, incident_id: str) -> None:
        """(Re)draw one incident's perimeters, staging areas and check-in point."""
        self._clear_areas(incident_id)
        state = self._console.incidents.get(incident_id)
        if state is None or not state.opened or state.closed:
            self._draw_check_ins()
            self._draw_schools()
            return
        t = self._theme
        items: list[QGraphicsItem] = []
        labels: list[_Label] = []
        focused = incident_id == self._selection.incident_id
        for perimeter in sorted(state.perimeters.values(), key=lambda p: p.kind != "outer"):
            path = self._path(self._rings_of(perimeter.geometry, perimeter.radius_m))
            item = QGraphicsPathItem(path)
            if perimeter.kind == "outer":
                pen = pg.mkPen(t.outer_perimeter, width=2.5 if focused else 1.5)
                pen.setStyle(Qt.PenStyle.DashLine)
                item.setPen(pen)
                item.setBrush(QBrush(Qt.BrushStyle.NoBrush))
                item.setZValue(-30)
            else:
                item.setPen(pg.mkPen(t.inner_perimeter, width=2.5 if focused else 1.5))
                item.setBrush(QBrush(self._faint(t.inner_perimeter, 40)))
                item.setZValue(-28)
            items.append(item)
        for area in state.staging_areas.values():
            path = self._path(self._rings_of(area.geometry, area.radius_m))
            item = QGraphicsPathItem(path)
            item.setPen(pg.mkPen(t.staging, width=2.0))
            item.setBrush(QBrush(self._faint(t.staging, 55)))
            item.setZValue(-26)
            items.append(item)
            centre = path.boundingRect().center()
            labels.append(
                _Label(centre.x(), centre.y(), area.name, "staging", 1, area.staging_area_id)
            )
        for each in items:
            self._vb.addItem(each, ignoreBounds=True)
        self._area_items[incident_id] = items
        self._area_labels[incident_id] = labels
        self._staging_names[incident_id] = {
            a.staging_area_id: a.name for a in state.staging_areas.values()
        }
        self._count_staging(incident_id)
        check_in = state.check_in_point
        school = self._console.schools.get(state.school_id)
        planned = school.pre_plan.check_in if school is not None else None
        point = check_in or planned  # the incident's own, else the pre-plan's
        if point is not None:
            x, y = self._frame.to_local(point.lon, point.lat)
            self._check_ins[incident_id] = (x, y, point.name or "Check-in")
        self._draw_check_ins()
        self._draw_schools()

    def _count_staging(self, incident_id: str) -> bool:
        """Put how many responders are at each staging area in its label ("Staging A · 6");
        ``True`` if a label changed."""
        names = self._staging_names.get(incident_id)
        state = self._console.incidents.get(incident_id)
        if not names or state is None:
            return False
        counts = dict.fromkeys(names, 0)
        for r in state.responders.values():
            area = r.staging_area_id
            if area in counts and r.status in AT_STAGING:
                counts[area] += 1
        if counts == self._staging_counts.get(incident_id):
            return False
        self._staging_counts[incident_id] = counts
        self._area_labels[incident_id] = [
            replace(lab, text=f"{names[lab.key]} · {counts[lab.key]}")
            if lab.kind == "staging" and lab.key in names
            else lab
            for lab in self._area_labels.get(incident_id, [])
        ]
        return True

    def staging_count(self, staging_area_id: str, incident_id: str | None = None) -> int | None:
        """The count shown in a staging area's label (focused incident by default)."""
        counts = self._staging_counts.get(incident_id or self._selection.incident_id or "", {})
        return counts.get(staging_area_id)

    def _draw_warnings(self) -> bool:
        """Rebuild the warning rings from the focused incident's warnings; ``True`` if which
        responders are ringed (or how) changed."""
        state = self._focused_state()
        f = self._fleet
        warned: dict[int, int] = {}
        for w in state.active_warnings() if state is not None else []:
            s = f.slot.get(w.responder_id)
            if s is None:
                continue
            if w.acknowledged_at_us is not None:
                level = WARN_ACKED
            else:
                level = WARN_TOP if w.priority == 1 else WARN_ACTIVE
            warned[s] = min(level, warned.get(s, WARN_ACKED))
        changed = warned != self._warned
        self._warned = warned
        slots = np.fromiter(warned.keys(), np.int64, len(warned))
        levels = np.fromiter(warned.values(), np.int64, len(warned))
        self._warning_layer.set_rings(slots, levels)
        self._warning_layer.follow(f.x, f.y, f.has_pos)
        return changed

    def _draw_check_ins(self) -> None:
        points = list(self._check_ins.values())
        x = np.array([p[0] for p in points], dtype=float)
        y = np.array([p[1] for p in points], dtype=float)
        ids = _object_array(list(self._check_ins))
        self._check_in_item.set_points(x, y, np.zeros(len(points), dtype=np.int64), ids)

    # --- responders -------------------------------------------------------------------------------

    def _focused_state(self) -> IncidentState | None:
        focus = self._selection.incident_id
        return self._console.incident(focus)

    def _load_focus(self) -> None:
        """Rebuild the arrays for the focused incident (on focus change)."""
        focus = self._selection.incident_id
        fleet = self._fleet = _Fleet(focus)
        self._drawn = np.empty(0, dtype=np.int64)
        self._stale = np.empty(0, dtype=bool)
        state = self._focused_state()
        self._chrome.message = "" if state is not None else "No active incident"
        self._chrome.update()
        self._editor.cancel()
        self._editor.select(None)
        self._editor.areas_came_back()  # another incident's pending edits: not shown here
        self._editor.set_areas(state)
        self._warned = {}
        if state is None:
            self._draw_warnings()
            self._update_draggable()
            return
        fleet.add(state.responders)
        fleet.read(state, state.responders, self._projector)
        slots: list[int] = []
        times: list[int] = []
        lons: list[float] = []
        lats: list[float] = []
        for rid, s in fleet.slot.items():
            for p in self._console.trail(state.incident_id, rid, self._now_us):
                slots.append(s)
                times.append(p.at_us)
                lons.append(p.lon)
                lats.append(p.lat)
        if slots:
            xs, ys = self._projector.to_local_many(lons, lats)
            fleet.add_trail(np.array(slots, np.int64), np.array(times, np.int64), xs, ys)
        self._draw_warnings()
        self._update_draggable()

    def _apply_responder_changes(self, focus: str, changes: Changes) -> tuple[bool, bool]:
        """Fold ``changes`` into the arrays: (anything moved or changed, anything other than a
        position changed)."""
        state = self._console.incidents.get(focus)
        if state is None:
            return False, False
        fleet = self._fleet
        grew = focus in changes.new_responders and bool(fleet.add(state.responders))
        changed = {rid for iid, rid in changes.responders if iid == focus}
        if not changed:
            return grew, grew
        mine = [e for e in changes.events if e.incident_id == focus]
        fixes = [e.payload for e in mine if isinstance(e.payload, ev.ResponderPosition)]
        others: set[str] = {
            getattr(e.payload, "responder_id", "")
            for e in mine
            if not isinstance(e.payload, ev.ResponderPosition)
        }
        moved_only = {p.responder_id for p in fixes}
        full = (changed - moved_only) | (others & changed)
        if full:
            fleet.read(state, full, self._projector)
        fleet.read_positions(state, moved_only - full, self._projector)
        self._add_breadcrumbs(fixes)
        return True, grew or bool(full)

    def _add_breadcrumbs(self, fixes: Sequence[ev.ResponderPosition]) -> None:
        """Trail points from new position reports (one kept per :data:`TRAIL_STEP_US`)."""
        if not fixes:
            return
        fleet = self._fleet
        get = fleet.slot.get
        slots = np.fromiter((get(p.responder_id, -1) for p in fixes), np.int64, len(fixes))
        times = np.fromiter((p.at_us for p in fixes), np.int64, len(fixes))
        known = np.flatnonzero(slots >= 0)
        due = known[times[known] - fleet.trail_last[slots[known]] >= TRAIL_STEP_US]
        if len(due) == 0:
            return
        lons = [fixes[i].lon for i in due.tolist()]
        lats = [fixes[i].lat for i in due.tolist()]
        xs, ys = self._projector.to_local_many(lons, lats)
        fleet.add_trail(slots[due], times[due], xs, ys)

    def _age_text(self, slot: int) -> str:
        return age_text((self._now_us - int(self._fleet.at_us[slot])) / 1e6)

    def _draw_responders(self, moved: bool, relabel: bool = True) -> None:
        """Markers, rings, ticks, trails and labels: only what changed since the last frame.

        Labels are laid out again (collisions, priorities) when something other than positions
        changed, when a stale age ticks, or every :data:`LABEL_LAYOUT_US`; in between they just
        follow their markers.
        """
        f = self._fleet
        now = self._now_us
        stale = f.has_pos & (f.stale_at_us <= now)
        restyled = len(stale) != len(self._stale) or bool(np.any(stale != self._stale))
        self._stale = stale
        if moved or restyled:
            drawn = np.flatnonzero(f.has_pos)
            self._drawn = drawn
            live = (f.status * 3 + f.duty) * 2 + f.unidentified
            old = STALE_STYLE_BASE + f.duty * 2 + f.unidentified
            style = np.where(stale, old, live)[drawn]
            self._markers.set_points(f.x[drawn], f.y[drawn], style, f.ids_arr[drawn])
            ringed = drawn[f.plain[drawn]]
            ring_style = np.where(stale[ringed], N_STATUS, f.status[ringed])
            self._rings.set_points(f.x[ringed], f.y[ringed], ring_style, f.ids_arr[ringed])
            self._draw_ticks()
            self._draw_selection()
            self._warning_layer.follow(f.x, f.y, f.has_pos)
        since_trails = now - self._trail_drawn_at
        if moved or restyled or since_trails >= TRAIL_REDRAW_US or since_trails < 0:
            self._draw_trails()
        stale_slots = np.flatnonzero(stale)
        age_key = tuple(((now - f.at_us[stale_slots]) // 1_000_000).tolist())
        since_layout = now - self._labels_laid_at
        if (
            relabel
            or restyled
            or age_key != self._age_key
            or since_layout >= LABEL_LAYOUT_US
            or since_layout < 0
        ):
            self._age_key = age_key
            self._layout_labels()
        elif moved:
            self._labels.follow(f.x, f.y)

    def _draw_trails(self) -> None:
        """Breadcrumbs of the responders still on their way, and of the selected ones (the
        trails of those who arrived all converge on the scene and only hide it)."""
        f = self._fleet
        include = f.status == STATUS_CODE[ResponderStatus.EN_ROUTE]
        for rid in self._selection.responder_ids:
            s = f.slot.get(rid)
            if s is not None:
                include[s] = True
        x, y, connect = f.trail_curve(self._now_us, include)
        count = int(include.sum())
        alpha = 150 if count <= 200 else max(70, int(150 * math.sqrt(200 / count)))
        if alpha != self._trail_alpha:
            self._trail_alpha = alpha
            colour = self._theme.status[ResponderStatus.EN_ROUTE]
            self._trails.setPen(pg.mkPen(self._faint(colour, alpha), width=1.0))
        self._trails.setData(x, y, connect=connect)
        self._trail_drawn_at = self._now_us

    def _draw_ticks(self) -> None:
        f = self._fleet
        mpp = self._vb.viewPixelSize()[0]
        self._mpp = mpp
        moving = f.has_pos & ~self._stale & (f.speed >= MOVING_MPS) & np.isfinite(f.heading)
        idx = np.flatnonzero(moving)
        length = TICK_PX * mpp
        heading = np.radians(f.heading[idx])
        x = np.empty(2 * len(idx))
        y = np.empty(2 * len(idx))
        x[0::2], y[0::2] = f.x[idx], f.y[idx]
        x[1::2] = f.x[idx] + length * np.sin(heading)
        y[1::2] = f.y[idx] + length * np.cos(heading)
        self._ticks.setData(x, y, connect="pairs")

    def _draw_selection(self) -> None:
        f = self._fleet
        slots = [f.slot[rid] for rid in self._selection.responder_ids if rid in f.slot]
        idx = np.array([s for s in slots if f.has_pos[s]], dtype=np.int64)
        self._selected.set_points(
            f.x[idx], f.y[idx], np.zeros(len(idx), dtype=np.int64), f.ids_arr[idx]
        )

    # --- labels -------------------------------------------------------------------------------

    def _layout_labels(self) -> None:
        """Choose which labels to show: by priority, never overlapping, at most a bounded
        number (a screen-space grid of placed label boxes answers "does it collide?")."""
        vb = self._vb
        self._labels_laid_at = self._now_us
        width, height = vb.width(), vb.height()
        if width <= 0 or height <= 0:
            self._labels.set_labels([])
            return
        t = vb.childTransform()
        fixed = list(self._school_labels)
        for labels in self._area_labels.values():
            fixed.extend(labels)
        for incident_id, (x, y, name) in self._check_ins.items():
            fixed.append(_Label(x, y, name, "check_in", 1, f"check-in:{incident_id}"))
        placed: list[_Label] = []
        grid: dict[tuple[int, int], list[tuple[float, float, float, float]]] = {}
        measure = self._labels.measure

        def place(label: _Label, sx: float, sy: float, room: str = "") -> bool:
            w, h = measure(room or label.text, label.kind)
            left, top = _label_origin(label.kind, sx, sy, w, h)
            right, bottom = left + w + 4, top + h
            if right < 0 or bottom < 0 or left > width or top > height:
                return False
            cells = [
                (cx, cy)
                for cx in range(int(left // 64), int(right // 64) + 1)
                for cy in range(int(top // 20), int(bottom // 20) + 1)
            ]
            for cell in cells:
                for l2, t2, r2, b2 in grid.get(cell, ()):
                    if left < r2 and l2 < right and top < b2 and t2 < bottom:
                        return False
            block(left, top, right, bottom)
            placed.append(label)
            return True

        def block(left: float, top: float, right: float, bottom: float) -> None:
            box = (left, top, right, bottom)
            for cx in range(int(left // 64), int(right // 64) + 1):
                for cy in range(int(top // 20), int(bottom // 20) + 1):
                    grid.setdefault((cx, cy), []).append(box)

        fixed.sort(key=lambda lab: lab.priority)
        n_places = 0
        stale = self._stale
        warned = self._warning_labels(t)
        n_responders = 0
        for label, x, y in warned:
            old = 0 <= label.slot < len(stale) and bool(stale[label.slot])
            n_responders += place(label, x, y, f"{label.text} +99" + ("  99m 99s" if old else ""))
        ring = WARN_RING_PX[WARN_TOP] + 8
        for _label, x, y in warned:  # no other label covers a warning ring
            block(x - ring, y - ring, x + ring, y + ring)
        for label in fixed:
            if label.priority > 1:
                break
            p = t.map(QPointF(label.x, label.y))
            place(label, p.x(), p.y())
        candidates, slots, sx, sy = self._responder_label_candidates(t, width, height)
        for label, x, y in candidates:
            if n_responders >= MAX_RESPONDER_LABELS:  # warned ones included
                break
            # Room is kept for what _crowd_texts may add: " +12" and a stale age.
            room = f"{label.text} +99" + ("  99m 99s" if label.kind == "stale" else "")
            n_responders += place(label, x, y, room)
        for label in fixed:
            if label.priority <= 1:
                continue
            p = t.map(QPointF(label.x, label.y))
            if place(label, p.x(), p.y()):
                n_places += 1
                if n_places >= MAX_PLACE_LABELS:
                    break
        self._labels.set_labels(self._crowd_texts(placed, slots, sx, sy))

    def _responder_label_candidates(
        self, t: QTransform, width: float, height: float
    ) -> tuple[list[tuple[_Label, float, float]], IntArray, FloatArray, FloatArray]:
        """Responder labels in view with their screen anchors, most important first, one per
        small screen cell; and the slots and screen positions of every responder in view."""
        f = self._fleet
        drawn = self._drawn
        none = np.empty(0, dtype=np.int64), np.empty(0), np.empty(0)
        if len(drawn) == 0:
            return [], *none
        x, y = f.x[drawn], f.y[drawn]
        sx = t.m11() * x + t.m21() * y + t.dx()
        sy = t.m12() * x + t.m22() * y + t.dy()
        inside = (sx >= -8) & (sx <= width) & (sy >= -8) & (sy <= height + 8)
        slots, sx, sy = drawn[inside], sx[inside], sy[inside]
        if len(slots) == 0:
            return [], *none
        selected = np.zeros(len(f), dtype=bool)
        for rid in self._selection.responder_ids:
            s = f.slot.get(rid)
            if s is not None:
                selected[s] = True
        stale = self._stale[slots]
        priority = np.full(len(slots), 5)
        priority[stale] = 4
        priority[f.unidentified[slots] & f.present[slots]] = 3
        priority[selected[slots]] = 2
        order = np.lexsort((slots, priority))
        if self._warned:  # warned responders are labelled first, by _warning_labels
            warned = np.zeros(len(f), dtype=bool)
            warned[list(self._warned)] = True
            order = order[~warned[slots[order]]]
        # One candidate per 40x18 px cell: a denser crowd cannot show more labels anyway.
        cell = _cells(sx[order], sy[order], 40.0, 18.0)
        _, first = np.unique(cell, return_index=True)
        keep = order[np.sort(first)]
        labels = []
        for i in keep[: 3 * MAX_RESPONDER_LABELS].tolist():
            s = int(slots[i])
            kind = "stale" if stale[i] else "responder"
            label = _Label(
                float(f.x[s]), float(f.y[s]), f.labels[s], kind, int(priority[i]), f.ids[s], s
            )
            labels.append((label, float(sx[i]), float(sy[i])))
        return labels, slots, sx, sy

    def _warning_labels(self, t: QTransform) -> list[tuple[_Label, float, float]]:
        """Labels of the warned responders ("! U-000"), the most urgent first."""
        f = self._fleet
        out = []
        for s, level in sorted(self._warned.items(), key=lambda item: (item[1], item[0])):
            if not f.has_pos[s]:
                continue
            kind = "warning_ack" if level == WARN_ACKED else "warning"
            x, y = float(f.x[s]), float(f.y[s])
            p = t.map(QPointF(x, y))
            out.append((_Label(x, y, f"! {f.labels[s]}", kind, -1, f.ids[s], s), p.x(), p.y()))
        return out

    def _crowd_texts(
        self,
        placed: list[_Label],
        slots: IntArray,
        sx: FloatArray,
        sy: FloatArray,
    ) -> list[_Label]:
        """Final responder label texts: "U-012 +4" when 4 unlabelled markers hide under U-012's
        (each assigned to the nearest labelled marker within :data:`CROWD_PX`), then the age of
        a stale position ("U-001  2m 30s")."""
        where = {slot: k for k, slot in enumerate(slots.tolist())}
        # A warning's label is placed even when its marker is not among the candidates (off
        # the view's edge): it gets no "+n" count.
        labelled = [i for i, lab in enumerate(placed) if lab.slot >= 0 and lab.slot in where]
        if not labelled:
            return placed
        at = np.array([where[placed[i].slot] for i in labelled], dtype=np.int64)
        others = np.ones(len(slots), dtype=bool)
        others[at] = False
        more = _nearest_counts(sx[at], sy[at], sx[others], sy[others], CROWD_PX)
        out = list(placed)
        for k, i in enumerate(labelled):
            lab = placed[i]
            text = f"{lab.text} +{more[k]}" if more[k] else lab.text
            old = lab.slot < len(self._stale) and bool(self._stale[lab.slot])
            if lab.kind == "stale" or (old and lab.kind in ("warning", "warning_ack")):
                text = f"{text}  {self._age_text(lab.slot)}"
            if text != lab.text:
                out[i] = replace(lab, text=text)
        return out

    # --- reactions ------------------------------------------------------------------------------

    def _range_changed(self, *_args: object) -> None:
        mpp = self._vb.viewPixelSize()[0]
        if mpp != self._mpp and len(self._drawn):
            self._draw_ticks()
        self._layout_labels()
        self._update_basemap()

    def _resized(self, _viewbox: object) -> None:
        self._layout_labels()

    def _update_basemap(self) -> None:
        if self._basemap.source is None:
            return
        self._basemap.update_view(self._vb.viewRect(), self._vb.viewPixelSize()[0])

    def _marker_clicked(self, responder_id: str, event: Any) -> None:
        if event.double():
            self.responder_activated.emit(responder_id)
            return
        modifiers = event.modifiers()
        adding = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
        current = set(self._selection.responder_ids)
        if modifiers & adding:
            current ^= {responder_id}
        else:
            current = {responder_id}
        self._selection.select(current, ORIGIN)

    def _marker_hovered(self, responder_id: str) -> None:
        self._vb.setToolTip(self.tooltip_text(responder_id) if responder_id else "")

    def _empty_clicked(self, modifiers: Qt.KeyboardModifier) -> None:
        adding = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
        if not (modifiers & adding):
            self._selection.select(set(), ORIGIN)

    def _lassoed(self, polygon: list[QPointF], modifiers: Qt.KeyboardModifier) -> None:
        f = self._fleet
        drawn = self._drawn
        inside = points_in_polygon(f.x[drawn], f.y[drawn], polygon)
        ids = {f.ids[int(s)] for s in drawn[inside]}
        if modifiers & Qt.KeyboardModifier.ControlModifier:
            ids |= set(self._selection.responder_ids)
        self._selection.select(ids, ORIGIN)

    def _selection_changed(self, origin: str) -> None:
        self._update_draggable()
        self._draw_selection()
        self._draw_trails()
        self._layout_labels()
        if origin != ORIGIN and len(self._selection.responder_ids) == 1:
            (rid,) = self._selection.responder_ids
            position = self.marker_position(rid)
            if position is not None and not self._vb.viewRect().contains(QPointF(*position)):
                self.center_on(rid)

    def _update_draggable(self) -> None:
        """Selected markers can be dragged onto a staging area (when commands are allowed)."""
        state = self._focused_state()
        allowed = self._editing and state is not None and not state.closed
        self._markers.draggable = self._selection.responder_ids if allowed else frozenset()

    def _marker_dragged(
        self, _responder_id: str, start: QPointF, current: QPointF, finished: bool
    ) -> None:
        """A selected marker is being dragged: ghosts of the selected markers follow the
        mouse and the staging area under it lights up; dropped on one, the selected responders
        are directed there (the markers themselves never move: positions come from the feed)."""
        f = self._fleet
        ids = self._selection.responder_ids
        area = self._editor.staging_at(current.x(), current.y())
        if finished:
            self._drag_ghost.set_points(
                np.empty(0), np.empty(0), np.empty(0, np.int64), np.empty(0, dtype=object)
            )
            self._editor.show_drop_target(None)
            self._editor.show_hint("")
            if area is not None and ids and self._editing:
                self.direct_requested.emit(frozenset(ids), area.area_id)
            return
        slots = np.array([f.slot[r] for r in ids if r in f.slot], dtype=np.int64)
        slots = slots[f.has_pos[slots]]
        dx, dy = current.x() - start.x(), current.y() - start.y()
        self._drag_ghost.set_points(
            f.x[slots] + dx, f.y[slots] + dy, np.zeros(len(slots), np.int64), f.ids_arr[slots]
        )
        self._editor.show_drop_target(area)
        n = len(ids)
        who = "1 responder" if n == 1 else f"{n} responders"
        self._editor.show_hint(
            f"Drop to direct {who} to {area.name}"
            if area is not None
            else f"Drop {who} on a staging area to direct them there"
        )

    def _focus_changed(self, _incident_id: str) -> None:
        self._load_focus()
        self._draw_all_areas()
        self._draw_responders(moved=True)
        self.fit_to_incident()
