"""The responders table: model (qtmodeltester, incremental refresh), filters, sorting, and the
selection kept in step with the shared Selection without echo loops."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt
from PySide6.QtWidgets import QAbstractItemView

from dispatch_console.app.live import Changes, ConsoleState
from dispatch_console.domain import events as ev
from dispatch_console.domain.lifecycle import RESPONDING, ResponderStatus
from dispatch_console.domain.state import IncidentState, Responder
from dispatch_console.domain.views import responder_row
from dispatch_console.ui.panels.responders import (
    FILTERS,
    Column,
    ResponderFilterProxy,
    ResponderIdRole,
    RespondersPanel,
    ResponderTableModel,
    SortRole,
    format_distance,
)
from dispatch_console.ui.shell.selection import Selection
from dispatch_console.ui.shell.theme import DAY, NIGHT
from tests.ui.factory import Built, EventWriter, S, build_incident

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication
    from pytestqt.modeltest import ModelTester
    from pytestqt.qtbot import QtBot

# --- helpers ---------------------------------------------------------------------------------

#: Showing a window on the offscreen platform logs this harmless warning.
SHOWN = pytest.mark.qt_log_ignore("does not support propagateSizeHints")


@pytest.fixture
def built(qapp: QApplication) -> Built:
    """40 responders (a QApplication exists: the model draws status markers)."""
    return build_incident(40)


def state_of(built: Built) -> IncidentState:
    return built.console.incidents[built.incident_id]


class RecordingSelection(Selection):
    """A Selection that remembers every ``select`` call's origin (even those changing
    nothing, which ``changed`` does not show): an echo is a call the user did not make."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def select(self, responder_ids: frozenset[str] | set[str], origin: str) -> None:
        self.calls.append(origin)
        super().select(responder_ids, origin)


def make_panel(qtbot: QtBot, built: Built) -> tuple[RespondersPanel, RecordingSelection]:
    selection = RecordingSelection()
    selection.focus(built.incident_id)
    panel = RespondersPanel(built.console, selection, NIGHT)
    qtbot.addWidget(panel)
    panel.resize(1400, 500)
    panel.refresh(Changes(), built.now_us)
    return panel, selection


def writer_for(built: Built) -> EventWriter:
    return EventWriter(built.incident_id, first_seq=built.console.last_seq + 1)


def add_responders(built: Built, ids: list[str], at_us: int) -> Changes:
    """Notify new responders, with a profile and one position each, and fold them in."""
    writer = writer_for(built)
    school = built.school
    for k, rid in enumerate(ids):
        writer.add(ev.ResponderNotified(rid, f"dev-{rid}"), at_us)
        writer.add(
            ev.ResponderProfileReported(
                rid, f"Late {rid}", "Scott County SO", f"9{k:03d}", f"L-{rid}", "off", False,
                ev.Attire(False, "red", "jacket", "black", None, "none"),
            ),
            at_us,
        )  # fmt: skip
        writer.add(
            ev.ResponderPosition(
                rid, school.lat + 0.01 * (k + 1), school.lon, at_us, at_us + 30 * S
            ),
            at_us,
        )
    return built.console.apply(writer.events)


def move_responders(built: Built, ids: list[str], at_us: int, north_deg: float = 0.002) -> Changes:
    """A new position for each responder (a little north of the school)."""
    writer = writer_for(built)
    school = built.school
    for k, rid in enumerate(ids):
        writer.add(
            ev.ResponderPosition(
                rid, school.lat + north_deg * (k + 1), school.lon, at_us, at_us + 30 * S, 8.0,
                14.0, 0.0,
            ),
            at_us,
        )  # fmt: skip
    return built.console.apply(writer.events)


def proxy_ids(proxy: ResponderFilterProxy) -> list[str]:
    return [proxy.index(row, 0).data(ResponderIdRole) for row in range(proxy.rowCount())]


def shown(panel: RespondersPanel) -> set[str]:
    return set(proxy_ids(panel.proxy))


