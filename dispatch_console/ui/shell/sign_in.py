"""Signing in at a console, and the session lock (issue 16).

:class:`SignInDialog` asks for the account name, password and one-time code and checks them
with :func:`dispatch_console.store.accounts.sign_in` in a worker thread (Argon2id takes a tenth
of a second on purpose; the GUI thread never waits on it or on the store). The role is the
account's: nothing the user types or passes on the command line chooses it.

:class:`SessionLock` locks the session after ``lock_after_s`` without keyboard or mouse input
(15 minutes by default): the incident is hidden (the central map and every panel), a dialog asks
for the password again, and both the lock and the unlock are audit events. On PostgreSQL the
lock revokes the session's ticket in the database (``end_session``), and unlocking asks the
password (checked by the server) and a new one-time code (checked by the database). An alarm still
sounds while locked; only the incident is hidden. A PostgreSQL console renews its ticket's
15-minute lease every minute (``renew_session``, off the GUI thread); when the database holds no
live ticket for it any more, the console locks at once and says that the database ended the
session (its reads would otherwise come back empty, the picture frozen without a word).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QWidget,
)

from dispatch_console.store import Store, pgroles
from dispatch_console.store import accounts as acc

log = logging.getLogger(__name__)

#: Idle time after which a session locks (seconds).
LOCK_AFTER_S = 15 * 60.0
#: How often a PostgreSQL console renews its session ticket, a 15-minute lease (seconds).
RENEW_EVERY_S = 60.0
#: A renewal still unanswered after this long is given up (its late answer ignored).
RENEW_GIVE_UP_S = 30.0


class _Done(QObject):
    done = Signal(object)


def _in_thread(work: Callable[[], object], receiver: Callable[[object], None]) -> _Done:
    """Run ``work`` in a worker thread; ``receiver`` gets its result (or the exception) on the
    GUI thread. Keep the returned object alive until then."""
    signals = _Done()
    signals.done.connect(receiver, Qt.ConnectionType.QueuedConnection)

    def run() -> None:
        try:
            result: object = work()
        except Exception as exc:
            result = exc
        signals.done.emit(result)

    threading.Thread(target=run, name="sign-in", daemon=True).start()
    return signals


class SignInDialog(QDialog):
    """Name, password, one-time code; OK checks them (see the module docstring).

    ``postgres_role``: the console's PostgreSQL login role (name, role); the dialog asks for
    its one-time code, which the database checks
    (:func:`dispatch_console.store.pgroles.second_factor`): until it passes, the database shows
    this session no incident and refuses its events. ``ask_postgres_password``: no password
    was found (URL, ``PGPASSWORD``, ``~/.pgpass``), so the dialog asks it too (and the name,
    if the URL has none: the role is then the one registered for the login role) and the
    console connects with it (:attr:`store_url` then carries it); a password the server
    refuses is counted by nothing here (the server logs it) and the dialog stays."""

    def __init__(
        self,
        store_url: str | None,
        name: str = "",
        console: str = "",
        parent: QWidget | None = None,
        postgres_role: tuple[str, str] | None = None,
        *,
        ask_postgres_password: bool = False,
    ) -> None:
        super().__init__(parent)
        self.store_url = store_url
        self.console = console
        self.postgres_role = postgres_role
        self.ask_postgres_password = ask_postgres_password and postgres_role is not None
        self.account: acc.Account | None = None
        self._pending: _Done | None = None
        self.setWindowTitle("Sign in — Dispatch Console")
        self.name = QLineEdit(name)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.code = QLineEdit()
        self.code.setPlaceholderText("6 digits from your authenticator app")
        self.code.setMaxLength(6)
        self.message = QLabel("Every action you take is recorded under your account.")
        self.message.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Sign in")
        self.buttons.accepted.connect(self.try_sign_in)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow(self.message)
        form.addRow("Name", self.name)
        form.addRow("Password", self.password)
        form.addRow("One-time code", self.code)
        form.addRow(self.buttons)
        self.setMinimumWidth(440)  # the message and the code's hint whole
        (self.password if name else self.name).setFocus()
        if postgres_role is not None and self.ask_postgres_password:
            # The database server checks the password (SCRAM) as the console connects, then
            # the database the code. The name is the URL's login role, if it names one.
            self.name.setText(postgres_role[0])
            self._name_fixed(bool(postgres_role[0]))
            self.message.setText(
                "Your PostgreSQL password is checked by the database server, your one-time "
                "code by the database. Every action you take is recorded under your account."
            )
            (self.password if postgres_role[0] else self.name).setFocus()
        elif postgres_role is not None:  # the password was the server's, at connecting
            self.name.setText(postgres_role[0])
            self._name_fixed(True)
            form.setRowVisible(self.password, False)
            self.message.setText(
                "Password checked by the database server. Enter your one-time code: every "
                "action you take is recorded under your account."
            )
            self.code.setFocus()

    def _name_fixed(self, fixed: bool) -> None:
        """The login role named by the URL: shown as text, not as a field to type in."""
        self.name.setReadOnly(fixed)
        self.name.setFrame(not fixed)
        if fixed:
            self.name.setFocusPolicy(Qt.FocusPolicy.NoFocus)

    def try_sign_in(self) -> None:
        if self._pending is not None:
            return
        name, password, code = self.name.text().strip(), self.password.text(), self.code.text()
        self.buttons.setEnabled(False)
        _say(self.message, "Checking…")

        postgres_role, url = self.postgres_role, self.store_url
        ask_password = self.ask_postgres_password

        def work() -> object:
            if postgres_role is not None and ask_password:
                if not name or not password:
                    raise acc.SignInRefused("enter your name and your PostgreSQL password")
                login_url = acc.pg_login_url(url or "", name, password)
                # The server checks the password (SCRAM); nothing here counts a refusal.
                return login_url, _pg_second_factor(login_url, *acc.pg_login(login_url), code)
            if postgres_role is not None:
                return url, _pg_second_factor(url, *postgres_role, code)
            with Store(url, migrate=False) as store:
                return url, acc.sign_in(store, name, password, code, console=self.console)

        self._pending = _in_thread(work, self._done)

    def _done(self, result: object) -> None:
        self._pending = None
        self.buttons.setEnabled(True)
        if isinstance(result, tuple):
            self.store_url, self.account = result
            self.accept()
            return
        self.password.clear()
        self.code.clear()
        (self.code if self.password.isHidden() else self.password).setFocus()
        if isinstance(result, acc.SignInRefused):
            why = str(result)
        else:  # never the exception's text: a database's message names hosts and users
            log.warning("sign-in failed: %s", type(result).__name__)
            why = "the check could not be made (see the log)"
        _say_refused(self.message, f"NOT SIGNED IN — {why}")


#: A refusal stands out at 3 a.m.: bold, in a red legible on a light or a dark dialog.
REFUSED_STYLE = "color: #e53935; font-weight: bold;"


def _say(label: QLabel, text: str) -> None:
    label.setStyleSheet("")
    label.setText(text)


def _say_refused(label: QLabel, text: str) -> None:
    label.setStyleSheet(REFUSED_STYLE)
    label.setText(text)


def _pg_second_factor(url: str | None, name: str, role: str, code: str) -> acc.Account:
    """The database checks ``code`` for the session's login role; on success every connection
    this console opens from now on carries the ticket it issued."""
    ticket = pgroles.second_factor(url or "", code) if url else None
    if ticket is None:
        raise acc.SignInRefused(
            "one-time code not accepted (five failures lock the login role: an administrator "
            "unlocks it with: dispatch-console users unlock NAME)"
        )
    pgroles.carry_ticket(ticket)
    return acc.Account(name, role, 0, False, False)


class UnlockDialog(QDialog):
    """The locked session's prompt: it cannot be closed, only answered. ``ask_code``
    (PostgreSQL): the one-time code too, since the lock revoked the session's ticket in the
    database; ``check(password, code)`` then decides."""

    def __init__(
        self,
        store_url: str | None,
        name: str,
        parent: QWidget | None = None,
        check: Callable[[str, str], bool] | None = None,
        *,
        ask_code: bool = False,
        why: str | None = None,
    ) -> None:
        super().__init__(parent)
        self.store_url = store_url
        self.check = check
        self.user_name = name
        self.ask_code = ask_code
        self._pending: _Done | None = None
        self.setWindowTitle("Session locked")
        self.setModal(True)
        self.setMinimumWidth(420)  # the message and the code's hint whole
        given = "password and a new one-time code are" if ask_code else "password is"
        why = why or f"Session of {name} locked after inactivity."
        self.message = QLabel(f"{why} The incident is hidden until the {given} given again.")
        self.message.setWordWrap(True)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.code = QLineEdit()
        self.code.setPlaceholderText("6 digits from your authenticator app")
        self.code.setMaxLength(6)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Unlock")
        self.buttons.accepted.connect(self.try_unlock)
        form = QFormLayout(self)
        form.addRow(self.message)
        form.addRow("Password", self.password)
        form.addRow("One-time code", self.code)
        form.setRowVisible(self.code, ask_code)
        form.addRow(self.buttons)

    def try_unlock(self) -> None:
        if self._pending is not None:
            return
        password, code = self.password.text(), self.code.text().strip()
        self.buttons.setEnabled(False)

        def work() -> bool:
            if self.check is not None:
                return self.check(password, code)
            with Store(self.store_url, migrate=False) as store:
                return acc.check_password(store, self.user_name, password)

        self._pending = _in_thread(work, self._done)

    def _done(self, result: object) -> None:
        self._pending = None
        self.buttons.setEnabled(True)
        self.password.clear()
        self.code.clear()
        if result is True:
            self.accept()
        else:
            what = "password or one-time code" if self.ask_code else "password"
            _say_refused(
                self.message,
                f"NOT UNLOCKED — wrong {what} for {self.user_name} "
                "(five failures lock the account)",
            )

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            return  # no way around the password
        super().keyPressEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.result() != QDialog.DialogCode.Accepted:
            event.ignore()
            return
        super().closeEvent(event)

    def reject(self) -> None:
        pass  # Escape and the close button do nothing: only the password unlocks


_INPUT = frozenset(
    {
        QEvent.Type.KeyPress,
        QEvent.Type.MouseButtonPress,
        QEvent.Type.MouseMove,
        QEvent.Type.Wheel,
        QEvent.Type.TouchBegin,
    }
)


class SessionLock(QObject):
    """Locks ``window`` after ``lock_after_s`` without input (see the module docstring)."""

    locked_changed = Signal(bool)

    def __init__(
        self,
        window: QMainWindow,
        store_url: str | None,
        user_name: str,
        *,
        lock_after_s: float = LOCK_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
        postgres_session: bool = False,
    ) -> None:
        super().__init__(window)
        #: PostgreSQL: the user is the session's login role; the password is the server's.
        self.postgres_session = postgres_session
        self.window = window
        self.store_url = store_url
        self.user_name = user_name
        self.lock_after_s = lock_after_s
        self.clock = clock
        self.last_input = clock()
        self.locked = False
        self.dialog: UnlockDialog | None = None
        self._hidden: list[QWidget] = []
        self._pending: _Done | None = None
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)
        self.timer = QTimer(self)
        self.timer.setInterval(5_000)
        self.timer.timeout.connect(self.check)
        self.timer.start()
        #: PostgreSQL: renews the session ticket's lease (None: nothing to renew).
        self.renew: Callable[[], object] | None = None
        #: Renewals asked and not yet answered, by round (kept alive until they answer, even
        #: when given up: their thread still signals through it).
        self._in_flight: dict[int, _Done] = {}
        self._renew_started = 0.0
        self._renew_round = 0
        #: When renewals began to fail for want of the database (None: the last one passed).
        self._failing_since: float | None = None
        self.renew_timer = QTimer(self)
        self.renew_timer.setInterval(int(RENEW_EVERY_S * 1000))
        self.renew_timer.timeout.connect(self.renew_now)
        if postgres_session and store_url is not None:
            self.renew = partial(pgroles.renew_session, store_url)
            self.renew_timer.start()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in _INPUT and not self.locked:
            self.last_input = self.clock()
        return False

    def check(self) -> None:
        if not self.locked and self.clock() - self.last_input >= self.lock_after_s:
            self.lock()

    def renew_now(self) -> None:
        """Renew the session ticket's lease in a worker thread (PostgreSQL; not while locked:
        the lock revoked it). The console locks at once, saying why, when the database holds no
        live ticket for it or refuses its login, and when renewals have failed for want of the
        database for as long as the lease: its reads would otherwise come back empty, and the
        screen would stop changing without a word. A renewal that hangs is given up after
        :data:`RENEW_GIVE_UP_S` (its late answer is ignored)."""
        if self.renew is None or self.locked:
            return
        now = self.clock()
        if self.renewing():
            if now - self._renew_started < RENEW_GIVE_UP_S:
                return
            self._failed(TimeoutError(f"no answer in {RENEW_GIVE_UP_S:.0f} s"), now)
        self._renew_round += 1
        round_ = self._renew_round
        self._renew_started = now
        self._in_flight[round_] = _in_thread(
            self.renew, lambda result: self._renewed(result, round_)
        )

    def renewing(self) -> bool:
        """Whether the latest renewal is still unanswered."""
        return self._renew_round in self._in_flight

    def _renewed(self, result: object, round_: int) -> None:
        self._in_flight.pop(round_, None)
        if round_ != self._renew_round or self.locked:
            return  # given up already, or asked before a lock
        if isinstance(result, Exception):
            if pgroles.sqlstate(result) == pgroles.UNDEFINED_FUNCTION:
                # A database older than revision 0011: its tickets are not leases, nothing to
                # renew (they last until the end of the shift, as that revision's predecessors).
                log.warning("the database has no renew_session(): session tickets not renewed")
                self.renew_timer.stop()
                self.renew = None
                return
            if pgroles.login_refused(result):
                log.warning("the database refused the session of %s: %s", self.user_name, result)
                self.lock(
                    why=f"The database refused the login of {self.user_name} "
                    f"({pgroles.refusal_text(result)[:160]})."
                )
                return
            self._failed(result, self.clock())
            return
        self._failing_since = None
        if result is None:
            log.warning(
                "the database ended the session of %s (its ticket expired, was revoked, or the "
                "login was locked): locked until the password and a new code are given",
                self.user_name,
            )
            self.lock(
                why=f"The database ended the session of {self.user_name}: its ticket expired, "
                "was revoked, or the login was locked."
            )

    def _failed(self, exc: BaseException, now: float) -> None:
        """A renewal failed for want of the database (unreachable, or no answer)."""
        if self._failing_since is None:
            self._failing_since = now
            log.warning(
                "session ticket not renewed: the database cannot be asked (%s); trying again "
                "every %.0f s",
                exc,
                RENEW_EVERY_S,
            )
        elif now - self._failing_since >= pgroles.LEASE_S:
            log.warning("session ticket not renewed for %.0f s: it has expired", pgroles.LEASE_S)
            self.lock(
                why=f"The session of {self.user_name} could not be renewed for "
                f"{pgroles.LEASE_S / 60:.0f} minutes: the database has let its ticket expire."
            )

    def lock(self, why: str | None = None) -> None:
        """Hide the incident and ask for the password (and on PostgreSQL a new code); ``why``:
        what the dialog says first (inactivity if not given)."""
        if self.locked:
            return
        self.locked = True
        self.locked_changed.emit(True)  # first: the console stops verifying its log
        self._hidden = []
        central = self.window.centralWidget()
        widgets: list[QWidget] = [central] if central is not None else []
        widgets += self.window.findChildren(QDockWidget)
        for widget in widgets:
            if widget.isVisible():
                widget.hide()
                self._hidden.append(widget)
        idle = self.clock() - self.last_input

        url = self.store_url

        def work() -> None:
            if self.postgres_session and url is not None:
                # The database revokes the session's ticket (and records the lock): until the
                # code is given again, this console's connections read and append nothing.
                pgroles.end_session(url, "session_locked")
                return
            with Store(url, migrate=False) as store:
                acc.session_locked(store, self.user_name, idle)

        self._pending = _in_thread(work, lambda _result: None)
        check = None
        if self.postgres_session and url is not None:

            def check(password: str, code: str) -> bool:
                # A new SCRAM exchange with the server, then the database's second factor,
                # which issues this console's ticket again (each records itself: the server's
                # log the password, the function the code).
                if not acc.pg_password_ok(url, password):
                    return False
                from sqlalchemy.engine import make_url

                with_password = make_url(url).set(password=password)
                ticket = pgroles.second_factor(
                    with_password.render_as_string(hide_password=False), code
                )
                if ticket is None:
                    return False
                pgroles.carry_ticket(ticket)
                return True

        self.dialog = UnlockDialog(
            self.store_url,
            self.user_name,
            self.window,
            check,
            ask_code=self.postgres_session,
            why=why,
        )
        self.dialog.accepted.connect(self.unlock)
        self.dialog.open()

    def unlock(self) -> None:
        for widget in self._hidden:
            widget.show()
        self._hidden = []
        self.locked = False
        self.last_input = self.clock()
        self._failing_since = None
        self._renew_round += 1  # an answer asked before the lock is not this session's
        if self.dialog is not None:
            self.dialog.deleteLater()
            self.dialog = None
        self.locked_changed.emit(False)
