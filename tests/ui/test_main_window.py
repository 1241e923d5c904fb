"""The main window: alerts take the focus and the alarm, one key acknowledges them in the
user's name, the layout and theme come back after a restart, shortcuts are all listed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, QSize, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLabel, QWidget
from pytestqt.qtbot import QtBot

from dispatch_console.app.backend import Loaded
from dispatch_console.app.live import ConsoleState
from dispatch_console.domain import events as ev
from dispatch_console.ui.shell.header import local_clock
from dispatch_console.ui.shell.main_window import MainWindow
from dispatch_console.ui.shell.theme import DAY, NIGHT
from dispatch_console.ui.shell.user import User
from tests.ui.factory import Built, EventWriter, build_incident, demo_roads, demo_schools
from tests.ui.test_map_edit import answer_modal

USER = User("Dispatcher A. Moreno", "dispatcher")


class Commands:
    """Stands in for the command runner: records what the window asks to store."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[ev.Payload], ev.Actor, str]] = []
        self.versions: list[int | None] = []

    def __call__(
        self,
        incident_id: str,
        payloads: object,
        actor: ev.Actor,
        what: str,
        expected_seq: int | None = None,
    ) -> None:
        self.calls.append((incident_id, list(payloads), actor, what))  # type: ignore[call-overload]
        self.versions.append(expected_seq)


class Clock:
    def __init__(self, now_us: int) -> None:
        self.now_us = now_us

    def __call__(self) -> int:
        return self.now_us


def show_active(qtbot: QtBot, window: MainWindow) -> None:
    """Shown and active: window shortcuts only fire in the active window."""
    with qtbot.waitActive(window):
        window.show()
        window.activateWindow()


@pytest.fixture
def built() -> Built:
    return build_incident(30)


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "console.ini"), QSettings.Format.IniFormat)


def make_window(
    qtbot: QtBot, settings: QSettings, now_us: int, commands: Commands | None = None
) -> MainWindow:
    window = MainWindow(
        ConsoleState(demo_schools(), demo_roads()),
        USER,
        settings=settings,
        clock=Clock(now_us),
        submit=commands or Commands(),
    )
    qtbot.addWidget(window)
    if not window.restored:
        window.resize(1600, 1000)
    return window


@pytest.fixture
def window(qtbot: QtBot, settings: QSettings, built: Built) -> Iterator[MainWindow]:
    w = make_window(qtbot, settings, built.now_us, Commands())
    w.on_loaded(Loaded([], 0, []))
    yield w


def test_title_names_the_user_and_role(window: MainWindow) -> None:
    assert "Dispatcher A. Moreno (dispatcher)" in window.windowTitle()
    assert "UNACKNOWLEDGED" not in window.windowTitle()


def test_activation_starts_the_alarm_focuses_and_space_acknowledges_in_the_users_name(
    qtbot: QtBot, settings: QSettings, built: Built
) -> None:
    commands = Commands()
    window = make_window(qtbot, settings, built.now_us, commands)
    window.on_loaded(Loaded([], 0, []))
    show_active(qtbot, window)
    window.on_events(built.events)  # the activation and what followed, from the store feed

    assert window.selection.incident_id == built.incident_id
    assert window.alerts.unacknowledged_count() == 1
    assert window.alerts.alarm.is_sounding
    assert window.flash.isActive()
    assert "UNACKNOWLEDGED ALERT" in window.windowTitle()

    QTest.keyClick(window, Qt.Key.Key_Space)
    assert len(commands.calls) == 1
    incident_id, payloads, actor, _ = commands.calls[0]
    assert incident_id == built.incident_id
    assert payloads == [ev.AlertAcknowledged("act-1", USER.name)]
    assert actor == ev.Actor(ev.ActorKind.CONSOLE_USER, USER.name)
    # Nothing changes until the event comes back from the store.
    assert window.alerts.alarm.is_sounding

    writer = EventWriter(built.incident_id, built.events[-1].seq + 1)
    writer.add(payloads[0], built.now_us, actor)
    window.on_events(writer.events)
    window.refresh_now()
    assert window.alerts.unacknowledged_count() == 0
    assert not window.alerts.alarm.is_sounding
    assert not window.flash.isActive()
    assert "UNACKNOWLEDGED" not in window.windowTitle()
    state = window.console.incidents[built.incident_id]
    assert state.alerts["act-1"].acknowledged_by == USER.name


def test_space_with_no_alert_waiting_stores_nothing(window: MainWindow) -> None:
    commands = window.submit
    window.acknowledge_top_alert()
    assert commands.calls == []  # type: ignore[attr-defined]
    assert "No alert" in window.statusBar().currentMessage()