def expected(built: Built, keep: Callable[[Responder], bool]) -> set[str]:
    return {rid for rid, r in state_of(built).responders.items() if keep(r)}


def cell(model: ResponderTableModel, rid: str, column: Column, role: int = 0) -> Any:
    row = model.row_of(rid)
    assert row is not None
    return model.index(row, column).data(role or Qt.ItemDataRole.DisplayRole)


def select_rows_in_view(panel: RespondersPanel, ids: set[str]) -> None:
    """What a user's click (and ctrl-clicks) does to the view's selection model."""
    model = panel.view.selectionModel()
    flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
    for rid in sorted(ids):
        source_row = panel.model.row_of(rid)
        assert source_row is not None
        index = panel.proxy.mapFromSource(panel.model.index(source_row, 0))
        model.select(index, flags | QItemSelectionModel.SelectionFlag.Rows)
        flags = QItemSelectionModel.SelectionFlag.Select


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, *args: object) -> None:
        self.calls.append(args)


# --- the model ---------------------------------------------------------------------------------


def test_model_passes_qt_model_tester_when_fresh(qtmodeltester: ModelTester, built: Built) -> None:
    model = ResponderTableModel(built.console, NIGHT, built.incident_id)
    model.refresh(Changes(), built.now_us)
    assert model.rowCount() == 40
    assert model.columnCount() == len(Column)
    qtmodeltester.check(model)  # type: ignore[no-untyped-call]


def test_model_passes_python_model_tester_through_incremental_refreshes(
    qtmodeltester: ModelTester,
    built: Built,
) -> None:
    model = ResponderTableModel(built.console, NIGHT, built.incident_id)
    model.refresh(Changes(), built.now_us)
    model.sort(Column.DISTANCE, Qt.SortOrder.AscendingOrder)
    # The Python tester re-checks the model on every signal it emits.
    qtmodeltester.check(model, force_py=True)  # type: ignore[no-untyped-call]
    now = built.now_us + 2 * S
    model.refresh(add_responders(built, ["n100", "n101"], now), now)
    now += 2 * S
    model.refresh(move_responders(built, ["r002", "r004", "r030", "n100"], now), now)
    model.sort(Column.AGE, Qt.SortOrder.DescendingOrder)
    now += 60 * S
    model.refresh(Changes(), now)  # time alone: ages, staleness, a re-sort
    assert model.rowCount() == 42


def test_proxy_passes_python_model_tester_with_filters_and_sorting(
    qtmodeltester: ModelTester,
    built: Built,
) -> None:
    model = ResponderTableModel(built.console, NIGHT, built.incident_id)
    model.refresh(Changes(), built.now_us)
    proxy = ResponderFilterProxy()
    proxy.setSourceModel(model)
    qtmodeltester.check(proxy, force_py=True)  # type: ignore[no-untyped-call]
    proxy.set_filter("plainclothes", True)
    proxy.set_text("georgetown")
    proxy.sort(Column.NAME, Qt.SortOrder.DescendingOrder)
    now = built.now_us + 2 * S
    model.refresh(add_responders(built, ["n100"], now), now)
    proxy.set_filter("plainclothes", False)
    proxy.set_text("")
    now += 60 * S
    model.refresh(move_responders(built, ["r000", "r010"], now), now)
    assert proxy.rowCount() == 41


def test_cells_show_the_shared_responder_row_text(built: Built) -> None:
    model = ResponderTableModel(built.console, NIGHT, built.incident_id)
    model.refresh(Changes(), built.now_us)
    state = state_of(built)
    for rid, r in state.responders.items():
        row = responder_row(state, r, built.now_us)
        assert row.name in str(cell(model, rid, Column.NAME))
        assert cell(model, rid, Column.ROSTER) == row.roster
        assert cell(model, rid, Column.STATUS) == row.status.label
        assert cell(model, rid, Column.DUTY) == row.duty
        assert cell(model, rid, Column.DISTANCE) == format_distance(row.distance_m)
        assert cell(model, rid, Column.AGENCY) == row.agency
    assert cell(model, "r000", Column.ATTIRE) == "black t-shirt, blue pants, no visible ID"
    assert cell(model, "r000", Column.DUTY) == "OFF duty"
    assert cell(model, "r000", Column.IDENTIFIED) == "no"
    assert cell(model, "r000", Column.ETA) == "arrived"
    assert cell(model, "r000", Column.NAME) == "U-000 · Officer 000"


