"""The map: what is drawn per responder (read back from the drawn items), interaction with the
shared Selection through real mouse events, areas, labels, themes and incremental refresh."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget

from dispatch_console.app.live import Changes
from dispatch_console.domain import events as ev
from dispatch_console.domain.lifecycle import PRESENT, RESPONDING, ResponderStatus
from dispatch_console.domain.state import IncidentState
from dispatch_console.ui.map.map_view import (
    MAX_RESPONDER_LABELS,
    MapView,
    age_text,
    distance_text,
    nice_length,
)
from dispatch_console.ui.shell.selection import Selection
from dispatch_console.ui.shell.theme import DAY, NIGHT
from tests.ui.factory import Built, EventWriter, S, build_incident

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

#: The offscreen platform says this whenever a top-level window is shown.
pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints")

#: pyqtgraph drops mouse moves closer together than its rate limit (100 per second).
MOVE_GAP_MS = 15


@dataclass
class Map:
    view: MapView
    selection: Selection
    built: Built

    @property
    def state(self) -> IncidentState:
        return self.built.console.incidents[self.built.incident_id]

    def point(self, x: float, y: float) -> QPoint:
        """Where map metres ``(x, y)`` are on the graphics view's viewport."""
        scene = self.view.viewbox.mapViewToScene(QPointF(x, y))
        point: QPoint = self.view.graphics_view.mapFromScene(scene)
        return point

    def marker_point(self, responder_id: str) -> QPoint:
        position = self.view.marker_position(responder_id)
        assert position is not None
        return self.point(*position)

    def isolated(self, *, exclude: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
        """Drawn responders with no other marker within 40 px (safe to click)."""
        ids = [rid for rid in self.state.responders if self.view.marker_position(rid)]
        points = {rid: self.marker_point(rid) for rid in ids}
        alone = []
        for rid in ids:
            p = points[rid]
            inside = 20 < p.x() < self.view.width() - 20 and 20 < p.y() < self.view.height() - 20
            near = any(
                math.hypot(p.x() - q.x(), p.y() - q.y()) < 40 for o, q in points.items() if o != rid
            )
            if inside and not near and rid not in exclude:
                alone.append(rid)
        return alone


def show(
    qtbot: QtBot, built: Built, *, focus: bool = True, size: tuple[int, int] = (1200, 800)
) -> Map:
    selection = Selection()
    if focus:
        selection.focus(built.incident_id)
    view = MapView(built.console, selection, NIGHT)
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    qtbot.waitExposed(view)
    view.fit_to_incident()
    view.refresh(Changes(), built.now_us)
    return Map(view, selection, built)


@pytest.fixture
def m(qtbot: QtBot) -> Map:
    return show(qtbot, build_incident(40))


def drawn_ids(view: MapView) -> set[str]:
    return {str(i) for i in view._markers.data["data"]}


# --- markers --------------------------------------------------------------------------------------


def test_one_marker_per_responder_of_the_focused_incident_with_a_position(m: Map) -> None:
    with_fix = {rid for rid, r in m.state.responders.items() if r.position is not None}
    assert len(with_fix) < len(m.state.responders)  # some only notified: nothing to draw
    assert m.view.marker_count() == len(with_fix)
    assert drawn_ids(m.view) == with_fix


def test_markers_sit_where_the_frame_projects_their_position(m: Map) -> None:
    for rid, r in m.state.responders.items():
        if r.position is None:
            continue
        x, y = m.view.frame.to_local(r.position.lon, r.position.lat)
        drawn = m.view.marker_position(rid)
        assert drawn is not None
        assert drawn[0] == pytest.approx(x, abs=0.05)
        assert drawn[1] == pytest.approx(y, abs=0.05)


def test_live_marker_colour_is_the_theme_colour_of_its_status(m: Map) -> None:
    seen = set()
    for rid, r in m.state.responders.items():
        style = m.view.marker_style(rid)
        if not style["drawn"] or r.is_stale(m.built.now_us):
            continue
        assert style["color"] == QColor(NIGHT.status[r.status]).name(), rid
        seen.add(r.status)
    assert {ResponderStatus.EN_ROUTE, ResponderStatus.ON_SCENE, ResponderStatus.AT_STAGING} <= seen


def test_shape_follows_duty_off_duty_diamond_on_duty_circle_unknown_square(m: Map) -> None:
    w = EventWriter(m.built.incident_id, m.built.events[-1].seq + 1)
    at = m.built.now_us - 5 * S
    w.add(ev.ResponderNotified("rx", "dev-x"), at)  # no profile: duty unknown
    w.add(ev.ResponderPosition("rx", m.state.lat + 0.01, m.state.lon, at, at + 30 * S), at)
    m.view.refresh(m.built.console.apply(w.events), m.built.now_us)
    for rid, r in m.state.responders.items():
        style = m.view.marker_style(rid)
        if style["drawn"]:
            assert style["symbol"] == {"on": "o", "off": "d", None: "s"}[r.duty], rid
    assert m.view.marker_style("r000")["symbol"] == "d"
    assert m.view.marker_style("rx")["symbol"] == "s"


def test_plainclothes_responders_are_ringed_in_their_status_colour(m: Map) -> None:
    r000 = m.view.marker_style("r000")
    assert r000["ringed"]
    assert r000["ring_color"] == QColor(NIGHT.status[ResponderStatus.ON_SCENE]).name()
    for rid, r in m.state.responders.items():
        style = m.view.marker_style(rid)
        if style["drawn"]:
            assert style["ringed"] == r.plainclothes, rid


def test_unidentified_responding_responders_have_a_dashed_outline(m: Map) -> None:
    assert m.view.marker_style("r000")["dashed"]  # on scene, never identified
    identified = [rid for rid, r in m.state.responders.items() if r.identified and r.position]
    assert identified
    for rid, r in m.state.responders.items():
        style = m.view.marker_style(rid)
        if style["drawn"]:
            expected = not r.identified and r.status in RESPONDING
            assert style["dashed"] == expected, rid


def test_stale_r001_is_grey_with_its_age_and_not_its_status_colour(m: Map) -> None:
    r001 = m.state.responders["r001"]
    assert r001.is_stale(m.built.now_us)
    style = m.view.marker_style("r001")
    assert style["stale"]
    assert style["color"] == QColor(NIGHT.stale).name()
    assert style["color"] != QColor(NIGHT.status[r001.status]).name()
    assert style["age_text"] == "2m 30s"
    assert style["label"] == "U-001  2m 30s"


def test_a_responder_goes_stale_as_time_passes_without_events(m: Map) -> None:
    r = m.state.responders["r002"]
    assert r.position is not None and not r.is_stale(m.built.now_us)
    colour = QColor(NIGHT.status[r.status]).name()
    assert m.view.marker_style("r002")["color"] == colour
    later = r.position.stale_at_us + 5 * S
    m.view.refresh(Changes(), later)
    style = m.view.marker_style("r002")
    assert style["stale"]
    assert style["color"] == QColor(NIGHT.stale).name()
    assert style["age_text"] == age_text((later - r.position.at_us) / 1e6) == "35s"
    m.view.refresh(Changes(), later + 60 * S)
    assert m.view.marker_style("r002")["age_text"] == "1m 35s"


def test_marker_styles_are_shared_objects_not_built_per_point(qtbot: QtBot) -> None:
    view = show(qtbot, build_incident(300)).view
    data = view._markers.data
    assert len(data) > 200
    assert len({id(p) for p in data["pen"]}) <= 2  # solid or dashed outline
    assert len({id(b) for b in data["brush"]}) <= len(ResponderStatus) + 1  # + stale grey


def test_moving_responders_have_a_heading_tick(m: Map) -> None:
    now = m.built.now_us
    moving = [
        r for r in m.state.responders.values()
        if r.position and not r.is_stale(now) and (r.position.speed_mps or 0) >= 2
    ]  # fmt: skip
    assert moving
    x, _ = m.view._ticks.getData()
    assert len(x) == 2 * len(moving)


def test_trails_of_responders_on_their_way_end_at_their_marker(m: Map) -> None:
    x, y = m.view._trails.getData()
    assert len(x) > 0
    en_route = [rid for rid, r in m.state.responders.items()
                if r.status is ResponderStatus.EN_ROUTE and r.position]  # fmt: skip
    ends = set(zip(np.round(x, 3), np.round(y, 3), strict=True))
    for rid in en_route:
        px, py = m.view.marker_position(rid)  # type: ignore[misc]
        assert (round(px, 3), round(py, 3)) in ends
    # Breadcrumbs come from the console's trail (last 5 minutes), not only the current fix.
    trail = m.built.console.trail(m.built.incident_id, en_route[0], m.built.now_us)
    assert len(trail) > 3
    assert len(x) > 3 * len(en_route)


# --- labels ---------------------------------------------------------------------------------------


def test_labels_show_callsigns_at_eleven_points_or_more(m: Map) -> None:
    labels = m.view.visible_labels()
    assert any(text.startswith("U-0") for text in labels)
    assert all(font.pointSize() >= 11 for font in m.view._labels._fonts.values())


def test_two_responders_at_the_same_spot_show_one_label(m: Map) -> None:
    w = EventWriter(m.built.incident_id, m.built.events[-1].seq + 1)
    at = m.built.now_us - 5 * S
    lat, lon = m.state.lat - 0.004, m.state.lon + 0.006  # an empty corner of the view
    for rid in ("ra", "rb"):
        w.add(ev.ResponderNotified(rid, f"dev-{rid}"), at)
        w.add(ev.ResponderProfileReported(rid, f"Officer {rid}", "Georgetown PD", "9", f"CS-{rid}",
                                          "on", True, ev.Attire(uniform=True)), at)  # fmt: skip
        w.add(ev.ResponderPosition(rid, lat, lon, at, at + 30 * S, 5.0, 0.0, 0.0), at)
    m.view.refresh(m.built.console.apply(w.events), m.built.now_us)
    assert m.view.marker_count() == len(drawn_ids(m.view))
    shown = [t for t in m.view.visible_labels() if t.startswith("CS-")]
    assert shown == ["CS-ra +1"]  # one label, saying another marker is under it
    assert m.view.marker_style("ra")["label"] == "CS-ra +1"
    assert m.view.marker_style("rb")["label"] is None


def test_crowd_counts_are_the_unlabelled_markers_nearest_each_label(qtbot: QtBot) -> None:
    m = show(qtbot, build_incident(300, seed=5))
    layer = m.view._labels
    t = m.view.viewbox.childTransform()
    screen = {}
    for rid in drawn_ids(m.view):
        p = t.map(QPointF(*m.view.marker_position(rid)))  # type: ignore[misc]
        screen[rid] = (p.x(), p.y())
    labelled = {lab.key: lab for lab in layer.labels() if lab.slot >= 0}
    expected = dict.fromkeys(labelled, 0)
    for rid, (x, y) in screen.items():
        if rid in labelled:
            continue
        near = [(math.dist((x, y), screen[k]), k) for k in labelled]
        d, k = min(near)
        if d <= 12:
            expected[k] += 1
    assert sum(expected.values()) > 10  # the on-scene crowd at the school
    for key, lab in labelled.items():
        callsign = m.state.responders[key].callsign
        more = f" +{expected[key]}" if expected[key] else ""
        assert lab.text.startswith(f"{callsign}{more}"), (lab.text, expected[key])


def test_labels_are_bounded_and_never_overlap(qtbot: QtBot) -> None:
    view = show(qtbot, build_incident(2000, seed=3)).view
    layer = view._labels
    responder_labels = [lab for lab in layer.labels() if lab.kind in ("responder", "stale")]
    assert 20 < len(responder_labels) <= MAX_RESPONDER_LABELS
    boxes = []
    t = view.viewbox.childTransform()
    from dispatch_console.ui.map.map_view import _label_origin

    for lab in layer.labels():
        p = t.map(QPointF(lab.x, lab.y))
        w, h = layer.measure(lab.text, lab.kind)
        left, top = _label_origin(lab.kind, p.x(), p.y(), w, h)
        boxes.append((left, top, left + w + 4, top + h))
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])


