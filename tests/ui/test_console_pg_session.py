"""``dispatch-console console --db postgresql://…`` end to end on a private cluster whose
``pg_hba.conf`` requires ``scram-sha-256`` (issue 16): the real command line
(``cli.cmd_console`` → ``_console_as_login_role`` → ``launch.console.run_console``), in this
process, driven as a user would. With no password in the URL, ``PGPASSWORD`` or ``~/.pgpass``,
the password and the one-time code are typed in the sign-in dialog, never at a terminal: the
server checks the password (SCRAM; a wrong one is refused in the dialog, which stays, and
nothing counts it at the console), the database the code. Then the main window shows the
incident and the incident commander's acknowledgement is stored under the login role's name.
The idle lock revokes the ticket in the database and unlocking asks the password and a new
code; closing the console signs out (the ticket revoked). A wrong code leaves no window with
incident data; a URL without a name makes the name editable."""

from __future__ import annotations

import getpass
import io
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QLabel, QWidget
from pytestqt.qtbot import QtBot
from sqlalchemy.engine import make_url

from dispatch_console.cli import main
from dispatch_console.domain import events as ev
from dispatch_console.store import Store
from dispatch_console.store import accounts as acc
from dispatch_console.store.chain import verify_chain
from dispatch_console.store.pgroles import create_login, setup_roles
from dispatch_console.store.store import wall_clock_us
from dispatch_console.ui.shell.main_window import MainWindow
from dispatch_console.ui.shell.sign_in import SessionLock, SignInDialog, UnlockDialog
from tests.builders import SCHOOL_LAT, SCHOOL_LON
from tests.pgcluster import PrivateCluster
from tests.scram import as_owner, scram_cluster, ticket_times, url_as

pytestmark = pytest.mark.postgres

PASSWORD = "the commander's long password"
IC = "Lt. Hayes"
GATEWAY = ev.Actor(ev.ActorKind.SYSTEM, "gateway")


@pytest.fixture(scope="module")
def scram() -> Iterator[tuple[PrivateCluster, str]]:
    with scram_cluster() as (cluster, owner_url):
        now = wall_clock_us()
        with Store(owner_url) as store:  # the owner: migrations; the feed's incident
            store.append(
                [
                    ev.EventDraft("inc-1", now, GATEWAY, ev.Source.FEED, payload)
                    for payload in (
                        ev.IncidentOpened(
                            "lincoln-hs", "Lincoln HS", "active_shooter", SCHOOL_LON, SCHOOL_LAT
                        ),
                        ev.AlertReceived(
                            "act-1", "lincoln-hs", "active_shooter", now, "K. Webb", "teacher",
                            "Cafeteria", "shots fired",
                        ),
                    )
                ]
            )  # fmt: skip
        setup_roles(owner_url)
        yield cluster, owner_url


class _Terminal(io.StringIO):
    """Standard input at a terminal: even there, the password is asked by the dialog only."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def at_a_terminal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """No password anywhere (URL, PGPASSWORD, ~/.pgpass) and standard input a terminal; the
    terminal prompts seen (there must be none: the sign-in dialog asks the password)."""
    prompts: list[str] = []

    def ask(prompt: str = "") -> str:
        prompts.append(prompt)
        return PASSWORD

    monkeypatch.setattr("sys.stdin", _Terminal())
    monkeypatch.setattr(getpass, "getpass", ask)
    monkeypatch.delenv("PGOPTIONS", raising=False)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.delenv("PGPASSFILE", raising=False)
    monkeypatch.delenv("PGUSER", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.pgpass; the console's settings
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return prompts


Step = Callable[[], bool]


class Driver:
    """Plays ``script`` (a generator that yields what to wait for) from a timer while the
    console's own event loops run (the sign-in dialog's, then the application's): the test
    acts as the user, never beside the code path. A failure (or ``timeout_s``) closes every
    window and ends the loops, and is raised by :meth:`check`."""

    def __init__(self, script: Generator[Step, None, None], timeout_s: float = 60.0) -> None:
        self.script = script
        self.waiting: Step | None = None
        self.error: BaseException | None = None
        self.finished = False
        self.ticks = int(timeout_s * 1000 / 50)
        self.timer = QTimer()
        self.timer.setInterval(50)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        self.ticks -= 1
        try:
            if self.ticks < 0:
                raise TimeoutError("the console never got there")
            if self.waiting is not None and not self.waiting():
                return
            self.waiting = next(self.script)
        except StopIteration:
            self.finished = True
            self.timer.stop()
        except BaseException as exc:
            self.error = exc
            self.timer.stop()
            for widget in QApplication.topLevelWidgets():
                if isinstance(widget, MainWindow):
                    widget.ask_before_closing = False
                widget.close()
            app = QApplication.instance()
            assert app is not None
            app.exit(1)

    def check(self) -> None:
        self.timer.stop()
        if self.error is not None:
            raise self.error
        assert self.finished, "the script did not finish"


def shown(kind: type[QWidget]) -> Any:
    found = [w for w in QApplication.topLevelWidgets() if isinstance(w, kind) and w.isVisible()]
    return found[0] if found else None


def _code(secret: str, offset: int = 0) -> str:
    return acc.totp(secret, acc.totp_step(wall_clock_us()) + offset)


def _wrong(secret: str) -> str:
    return "000000" if _code(secret) != "000000" else "111111"


def _sees_incident(url: str) -> bool:
    """Whether a connection carrying this process's ticket (``PGOPTIONS``) sees the incident."""
    with Store(url, migrate=False) as store:
        return store.has_incident("inc-1")


