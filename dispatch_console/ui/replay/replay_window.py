"""Replay of a past incident: the console's own window, read-only, at the timeline's instant.

:class:`ReplayWindow` *is* the live console's :class:`MainWindow` (same panels, same colours,
same shortcuts), given

- a clock that returns the timeline's instant (every panel shows the state *at* that instant:
  position ages, elapsed times, stale markers);
- a ``submit`` that refuses every command (:class:`ReadOnlySubmit`): an acknowledgement, a
  directive, an edit of an area never reaches any store, and the status bar says "Replay is
  read-only"; the map's editing is off and the dialog commands are disabled;
- a timeline bar at the bottom (:mod:`dispatch_console.ui.replay.timeline_bar`), the charts
  (:mod:`dispatch_console.ui.replay.charts`) and the trainer's bookmarks as docks;
- a violet "REPLAY — read-only — T+…" banner across the top, and for an exercise incident a
  red and white EXERCISE banner above it, so that nobody takes it for the live console.

**Time.** The instant is the timeline's *cursor time* (``replay.timeline``: event time in
sequence order, never going backwards); the state at ``t`` is the fold of the events whose
cursor time is at most ``t``, a state the live console really went through.

**Seek** (scrubber, step, bookmark, chart click) rebuilds the console's content for the
instant as a console (re)started then would hold it: the state (``Timeline.state_at``), each
responder's trail of the last 5 minutes (:class:`ReplayIndex`, one point per 5 s) and the event
log's backlog (the last :data:`LOG_LIMIT` events but positions, which the live console's start
skips too; play then appends every event, positions included); then every panel is refreshed
with a :class:`Changes` that names everything, the map and the event log reloaded.

**Play** folds only the events between two frames (``ConsoleState.apply``) and refreshes the
panels with what they changed, at most one frame per :data:`FRAME_MS`.

Keys added to the console's: K play/pause, J / L previous / next event of the chosen kind,
[ / ] slower / faster, B bookmark the instant, Home the first event. Space stays "acknowledge
the top alert" as in the live console, and is refused here.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, Unpack

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QShowEvent
from PySide6.QtWidgets import QInputDialog, QLabel, QSizePolicy, QToolBar, QWidget

from dispatch_console.app.live import (
    LOG_LIMIT,
    TRAIL_POINTS,
    TRAIL_WINDOW_US,
    Changes,
    ConsoleState,
    TrailPoint,
)
from dispatch_console.domain import events as ev
from dispatch_console.domain.reference import School
from dispatch_console.domain.state import IncidentState
from dispatch_console.domain.timeutil import US_PER_S
from dispatch_console.importers.roads_geojson import Road
from dispatch_console.ui.map.map_view import MapView
from dispatch_console.ui.replay.charts import ChartData, ReplayCharts
from dispatch_console.ui.replay.timeline_bar import (
    Bookmark,
    BookmarksPanel,
    BookmarkStore,
    Marker,
    StepKind,
    TimelineBar,
    elapsed_text,
    now_wall_us,
    speed_text,
    wall_text,
)
from dispatch_console.ui.shell.main_window import MainWindow
from dispatch_console.ui.shell.theme import Theme
from dispatch_console.ui.shell.user import User

if TYPE_CHECKING:
    from dispatch_console.replay.metrics import Series
    from dispatch_console.replay.timeline import Timeline
    from dispatch_console.store import Store

log = logging.getLogger(__name__)

#: Play: one frame at most this often (ms).
FRAME_MS = 20
#: A play frame longer than this (wall seconds, a stall or a dialog) moves the instant by
#: this much at most.
MAX_FRAME_S = 1.0
#: Moving forward by more events than this rebuilds from a checkpoint instead of folding.
FOLD_LIMIT = 20_000
#: Samples of the charts over the whole incident (about).
CHART_SAMPLES = 1_500
#: The scrubber's hover text: what its ticks and flags are.
MARKER_LEGEND = (
    "Ticks: alerts and status changes (white), warnings (amber), arrivals (orange), "
    "identifications (green); flags above: bookmarks"
)
REPLAY_BANNER = "#4B2A7B"  # violet: no status, alarm or caution colour means "replay"
EXERCISE_RED = "#C8102E"
EXERCISE_TEXT = "EXERCISE — EXERCISE — NOT A REAL INCIDENT — EXERCISE — EXERCISE"
#: The console's actions that open a command dialog: disabled in replay.
COMMAND_ACTIONS = (
    "direct", "identify", "assign", "release", "suspect", "par", "stand_down", "user", "command",
)  # fmt: skip


# --- the console at an instant (no Qt) ---------------------------------------------------------


#: Trail points rebuilt by a seek: at most one per this many µs per responder (the map keeps
#: one per 10 s; play appends every position as the live console does).
SEEK_TRAIL_STEP_US = 5 * US_PER_S


class ReplayIndex:
    """What a seek needs beyond the state, indexed once per timeline (numpy): every position
    event (responder, time, place) for the trails, and where the other events are for the log.
    """

    def __init__(self, timeline: Timeline) -> None:
        position = ev.ResponderPosition.TYPE
        codes: dict[str, int] = {}
        at_index: list[int] = []
        who: list[int] = []
        at_us: list[int] = []
        lons: list[float] = []
        lats: list[float] = []
        others: list[int] = []
        for index, event in enumerate(timeline.events):
            if event.type == position:
                p = event.payload
                assert isinstance(p, ev.ResponderPosition)
                code = codes.get(p.responder_id)
                if code is None:
                    code = codes[p.responder_id] = len(codes)
                at_index.append(index)
                who.append(code)
                at_us.append(p.at_us)
                lons.append(p.lon)
                lats.append(p.lat)
            else:
                others.append(index)
        self.timeline = timeline
        self.responder_ids = list(codes)
        self.position_index = np.asarray(at_index, dtype=np.int64)
        self.position_who = np.asarray(who, dtype=np.int64)
        self.position_at = np.asarray(at_us, dtype=np.int64)
        self.position_lon = np.asarray(lons, dtype=np.float64)
        self.position_lat = np.asarray(lats, dtype=np.float64)
        self.other_index = np.asarray(others, dtype=np.int64)

    def trails(
        self, t_us: int, window_us: int = TRAIL_WINDOW_US, step_us: int = SEEK_TRAIL_STEP_US
    ) -> dict[str, list[TrailPoint]]:
        """Each responder's positions reported in ``(t - window, t]`` (event cursor time),
        oldest first, at most one per ``step_us`` of their own time (the last of each step)."""
        timeline = self.timeline
        lo = int(np.searchsorted(self.position_index, timeline.index_at(t_us - window_us)))
        hi = int(np.searchsorted(self.position_index, timeline.index_at(t_us)))
        if hi <= lo:
            return {}
        who = self.position_who[lo:hi]
        at = self.position_at[lo:hi]
        order = np.argsort(who, kind="stable")  # by responder, then in event order
        w = who[order]
        bucket = at[order] // max(1, step_us)
        last = np.ones(len(order), dtype=bool)
        last[:-1] = (w[:-1] != w[1:]) | (bucket[:-1] != bucket[1:])
        keep = order[last] + lo
        kept_who = self.position_who[keep]
        starts = np.flatnonzero(np.r_[True, kept_who[1:] != kept_who[:-1]]).tolist()
        ends = [*starts[1:], len(keep)]
        codes = kept_who[starts].tolist()
        times = self.position_at[keep].tolist()
        lons = self.position_lon[keep].tolist()
        lats = self.position_lat[keep].tolist()
        ids = self.responder_ids
        return {
            ids[code]: list(map(TrailPoint, times[a:b], lons[a:b], lats[a:b]))
            for code, a, b in zip(codes, starts, ends, strict=True)
        }

    def log(self, t_us: int, limit: int) -> list[ev.Event]:
        """The last ``limit`` events but positions up to ``t_us``, in sequence order."""
        k = int(np.searchsorted(self.other_index, self.timeline.index_at(t_us)))
        events = self.timeline.events
        return [events[i] for i in self.other_index[max(0, k - limit) : k].tolist()]


def fill_console(
    console: ConsoleState,
    timeline: Timeline,
    t_us: int,
    *,
    log_limit: int = LOG_LIMIT,
    index: ReplayIndex | None = None,
) -> IncidentState:
    """Make ``console`` hold the incident as it was at ``t_us``, as a console (re)started at
    that instant would: the state, every responder's trail of the last
    :data:`TRAIL_WINDOW_US`, and the event log's backlog of the last ``log_limit`` events but
    positions (the live console's start skips them too). Changes ``console`` in place (the
    views keep their reference to it). ``index`` (:class:`ReplayIndex`) makes it fast."""
    incident_id = timeline.incident_id
    state = timeline.state_at(t_us)
    console.incidents.clear()
    console.incidents[incident_id] = state
    console.trails.clear()
    limit = min(log_limit, console.log.maxlen or log_limit)
    console.log.clear()
    if index is not None:
        for responder_id, points in index.trails(t_us).items():
            if responder_id in state.responders:
                console.trails[(incident_id, responder_id)] = deque(points, maxlen=TRAIL_POINTS)
        console.log.extend(index.log(t_us, limit))
    else:
        for responder_id, responder in state.responders.items():
            if responder.position is None:
                continue
            found = timeline.trail(responder_id, t_us, TRAIL_WINDOW_US)
            if found:
                console.trails[(incident_id, responder_id)] = deque(
                    (TrailPoint(at, lon, lat) for at, lon, lat in found[-TRAIL_POINTS:]),
                    maxlen=TRAIL_POINTS,
                )
        if limit > 0:
            skip = ev.ResponderPosition.TYPE
            count = timeline.index_at(t_us)
            backlog = [e for e in timeline.events[:count] if e.type != skip]
            console.log.extend(backlog[max(0, len(backlog) - limit) :])
    console.last_seq = state.last_seq
    console.roles = timeline.roles
    return state


def console_at(
    timeline: Timeline,
    t_us: int,
    schools: Sequence[School] = (),
    roads: Sequence[Road] = (),
    *,
    log_limit: int = LOG_LIMIT,
) -> ConsoleState:
    """A new :class:`ConsoleState` holding the incident at ``t_us`` (:func:`fill_console`)."""
    console = ConsoleState(schools, roads)
    fill_console(console, timeline, t_us, log_limit=log_limit)
    return console


def full_changes(console: ConsoleState, incident_id: str, also: set[str] | None = None) -> Changes:
    """A :class:`Changes` naming everything of the incident (and the responders ``also``, e.g.
    those shown before a seek back to when they did not exist yet)."""
    state = console.incidents.get(incident_id)
    ids = set(state.responders) if state is not None else set()
    ids |= also or set()
    return Changes(
        incidents={incident_id},
        responders={(incident_id, rid) for rid in ids},
        new_responders={incident_id},
        areas={incident_id},
        alerts=True,
    )


def reload_map(map_view: MapView, now_us: int) -> None:
    """Make the map rebuild its responder arrays and trails from the console (after a seek).

    Uses ``MapView.reload(now_us)`` when the map has it; otherwise the map's own focus reload
    (what it does when the focused incident changes), without refitting the view."""
    reload = getattr(map_view, "reload", None)
    if callable(reload):
        reload(now_us)
        return
    map_view._now_us = now_us
    map_view._load_focus()


def chart_step_us(timeline: Timeline, samples: int = CHART_SAMPLES) -> int:
    """A whole number of seconds giving about ``samples`` chart samples (at least 1 s)."""
    span = max(1, timeline.end_us - timeline.start_us)
    return max(1, round(span / samples / US_PER_S)) * US_PER_S


# --- the window --------------------------------------------------------------------------------


class ReplayClock:
    """The replay's "now": the timeline's instant (the panels' clock)."""

    def __init__(self, now_us: int) -> None:
        self.now_us = now_us

    def __call__(self) -> int:
        return self.now_us


class ReadOnlySubmit:
    """The replay's ``submit``: refuses every command (nothing reaches a store) and says so."""

    def __init__(self) -> None:
        #: What was refused, in order (the command's description).
        self.refused: list[str] = []
        self.listener: Callable[[str], None] | None = None

    def __call__(
        self,
        incident_id: str,
        payloads: Sequence[ev.Payload],
        actor: ev.Actor,
        what: str,
        expected_seq: int | None = None,
    ) -> None:
        self.refused.append(what)
        log.info("replay refused %r on %s (read-only)", what, incident_id)
        if self.listener is not None:
            self.listener(what)


class ReplayOptions(TypedDict, total=False):
    """What :meth:`ReplayWindow.load` passes on to the window as given."""

    theme: Theme | None
    user: User | None
    start_us: int | None
    wall: Callable[[], float]
    series: ChartData | Series | None


class ReplayWindow(MainWindow):
    """The console replaying one incident (module doc)."""

    #: The instant shown changed (µs, cursor time).
    instant_changed = Signal(object)
    #: Play started (True) or stopped (False).
    playing_changed = Signal(bool)

    @property
    def may_command(self) -> bool:
        """Every command goes on to the read-only submit, which refuses it as a replay's."""
        return True

    def __init__(
        self,
        timeline: Timeline,
        *,
        schools: Sequence[School] = (),
        roads: Sequence[Road] = (),
        settings: QSettings,
        bookmarks: BookmarkStore | None = None,
        theme: Theme | None = None,
        user: User | None = None,
        start_us: int | None = None,
        wall: Callable[[], float] = time.monotonic,
        series: ChartData | Series | None = None,
    ) -> None:
        self.timeline = timeline
        self.incident_id = timeline.incident_id
        self.replay_clock = ReplayClock(timeline.start_us)
        self.refusals = ReadOnlySubmit()
        self._final = timeline.final_state
        self.index = ReplayIndex(timeline)
        console = ConsoleState(schools, roads)
        super().__init__(
            console,
            user or User("Trainer", "trainer"),
            settings=settings,
            clock=self.replay_clock,
            submit=self.refusals,
            theme=theme,
        )
        self.setObjectName("ReplayWindow")
        self.refusals.listener = self._refused
        self.map.set_editing_enabled(False)
        for name in COMMAND_ACTIONS:
            action = self.findChild(QAction, f"action_{name}")
            if action is not None:
                action.setEnabled(False)
        self._wall = wall
        self._last_wall = wall()
        self.speed = 10.0
        self.playing = False
        self._seek_target: int | None = None
        self._radio_line_at_seek = ""
        self.bookmark_store = bookmarks
        self.bookmarks: list[Bookmark] = []

        # Banners across the top of the window (above the docks).
        self.exercise_banner = QLabel(EXERCISE_TEXT)
        self.exercise_banner.setObjectName("exercise_banner")
        self.exercise_banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.exercise_banner.setStyleSheet(
            f"background: {EXERCISE_RED}; color: #FFFFFF; font-size: 17pt; font-weight: 900;"
            " letter-spacing: 2px; padding: 6px;"
        )
        self.replay_banner = QLabel()
        self.replay_banner.setObjectName("replay_banner")
        self.replay_banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.replay_banner.setStyleSheet(
            f"background: {REPLAY_BANNER}; color: #FFFFFF; font-size: 15pt; font-weight: bold;"
            " padding: 5px;"
        )
        if self._final.exercise:
            self._top_bar("exercise", self.exercise_banner)
            self.addToolBarBreak(Qt.ToolBarArea.TopToolBarArea)
        else:
            self.exercise_banner.hide()
        self._top_bar("replay", self.replay_banner)

        # The timeline bar across the bottom, under the docks.
        self.bar = TimelineBar(self.theme)
        self.bar.set_speed(self.speed)
        bar = QToolBar("Timeline", self)
        bar.setObjectName("toolbar_timeline")
        bar.setMovable(False)
        bar.setFloatable(False)
        bar.addWidget(self.bar)
        self.addToolBar(Qt.ToolBarArea.BottomToolBarArea, bar)

        # Charts and bookmarks as docks, and a layout of its own (``_arrange``).
        self.charts = ReplayCharts(
            self.selection, self.theme, orientation=Qt.Orientation.Horizontal
        )
        self._dock("charts", "Charts", self.charts, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.bookmarks_panel = BookmarksPanel(self.theme)
        self._dock(
            "bookmarks", "Bookmarks", self.bookmarks_panel, Qt.DockWidgetArea.LeftDockWidgetArea
        )
        self._arrange()
        self._add_panel_toggles()

        self._build_replay_actions()
        # The help lists what works here: not the command dialogs, which replay disables.
        self.help.set_shortcuts([s for s in self.shortcuts if s.name not in COMMAND_ACTIONS])

        self.bar.seek_requested.connect(self.request_seek)
        self.bar.play_requested.connect(self.set_playing)
        self.bar.speed_changed.connect(self.set_speed)
        self.bar.step_requested.connect(self.step)
        self.bar.bookmark_requested.connect(self.ask_bookmark)
        self.charts.seek_requested.connect(self.request_seek)
        self.bookmarks_panel.jump_requested.connect(self.seek)
        self.bookmarks_panel.remove_requested.connect(self.remove_bookmark)

        self.play_timer = QTimer(self)
        self.play_timer.setInterval(FRAME_MS)
        self.play_timer.timeout.connect(self._play_frame)
        self.seek_timer = QTimer(self)
        self.seek_timer.setSingleShot(True)
        self.seek_timer.setInterval(0)
        self.seek_timer.timeout.connect(self._seek_pending)

        opened = self._final.opened_at_us or timeline.start_us
        self.origin_us = opened
        self.bar.set_range(timeline.start_us, timeline.end_us, opened)
        self.bar.set_markers(self._markers(), MARKER_LEGEND)
        self._load_bookmarks()
        self._set_chart_data(series)

        t0 = timeline.start_us if start_us is None else start_us
        t0 = min(max(t0, timeline.start_us), timeline.end_us)
        fill_console(self.console, timeline, t0, index=self.index)
        self.replay_clock.now_us = t0
        self.refresh_now()  # every panel learns the instant before the focus reaches it
        self.selection.focus(self.incident_id)  # loads every panel, fits the map
        self.seek(t0)
        self._update_title()
        self.restored = self.restore_layout()

    @classmethod
    def load(
        cls,
        store: Store,
        incident_id: str,
        *,
        settings: QSettings,
        roads: Sequence[Road] = (),
        bookmarks_folder: Path | None = None,
        **options: Unpack[ReplayOptions],
    ) -> ReplayWindow:
        """The replay of ``incident_id`` read from ``store`` (its events, once; the schools)."""
        from dispatch_console.replay.timeline import Timeline

        timeline = Timeline.load(store, incident_id)
        return cls(
            timeline,
            schools=store.schools(),
            roads=roads,
            settings=settings,
            bookmarks=BookmarkStore.for_incident(incident_id, bookmarks_folder),
            **options,
        )

    # --- building -------------------------------------------------------------------------------

    def _top_bar(self, name: str, widget: QWidget) -> None:
        bar = QToolBar(name, self)
        bar.setObjectName(f"toolbar_{name}")
        bar.setMovable(False)
        bar.setFloatable(False)
        bar.toggleViewAction().setEnabled(False)  # the banners cannot be hidden
        bar.setContextMenuPolicy(Qt.ContextMenuPolicy.PreventContextMenu)
        bar.setStyleSheet("QToolBar { padding: 0; margin: 0; border: 0; spacing: 0; }")
        widget.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        bar.addWidget(widget)
        # Above the incident header's bar, each on a row of its own.
        self.insertToolBar(self.top_bar, bar)
        self.insertToolBarBreak(self.top_bar)

    def _arrange(self) -> None:
        """One side column and a full-width bottom row: the header needs ~1,260 px, and the
        console's two side columns beside it would not fit 1920 px. Left: alerts, warnings,
        then tabs (responder, bookmarks, radio line, broadcasts, PAR). Bottom, full width: the
        charts (side by side), the responders and the event log as tabs, the charts on top."""
        left = Qt.DockWidgetArea.LeftDockWidgetArea
        bottom = Qt.DockWidgetArea.BottomDockWidgetArea
        self.setCorner(Qt.Corner.BottomLeftCorner, bottom)
        self.setCorner(Qt.Corner.BottomRightCorner, bottom)
        docks = self.docks
        for dock in docks.values():
            self.removeDockWidget(dock)
        for name in ("alerts", "warnings", "detail"):
            self.addDockWidget(left, docks[name], Qt.Orientation.Vertical)
        for name in ("bookmarks", "broadcasts", "par"):
            self.tabifyDockWidget(docks["detail"], docks[name])
        self.addDockWidget(bottom, docks["charts"], Qt.Orientation.Horizontal)
        self.tabifyDockWidget(docks["charts"], docks["responders"])
        self.tabifyDockWidget(docks["charts"], docks["event_log"])
        for dock in docks.values():
            dock.show()
        docks["detail"].raise_()
        docks["charts"].raise_()
        self._sized = False

    def size_docks(self) -> None:
        """The default dock sizes for the window's size (done once when first shown, unless a
        saved layout came back)."""
        docks = self.docks
        width = self.width()
        self.resizeDocks([docks["alerts"]], [max(480, width // 4)], Qt.Orientation.Horizontal)
        self.resizeDocks(
            [docks["alerts"], docks["warnings"], docks["detail"]],
            [250, 230, 320],
            Qt.Orientation.Vertical,
        )
        self.resizeDocks([docks["charts"]], [max(220, self.height() // 4)], Qt.Orientation.Vertical)
        self._sized = True

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._sized and not self.restored:
            self.size_docks()

    def _add_panel_toggles(self) -> None:
        menus = [
            a.menu() for a in self.menuBar().actions() if a.text().replace("&", "") == "Panels"
        ]
        menu = menus[0] if menus else None
        if menu is not None and hasattr(menu, "addAction"):
            for name in ("charts", "bookmarks"):
                menu.addAction(self.docks[name].toggleViewAction())

    def _build_replay_actions(self) -> None:
        replay = self.menuBar().addMenu("&Replay")
        a = self._action
        replay.addAction(
            a("play", "Play / pause", ["K"], self.toggle_play,
              "Replay: play / pause (Space stays 'acknowledge', refused in replay)")
        )  # fmt: skip
        replay.addAction(
            a("step_previous", "Previous event of the kind", ["J"], self.step_previous,
              "Replay: previous event of the kind chosen in the timeline bar")
        )  # fmt: skip
        replay.addAction(
            a("step_next", "Next event of the kind", ["L"], self.step_next,
              "Replay: next event of the kind chosen in the timeline bar")
        )  # fmt: skip
        replay.addAction(a("slower", "Slower", ["["], self.bar.slower, "Replay: slower playback"))
        replay.addAction(a("faster", "Faster", ["]"], self.bar.faster, "Replay: faster playback"))
        replay.addAction(
            a("bookmark", "Bookmark this instant…", ["B"], self.ask_bookmark,
              "Replay: bookmark the instant shown, with a note")
        )  # fmt: skip
        replay.addAction(
            a("to_start", "Go to the start", ["Home"], self.seek_start,
              "Replay: go to the incident's first event")
        )  # fmt: skip

    def _set_chart_data(self, series: ChartData | Series | None) -> None:
        if series is None:
            try:
                from dispatch_console.replay.metrics import series as compute_series
            except ImportError:  # replay-core not there: charts stay empty
                log.warning("replay.metrics is missing: no charts")
                return
            series = compute_series(self.timeline.events, chart_step_us(self.timeline))
        self.charts.set_data(series, self.origin_us)

    def _markers(self) -> list[Marker]:
        """Ticks under the scrubber: alerts and status (text colour), warnings (amber),
        arrivals and identifications (their status colours)."""
        from dispatch_console.domain.lifecycle import ResponderStatus

        t = self.theme
        kinds = {
            ev.AlertReceived.TYPE: t.text,
            ev.IncidentStatusChanged.TYPE: t.text,
            ev.WarningRaised.TYPE: t.caution,
            ev.ResponderArrived.TYPE: t.status[ResponderStatus.ON_SCENE],
            ev.ResponderIdentified.TYPE: t.status[ResponderStatus.IDENTIFIED],
        }
        markers: list[Marker] = []
        timeline = self.timeline
        for index, event in enumerate(timeline.events):
            color = kinds.get(event.type)
            if color is not None:
                markers.append(Marker(timeline.time_of(index), color))
        return markers

    # --- the instant ----------------------------------------------------------------------------

    @property
    def instant_us(self) -> int:
        return self.replay_clock.now_us

    @property
    def state(self) -> IncidentState:
        """The incident as shown now."""
        return self.console.incidents[self.incident_id]

    def request_seek(self, t_us: int) -> None:
        """Seek soon (a drag asks many times a second: only the latest is done)."""
        self._seek_target = int(t_us)
        if not self.seek_timer.isActive():
            self.seek_timer.start()

    def _seek_pending(self) -> None:
        target, self._seek_target = self._seek_target, None
        if target is not None:
            self.seek(target)

    def seek(self, t_us: int) -> None:
        """Show the incident at ``t_us`` (clamped to the timeline): rebuild, refresh everything."""
        timeline = self.timeline
        t = min(max(int(t_us), timeline.start_us), timeline.end_us)
        shown = self.console.incidents.get(self.incident_id)
        before = set(shown.responders) if shown is not None else set()
        fill_console(self.console, timeline, t, index=self.index)
        self.replay_clock.now_us = t
        self._last_wall = self._wall()
        self.pending = full_changes(self.console, self.incident_id, before)
        reload_map(self.map, t)
        self.event_log.model.reset()
        self.refresh_now()
        # The radio line panel dates a change of its sentence by when it saw it: after a
        # jump that is not when it changed, so the date is hidden until play shows a change.
        self._radio_line_at_seek = self.broadcast_line.line
        self.broadcast_line.changed.hide()
        self._show_instant()

    def seek_start(self) -> None:
        self.seek(self.timeline.start_us)

    def advance_to(self, t_us: int) -> None:
        """Move forward to ``t_us`` folding only the events in between (play); a move back, or
        a leap over more than :data:`FOLD_LIMIT` events, is a :meth:`seek`."""
        timeline = self.timeline
        t = min(max(int(t_us), timeline.start_us), timeline.end_us)
        now = self.replay_clock.now_us
        if t < now or timeline.index_at(t) - timeline.index_at(now) > FOLD_LIMIT:
            self.seek(t)
            return
        events = timeline.events_between(now, t)
        self.replay_clock.now_us = t
        if events:
            changes = self.console.apply(events)
            changes.new_alerts = []  # a replay never sounds the alarm
            self.pending.merge(changes)
        self.refresh_now()
        if self.broadcast_line.line != self._radio_line_at_seek:
            self.broadcast_line.changed.show()
        self._show_instant()

    def tick(self, elapsed_s: float) -> None:
        """One play frame: the instant moves by speed × ``elapsed_s`` (wall seconds, capped
        at :data:`MAX_FRAME_S`); play stops at the end."""
        step = round(min(max(elapsed_s, 0.0), MAX_FRAME_S) * self.speed * US_PER_S)
        target = min(self.replay_clock.now_us + step, self.timeline.end_us)
        self.advance_to(target)
        if target >= self.timeline.end_us:
            self.set_playing(False)

    def _play_frame(self) -> None:
        now = self._wall()
        elapsed, self._last_wall = now - self._last_wall, now
        self.tick(elapsed)

    def _show_instant(self) -> None:
        t = self.replay_clock.now_us
        self.bar.set_instant(t)
        self.charts.set_instant(t)
        state = "▶ playing " + speed_text(self.speed) if self.playing else "❚❚ paused"
        self.replay_banner.setText(
            f"REPLAY — read-only — {elapsed_text(t, self.origin_us)} — {wall_text(t)} — {state}"
        )
        self.instant_changed.emit(t)

    # --- play, speed, steps ---------------------------------------------------------------------

    def set_playing(self, playing: bool) -> None:
        if playing and self.replay_clock.now_us >= self.timeline.end_us:
            self.seek(self.timeline.start_us)  # play at the end starts over
        self.playing = playing
        self._last_wall = self._wall()
        if playing:
            self.play_timer.start()
        else:
            self.play_timer.stop()
        self.bar.set_playing(playing)
        self._show_instant()
        self.playing_changed.emit(playing)

    def toggle_play(self) -> None:
        self.set_playing(not self.playing)

    def set_speed(self, speed: float) -> None:
        self.speed = float(speed)
        self.bar.set_speed(self.speed)
        self._show_instant()

    def step(self, direction: int, kind: StepKind | None = None) -> int | None:
        """Seek to the previous (``direction`` < 0) or next event of ``kind`` (default: the
        kind chosen in the bar); returns its instant, or None (said in the status bar)."""
        kind = kind or self.bar.step_kind()
        now = self.replay_clock.now_us
        if direction < 0:
            target = self.timeline.previous_time(now, kind.types)
        else:
            target = self.timeline.next_time(now, kind.types)
        if target is None:
            where = "earlier" if direction < 0 else "later"
            self.statusBar().showMessage(f"No {where} event: {kind.label.lower()}", 4000)
            return None
        self.seek(target)
        self.statusBar().showMessage(
            f"{kind.label} at {elapsed_text(target, self.origin_us)}", 4000
        )
        return target

    def step_previous(self) -> None:
        self.step(-1)

    def step_next(self) -> None:
        self.step(1)

    # --- bookmarks ------------------------------------------------------------------------------

    def _load_bookmarks(self) -> None:
        if self.bookmark_store is None:
            return
        try:
            self.bookmarks = self.bookmark_store.load()
        except (OSError, ValueError) as exc:
            log.warning("bookmarks of %s cannot be read: %s", self.incident_id, exc)
            self.statusBar().showMessage(f"Bookmarks not loaded (file kept as is): {exc}")
            self.bookmark_store = None  # never overwrite a file we could not read
        self._show_bookmarks()

    def _show_bookmarks(self) -> None:
        self.bookmarks_panel.set_bookmarks(self.bookmarks, self.origin_us)
        self.bar.set_bookmarks([b.at_us for b in self.bookmarks])

    def _save_bookmarks(self) -> None:
        if self.bookmark_store is None:
            self.statusBar().showMessage("Bookmarks are kept for this session only", 5000)
            return
        try:
            self.bookmark_store.save(self.bookmarks)
        except OSError as exc:
            self.statusBar().showMessage(f"Bookmarks not saved: {exc}")

    def add_bookmark(self, note: str) -> Bookmark:
        """Bookmark the instant shown with ``note`` (saved at once)."""
        mark = Bookmark(self.replay_clock.now_us, note.strip(), self.user.name, now_wall_us())
        self.bookmarks = sorted([*self.bookmarks, mark], key=lambda b: b.at_us)
        self._save_bookmarks()
        self._show_bookmarks()
        self.docks["bookmarks"].show()
        self.docks["bookmarks"].raise_()
        return mark

    def ask_bookmark(self) -> None:
        was_playing = self.playing
        self.set_playing(False)
        at = elapsed_text(self.replay_clock.now_us, self.origin_us)
        note, ok = QInputDialog.getText(self, "Bookmark", f"Note for {at}:")
        if ok:
            self.add_bookmark(note)
        self.set_playing(was_playing)

    def remove_bookmark(self, at_us: int) -> None:
        kept = [b for b in self.bookmarks if b.at_us != at_us]
        if len(kept) != len(self.bookmarks):
            self.bookmarks = kept
            self._save_bookmarks()
            self._show_bookmarks()

    # --- read-only ------------------------------------------------------------------------------

    def _refused(self, what: str) -> None:
        self.map.clear_pending_edits()
        message = f"Replay is read-only: “{what}” was not done. (Play / pause is K.)"
        self.statusBar().showMessage(message, 8000)
        self.action_failed.emit(message)

    def _update_title(self) -> None:
        timeline = getattr(self, "timeline", None)
        final = getattr(self, "_final", None)
        if timeline is None or final is None:
            super()._update_title()
            return
        exercise = " — EXERCISE" if final.exercise else ""
        if ev.untrusted_import(timeline.events):
            exercise += " — UNTRUSTED IMPORT"
        school = final.school_name or "unknown school"
        self.setWindowTitle(f"REPLAY — {school} — {timeline.incident_id}{exercise}")

    def _attention_changed(self, _attention: bool) -> None:
        """A replay never demands attention (no flashing title, no taskbar alert): the panels
        still show what was waiting at the instant."""
        self.flash.stop()
        self._flash_on = False
        self._update_title()

    def _apply_theme(self, theme: Theme) -> None:
        super()._apply_theme(theme)
        for name in ("bar", "charts", "bookmarks_panel"):
            widget = getattr(self, name, None)
            if widget is not None:
                widget.set_theme(theme)
        if getattr(self, "bar", None) is not None:
            self.bar.set_markers(self._markers(), MARKER_LEGEND)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.play_timer.stop()
        super().closeEvent(event)


# --- the roads and place to open it with (the launcher and the report) -------------------------

#: Demo roads are used for a school within this distance of their extent (degrees, ~5 km).
ROADS_MARGIN_DEG = 0.05


def roads_for(
    lon: float, lat: float, roads_file: Path | None = None, *, stored: Sequence[Road] = ()
) -> list[Road]:
    """Roads for the map: from ``roads_file`` (the --roads override), else the store's
    (``stored``, imported with import-roads), else the demo county's when the point is in (or
    near) their extent, else none."""
    from dispatch_console.importers.roads_geojson import load_roads

    if roads_file is not None:
        return list(load_roads(roads_file).imported)
    if stored:
        return list(stored)
    from dispatch_console.resources import resource

    try:
        demo = list(load_roads(resource("demo", "roads.geojson")).imported)
    except FileNotFoundError:
        return []
    points = [c for road in demo for c in road.coordinates]
    if not points:
        return []
    lons = [p[0] for p in points]
    lats = [p[1] for p in points]
    m = ROADS_MARGIN_DEG
    inside = min(lons) - m <= lon <= max(lons) + m and min(lats) - m <= lat <= max(lats) + m
    return demo if inside else []


def incident_place(store: Store, incident_id: str) -> tuple[float, float] | None:
    """The incident's school position (lon, lat), from its opening event."""
    opened = next(iter(store.read(incident_id, types=[ev.IncidentOpened.TYPE])), None)
    if opened is None:
        return None
    payload = opened.payload
    assert isinstance(payload, ev.IncidentOpened)
    return payload.lon, payload.lat


__all__ = [
    "ReadOnlySubmit",
    "ReplayClock",
    "ReplayWindow",
    "console_at",
    "fill_console",
    "full_changes",
    "reload_map",
    "roads_for",
]