# --- selection ------------------------------------------------------------------------------------


def test_clicking_a_marker_selects_that_responder(qtbot: QtBot, m: Map) -> None:
    rid, other = m.isolated()[:2]
    viewport = m.view.graphics_view.viewport()
    with qtbot.waitSignal(m.selection.changed) as signal:
        click(viewport, m.marker_point(rid))
    assert signal.args == ["map"]
    assert m.selection.responder_ids == {rid}
    assert m.view.marker_style(rid)["selected"]
    # Ctrl-click adds another, a second Ctrl-click on it removes it again.
    ctrl = Qt.KeyboardModifier.ControlModifier
    click(viewport, m.marker_point(other), ctrl)
    assert m.selection.responder_ids == {rid, other}
    click(viewport, m.marker_point(other), ctrl)
    assert m.selection.responder_ids == {rid}
    # A plain click on another marker replaces the selection.
    click(viewport, m.marker_point(other))
    assert m.selection.responder_ids == {other}


def test_clicking_empty_map_clears_the_selection(qtbot: QtBot, m: Map) -> None:
    m.selection.select({"r002", "r003"}, "table")
    viewport = m.view.graphics_view.viewport()
    click(viewport, QPoint(8, 8))
    assert m.selection.responder_ids == frozenset()


def test_double_clicking_a_marker_activates_the_responder(qtbot: QtBot, m: Map) -> None:
    rid = m.isolated()[0]
    viewport = m.view.graphics_view.viewport()
    # What a real double click delivers: press, release, double-click, release.
    left, none, p = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton, m.marker_point(rid)
    with qtbot.waitSignal(m.view.responder_activated) as signal:
        for kind, buttons in ((QEvent.Type.MouseButtonPress, left),
                              (QEvent.Type.MouseButtonRelease, none),
                              (QEvent.Type.MouseButtonDblClick, left),
                              (QEvent.Type.MouseButtonRelease, none)):  # fmt: skip
            send_mouse(viewport, kind, p, left, buttons, Qt.KeyboardModifier.NoModifier)
    assert signal.args == [rid]
    assert m.selection.responder_ids == {rid}  # the first click of the two selected it