def _audits(owner_url: str, name: str) -> list[tuple[str, str | None]]:
    with Store(owner_url, migrate=False) as store:
        return [
            (e.payload.action, e.payload.detail)  # type: ignore[attr-defined]
            for e in store.read(None, types=[ev.ConsoleUserAudit.TYPE])
            if e.payload.name == name  # type: ignore[attr-defined]
        ]


def test_console_on_postgresql_signs_in_acts_locks_and_signs_out(
    scram: tuple[PrivateCluster, str], at_a_terminal: list[str], qtbot: QtBot, tmp_path: Path
) -> None:
    cluster, owner_url = scram
    secret = create_login(owner_url, IC, "incident commander", PASSWORD)
    console_url = url_as(cluster, IC, None, "dispatch")  # no password: the dialog asks it
    url = url_as(cluster, IC, PASSWORD, "dispatch")
    seen: dict[str, Any] = {}

    def script() -> Generator[Step, None, None]:
        yield lambda: shown(SignInDialog) is not None
        dialog: SignInDialog = shown(SignInDialog)
        # No password was found: the dialog asks it (the name, the URL's, read-only) and the code.
        assert dialog.name.text() == IC and dialog.name.isReadOnly()
        assert not dialog.password.isHidden() and not dialog.code.isHidden()
        # A wrong password: the server refuses it (SCRAM); the dialog says so and stays, and
        # nothing is counted (the database never saw the code: no audit event below).
        qtbot.keyClicks(dialog.password, "not the password at all")
        qtbot.keyClicks(dialog.code, _code(secret))
        dialog.buttons.accepted.emit()
        yield lambda: "NOT SIGNED IN" in dialog.message.text()
        refused = dialog.message.text()
        assert "password authentication failed" in refused, refused
        assert "nothing is counted" in refused, refused
        host = make_url(cluster.url)
        assert str(host.port) not in refused and str(host.host) not in refused, refused
        assert shown(MainWindow) is None and dialog.account is None and dialog.isVisible()
        assert dialog.password.text() == "" and dialog.code.text() == ""
        # The right password with a wrong code: the database refuses (and counts) the code.
        qtbot.keyClicks(dialog.password, PASSWORD)
        qtbot.keyClicks(dialog.code, _wrong(secret))
        dialog.buttons.accepted.emit()
        yield lambda: "NOT SIGNED IN" in dialog.message.text() and dialog.message.text() != refused
        assert "one-time code not accepted" in dialog.message.text()
        assert shown(MainWindow) is None and dialog.account is None
        qtbot.keyClicks(dialog.password, PASSWORD)
        qtbot.keyClicks(dialog.code, _code(secret))
        dialog.buttons.accepted.emit()
        yield lambda: shown(MainWindow) is not None
        window: MainWindow = shown(MainWindow)
        seen["window"] = window
        assert window.user.name == IC and window.user.role == "incident commander"
        # The incident, read through the verified session, is on screen with its alert.
        yield (
            lambda: (
                "inc-1" in window.console.incidents and bool(window.console.unacknowledged_alerts())
            )
        )
        assert window.console.incidents["inc-1"].school_name == "Lincoln HS"
        yield lambda: window.alerts.unacknowledged_count() == 1  # the alert's card, on screen
        card = window.alerts.cards[("inc-1", "act-1")]
        shown_text = " ".join(label.text() for label in card.findChildren(QLabel))
        assert "Lincoln HS" in shown_text and card.isVisible(), shown_text
        window.acknowledge_top_alert()  # the incident commander acknowledges the alert

        def acknowledged() -> bool:
            with Store(owner_url, migrate=False) as store:
                acks = list(store.read("inc-1", types=[ev.AlertAcknowledged.TYPE]))
            seen["acks"] = acks
            return bool(acks)

        yield acknowledged
        # The idle lock: the window hides the incident, the database revokes the ticket.
        lock = window.findChild(SessionLock)
        assert lock is not None
        lock.last_input -= lock.lock_after_s
        lock.check()
        assert lock.locked
        central = window.centralWidget()
        assert central is not None and not central.isVisible()
        yield lambda: not _sees_incident(url)
        unlock = lock.dialog
        assert isinstance(unlock, UnlockDialog) and not unlock.code.isHidden()
        unlock.password.setText("not the password at all")
        unlock.code.setText(_code(secret, 1))
        unlock.try_unlock()
        yield lambda: "NOT UNLOCKED" in unlock.message.text()
        assert lock.locked and not _sees_incident(url)
        unlock.password.setText(PASSWORD)
        unlock.code.setText(_code(secret, 1))
        unlock.try_unlock()
        yield lambda: not lock.locked
        assert central.isVisible() and _sees_incident(url)
        # Closing the console (asked while an incident is active: yes) signs out.
        window.ask = lambda title, text: True  # type: ignore[method-assign]
        window.close()

    driver = Driver(script())
    witness = tmp_path / "witness.json"
    code = main(["console", "--db", console_url, "--no-gateway", "--witness", str(witness)])
    driver.check()
    assert code == 0
    assert at_a_terminal == []  # nothing asked at the terminal
    acks = seen["acks"]
    assert [e.actor for e in acks] == [ev.Actor(ev.ActorKind.CONSOLE_USER, IC)]
    assert acks[0].payload.by == IC  # type: ignore[attr-defined]
    # Signed out: the ticket this process's connections carry is revoked in the database.
    assert not _sees_incident(url)
    actions = [a for a, _ in _audits(owner_url, IC)]
    assert actions == ["sign_in_failed", "signed_in", "session_locked", "signed_in", "signed_out"]
    with Store(owner_url, migrate=False) as store:
        assert verify_chain(store).ok