def test_sort_role_gives_raw_values_and_id_role_gives_the_responder(built: Built) -> None:
    model = ResponderTableModel(built.console, NIGHT, built.incident_id)
    model.refresh(Changes(), built.now_us)
    state = state_of(built)
    for rid, r in state.responders.items():
        row = responder_row(state, r, built.now_us)
        distance = cell(model, rid, Column.DISTANCE, SortRole)
        eta = cell(model, rid, Column.ETA, SortRole)
        age = cell(model, rid, Column.AGE, SortRole)
        assert isinstance(distance, float)
        if row.distance_m is None:
            assert distance == math.inf
        else:
            assert distance == pytest.approx(row.distance_m, abs=1e-6)
        assert eta == (math.inf if row.eta_s is None else pytest.approx(row.eta_s, abs=1e-6))
        assert age == (
            math.inf if row.position_age_s is None else pytest.approx(row.position_age_s)
        )
        assert cell(model, rid, Column.STATUS, SortRole) == list(type(r.status)).index(r.status)
        assert cell(model, rid, Column.NAME, ResponderIdRole) == rid


def test_status_cell_has_a_marker_and_unverified_roster_is_caution_bold(built: Built) -> None:
    model = ResponderTableModel(built.console, NIGHT, built.incident_id)
    model.refresh(Changes(), built.now_us)
    unverified = next(
        rid for rid, r in state_of(built).responders.items() if r.roster_verdict == "not_on_roster"
    )
    assert cell(model, unverified, Column.ROSTER) == "UNVERIFIED"
    color = cell(model, unverified, Column.ROSTER, Qt.ItemDataRole.ForegroundRole)
    assert color.name().upper() == NIGHT.caution.upper()
    assert cell(model, unverified, Column.ROSTER, Qt.ItemDataRole.FontRole).bold()
    icon = cell(model, "r000", Column.STATUS, Qt.ItemDataRole.DecorationRole)
    assert not icon.isNull()
    assert cell(model, "r000", Column.DUTY, Qt.ItemDataRole.FontRole).bold()
    assert cell(model, "r000", Column.ATTIRE, Qt.ItemDataRole.FontRole).bold()
    model.set_theme(DAY)
    color = cell(model, unverified, Column.ROSTER, Qt.ItemDataRole.ForegroundRole)
    assert color.name().upper() == DAY.caution.upper()


# --- filters -----------------------------------------------------------------------------------

FILTER_RULES: dict[str, Callable[[Responder, int], bool]] = {
    "self_dispatched": lambda r, now: r.self_dispatched,
    "unidentified": lambda r, now: r.status in RESPONDING and not r.identified,
    "plainclothes": lambda r, now: r.plainclothes,
    "stale": lambda r, now: r.status in RESPONDING and r.is_stale(now),
    "unverified": lambda r, now: r.roster_verdict not in ("sworn_active", "retired"),
    "at_staging": lambda r, now: r.status is ResponderStatus.AT_STAGING,
    "directed": lambda r, now: (
        r.directed_to is not None
        and r.status in {"notified", "acknowledged", "en_route", "on_scene"}
    ),
}