def test_shift_drag_lasso_selects_the_responders_inside(qtbot: QtBot, m: Map) -> None:
    targets = m.isolated()[:3]
    points = [m.marker_point(rid) for rid in targets]
    inside = {rid for rid, r in m.state.responders.items() if r.position}
    # A rectangle around the first target only.
    p = points[0]
    corners = [QPoint(p.x() - 25, p.y() - 25), QPoint(p.x() + 25, p.y() - 25),
               QPoint(p.x() + 25, p.y() + 25), QPoint(p.x() - 25, p.y() + 25)]  # fmt: skip
    drag(m.view.graphics_view.viewport(), corners, Qt.KeyboardModifier.ShiftModifier)
    assert m.selection.responder_ids == {targets[0]}
    assert m.selection.responder_ids <= inside
    # Without Shift a drag pans the map and keeps the selection.
    before = m.view.viewbox.viewRect()
    drag(m.view.graphics_view.viewport(), corners[:3], Qt.KeyboardModifier.NoModifier, close=False)
    after = m.view.viewbox.viewRect()
    assert after.center().x() < before.center().x()  # dragged to the right: the view went west
    assert after.width() == pytest.approx(before.width())
    assert m.selection.responder_ids == {targets[0]}


def click(
    viewport: QWidget,
    p: QPoint,
    modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier,
) -> None:
    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, modifiers, p)


