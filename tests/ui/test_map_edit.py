"""Incident command on the map: drawing, moving, renaming and deleting areas (as payloads, never
drawn before their events come back), dragging responders onto a staging area, warning rings and
staging counts. Real mouse and key events through the graphics view, as the user gives them."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from PySide6.QtCore import QEvent, QPoint, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox, QPushButton, QWidget
from shapely.geometry import Polygon, shape

from dispatch_console.app.live import Changes
from dispatch_console.domain import events as ev
from dispatch_console.domain.geometry import local_frame
from dispatch_console.domain.lifecycle import ResponderStatus
from dispatch_console.domain.state import IncidentState, IncidentWarning
from dispatch_console.ui.map.map_edit import (
    GHOST_US,
    TOOLS,
    AreaDialog,
    Tool,
    dedupe,
    next_staging_name,
    polygon_geometry,
    polygon_problem,
    tool_named,
    translated,
)
from dispatch_console.ui.map.map_view import AT_STAGING, MapView
from tests.ui.factory import DISPATCHER, EventWriter, S, build_incident
from tests.ui.test_map_view import MOVE_GAP_MS, Map, click, send_mouse, show

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints")

LEFT, NONE = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
NO_MOD = Qt.KeyboardModifier.NoModifier


@pytest.fixture
def m(qtbot: QtBot) -> Map:
    return show(qtbot, build_incident(40))


class Emitted:
    """Everything a map signal emitted."""

    def __init__(self, signal: Any) -> None:
        self.calls: list[tuple[Any, ...]] = []
        signal.connect(self._got)

    def _got(self, *args: Any) -> None:
        self.calls.append(args)

    @property
    def payloads(self) -> list[ev.Payload]:
        return [p for (payloads, *_) in self.calls for p in payloads]


# --- helpers: pixels, map metres, lon/lat ------------------------------------------------------


def viewport(m: Map) -> QWidget:
    vp: QWidget = m.view.graphics_view.viewport()
    return vp


def map_xy(m: Map, p: QPoint) -> tuple[float, float]:
    """Map metres under viewport pixel ``p``."""
    v = m.view.viewbox.mapSceneToView(m.view.graphics_view.mapToScene(p))
    return v.x(), v.y()


def lonlat(m: Map, p: QPoint) -> tuple[float, float]:
    return m.view.frame.to_wgs84(*map_xy(m, p))


def metres_apart(m: Map, a: tuple[float, float], b: tuple[float, float]) -> float:
    return m.view.frame.distance_m(a[0], a[1], b[0], b[1])


def double_click(w: QWidget, p: QPoint) -> None:
    """What a real double click delivers: press, release, double-click, release."""
    for kind, buttons in ((QEvent.Type.MouseButtonPress, LEFT),
                          (QEvent.Type.MouseButtonRelease, NONE),
                          (QEvent.Type.MouseButtonDblClick, LEFT),
                          (QEvent.Type.MouseButtonRelease, NONE)):  # fmt: skip
        send_mouse(w, kind, p, LEFT, buttons, NO_MOD)


def press_drag_release(w: QWidget, start: QPoint, end: QPoint, steps: int = 5) -> None:
    """Press at ``start``, move there in steps (15 ms apart: pyqtgraph drops faster moves),
    release at ``end``."""
    send_mouse(w, QEvent.Type.MouseButtonPress, start, LEFT, LEFT, NO_MOD)
    for k in range(1, steps + 1):
        QTest.qWait(MOVE_GAP_MS)
        p = start + (end - start) * (k / steps)
        send_mouse(w, QEvent.Type.MouseMove, p, NONE, LEFT, NO_MOD)
    QTest.qWait(MOVE_GAP_MS)
    send_mouse(w, QEvent.Type.MouseButtonRelease, end, LEFT, NONE, NO_MOD)


def key(m: Map, k: Qt.Key) -> None:
    QTest.keyClick(m.view.graphics_view, k)


def apply_payloads(m: Map, payloads: list[ev.Payload], dt_s: int = 1) -> Changes:
    """Store-and-fold what the map asked for (as the main window and the service would)."""
    console = m.built.console
    w = EventWriter(m.built.incident_id, console.last_seq + 1)
    at = m.built.now_us + dt_s * S
    for p in payloads:
        w.add(p, at, DISPATCHER)
    changes = console.apply(w.events)
    m.view.refresh(changes, at)
    return changes


def label_point(m: Map, area_id: str) -> QPoint:
    """The viewport pixel at the middle of a staging area's shown label."""
    lab = next(
        lab for lab in m.view._labels.labels() if lab.kind == "staging" and lab.key == area_id
    )
    return m.point(lab.x, lab.y)


def answer_modal(qtbot: QtBot, act: Callable[[QWidget], None]) -> list[QWidget]:
    """Deal with the next modal dialog with ``act`` (it runs inside the dialog's event loop)."""
    seen: list[QWidget] = []

    def poll() -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            QTimer.singleShot(10, poll)
            return
        seen.append(dialog)
        act(dialog)

    QTimer.singleShot(0, poll)
    return seen


def area_items(m: Map) -> list[Any]:
    return list(m.view._area_items[m.built.incident_id])


# --- drawing -------------------------------------------------------------------------------------