@pytest.mark.parametrize("name", list(FILTERS))
def test_each_filter_shows_exactly_its_responders_and_counts_them(
    qtbot: QtBot,
    built: Built,
    name: str,
) -> None:
    if name == "directed":  # the factory directs nobody: the IC directs three en route
        state = built.console.incidents[built.incident_id]
        area = next(iter(state.staging_areas))
        en_route = [r for r in state.responders.values() if r.status == "en_route"][:3]
        writer = EventWriter(built.incident_id, built.console.last_seq + 1)
        for r in en_route:
            writer.add(ev.ResponderDirected(r.responder_id, area), built.now_us)
        built.console.apply(writer.events)
    panel, _ = make_panel(qtbot, built)
    want = expected(built, lambda r: FILTER_RULES[name](r, built.now_us))
    assert 0 < len(want) < 40
    panel.buttons[name].setChecked(True)
    assert shown(panel) == want
    assert panel.model.counts()[name] == len(want)
    assert panel.buttons[name].text().endswith(f" {len(want)}")
    panel.buttons[name].setChecked(False)
    assert panel.proxy.rowCount() == 40


def test_filters_hold_the_factorys_known_cases(qtbot: QtBot, built: Built) -> None:
    panel, _ = make_panel(qtbot, built)
    members = {}
    for name in FILTERS:
        panel.proxy.set_filter(name, True)
        members[name] = shown(panel)
        panel.proxy.set_filter(name, False)
    assert "r001" in members["stale"]
    assert "r000" not in members["stale"]
    assert "r000" in members["plainclothes"]
    assert "r000" in members["unidentified"]
    not_on_roster = expected(built, lambda r: r.roster_verdict == "not_on_roster")
    assert not_on_roster and not_on_roster <= members["unverified"]
    assert "r005" in members["unverified"]


def test_filters_combine_with_and(qtbot: QtBot, built: Built) -> None:
    panel, _ = make_panel(qtbot, built)
    panel.set_filter("plainclothes", True)
    panel.set_filter("unidentified", True)
    want = expected(built, lambda r: r.plainclothes and r.status in RESPONDING and not r.identified)
    assert "r000" in want
    assert shown(panel) == want
    assert panel.proxy.active_filters() == {"plainclothes", "unidentified"}
    assert panel.summary.text() == f"{len(want)} of 40 shown"


def test_text_filter_matches_name_callsign_agency_and_badge(qtbot: QtBot, built: Built) -> None:
    panel, _ = make_panel(qtbot, built)
    panel.search.setText("u-017")
    assert shown(panel) == {"r017"}
    panel.search.setText("1005")  # badge
    assert shown(panel) == {"r005"}
    panel.search.setText("GEORGETOWN")
    assert shown(panel) == expected(built, lambda r: r.agency == "Georgetown PD")
    panel.search.setText("georgetown officer 003")  # every word must match
    assert shown(panel) == {"r003"}
    panel.set_filter("plainclothes", True)
    assert shown(panel) == {"r003"}  # r003 is in a grey hoodie
    panel.set_filter("stale", True)
    assert shown(panel) == set()
    panel.search.clear()
    panel.set_filter("stale", False)
    panel.set_filter("plainclothes", False)
    assert panel.proxy.rowCount() == 40


def test_toggle_filter_flips_the_button_and_the_proxy(qtbot: QtBot, built: Built) -> None:
    panel, _ = make_panel(qtbot, built)
    panel.toggle_filter("stale")
    assert panel.buttons["stale"].isChecked()
    assert shown(panel) == expected(built, lambda r: FILTER_RULES["stale"](r, built.now_us))
    panel.toggle_filter("stale")
    assert panel.proxy.rowCount() == 40


# --- sorting -----------------------------------------------------------------------------------


def test_sorting_by_distance_puts_the_nearest_first_and_unknown_last(
    qtbot: QtBot, built: Built
) -> None:
    panel, _ = make_panel(qtbot, built)
    panel.view.sortByColumn(Column.AGENCY, Qt.SortOrder.AscendingOrder)
    panel.view.sortByColumn(Column.DISTANCE, Qt.SortOrder.AscendingOrder)
    state = state_of(built)
    rows = {rid: responder_row(state, r, built.now_us) for rid, r in state.responders.items()}
    ids = proxy_ids(panel.proxy)
    distances = [rows[rid].distance_m for rid in ids]
    known = [d for d in distances if d is not None]
    assert distances[: len(known)] == known  # no position: at the end
    assert known == sorted(known)
    assert distances[0] == pytest.approx(min(known))
    panel.view.sortByColumn(Column.DISTANCE, Qt.SortOrder.DescendingOrder)
    distances = [rows[rid].distance_m for rid in proxy_ids(panel.proxy)]
    assert distances[0] == pytest.approx(max(known))
    assert distances[-1] is None