def send_mouse(
    viewport: QWidget,
    kind: QEvent.Type,
    p: QPoint,
    button: Qt.MouseButton,
    buttons: Qt.MouseButton,
    modifiers: Qt.KeyboardModifier,
) -> None:
    """One mouse event, with the button state QTest's mouseMove cannot give."""
    local = QPointF(p)
    event = QMouseEvent(kind, local, viewport.mapToGlobal(local), button, buttons, modifiers)
    QApplication.sendEvent(viewport, event)


def drag(
    viewport: QWidget, points: list[QPoint], modifiers: Qt.KeyboardModifier, close: bool = True
) -> None:
    """Press at the first point, move through the others (and back), release (Qt events)."""
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    path = [*points[1:], points[0]] if close else points[1:]
    send_mouse(viewport, QEvent.Type.MouseButtonPress, points[0], left, left, modifiers)
    for p in path:
        QTest.qWait(MOVE_GAP_MS)
        send_mouse(viewport, QEvent.Type.MouseMove, p, none, left, modifiers)
    send_mouse(viewport, QEvent.Type.MouseButtonRelease, path[-1], left, none, modifiers)


def test_selection_from_elsewhere_highlights_the_marker(m: Map) -> None:
    assert not m.view.marker_style("r002")["selected"]
    m.selection.select({"r002", "r005"}, "table")
    assert m.view.marker_style("r002")["selected"]
    assert m.view.marker_style("r005")["selected"]
    assert not m.view.marker_style("r003")["selected"]
    assert m.view.marker_style("r002")["label"] is not None  # selected labels go first
    m.selection.select(set(), "table")
    assert not m.view.marker_style("r002")["selected"]