def test_a_wrong_code_leaves_no_window_with_incident_data(
    scram: tuple[PrivateCluster, str], at_a_terminal: list[str], qtbot: QtBot, tmp_path: Path
) -> None:
    cluster, owner_url = scram
    name = "Capt. Wrong Code"
    secret = create_login(owner_url, name, "incident commander", PASSWORD)
    server = make_url(cluster.url)
    console_url = f"postgresql://{server.host}:{server.port}/dispatch"  # no name, no password
    before = {id(w) for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)}

    def new_windows() -> list[QWidget]:
        return [
            w
            for w in QApplication.topLevelWidgets()
            if isinstance(w, MainWindow) and id(w) not in before
        ]

    def script() -> Generator[Step, None, None]:
        yield lambda: shown(SignInDialog) is not None
        dialog: SignInDialog = shown(SignInDialog)
        # The URL names no login role: the name is typed, with the password and the code.
        assert dialog.name.text() == "" and not dialog.name.isReadOnly()
        assert not dialog.password.isHidden()
        qtbot.keyClicks(dialog.name, name)
        for _ in range(2):
            dialog.password.setText(PASSWORD)
            dialog.code.setText(_wrong(secret))
            dialog.try_sign_in()
            yield lambda: "NOT SIGNED IN" in dialog.message.text()
            assert "one-time code not accepted" in dialog.message.text()
            dialog.message.setText("")
        assert shown(MainWindow) is None and not new_windows()
        dialog.reject()  # the user gives up

    driver = Driver(script())
    code = main(
        ["console", "--db", console_url, "--no-gateway", "--witness", str(tmp_path / "w.json")]
    )
    driver.check()
    assert code == 1
    assert shown(MainWindow) is None and not new_windows()
    assert not _sees_incident(url_as(cluster, name, PASSWORD, "dispatch"))
    assert [a for a, _ in _audits(owner_url, name)] == ["sign_in_failed", "sign_in_failed"]


