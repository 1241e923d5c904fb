"""The radio broadcast line: the domain's sentence, live, with when it changed, one click to
copy."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from dispatch_console.app.live import Changes
from dispatch_console.domain import events as ev
from dispatch_console.domain.state import IncidentState
from dispatch_console.domain.warnings import NO_PLAINCLOTHES_INSIDE, radio_line
from dispatch_console.ui.shell.broadcast_line import FRESH_US, BroadcastLinePanel
from dispatch_console.ui.shell.selection import Selection
from dispatch_console.ui.shell.theme import NIGHT
from tests.ui.factory import Built, EventWriter, S, build_incident


@pytest.fixture
def built() -> Built:
    return build_incident(12, acknowledge_alert=True)


def state_of(built: Built) -> IncidentState:
    return built.console.incidents[built.incident_id]


def make_panel(qtbot: QtBot, built: Built, focus: str | None) -> tuple[BroadcastLinePanel, QWidget]:
    host = QWidget()
    qtbot.addWidget(host)
    host.resize(440, 260)
    selection = Selection()
    selection.focus(focus)
    panel = BroadcastLinePanel(built.console, selection, NIGHT, host)
    panel.resize(host.size())
    host.show()
    panel.refresh(Changes(), built.now_us)
    return panel, host


def move_to_school(built: Built, responder_id: str, at_us: int) -> Changes:
    """A position report at the school itself (inside both perimeters)."""
    state = state_of(built)
    writer = EventWriter(built.incident_id, built.console.last_seq + 1)
    writer.add(
        ev.ResponderPosition(responder_id, state.lat, state.lon, at_us, at_us + 30 * S, 5.0, 0.0),
        at_us,
    )
    return built.console.apply(writer.events)


def test_shows_the_domain_sentence_for_the_focused_incident(qtbot: QtBot, built: Built) -> None:
    panel, _host = make_panel(qtbot, built, built.incident_id)
    expected = radio_line(state_of(built), built.now_us)
    assert expected.startswith("Plainclothes officers inside: Officer 000, black t-shirt")
    assert panel.text.text() == expected == panel.line
    assert panel.changed.text().startswith("unchanged for 00:00:00")
    assert not panel.fresh


def test_copy_puts_the_sentence_on_the_clipboard(qtbot: QtBot, built: Built) -> None:
    panel, _host = make_panel(qtbot, built, built.incident_id)
    QGuiApplication.clipboard().setText("something else")
    QTest.mouseClick(panel.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == panel.line
    assert panel.copy_button.text() == "COPIED ✓"
    assert panel.copy() == panel.line


def test_the_line_follows_positions_and_says_it_changed(qtbot: QtBot, built: Built) -> None:
    panel, _host = make_panel(qtbot, built, built.incident_id)
    before = panel.line
    assert "Officer 010" not in before
    at = built.now_us + 5 * S
    changes = move_to_school(built, "r010", at)  # r010: plainclothes, grey hoodie, en route
    panel.refresh(changes, at)
    assert panel.line != before
    assert "Officer 010, grey hoodie, blue pants, badge on belt" in panel.text.text()
    assert panel.line == radio_line(state_of(built), at)
    assert panel.fresh
    assert panel.changed.text().startswith("NEW · changed 00:00:00 ago")
    panel.refresh(Changes(), at + 12 * S)
    assert panel.changed.text().startswith("NEW · changed 00:00:12 ago")
    panel.refresh(Changes(), at + FRESH_US)
    assert not panel.fresh
    assert panel.changed.text().startswith("unchanged for 00:00:30")


def test_no_plainclothes_inside_says_so(qtbot: QtBot) -> None:
    built = build_incident(12, acknowledge_alert=True)
    state = state_of(built)
    for r in state.responders.values():  # everyone in uniform
        r.attire = ev.Attire(uniform=True)
    panel, _host = make_panel(qtbot, built, built.incident_id)
    assert panel.text.text() == NO_PLAINCLOTHES_INSIDE


def test_no_incident_in_focus_copies_nothing(qtbot: QtBot, built: Built) -> None:
    panel, _host = make_panel(qtbot, built, None)
    QGuiApplication.clipboard().setText("keep me")
    assert panel.text.text() == "No incident in focus."
    assert not panel.copy_button.isEnabled()
    assert panel.copy() == ""
    assert QGuiApplication.clipboard().text() == "keep me"