def test_selecting_an_off_screen_responder_elsewhere_brings_it_into_view(m: Map) -> None:
    school_x, school_y = m.view.frame.to_local(m.state.lon, m.state.lat)
    far = max(
        (rid for rid, r in m.state.responders.items() if r.position),
        key=lambda rid: math.dist(m.view.marker_position(rid) or (0, 0), (school_x, school_y)),
    )
    m.view.viewbox.setRange(
        xRange=(school_x - 100, school_x + 100), yRange=(school_y - 80, school_y + 80), padding=0
    )
    position = m.view.marker_position(far)
    assert position is not None
    assert not m.view.viewbox.viewRect().contains(QPointF(*position))
    width = m.view.viewbox.viewRect().width()
    m.selection.select({far}, "table")
    assert m.view.viewbox.viewRect().contains(QPointF(*position))
    assert m.view.viewbox.viewRect().width() == pytest.approx(width, rel=0.01)  # zoom kept


def test_hovering_a_marker_shows_who_it_is(qtbot: QtBot, m: Map) -> None:
    rid = m.isolated()[0]
    viewport = m.view.graphics_view.viewport()
    QTest.mouseMove(viewport, m.marker_point(rid) + QPoint(30, 30))
    qtbot.wait(MOVE_GAP_MS)
    QTest.mouseMove(viewport, m.marker_point(rid))
    qtbot.waitUntil(lambda: m.view.viewbox.toolTip() != "")
    assert m.view.viewbox.toolTip() == m.view.tooltip_text(rid)
    qtbot.wait(MOVE_GAP_MS)
    QTest.mouseMove(viewport, QPoint(5, 5))
    qtbot.waitUntil(lambda: m.view.viewbox.toolTip() == "")


def test_tooltip_names_status_duty_attire_roster_and_position_age(m: Map) -> None:
    text = m.view.tooltip_text("r000")
    for part in ("Officer 000 (U-000)", "Georgetown PD", "on scene", "OFF duty",
                 "plainclothes: black t-shirt", "roster: sworn, active", "NOT identified",
                 "position 20s ago"):  # fmt: skip
        assert part in text, part
    assert "STALE" in m.view.tooltip_text("r001")


# --- view ----------------------------------------------------------------------------------


def test_fit_to_incident_shows_every_responder_and_the_outer_perimeter(m: Map) -> None:
    school_x, school_y = m.view.frame.to_local(m.state.lon, m.state.lat)
    m.view.viewbox.setRange(xRange=(school_x + 9000, school_x + 9100), yRange=(0, 100), padding=0)
    m.view.fit_to_incident()
    rect = m.view.viewbox.viewRect()
    for rid, r in m.state.responders.items():
        if r.position is not None:
            assert rect.contains(QPointF(*m.view.marker_position(rid))), rid  # type: ignore[misc]
    outer = next(p for p in m.state.perimeters.values() if p.kind == "outer")
    assert outer.radius_m is not None
    assert rect.width() > 2 * outer.radius_m
    assert rect.contains(QPointF(school_x, school_y))