def test_sorting_by_status_follows_the_lifecycle_order(qtbot: QtBot, built: Built) -> None:
    panel, _ = make_panel(qtbot, built)
    panel.view.sortByColumn(Column.STATUS, Qt.SortOrder.AscendingOrder)
    order = list(type(state_of(built).responders["r000"].status))
    statuses = [state_of(built).responders[rid].status for rid in proxy_ids(panel.proxy)]
    assert [order.index(s) for s in statuses] == sorted(order.index(s) for s in statuses)


def test_a_live_sort_follows_moves_at_the_next_tick(qtbot: QtBot, built: Built) -> None:
    panel, _ = make_panel(qtbot, built)
    panel.view.sortByColumn(Column.DISTANCE, Qt.SortOrder.DescendingOrder)
    farthest = proxy_ids(panel.proxy)[0]
    assert farthest != "r000"
    now = built.now_us + 2 * S
    panel.refresh(move_responders(built, ["r000"], now, north_deg=0.5), now)  # 55 km away
    assert proxy_ids(panel.proxy)[0] == "r000"


# --- selection -----------------------------------------------------------------------------------


def test_selecting_rows_in_the_table_selects_those_responders(qtbot: QtBot, built: Built) -> None:
    panel, selection = make_panel(qtbot, built)
    origins = Recorder()
    selection.changed.connect(origins)
    select_rows_in_view(panel, {"r003", "r010"})
    assert selection.responder_ids == {"r003", "r010"}
    assert {args[0] for args in origins.calls} == {"table"}
    assert set(selection.calls) == {"table"}
    assert panel.selected_ids() == {"r003", "r010"}  # the table did not re-select on its echo


@SHOWN
def test_clicking_a_row_selects_that_responder(qtbot: QtBot, built: Built) -> None:
    panel, selection = make_panel(qtbot, built)
    panel.show()
    qtbot.waitExposed(panel)
    index = panel.proxy.index(2, Column.NAME)
    rid = index.data(ResponderIdRole)
    rect = panel.view.visualRect(index)
    qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # type: ignore[no-untyped-call]
    assert selection.responder_ids == {rid}


@SHOWN
def test_selection_from_the_map_selects_rows_and_scrolls_without_echo(
    qtbot: QtBot, built: Built
) -> None:
    panel, selection = make_panel(qtbot, built)
    panel.show()
    qtbot.waitExposed(panel)
    origins = Recorder()
    selection.changed.connect(origins)
    panel.view.sortByColumn(Column.NAME, Qt.SortOrder.AscendingOrder)
    selection.select({"r039", "r038"}, "map")
    assert panel.selected_ids() == {"r038", "r039"}
    assert origins.calls == [("map",)]
    assert selection.calls == ["map"]  # the table did not answer with a selection of its own
    first = panel.view.selectionModel().selectedRows()[0]
    viewport = panel.view.viewport().rect()
    assert viewport.intersects(panel.view.visualRect(first))  # scrolled to it
    selection.select(set(), "map")
    assert panel.selected_ids() == frozenset()
    assert origins.calls == [("map",), ("map",)]


