"""The alerts panel: red and on top until an acknowledgement event comes back, with the alarm."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from dispatch_console.app.live import Changes, ConsoleState
from dispatch_console.domain import events as ev
from dispatch_console.ui.panels.alerts import ACKNOWLEDGE_TEXT, AlertsPanel
from dispatch_console.ui.shell.alarm import Alarm
from dispatch_console.ui.shell.selection import Selection
from dispatch_console.ui.shell.theme import NIGHT
from tests.ui.factory import (
    DISPATCHER,
    SCHOOL_ACTOR,
    Built,
    EventWriter,
    S,
    build_incident,
    demo_schools,
)


def no_outputs() -> Sequence[object]:
    return []


@pytest.fixture
def host(qtbot: QtBot) -> QWidget:
    """A bare window to show the panel in, as in a dock (a top-level window with a layout
    makes the offscreen platform warn that it cannot propagate size hints)."""
    window = QWidget()
    qtbot.addWidget(window)
    window.resize(420, 500)
    return window


def make_panel(host: QWidget, console: ConsoleState, focus: str | None = None) -> AlertsPanel:
    selection = Selection()
    selection.focus(focus)
    panel = AlertsPanel(console, selection, NIGHT, host, alarm=Alarm(audio_outputs=no_outputs))
    panel.resize(host.size())
    host.show()
    return panel


def feed(panel: AlertsPanel, console: ConsoleState, writer: EventWriter, now_us: int) -> Changes:
    changes = console.apply(writer.events)
    writer.events.clear()
    panel.refresh(changes, now_us)
    return changes


def activation(built: Built, alert_id: str, at_us: int) -> EventWriter:
    writer = EventWriter(built.incident_id, built.console.last_seq + 1)
    writer.add(
        ev.AlertReceived(
            alert_id, built.school.school_id, "active_shooter", at_us - 2 * S, "M. Chen",
            "teacher", "Library, 2nd floor", "shooter seen in stairwell",
        ),
        at_us,
        SCHOOL_ACTOR,
    )  # fmt: skip
    return writer


def acknowledgement(built: Built, alert_id: str, at_us: int) -> EventWriter:
    writer = EventWriter(built.incident_id, built.console.last_seq + 1)
    writer.add(ev.AlertAcknowledged(alert_id, DISPATCHER.name), at_us, DISPATCHER)
    return writer


@pytest.fixture
def calm(host: QWidget) -> tuple[Built, AlertsPanel]:
    """An incident whose first alert is acknowledged already: no alarm, no attention."""
    built = build_incident(12, acknowledge_alert=True)
    panel = make_panel(host, built.console, built.incident_id)
    panel.refresh(Changes(), built.now_us)
    assert not panel.alarm.is_sounding and panel.unacknowledged_count() == 0
    return built, panel


def test_activation_starts_alarm_shows_it_red_on_top_and_asks_for_attention(
    qtbot: QtBot, calm: tuple[Built, AlertsPanel]
) -> None:
    built, panel = calm
    with qtbot.waitSignal(panel.attention_changed) as attention:
        changes = feed(panel, built.console, activation(built, "act-2", built.now_us), built.now_us)
    assert changes.new_alerts == [(built.incident_id, "act-2")]
    assert attention.args == [True]
    assert panel.alarm.is_sounding
    assert panel.unacknowledged_count() == 1
    assert panel.order() == [(built.incident_id, "act-2"), (built.incident_id, "act-1")]
    card = panel.cards[(built.incident_id, "act-2")]
    assert card.acknowledged is False
    assert card.background == QColor(NIGHT.alarm)
    assert card.kind.text() == "ACTIVE SHOOTER"
    assert card.school.text() == built.school.name
    assert card.elapsed.text() == "00:00:02"  # activated 2 s before it was received
    assert card.who.text() == "activated by M. Chen (teacher)"
    assert card.detail.text() == "Library, 2nd floor — shooter seen in stairwell"
    assert card.button.isVisible() and card.button.text() == ACKNOWLEDGE_TEXT
    older = panel.cards[(built.incident_id, "act-1")]
    assert older.background == QColor(NIGHT.calm) and not older.button.isVisible()


def test_elapsed_time_of_a_waiting_alert_moves_with_now(
    qtbot: QtBot, calm: tuple[Built, AlertsPanel]
) -> None:
    built, panel = calm
    feed(panel, built.console, activation(built, "act-2", built.now_us), built.now_us)
    panel.refresh(Changes(), built.now_us + (7 * 60 + 40) * S)
    assert panel.cards[(built.incident_id, "act-2")].elapsed.text() == "00:07:42"


def test_acknowledge_button_requests_acknowledgement_but_stays_red_until_the_event(
    qtbot: QtBot, calm: tuple[Built, AlertsPanel]
) -> None:
    built, panel = calm
    feed(panel, built.console, activation(built, "act-2", built.now_us), built.now_us)
    card = panel.cards[(built.incident_id, "act-2")]
    with qtbot.waitSignal(panel.acknowledge_requested) as request:
        QTest.mouseClick(card.button, Qt.MouseButton.LeftButton)
    assert request.args == [built.incident_id, "act-2"]
    # Never optimistic: still red and sounding until alert_acknowledged comes back.
    assert card.acknowledged is False and panel.alarm.is_sounding


def test_acknowledge_top_requests_the_top_unacknowledged_alert(qtbot: QtBot, host: QWidget) -> None:
    first = build_incident(5, seed=1, school_index=0)
    console = first.console
    second = build_incident(5, seed=2, school_index=1, console=console,
                            first_seq=console.last_seq + 1)  # fmt: skip
    panel = make_panel(host, console)
    panel.refresh(Changes(), second.now_us)
    top_state, top_alert = console.unacknowledged_alerts()[0]
    assert panel.order()[0] == (top_state.incident_id, top_alert.alert_id)
    with qtbot.waitSignal(panel.acknowledge_requested) as request:
        assert panel.acknowledge_top()
    assert request.args == [top_state.incident_id, top_alert.alert_id]


def test_acknowledge_top_with_nothing_waiting_asks_nothing(
    qtbot: QtBot, calm: tuple[Built, AlertsPanel]
) -> None:
    _, panel = calm
    with qtbot.assertNotEmitted(panel.acknowledge_requested):
        assert panel.acknowledge_top() is False


def test_acknowledged_event_stops_alarm_and_shows_who_acknowledged(
    qtbot: QtBot, calm: tuple[Built, AlertsPanel]
) -> None:
    built, panel = calm
    feed(panel, built.console, activation(built, "act-2", built.now_us), built.now_us)
    with qtbot.waitSignal(panel.attention_changed) as attention:
        feed(panel, built.console, acknowledgement(built, "act-2", built.now_us + 9 * S),
             built.now_us + 10 * S)  # fmt: skip
    assert attention.args == [False]
    assert not panel.alarm.is_sounding
    assert panel.unacknowledged_count() == 0
    card = panel.cards[(built.incident_id, "act-2")]
    assert card.acknowledged is True
    assert card.acknowledged_line.text().startswith("acknowledged by Dispatcher A. Moreno at ")
    assert not card.button.isVisible()
    assert card.background == QColor(NIGHT.calm)


def test_second_alert_while_the_first_is_acknowledged_restarts_the_alarm(
    qtbot: QtBot, calm: tuple[Built, AlertsPanel]
) -> None:
    built, panel = calm
    sounding: list[bool] = []
    panel.alarm.sounding_changed.connect(sounding.append)
    feed(panel, built.console, activation(built, "act-2", built.now_us), built.now_us)
    feed(panel, built.console, acknowledgement(built, "act-2", built.now_us + S), built.now_us)
    feed(panel, built.console, activation(built, "act-3", built.now_us + 5 * S), built.now_us)
    assert sounding == [True, False, True]
    assert panel.alarm.is_sounding
    assert panel.order()[0] == (built.incident_id, "act-3")


def test_flashes_only_while_an_alert_is_unacknowledged(
    qtbot: QtBot, calm: tuple[Built, AlertsPanel]
) -> None:
    built, panel = calm
    assert not panel.flashing
    feed(panel, built.console, activation(built, "act-2", built.now_us), built.now_us)
    assert panel.flashing
    card = panel.cards[(built.incident_id, "act-2")]
    seen = {card.background.name()}
    for _ in range(2):
        with qtbot.waitSignal(panel.flash_timer.timeout, timeout=3000):
            pass
        seen.add(card.background.name())
    assert seen == {QColor(NIGHT.alarm).name(), QColor(NIGHT.alarm).darker(165).name()}
    feed(panel, built.console, acknowledgement(built, "act-2", built.now_us + S), built.now_us)
    assert not panel.flashing
    assert card.background == QColor(NIGHT.calm)


def test_clicking_an_alert_focuses_its_incident(qtbot: QtBot, host: QWidget) -> None:
    first = build_incident(5, seed=1, school_index=0, acknowledge_alert=True)
    console = first.console
    second = build_incident(5, seed=2, school_index=1, console=console,
                            first_seq=console.last_seq + 1)  # fmt: skip
    panel = make_panel(host, console, focus=first.incident_id)
    panel.refresh(Changes(), second.now_us)
    card = panel.cards[(second.incident_id, "act-1")]
    assert not card.focused
    with qtbot.waitSignal(panel.selection.focus_changed) as focus:
        QTest.mouseClick(card, Qt.MouseButton.LeftButton)
    assert focus.args == [second.incident_id]
    assert panel.selection.incident_id == second.incident_id
    assert card.focused and not panel.cards[(first.incident_id, "act-1")].focused


def test_console_started_with_a_waiting_alert_sounds_and_flashes(
    qtbot: QtBot, host: QWidget
) -> None:
    built = build_incident(5)
    panel = make_panel(host, built.console, built.incident_id)
    assert panel.alarm.is_sounding and panel.flashing
    assert panel.unacknowledged_count() == 1


def test_no_alerts_is_said_calmly(qtbot: QtBot, host: QWidget) -> None:
    panel = make_panel(host, ConsoleState(demo_schools()))
    panel.refresh(Changes(), 0)
    assert panel.empty.isVisible() and panel.empty.text() == "No alerts"
    assert not panel.scroll_area.isVisible()
    assert not panel.alarm.is_sounding and not panel.flashing
    assert panel.unacknowledged_count() == 0


def test_fifty_alerts_of_history_build_one_card_each_and_keep_them(
    qtbot: QtBot, host: QWidget
) -> None:
    built = build_incident(3, acknowledge_alert=True)
    panel = make_panel(host, built.console, built.incident_id)
    for k in range(2, 51):
        writer = activation(built, f"act-{k}", built.now_us + k * S)
        writer.add(ev.AlertAcknowledged(f"act-{k}", DISPATCHER.name), built.now_us + k * S,
                   DISPATCHER)  # fmt: skip
        feed(panel, built.console, writer, built.now_us + k * S)
    cards = dict(panel.cards)
    assert len(cards) == 50
    panel.refresh(Changes(), built.now_us + 60 * S)
    assert panel.cards == cards  # nothing rebuilt on a plain tick
    assert panel.order()[0] == (built.incident_id, "act-50")
