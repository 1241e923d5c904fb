"""Editing the incident's areas on the map: staging areas and perimeters, as events.

The incident commander draws a new area (a polygon: click the corners, double-click or Enter to
finish, Backspace removes the last corner, Esc cancels; or a point and a radius: press at the
centre and drag out), selects one by its outline or label (click), moves it (drag), renames it
(double-click, F2; staging areas also take a capacity) or deletes it (Delete, asks once naming
it). Every edit becomes the payloads to store (``StagingAreaSet`` with the whole area each time,
``StagingAreaRemoved``, ``PerimeterSet``, ``PerimeterRemoved``) in WGS84 lon/lat, emitted by the
map's ``area_edited`` signal. Nothing is drawn as done until the events come back through the
console's fold (the map redraws its areas from ``Changes.areas``); until then the edit shows as
a dashed ghost.

The pure part (geometry from clicks, validity, moved copies, payloads) is Qt-free and tested on
its own; :class:`AreaEditor` is the interaction (mouse, keys, the floating tool bar, the dialogs).
"""

from __future__ import annotations

import math
import re
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPointF, Qt
from PySide6.QtGui import QAction, QBrush, QColor, QKeyEvent, QPainterPath, QPolygonF
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QGraphicsPathItem,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from shapely import affinity
from shapely.geometry import Point, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

from dispatch_console.domain import events as ev
from dispatch_console.domain.geometry import LocalFrame, area_problem, area_shape
from dispatch_console.domain.state import IncidentState
from dispatch_console.ui.shell.theme import Theme

if TYPE_CHECKING:
    from dispatch_console.ui.map.map_view import MapView

AreaKind = Literal["staging", "inner", "outer"]
DrawShape = Literal["polygon", "circle"]

#: Decimal places kept in stored lon/lat (1e-7 degree is about a centimetre).
COORD_DECIMALS = 7
#: A click this close (screen pixels) to an area's outline hits it.
OUTLINE_SLOP_PX = 8.0
#: The smallest radius (metres) a point area may have, and the smallest polygon area (m²).
MIN_RADIUS_M = 5.0
MIN_AREA_M2 = 25.0
#: A pending edit's ghost disappears after this long if its events never come back.
GHOST_US = 15_000_000
#: Points closer than this (metres) are the same corner (a double-click's repeated point).
SAME_POINT_M = 0.01


@dataclass(frozen=True)
class Tool:
    """A drawing tool: which shape, for which kind of area."""

    shape: DrawShape
    kind: AreaKind

    @property
    def text(self) -> str:
        what = {"staging": "staging area", "inner": "inner perimeter", "outer": "outer perimeter"}
        how = "polygon" if self.shape == "polygon" else "point + radius"
        return f"New {what[self.kind]} ({how})"

    @property
    def hint(self) -> str:
        if self.shape == "polygon":
            return (
                f"{self.text}: click the corners · double-click or Enter ends · "
                "Backspace undoes a corner · Esc cancels"
            )
        return f"{self.text}: press at the centre and drag out to the radius · Esc cancels"


TOOLS: tuple[Tool, ...] = (
    Tool("polygon", "staging"),
    Tool("circle", "staging"),
    Tool("polygon", "inner"),
    Tool("circle", "inner"),
    Tool("polygon", "outer"),
    Tool("circle", "outer"),
)


@dataclass(frozen=True)
class EditableArea:
    """One staging area or perimeter of the focused incident, with its shape in map metres."""

    kind: AreaKind
    area_id: str
    name: str
    geometry: ev.Geometry
    radius_m: float | None
    shape: BaseGeometry
    capacity: int | None = None
    manager: str | None = None

    @property
    def title(self) -> str:
        """How a dialog names it: 'staging area “Staging A”', 'inner perimeter'."""
        if self.kind == "staging":
            return f"staging area “{self.name}”"
        return f"{self.kind} perimeter"


# --- the pure part -----------------------------------------------------------------------------