def test_a_locked_console_does_not_call_its_log_broken(
    scram: tuple[PrivateCluster, str],
    monkeypatch: pytest.MonkeyPatch,
    qtbot: QtBot,
    tmp_path: Path,
) -> None:
    """Locked, the session's ticket is revoked and the database shows it no event, while the
    signed checkpoints stay visible: a verification then would read a log cut short of them.
    The console's feed waits for the unlock to verify again."""
    from dispatch_console.app.backend import StoreFeed
    from dispatch_console.store.chain import CentreKey
    from dispatch_console.store.pgroles import carry_ticket, end_session, second_factor

    cluster, owner_url = scram
    with Store(owner_url, migrate=False, signing_key=CentreKey(tmp_path / "centre.key")) as store:
        assert store.sign_checkpoint() > 0
    name = "Sgt. Verifier"
    secret = create_login(owner_url, name, "dispatcher", PASSWORD)
    url = url_as(cluster, name, PASSWORD, "dispatch")
    monkeypatch.delenv("PGOPTIONS", raising=False)
    ticket = second_factor(url, _code(secret))
    assert ticket is not None
    carry_ticket(ticket)
    with Store(url, migrate=False) as store:
        assert verify_chain(store).ok
    feed = StoreFeed(url, verify_every_s=0.2, witness=tmp_path / "witness.json")
    seen: list[tuple[bool, str]] = []
    feed.signals.integrity.connect(lambda ok, message: seen.append((ok, message)))
    feed.start()
    try:
        qtbot.waitUntil(lambda: len(seen) >= 2, timeout=20_000)
        assert all(ok for ok, _ in seen), seen
        feed.pause_verification(True)  # the lock: first the feed, then the ticket
        assert end_session(url, "session_locked")
        with Store(url, migrate=False) as store:  # what a verification would read now
            assert not verify_chain(store).ok
        seen.clear()
        qtbot.wait(1_500)  # several verification periods
        assert [message for ok, message in seen if not ok] == []  # no false alarm
        assert second_factor(url, _code(secret, 1)) == ticket  # unlocked
        feed.pause_verification(False)
        qtbot.waitUntil(lambda: bool(seen), timeout=20_000)
        assert all(ok for ok, _ in seen), seen
    finally:
        feed.stop()


def _lease_s(owner_url: str, name: str) -> float:
    """Seconds until the live ticket of ``name`` expires (its lease)."""
    [(lease_s, _)] = ticket_times(owner_url, name)
    return lease_s


def _set_lease(owner_url: str, name: str, seconds: float) -> None:
    as_owner(
        owner_url,
        "UPDATE dc_private.session_tickets SET expires_at = clock_timestamp() "
        "+ make_interval(secs => :s) WHERE role_name = :n",
        n=name,
        s=seconds,
    )


def test_the_console_renews_its_lease_and_locks_saying_why_when_the_database_ends_it(
    scram: tuple[PrivateCluster, str], at_a_terminal: list[str], qtbot: QtBot, tmp_path: Path
) -> None:
    """A running console keeps its 15-minute ticket alive; when the database no longer holds a
    live ticket for it (it ran out while the machine slept, or was revoked from elsewhere),
    the console does not go on showing a picture that silently stopped changing (the policies
    return no rows, not an error): it hides the incident, says the database ended the session,
    and the password and a new code bring it back."""
    cluster, owner_url = scram
    name = "Lt. Lease"
    secret = create_login(owner_url, name, "incident commander", PASSWORD)
    url = url_as(cluster, name, PASSWORD, "dispatch")
    seen: dict[str, Any] = {}

    def script() -> Generator[Step, None, None]:
        yield lambda: shown(SignInDialog) is not None
        dialog: SignInDialog = shown(SignInDialog)
        qtbot.keyClicks(dialog.password, PASSWORD)
        qtbot.keyClicks(dialog.code, _code(secret))
        dialog.buttons.accepted.emit()
        yield lambda: shown(MainWindow) is not None
        window: MainWindow = shown(MainWindow)
        yield lambda: "inc-1" in window.console.incidents
        lock = window.findChild(SessionLock)
        assert lock is not None and lock.renew is not None and lock.renew_timer.isActive()
        assert lock.renew_timer.interval() == 60_000
        # A renewal moves the lease forward (shortened first, to see it move).
        _set_lease(owner_url, name, 300)
        lock.renew_now()
        yield lambda: not lock.renewing() and _lease_s(owner_url, name) > 800
        assert not lock.locked
        # The database ends the session (the lease ran out): the next renewal finds nothing.
        _set_lease(owner_url, name, -1)
        lock.renew_now()
        yield lambda: lock.locked
        central = window.centralWidget()
        assert central is not None and not central.isVisible()
        unlock = lock.dialog
        assert isinstance(unlock, UnlockDialog) and not unlock.code.isHidden()
        seen["message"] = unlock.message.text()
        unlock.password.setText(PASSWORD)
        unlock.code.setText(_code(secret, 1))
        unlock.try_unlock()
        yield lambda: not lock.locked
        assert central.isVisible() and _sees_incident(url)
        assert _lease_s(owner_url, name) > 800
        window.ask = lambda title, text: True  # type: ignore[method-assign]
        window.close()

    driver = Driver(script())
    console_url = url_as(cluster, name, None, "dispatch")
    code = main(
        ["console", "--db", console_url, "--no-gateway", "--witness", str(tmp_path / "w.json")]
    )
    driver.check()
    assert code == 0
    message = seen["message"]
    assert message.startswith(f"The database ended the session of {name}"), message
    assert "password and a new one-time code" in message, message
    assert not _sees_incident(url)  # signed out on close
