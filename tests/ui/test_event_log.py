"""The event log: a model that follows the bounded log incrementally, its filters and the panel."""

from __future__ import annotations

import re
from collections import deque

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtTest import QAbstractItemModelTester, QTest
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from dispatch_console.app.live import Changes
from dispatch_console.domain import events as ev
from dispatch_console.ui.panels.event_log import (
    POSITION,
    EventLogFilter,
    EventLogModel,
    EventLogPanel,
    summarize,
)
from dispatch_console.ui.shell.header import local_clock
from dispatch_console.ui.shell.selection import Selection
from dispatch_console.ui.shell.theme import NIGHT
from tests.ui.factory import DISPATCHER, GATEWAY, Built, EventWriter, S, build_incident

M = EventLogModel


@pytest.fixture
def built() -> Built:
    return build_incident(20)


@pytest.fixture
def host(qtbot: QtBot) -> QWidget:
    """A bare window to show the panel in, as in a dock (a top-level window with a layout
    makes the offscreen platform warn that it cannot propagate size hints)."""
    window = QWidget()
    qtbot.addWidget(window)
    window.resize(1400, 400)
    return window


def make_panel(host: QWidget, built: Built) -> EventLogPanel:
    panel = EventLogPanel(built.console, Selection(), NIGHT, host)
    panel.resize(host.size())
    host.show()
    return panel


def more_positions(built: Built, count: int, responder_id: str = "r002") -> EventWriter:
    writer = EventWriter(built.incident_id, built.console.last_seq + 1)
    for k in range(count):
        at = built.now_us + k * S
        writer.add(ev.ResponderPosition(responder_id, 38.2251, -84.5402, at, at + 30 * S, 8.0), at)
    return writer


def rows(model: EventLogModel | EventLogFilter, column: int) -> list[str]:
    return [model.index(r, column).data() for r in range(model.rowCount())]


def test_model_and_filter_pass_the_model_tester_while_events_arrive(
    qtmodeltester: object, built: Built
) -> None:
    model = EventLogModel(built.console, NIGHT)
    proxy = EventLogFilter()
    proxy.setSourceModel(model)
    qtmodeltester.check(model)  # type: ignore[attr-defined]
    proxy_tester = QAbstractItemModelTester(
        proxy, QAbstractItemModelTester.FailureReportingMode.Warning
    )
    writer = more_positions(built, 5)
    writer.add(ev.ResponderArrived("r002", "scene"), built.now_us + 6 * S)
    model.append(built.console.apply(writer.events).events)
    proxy.set_hide_positions(False)
    proxy.set_responder_text("U-002")
    proxy.set_event_type(ev.ResponderArrived.TYPE)
    assert proxy_tester is not None
    assert model.rowCount() == len(built.console.log)


def test_rows_are_newest_first_in_plain_words(built: Built) -> None:
    writer = EventWriter(built.incident_id, built.console.last_seq + 1)
    staging = built.school.pre_plan.staging_areas[0]
    writer.add(ev.ResponderArrived("r002", "staging", staging.area_id), built.now_us)
    writer.add(
        ev.ResponderPosition("r002", 38.22514, -84.54021, built.now_us, built.now_us + 30 * S, 8.0),
        built.now_us + S,
    )
    writer.add(ev.AlertAcknowledged("act-1", DISPATCHER.name), built.now_us + 2 * S, DISPATCHER)
    built.console.apply(writer.events)
    model = EventLogModel(built.console, NIGHT)
    texts = [[model.index(r, c).data() for c in range(model.columnCount())] for r in range(3)]
    assert texts[0][M.TYPE] == "alert acknowledged"
    assert texts[0][M.ACTOR] == "console_user: Dispatcher A. Moreno"
    assert texts[0][M.SOURCE] == "console"
    assert texts[0][M.SUMMARY] == "alert act-1 acknowledged by Dispatcher A. Moreno"
    assert texts[0][M.RESPONDER] == ""
    assert texts[1][M.TYPE] == "responder position"
    assert texts[1][M.SUMMARY] == "38.2251, -84.5402 ±8 m"
    assert texts[1][M.RESPONDER] == "U-002"  # the callsign from the incident state
    assert texts[2][M.TYPE] == "responder arrived"
    assert texts[2][M.SUMMARY] == f"at staging {staging.name}"
    assert texts[2][M.INCIDENT] == built.school.name
    assert texts[2][M.TIME] == local_clock(built.now_us)
    assert re.fullmatch(r"\d\d:\d\d:\d\d", texts[2][M.TIME])
    assert model.headerData(M.TIME, Qt.Orientation.Horizontal) == "Time (local)"