def test_selection_survives_sorting_and_refreshes(qtbot: QtBot, built: Built) -> None:
    panel, selection = make_panel(qtbot, built)
    origins = Recorder()
    selection.select({"r000", "r010", "r020"}, "map")
    selection.changed.connect(origins)
    for column, order in (
        (Column.NAME, Qt.SortOrder.DescendingOrder),
        (Column.AGE, Qt.SortOrder.AscendingOrder),
        (Column.DISTANCE, Qt.SortOrder.AscendingOrder),
    ):
        panel.view.sortByColumn(column, order)
        assert panel.selected_ids() == {"r000", "r010", "r020"}
    now = built.now_us
    for _ in range(3):
        now += 2 * S
        changes = move_responders(built, ["r000", "r010", "r005", "r030"], now, north_deg=0.01)
        changes_new = add_responders(built, [f"n{now // S % 1000:03d}"], now)
        changes.responders |= changes_new.responders
        changes.new_responders |= changes_new.new_responders
        panel.refresh(changes, now)
        assert panel.selected_ids() == {"r000", "r010", "r020"}
    assert selection.responder_ids == {"r000", "r010", "r020"}
    assert origins.calls == []  # nothing the table did changed the shared selection
    assert selection.calls == ["map"]


def test_a_filter_hiding_a_selected_row_keeps_it_selected_elsewhere(
    qtbot: QtBot, built: Built
) -> None:
    panel, selection = make_panel(qtbot, built)
    selection.select({"r000", "r001"}, "map")
    panel.set_filter("stale", True)  # r001 only
    assert panel.selected_ids() == {"r001"}
    assert selection.responder_ids == {"r000", "r001"}
    assert selection.calls == ["map"]
    panel.set_filter("stale", False)
    assert panel.selected_ids() == {"r000", "r001"}  # back, and selected again


def test_extended_row_selection_and_no_editing(qtbot: QtBot, built: Built) -> None:
    panel, _ = make_panel(qtbot, built)
    view = panel.view
    assert view.selectionMode() == QAbstractItemView.SelectionMode.ExtendedSelection
    assert view.selectionBehavior() == QAbstractItemView.SelectionBehavior.SelectRows
    assert view.editTriggers() == QAbstractItemView.EditTrigger.NoEditTriggers
    assert view.isSortingEnabled()
    assert view.alternatingRowColors()
    assert view.font().pointSize() >= 11
    assert not panel.model.flags(panel.model.index(0, 0)) & Qt.ItemFlag.ItemIsEditable


# --- incremental updates --------------------------------------------------------------------------


def test_new_responders_are_inserted_without_a_reset(qtbot: QtBot, built: Built) -> None:
    panel, _ = make_panel(qtbot, built)
    model = panel.model
    inserted, resets = Recorder(), Recorder()
    model.rowsInserted.connect(inserted)
    model.modelReset.connect(resets)
    now = built.now_us + S // 2
    changes = add_responders(built, ["n100", "n101", "n102"], now)
    assert built.incident_id in changes.new_responders
    panel.refresh(changes, now)
    assert resets.calls == []
    assert len(inserted.calls) == 1
    parent, first, last = inserted.calls[0]
    assert isinstance(parent, QModelIndex) and not parent.isValid()
    assert (first, last) == (40, 42)
    assert {"n100", "n101", "n102"} <= shown(panel)
    assert panel.summary.text() == "43 responders"
    assert panel.model.counts()["plainclothes"] == 7 + 3


def test_a_refresh_signals_only_the_changed_rows_between_ticks(qtbot: QtBot, built: Built) -> None:
    panel, _ = make_panel(qtbot, built)
    model = panel.model
    changed = Recorder()
    model.dataChanged.connect(changed)
    now = built.now_us + S // 2  # within the same second: no time tick
    panel.refresh(move_responders(built, ["r004", "r030"], now), now)
    rows = set()
    for top, bottom, *_ in changed.calls:
        assert (top.column(), bottom.column()) == (0, len(Column) - 1)
        rows |= set(range(top.row(), bottom.row() + 1))
    assert rows == {model.row_of("r004"), model.row_of("r030")}