def test_drawing_a_polygon_staging_area_emits_one_set_with_the_clicked_corners(m: Map) -> None:
    edits = Emitted(m.view.area_edited)
    before_items = area_items(m)
    before_areas = dict(m.state.staging_areas)
    # The tool bar's menu, as the commander picks it.
    m.view.editor.bar.actions_by_tool[Tool("polygon", "staging")].trigger()
    assert m.view.editor.tool == Tool("polygon", "staging")
    corners = [QPoint(620, 560), QPoint(760, 540), QPoint(800, 660), QPoint(640, 690)]
    vp = viewport(m)
    for p in corners[:-1]:
        click(vp, p)
    double_click(vp, corners[-1])  # the first click of the two adds the last corner
    assert len(edits.calls) == 1
    (payload,) = edits.payloads
    assert isinstance(payload, ev.StagingAreaSet)
    assert payload.staging_area_id.startswith("staging-")
    assert payload.staging_area_id not in before_areas
    assert payload.name == "Staging C"  # A and B are taken
    assert payload.radius_m is None
    assert payload.geometry["type"] == "Polygon"
    ring = payload.geometry["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 5
    expected = [lonlat(m, p) for p in corners]
    got = [tuple(c) for c in ring[:-1]]
    # Exterior rings are counter-clockwise (RFC 7946): the same corners, maybe reversed.
    start = min(range(4), key=lambda i: metres_apart(m, got[i], expected[0]))
    got = got[start:] + got[:start]
    if metres_apart(m, got[1], expected[1]) > 1:
        got = [got[0], *reversed(got[1:])]
    for a, b in zip(got, expected, strict=True):
        assert metres_apart(m, a, b) < 1.0
    assert Polygon(ring).exterior.is_ccw
    # Not drawn as done: the state and the drawn areas are unchanged, a dashed ghost shows.
    assert dict(m.state.staging_areas) == before_areas
    assert area_items(m) == before_items
    assert m.view.editor.ghost_count() == 1
    assert m.view.editor.tool is None
    # The events come back: the area is drawn for real, labelled with its count, no ghost.
    apply_payloads(m, edits.payloads)
    assert payload.staging_area_id in m.state.staging_areas
    assert len(area_items(m)) == len(before_items) + 1
    assert m.view.editor.ghost_count() == 0
    assert "Staging C · 0" in m.view.visible_labels()


def test_enter_finishes_a_polygon_and_escape_cancels_one(m: Map) -> None:
    edits = Emitted(m.view.area_edited)
    vp = viewport(m)
    assert m.view.start_drawing("staging", "polygon")
    for p in (QPoint(600, 500), QPoint(700, 500)):
        click(vp, p)
    key(m, Qt.Key.Key_Escape)
    assert m.view.editor.tool is None
    assert edits.calls == []
    assert m.view.start_drawing("inner", "polygon")
    for p in (QPoint(600, 500), QPoint(700, 500), QPoint(650, 580)):
        click(vp, p)
    key(m, Qt.Key.Key_Return)
    (payload,) = edits.payloads
    assert isinstance(payload, ev.PerimeterSet)
    assert payload.kind == "inner"
    assert payload.perimeter_id.startswith("inner-perimeter-")
    assert len(payload.geometry["coordinates"][0]) == 4


def test_backspace_removes_the_last_corner(m: Map) -> None:
    edits = Emitted(m.view.area_edited)
    vp = viewport(m)
    m.view.start_drawing("outer", "polygon")
    for p in (QPoint(600, 500), QPoint(700, 500), QPoint(990, 100), QPoint(650, 580)):
        click(vp, p)
    key(m, Qt.Key.Key_Backspace)
    key(m, Qt.Key.Key_Backspace)
    click(vp, QPoint(650, 580))
    key(m, Qt.Key.Key_Enter)
    (payload,) = edits.payloads
    ring = payload.geometry["coordinates"][0]  # type: ignore[attr-defined]
    assert len(ring) == 4
    far = lonlat(m, QPoint(990, 100))
    assert all(metres_apart(m, tuple(c), far) > 50 for c in ring)


@pytest.mark.parametrize("kind", ["staging", "inner", "outer"])
def test_point_and_radius_emits_the_centre_and_radius_m(m: Map, kind: str) -> None:
    edits = Emitted(m.view.area_edited)
    m.view.editor.bar.actions_by_tool[Tool("circle", kind)].trigger()  # type: ignore[arg-type]
    centre, edge = QPoint(640, 600), QPoint(700, 640)
    press_drag_release(viewport(m), centre, edge)
    (payload,) = edits.payloads
    assert type(payload) is (ev.StagingAreaSet if kind == "staging" else ev.PerimeterSet)
    assert payload.geometry == {
        "type": "Point", "coordinates": [pytest.approx(v, abs=1e-7) for v in lonlat(m, centre)]
    }  # fmt: skip
    expected_radius = math.dist(map_xy(m, centre), map_xy(m, edge))
    assert payload.radius_m == pytest.approx(expected_radius, abs=1.0)
    if isinstance(payload, ev.PerimeterSet):
        assert payload.kind == kind
    assert m.view.editor.ghost_count() == 1


def test_a_click_without_a_drag_draws_no_circle(m: Map) -> None:
    edits = Emitted(m.view.area_edited)
    m.view.start_drawing("staging", "circle")
    click(viewport(m), QPoint(640, 600))
    assert edits.calls == []
    assert "drag out" in m.view.editor.message


def test_a_self_intersecting_polygon_is_refused_with_a_message(m: Map) -> None:
    edits = Emitted(m.view.area_edited)
    vp = viewport(m)
    m.view.start_drawing("staging", "polygon")
    bow_tie = [QPoint(600, 450), QPoint(760, 610), QPoint(760, 450), QPoint(600, 610)]
    for p in bow_tie:
        click(vp, p)
    key(m, Qt.Key.Key_Return)
    assert edits.calls == []
    assert "crosses itself" in m.view.editor.message
    assert "crosses itself" in m.view.editor.bar.hint.text()
    assert m.view.editor.tool is not None  # still drawing: fix it or cancel
    assert m.view.editor.ghost_count() == 0
    # Two corners are not an area either.
    key(m, Qt.Key.Key_Backspace)
    key(m, Qt.Key.Key_Backspace)
    key(m, Qt.Key.Key_Return)
    assert edits.calls == []
    assert "at least 3 corners" in m.view.editor.message


def test_markers_take_no_clicks_while_drawing(m: Map) -> None:
    rid = m.isolated()[0]
    edits = Emitted(m.view.area_edited)
    m.view.start_drawing("staging", "polygon")
    vp = viewport(m)
    p = m.marker_point(rid)
    for q in (p, p + QPoint(90, 0), p + QPoint(90, 90)):
        click(vp, q)
    assert m.selection.responder_ids == frozenset()  # the marker was not selected
    key(m, Qt.Key.Key_Return)
    assert len(edits.payloads) == 1


# --- selecting, moving, renaming, deleting ---------------------------------------------------


def test_clicking_a_label_or_an_outline_selects_the_area(m: Map) -> None:
    vp = viewport(m)
    click(vp, label_point(m, "staging-b"))
    assert m.view.selected_area_id == "staging-b"
    assert m.view.editor.bar.rename.isEnabled() and m.view.editor.bar.delete.isEnabled()
    # The inner perimeter's west edge.
    inner = m.state.perimeters["inner"]
    west = min(c[0] for c in inner.geometry["coordinates"][0])
    lat = sum(c[1] for c in inner.geometry["coordinates"][0][:4]) / 4
    edge = m.point(*m.view.frame.to_local(west, lat)) + QPoint(3, 0)
    click(vp, edge)
    assert m.view.selected_area_id == "inner"
    assert not m.view.editor.bar.rename.isEnabled()  # perimeters have no name
    # A click on nothing deselects it; so does Esc.
    click(vp, QPoint(1100, 700))
    assert m.view.selected_area_id is None
    click(vp, label_point(m, "staging-b"))
    key(m, Qt.Key.Key_Escape)
    assert m.view.selected_area_id is None


def test_dragging_a_staging_area_emits_the_moved_geometry(m: Map) -> None:
    edits = Emitted(m.view.area_edited)
    area = m.state.staging_areas["staging-a"]  # a point with a 60 m radius
    start = label_point(m, "staging-a")
    end = start + QPoint(80, 40)
    press_drag_release(viewport(m), start, end)
    (payload,) = edits.payloads
    assert isinstance(payload, ev.StagingAreaSet)
    assert payload.staging_area_id == "staging-a"
    assert payload.name == area.name and payload.radius_m == area.radius_m
    (sx, sy), (ex, ey) = map_xy(m, start), map_xy(m, end)
    ox, oy = m.view.frame.to_local(*area.geometry["coordinates"])
    nx, ny = m.view.frame.to_local(*payload.geometry["coordinates"])
    assert math.dist((nx - ox, ny - oy), (ex - sx, ey - sy)) < 1.0
    assert m.state.staging_areas["staging-a"].geometry == area.geometry  # not moved yet
    assert m.view.editor.ghost_count() == 1
    apply_payloads(m, edits.payloads)
    assert m.state.staging_areas["staging-a"].geometry == payload.geometry
    assert m.view.editor.ghost_count() == 0
    assert m.view.selected_area_id == "staging-a"  # still selected, now where it was dropped


def test_dragging_the_inner_perimeter_by_its_outline_moves_every_corner(m: Map) -> None:
    edits = Emitted(m.view.area_edited)
    inner = m.state.perimeters["inner"]
    ring = inner.geometry["coordinates"][0]
    west = min(c[0] for c in ring)
    lat = sum(c[1] for c in ring[:4]) / 4
    start = m.point(*m.view.frame.to_local(west, lat))
    end = start + QPoint(-60, 30)
    press_drag_release(viewport(m), start, end)
    (payload,) = edits.payloads
    assert isinstance(payload, ev.PerimeterSet)
    assert (payload.perimeter_id, payload.kind) == ("inner", "inner")
    (sx, sy), (ex, ey) = map_xy(m, start), map_xy(m, end)
    f = m.view.frame
    for old, new in zip(ring, payload.geometry["coordinates"][0], strict=True):
        ox, oy = f.to_local(*old)
        nx, ny = f.to_local(*new)
        assert math.dist((nx - ox, ny - oy), (ex - sx, ey - sy)) < 1.0


def test_a_drag_elsewhere_still_pans_and_moves_nothing(m: Map) -> None:
    edits = Emitted(m.view.area_edited)
    before = m.view.viewbox.viewRect()
    press_drag_release(viewport(m), QPoint(1100, 700), QPoint(1000, 700))
    assert edits.calls == []
    assert m.view.viewbox.viewRect().center().x() > before.center().x()


def test_rename_asks_for_name_and_capacity_and_emits_the_whole_area(qtbot: QtBot, m: Map) -> None:
    edits = Emitted(m.view.area_edited)
    area = m.state.staging_areas["staging-b"]
    click(viewport(m), label_point(m, "staging-b"))

    def fill(dialog: QWidget) -> None:
        assert isinstance(dialog, AreaDialog)
        assert dialog.name.text() == area.name
        dialog.name.setText("Staging North (bus depot)")
        dialog.capacity.setValue(25)
        dialog.accept()

    seen = answer_modal(qtbot, fill)
    key(m, Qt.Key.Key_F2)
    assert len(seen) == 1
    (payload,) = edits.payloads
    assert payload == ev.StagingAreaSet(
        "staging-b", "Staging North (bus depot)", area.geometry, area.radius_m, area.manager, 25
    )
    assert m.state.staging_areas["staging-b"].name == area.name  # until the event comes back
    apply_payloads(m, edits.payloads)
    assert any(t.startswith("Staging North (bus depot) · ") for t in m.view.visible_labels())


def test_rename_and_delete_decide_on_the_version_their_dialog_opened_on(
    qtbot: QtBot, m: Map
) -> None:
    """Another console moves the area while the dialog is open: the edit says which version it
    was decided on (the service refuses it as a conflict, instead of putting the old shape
    back), and edits decided on the spot say none (the version the console shows)."""
    edits = Emitted(m.view.area_edited)
    area = m.state.staging_areas["staging-b"]
    m.view.select_area("staging-b")
    opened_on = m.state.last_seq

    def moved_elsewhere_then(answer: Callable[[QWidget], None]) -> Callable[[QWidget], None]:
        def act(dialog: QWidget) -> None:
            moved = translated(area.geometry, 50, 0, m.view.frame)
            staging = ev.StagingAreaSet(
                "staging-b", area.name, moved, area.radius_m, area.manager, area.capacity
            )
            apply_payloads(m, [staging])
            answer(dialog)

        return act

    def rename(dialog: QWidget) -> None:
        dialog.name.setText("Staging North")  # type: ignore[attr-defined]
        dialog.accept()  # type: ignore[attr-defined]

    answer_modal(qtbot, moved_elsewhere_then(rename))
    assert m.view.rename_selected_area()
    assert m.state.last_seq == opened_on + 1  # the other console's move arrived meanwhile
    assert edits.calls[-1][1] == opened_on

    def delete(box: QWidget) -> None:
        next(b for b in box.findChildren(QPushButton) if b.text() == "Delete").click()

    m.view.select_area("staging-b")
    answer_modal(qtbot, moved_elsewhere_then(delete))
    assert m.view.delete_selected_area()
    assert edits.calls[-1] == ([ev.StagingAreaRemoved("staging-b")], opened_on + 1)
    m.view.select_area("staging-a")
    assert m.view.editor.move_selected(10.0, 0.0)
    assert edits.calls[-1][1] is None  # decided now


def test_rename_cancelled_or_unchanged_emits_nothing(qtbot: QtBot, m: Map) -> None:
    edits = Emitted(m.view.area_edited)
    m.view.select_area("staging-b")
    answer_modal(qtbot, lambda d: d.reject())  # type: ignore[attr-defined]
    assert not m.view.rename_selected_area()
    answer_modal(qtbot, lambda d: d.accept())  # type: ignore[attr-defined]
    assert not m.view.rename_selected_area()
    assert edits.calls == []


def test_double_clicking_a_staging_label_opens_the_rename_dialog(qtbot: QtBot, m: Map) -> None:
    seen = answer_modal(qtbot, lambda d: d.reject())  # type: ignore[attr-defined]
    double_click(viewport(m), label_point(m, "staging-b"))
    assert len(seen) == 1 and isinstance(seen[0], AreaDialog)


def test_delete_asks_once_naming_the_area_then_emits_its_removal(qtbot: QtBot, m: Map) -> None:
    edits = Emitted(m.view.area_edited)
    click(viewport(m), label_point(m, "staging-b"))
    texts: list[str] = []

    def confirm(box: QWidget) -> None:
        assert isinstance(box, QMessageBox)
        texts.append(box.text())
        delete = next(b for b in box.findChildren(QPushButton) if b.text() == "Delete")
        delete.click()

    seen = answer_modal(qtbot, confirm)
    key(m, Qt.Key.Key_Delete)
    assert len(seen) == 1
    assert texts == ["Delete the staging area “Staging B (bus depot)”?"]
    assert edits.payloads == [ev.StagingAreaRemoved("staging-b")]
    assert "staging-b" in m.state.staging_areas  # still there until the event comes back
    n = len(area_items(m))
    apply_payloads(m, edits.payloads)
    assert len(area_items(m)) == n - 1
    assert not any(t.startswith("Staging B") for t in m.view.visible_labels())
    assert m.view.selected_area_id is None


def test_delete_cancelled_emits_nothing_and_perimeters_are_removed_as_perimeters(
    qtbot: QtBot, m: Map
) -> None:
    edits = Emitted(m.view.area_edited)
    m.view.select_area("outer")
    answer_modal(qtbot, lambda box: box.reject())  # type: ignore[attr-defined]
    assert not m.view.delete_selected_area()
    assert edits.calls == []
    texts: list[str] = []

    def confirm(box: QWidget) -> None:
        assert isinstance(box, QMessageBox)
        texts.append(box.text())
        next(b for b in box.findChildren(QPushButton) if b.text() == "Delete").click()

    answer_modal(qtbot, confirm)
    m.view.editor.bar.delete.click()
    assert texts == ["Delete the outer perimeter?"]
    assert edits.payloads == [ev.PerimeterRemoved("outer")]


@pytest.mark.qt_log_ignore("does not support (propagateSizeHints|grabbing the keyboard|raise)")
def test_right_click_offers_the_tools_and_the_area_actions(qtbot: QtBot, m: Map) -> None:
    QTest.mouseClick(viewport(m), Qt.MouseButton.RightButton, NO_MOD, label_point(m, "staging-b"))
    menu = next(w for w in QApplication.topLevelWidgets() if isinstance(w, QMenu)
                and w.objectName() == "map_context_menu" and w.isVisible())  # fmt: skip
    texts = [a.text() for a in menu.actions() if a.text()]
    assert texts[:2] == [
        "Rename Staging B (bus depot)…",
        "Delete the staging area “Staging B (bus depot)”…",
    ]
    assert texts[2:] == [t.text for t in TOOLS]
    assert m.view.selected_area_id == "staging-b"
    next(a for a in menu.actions() if a.text() == "New outer perimeter (point + radius)").trigger()
    menu.close()
    assert m.view.editor.tool == tool_named("New outer perimeter (point + radius)")


def test_pending_ghost_expires_if_the_events_never_come_back(m: Map) -> None:
    m.view.start_drawing("staging", "circle")
    press_drag_release(viewport(m), QPoint(640, 600), QPoint(700, 600))
    assert m.view.editor.ghost_count() == 1
    m.view.refresh(Changes(), m.built.now_us + GHOST_US // 2)
    assert m.view.editor.ghost_count() == 1
    m.view.refresh(Changes(), m.built.now_us + GHOST_US + S)
    assert m.view.editor.ghost_count() == 0
    m.view.start_drawing("outer", "circle")
    press_drag_release(viewport(m), QPoint(640, 600), QPoint(700, 600))
    assert m.view.editor.ghost_count() == 1
    m.view.clear_pending_edits()  # the service refused it: the main window says so
    assert m.view.editor.ghost_count() == 0


# --- editing disabled -------------------------------------------------------------------------


def test_with_editing_disabled_there_are_no_tools_and_nothing_is_emitted(
    qtbot: QtBot, m: Map
) -> None:
    edits = Emitted(m.view.area_edited)
    directs = Emitted(m.view.direct_requested)
    assert m.view.editor.bar.isVisible()
    m.view.set_editing_enabled(False)
    assert not m.view.editing_enabled
    assert not m.view.editor.bar.isVisible()
    assert not m.view.start_drawing("staging", "polygon")
    vp = viewport(m)
    click(vp, label_point(m, "staging-b"))
    assert m.view.selected_area_id is None
    assert not m.view.select_area("staging-b")
    key(m, Qt.Key.Key_Delete)
    QTest.mouseClick(vp, Qt.MouseButton.RightButton, NO_MOD, QPoint(640, 600))
    assert not any(isinstance(w, QMenu) and w.isVisible() for w in QApplication.topLevelWidgets())
    press_drag_release(vp, label_point(m, "staging-b"), label_point(m, "staging-b") + QPoint(50, 0))
    rid = m.isolated()[0]
    m.selection.select({rid}, "table")
    press_drag_release(vp, m.marker_point(rid), label_point(m, "staging-a"))
    assert edits.calls == [] and directs.calls == []
    m.view.set_editing_enabled(True)
    assert m.view.editor.bar.isVisible()
    assert m.view.start_drawing("staging", "polygon")


def test_switching_editing_off_cancels_a_drawing_in_progress(m: Map) -> None:
    edits = Emitted(m.view.area_edited)
    m.view.start_drawing("staging", "polygon")
    for p in (QPoint(600, 500), QPoint(700, 500), QPoint(650, 580)):
        click(viewport(m), p)
    m.view.set_editing_enabled(False)
    assert m.view.editor.tool is None
    key(m, Qt.Key.Key_Return)
    assert edits.calls == []


def test_a_closed_incident_cannot_be_edited(m: Map) -> None:
    edits = Emitted(m.view.area_edited)
    m.view.start_drawing("staging", "polygon")
    click(viewport(m), QPoint(600, 500))
    apply_payloads(m, [ev.IncidentStatusChanged("all_clear", "suspect in custody")])
    assert m.state.closed
    assert m.view.editor.tool is None
    assert not m.view.editor.bar.isVisible()
    assert not m.view.start_drawing("staging", "polygon")
    assert not m.view.select_area("staging-b")
    assert edits.calls == []


# --- dragging responders onto a staging area -----------------------------------------------------


def test_dragging_selected_markers_onto_a_staging_area_directs_all_of_them(m: Map) -> None:
    directs = Emitted(m.view.direct_requested)
    a, b = m.isolated()[:2]
    m.selection.select({a, b}, "table")
    before = {rid: m.view.marker_position(rid) for rid in (a, b)}
    target = label_point(m, "staging-b")
    press_drag_release(viewport(m), m.marker_point(a), target, steps=8)
    assert directs.calls == [(frozenset({a, b}), "staging-b")]
    # The markers never moved: positions come from the feed only.
    assert {rid: m.view.marker_position(rid) for rid in (a, b)} == before
    assert len(m.view._drag_ghost.data) == 0


def test_a_drop_on_a_staging_label_beside_its_small_area_directs_there(m: Map) -> None:
    directs = Emitted(m.view.direct_requested)
    a = m.isolated()[0]
    m.selection.select({a}, "table")
    lab = next(lab for lab in m.view._labels.labels() if lab.key == "staging-b")
    width, _height = m.view._labels.measure(lab.text, lab.kind)
    drop = label_point(m, "staging-b") + QPoint(int(width / 2) - 8, 0)
    area = next(x for x in m.view.editor.areas if x.area_id == "staging-b")
    assert not area.shape.buffer(1.0).contains(
        shape({"type": "Point", "coordinates": map_xy(m, drop)})
    )
    press_drag_release(viewport(m), m.marker_point(a), drop, steps=8)
    assert directs.calls == [(frozenset({a}), "staging-b")]


def test_a_drop_outside_any_staging_area_does_nothing(m: Map) -> None:
    directs = Emitted(m.view.direct_requested)
    edits = Emitted(m.view.area_edited)
    a, b = m.isolated()[:2]
    m.selection.select({a, b}, "table")
    before = m.view.marker_position(a)
    rect = m.view.viewbox.viewRect()
    press_drag_release(viewport(m), m.marker_point(a), m.marker_point(a) + QPoint(0, 40))
    assert directs.calls == [] and edits.calls == []
    assert m.view.marker_position(a) == before
    assert len(m.view._drag_ghost.data) == 0
    assert m.view.viewbox.viewRect() == rect  # the drag was the marker's: no pan
    assert m.selection.responder_ids == {a, b}


def test_dragging_an_unselected_marker_pans_and_directs_nobody(m: Map) -> None:
    directs = Emitted(m.view.direct_requested)
    a, b = m.isolated()[:2]
    m.selection.select({a}, "table")
    before = m.view.viewbox.viewRect()
    press_drag_release(viewport(m), m.marker_point(b), label_point(m, "staging-b"))
    assert directs.calls == []
    assert m.view.viewbox.viewRect() != before


def test_the_staging_area_under_a_dragged_marker_lights_up(m: Map) -> None:
    a = m.isolated()[0]
    m.selection.select({a}, "table")
    vp = viewport(m)
    start, target = m.marker_point(a), label_point(m, "staging-b")
    send_mouse(vp, QEvent.Type.MouseButtonPress, start, LEFT, LEFT, NO_MOD)
    for k in range(1, 6):
        QTest.qWait(MOVE_GAP_MS)
        send_mouse(
            vp, QEvent.Type.MouseMove, start + (target - start) * (k / 5), NONE, LEFT, NO_MOD
        )
    assert not m.view.editor._drop_target.path().isEmpty()
    assert len(m.view._drag_ghost.data) == 1
    assert "Staging B (bus depot)" in m.view.editor.message
    QTest.qWait(MOVE_GAP_MS)
    send_mouse(vp, QEvent.Type.MouseButtonRelease, target, LEFT, NONE, NO_MOD)
    assert m.view.editor._drop_target.path().isEmpty()


# --- warnings ---------------------------------------------------------------------------------


def warning_event(m: Map, payload: ev.Payload) -> ev.Event:
    return EventWriter(m.built.incident_id, 10**9).add(payload, m.built.now_us)


def raise_warning(
    m: Map, wid: str, kind: ev.WarningKind, rid: str, *, acked: bool = False
) -> Changes:
    """A warning in the state as the fold will put it (written directly until the domain's
    fold handlers land), and the Changes naming its event."""
    m.state.warnings[wid] = IncidentWarning(
        wid, kind, rid, "detail", m.built.now_us,
        acknowledged_at_us=m.built.now_us if acked else None,
        acknowledged_by="IC" if acked else None,
    )  # fmt: skip
    event = warning_event(m, ev.WarningRaised(wid, kind, rid, "detail"))
    return Changes(incidents={m.built.incident_id}, events=[event])


def test_active_warnings_ring_their_responders_in_red_with_a_badge(m: Map) -> None:
    a, b, c = m.isolated(exclude={"r001"})[:3]  # r001 is stale: its label adds the age
    m.view.refresh(raise_warning(m, "w1", "unidentified_in_inner_perimeter", a), m.built.now_us)
    m.view.refresh(raise_warning(m, "w2", "attire_matches_suspect", b), m.built.now_us)
    m.view.refresh(raise_warning(m, "w3", "not_on_roster", c, acked=True), m.built.now_us)
    assert m.view.warning_rings() == {a: "priority", b: "active", c: "acknowledged"}
    callsign = m.state.responders[a].callsign
    assert m.view.marker_style(a)["label"] == f"! {callsign}"
    assert m.view.marker_style(a)["warning"] == "priority"
    kinds = {lab.key: lab.kind for lab in m.view._labels.labels()}
    assert kinds[a] == kinds[b] == "warning" and kinds[c] == "warning_ack"
    layer = m.view._warning_layer
    pens = {WARN: [p.color().name() for p, _r in layer._pens[WARN]] for WARN in range(3)}
    alarm = "#e0162b"
    assert pens[0] == [alarm, alarm]  # priority 1: two red rings
    assert pens[1] == [alarm]
    assert pens[2] == ["#ffb000"]  # acknowledged: amber
    # Painted above every marker (the labels never cover a ring).
    assert layer.zValue() > m.view._markers.zValue()
    assert layer.parentItem() is m.view.viewbox


def test_a_warned_label_is_shown_even_in_a_crowd(qtbot: QtBot) -> None:
    m = show(qtbot, build_incident(300, seed=5))
    styles = {rid: m.view.marker_style(rid) for rid in m.state.responders}
    crowd = [rid for rid, style in styles.items() if style["drawn"] and style["label"] is None]
    rid = crowd[0]
    m.view.refresh(raise_warning(m, "w1", "unidentified_in_inner_perimeter", rid), m.built.now_us)
    assert m.view.marker_style(rid)["label"].startswith("! ")


def test_acknowledged_turns_amber_and_ended_removes_the_ring(m: Map) -> None:
    a = m.isolated(exclude={"r001"})[0]
    m.view.refresh(raise_warning(m, "w1", "bypassing_staging", a), m.built.now_us)
    assert m.view.warning_rings() == {a: "active"}
    w = m.state.warnings["w1"]
    w.acknowledged_at_us, w.acknowledged_by = m.built.now_us, "IC"
    ack = warning_event(m, ev.WarningAcknowledged("w1", "IC"))
    m.view.refresh(Changes(incidents={m.built.incident_id}, events=[ack]), m.built.now_us)
    assert m.view.warning_rings() == {a: "acknowledged"}
    w.ended_at_us = m.built.now_us
    end = warning_event(m, ev.WarningEnded("w1", "identified"))
    m.view.refresh(Changes(incidents={m.built.incident_id}, events=[end]), m.built.now_us)
    assert m.view.warning_rings() == {}
    assert m.view.marker_style(a)["label"] in (None, m.state.responders[a].callsign)


def test_the_most_urgent_warning_of_a_responder_wins(m: Map) -> None:
    a = m.isolated()[0]
    m.view.refresh(raise_warning(m, "w1", "not_on_roster", a, acked=True), m.built.now_us)
    m.view.refresh(raise_warning(m, "w2", "unidentified_in_inner_perimeter", a), m.built.now_us)
    assert m.view.warning_rings() == {a: "priority"}


def test_rings_follow_their_marker_and_are_not_rebuilt_when_only_positions_change(
    m: Map,
) -> None:
    a = m.isolated()[0]
    m.view.refresh(raise_warning(m, "w1", "bypassing_staging", a), m.built.now_us)
    layer = m.view._warning_layer
    builds = layer.builds
    console = m.built.console
    r = m.state.responders[a]
    assert r.position is not None
    at = m.built.now_us
    for k in range(1, 4):
        w = EventWriter(m.built.incident_id, console.last_seq + 1)
        at += S
        w.add(ev.ResponderPosition(a, r.position.lat + 0.0005, r.position.lon, at, at + 30 * S), at)
        w.add(ev.ResponderPosition("r002", r.position.lat, r.position.lon + 0.001 * k, at,
                                   at + 30 * S), at)  # fmt: skip
        m.view.refresh(console.apply(w.events), at)
    assert layer.builds == builds
    assert (float(layer._x[0]), float(layer._y[0])) == m.view.marker_position(a)


def test_no_focused_incident_no_rings(qtbot: QtBot) -> None:
    m = show(qtbot, build_incident(40), focus=False)
    assert m.view.warning_rings() == {}
    assert not m.view.editor.bar.isVisible()


# --- staging counts ------------------------------------------------------------------------------


def expected_count(state: IncidentState, area_id: str) -> int:
    return sum(
        1 for r in state.responders.values()
        if r.staging_area_id == area_id and r.status in AT_STAGING
    )  # fmt: skip


def test_staging_labels_count_the_responders_there(m: Map) -> None:
    n_a = expected_count(m.state, "staging-a")
    assert n_a > 3  # the factory's at-staging, identified and assigned responders
    assert m.view.staging_count("staging-a") == n_a
    assert f"Staging A (church lot, Elm St) · {n_a}" in m.view.visible_labels()
    assert "Staging B (bus depot) · 0" in m.view.visible_labels()
    # Someone arrives at B, someone at A is released, someone at A is staged: the counts follow.
    en_route = next(rid for rid, r in m.state.responders.items()
                    if r.status is ResponderStatus.EN_ROUTE)  # fmt: skip
    at_a = [rid for rid, r in m.state.responders.items()
            if r.staging_area_id == "staging-a" and r.status in AT_STAGING]  # fmt: skip
    console = m.built.console
    w = EventWriter(m.built.incident_id, console.last_seq + 1)
    at = m.built.now_us + S
    w.add(ev.ResponderArrived(en_route, "staging", "staging-b"), at)
    w.add(ev.ResponderReleased(at_a[0], "sent home"), at, DISPATCHER)
    m.view.refresh(console.apply(w.events), at)
    assert m.view.staging_count("staging-a") == n_a - 1 == expected_count(m.state, "staging-a")
    assert m.view.staging_count("staging-b") == 1
    assert f"Staging A (church lot, Elm St) · {n_a - 1}" in m.view.visible_labels()
    assert "Staging B (bus depot) · 1" in m.view.visible_labels()


# --- the pure part -----------------------------------------------------------------------------


def test_polygon_problems() -> None:
    assert polygon_problem([(0, 0), (10, 0)]) == "An area needs at least 3 corners."
    assert polygon_problem([(0, 0), (10, 0), (10, 0), (0, 0)]) is not None  # repeats collapse
    assert "crosses itself" in (polygon_problem([(0, 0), (10, 10), (10, 0), (0, 10)]) or "")
    assert "too small" in (polygon_problem([(0, 0), (1, 0), (0, 1)]) or "")
    assert polygon_problem([(0, 0), (100, 0), (100, 50)]) is None
    assert dedupe([(0, 0), (0, 0.001), (5, 5), (0, 0)]) == [(0, 0), (5, 5)]


def test_geometry_round_trips_through_the_frame_within_a_centimetre() -> None:
    frame = local_frame(-84.54, 38.225)
    points = [(100.0, 100.0), (300.0, 120.0), (250.0, 400.0)]
    geometry = polygon_geometry(points, frame)
    ring = geometry["coordinates"][0]
    back = sorted(frame.to_local(*c) for c in ring[:-1])
    for got, want in zip(back, sorted(points), strict=True):
        assert got == pytest.approx(want, abs=0.02)
    moved = translated(geometry, 30.0, -40.0, frame)
    for a, b in zip(ring, moved["coordinates"][0], strict=True):
        (ax, ay), (bx, by) = frame.to_local(*a), frame.to_local(*b)
        assert (bx - ax, by - ay) == pytest.approx((30.0, -40.0), abs=0.02)
    assert shape(moved).is_valid
    point = translated({"type": "Point", "coordinates": [-84.54, 38.225]}, 10.0, 0.0, frame)
    assert frame.to_local(*point["coordinates"]) == pytest.approx((10.0, 0.0), abs=0.02)


def test_new_staging_names_take_the_next_free_letter(m: Map) -> None:
    assert next_staging_name(m.state) == "Staging C"
    assert next_staging_name(None) == "Staging A"


def test_ghosts_never_show_the_change_as_done(m: Map) -> None:
    """A pending move is a dashed outline in the area's colour, never the area itself."""
    m.view.select_area("staging-b")
    assert m.view.editor.move_selected(50.0, 0.0)
    ghost, _at = m.view.editor._ghosts[0]
    assert ghost.pen().style() == Qt.PenStyle.DashLine
    assert ghost.brush().style() == Qt.BrushStyle.NoBrush
    area = next(a for a in m.view.editor.areas if a.area_id == "staging-b")
    rect = ghost.path().boundingRect()
    minx, miny, maxx, _maxy = area.shape.bounds
    assert (rect.left(), rect.top(), rect.right()) == pytest.approx((minx + 50, miny, maxx + 50))
    assert (
        m.state.staging_areas["staging-b"].geometry["coordinates"] == area.geometry["coordinates"]
    )


def test_the_maps_keys_win_over_the_windows_shortcuts_only_while_editing(qtbot: QtBot) -> None:
    """The main window binds Esc to "clear selection": while an area is selected or drawn Esc
    is the map's; otherwise the window's shortcut still works."""
    from PySide6.QtGui import QAction, QKeySequence
    from PySide6.QtWidgets import QMainWindow

    from dispatch_console.ui.shell.selection import Selection
    from dispatch_console.ui.shell.theme import NIGHT

    built = build_incident(40)
    selection = Selection()
    selection.focus(built.incident_id)
    window = QMainWindow()
    qtbot.addWidget(window)
    view = MapView(built.console, selection, NIGHT)
    window.setCentralWidget(view)
    fired: list[str] = []
    action = QAction("clear", window)
    action.setShortcut(QKeySequence("Esc"))
    action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    action.triggered.connect(lambda: fired.append("esc"))
    window.addAction(action)
    window.resize(1200, 800)
    with qtbot.waitActive(window):  # window shortcuts only fire in the active window
        window.show()
        window.activateWindow()
    view.graphics_view.setFocus()
    QTest.keyClick(view.graphics_view, Qt.Key.Key_Escape)
    assert fired == ["esc"]  # nothing to cancel on the map: the window's shortcut
    view.select_area("staging-b")
    QTest.keyClick(view.graphics_view, Qt.Key.Key_Escape)
    assert view.selected_area_id is None
    assert fired == ["esc"]  # the map's this time
    view.start_drawing("staging", "polygon")
    QTest.keyClick(view.graphics_view, Qt.Key.Key_Escape)
    assert view.editor.tool is None
    assert fired == ["esc"]
    QTest.keyClick(view.graphics_view, Qt.Key.Key_Escape)
    assert fired == ["esc", "esc"]