def test_every_event_type_has_a_one_line_summary(built: Built) -> None:
    state = built.console.incidents[built.incident_id]
    for event in built.console.log:
        text = summarize(event, state)
        assert text and "\n" not in text, event.type


def test_positions_are_hidden_by_default_and_shown_when_toggled(
    qtbot: QtBot, host: QWidget, built: Built
) -> None:
    panel = make_panel(host, built)
    assert panel.hide_positions.isChecked()
    log = built.console.log
    positions = sum(1 for e in log if e.type == POSITION)
    assert positions > 0
    assert panel.proxy.rowCount() == len(log) - positions
    assert "responder position" not in rows(panel.proxy, M.TYPE)
    panel.hide_positions.setChecked(False)
    assert panel.proxy.rowCount() == len(log)
    assert "responder position" in rows(panel.proxy, M.TYPE)


def test_filter_by_event_type(qtbot: QtBot, host: QWidget, built: Built) -> None:
    panel = make_panel(host, built)
    panel.type_combo.setCurrentIndex(panel.type_combo.findData(ev.ResponderArrived.TYPE))
    arrived = sum(1 for e in built.console.log if e.type == ev.ResponderArrived.TYPE)
    assert arrived > 0
    assert rows(panel.proxy, M.TYPE) == ["responder arrived"] * arrived
    # Asking for positions shows them, whatever the toggle said.
    panel.type_combo.setCurrentIndex(panel.type_combo.findData(POSITION))
    assert not panel.hide_positions.isChecked()
    assert set(rows(panel.proxy, M.TYPE)) == {"responder position"}
    panel.type_combo.setCurrentIndex(0)
    panel.hide_positions.setChecked(True)
    assert "responder position" not in rows(panel.proxy, M.TYPE)


def test_filter_by_responder_callsign_or_name(qtbot: QtBot, host: QWidget, built: Built) -> None:
    panel = make_panel(host, built)
    QTest.keyClicks(panel.responder_filter, "u-003")
    mine = [e for e in built.console.log if getattr(e.payload, "responder_id", None) == "r003"]
    shown = rows(panel.proxy, M.RESPONDER)
    assert shown == ["U-003"] * sum(1 for e in mine if e.type != POSITION)
    panel.responder_filter.setText("officer 003")
    assert rows(panel.proxy, M.RESPONDER) == shown
    panel.responder_filter.clear()
    assert panel.proxy.rowCount() == sum(1 for e in built.console.log if e.type != POSITION)


def test_new_events_are_inserted_at_the_top_without_a_reset(qtbot: QtBot, built: Built) -> None:
    model = EventLogModel(built.console, NIGHT)
    before = model.rowCount()
    changes = built.console.apply(more_positions(built, 3).events)
    with (
        qtbot.assertNotEmitted(model.modelReset),
        qtbot.waitSignal(model.rowsInserted) as inserted,
    ):
        model.append(changes.events)
    assert inserted.args[1:] == [0, 2]
    assert model.rowCount() == before + 3
    assert model.event_at(0) is changes.events[-1]
    assert model.event_at(2) is changes.events[0]


def test_bounded_log_dropping_old_events_removes_their_rows(
    qtbot: QtBot, qtmodeltester: object, built: Built
) -> None:
    console = built.console
    console.log = deque(list(console.log)[-100:], maxlen=100)
    model = EventLogModel(console, NIGHT)
    qtmodeltester.check(model)  # type: ignore[attr-defined]
    removed: list[tuple[int, int]] = []
    model.rowsRemoved.connect(lambda _p, first, last: removed.append((first, last)))
    with qtbot.assertNotEmitted(model.modelReset):
        for _ in range(3):
            model.append(console.apply(more_positions(built, 30).events).events)
    assert removed == [(100, 129)] * 3
    assert model.rowCount() == 100
    assert [model.event_at(r) for r in range(100)] == list(reversed(console.log))