def test_without_an_incident_the_map_is_calm_and_shows_the_county(qtbot: QtBot) -> None:
    built = build_incident(40)
    m = show(qtbot, built, focus=False)
    assert m.view.marker_count() == 0
    assert m.view._chrome.message == "No active incident"
    rect = m.view.viewbox.viewRect()
    for school in built.console.schools.values():
        assert rect.contains(QPointF(*m.view.frame.to_local(school.lon, school.lat)))
    m.selection.focus(built.incident_id)
    assert m.view.marker_count() > 0
    assert m.view._chrome.message == ""


def test_the_map_frame_is_centred_on_the_county_schools(m: Map) -> None:
    schools = list(m.built.console.schools.values())
    lon = sum(s.lon for s in schools) / len(schools)
    lat = sum(s.lat for s in schools) / len(schools)
    assert m.view.frame.lon0 == pytest.approx(lon, abs=1e-6)
    assert m.view.frame.lat0 == pytest.approx(lat, abs=1e-6)
    assert m.view.viewbox.state["aspectLocked"] == 1


def test_scale_bar_shows_a_round_length(m: Map) -> None:
    metres, text, px = m.view.scale_bar()
    assert metres in {nice_length(metres)}
    assert str(metres).lstrip("0.").rstrip("0.")[0] in "125"
    assert 56 <= px <= 140  # 40 % to 100 % of the 140 px the bar aims at
    assert text == distance_text(metres)
    assert text.endswith(" m") or text.endswith(" km")
    assert distance_text(2000) == "2 km" and distance_text(500) == "500 m"


def test_theme_switch_changes_the_background_and_the_palette(m: Map) -> None:
    background = m.view.graphics_view.backgroundBrush().color().name()
    assert background == QColor(NIGHT.map_background).name()
    m.view.set_theme(DAY)
    assert (
        m.view.graphics_view.backgroundBrush().color().name() == QColor(DAY.map_background).name()
    )
    assigned = next(rid for rid, r in m.state.responders.items()
                    if r.status is ResponderStatus.ASSIGNED and r.position)  # fmt: skip
    assert (
        m.view.marker_style(assigned)["color"]
        == QColor(DAY.status[ResponderStatus.ASSIGNED]).name()
    )
    assert m.view.marker_style("r001")["color"] == QColor(DAY.stale).name()


# --- areas ---------------------------------------------------------------------------------------


def test_areas_of_the_pre_plan_are_drawn_with_their_colours(m: Map) -> None:
    items = m.view._area_items[m.built.incident_id]
    assert len(items) == len(m.state.perimeters) + len(m.state.staging_areas)
    pens = {item.pen().color().name() for item in items}  # type: ignore[attr-defined]
    assert QColor(NIGHT.inner_perimeter).name() in pens
    assert QColor(NIGHT.outer_perimeter).name() in pens
    assert QColor(NIGHT.staging).name() in pens
    inner = next(i for i in items if i.pen().color().name() == QColor(NIGHT.inner_perimeter).name())  # type: ignore[attr-defined]
    assert inner.brush().style() != Qt.BrushStyle.NoBrush  # type: ignore[attr-defined]
    assert inner.brush().color().alpha() < 100  # type: ignore[attr-defined]
    outer = next(i for i in items if i.pen().color().name() == QColor(NIGHT.outer_perimeter).name())  # type: ignore[attr-defined]
    assert outer.pen().style() == Qt.PenStyle.DashLine  # type: ignore[attr-defined]
    # The outer perimeter is a 400 m circle around the school.
    radius = next(p.radius_m for p in m.state.perimeters.values() if p.kind == "outer")
    assert radius is not None
    assert outer.boundingRect().width() == pytest.approx(2 * radius, rel=0.02)
    labels = m.view.visible_labels()
    for area in m.state.staging_areas.values():  # with how many are there: "Staging A · 12"
        assert any(text.startswith(f"{area.name} · ") for text in labels), area.name
    check_in = m.built.school.pre_plan.check_in
    assert check_in is not None
    assert check_in.name in labels
    assert m.built.school.name in labels