def editable_areas(state: IncidentState | None, frame: LocalFrame) -> list[EditableArea]:
    """The incident's staging areas and perimeters, staging areas first."""
    if state is None:
        return []
    areas: list[EditableArea] = []
    for a in state.staging_areas.values():
        metric = _metric_shape(a.geometry, a.radius_m, frame)
        if metric is not None:
            areas.append(
                EditableArea(
                    "staging", a.staging_area_id, a.name, a.geometry, a.radius_m, metric,
                    a.capacity, a.manager,
                )
            )  # fmt: skip
    for p in state.perimeters.values():
        metric = _metric_shape(p.geometry, p.radius_m, frame)
        if metric is not None:
            name = f"{p.kind.capitalize()} perimeter"
            areas.append(EditableArea(p.kind, p.perimeter_id, name, p.geometry, p.radius_m, metric))
    return areas


def _metric_shape(
    geometry: ev.Geometry, radius_m: float | None, frame: LocalFrame
) -> BaseGeometry | None:
    try:
        metric = area_shape(geometry, radius_m, frame)
    except Exception:  # a malformed stored geometry: drawn as far as possible, not editable
        return None
    return None if metric.is_empty else metric


def dedupe(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The corners without consecutive repeats (a double-click's second point)."""
    out: list[tuple[float, float]] = []
    for p in points:
        if not out or math.dist(out[-1], p) > SAME_POINT_M:
            out.append(p)
    while len(out) > 1 and math.dist(out[0], out[-1]) <= SAME_POINT_M:
        out.pop()
    return out


def polygon_problem(points: Sequence[tuple[float, float]]) -> str | None:
    """Why corners (map metres) do not make a usable area, or ``None``."""
    corners = dedupe(points)
    if len(corners) < 3:
        return "An area needs at least 3 corners."
    polygon = Polygon(corners)
    if not polygon.is_valid:
        return "The outline crosses itself: not a valid area."
    if polygon.area < MIN_AREA_M2:
        return f"The area is too small (under {MIN_AREA_M2:g} m²)."
    return None


def _rounded(lon: float, lat: float) -> list[float]:
    return [round(lon, COORD_DECIMALS), round(lat, COORD_DECIMALS)]


def polygon_geometry(points: Sequence[tuple[float, float]], frame: LocalFrame) -> ev.Geometry:
    """A GeoJSON Polygon (lon/lat, exterior ring counter-clockwise and closed, RFC 7946) from
    corners in map metres."""
    ring = list(orient(Polygon(dedupe(points)), sign=1.0).exterior.coords)
    coords = [_rounded(*frame.to_wgs84(x, y)) for x, y in ring]
    coords[-1] = coords[0]
    return {"type": "Polygon", "coordinates": [coords]}


def point_geometry(x: float, y: float, frame: LocalFrame) -> ev.Geometry:
    return {"type": "Point", "coordinates": _rounded(*frame.to_wgs84(x, y))}


def _lists(coords: Any) -> Any:
    """GeoJSON coordinates as nested lists of rounded floats (shapely gives tuples)."""
    if coords and isinstance(coords[0], int | float):
        return [round(float(c), COORD_DECIMALS) for c in coords[:2]]
    return [_lists(c) for c in coords]


def translated(geometry: ev.Geometry, dx: float, dy: float, frame: LocalFrame) -> ev.Geometry:
    """``geometry`` (lon/lat) moved ``dx`` metres east and ``dy`` north in the map's frame."""
    if geometry.get("type") == "Point":
        lon, lat = (float(v) for v in geometry["coordinates"][:2])
        x, y = frame.to_local(lon, lat)
        return point_geometry(x + dx, y + dy, frame)
    moved = frame.unproject(affinity.translate(frame.project(shape(geometry)), dx, dy))
    out = dict(mapping(moved))
    return {"type": out["type"], "coordinates": _lists(out["coordinates"])}


def new_area_id(kind: AreaKind) -> str:
    """A fresh id for a new area (random: two consoles drawing at once never collide)."""
    prefix = "staging" if kind == "staging" else f"{kind}-perimeter"
    return f"{prefix}-{secrets.token_hex(5)}"


_STAGING_LETTER = re.compile(r"staging\s+([a-z])(?![a-z0-9])", re.IGNORECASE)


def next_staging_name(state: IncidentState | None) -> str:
    """The next free name: "Staging C" when A and B are taken ("Staging A (lot)" takes A)."""
    names = [a.name for a in state.staging_areas.values()] if state else []
    taken = {m.group(1).upper() for n in names if (m := _STAGING_LETTER.match(n.strip()))}
    for letter in string.ascii_uppercase:
        if letter not in taken:
            return f"Staging {letter}"
    return f"Staging {len(names) + 1}"


def new_area_payloads(
    kind: AreaKind,
    geometry: ev.Geometry,
    radius_m: float | None,
    state: IncidentState | None,
    area_id: str | None = None,
) -> list[ev.Payload]:
    area_id = area_id or new_area_id(kind)
    if kind == "staging":
        return [ev.StagingAreaSet(area_id, next_staging_name(state), geometry, radius_m)]
    return [ev.PerimeterSet(area_id, kind, geometry, radius_m)]


def set_payload(
    area: EditableArea,
    *,
    geometry: ev.Geometry | None = None,
    name: str | None = None,
    capacity: int | Literal["keep"] | None = "keep",
) -> ev.Payload:
    """The whole area again, with what changed."""
    geometry = area.geometry if geometry is None else geometry
    if area.kind == "staging":
        return ev.StagingAreaSet(
            area.area_id,
            area.name if name is None else name,
            geometry,
            area.radius_m,
            area.manager,
            area.capacity if capacity == "keep" else capacity,
        )
    return ev.PerimeterSet(area.area_id, area.kind, geometry, area.radius_m)


def removed_payload(area: EditableArea) -> ev.Payload:
    if area.kind == "staging":
        return ev.StagingAreaRemoved(area.area_id)
    return ev.PerimeterRemoved(area.area_id)


def shape_path(metric: BaseGeometry) -> QPainterPath:
    """A painter path (map metres) of a polygon or multipolygon shape."""
    path = QPainterPath()
    path.setFillRule(Qt.FillRule.OddEvenFill)
    polygons = getattr(metric, "geoms", [metric])
    for polygon in polygons:
        rings = [polygon.exterior, *polygon.interiors] if hasattr(polygon, "exterior") else []
        for ring in rings:
            path.addPolygon(QPolygonF([QPointF(float(x), float(y)) for x, y in ring.coords]))
            path.closeSubpath()
    return path


# --- dialogs -------------------------------------------------------------------------------------


class AreaDialog(QDialog):
    """Rename a staging area and set its capacity."""

    def __init__(self, area: EditableArea, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("area_dialog")
        self.setWindowTitle(f"Rename {area.title}")
        self.name = QLineEdit(area.name)
        self.name.setObjectName("area_name")
        self.name.selectAll()
        self.capacity = QSpinBox()
        self.capacity.setObjectName("area_capacity")
        self.capacity.setRange(0, 10_000)
        self.capacity.setSpecialValueText("not set")
        self.capacity.setValue(area.capacity or 0)
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Capacity (responders)", self.capacity)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        self.name.textChanged.connect(self._name_changed)

    def _name_changed(self, text: str) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(bool(text.strip()))

    def values(self) -> tuple[str, int | None]:
        return self.name.text().strip(), self.capacity.value() or None


# --- the floating tool bar -------------------------------------------------------------------


class EditBar(QFrame):
    """The map's small floating tool bar: draw a new area, rename or delete the selected one,
    and one line saying what the current tool expects (or why an edit was refused)."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("map_edit_bar")
        self.draw = QToolButton(self)
        self.draw.setObjectName("map_draw")
        self.draw.setText("Draw area ▾")
        self.draw.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.menu = QMenu(self.draw)
        self.draw.setMenu(self.menu)
        self.actions_by_tool: dict[Tool, QAction] = {}
        for i, tool in enumerate(TOOLS):
            if i and i % 2 == 0:
                self.menu.addSeparator()
            self.actions_by_tool[tool] = self.menu.addAction(tool.text)
        self.rename = QToolButton(self)
        self.rename.setObjectName("map_rename_area")
        self.rename.setText("Rename…")
        self.delete = QToolButton(self)
        self.delete.setObjectName("map_delete_area")
        self.delete.setText("Delete…")
        self.hint = QLabel(self)
        self.hint.setObjectName("map_edit_hint")
        self.hint.setTextFormat(Qt.TextFormat.PlainText)
        self.hint.setWordWrap(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 4, 8, 4)
        layout.setSpacing(6)
        for w in (self.draw, self.rename, self.delete, self.hint):
            layout.addWidget(w)

    def set_theme(self, theme: Theme) -> None:
        back = QColor(theme.panel)
        self.setStyleSheet(
            f"QFrame#map_edit_bar {{ background: rgba({back.red()}, {back.green()}, "
            f"{back.blue()}, 225); border: 1px solid {theme.border}; border-radius: 4px; }}"
            f"QToolButton {{ color: {theme.text}; background: {theme.panel}; font-size: 11pt;"
            f" padding: 3px 8px; border: 1px solid {theme.border}; border-radius: 3px; }}"
            f"QToolButton:hover {{ background: {theme.calm}; }}"
            f"QToolButton:disabled {{ color: {theme.muted}; border-color: {theme.panel}; }}"
            "QToolButton::menu-indicator { image: none; width: 0; }"
            f"QLabel {{ font-size: 11pt; background: transparent; border: 0; }}"
        )

    def show_hint(self, text: str, color: str) -> None:
        self.hint.setText(text)
        self.hint.setStyleSheet(f"color: {color};")
        self.hint.setVisible(bool(text))
        self.adjustSize()


# --- the interaction ------------------------------------------------------------------------


class AreaEditor(QObject):
    """The editing state machine of one :class:`MapView` (which owns it and forwards mouse
    and key events; the payloads go out through ``map.area_edited``)."""

    def __init__(self, map_view: MapView, theme: Theme) -> None:
        super().__init__(map_view)
        self._map = map_view
        self._vb: pg.ViewBox = map_view.viewbox
        self._theme = theme
        self.enabled = True
        self.tool: Tool | None = None
        self._areas: list[EditableArea] = []
        self._by_id: dict[tuple[str, str], EditableArea] = {}
        self.selected: tuple[str, str] | None = None  # (kind, area id)
        self._corners: list[QPointF] = []
        self._cursor: QPointF | None = None
        self._centre: QPointF | None = None
        self._radius = 0.0
        self._moving: EditableArea | None = None
        self._move_from = QPointF()
        self._ghosts: list[tuple[QGraphicsPathItem, int]] = []
        self.message = ""
        self._message_is_problem = False

        self._highlight = self._path_item(-20)
        self._drawing = self._path_item(7)
        self._corner_dots = _Dots(pxMode=True)
        self._corner_dots.setZValue(7.5)
        self._vb.addItem(self._corner_dots, ignoreBounds=True)
        self._move_ghost = self._path_item(7)
        self._drop_target = self._path_item(-19)

        self.bar = EditBar(map_view)
        self.bar.move(10, 10)
        for tool, action in self.bar.actions_by_tool.items():
            action.setData(TOOLS.index(tool))
            action.triggered.connect(self._tool_action)
        self.bar.rename.clicked.connect(self.rename_selected)
        self.bar.delete.clicked.connect(self.delete_selected)
        self.set_theme(theme)
        scene = map_view.graphics_view.scene()
        scene.sigMouseMoved.connect(self._mouse_moved)
        map_view.graphics_view.installEventFilter(self)
        self._update_bar()

    # --- set-up ----------------------------------------------------------------------------

    def _path_item(self, z: float) -> QGraphicsPathItem:
        item = QGraphicsPathItem()
        item.setZValue(z)
        self._vb.addItem(item, ignoreBounds=True)
        return item

    def set_theme(self, theme: Theme) -> None:
        self._theme = theme
        t = theme
        self._highlight.setPen(pg.mkPen(t.selection, width=3.0))
        self._highlight.setBrush(QBrush(Qt.BrushStyle.NoBrush))
        drawing = pg.mkPen(t.selection, width=2.0, style=Qt.PenStyle.DashLine)
        self._drawing.setPen(drawing)
        fill = QColor(t.selection)
        fill.setAlpha(30)
        self._drawing.setBrush(QBrush(fill))
        self._move_ghost.setPen(drawing)
        self._move_ghost.setBrush(QBrush(fill))
        self._corner_dots.setPen(pg.mkPen(t.map_background, width=1.0))
        self._corner_dots.setBrush(pg.mkBrush(t.selection))
        self._corner_dots.setSymbol("s")
        self._corner_dots.setSize(8)
        target = QColor(t.staging)
        target.setAlpha(90)
        self._drop_target.setPen(pg.mkPen(t.selection, width=3.0))
        self._drop_target.setBrush(QBrush(target))
        for item, _at in self._ghosts:
            item.setPen(self._ghost_pen(item.data(0)))
        self.bar.set_theme(theme)
        self._update_bar()

    def _ghost_pen(self, kind: str) -> Any:
        t = self._theme
        colour = {"staging": t.staging, "inner": t.inner_perimeter}.get(kind, t.outer_perimeter)
        return pg.mkPen(colour, width=2.5, style=Qt.PenStyle.DashLine)

    def _can_edit(self) -> bool:
        """Editing is on and an open incident is focused."""
        state = self._map.focused_state()
        return self.enabled and state is not None and not state.closed

    def set_enabled(self, enabled: bool) -> None:
        self.enabled = enabled
        if not enabled:
            self.cancel()
            self.select(None)
        self._update_bar()

    def set_areas(self, state: IncidentState | None) -> None:
        """The focused incident's areas (after its areas changed or the focus moved)."""
        self._areas = editable_areas(state, self._map.frame)
        self._by_id = {(a.kind, a.area_id): a for a in self._areas}
        if not self._can_edit():  # e.g. the incident was closed meanwhile
            self.cancel()
            self.selected = None
        if self.selected is not None and self.selected not in self._by_id:
            self.selected = None
        self._draw_highlight()
        self._update_bar()

    def areas_came_back(self) -> None:
        """The focused incident's areas changed: pending ghosts are now real (or refused)."""
        for item, _at in self._ghosts:
            self._vb.removeItem(item)
        self._ghosts = []

    def expire_ghosts(self, now_us: int) -> None:
        keep = []
        for item, at in self._ghosts:
            if now_us - at > GHOST_US or now_us < at:
                self._vb.removeItem(item)
            else:
                keep.append((item, at))
        self._ghosts = keep

    # --- what the map asks --------------------------------------------------------------------

    @property
    def areas(self) -> list[EditableArea]:
        return list(self._areas)

    @property
    def busy(self) -> bool:
        """A tool is active (clicks go to the editor, not to the markers)."""
        return self.tool is not None or self._moving is not None

    def staging_at(self, x: float, y: float) -> EditableArea | None:
        """The staging area containing map point ``(x, y)`` (on its edge counts), or whose
        label is there (a small area hides under its label when zoomed out)."""
        point = Point(x, y)
        hits = [a for a in self._areas if a.kind == "staging" and a.shape.intersects(point)]
        if hits:
            return min(hits, key=lambda a: a.shape.area)
        label = self._map.staging_label_at(x, y)
        return self._by_id.get(("staging", label)) if label is not None else None

    def show_drop_target(self, area: EditableArea | None) -> None:
        self._drop_target.setPath(shape_path(area.shape) if area else QPainterPath())

    def area_at(self, x: float, y: float, *, inside_selected: bool = False) -> EditableArea | None:
        """The area whose label or outline is under map point ``(x, y)``; with
        ``inside_selected``, also the selected staging area when the point is inside it."""
        label = self._map.staging_label_at(x, y)
        if label is not None and ("staging", label) in self._by_id:
            return self._by_id[("staging", label)]
        slop = OUTLINE_SLOP_PX * self._vb.viewPixelSize()[0]
        point = Point(x, y)
        best: tuple[float, EditableArea] | None = None
        for area in self._areas:
            d = float(area.shape.boundary.distance(point))
            if d <= slop and (best is None or d < best[0]):
                best = (d, area)
        if best is not None:
            return best[1]
        if inside_selected and self.selected is not None:
            chosen = self._by_id.get(self.selected)
            if chosen is not None and chosen.kind == "staging" and chosen.shape.intersects(point):
                return chosen
        return None

    def selected_area(self) -> EditableArea | None:
        return self._by_id.get(self.selected) if self.selected else None

    def ghost_count(self) -> int:
        return len(self._ghosts)

    # --- tools --------------------------------------------------------------------------------

    def _tool_action(self) -> None:
        action = self.sender()
        if isinstance(action, QAction):
            self.start(TOOLS[int(action.data())])

    def start(self, tool: Tool) -> bool:
        """Start drawing with ``tool``; ``False`` when editing is off or nothing is focused."""
        if not self._can_edit():
            return False
        self.cancel()
        self.select(None)
        self.tool = tool
        self._set_message(tool.hint)
        self._map.graphics_view.setFocus(Qt.FocusReason.OtherFocusReason)
        self._map.set_markers_passive(True)
        return True

    def cancel(self) -> None:
        """Drop the drawing or the move in progress (nothing is emitted)."""
        self.tool = None
        self._corners = []
        self._cursor = None
        self._centre = None
        self._radius = 0.0
        self._moving = None
        self._drawing.setPath(QPainterPath())
        self._move_ghost.setPath(QPainterPath())
        self._corner_dots.setData([], [])
        self._map.set_markers_passive(False)
        self._set_message("")

    def add_corner(self, x: float, y: float) -> None:
        if self.tool is None or self.tool.shape != "polygon":
            return
        p = QPointF(x, y)
        if self._corners and math.dist(_xy(self._corners[-1]), (x, y)) <= SAME_POINT_M:
            return
        self._corners.append(p)
        self._set_message(self.tool.hint)
        self._draw_drawing()

    def undo_corner(self) -> None:
        if self._corners:
            self._corners.pop()
            self._draw_drawing()

    def finish(self) -> bool:
        """Finish the polygon being drawn: emit it, or refuse it with a message."""
        tool = self.tool
        if tool is None or tool.shape != "polygon":
            return False
        points = [_xy(p) for p in self._corners]
        problem = polygon_problem(points)
        frame = self._map.frame
        if problem is None:
            geometry = polygon_geometry(points, frame)
            problem = area_problem(geometry, None)
        if problem is not None:
            self._set_message(f"{problem} Backspace removes the last corner; Esc cancels.", True)
            return False
        payloads = new_area_payloads(tool.kind, geometry, None, self._map.focused_state())
        self.cancel()
        self._emit(payloads, tool.kind, Polygon(dedupe(points)))
        return True

    def circle(self, x: float, y: float, radius_m: float) -> bool:
        """Finish a point + radius area centred at map ``(x, y)``."""
        tool = self.tool
        if tool is None or tool.shape != "circle":
            return False
        if not radius_m >= MIN_RADIUS_M:
            self._set_message(
                f"The radius is under {MIN_RADIUS_M:g} m: press at the centre and drag out "
                "further. Esc cancels.",
                True,
            )
            self._centre = None
            self._drawing.setPath(QPainterPath())
            return False
        radius = round(radius_m, 1)
        geometry = point_geometry(x, y, self._map.frame)
        payloads = new_area_payloads(tool.kind, geometry, radius, self._map.focused_state())
        self.cancel()
        self._emit(payloads, tool.kind, Point(x, y).buffer(radius, quad_segs=16))
        return True

    def select(self, key: tuple[str, str] | None) -> None:
        if key is not None and (not self._can_edit() or key not in self._by_id):
            key = None
        if key != self.selected:
            self.selected = key
            self._draw_highlight()
            self._update_bar()

    def move_selected(self, dx: float, dy: float) -> bool:
        area = self.selected_area()
        if area is None or not self._can_edit() or (dx == 0 and dy == 0):
            return False
        geometry = translated(area.geometry, dx, dy, self._map.frame)
        moved = affinity.translate(area.shape, dx, dy)
        self._emit([set_payload(area, geometry=geometry)], area.kind, moved)
        return True

    def rename_selected(self) -> bool:
        """Ask for the selected staging area's name and capacity; emit if changed."""
        area = self.selected_area()
        if area is None or area.kind != "staging" or not self._can_edit():
            return False
        decided_on = self._version()  # what the dialog shows, whatever arrives while it is open
        dialog = AreaDialog(area, self._map)
        dialog.name.setFocus()
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return False
        name, capacity = dialog.values()
        if not name or (name == area.name and capacity == area.capacity):
            return False
        payload = set_payload(area, name=name, capacity=capacity)
        self._emit([payload], area.kind, None, decided_on)
        return True

    def delete_selected(self) -> bool:
        """Ask once, naming the area; emit its removal if confirmed."""
        area = self.selected_area()
        if area is None or not self._can_edit():
            return False
        decided_on = self._version()
        box = QMessageBox(self._map)
        box.setObjectName("area_delete_question")
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Delete area")
        box.setText(f"Delete the {area.title}?")
        box.setInformativeText("Responders will no longer be directed to it or detected in it.")
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        if box.clickedButton() is not delete:
            return False
        self.select(None)
        self._emit([removed_payload(area)], area.kind, None, decided_on)
        return True

    def _version(self) -> int | None:
        state = self._map.focused_state()
        return state.last_seq if state is not None else None

    def _emit(
        self,
        payloads: list[ev.Payload],
        kind: str,
        metric: BaseGeometry | None,
        decided_on: int | None = None,
    ) -> None:
        """Send the edit (``decided_on``: the incident's version a dialog showed, so that a
        change another console made while it was open is a conflict, not overwritten)."""
        if metric is not None:
            item = self._path_item(-18)
            item.setData(0, kind)
            item.setPath(shape_path(metric))
            item.setPen(self._ghost_pen(kind))
            item.setBrush(QBrush(Qt.BrushStyle.NoBrush))
            self._ghosts.append((item, self._map.now_us))
        self._map.area_edited.emit(payloads, decided_on)

    # --- mouse (forwarded by the map's view box) -------------------------------------------------

    def click(self, event: Any) -> bool:
        """A pyqtgraph click on the map (nothing else took it); ``True`` if consumed."""
        if not self._can_edit():
            return False
        if event.button() == Qt.MouseButton.RightButton:
            self._context_menu(event)
            return True
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        p = self._vb.mapToView(event.pos())
        if self.tool is not None:
            if self.tool.shape == "polygon":
                if event.double():
                    self.finish()
                else:
                    self.add_corner(p.x(), p.y())
            else:
                self._set_message(self.tool.hint)
            return True
        area = self.area_at(p.x(), p.y())
        if area is None:
            self.select(None)
            return False
        self.select((area.kind, area.area_id))
        if event.double() and area.kind == "staging":
            self.rename_selected()
        return True

    def drag(self, event: Any) -> bool:
        """A pyqtgraph drag on the map; ``True`` if consumed (else the map pans or lassoes)."""
        if not self._can_edit() or event.button() != Qt.MouseButton.LeftButton:
            return False
        p = self._vb.mapToView(event.pos())
        if self.tool is not None and self.tool.shape == "circle":
            if event.isStart() or self._centre is None:
                self._centre = self._vb.mapToView(event.buttonDownPos())
            centre = self._centre
            self._radius = math.dist(_xy(centre), _xy(p))
            path = QPainterPath()
            path.addEllipse(centre, self._radius, self._radius)
            self._drawing.setPath(path)
            self._set_message(f"{self.tool.text}: radius {self._radius:.0f} m")
            if event.isFinish():
                self.circle(centre.x(), centre.y(), self._radius)
            return True
        if self.tool is not None:
            return False  # drawing a polygon: a drag pans
        if event.isStart():
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                return False  # the lasso
            start = self._vb.mapToView(event.buttonDownPos())
            area = self.area_at(start.x(), start.y(), inside_selected=True)
            if area is None:
                return False
            self.select((area.kind, area.area_id))
            self._moving = area
            self._move_from = start
        if self._moving is None:
            return False
        dx, dy = p.x() - self._move_from.x(), p.y() - self._move_from.y()
        self._move_ghost.setPath(shape_path(affinity.translate(self._moving.shape, dx, dy)))
        self._set_message(f"Moving the {self._moving.title}: {math.hypot(dx, dy):.0f} m")
        if event.isFinish():
            self._moving = None
            self._move_ghost.setPath(QPainterPath())
            self._set_message("")
            self.move_selected(dx, dy)
        return True

    def _mouse_moved(self, scene_pos: QPointF) -> None:
        if self.tool is None or self.tool.shape != "polygon" or not self._corners:
            return
        self._cursor = self._vb.mapSceneToView(scene_pos)
        self._draw_drawing()

    def _context_menu(self, event: Any) -> None:
        p = self._vb.mapToView(event.pos())
        menu = QMenu(self._map)
        menu.setObjectName("map_context_menu")
        if self.tool is not None:
            menu.addAction("Cancel drawing", self.cancel)
        else:
            area = self.area_at(p.x(), p.y())
            if area is not None:
                self.select((area.kind, area.area_id))
                if area.kind == "staging":
                    menu.addAction(f"Rename {area.name}…", self.rename_selected)
                menu.addAction(f"Delete the {area.title}…", self.delete_selected)
                menu.addSeparator()
            for tool, action in self.bar.actions_by_tool.items():
                menu.addAction(tool.text, action.trigger)
        menu.popup(event.screenPos().toPoint())

    # --- keys ---------------------------------------------------------------------------------

    def _wants(self, key: int) -> bool:
        if not self.enabled:
            return False
        if self.tool is not None or self._moving is not None:
            return key in (
                Qt.Key.Key_Escape, Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Backspace,
            )  # fmt: skip
        if self.selected is not None:
            return key in (Qt.Key.Key_Escape, Qt.Key.Key_Delete, Qt.Key.Key_F2)
        return False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.Resize:
            self._fit_bar()
            return False
        if kind not in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress):
            return False
        assert isinstance(event, QKeyEvent)
        if not self._wants(event.key()):
            return False
        if kind == QEvent.Type.ShortcutOverride:
            event.accept()  # these keys are ours now, not the window's shortcuts
            return True
        self.key(event.key())
        return True

    def key(self, key: int) -> None:
        if key == Qt.Key.Key_Escape:
            if self.tool is not None or self._moving is not None:
                self.cancel()
            else:
                self.select(None)
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.finish()
        elif key == Qt.Key.Key_Backspace:
            self.undo_corner()
        elif key == Qt.Key.Key_Delete:
            self.delete_selected()
        elif key == Qt.Key.Key_F2:
            self.rename_selected()

    # --- drawing --------------------------------------------------------------------------------

    def _draw_drawing(self) -> None:
        points = list(self._corners)
        self._corner_dots.setData([p.x() for p in points], [p.y() for p in points])
        if self._cursor is not None and points:
            points.append(self._cursor)
        path = QPainterPath()
        if points:
            path.addPolygon(QPolygonF(points))
            if len(points) >= 3:
                path.closeSubpath()
        self._drawing.setPath(path)

    def _draw_highlight(self) -> None:
        area = self.selected_area()
        self._highlight.setPath(shape_path(area.shape) if area else QPainterPath())

    def show_hint(self, text: str) -> None:
        """Say something in the tool bar's line (the map's drag-to-direct uses it)."""
        self._set_message(text)

    def _set_message(self, text: str, problem: bool = False) -> None:
        self.message = text
        self._message_is_problem = problem
        self._update_bar()

    def _update_bar(self) -> None:
        bar = self.bar
        bar.setVisible(self._can_edit())
        area = self.selected_area()
        bar.rename.setEnabled(area is not None and area.kind == "staging")
        bar.delete.setEnabled(area is not None)
        text = self.message
        if not text and area is not None:
            more = " · F2 renames" if area.kind == "staging" else ""
            text = f"Selected: {area.name} · drag to move{more} · Delete removes · Esc"
        colour = self._theme.caution if self._message_is_problem else self._theme.text
        bar.show_hint(text, colour)
        self._fit_bar()
        bar.raise_()

    def _fit_bar(self) -> None:
        """Keep the tool bar inside the map (a long hint wraps)."""
        bar = self.bar
        room = max(200, self._map.graphics_view.width() - 20)
        bar.setMaximumWidth(room)
        buttons = sum(b.sizeHint().width() + 6 for b in (bar.draw, bar.rename, bar.delete))
        want = bar.hint.fontMetrics().horizontalAdvance(bar.hint.text()) + 4
        bar.hint.setMinimumWidth(max(0, min(want, room - buttons - 20)))
        bar.adjustSize()


class _Dots(pg.ScatterPlotItem):  # type: ignore[misc]  # pyqtgraph is untyped: an Any base
    """The corners drawn so far: drawn only (a click on one, e.g. the double-click that
    finishes the polygon, goes to the map)."""

    def mouseClickEvent(self, ev: Any) -> None:
        ev.ignore()

    def hoverEvent(self, ev: Any) -> None:
        return


def _xy(p: QPointF) -> tuple[float, float]:
    return p.x(), p.y()


def tool_named(text: str) -> Tool:
    """The tool whose menu text is ``text``."""
    for tool in TOOLS:
        if tool.text == text:
            return tool
    raise KeyError(text)
