"""Incident command in the console: the dialog that establishes or transfers it, the header's
IC, the action and its shortcut, and the report saying who held command when."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from dispatch_console.app.backend import Loaded, StoreFeed
from dispatch_console.app.live import Changes
from dispatch_console.domain import events as ev
from dispatch_console.domain.fold import apply
from dispatch_console.domain.sentences import acting_commander_text
from dispatch_console.domain.state import (
    ActingCommander,
    IncidentState,
    decode_state,
    encode_state,
)
from dispatch_console.replay.metrics import compute
from dispatch_console.replay.timeline import Timeline
from dispatch_console.ui.panels.ic_dialogs import CommandDialog
from dispatch_console.ui.print.report import (
    clock_text,
    command_text,
    condensed_rows,
    summary_lines,
)
from dispatch_console.ui.replay.timeline_bar import STEP_KIND_BY_KEY, elapsed_text
from dispatch_console.ui.shell.header import IncidentHeader, local_clock
from dispatch_console.ui.shell.main_window import MainWindow
from dispatch_console.ui.shell.selection import Selection
from dispatch_console.ui.shell.theme import NIGHT
from tests.ui.factory import DISPATCHER, Built, EventWriter, S, build_incident

HAYES = ev.Actor(ev.ActorKind.CONSOLE_USER, "Lt. J. Hayes")


def _state(built: Built) -> IncidentState:
    return decode_state(encode_state(built.console.incidents[built.incident_id]))


def _apply(state: IncidentState, payload: ev.Payload, at_us: int) -> None:
    event = ev.Event(state.last_seq + 1, state.incident_id, payload.TYPE, at_us, at_us, HAYES,
                     ev.Source.CONSOLE, payload)  # fmt: skip
    apply(state, event)


def test_the_dialog_establishes_then_transfers(qtbot: QtBot) -> None:
    built = build_incident(6)
    state = _state(built)
    dialog = CommandDialog(state, "Lt. J. Hayes", theme=NIGHT)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.windowTitle() == "Establish command"
    assert dialog.commander.text() == "Lt. J. Hayes" and dialog.ok_button.isEnabled()
    dialog.post.setText("Engine 3 tailboard")
    dialog.point.setCurrentIndex(dialog.point.count() - 1)  # at the school
    (payload,) = dialog.payloads()
    assert payload == ev.CommandEstablished(
        "Lt. J. Hayes", "Engine 3 tailboard", state.lon, state.lat
    )
    dialog.commander.clear()
    assert not dialog.ok_button.isEnabled()  # a name is required
    _apply(state, payload, built.now_us)

    transfer = CommandDialog(state, "Capt. R. Ortiz", theme=NIGHT)
    qtbot.addWidget(transfer)
    transfer.show()
    assert transfer.windowTitle() == "Transfer command"
    assert transfer.commander.text() == "" and not transfer.ok_button.isEnabled()
    transfer.commander.setText("Lt. J. Hayes")
    assert not transfer.ok_button.isEnabled()  # not to whoever holds it already
    transfer.commander.setText("Capt. R. Ortiz")
    transfer.reason.setText("senior officer arrived")
    assert transfer.post.text() == "Engine 3 tailboard"  # prefilled: the post stays
    QTest.keyClick(transfer.commander, Qt.Key.Key_Return)
    assert transfer.result() == CommandDialog.DialogCode.Accepted
    assert transfer.payloads() == [
        ev.CommandTransferred(
            "Lt. J. Hayes", "Capt. R. Ortiz", "Engine 3 tailboard", reason="senior officer arrived"
        )
    ]
    assert transfer.description() == "transfer command from Lt. J. Hayes to Capt. R. Ortiz"


def test_the_header_shows_who_holds_command(qtbot: QtBot) -> None:
    built = build_incident(6)
    selection = Selection()
    selection.focus(built.incident_id)
    header = IncidentHeader(built.console, selection, NIGHT)
    qtbot.addWidget(header)
    header.refresh(Changes(), built.now_us)
    assert header.text_of("commander") == "IC: none"
    assert header.commander.property("vacant") is True
    writer = EventWriter(built.incident_id, built.console.last_seq + 1)
    writer.add(ev.CommandEstablished("Lt. J. Hayes", "church lot"), built.now_us + S, HAYES)
    built.console.apply(writer.events)
    header.refresh(Changes(), built.now_us + 2 * S)
    assert header.text_of("commander") == "IC: Lt. J. Hayes"
    assert header.commander.property("vacant") is False
    assert "church lot" in header.commander.toolTip()


def test_the_report_and_replay_say_who_held_command_when() -> None:
    built = build_incident(6)
    writer = EventWriter(built.incident_id, built.console.last_seq + 1)
    t1, t2 = built.now_us + 10 * S, built.now_us + 70 * S
    writer.add(ev.CommandEstablished("Lt. J. Hayes", assumed=True), t1, HAYES)
    writer.add(ev.CommandTransferred("Lt. J. Hayes", "Capt. R. Ortiz", "Engine 3"), t2, HAYES)
    timeline = Timeline([*built.events, *writer.events])
    final = timeline.final_state
    text = command_text(final)
    assert text.startswith("Lt. J. Hayes (assumed ") and " → Capt. R. Ortiz (transferred " in text
    assert text.endswith("command post: Engine 3")
    assert ("Incident commander", text) in summary_lines(timeline, compute(timeline.events), final)
    rows = [r for r in condensed_rows(timeline, final) if r.what.startswith("Command")]
    assert [r.what for r in rows] == ["Command established", "Command transferred"]
    assert rows[1].detail == "Incident command passed from Lt. J. Hayes to Capt. R. Ortiz; " + (
        "command post Engine 3."
    )
    # Replay: a step kind jumps between command changes, and the state at each instant (what
    # the replay window's header shows) names the IC.
    assert timeline.state_at(t1 - S).commander is None
    assert timeline.state_at(t1 + S).commander == "Lt. J. Hayes"
    assert timeline.state_at(t2 + S).commander == "Capt. R. Ortiz"
    assert STEP_KIND_BY_KEY["command"].types >= {"command_established", "command_transferred"}
    QApplication.processEvents()


def test_ctrl_shift_k_opens_the_command_dialog_and_submits_its_event(
    qtbot: QtBot, tmp_path: Path
) -> None:
    from tests.ui.test_main_window import Commands, make_window, show_active

    built = build_incident(6)
    settings = QSettings(str(tmp_path / "console.ini"), QSettings.Format.IniFormat)
    commands = Commands()
    window = make_window(qtbot, settings, built.now_us, commands)
    window.on_loaded(Loaded([], 0, []))
    show_active(qtbot, window)
    window.on_events(built.events)
    action = window.findChild(QAction, "action_command")
    assert action is not None and action.shortcut().toString() == "Ctrl+Shift+K"

    def accept() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, CommandDialog)
        dialog.post.setText("church lot")
        dialog.accept()

    QTimer.singleShot(0, accept)
    QTest.keyClick(window, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)  # fmt: skip
    assert len(commands.calls) == 1
    incident_id, payloads, actor, _ = commands.calls[0]
    assert incident_id == built.incident_id
    assert payloads == [ev.CommandEstablished(window.user.name, "church lot")]
    assert actor.name == window.user.name


def test_the_console_says_the_demo_has_finished(qtbot: QtBot, tmp_path: Path) -> None:
    from PySide6.QtWidgets import QLabel

    from tests.ui.test_main_window import Commands, make_window

    settings = QSettings(str(tmp_path / "console.ini"), QSettings.Format.IniFormat)
    window = make_window(qtbot, settings, build_incident(2).now_us, Commands())
    window.show_demo_ended("Demo finished: the incident is over.")
    label = window.findChild(QLabel, "demo_ended")
    assert label is not None and label.text().startswith("DEMO FINISHED")
    assert label.toolTip() == "Demo finished: the incident is over."
    assert window.statusBar().currentMessage() == "Demo finished: the incident is over."


# --- older records: an incident commander acted, nobody established command ---------------------

#: The console users' registered roles in the store the older record is read from.
OLDER_ROLES = {HAYES.name: "incident commander", DISPATCHER.name: "dispatcher"}


def older_record() -> tuple[list[ev.Event], int, int]:
    """An incident recorded before command was events: Lt. J. Hayes (registered incident
    commander) revises the suspect twice, a dispatcher acts after him; no command event."""
    built = build_incident(6, acknowledge_alert=True)
    writer = EventWriter(built.incident_id, built.events[-1].seq + 1)
    t1, t2 = built.now_us + 10 * S, built.now_us + 130 * S
    red = ev.SuspectDescription(sex="male", free_text="red hoodie")
    grey = ev.SuspectDescription(sex="male", free_text="grey hoodie, black jeans")
    writer.add(ev.SuspectDescriptionRevised(red), t1, HAYES)
    writer.add(ev.SuspectDescriptionRevised(grey), t2, HAYES)
    writer.add(ev.SuspectDescriptionRevised(red), t2 + 30 * S, DISPATCHER)
    events = [*built.events, *writer.events]
    assert not any(e.type in ("command_established", "command_transferred") for e in events)
    return events, t1, t2


def store_older_record(url: str) -> tuple[str, int, int]:
    """:func:`older_record` appended to the store at ``url``, its console users registered
    (:data:`OLDER_ROLES`): the incident's id and Hayes's first and last act."""
    from dispatch_console.store import Store

    events, t1, t2 = older_record()
    store = Store(url)
    try:
        for name, role in OLDER_ROLES.items():
            store.set_user(name, role)
        store.append(
            [
                ev.EventDraft(e.incident_id, e.occurred_at_us, e.actor, e.source, e.payload)
                for e in events
            ]
        )
    finally:
        store.close()
    return events[0].incident_id or "", t1, t2


def test_an_older_record_s_report_names_the_acting_incident_commander() -> None:
    events, t1, t2 = older_record()
    timeline = Timeline(events)
    final = timeline.final_state
    origin = final.opened_at_us
    # Nobody's role known (a file read without its store): nothing to say but that.
    assert command_text(final) == "none recorded (nobody established command)"
    timeline.roles = dict(OLDER_ROLES)
    text = command_text(final, timeline.roles)
    assert text == (
        "Lt. J. Hayes, acting incident commander (command not formally established): "
        f"first acted {clock_text(t1)} ({elapsed_text(t1, origin)}), "
        f"last acted {clock_text(t2)} ({elapsed_text(t2, origin)})"
    )
    assert DISPATCHER.name not in text  # a dispatcher's acts make nobody IC
    assert ("Incident commander", text) in summary_lines(timeline, compute(timeline.events), final)
    # Once command is established, the record says who held it (no acting IC any more).
    writer = EventWriter(timeline.incident_id, events[-1].seq + 1)
    writer.add(ev.CommandEstablished("Capt. R. Ortiz"), t2 + 60 * S, HAYES)
    later = Timeline([*events, *writer.events]).final_state
    assert later.acting_commanders(OLDER_ROLES) == []
    assert command_text(later, OLDER_ROLES).startswith("Capt. R. Ortiz (established ")


def test_an_older_record_s_ics211_names_the_acting_incident_commander() -> None:
    from dispatch_console.app.ics211 import TimeFormat, build_ics211

    events, t1, t2 = older_record()
    state = Timeline(events).final_state
    now = t2 + 60 * S
    fmt = TimeFormat(seconds=True, offset=False)
    plain = build_ics211(state, now, time_format=fmt).header
    assert plain.incident_commander == "" and "IC" not in plain.incident_contact
    header = build_ics211(state, now, time_format=fmt, roles=OLDER_ROLES).header
    assert header.incident_commander == (
        "Lt. J. Hayes — acting incident commander (command not formally established)"
    )
    assert header.incident_contact.startswith(
        "IC: Lt. J. Hayes, acting incident commander (command not formally established): "
        f"first acted {fmt.dated()(t1)}, last acted {fmt.dated()(t2)}"
    )


def test_an_older_record_s_replay_shows_the_acting_incident_commander(
    qtbot: QtBot, tmp_path: Path
) -> None:
    from dispatch_console.store import Store
    from dispatch_console.ui.replay.replay_window import ReplayWindow

    url = f"sqlite:///{tmp_path / 'older.sqlite3'}"
    incident_id, t1, t2 = store_older_record(url)
    store = Store(url)
    try:
        timeline = Timeline.load(store, incident_id)
        assert timeline.roles == OLDER_ROLES  # read with the events: who acted, in what role
        window = ReplayWindow.load(
            store,
            incident_id,
            settings=QSettings(str(tmp_path / "replay.ini"), QSettings.Format.IniFormat),
            bookmarks_folder=tmp_path / "bookmarks",
        )
    finally:
        store.close()
    qtbot.addWidget(window)
    window.seek(t1 - S)
    assert window.header.text_of("commander") == "IC: none"  # he had not acted yet
    window.seek(t1 + S)
    assert window.header.text_of("commander") == "IC: Lt. J. Hayes (acting)"
    assert window.header.commander.property("vacant") is True  # still not established
    tip = window.header.commander.toolTip()
    assert "acting incident commander (command not formally established)" in tip
    assert "first acted" in tip and "(once)" in tip  # one act so far
    window.seek(t2 + 5 * S)
    assert "last acted" in window.header.commander.toolTip()
    window.set_playing(False)


def _live_console(qtbot: QtBot, tmp_path: Path, now_us: int) -> MainWindow:
    from tests.ui.test_main_window import Commands, make_window

    settings = QSettings(str(tmp_path / "console.ini"), QSettings.Format.IniFormat)
    return make_window(qtbot, settings, now_us, Commands())


def _feed(window: MainWindow, url: str) -> StoreFeed:
    """The console's store feed, wired to the window as the console's launcher wires it."""
    feed = StoreFeed(url, poll_s=0.05, verify_every_s=None)
    feed.signals.loaded.connect(window.on_loaded)
    feed.signals.roles.connect(window.on_roles)
    feed.signals.events.connect(window.on_events)
    return feed


def _assert_acting_hayes(window: MainWindow, t1: int, t2: int) -> None:
    header = window.header
    assert header.text_of("commander") == "IC: Lt. J. Hayes (acting)"
    assert header.commander.property("vacant") is True  # the caution colour: not established
    assert header.commander.toolTip() == acting_commander_text(
        [ActingCommander(HAYES.name, t1, t2, 2)], local_clock
    )


def test_the_live_console_names_the_acting_incident_commander_of_an_older_record(
    qtbot: QtBot, tmp_path: Path
) -> None:
    """An older incident still active when the console starts: the feed reads the roles of
    the users who acted with the states (off the GUI thread); the header and the console's own
    ICS 211 export name the acting IC as the replay and the report do."""
    url = f"sqlite:///{tmp_path / 'older.sqlite3'}"
    incident_id, t1, t2 = store_older_record(url)
    window = _live_console(qtbot, tmp_path, t2 + 60 * S)
    feed = _feed(window, url)
    try:
        with qtbot.waitSignal(feed.signals.loaded, timeout=10_000):
            feed.start()
    finally:
        feed.stop()
    assert window.selection.incident_id == incident_id
    _assert_acting_hayes(window, t1, t2)
    assert window.console.roles == OLDER_ROLES

    target = tmp_path / "ics211.csv"
    with qtbot.waitSignal(window.export_done, timeout=60_000) as done:
        window.export_ics211(target)
    assert done.args[1], done.args[0]
    text = target.read_text(encoding="utf-8-sig")
    assert "IC: Lt. J. Hayes, acting incident commander (command not formally established): " \
        "first acted " in text  # fmt: skip


def test_the_live_console_reads_the_roles_of_users_first_seen_in_new_events(
    qtbot: QtBot, tmp_path: Path
) -> None:
    """The older record arrives while the console runs (appended by another writer): the feed
    reads the roles of its users before handing over their events."""
    url = f"sqlite:///{tmp_path / 'older.sqlite3'}"
    from dispatch_console.store import Store

    Store(url).close()  # an empty store: nothing to load
    window = _live_console(qtbot, tmp_path, 0)
    feed = _feed(window, url)
    try:
        with qtbot.waitSignal(feed.signals.loaded, timeout=10_000):
            feed.start()
        assert window.console.roles == {}
        incident_id, t1, t2 = store_older_record(url)
        window.clock.now_us = t2 + 60 * S  # type: ignore[attr-defined]
        qtbot.waitUntil(lambda: window.selection.incident_id == incident_id, timeout=10_000)
        qtbot.waitUntil(lambda: window.console.roles == OLDER_ROLES, timeout=10_000)
    finally:
        feed.stop()
    window.refresh_now()
    _assert_acting_hayes(window, t1, t2)