def test_areas_are_redrawn_only_when_changes_name_the_incident(m: Map) -> None:
    before = list(m.view._area_items[m.built.incident_id])
    w = EventWriter(m.built.incident_id, m.built.events[-1].seq + 1)
    at = m.built.now_us
    w.add(ev.ResponderPosition("r002", m.state.lat, m.state.lon, at, at + 30 * S), at)
    changes = m.built.console.apply(w.events)
    assert not changes.areas
    m.view.refresh(changes, at)
    assert m.view._area_items[m.built.incident_id] == before  # same items: not redrawn
    bigger = {"type": "Point", "coordinates": [m.state.lon, m.state.lat]}
    w.events = []
    w.add(ev.PerimeterSet("outer", "outer", bigger, 900.0), at)
    changes = m.built.console.apply(w.events)
    assert changes.areas == {m.built.incident_id}
    m.view.refresh(changes, at)
    after = m.view._area_items[m.built.incident_id]
    assert after != before
    outer = next(i for i in after if i.pen().color().name() == QColor(NIGHT.outer_perimeter).name())  # type: ignore[attr-defined]
    assert outer.boundingRect().width() == pytest.approx(1800, rel=0.02)


# --- incremental refresh --------------------------------------------------------------------------


def test_a_new_incident_arriving_is_drawn_when_focused_and_its_markers_follow(
    qtbot: QtBot, m: Map
) -> None:
    console = m.built.console
    other = build_incident(12, seed=2, school_index=1, first_seq=console.last_seq + 1)
    changes = console.apply(other.events)
    assert other.incident_id in changes.incidents
    m.view.refresh(changes, other.now_us)
    assert other.incident_id in m.view._area_items  # its areas appear at once
    assert drawn_ids(m.view) <= set(m.state.responders)  # focus unchanged
    m.selection.focus(other.incident_id)
    m.view.refresh(Changes(), other.now_us)
    state = console.incidents[other.incident_id]
    assert drawn_ids(m.view) == {rid for rid, r in state.responders.items() if r.position}
    # A new position moves exactly that marker.
    rid = next(rid for rid, r in state.responders.items() if r.position)
    w = EventWriter(other.incident_id, console.last_seq + 1)
    at = other.now_us + S
    lat, lon = state.lat + 0.002, state.lon - 0.003
    w.add(ev.ResponderPosition(rid, lat, lon, at, at + 30 * S, 5.0, 14.0, 90.0), at)
    before = {r: m.view.marker_position(r) for r in drawn_ids(m.view)}
    m.view.refresh(console.apply(w.events), at)
    x, y = m.view.frame.to_local(lon, lat)
    assert m.view.marker_position(rid) == pytest.approx((x, y), abs=0.05)
    for r, p in before.items():
        if r != rid:
            assert m.view.marker_position(r) == p


def test_new_responders_and_status_changes_are_picked_up(m: Map) -> None:
    w = EventWriter(m.built.incident_id, m.built.events[-1].seq + 1)
    at = m.built.now_us
    w.add(ev.ResponderNotified("rnew", "dev-new"), at)
    w.add(ev.ResponderPosition("rnew", m.state.lat + 0.01, m.state.lon, at, at + 30 * S), at)
    en_route = next(rid for rid, r in m.state.responders.items()
                    if r.status is ResponderStatus.EN_ROUTE and not r.is_stale(at))  # fmt: skip
    w.add(ev.ResponderArrived(en_route, "scene"), at)
    changes = m.built.console.apply(w.events)
    m.view.refresh(changes, at)
    assert m.view.marker_style("rnew")["drawn"]
    assert (
        m.view.marker_style("rnew")["color"]
        == QColor(NIGHT.status[ResponderStatus.NOTIFIED]).name()
    )
    assert m.state.responders[en_route].status in PRESENT
    assert (
        m.view.marker_style(en_route)["color"]
        == QColor(NIGHT.status[ResponderStatus.ON_SCENE]).name()
    )


def test_age_and_distance_texts() -> None:
    assert age_text(0) == "0s"
    assert age_text(45.9) == "45s"
    assert age_text(130) == "2m 10s"
    assert age_text(3900) == "1h 05m"
    assert nice_length(730) == 500
    assert nice_length(1900) == 1000
    assert nice_length(2100) == 2000