def test_events_reach_every_panel_in_one_batched_refresh(
    qtbot: QtBot, window: MainWindow, built: Built
) -> None:
    window.on_events(built.events[:5])  # the activation: shown at once
    assert not window.pending
    window.on_events(built.events[5:200])
    window.on_events(built.events[200:])
    assert len(window.pending.events) == len(built.events) - 5  # waiting for the next tick
    qtbot.waitUntil(lambda: not window.pending, timeout=2000)
    assert window.map.marker_count() > 0
    assert window.responders.model.rowCount() == 30
    assert window.header.text_of("notified") == "30"


def test_layout_theme_and_dock_visibility_are_restored(
    qtbot: QtBot, settings: QSettings, built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The offscreen screen is 800×800: a 1920×1080 desktop, where the saved layout fits.
    monkeypatch.setattr(MainWindow, "available_size", lambda self: QSize(1920, 1080))
    first = make_window(qtbot, settings, built.now_us)
    first.show()
    qtbot.waitExposed(first)
    first.docks["event_log"].hide()
    first.docks["detail"].setFloating(True)
    first.toggle_theme()
    assert first.theme is DAY
    first.resize(1500, 900)
    first.close()

    second = make_window(qtbot, settings, built.now_us)
    second.show()
    qtbot.waitExposed(second)
    assert second.restored
    assert second.theme is DAY
    assert not second.docks["event_log"].isVisible()
    assert second.docks["detail"].isFloating()
    # (the size itself is clamped to the offscreen platform's small screen: not checked)
    second.toggle_theme()
    assert second.theme is NIGHT


def test_help_overlay_lists_every_shortcut(qtbot: QtBot, window: MainWindow) -> None:
    show_active(qtbot, window)
    QTest.keyClick(window, Qt.Key.Key_F1)
    assert window.help.isVisible()
    texts = {label.text() for label in window.help.findChildren(QLabel)}
    actions = [
        a for a in window.actions() if a.objectName().startswith("action_") and a.shortcuts()
    ]
    assert len(actions) == len(window.shortcuts) >= 15
    for shortcut in window.shortcuts:
        assert shortcut.keys in texts
        assert shortcut.description in texts
    QTest.keyClick(window.help, Qt.Key.Key_Escape)
    assert not window.help.isVisible()


def test_filter_shortcut_toggles_the_tables_filter(
    qtbot: QtBot, window: MainWindow, built: Built
) -> None:
    show_active(qtbot, window)
    window.on_events(built.events)
    window.refresh_now()
    everyone = window.responders.proxy.rowCount()
    QTest.keyClick(window, Qt.Key.Key_T, Qt.KeyboardModifier.AltModifier)
    stale = window.responders.proxy.rowCount()
    assert 0 < stale < everyone  # r001 is stale
    QTest.keyClick(window, Qt.Key.Key_T, Qt.KeyboardModifier.AltModifier)
    assert window.responders.proxy.rowCount() == everyone


def test_store_unreachable_shows_a_not_live_banner_until_it_is_back(
    window: MainWindow, built: Built
) -> None:
    window.on_health(False, "connection refused")
    assert not window.banner.isHidden()
    since = local_clock(built.now_us)
    assert window.banner.text().startswith(f"NOT LIVE since {since} — the event store cannot")
    assert window.banner.toolTip() == "Why: connection refused"
    window.clock.now_us += 5_000_000  # type: ignore[attr-defined]
    window.on_health(False, "server closed the connection")  # still down: since the first time
    assert f"since {since}" in window.banner.text()
    window.on_health(True, "live")
    assert window.banner.isHidden()
    # Reached, but reading fails (a schema the console does not know): said, not blamed on the
    # network.
    window.on_health(False, "no such column: events.payload", False)
    assert "reading the event store fails: no such column: events.payload" in (window.banner.text())


def test_a_refused_command_stays_in_view_across_the_top_until_dismissed(
    qtbot: QtBot, window: MainWindow
) -> None:
    with qtbot.waitSignal(window.action_failed) as failed:
        window.on_command_done("assign r001", False, "only identified responders can be assigned")
    assert "only identified" in failed.args[0]
    assert "only identified" in window.statusBar().currentMessage()
    assert not window.refusal.isHidden()
    assert window.refusal_text.text() == (
        "NOT DONE — assign r001: only identified responders can be assigned"
    )
    window.on_command_done("direct 1 to Staging A", True, "")  # another act does not hide it
    assert not window.refusal.isHidden()
    conflict = "CONFLICT: since you looked, Lt. J. Hayes directed r002 to Staging B (at 09:21:14)"
    window.on_command_done("direct 1 to Staging A", False, conflict)  # the newest one shows
    assert window.refusal_text.text() == f"NOT DONE — direct 1 to Staging A: {conflict}"
    qtbot.mouseClick(window.refusal_dismiss, Qt.MouseButton.LeftButton)
    assert window.refusal.isHidden()


def test_next_incident_cycles_through_active_incidents(window: MainWindow, built: Built) -> None:
    other = build_incident(
        5, seed=2, school_index=1, console=ConsoleState(demo_schools()),
        first_seq=built.events[-1].seq + 1,
    )  # fmt: skip
    window.on_events(built.events)
    window.on_events(other.events)
    seen = set()
    for _ in range(2):
        window.next_incident()
        seen.add(window.selection.incident_id)
    assert seen == {built.incident_id, other.incident_id}


def _warning_events(built: Built) -> list[ev.Event]:
    writer = EventWriter(built.incident_id, built.events[-1].seq + 1)
    writer.add(
        ev.WarningRaised(
            "unidentified_in_inner_perimeter:r000:1", "unidentified_in_inner_perimeter", "r000",
            "not identified, inside the inner perimeter",
        ),
        built.now_us,
    )  # fmt: skip
    return writer.events


def test_w_acknowledges_the_top_warning_in_the_users_name(
    qtbot: QtBot, settings: QSettings, built: Built
) -> None:
    commands = Commands()
    window = make_window(qtbot, settings, built.now_us, commands)
    window.on_loaded(Loaded([], 0, []))
    show_active(qtbot, window)
    window.on_events(built.events)
    window.on_events(_warning_events(built))
    window.refresh_now()
    assert window.warnings.unacknowledged_count() == 1
    QTest.keyClick(window, Qt.Key.Key_W)
    (incident_id, payloads, actor, _), *_ = commands.calls
    assert incident_id == built.incident_id
    assert payloads == [ev.WarningAcknowledged("unidentified_in_inner_perimeter:r000:1", USER.name)]
    assert actor.name == USER.name


def test_dragging_responders_onto_a_staging_area_directs_them(
    window: MainWindow, built: Built
) -> None:
    window.on_events(built.events)
    state = window.console.incidents[built.incident_id]
    area = next(iter(state.staging_areas))
    window.direct_dropped(frozenset({"r002", "r003"}), area)
    (_, payloads, _, what), *_ = window.submit.calls  # type: ignore[attr-defined]
    directed = [p for p in payloads if isinstance(p, ev.ResponderDirected)]
    queued = [p for p in payloads if isinstance(p, ev.DirectiveQueued)]
    assert {p.responder_id for p in directed} == {"r002", "r003"}
    assert {p.staging_area_id for p in directed} == {area}
    assert {q.kind for q in queued} == {"go_to_staging"}
    assert "direct 2" in what


def test_ctrl_p_starts_a_par_of_everyone_present(
    qtbot: QtBot, settings: QSettings, built: Built
) -> None:
    commands = Commands()
    window = make_window(qtbot, settings, built.now_us, commands)
    window.on_loaded(Loaded([], 0, []))
    show_active(qtbot, window)
    window.on_events(built.events)
    window.refresh_now()
    QTest.keyClick(window, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    (_, payloads, _, _), *_ = commands.calls
    (started,) = payloads
    assert isinstance(started, ev.ParStarted)
    state = window.console.incidents[built.incident_id]
    from dispatch_console.domain.lifecycle import PRESENT

    present = {r.responder_id for r in state.responders.values() if r.status in PRESENT}
    assert set(started.responder_ids) == present


def test_acting_on_nobody_says_what_to_select(window: MainWindow, built: Built) -> None:
    window.on_events(built.events)
    window.identify_selected()
    assert "select one responder" in window.statusBar().currentMessage()
    assert window.submit.calls == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("suffix", [".pdf", ".csv"])
def test_ics211_export_is_written_off_the_gui_thread_and_said_when_done(
    qtbot: QtBot, window: MainWindow, built: Built, tmp_path: Path, suffix: str
) -> None:
    window.on_events(built.events)
    target = tmp_path / f"ics211{suffix}"
    with qtbot.waitSignal(window.export_done, timeout=60_000) as done:
        thread = window.export_ics211(target)
    assert thread is not None
    message, ok = done.args
    assert ok, message
    assert str(target) in window.statusBar().currentMessage()
    data = target.read_bytes()
    if suffix == ".pdf":
        assert data.startswith(b"%PDF")
    else:
        text = data.decode("utf-8")
        assert "Officer 005" in text  # identified in the factory incident


def test_an_exercise_in_focus_shows_the_exercise_banner_across_the_top(
    window: MainWindow, built: Built
) -> None:
    window.show()
    events = list(built.events)
    opened = events[0]
    assert isinstance(opened.payload, ev.IncidentOpened)
    exercise = ev.IncidentOpened(**{**ev.payload_to_dict(opened.payload), "exercise": True})
    events[0] = ev.Event(
        opened.seq, opened.incident_id, opened.type, opened.occurred_at_us,
        opened.received_at_us, opened.actor, opened.source, exercise,
    )  # fmt: skip
    window.on_events(events)
    window.refresh_now()
    assert window.exercise_banner.isVisible()
    assert "EXERCISE" in window.exercise_banner.text()
    assert window.exercise_banner.width() >= window.width() - 20


def test_a_live_incident_shows_no_exercise_banner(window: MainWindow, built: Built) -> None:
    window.show()
    window.on_events(built.events)
    window.refresh_now()
    assert not window.exercise_banner.isVisible()


def test_an_observer_cannot_command_from_keys_or_panels(
    qtbot: QtBot, settings: QSettings, built: Built
) -> None:
    commands = Commands()
    window = MainWindow(
        ConsoleState(demo_schools(), demo_roads()),
        User("Chief W. Park", "observer"),
        settings=settings,
        clock=Clock(built.now_us),
        submit=commands,
    )
    qtbot.addWidget(window)
    window.on_loaded(Loaded([], 0, []))
    show_active(qtbot, window)
    window.on_events(built.events)
    window.refresh_now()
    QTest.keyClick(window, Qt.Key.Key_Space)
    window.alerts.acknowledge_top()  # the panel's button
    window.par.start_par()
    assert commands.calls == []
    assert "does not command" in window.statusBar().currentMessage()
    assert not window.map.editing_enabled


def test_a_dialog_decides_on_the_version_it_showed_when_it_opened(
    qtbot: QtBot, settings: QSettings, built: Built
) -> None:
    """Another console's change that arrives while the dialog is open is not taken as seen: the
    command carries the version of when the dialog opened, and the service refuses it
    (``CONFLICT``) if the change touched the same responder."""
    commands = Commands()
    window = make_window(qtbot, settings, built.now_us, commands)
    window.on_loaded(Loaded([], 0, []))
    show_active(qtbot, window)
    window.on_events(built.events)
    state = window.console.incidents[built.incident_id]
    opened_on = state.last_seq
    window.selection.focus(built.incident_id)
    window.selection.select({"r002"}, "test")
    other = EventWriter(built.incident_id, first_seq=opened_on + 1)
    hayes = ev.Actor(ev.ActorKind.CONSOLE_USER, "Lt. J. Hayes")
    area = sorted(state.staging_areas)[-1]

    def meanwhile_then_ok(dialog: QWidget) -> None:
        # Lt. Hayes, at another console, directs the same responder while this one is open.
        window.on_events([other.add(ev.ResponderDirected("r002", area), built.now_us, hayes)])
        assert window.console.incidents[built.incident_id].last_seq == opened_on + 1
        QTest.keyClick(dialog, Qt.Key.Key_Return)

    seen = answer_modal(qtbot, meanwhile_then_ok)
    window.direct_selected()
    assert len(seen) == 1 and type(seen[0]).__name__ == "DirectDialog"
    (_, payloads, _, what), *_ = commands.calls
    assert any(isinstance(p, ev.ResponderDirected) for p in payloads) and "direct" in what
    assert commands.versions == [opened_on]


def test_what_the_first_alert_needs_is_prepared_once_the_window_is_up(
    window: MainWindow,
) -> None:
    from dispatch_console.domain.geometry import local_frame

    local_frame.cache_clear()
    assert not window.alerts.alarm.prepared
    window.prepare_for_alerts()
    assert window.alerts.alarm.prepared  # no sound device here: visual only, said once now
    assert local_frame.cache_info().currsize == 1
    assert not window.alerts.alarm.is_sounding  # prepared, not started


def mnemonic(text: str) -> str | None:
    """The letter after a single '&' ("Pa&nels" -> "N"), if any."""
    index = text.replace("&&", "").find("&")
    return text.replace("&&", "")[index + 1].upper() if index >= 0 else None


def test_no_shortcut_or_mnemonic_is_ambiguous(window: MainWindow) -> None:
    """Every action's keys, every menu's Alt+letter and every menu item's letter: each
    key sequence means one thing in the window (Alt+P/Alt+V once clashed with the menus)."""
    from PySide6.QtGui import QAction, QKeySequence
    from PySide6.QtWidgets import QAbstractButton

    owners: dict[str, list[str]] = {}

    def claim(keys: str, owner: str) -> None:
        owners.setdefault(keys, []).append(owner)

    portable = QKeySequence.SequenceFormat.PortableText
    for action in window.findChildren(QAction):
        for sequence in action.shortcuts():
            claim(sequence.toString(portable), action.objectName() or action.text())
    for menu_action in window.menuBar().actions():
        letter = mnemonic(menu_action.text())
        assert letter, f"menu {menu_action.text()!r} has no mnemonic"
        claim(f"Alt+{letter}", f"menu {menu_action.text()}")
        menu = menu_action.menu()
        letters = [mnemonic(a.text()) for a in menu.actions() if not a.isSeparator()]
        taken = [x for x in letters if x]
        assert len(taken) == len(set(taken)), f"menu {menu_action.text()}: {letters}"
    for button in window.findChildren(QAbstractButton):
        letter = mnemonic(button.text())
        if letter:
            claim(f"Alt+{letter}", f"button {button.text()}")
    clashes = {keys: who for keys, who in owners.items() if len(who) > 1}
    assert clashes == {}
    # The documented filter keys and the new ones are there, and Quit.
    for keys in ("Alt+S", "Alt+U", "Alt+P", "Alt+T", "Alt+V", "Alt+G", "Alt+D", "Ctrl+Q"):
        assert keys in owners, keys


def test_alt_p_filters_plainclothes(qtbot: QtBot, window: MainWindow, built: Built) -> None:
    show_active(qtbot, window)
    window.on_events(built.events)
    window.refresh_now()
    everyone = window.responders.proxy.rowCount()
    QTest.keyClick(window, Qt.Key.Key_P, Qt.KeyboardModifier.AltModifier)
    assert window.responders.proxy.active_filters() == {"plainclothes"}
    assert 0 < window.responders.proxy.rowCount() < everyone


def test_a_new_live_alert_raises_a_minimised_window(
    qtbot: QtBot, window: MainWindow, built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QApplication

    asked: list[object] = []
    monkeypatch.setattr(QApplication, "alert", lambda widget, msec=0: asked.append(widget))
    window.show()
    window.showMinimized()
    qtbot.waitUntil(window.isMinimized, timeout=2000)
    window.on_events(built.events)  # an activation: a new live alert
    assert not window.isMinimized()
    assert window.isVisible()
    assert asked and asked[-1] is window  # the desktop is asked to draw attention


def test_closing_during_an_active_incident_asks_first(
    qtbot: QtBot, window: MainWindow, built: Built
) -> None:
    window.on_events(built.events)
    window.show()
    window.ask_before_closing = True
    questions: list[str] = []

    def no(title: str, text: str) -> bool:
        questions.append(text)
        return False

    window.ask = no  # type: ignore[method-assign]
    window.quit()  # Ctrl+Q
    assert window.isVisible()
    assert questions and "An incident is active" in questions[0]
    window.ask = lambda title, text: True  # type: ignore[method-assign]
    window.quit()
    assert not window.isVisible()


def test_a_saved_layout_larger_than_this_screen_is_not_restored(
    qtbot: QtBot, settings: QSettings, built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(MainWindow, "available_size", lambda self: QSize(1920, 1080))
    first = make_window(qtbot, settings, built.now_us)
    first.resize(1800, 1000)
    first.show()
    first.close()
    monkeypatch.setattr(MainWindow, "available_size", lambda self: QSize(1366, 768))
    second = make_window(qtbot, settings, built.now_us)
    assert not second.restored


def test_directed_responders_say_where_in_the_table(window: MainWindow, built: Built) -> None:
    from dispatch_console.ui.panels.responders import Column

    window.on_events(built.events)
    state = window.console.incidents[built.incident_id]
    area_id, area = next(iter(state.staging_areas.items()))
    rid = next(r.responder_id for r in state.responders.values() if r.status == "en_route")
    writer = EventWriter(built.incident_id, window.console.last_seq + 1)
    writer.add(ev.ResponderDirected(rid, area_id), built.now_us)
    window.on_events(writer.events)
    window.refresh_now()
    model = window.responders.model
    row = model.row_of(rid)
    assert row is not None
    assert model.data(model.index(row, Column.STATUS)) == f"en route → {area.name}"
    window.toggle_filter("directed")
    assert window.responders.proxy.rowCount() == 1
