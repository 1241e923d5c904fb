"""The composition root: builds the store feed, the command runner, the embedded gateway (and
the demo's simulator), the console state and the window, and wires them together.

Nothing else creates these objects; there are no module-level singletons.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, QTimer, Signal
from PySide6.QtWidgets import QApplication, QDialog

from dispatch_console.app.backend import CommandRunner, StoreFeed, wall_clock_us
from dispatch_console.app.live import ConsoleState
from dispatch_console.app.services import DemoPlan, EmbeddedServices
from dispatch_console.domain import events as ev
from dispatch_console.domain.reference import School
from dispatch_console.feeds.keys import SecretBox
from dispatch_console.feeds.server import Listen
from dispatch_console.importers.roads_geojson import Road, load_roads
from dispatch_console.resources import resource
from dispatch_console.store import Store
from dispatch_console.ui.shell.main_window import MainWindow
from dispatch_console.ui.shell.sign_in import LOCK_AFTER_S, SessionLock, SignInDialog
from dispatch_console.ui.shell.theme import THEMES
from dispatch_console.ui.shell.user import User, ask_user, remember_user

log = logging.getLogger(__name__)

ORGANIZATION = "dispatch-console"
APPLICATION = "Dispatch Console"


@dataclass
class ConsoleOptions:
    store_url: str | None
    #: Run the embedded gateway (off: another process runs it, e.g. with PostgreSQL).
    gateway: bool = True
    listen: Listen = field(default_factory=Listen)
    #: The demo: load the demo county and run the large scenario shortly after launch.
    demo: DemoPlan | None = None
    roads: Path | None = None
    mbtiles: Path | None = None
    user: User | None = None
    theme: str | None = None
    settings_file: Path | None = None
    master_key: Path | None = None
    #: Close after this many seconds (smoke tests).
    quit_after_s: float | None = None
    #: Sign in with an account (name, password, one-time code) before the window opens; the
    #: user is the account (``user`` only pre-fills the name). Off: ``user`` as given (tests).
    sign_in: bool = False
    #: With ``sign_in``: lock the session after this many idle seconds.
    lock_after_s: float = LOCK_AFTER_S
    #: PostgreSQL: the user is the database session's login role (``user``, found by the
    #: command line), authenticated by the server; the session locks like a signed-in one.
    postgres_session: bool = False
    #: With ``postgres_session``: no password was found (URL, ``PGPASSWORD``, ``~/.pgpass``),
    #: so the sign-in dialog asks it (and the name if the URL has none) and the console
    #: connects with it.
    postgres_password: bool = False
    #: The console's witness file of the newest signed checkpoint (None: none kept).
    witness: Path | None = None


def _console_name() -> str:
    import socket

    return socket.gethostname()[:60]


def settings_for(options: ConsoleOptions) -> QSettings:
    if options.settings_file is not None:
        return QSettings(str(options.settings_file), QSettings.Format.IniFormat)
    return QSettings(ORGANIZATION, APPLICATION)


def reference_data(
    store_url: str | None, roads: Path | None, *, fallback: Path | None = None
) -> tuple[list[School], list[Road]]:
    """Schools and roads from the store (read once, before the window). A ``roads`` file
    (--roads) overrides the stored roads; ``fallback`` (the demo's) is read when the store
    has none."""
    store = Store(store_url)
    try:
        schools = store.schools()
        road_list: list[Road] = store.roads() if roads is None else []
    finally:
        store.close()
    if roads is None and not road_list:
        roads = fallback
    if roads is not None:
        report = load_roads(roads)
        road_list = list(report.imported)
        if report.rejected:
            log.warning("%s: %d roads rejected", roads, len(report.rejected))
    return schools, road_list


@dataclass
class Console:
    """A running console: its window and its workers (``close`` stops them all)."""

    window: MainWindow
    feed: StoreFeed
    commands: CommandRunner
    services: EmbeddedServices | None
    #: Signed in (or a PostgreSQL session): locks the window when idle; held here, as long as
    #: the console runs.
    session_lock: SessionLock | None = None
    #: PostgreSQL: the store URL of the login role whose ticket closing revokes (sign-out).
    postgres_url: str | None = None

    def close(self) -> None:
        self.window.close()
        self.feed.stop()
        self.commands.stop()
        if self.services is not None:
            self.services.stop()
        if self.postgres_url is not None:
            self.sign_out()

    def sign_out(self) -> None:
        """PostgreSQL: revoke this console's session ticket in the database (the console's
        connections, and anyone who copied the ticket, read and append nothing from now on);
        the database records the sign-out. A failure is logged: the ticket then expires."""
        from dispatch_console.store import pgroles

        url, self.postgres_url = self.postgres_url, None
        if url is None:
            return
        try:
            pgroles.end_session(url, "signed_out")
        except Exception as exc:
            log.error("sign-out: the session ticket could not be revoked (%s)", exc)


def build_console(
    options: ConsoleOptions,
    *,
    clock: Callable[[], int] = wall_clock_us,
    start_feed: bool = True,
) -> Console | None:
    """Everything but the event loop (tests and the screenshot drive the loop themselves)."""
    settings = settings_for(options)
    user = options.user
    if options.sign_in or options.postgres_session:
        dialog = SignInDialog(
            options.store_url,
            user.name if user is not None else "",
            console=_console_name(),
            postgres_role=(user.name, user.role)
            if options.postgres_session and user is not None
            else None,
            ask_postgres_password=options.postgres_password,
        )
        if dialog.exec() != QDialog.DialogCode.Accepted or dialog.account is None:
            return None
        user = User(dialog.account.name, dialog.account.role)
        # PostgreSQL with the password asked in the dialog: the console connects with it.
        options = replace(options, store_url=dialog.store_url)
    elif user is None:
        user = ask_user(settings)
        if user is None:
            return None
    else:
        remember_user(settings, user)
    box = SecretBox(options.master_key) if options.master_key else None
    services: EmbeddedServices | None = None
    if options.gateway or options.demo is not None:
        services = EmbeddedServices(options.store_url, options.listen, box=box, demo=options.demo)
        if options.demo is not None:
            services.prepare_demo()  # the county's schools must be in the store before we read
    fallback = resource("demo", "roads.geojson") if options.demo is not None else None
    schools, road_list = reference_data(options.store_url, options.roads, fallback=fallback)
    console = ConsoleState(schools, road_list)
    feed = StoreFeed(options.store_url, witness=options.witness)
    commands = CommandRunner(options.store_url, on_stored=feed.wake, clock=clock)
    theme = THEMES.get(options.theme or "", None)
    # The user is registered in the store (in the runner's thread) before any command: the
    # service refuses commands of unregistered users and of roles that only watch.
    commands.register_user(user.name, user.role)
    submitter = _Submitter(commands, console, user)
    window = MainWindow(
        console, user, settings=settings, clock=clock, submit=submitter, theme=theme
    )
    submitter.window = window
    session_lock: SessionLock | None = None
    if options.postgres_session:
        session_lock = SessionLock(
            window,
            options.store_url,
            user.name,
            lock_after_s=options.lock_after_s,
            postgres_session=True,
        )

        def same_login(current: User) -> User | None:
            window.statusBar().showMessage(
                "Another user signs in with their own PostgreSQL login: close this console and "
                "start it with theirs"
            )
            return None

        window.authenticate = same_login
        # Locked, the session's ticket is revoked: the database shows it no event to verify.
        session_lock.locked_changed.connect(feed.pause_verification)
    if options.sign_in:
        lock = SessionLock(window, options.store_url, user.name, lock_after_s=options.lock_after_s)
        session_lock = lock

        def authenticate(current: User) -> User | None:
            dialog = SignInDialog(options.store_url, "", console=_console_name(), parent=window)
            if dialog.exec() != QDialog.DialogCode.Accepted or dialog.account is None:
                return None
            lock.user_name = dialog.account.name
            return User(dialog.account.name, dialog.account.role)

        window.authenticate = authenticate
    feed.signals.loaded.connect(window.on_loaded)
    feed.signals.roles.connect(window.on_roles)
    feed.signals.events.connect(window.on_events)
    feed.signals.health.connect(window.on_health)
    feed.signals.integrity.connect(window.on_integrity)
    commands.signals.command_done.connect(window.on_command_done)
    if options.mbtiles is not None:
        window.map.load_mbtiles(options.mbtiles)
    if services is not None:
        services.on_stored = feed.wake
        # Told from the simulator's thread: a queued signal shows it on the GUI thread.
        relay = _DemoEnded(window)
        relay.ended.connect(window.show_demo_ended)
        services.on_demo_ended = relay.ended.emit
        services.start()
    commands.start()
    if start_feed:
        feed.start()
    postgres_url = options.store_url if options.postgres_session else None
    return Console(window, feed, commands, services, session_lock, postgres_url)


class _DemoEnded(QObject):
    ended = Signal(str)


class _Submitter:
    """The window's ``submit``: queues the command with the version of the incident the user
    saw (its ``last_seq`` in the console's state, so that a command decided on a state another
    console has changed since is refused, not applied), and registers the user again first if
    they signed in as someone else."""

    def __init__(self, commands: CommandRunner, console: ConsoleState, user: User) -> None:
        self.commands = commands
        self.console = console
        self.registered = user
        self.window: MainWindow | None = None

    def __call__(
        self,
        incident_id: str,
        payloads: Sequence[ev.Payload],
        actor: ev.Actor,
        what: str,
        expected_seq: int | None = None,
    ) -> None:
        user = self.window.user if self.window is not None else self.registered
        if user != self.registered:
            self.commands.register_user(user.name, user.role)
            self.registered = user
        if expected_seq is None:
            state = self.console.incidents.get(incident_id)
            expected_seq = state.last_seq if state is not None else None
        self.commands.submit(
            incident_id, payloads, actor=actor, description=what, expected_seq=expected_seq
        )


def qt_application(name: str, what: str) -> QApplication:
    """The process's ``QApplication`` (made if there is none) named ``name``; offscreen, with
    a warning naming ``what`` runs there, when there is no screen."""
    os.environ.setdefault("QT_SCALE_FACTOR_ROUNDING_POLICY", "PassThrough")
    no_screen = not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if no_screen and os.environ.setdefault("QT_QPA_PLATFORM", "offscreen") == "offscreen":
        log.warning("no screen (DISPLAY is not set): the %s runs offscreen", what)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(name)
    return app


def run_console(options: ConsoleOptions) -> int:
    """Show the console and run until its window closes."""
    app = qt_application(APPLICATION, "console")
    console = build_console(options)
    if console is None:
        print("not signed in: the console needs to know who is using it", file=sys.stderr)
        return 1
    if not console.window.restored:
        console.window.fit_to_screen()
    console.window.ask_before_closing = True
    console.window.show()
    QTimer.singleShot(0, console.window.prepare_for_alerts)
    if options.quit_after_s is not None:
        QTimer.singleShot(int(options.quit_after_s * 1000), console.window.close)
    try:
        return app.exec()
    finally:
        console.close()