def test_a_batch_larger_than_the_log_rebuilds_once(qtbot: QtBot, built: Built) -> None:
    console = built.console
    console.log = deque(list(console.log)[-10:], maxlen=10)
    model = EventLogModel(console, NIGHT)
    with qtbot.waitSignal(model.modelReset):
        model.append(console.apply(more_positions(built, 25).events).events)
    assert [model.event_at(r) for r in range(10)] == list(reversed(console.log))


def test_panel_refresh_follows_the_log(qtbot: QtBot, host: QWidget, built: Built) -> None:
    panel = make_panel(host, built)
    writer = EventWriter(built.incident_id, built.console.last_seq + 1)
    writer.add(ev.ResponderEnRoute("r009"), built.now_us, GATEWAY)
    panel.refresh(built.console.apply(writer.events), built.now_us)
    assert panel.proxy.index(0, M.TYPE).data() == "responder en route"
    panel.refresh(Changes(), built.now_us + S)  # nothing new: nothing moves
    assert panel.model.rowCount() == len(built.console.log)


def test_follows_live_at_the_top_and_holds_still_when_scrolled_away(
    qtbot: QtBot, host: QWidget
) -> None:
    built = build_incident(40)
    panel = make_panel(host, built)
    panel.hide_positions.setChecked(False)
    bar = panel.table.verticalScrollBar()
    assert panel.following and bar.value() == 0
    panel.refresh(built.console.apply(more_positions(built, 5).events), built.now_us)
    assert bar.value() == 0
    assert panel.proxy.index(0, M.TIME).data() == local_clock(built.now_us + 4 * S)
    bar.setValue(50)  # the user scrolls down to read
    assert not panel.following
    top = panel.table.indexAt(panel.table.viewport().rect().topLeft())
    reading = panel.model.event_at(panel.proxy.mapToSource(top).row())
    panel.refresh(built.console.apply(more_positions(built, 7, "r005").events), built.now_us)
    assert bar.value() == 57
    top = panel.table.indexAt(panel.table.viewport().rect().topLeft())
    assert panel.model.event_at(panel.proxy.mapToSource(top).row()) is reading
    panel.follow.setChecked(True)
    assert bar.value() == 0 and panel.following


def test_invalid_index_and_parent_have_no_rows(built: Built) -> None:
    model = EventLogModel(built.console, NIGHT)
    assert model.data(QModelIndex()) is None
    assert model.rowCount(model.index(0, 0)) == 0


def test_activating_a_row_focuses_the_incident_and_selects_the_responder(
    qtbot: QtBot, host: QWidget, built: Built
) -> None:
    panel = make_panel(host, built)
    row = rows(panel.proxy, M.RESPONDER).index("U-004")
    origins: list[str] = []
    panel.selection.changed.connect(origins.append)
    panel.table.activated.emit(panel.proxy.index(row, M.TYPE))
    assert origins == ["focus", "event_log"]
    assert panel.selection.incident_id == built.incident_id
    assert panel.selection.responder_ids == frozenset({"r004"})


def test_an_assignment_reads_with_where_channel_and_whom_to_report_to() -> None:
    at = 1_800_000_000_000_000
    actor = ev.Actor(ev.ActorKind.CONSOLE_USER, "Lt. Hayes")
    assigned = ev.ResponderAssigned(
        "r1", "contact_team", "Team 2", "East wing", "TAC 3", "Sgt. Lee"
    )
    identified = ev.ResponderIdentified("r1", "known_personally", "Sgt. Lee", "Team 2")
    texts = [
        summarize(ev.Event(1, "inc", p.TYPE, at, at, actor, ev.Source.CONSOLE, p), None)
        for p in (assigned, identified)
    ]
    assert texts == [
        "contact team, Team 2, at East wing, radio TAC 3, report to Sgt. Lee",
        "known personally by Sgt. Lee, team Team 2",
    ]
