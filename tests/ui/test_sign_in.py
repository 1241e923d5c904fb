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


class Renewals:
    """Stands in for the database's ``renew_session()``: answers in order (an exception is
    raised); an answer ``(event, answer)`` first waits for the event (a hung server)."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self) -> object:
        self.calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, tuple):  # (event to wait for, then the answer)
            answer[0].wait(10)
            answer = answer[1]
        if isinstance(answer, BaseException):
            raise answer
        return answer


def _pg_lock(qtbot: QtBot, now: list[float]) -> SessionLock:
    window = QMainWindow()
    window.setCentralWidget(QLabel("the incident"))
    qtbot.addWidget(window)
    window.show()
    # Nothing listens there: the lock's own end_session fails at once (and is only logged).
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    lock = SessionLock(window, url, "Lt. Hayes", clock=lambda: now[0], postgres_session=True)
    assert lock.renew is not None and lock.renew_timer.isActive()
    return lock


def _answered(qtbot: QtBot, lock: SessionLock) -> None:
    qtbot.waitUntil(lambda: not lock.renewing(), timeout=5_000)


def test_a_database_outage_does_not_lock_until_the_lease_must_have_run_out(
    qtbot: QtBot,
) -> None:
    from datetime import UTC, datetime

    from sqlalchemy.exc import OperationalError

    now = [1000.0]
    lock = _pg_lock(qtbot, now)
    down = OperationalError("SELECT 1", {}, Exception("connection refused"))
    lock.renew = Renewals(down, down, datetime.now(UTC), down, down, down)
    for _ in range(2):  # the server is down for two minutes: the console goes on
        lock.renew_now()
        _answered(qtbot, lock)
        now[0] += 60
    assert not lock.locked
    lock.renew_now()  # back: renewed, the count starts again
    _answered(qtbot, lock)
    lock.renew_now()  # down again at 1,180 s ...
    _answered(qtbot, lock)
    now[0] += 15 * 60 - 1
    lock.renew_now()
    _answered(qtbot, lock)
    assert not lock.locked  # ... 14:59 later the ticket may still be alive
    now[0] += 1
    lock.renew_now()
    qtbot.waitUntil(lambda: lock.locked, timeout=5_000)
    assert lock.dialog is not None
    assert lock.dialog.message.text().startswith(
        "The session of Lt. Hayes could not be renewed for 15 minutes"
    )


def test_a_refused_login_or_an_ended_ticket_locks_at_once_saying_why(qtbot: QtBot) -> None:
    from sqlalchemy.exc import OperationalError

    now = [1000.0]
    lock = _pg_lock(qtbot, now)
    refused = OperationalError(
        "SELECT public.renew_session()",
        {},
        Exception('FATAL:  role "Lt. Hayes" is not permitted to log in'),
    )
    lock.renew = Renewals(refused)
    lock.renew_now()
    qtbot.waitUntil(lambda: lock.locked, timeout=5_000)
    assert lock.dialog is not None
    assert "The database refused the login of Lt. Hayes" in lock.dialog.message.text()
    assert 'role "Lt. Hayes" is not permitted to log in).' in lock.dialog.message.text()
    assert "SELECT" not in lock.dialog.message.text()

    lock = _pg_lock(qtbot, now)
    lock.renew = Renewals(None)
    lock.renew_now()
    qtbot.waitUntil(lambda: lock.locked, timeout=5_000)
    assert lock.dialog is not None
    assert lock.dialog.message.text().startswith("The database ended the session of Lt. Hayes")


def test_a_hung_renewal_is_given_up_and_its_late_answer_ignored(qtbot: QtBot) -> None:
    import threading
    from datetime import UTC, datetime

    now = [1000.0]
    lock = _pg_lock(qtbot, now)
    release = threading.Event()
    # The first renewal hangs, then answers "no ticket" long after; the second passes.
    lock.renew = Renewals((release, None), datetime.now(UTC))
    lock.renew_now()
    now[0] += 29
    lock.renew_now()  # still within the 30 s: not asked twice
    assert lock.renew.calls == 1  # type: ignore[attr-defined]
    now[0] += 1
    lock.renew_now()  # given up: asked again
    qtbot.waitUntil(lambda: lock.renew.calls == 2, timeout=5_000)  # type: ignore[attr-defined]
    _answered(qtbot, lock)
    release.set()  # the hung one answers at last: ignored
    qtbot.wait(200)
    assert not lock.locked and lock._failing_since is None


def test_a_database_without_renew_session_is_not_asked_again(qtbot: QtBot) -> None:
    from sqlalchemy.exc import ProgrammingError

    class Missing(Exception):
        sqlstate = "42883"

    now = [1000.0]
    lock = _pg_lock(qtbot, now)
    lock.renew = Renewals(ProgrammingError("SELECT public.renew_session()", {}, Missing("no")))
    lock.renew_now()
    qtbot.waitUntil(lambda: lock.renew is None, timeout=5_000)
    assert not lock.locked and not lock.renew_timer.isActive()
