"""The console shows when the event log fails verification (issue 16): a store whose events
were rewritten behind its back gets a red banner naming the first broken event; an intact one
none."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from dispatch_console.domain import events as ev
from dispatch_console.feeds.keys import MASTER_KEY_ENV
from dispatch_console.feeds.server import Listen
from dispatch_console.launch.console import ConsoleOptions, build_console
from dispatch_console.store import Store
from dispatch_console.store.chain import SIGNING_KEY_ENV
from dispatch_console.ui.shell.user import User
from tests.builders import IC, Recorder

USER = User("Dispatcher A. Moreno", "dispatcher")


def test_a_rewritten_log_shows_the_tamper_banner(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Also: a console that only watches (no embedded gateway) never needs the master key nor
    the centre's signing key: neither file is read or made."""
    master, signing = tmp_path / "master.key", tmp_path / "centre-signing.key"
    monkeypatch.setenv(MASTER_KEY_ENV, str(master))
    monkeypatch.setenv(SIGNING_KEY_ENV, str(signing))
    path = tmp_path / "console.sqlite3"
    url = f"sqlite:///{path}"
    with Store(url) as store:
        store.set_user(IC.name, "incident commander")
        rec = Recorder("inc-1").opened()
        rec.add(ev.IncidentCommanderAssigned(IC.name), 5)
        store.append(rec.drafts())
        commander = next(e.seq for e in store.read("inc-1") if e.type.startswith("incident_c"))
    options = ConsoleOptions(
        url,
        gateway=False,
        listen=Listen("127.0.0.1", 0, 0, 0, udp_worker=False),
        user=USER,
        settings_file=tmp_path / "console.ini",
    )
    console = build_console(options)
    assert console is not None
    window = console.window
    qtbot.addWidget(window)
    try:
        window.show()
        qtbot.waitUntil(lambda: bool(window.tamper_banner.toolTip()), timeout=30_000)
        assert window.tamper_banner.isHidden()  # intact: no banner
        assert "intact" in window.tamper_banner.toolTip()
    finally:
        console.close()
    # Someone with the file drops the trigger and names another commander.
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER events_no_update")
    conn.execute(
        "UPDATE events SET payload = replace(payload, 'Lt. Hayes', 'Chief Impostor') "
        f"WHERE seq = {commander}"
    )
    conn.commit()
    conn.close()
    console = build_console(options)
    assert console is not None
    window = console.window
    qtbot.addWidget(window)
    try:
        window.show()
        qtbot.waitUntil(lambda: window.tamper_banner.isVisible(), timeout=30_000)
        text = window.tamper_banner.text()
        assert "EVENT LOG FAILS VERIFICATION" in text and f"event {commander} " in text
    finally:
        console.close()
    assert not master.exists() and not signing.exists()
