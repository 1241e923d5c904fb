"""Signing in at a console and the idle session lock (issue 16): the impostor cannot sign in,
the account's role is the one used, and a locked session hides the incident until the password
is given again; each step is an audit event."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow
from pytestqt.qtbot import QtBot

from dispatch_console.domain import events as ev
from dispatch_console.store import Store
from dispatch_console.store import accounts as acc
from dispatch_console.ui.shell.sign_in import REFUSED_STYLE, SessionLock, SignInDialog

ADMIN = ev.Actor(ev.ActorKind.SYSTEM, "cli:admin")
PASSWORD = "correct horse battery"


def actions(url: str) -> list[tuple[str, str]]:
    with Store(url) as store:
        return [
            (e.payload.action, e.payload.name)  # type: ignore[attr-defined]
            for e in store.read(None, types=[ev.ConsoleUserAudit.TYPE])
        ]


def test_the_impostor_cannot_sign_in_and_the_role_is_the_account_s(
    qtbot: QtBot, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'accounts.sqlite3'}"
    with Store(url) as store:
        secret = acc.enroll(store, "Dispatcher A. Moreno", "dispatcher", PASSWORD, by=ADMIN)
        assert secret is not None
        code = acc.totp(secret, acc.totp_step(store._clock()))
    dialog = SignInDialog(url, "Chief Impostor")
    qtbot.addWidget(dialog)
    dialog.password.setText("I am the chief now")
    dialog.code.setText("123456")
    dialog.try_sign_in()
    qtbot.waitUntil(lambda: "NOT SIGNED IN" in dialog.message.text(), timeout=20_000)
    assert dialog.account is None and dialog.password.text() == ""
    assert dialog.message.styleSheet() == REFUSED_STYLE  # the refusal stands out, red and bold
    # The real dispatcher signs in; the role is the account's.
    dialog.name.setText("Dispatcher A. Moreno")
    dialog.password.setText(PASSWORD)
    dialog.code.setText(code)
    with qtbot.waitSignal(dialog.accepted, timeout=20_000):
        dialog.try_sign_in()
    assert dialog.account is not None and dialog.account.role == "dispatcher"
    assert ("sign_in_failed", "Chief Impostor") in actions(url)
    assert ("signed_in", "Dispatcher A. Moreno") in actions(url)
    with Store(url) as store:
        assert store.user_role("Chief Impostor") is None


def test_an_idle_session_locks_and_hides_the_incident_until_the_password(
    qtbot: QtBot, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'accounts.sqlite3'}"
    with Store(url) as store:
        acc.enroll(store, "Lt. Hayes", "incident commander", PASSWORD, by=ADMIN)
    window = QMainWindow()
    qtbot.addWidget(window)
    window.setCentralWidget(QLabel("the incident map"))
    dock = QDockWidget("Responders")
    dock.setWidget(QLabel("responders"))
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    window.show()
    assert dock.isVisible()
    now = [1000.0]
    lock = SessionLock(window, url, "Lt. Hayes", lock_after_s=900, clock=lambda: now[0])
    now[0] += 899
    lock.check()
    assert not lock.locked
    now[0] += 1
    lock.check()
    assert lock.locked and lock.dialog is not None
    central = window.centralWidget()
    assert central is not None and not central.isVisible() and not dock.isVisible()
    lock.dialog.reject()  # Escape or closing does not unlock
    assert lock.locked
    lock.dialog.password.setText("not the password")
    lock.dialog.try_unlock()
    dialog = lock.dialog
    qtbot.waitUntil(lambda: "NOT UNLOCKED" in dialog.message.text(), timeout=20_000)
    assert lock.locked and not central.isVisible()
    assert dialog.message.styleSheet() == REFUSED_STYLE
    lock.dialog.password.setText(PASSWORD)
    with qtbot.waitSignal(lock.locked_changed, timeout=20_000):
        lock.dialog.try_unlock()
    assert not lock.locked and central.isVisible() and dock.isVisible()
    qtbot.waitUntil(lambda: ("session_locked", "Lt. Hayes") in actions(url), timeout=20_000)
    names = [a for a, n in actions(url) if n == "Lt. Hayes"]
    # The lock's own event is written from a worker thread: its place among the others varies.
    assert sorted(names[-3:]) == ["session_locked", "session_unlocked", "unlock_failed"]
