"""The console's main window: the header, the map, and the panels as docks.

A thin view: it folds the event batches the store feed hands it into the ``ConsoleState``,
collects what changed, and refreshes the panels at most ten times a second (and once a second
when nothing happens, for the clocks and position ages). A new alert is shown at once. User
actions become commands for the command runner, with the user's name as the actor.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, overload

from PySide6.QtCore import (
    QByteArray,
    QObject,
    QSettings,
    QSize,
    Qt,
    QThread,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QColor,
    QGuiApplication,
    QKeySequence,
    QPainter,
    QPaintEvent,
    QResizeEvent,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from dispatch_console.app import commands
from dispatch_console.app.backend import Loaded
from dispatch_console.app.live import Changes, ConsoleState
from dispatch_console.domain import events as ev
from dispatch_console.domain.events import COMMANDING_ROLES
from dispatch_console.domain.geometry import local_frame
from dispatch_console.domain.state import IncidentState
from dispatch_console.ui.map.map_view import MapView
from dispatch_console.ui.panels.alerts import AlertsPanel
from dispatch_console.ui.panels.broadcasts_panel import BroadcastsPanel
from dispatch_console.ui.panels.detail import ResponderDetailPanel
from dispatch_console.ui.panels.event_log import EventLogPanel
from dispatch_console.ui.panels.ic_dialogs import (
    AssignDialog,
    CommandDialog,
    DirectDialog,
    IdentifyDialog,
    ReleaseDialog,
    SuspectDialog,
)
from dispatch_console.ui.panels.par_panel import ParPanel
from dispatch_console.ui.panels.responders import RespondersPanel
from dispatch_console.ui.panels.rules_panel import RulesPanel
from dispatch_console.ui.panels.warnings_panel import WarningsPanel
from dispatch_console.ui.shell.broadcast_line import BroadcastLinePanel
from dispatch_console.ui.shell.cards import WrappedLabel
from dispatch_console.ui.shell.header import IncidentHeader, local_clock
from dispatch_console.ui.shell.panel import Panel
from dispatch_console.ui.shell.selection import Selection
from dispatch_console.ui.shell.theme import DAY, NIGHT, THEMES, Theme, apply_theme
from dispatch_console.ui.shell.user import User

log = logging.getLogger(__name__)

#: Panels refresh at most this often (ms); with nothing new, once a second.
REFRESH_MS = 100
IDLE_REFRESH_MS = 1000
SETTINGS_VERSION = 1

#: The actions that act on an incident (off for roles that do not command).
COMMAND_ACTIONS = frozenset({
    "ack_alert", "ack_warning", "direct", "identify", "assign", "release", "suspect", "par",
    "stand_down", "command",
})  # fmt: skip


class Submit(Protocol):
    """Queues a command; ``expected_seq``: the incident's version the user decided on (left
    out: the version the console shows now)."""

    def __call__(
        self,
        incident_id: str,
        payloads: Sequence[ev.Payload],
        actor: ev.Actor,
        what: str,
        expected_seq: int | None = None,
    ) -> None: ...


@dataclass(frozen=True)
class Shortcut:
    name: str
    keys: str
    description: str


class HelpOverlay(QWidget):
    """Every keyboard shortcut, over the window; any key or click closes it."""

    def __init__(self, parent: QWidget, theme: Theme) -> None:
        super().__init__(parent)
        self.theme = theme
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, False)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        layout = QVBoxLayout(self)
        layout.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title = QLabel("Keyboard shortcuts")
        self.title.setStyleSheet("font-size: 20pt; font-weight: bold;")
        layout.addWidget(self.title, alignment=Qt.AlignmentFlag.AlignHCenter)
        self.grid = QGridLayout()
        self.grid.setHorizontalSpacing(28)
        self.grid.setVerticalSpacing(8)
        layout.addLayout(self.grid)
        hint = QLabel("Press any key or click to close")
        hint.setProperty("role", "muted")
        layout.addWidget(hint, alignment=Qt.AlignmentFlag.AlignHCenter)
        self.hide()

    def set_shortcuts(self, shortcuts: Sequence[Shortcut]) -> None:
        while self.grid.count():
            item = self.grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        for row, shortcut in enumerate(shortcuts):
            key = QLabel(shortcut.keys)
            key.setStyleSheet("font-family: monospace; font-size: 15pt; font-weight: bold;")
            text = QLabel(shortcut.description)
            text.setStyleSheet("font-size: 14pt;")
            self.grid.addWidget(key, row, 0, Qt.AlignmentFlag.AlignRight)
            self.grid.addWidget(text, row, 1)

    def open(self) -> None:
        parent = self.parentWidget()
        if parent is not None:
            self.setGeometry(parent.rect())
        self.show()
        self.raise_()
        self.setFocus()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        color = QColor(self.theme.window)
        color.setAlpha(235)
        painter.fillRect(self.rect(), color)
        painter.end()

    def keyPressEvent(self, event: object) -> None:
        self.hide()

    def mousePressEvent(self, event: object) -> None:
        self.hide()


class MainWindow(QMainWindow):
    #: A user action that could not be stored (refused by a rule, or the store failed).
    action_failed = Signal(str)
    #: An export finished (message, ok), from its worker thread.
    export_done = Signal(str, bool)

    def __init__(
        self,
        console: ConsoleState,
        user: User,
        *,
        settings: QSettings,
        clock: Callable[[], int],
        submit: Submit,
        theme: Theme | None = None,
    ) -> None:
        super().__init__()
        self.console = console
        self.user = user
        #: Signs someone in (name, password, one-time code) and returns who (None: not
        #: signed in); set where the console has accounts. Without it, "Change user" asks a
        #: name and a role, trusted as typed.
        self.authenticate: Callable[[User], User | None] | None = None
        self.settings = settings
        self.clock = clock
        self.submit = submit
        self.actor = ev.Actor(ev.ActorKind.CONSOLE_USER, user.name)
        self.theme = theme or THEMES.get(str(settings.value("ui/theme", "night")), NIGHT)
        self.selection = Selection(self)
        self.pending = Changes()
        self.live = True
        self._not_live_since = 0
        self._flash_on = False
        self._since_refresh_ms = 0
        self.setObjectName("MainWindow")
        self.setDockNestingEnabled(True)

        self.header = IncidentHeader(console, self.selection, self.theme)
        self.map = MapView(console, self.selection, self.theme)
        self.alerts = AlertsPanel(console, self.selection, self.theme)
        self.detail = ResponderDetailPanel(console, self.selection, self.theme)
        self.responders = RespondersPanel(console, self.selection, self.theme)
        self.event_log = EventLogPanel(console, self.selection, self.theme)
        self.warnings = WarningsPanel(console, self.selection, self.theme)
        self.warnings.set_user(user.name)
        self.broadcast_line = BroadcastLinePanel(console, self.selection, self.theme, strip=True)
        self.broadcasts = BroadcastsPanel(console, self.selection, self.theme)
        self.par = ParPanel(console, self.selection, self.theme)
        self.rules = RulesPanel(console, self.selection, self.theme)
        self.panels: list[Panel] = [
            self.header, self.map, self.alerts, self.detail, self.responders, self.event_log,
            self.warnings, self.broadcast_line, self.broadcasts, self.par, self.rules,
        ]  # fmt: skip

        self.banner = QLabel()
        self.banner.setObjectName("banner")
        self.banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.banner.hide()
        # The banner and the header span the whole window, above every dock (a fixed toolbar).
        top = QWidget()
        top.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        column = QVBoxLayout(top)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        #: Across the top whenever the incident in focus is an exercise.
        self.exercise_banner = QLabel("EXERCISE — EXERCISE — NOT A REAL INCIDENT — EXERCISE")
        self.exercise_banner.setObjectName("exercise_banner")
        self.exercise_banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.exercise_banner.hide()
        column.addWidget(self.exercise_banner)
        column.addWidget(self.banner)
        #: The event log's hash chain does not verify (someone changed stored events): stays
        #: until a later verification finds it intact (issue 16).
        self.tamper_banner = QLabel()
        self.tamper_banner.setObjectName("tamper_banner")
        self.tamper_banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.tamper_banner.setWordWrap(True)
        self.tamper_banner.hide()
        column.addWidget(self.tamper_banner)
        #: A command the store refused (another user changed it first, a rule): what was NOT
        #: done stays in view until dismissed or replaced, not only in the status bar.
        self.refusal = QWidget()
        self.refusal.setObjectName("refusal")
        row = QHBoxLayout(self.refusal)
        row.setContentsMargins(8, 4, 8, 4)
        self.refusal_text = QLabel()
        self.refusal_text.setWordWrap(True)
        self.refusal_dismiss = QPushButton("Dismiss")
        self.refusal_dismiss.clicked.connect(self.refusal.hide)
        row.addWidget(self.refusal_text, 1)
        row.addWidget(self.refusal_dismiss)
        self.refusal.hide()
        column.addWidget(self.refusal)
        column.addWidget(self.header)
        # The critical strip goes on: the radio line (wraps, never cut) and the top warning.
        column.addWidget(self.broadcast_line)
        self.top_warning = WrappedLabel()
        self.top_warning.setObjectName("top_warning")
        self.top_warning.hide()
        column.addWidget(self.top_warning)
        self.top_bar = QToolBar("Incident header", self)
        self.top_bar.setObjectName("incident_header")
        self.top_bar.setMovable(False)
        self.top_bar.setFloatable(False)
        self.top_bar.toggleViewAction().setEnabled(False)  # never hidden
        self.top_bar.addWidget(top)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.top_bar)
        self.setCentralWidget(self.map)

        self.docks: dict[str, QDockWidget] = {}
        self._dock("alerts", "Alerts", self.alerts, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("detail", "Responder", self.detail, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock(
            "responders", "Responders", self.responders, Qt.DockWidgetArea.BottomDockWidgetArea
        )
        self._dock("event_log", "Event log", self.event_log, Qt.DockWidgetArea.BottomDockWidgetArea)
        self._dock("warnings", "Warnings", self.warnings, Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock(
            "broadcasts", "Broadcasts", self.broadcasts, Qt.DockWidgetArea.BottomDockWidgetArea
        )
        self._dock("par", "PAR", self.par, Qt.DockWidgetArea.BottomDockWidgetArea)
        self._dock("rules", "Agency rules", self.rules, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.BottomDockWidgetArea)
        self._sized = False
        self._requested_size = QSize(1920, 1080)
        self._strip_height = 0
        self._table_tries = 0
        #: Until then (monotonic s), the docks may still be settling after a resize or a
        #: reset: a refresh gives the table its rows back if they were taken.
        self._guard_rows_until = 0.0
        self._arrange_default()
        #: Ask before closing while a live incident is active (the running console does).
        self.ask_before_closing = False
        self._keep_table_rows = QTimer(self)
        self._keep_table_rows.setSingleShot(True)
        self._keep_table_rows.setInterval(30)
        self._keep_table_rows.timeout.connect(self._ensure_table_rows)

        self.help = HelpOverlay(self, self.theme)
        self.shortcuts: list[Shortcut] = []
        self._build_actions()
        self.help.set_shortcuts(self.shortcuts)

        self.alerts.acknowledge_requested.connect(self.acknowledge_alert)
        self.alerts.attention_changed.connect(self._attention_changed)
        self.alerts.title_changed.connect(self.docks["alerts"].setWindowTitle)
        self.docks["alerts"].setWindowTitle(self.alerts.dock_title())
        self.warnings.attention_changed.connect(self._attention_changed)
        self.map.responder_activated.connect(self.show_responder)
        self.map.direct_requested.connect(self.direct_dropped)
        self.map.area_edited.connect(self.store_area_edit)
        for panel in (self.warnings, self.broadcasts, self.par, self.rules):
            panel.commands_requested.connect(self.run_command)
        self.responders.view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self._exports: set[QThread] = set()
        self._apply_role()
        self.selection.focus_changed.connect(self._focus_changed)

        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self._tick)
        self.timer.start()
        self.flash = QTimer(self)
        self.flash.setInterval(700)
        self.flash.timeout.connect(self._flash_title)

        self.statusBar().showMessage(f"Signed in as {user}")
        self._apply_theme(self.theme)
        self._attention_changed(self.alerts.unacknowledged_count() > 0)
        self._update_title()
        #: Whether the window's geometry and docks came back from the last session.
        self.restored = self.restore_layout()

    # --- building ---------------------------------------------------------------------------

    def _dock(self, name: str, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> None:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{name}")
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(area, dock)
        self.docks[name] = dock

    def _action(
        self, name: str, text: str, keys: Sequence[str], slot: Callable[[], None], help_text: str
    ) -> QAction:
        action = QAction(text, self)
        action.setObjectName(f"action_{name}")
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)
        self.addAction(action)
        if keys:
            self.shortcuts.append(Shortcut(name, " / ".join(keys), help_text))
        return action

    def _build_actions(self) -> None:
        menu = self.menuBar()
        # Menu mnemonics: Alt+I, Alt+W, Alt+H, Alt+N; no filter key uses them.
        incident = menu.addMenu("&Incident")
        view = menu.addMenu("Vie&w")
        help_menu = menu.addMenu("&Help")
        a = self._action
        incident.addAction(
            a("ack_alert", "Acknowledge top alert", ["Space", "Ctrl+Return"],
              self.acknowledge_top_alert,
              "Acknowledge the top unacknowledged alert (stops the alarm)")
        )  # fmt: skip
        incident.addAction(
            a("next_incident", "Next active incident", ["Ctrl+Tab"], self.next_incident,
              "Focus the next active incident")
        )  # fmt: skip
        incident.addAction(
            a("ack_warning", "Acknowledge top warning", ["W"], self.acknowledge_top_warning,
              "Acknowledge the top unacknowledged warning")
        )  # fmt: skip
        incident.addSeparator()
        table_actions = [
            a("direct", "Direct to staging…", ["D"], self.direct_selected,
              "Direct the selected responders to a staging area"),
            a("identify", "Mark identified…", ["I"], self.identify_selected,
              "Mark the selected responder identified (check-in), with what staging issued"),
            a("assign", "Assign…", ["A"], self.assign_selected,
              "Assign the selected identified responders a task and a team"),
            a("release", "Release…", ["Ctrl+Shift+R"], self.release_selected,
              "Release the selected responders from the incident"),
        ]  # fmt: skip
        for action in table_actions:
            incident.addAction(action)
            self.responders.view.addAction(action)
        incident.addSeparator()
        incident.addAction(
            a("suspect", "Suspect description…", ["Ctrl+Shift+S"], self.revise_suspect,
              "Enter or revise the suspect description")
        )  # fmt: skip
        incident.addAction(
            a("command", "Incident command…", ["Ctrl+Shift+K"], self.take_command,
              "Establish incident command, or transfer it (IC name, command post)")
        )  # fmt: skip
        incident.addAction(
            a("copy_radio", "Copy radio line", ["Ctrl+Shift+C"], self.copy_radio_line,
              "Copy the radio line (plainclothes officers inside) to the clipboard")
        )  # fmt: skip
        incident.addAction(
            a("par", "Start PAR", ["Ctrl+P"], self.start_par, "Start a PAR roll call")
        )
        incident.addAction(
            a("stand_down", "Stand down…", ["Ctrl+Shift+D"], self.stand_down,
              "Broadcast the stand-down to every notified responder (asks first)")
        )  # fmt: skip
        incident.addAction(
            a("ics211", "Export ICS 211 check-in list…", ["Ctrl+E"], self.ask_export_ics211,
              "Export the ICS 211 check-in list (PDF or CSV)")
        )  # fmt: skip
        incident.addSeparator()
        incident.addAction(
            a("user", "Change user…", ["Ctrl+U"], self.change_user, "Change who is signed in")
        )
        incident.addSeparator()
        incident.addAction(
            a("quit", "Quit", ["Ctrl+Q"], self.quit,
              "Close the console (asks first while an incident is active)")
        )  # fmt: skip
        view.addAction(
            a("fit", "Fit map to incident", ["F"], self.fit_map,
              "Fit the map to the focused incident")
        )  # fmt: skip
        view.addAction(
            a("search", "Find responder", ["Ctrl+F", "/"], self.focus_search,
              "Focus the responders table's search field")
        )  # fmt: skip
        view.addAction(
            a("clear", "Clear selection", ["Esc"], self.clear_selection, "Clear the selection")
        )
        view.addSeparator()
        for name, label, key in (
            ("self_dispatched", "self-dispatched", "Alt+S"),
            ("unidentified", "unidentified", "Alt+U"),
            ("plainclothes", "plainclothes", "Alt+P"),
            ("stale", "stale", "Alt+T"),
            ("unverified", "unverified", "Alt+V"),
            ("at_staging", "at staging", "Alt+G"),
            ("directed", "directed to staging", "Alt+D"),
        ):
            view.addAction(
                a(f"filter_{name}", f"Filter: {label}", [key], self._filter_toggler(name),
                  f"Show only {label} responders (toggle)")
            )  # fmt: skip
        view.addSeparator()
        view.addAction(
            a("log", "Show event log", ["Ctrl+L"], self.show_event_log, "Show the event log")
        )
        view.addAction(
            a("table", "Show responders", ["Ctrl+R"], self.show_responders,
              "Show the responders table")
        )  # fmt: skip
        view.addAction(
            a("theme", "Day / night theme", ["Ctrl+T"], self.toggle_theme,
              "Switch between the night and the day theme")
        )  # fmt: skip
        view.addAction(
            a("fullscreen", "Full screen", ["F11"], self.toggle_fullscreen, "Full screen on/off")
        )
        help_menu.addAction(
            a("help", "Keyboard shortcuts", ["?", "F1"], self.show_help, "Show this help")
        )
        docks = menu.addMenu("Pa&nels")
        for dock in self.docks.values():
            docks.addAction(dock.toggleViewAction())
        docks.addSeparator()
        docks.addAction(
            a("reset_layout", "Reset layout", [], self.reset_layout,
              "Put every panel back where it starts, sized for this screen")
        )  # fmt: skip

    def _filter_toggler(self, name: str) -> Callable[[], None]:
        return _FilterToggle(self, name)

    # --- the feed ---------------------------------------------------------------------------

    def prepare_for_alerts(self) -> None:
        """What the first alert would otherwise wait for, done once the window is up: the
        audio output and the sound, and the map projection library (its first use costs about
        100 ms of the GUI thread)."""
        self.alerts.alarm.prepare()
        school = next(iter(self.console.schools.values()), None)
        if school is not None:
            local_frame(school.lon, school.lat)

    def on_loaded(self, loaded: Loaded) -> None:
        self.console.load(loaded.states, loaded.last_seq, loaded.backlog, loaded.roles)
        # What was loaded lives as long as the console: keep the cycle collector off it, so
        # its full collections stay short (they stop the GUI thread).
        gc.freeze()
        for state in loaded.states:
            self.pending.incidents.add(state.incident_id)
            self.pending.areas.add(state.incident_id)
            self.pending.new_responders.add(state.incident_id)
            self.pending.responders.update((state.incident_id, r) for r in state.responders)
        self.pending.alerts = True
        self.pending.events.extend(loaded.backlog)
        if self.selection.incident_id is None:
            self.selection.focus(self.console.default_focus())
        self.refresh_now()
        self.fit_map()

    def on_roles(self, roles: dict[str, str]) -> None:
        """Registered roles of console users the feed saw acting for the first time (read
        before their events arrive): who acted as incident commander in an older record."""
        self.console.roles.update(roles)

    def on_events(self, events: list[ev.Event]) -> None:
        changes = self.console.apply(events)
        self.pending.merge(changes)
        if changes.new_alerts:
            # A new alert takes the focus unless the user is already on an unacknowledged one.
            focused = self.console.incident(self.selection.incident_id)
            incoming = self.console.incidents.get(changes.new_alerts[-1][0])
            busy = focused is not None and any(
                a.acknowledged_at_us is None for a in focused.alerts.values()
            )
            # An exercise's alert never takes the focus from a live incident.
            drill_over_live = (
                incoming is not None
                and incoming.exercise
                and focused is not None
                and not focused.exercise
                and not focused.closed
            )
            if not busy and not drill_over_live:
                self.selection.focus(changes.new_alerts[-1][0])
                self.fit_map()
            if incoming is not None and not incoming.exercise:
                self.bring_to_front()
            self.refresh_now()

    def show_demo_ended(self, text: str) -> None:
        """The demo's scenario has played to its end: say so, for good, in the status bar."""
        label = self.findChild(QLabel, "demo_ended")
        if label is None:
            label = QLabel(self)
            label.setObjectName("demo_ended")
            label.setStyleSheet("font-weight: bold; padding: 0 8px;")
            self.statusBar().addPermanentWidget(label)
        label.setText("DEMO FINISHED — close the console; make run starts it again")
        label.setToolTip(text)
        self.statusBar().showMessage(text)

    def bring_to_front(self) -> None:
        """A new live alert: the window comes back from minimised (or behind others), is
        raised and activated, and the desktop is asked to draw attention to it (a flashing
        task bar entry where the window manager refuses to hand over the focus)."""
        state = self.windowState()
        if state & Qt.WindowState.WindowMinimized:
            self.setWindowState(
                (state & ~Qt.WindowState.WindowMinimized) | Qt.WindowState.WindowActive
            )
        if not self.isVisible():
            self.show()
        self.raise_()
        self.activateWindow()
        QApplication.alert(self, 0)

    def on_health(self, live: bool, message: str, unreachable: bool = True) -> None:
        """The store feed lost the store (``live`` False, ``message`` why; ``unreachable``:
        it could not be reached, rather than read and failed) or has it back."""
        was_live, self.live = self.live, live
        if live:
            self.banner.hide()
            self.banner.setToolTip("")
            return
        if was_live:
            self._not_live_since = self.clock()
        since = local_clock(self._not_live_since)
        if unreachable:
            self.banner.setText(
                f"NOT LIVE since {since} — the event store cannot be reached; reconnecting by "
                "itself — what you see is the last state received"
            )
        else:  # not the network: say what it is, someone has to act on it
            self.banner.setText(
                f"NOT LIVE since {since} — reading the event store fails: {message[:120]} — "
                "trying again; what you see is the last state received"
            )
        self.banner.setToolTip(f"Why: {message}")
        self.banner.show()

    def on_integrity(self, intact: bool, message: str) -> None:
        """The event log was verified (the store feed's background check): ``intact``, or
        broken where ``message`` says."""
        if intact:
            self.tamper_banner.hide()
            self.tamper_banner.setToolTip(message)
            return
        self.tamper_banner.setText(
            "EVENT LOG FAILS VERIFICATION — stored events were changed or removed: "
            f"{message[:160]} — tell the supervisor; what is shown may not be what happened "
            "(dispatch-console verify)"
        )
        self.tamper_banner.setToolTip(message)
        self.tamper_banner.show()

    def on_command_done(self, description: str, ok: bool, message: str) -> None:
        if ok:
            self.statusBar().showMessage(f"{description}: done", 5000)
        else:
            self.map.clear_pending_edits()  # a refused edit's ghost goes at once
            self.statusBar().showMessage(f"{description}: {message}")
            self.refusal_text.setText(f"NOT DONE — {description}: {message}")
            self.refusal.show()
            self.action_failed.emit(f"{description}: {message}")

    # --- refreshing -------------------------------------------------------------------------

    def _tick(self) -> None:
        self._since_refresh_ms += REFRESH_MS
        if self.pending or self._since_refresh_ms >= IDLE_REFRESH_MS:
            self.refresh_now()

    def refresh_now(self) -> None:
        changes, self.pending = self.pending, Changes()
        self._since_refresh_ms = 0
        now = self.clock()
        focused = self._focused_state()
        self.exercise_banner.setVisible(focused is not None and focused.exercise)
        for panel in self.panels:
            try:
                panel.refresh(changes, now)
            except Exception:  # one broken panel must not freeze the others
                log.exception("%s.refresh failed", type(panel).__name__)
        self._show_top_warning()
        strip = self.top_bar.height()
        if strip != self._strip_height and self._sized:
            # The strip grew (a longer radio line, a warning): the table keeps its rows.
            self._strip_height = strip
            self._table_tries = 0
            self._keep_table_rows.start()
        elif (
            time.monotonic() < self._guard_rows_until
            and not self._keep_table_rows.isActive()
            and self.responders.visible_rows() < self.table_rows_wanted()
        ):
            self._table_tries = 0
            self._keep_table_rows.start()

    def _show_top_warning(self) -> None:
        """The most dangerous warning of the focused incident, in the critical strip."""
        text, critical, waiting = self.warnings.top_line()
        if text != self.top_warning.text():
            self.top_warning.setText(text)
        self.top_warning.setVisible(bool(text))
        style = "top_critical" if critical and waiting else "top_calm"
        if self.top_warning.property("kind") != style:
            self.top_warning.setProperty("kind", style)
            self._style_top_warning()
        title = self.warnings.dock_title()
        if self.docks["warnings"].windowTitle() != title:
            self.docks["warnings"].setWindowTitle(title)

    def _style_top_warning(self) -> None:
        t = self.theme
        if self.top_warning.property("kind") == "top_critical":
            style = f"background: {t.alarm}; color: {t.alarm_text};"
        else:
            style = f"background: {t.panel}; color: {t.caution};"
        self.top_warning.setStyleSheet(
            style + " font-size: 12pt; font-weight: bold; padding: 3px 10px;"
        )

    def _focus_changed(self, incident_id: str) -> None:
        changes = Changes()
        if incident_id:
            changes.incidents.add(incident_id)
            changes.areas.add(incident_id)
        self.pending.merge(changes)
        self.refresh_now()

    # --- actions ----------------------------------------------------------------------------

    def acknowledge_top_alert(self) -> None:
        if not self.alerts.acknowledge_top():
            self.statusBar().showMessage("No alert waits for acknowledgement", 3000)

    def acknowledge_alert(self, incident_id: str, alert_id: str) -> None:
        payload = ev.AlertAcknowledged(alert_id, self.user.name)
        state = self.console.incidents.get(incident_id)
        where = (state.school_name or "the incident") if state is not None else "the incident"
        self.run_command(incident_id, [payload], f"acknowledge the alert at {where}")

    def run_command(
        self,
        incident_id: str,
        payloads: Sequence[ev.Payload],
        what: str,
        *,
        expected_seq: int | None = None,
    ) -> None:
        """A panel's or dialog's command, stored in the user's name; ``expected_seq``: the
        version the user decided on, when that was before now (a dialog opened earlier)."""
        if not self.may_command:
            self.statusBar().showMessage(
                f"{what}: refused: a {self.user.role} watches and does not command", 6000
            )
            return
        if incident_id and payloads:
            self.submit(incident_id, list(payloads), self.actor, what, expected_seq=expected_seq)

    def acknowledge_top_warning(self) -> None:
        if not self.warnings.acknowledge_top():
            self.statusBar().showMessage("No warning waits for acknowledgement", 3000)

    def _focused_state(self) -> IncidentState | None:
        return self.console.incident(self.selection.incident_id)

    def _selected(
        self, what: str, *, single: bool = False
    ) -> tuple[IncidentState, list[str]] | None:
        state = self._focused_state()
        ids = sorted(i for i in self.selection.responder_ids if state and i in state.responders)
        if state is None or not ids or (single and len(ids) != 1):
            need = "one responder" if single else "responders"
            self.statusBar().showMessage(f"{what}: select {need} first (table or map)", 4000)
            return None
        return state, ids

    def _run_dialog(
        self,
        dialog: DirectDialog
        | IdentifyDialog
        | AssignDialog
        | ReleaseDialog
        | SuspectDialog
        | CommandDialog,
    ) -> None:
        # The rows acted on stay where they are while the dialog is open.
        self.responders.hold_order("acting")
        try:
            accepted = dialog.exec()
        finally:
            self.responders.release_order("acting")
        if accepted:
            # Decided on what the dialog showed when it opened: if another console changed the
            # same responder while it was open, the command is refused with what changed.
            self.run_command(
                dialog.incident_id,
                dialog.payloads(),
                dialog.description(),
                expected_seq=dialog.decided_on,
            )

    def direct_selected(self) -> None:
        picked = self._selected("Direct to staging")
        if picked is not None:
            state, ids = picked
            self._run_dialog(DirectDialog(state, ids, self, theme=self.theme))

    def identify_selected(self) -> None:
        picked = self._selected("Mark identified", single=True)
        if picked is not None:
            state, ids = picked
            self._run_dialog(IdentifyDialog(state, ids[0], self.user.name, self, theme=self.theme))

    def assign_selected(self) -> None:
        picked = self._selected("Assign")
        if picked is not None:
            state, ids = picked
            self._run_dialog(AssignDialog(state, ids, self, theme=self.theme))

    def release_selected(self) -> None:
        picked = self._selected("Release")
        if picked is not None:
            state, ids = picked
            self._run_dialog(ReleaseDialog(state, ids, self, theme=self.theme))

    def revise_suspect(self) -> None:
        state = self._focused_state()
        if state is None:
            self.statusBar().showMessage("No incident in focus", 3000)
            return
        self._run_dialog(SuspectDialog(state, self, theme=self.theme))

    def take_command(self) -> None:
        state = self._focused_state()
        if state is None:
            self.statusBar().showMessage("No incident in focus", 3000)
            return
        self._run_dialog(CommandDialog(state, self.user.name, self, theme=self.theme))

    def copy_radio_line(self) -> None:
        text = self.broadcast_line.copy()
        self.statusBar().showMessage(f"Copied: {text}", 5000)

    def start_par(self) -> None:
        self.docks["par"].show()
        self.docks["par"].raise_()
        self.par.start_par()

    def stand_down(self) -> None:
        self.broadcasts.request_stand_down()

    def ask_export_ics211(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        state = self._focused_state()
        if state is None:
            self.statusBar().showMessage("No incident in focus", 3000)
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Export ICS 211", f"ics211-{state.incident_id}.pdf", "PDF (*.pdf);;CSV (*.csv)"
        )
        if path:
            self.export_ics211(Path(path))

    def export_ics211(self, path: Path) -> QThread | None:
        """The focused incident's ICS 211 as it is now, to PDF or CSV; the file is written in a
        worker thread (a long list takes seconds) and the status bar says when it is done."""
        from dispatch_console.app.ics211 import build_ics211, print_time_format

        state = self._focused_state()
        if state is None:
            return None
        now = self.clock()
        report = build_ics211(  # built here, from the state as it is now; written elsewhere
            state,
            now,
            school=self.console.schools.get(state.school_id),
            prepared_by=self.user.name,
            position=self.user.role,
            time_format=print_time_format(state, now),
            roles=self.console.roles,
        )
        thread = _ExportThread(report, path, self)
        thread.done.connect(self._export_finished)
        thread.finished.connect(thread.deleteLater)
        self._exports.add(thread)
        thread.finished.connect(self._forget_export)
        thread.start()
        self.statusBar().showMessage(f"Writing ICS 211 to {path}…")
        return thread

    def _export_finished(self, message: str, ok: bool) -> None:
        self.statusBar().showMessage(message, 10_000 if ok else 0)
        self.export_done.emit(message, ok)

    def _forget_export(self) -> None:
        self._exports = {t for t in self._exports if not t.isFinished()}

    def direct_dropped(self, responder_ids: frozenset[str], staging_area_id: str) -> None:
        """Selected responders dragged onto a staging area on the map."""
        state = self._focused_state()
        if state is None or not responder_ids:
            return
        payloads = commands.direct(state, sorted(responder_ids), staging_area_id)
        area = state.staging_areas.get(staging_area_id)
        name = area.name if area is not None else staging_area_id
        self.run_command(state.incident_id, payloads, f"direct {len(responder_ids)} to {name}")

    def store_area_edit(self, payloads: list[ev.Payload], expected_seq: int | None = None) -> None:
        state = self._focused_state()
        if state is not None:
            self.run_command(
                state.incident_id,
                payloads,
                "edit staging areas and perimeters",
                expected_seq=expected_seq,
            )

    def next_incident(self) -> None:
        active = [s.incident_id for s in self.console.active_incidents()]
        if not active:
            return
        current = self.selection.incident_id
        index = active.index(current) + 1 if current in active else 0
        self.selection.focus(active[index % len(active)])

    def fit_map(self) -> None:
        self.map.fit_to_incident(self.selection.incident_id)

    def focus_search(self) -> None:
        self.show_responders()
        self.responders.focus_search()

    def clear_selection(self) -> None:
        if self.help.isVisible():
            self.help.hide()
            return
        self.selection.select(frozenset(), "window")

    def show_responder(self, responder_id: str) -> None:
        """Double-click on the map: that responder, in the detail panel."""
        self.selection.select({responder_id}, "window")
        self.docks["detail"].show()
        self.docks["detail"].raise_()

    def show_event_log(self) -> None:
        self.docks["event_log"].show()
        self.docks["event_log"].raise_()

    def show_responders(self) -> None:
        self.docks["responders"].show()
        self.docks["responders"].raise_()

    def toggle_filter(self, name: str) -> None:
        self.show_responders()
        self.responders.toggle_filter(name)

    def toggle_theme(self) -> None:
        self._apply_theme(DAY if self.theme is NIGHT else NIGHT)

    def toggle_fullscreen(self) -> None:
        self.setWindowState(self.windowState() ^ Qt.WindowState.WindowFullScreen)

    def show_help(self) -> None:
        self.help.open()

    @property
    def may_command(self) -> bool:
        return self.user.role in COMMANDING_ROLES

    def _apply_role(self) -> None:
        """Observers and trainers watch; they do not command: every acting shortcut and the
        map's editing and drag-to-direct are off, and :meth:`run_command` refuses what a panel
        asks. The incident service refuses them too, whatever a console shows."""
        allowed = self.may_command
        self.map.set_editing_enabled(allowed)
        for action in self.actions():
            if action.objectName().removeprefix("action_") in COMMAND_ACTIONS:
                action.setEnabled(allowed)

    def change_user(self) -> None:
        from dispatch_console.ui.shell.user import UserDialog, remember_user

        if self.authenticate is not None:  # accounts (issue 16): only a sign-in changes who
            user = self.authenticate(self.user)
            if user is None:
                return
            self.user = user
        else:
            dialog = UserDialog(self, self.user)
            if not dialog.exec():
                return
            self.user = dialog.user()
        self.actor = ev.Actor(ev.ActorKind.CONSOLE_USER, self.user.name)
        self.warnings.set_user(self.user.name)
        self._apply_role()
        remember_user(self.settings, self.user)
        self._update_title()
        self.statusBar().showMessage(f"Signed in as {self.user}")

    def _apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, theme)
        self.exercise_banner.setStyleSheet(
            f"background: {theme.alarm}; color: {theme.alarm_text}; font-size: 15pt;"
            " font-weight: bold; padding: 4px; letter-spacing: 2px;"
        )
        self.banner.setStyleSheet(
            f"background: {theme.caution}; color: #000000; font-size: 14pt; font-weight: bold;"
            " padding: 6px;"
        )
        self.tamper_banner.setStyleSheet(
            f"background: {theme.alarm}; color: {theme.alarm_text}; font-size: 14pt;"
            " font-weight: bold; padding: 6px;"
        )
        self.refusal.setStyleSheet(
            f"#refusal {{ background: {theme.panel}; border: 2px solid {theme.caution}; }}"
        )
        self.refusal_text.setStyleSheet(
            f"color: {theme.caution}; font-size: 13pt; font-weight: bold; border: none;"
        )
        self.help.theme = theme
        self._style_top_warning()
        for panel in self.panels:
            panel.set_theme(theme)
        self.settings.setValue("ui/theme", theme.name)

    # --- title --------------------------------------------------------------------------------

    def _update_title(self) -> None:
        title = f"Dispatch Console — {self.user.name} ({self.user.role})"
        if self._flash_on:
            title = f"■ UNACKNOWLEDGED {self._attention_word()} ■ — {title}"
        self.setWindowTitle(title)

    def _attention_changed(self, _attention: bool) -> None:
        """An unacknowledged alert or critical warning exists: flash the title until none is
        left (an advisory warning never flashes it: a flash that always runs means nothing)."""
        attention = self.alerts.unacknowledged_count() > 0 or self.warnings.attention
        if attention and self.flash.isActive():
            return
        if attention:
            self.flash.start()
            self._flash_on = True
            QApplication.alert(self)
        else:
            self.flash.stop()
            self._flash_on = False
        self._update_title()

    def _attention_word(self) -> str:
        return "ALERT" if self.alerts.unacknowledged_count() > 0 else "CRITICAL WARNING"

    def _flash_title(self) -> None:
        self._flash_on = not self._flash_on
        self._update_title()

    # --- layout memory ------------------------------------------------------------------------

    def save_layout(self) -> None:
        s = self.settings
        s.setValue("ui/version", SETTINGS_VERSION)
        s.setValue("ui/geometry", self.saveGeometry())
        s.setValue("ui/state", self.saveState(SETTINGS_VERSION))
        s.setValue("ui/size", self.size())
        s.setValue("ui/responders_header", QByteArray(self.responders.header_state()))
        s.setValue("ui/theme", self.theme.name)
        s.sync()

    def available_size(self) -> QSize:
        """The room the desktop gives windows on this window's screen (no taskbar, no panel)."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        return screen.availableGeometry().size() if screen is not None else QSize(1920, 1080)

    def restore_layout(self) -> bool:
        """The last session's geometry and docks, unless they were saved for a larger screen
        than this one (a layout that does not fit is not restored: the default one is)."""
        s = self.settings
        if str(s.value("ui/version", "")) != str(SETTINGS_VERSION):
            return False
        saved = s.value("ui/size")
        room = self.available_size()
        if (
            not isinstance(saved, QSize)
            or saved.width() > room.width()
            or (saved.height() > room.height())
        ):
            log.info("saved layout (%s) does not fit this screen (%s): default layout", saved, room)
            return False
        geometry = s.value("ui/geometry")
        state = s.value("ui/state")
        header = s.value("ui/responders_header")
        restored = False
        if isinstance(geometry, QByteArray):
            restored = self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            restored = self.restoreState(state, SETTINGS_VERSION) and restored
        if isinstance(header, QByteArray):
            self.responders.restore_header_state(bytes(header.data()))
        return restored

    def fit_to_screen(self) -> None:
        """First start (no saved layout): the whole available screen, up to 1920×1080."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            self.resize(1920, 1080)
            return
        room = screen.availableGeometry()
        frame = self.frameGeometry().size() - self.geometry().size()
        width = min(1920, room.width() - frame.width())
        height = min(1080, room.height() - frame.height())
        self.resize(width, height)
        self.move(room.left() + (room.width() - width) // 2, room.top())

    def quit(self) -> None:
        self.close()

    def reset_layout(self) -> None:
        """Every panel back where it starts, sized for the window as it is now."""
        self._arrange_default()
        self.default_dock_sizes()
        self._guard_rows()
        self.statusBar().showMessage("Layout reset", 4000)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.ask_before_closing and not self.confirm_close():
            event.ignore()
            return
        self.save_layout()
        self.timer.stop()
        self.flash.stop()
        for thread in list(self._exports):  # a file being written is finished, not cut
            thread.wait(60_000)
        super().closeEvent(event)

    def active_live_incidents(self) -> list[IncidentState]:
        return [s for s in self.console.active_incidents() if not s.exercise]

    def confirm_close(self) -> bool:
        """While a live incident is active, closing asks first (No is the default)."""
        active = self.active_live_incidents()
        if not active:
            return True
        names = ", ".join(s.school_name or s.incident_id for s in active[:3])
        answer = self.ask(
            "Close the console?",
            f"An incident is active ({names}). Closing stops this console's alarm and view of "
            "it; the incident goes on. Close anyway?",
        )
        return answer

    def ask(self, title: str, text: str) -> bool:
        """A yes/no question (tests replace it)."""
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, parent=self)
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        return box.exec() == QMessageBox.StandardButton.Yes

    @overload
    def resize(self, size: QSize, /) -> None: ...

    @overload
    def resize(self, w: int, h: int, /) -> None: ...

    def resize(self, w: QSize | int, h: int = 0, /) -> None:
        """As QWidget's; the size asked for is remembered until the window is first laid out
        (the minimum of a layout not yet settled can grow the window as it appears)."""
        wanted = w if isinstance(w, QSize) else QSize(int(w), int(h))
        super().resize(wanted)
        if not self._sized:
            self._requested_size = QSize(wanted)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._sized and not self.restored:
            self._sized = True
            # Once laid out: the size asked for, then the docks in proportion to it.
            QTimer.singleShot(0, self._first_layout)

    def _first_layout(self) -> None:
        if not self.isMaximized() and not self.isFullScreen():
            self._tab_detail_if_short(self._requested_size.height())
            self.resize(self._requested_size)
            self._activate_layout()
        self.default_dock_sizes()
        self._guard_rows()

    def _arrange_default(self) -> None:
        """Left: alerts over the responder's detail. Right: warnings. Bottom, full width:
        the responders table, with the event log, broadcasts and PAR as tabs behind it. The
        critical strip (header, radio line, top warning) is a fixed bar above them all."""
        d = self.docks
        left = Qt.DockWidgetArea.LeftDockWidgetArea
        right = Qt.DockWidgetArea.RightDockWidgetArea
        bottom = Qt.DockWidgetArea.BottomDockWidgetArea
        for dock in d.values():
            dock.setFloating(False)
            self.removeDockWidget(dock)
        self.addDockWidget(left, d["alerts"], Qt.Orientation.Vertical)
        self.addDockWidget(left, d["detail"], Qt.Orientation.Vertical)
        self.addDockWidget(right, d["warnings"], Qt.Orientation.Vertical)
        self.addDockWidget(bottom, d["responders"], Qt.Orientation.Horizontal)
        for name in ("event_log", "broadcasts", "par", "rules"):
            self.tabifyDockWidget(d["responders"], d[name])
        for dock in d.values():
            dock.show()
        d["responders"].raise_()

    def table_rows_wanted(self) -> int:
        """Rows the responders table shows by default: 8 on a 768 px high screen, 15 on a
        1080 px one, 20 above."""
        height = self.height()
        return 8 if height < 1000 else 15 if height < 1300 else 20

    def default_dock_sizes(self) -> None:
        """The starting layout, in proportion to the window: the table gets the rows it
        needs, the rest goes to the map, the alerts and the warnings. Where there is no
        room for the alert and the responder's detail one above the other (a 768 or 900 px
        high screen), the detail is a tab behind the alert (it comes forward when a
        responder is opened)."""
        d = self.docks
        table = self.responders
        rows = self.table_rows_wanted()
        chrome = d["responders"].height() - table.view.viewport().height()
        if chrome <= 0 or chrome > 300:
            chrome = 130
        table_height = chrome + int((rows + 0.4) * table.row_height())
        self.resizeDocks([d["responders"]], [table_height], Qt.Orientation.Vertical)
        stacked = self._tab_detail_if_short(self.height())
        width = self.width()
        side = max(330, min(460, width // 5))
        warnings = side + 20
        if self.height() < 1000:
            # A short screen (768, 900 px): the warnings dock is short too, so it is wider (from
            # the map) for the top card's reasons and its ACKNOWLEDGE button to fit whole.
            warnings = max(warnings, min(480, width // 3))
        self.resizeDocks([d["alerts"], d["warnings"]], [side, warnings], Qt.Orientation.Horizontal)
        if stacked and d["detail"] not in self.tabifiedDockWidgets(d["alerts"]):
            # The alert (with its ACKNOWLEDGE button) before the responder's detail.
            upper = max(260, self._upper_height(self.height()))
            alert = int(upper * 0.62)
            self.resizeDocks(
                [d["alerts"], d["detail"]], [alert, upper - alert], Qt.Orientation.Vertical
            )
        self.resizeDocks([d["responders"]], [table_height], Qt.Orientation.Vertical)
        self._table_tries = 0
        self._ensure_table_rows()  # and again once the docks' own layouts have followed

    def _activate_layout(self) -> None:
        layout = self.layout()
        if layout is not None:
            layout.activate()

    def _upper_height(self, height: int) -> int:
        """Room between the strip and the responders table for a window ``height`` high."""
        table = self.responders
        rows = 8 if height < 1000 else 15 if height < 1300 else 20
        table_height = 130 + int((rows + 0.4) * table.row_height())
        bars = self.menuBar().sizeHint().height() + self.top_bar.sizeHint().height()
        return height - bars - self.statusBar().sizeHint().height() - table_height

    def _tab_detail_if_short(self, height: int) -> bool:
        """No room for the alert and the responder's detail one above the other: the detail
        becomes a tab behind the alerts. Returns whether they are stacked."""
        d = self.docks
        if self._upper_height(height) >= 330:
            return True
        if d["detail"] not in self.tabifiedDockWidgets(d["alerts"]):
            self.tabifyDockWidget(d["alerts"], d["detail"])
            d["alerts"].raise_()
        return False

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.help.isVisible():
            self.help.setGeometry(self.rect())
        if self._sized:
            # Growing the window gives the room to the map; the table keeps its rows (a shrink
            # then a grow must not leave it at a row and a half).
            self._guard_rows()

    def _guard_rows(self) -> None:
        self._guard_rows_until = time.monotonic() + 2.0
        self._table_tries = 0
        self._keep_table_rows.start()

    def _ensure_table_rows(self) -> None:
        """Give the responders table back the rows it shows by default for this window
        height, if it has fewer (after a grow, or the strip grew). The table's own layout
        follows a dock resize on the next turn of the event loop: it looks again, a few
        times."""
        dock = self.docks["responders"]
        if dock.isFloating() or not dock.isVisible() or self.isMinimized():
            return
        wanted = self.table_rows_wanted()
        shown = self.responders.visible_rows()
        if shown >= wanted or self._table_tries >= 6:
            self._table_tries = 0
            return
        if self._table_tries == 2:  # no room above: the detail goes behind the alerts
            self._tab_detail_if_short(self.height())
        grow = (wanted - shown + 1) * self.responders.row_height()
        self.resizeDocks([dock], [dock.height() + grow], Qt.Orientation.Vertical)
        self._activate_layout()
        self._table_tries += 1
        self._keep_table_rows.start()


class _ExportThread(QThread):
    """Writes an ICS 211 report (built in the GUI thread) to PDF or CSV. A QThread, not a
    Python thread: the PDF's text layout needs a Qt event dispatcher in its thread."""

    done = Signal(str, bool)

    def __init__(self, report: object, path: Path, parent: QObject) -> None:
        super().__init__(parent)
        self.report = report
        self.path = path

    def run(self) -> None:
        from dispatch_console.app.ics211 import Ics211, write_csv

        report = self.report
        assert isinstance(report, Ics211)
        try:
            if self.path.suffix.lower() == ".csv":
                write_csv(report, self.path)
                self.done.emit(f"ICS 211 written to {self.path}", True)
            else:
                from dispatch_console.ui.print.ics211_pdf import write_ics211_pdf

                pages = write_ics211_pdf(report, self.path)
                self.done.emit(f"ICS 211 written to {self.path} ({pages} pages)", True)
        except Exception as exc:  # a full disk, a bad folder: said, never a crash
            log.warning("ICS 211 export to %s failed: %s", self.path, exc)
            self.done.emit(f"ICS 211 export failed: {exc}", False)


class _FilterToggle(QObject):
    """A named filter toggle as a slot (no lambda capturing the window)."""

    def __init__(self, window: MainWindow, name: str) -> None:
        super().__init__(window)
        self.window = window
        self.name = name

    def __call__(self) -> None:
        self.window.toggle_filter(self.name)
