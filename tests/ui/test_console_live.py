"""The whole console against a real store and a real embedded gateway, with the simulator
sending a school's activation over signed HTTP: the alert reaches the window through the store
feed, the alarm starts, one key acknowledges it, and the acknowledgement is stored in the
user's name. Then every worker thread stops."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from dispatch_console.app.services import DemoPlan
from dispatch_console.domain import events as ev
from dispatch_console.feeds.server import Listen
from dispatch_console.launch.console import ConsoleOptions, build_console
from dispatch_console.resources import resource
from dispatch_console.store import Store
from dispatch_console.ui.shell.user import User

USER = User("Dispatcher A. Moreno", "dispatcher")


def test_alert_from_the_gateway_alarms_and_space_stores_the_acknowledgement(
    qtbot: QtBot, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'console.sqlite3'}"
    options = ConsoleOptions(
        url,
        listen=Listen("127.0.0.1", 0, 0, 0, udp_worker=False),
        demo=DemoPlan(resource("scenarios", "small_lockdown.toml"), delay_s=0.2, speed=None),
        user=USER,
        settings_file=tmp_path / "console.ini",
        master_key=tmp_path / "master.key",
    )
    console = build_console(options)
    assert console is not None
    window = console.window
    qtbot.addWidget(window)
    try:
        with qtbot.waitActive(window):
            window.show()
            window.activateWindow()
        qtbot.waitUntil(lambda: window.alerts.unacknowledged_count() == 1, timeout=60_000)
        incident_id = window.selection.incident_id
        assert incident_id is not None
        assert window.alerts.alarm.is_sounding
        assert "UNACKNOWLEDGED ALERT" in window.windowTitle()

        QTest.keyClick(window, Qt.Key.Key_Space)
        qtbot.waitUntil(lambda: window.alerts.unacknowledged_count() == 0, timeout=20_000)
        assert not window.alerts.alarm.is_sounding
        # Responders reach the map and the table through the same feed.
        qtbot.waitUntil(lambda: window.responders.model.rowCount() > 0, timeout=60_000)
    finally:
        console.close()
    for thread in (console.feed._thread, console.commands._thread):
        assert not thread.is_alive()
    assert console.services is not None and console.services.gateway is not None
    assert not console.services.gateway.is_alive()

    store = Store(url)
    try:
        acks = list(store.read(incident_id, types=[ev.AlertAcknowledged.TYPE]))
    finally:
        store.close()
    assert len(acks) == 1
    assert acks[0].actor == ev.Actor(ev.ActorKind.CONSOLE_USER, USER.name)
    assert acks[0].source is ev.Source.CONSOLE
    assert isinstance(acks[0].payload, ev.AlertAcknowledged)
    assert acks[0].payload.by == USER.name