def test_time_alone_updates_ages_once_a_second(qtbot: QtBot, built: Built) -> None:
    panel, _ = make_panel(qtbot, built)
    model = panel.model
    changed = Recorder()
    model.dataChanged.connect(changed)
    panel.refresh(Changes(), built.now_us + S // 2)
    assert changed.calls == []
    panel.refresh(Changes(), built.now_us + S)
    assert len(changed.calls) == 1
    top, bottom, *_ = changed.calls[0]
    assert (top.row(), bottom.row()) == (0, 39)
    assert (top.column(), bottom.column()) == (Column.DISTANCE, Column.AGE)


def test_stale_label_appears_when_time_passes_without_events(qtbot: QtBot, built: Built) -> None:
    panel, _ = make_panel(qtbot, built)
    model = panel.model
    # r002 is en route; its last position is 20 s old and goes stale 10 s from now.
    assert cell(model, "r002", Column.AGE) == "20 s"
    stale_before = model.counts()["stale"]
    panel.refresh(Changes(), built.now_us + 15 * S)
    assert cell(model, "r002", Column.AGE) == "35 s STALE"
    color = cell(model, "r002", Column.AGE, Qt.ItemDataRole.ForegroundRole)
    assert color.name().upper() == NIGHT.caution.upper()
    assert model.counts()["stale"] > stale_before
    assert panel.buttons["stale"].text() == f"Stale {model.counts()['stale']}"
    panel.refresh(Changes(), built.now_us + 115 * S)
    assert cell(model, "r002", Column.AGE) == "2m 15s STALE"


def test_switching_the_focused_incident_resets_the_model(qtbot: QtBot, built: Built) -> None:
    other = build_incident(
        10, seed=2, school_index=1, console=built.console, first_seq=built.console.last_seq + 1
    )
    panel, selection = make_panel(qtbot, built)
    resets = Recorder()
    panel.model.modelReset.connect(resets)
    selection.focus(other.incident_id)
    assert len(resets.calls) == 1
    assert panel.model.incident_id == other.incident_id
    assert panel.proxy.rowCount() == 10
    assert panel.summary.text() == "10 responders"
    selection.focus(None)
    assert panel.proxy.rowCount() == 0
    assert panel.summary.text() == "No incident in focus"


def test_an_incident_appearing_after_focus_fills_the_table(qtbot: QtBot) -> None:
    console = ConsoleState()
    selection = Selection()
    selection.focus("inc-later")
    panel = RespondersPanel(console, selection, NIGHT)
    qtbot.addWidget(panel)
    panel.refresh(Changes(), 0)
    assert panel.proxy.rowCount() == 0
    built = build_incident(5, console=console)
    selection.focus(built.incident_id)
    panel.refresh(Changes(), built.now_us)
    assert panel.proxy.rowCount() == 5


# --- header and focus -------------------------------------------------------------------------


def test_header_state_round_trips_sort_and_widths(qtbot: QtBot, built: Built) -> None:
    panel, _ = make_panel(qtbot, built)
    panel.view.sortByColumn(Column.AGE, Qt.SortOrder.DescendingOrder)
    panel.view.horizontalHeader().resizeSection(Column.AGENCY, 222)
    saved = panel.header_state()
    assert isinstance(saved, bytes) and saved
    again, _ = make_panel(qtbot, built)
    assert again.restore_header_state(saved)
    header = again.view.horizontalHeader()
    assert header.sectionSize(Column.AGENCY) == 222
    assert header.sortIndicatorSection() == Column.AGE
    assert again.model.sort_column == Column.AGE
    assert proxy_ids(again.proxy)[0] == "r001"  # the stalest position first
    assert not again.restore_header_state(b"not a header state")


@SHOWN
def test_focus_search_puts_the_cursor_in_the_search_field(qtbot: QtBot, built: Built) -> None:
    panel, _ = make_panel(qtbot, built)
    panel.show()
    qtbot.waitExposed(panel)
    panel.activateWindow()
    panel.search.setText("officer")
    panel.focus_search()
    qtbot.waitUntil(panel.search.hasFocus)
    assert panel.search.selectedText() == "officer"
