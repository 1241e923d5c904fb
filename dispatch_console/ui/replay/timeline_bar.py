"""The replay's timeline bar: play, pause, speed, a scrubber to seek, steps to the previous or next
event of a chosen kind, and trainer bookmarks with notes.

The bar is a view: it shows the instant it is given and asks for changes by signals
(:attr:`TimelineBar.seek_requested` and friends); the replay window decides. Times are
microseconds of EVENT time (when things happened), shown as the elapsed time since the incident
opened ("T+00:07:42") and as the wall-clock time of that instant (local time zone).

Bookmarks are the trainer's, not the incident's: they live in a JSON file of their own
(:class:`BookmarkStore`, one file per incident, beside the user's data, never in the store), so
replaying cannot change the incident.

Keys (in the replay window): K play/pause (Space stays "acknowledge" as in the live console and
is refused there), J / L previous / next event of the chosen kind, [ / ] slower / faster,
B bookmark the instant; on the scrubber Left/Right step 5 s, Page Up/Down 60 s, Home/End.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QLineF, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dispatch_console.domain import events as ev
from dispatch_console.domain.timeutil import US_PER_S, from_us
from dispatch_console.ui.shell.theme import NIGHT, Theme, tabular_font

#: Playback speeds offered (simulated seconds per second).
SPEEDS: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
DEFAULT_SPEED = 10.0
#: Scrubber keyboard steps.
SMALL_STEP_US = 5 * US_PER_S
LARGE_STEP_US = 60 * US_PER_S
BOOKMARK_FORMAT = 1


@dataclass(frozen=True)
class StepKind:
    """A kind of event the step buttons jump between."""

    key: str
    label: str
    types: frozenset[str]


def _kind(key: str, label: str, *payloads: type[ev.Payload]) -> StepKind:
    return StepKind(key, label, frozenset(p.TYPE for p in payloads))


#: Every event type but positions (they come every few seconds per responder).
NOT_POSITIONS = frozenset(t for t in ev.PAYLOAD_TYPES if t != ev.ResponderPosition.TYPE)

STEP_KINDS: tuple[StepKind, ...] = (
    StepKind("any", "Any event (not positions)", NOT_POSITIONS),
    _kind("alert", "Alert received", ev.AlertReceived),
    _kind("alert_ack", "Alert acknowledged", ev.AlertAcknowledged),
    _kind("arrival", "Arrival", ev.ResponderArrived),
    _kind("identification", "Identification", ev.ResponderIdentified),
    _kind("assignment", "Assignment", ev.ResponderAssigned),
    _kind("warning", "Warning raised", ev.WarningRaised),
    _kind("perimeter", "Entered a perimeter", ev.PerimeterEntered),
    _kind("broadcast", "Broadcast", ev.BroadcastSent),
    _kind("par", "PAR (roll call)", ev.ParStarted, ev.ParEnded),
    _kind("suspect", "Suspect description", ev.SuspectDescriptionRevised),
    _kind(
        "command",
        "Incident command",
        ev.CommandEstablished,
        ev.CommandTransferred,
        ev.IncidentCommanderAssigned,
    ),
    _kind("status", "Incident status change", ev.IncidentStatusChanged, ev.IncidentOpened),
)
STEP_KIND_BY_KEY = {k.key: k for k in STEP_KINDS}


def elapsed_text(t_us: int, origin_us: int) -> str:
    """``T+00:07:42`` (``T-00:00:05`` before the origin); whole seconds, never rounded up."""
    delta = t_us - origin_us
    sign = "+" if delta >= 0 else "-"
    seconds = abs(delta) // US_PER_S
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"T{sign}{h:02d}:{m:02d}:{s:02d}"


def wall_text(t_us: int, *, date: bool = True) -> str:
    """The instant in the computer's local time zone: ``Tue 24 Nov 2026 09:21:47``."""
    local = from_us(t_us).astimezone()
    return local.strftime("%a %d %b %Y %H:%M:%S" if date else "%H:%M:%S")


def speed_text(speed: float) -> str:
    return f"{speed:g}×"


# --- bookmarks -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bookmark:
    """A trainer's mark on the timeline: an instant and a note."""

    at_us: int
    note: str
    by: str = ""
    #: When the bookmark was made (wall clock, µs); 0 if unknown.
    created_at_us: int = 0


def bookmarks_path(incident_id: str, folder: Path | None = None) -> Path:
    """The bookmark file of an incident: ``<folder>/<incident id>.json`` (the user data
    directory's ``replay-bookmarks`` by default)."""
    if folder is None:
        from platformdirs import user_data_path

        folder = user_data_path("dispatch-console", appauthor=False) / "replay-bookmarks"
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", incident_id) or "_"
    return folder / f"{safe}.json"


class BookmarkStore:
    """One incident's bookmarks in a JSON file (written whole, atomically, at each change).

    The file::

        {"format": 1, "incident_id": "...", "bookmarks": [{"at_us": 1795..., "at": "2026-...Z",
            "note": "...", "by": "...", "created_at_us": ...}]}
    """

    def __init__(self, path: Path, incident_id: str) -> None:
        self.path = path
        self.incident_id = incident_id

    @classmethod
    def for_incident(cls, incident_id: str, folder: Path | None = None) -> BookmarkStore:
        return cls(bookmarks_path(incident_id, folder), incident_id)

    def load(self) -> list[Bookmark]:
        """The bookmarks, oldest instant first ([] when there is no file; a damaged file is
        an error, never silently emptied)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        document = json.loads(text)
        if not isinstance(document, dict) or document.get("format") != BOOKMARK_FORMAT:
            raise ValueError(f"{self.path}: not a bookmark file of format {BOOKMARK_FORMAT}")
        marks = [
            Bookmark(
                int(item["at_us"]),
                str(item.get("note", "")),
                str(item.get("by", "")),
                int(item.get("created_at_us", 0)),
            )
            for item in document.get("bookmarks", [])
        ]
        return sorted(marks, key=lambda b: b.at_us)

    def save(self, bookmarks: Sequence[Bookmark]) -> None:
        from dispatch_console.domain.timeutil import iso

        document = {
            "format": BOOKMARK_FORMAT,
            "incident_id": self.incident_id,
            "bookmarks": [
                {
                    "at_us": b.at_us,
                    "at": iso(b.at_us),
                    "note": b.note,
                    "by": b.by,
                    "created_at_us": b.created_at_us,
                }
                for b in sorted(bookmarks, key=lambda b: b.at_us)
            ],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".bookmarks-", suffix=".json", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(document, handle, indent=2, ensure_ascii=False)
                handle.write("\n")
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


# --- the scrubber ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Marker:
    """A tick under the scrubber's groove: an event worth seeing at a glance."""

    at_us: int
    color: str


class Scrubber(QWidget):
    """A groove from the incident's first to its last event: click or drag to seek, ticks for
    key events below it, bookmark flags above it, the instant as a bright handle."""

    seek_requested = Signal(object)
    #: The user pressed (True) or released (False) the handle: the window pauses redraws of
    #: heavy views while dragging if it wants.
    dragging = Signal(bool)

    def __init__(self, theme: Theme = NIGHT, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("scrubber")
        self.theme = theme
        self.start_us = 0
        self.end_us = 1
        self.origin_us = 0
        self.instant_us = 0
        self.markers: list[Marker] = []
        #: What the ticks mean (the hover text says it).
        self.legend = "Click or drag to go to an instant"
        self.bookmarks: list[int] = []
        self._pressed = False
        self._ticks: QPixmap | None = None
        self._ticks_key: tuple[int, int, float] = (0, 0, 0.0)
        self.setMinimumHeight(44)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def sizeHint(self) -> QSize:
        return QSize(600, 44)

    # --- state --------------------------------------------------------------------------------

    def set_range(self, start_us: int, end_us: int, origin_us: int) -> None:
        self.start_us = start_us
        self.end_us = max(end_us, start_us + 1)
        self.origin_us = origin_us
        self._ticks = None
        self.update()

    def set_instant(self, t_us: int) -> None:
        if t_us != self.instant_us:
            self.instant_us = t_us
            self.update()

    def set_markers(self, markers: Sequence[Marker], legend: str = "") -> None:
        self.markers = list(markers)
        if legend:
            self.legend = legend
        self._ticks = None
        self.update()

    def set_bookmarks(self, instants: Sequence[int]) -> None:
        self.bookmarks = list(instants)
        self.update()

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self._ticks = None
        self.update()

    # --- geometry -----------------------------------------------------------------------------

    def _groove(self) -> QRectF:
        return QRectF(10, 16, max(1.0, self.width() - 20.0), 10)

    def x_of(self, t_us: int) -> float:
        g = self._groove()
        frac = (t_us - self.start_us) / (self.end_us - self.start_us)
        return g.left() + min(1.0, max(0.0, frac)) * g.width()

    def time_at(self, x: float) -> int:
        g = self._groove()
        frac = min(1.0, max(0.0, (x - g.left()) / g.width()))
        return self.start_us + round(frac * (self.end_us - self.start_us))

    # --- painting -----------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        t = self.theme
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        g = self._groove()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(t.calm))
        painter.drawRoundedRect(g, 4, 4)
        played = QRectF(g.left(), g.top(), self.x_of(self.instant_us) - g.left(), g.height())
        painter.setBrush(QColor(t.muted))
        painter.drawRoundedRect(played, 4, 4)
        # Key events: short ticks under the groove (drawn once, then a cached picture).
        painter.drawPixmap(0, 0, self._tick_layer())
        # Bookmarks: amber flags over the groove.
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(t.caution))
        for at in self.bookmarks:
            x = self.x_of(at)
            flag = QPainterPath()
            flag.moveTo(x, g.top() - 1)
            flag.lineTo(x - 6, g.top() - 12)
            flag.lineTo(x + 6, g.top() - 12)
            flag.closeSubpath()
            painter.drawPath(flag)
        # The instant.
        x = self.x_of(self.instant_us)
        painter.setPen(QPen(QColor(t.window), 2))
        painter.setBrush(QColor(t.text))
        painter.drawEllipse(QPointF(x, g.center().y()), 9, 9)
        if self.hasFocus():
            painter.setPen(QPen(QColor(t.text), 1, Qt.PenStyle.DotLine))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5))
        painter.end()

    def _tick_layer(self) -> QPixmap:
        """The markers' ticks, one line per pixel column and colour, cached until the size,
        the range, the markers or the theme change."""
        ratio = self.devicePixelRatioF()
        key = (self.width(), self.height(), ratio)
        if self._ticks is not None and self._ticks_key == key:
            return self._ticks
        pixmap = QPixmap(round(self.width() * ratio), round(self.height() * ratio))
        pixmap.setDevicePixelRatio(ratio)
        pixmap.fill(Qt.GlobalColor.transparent)
        g = self._groove()
        columns: dict[str, set[int]] = {}
        for marker in self.markers:
            columns.setdefault(marker.color, set()).add(round(self.x_of(marker.at_us)))
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        for color, xs in columns.items():
            painter.setPen(QPen(QColor(color), 2))
            painter.drawLines([QLineF(x, g.bottom() + 3, x, g.bottom() + 12) for x in sorted(xs)])
        painter.end()
        self._ticks, self._ticks_key = pixmap, key
        return pixmap

    # --- input --------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._pressed = True
            self.dragging.emit(True)
            self.seek_requested.emit(self.time_at(event.position().x()))
            event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        x = event.position().x()
        self.setToolTip(f"{elapsed_text(self.time_at(x), self.origin_us)}\n{self.legend}")
        if self._pressed:
            self.seek_requested.emit(self.time_at(x))
            event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pressed and event.button() == Qt.MouseButton.LeftButton:
            self._pressed = False
            self.seek_requested.emit(self.time_at(event.position().x()))
            self.dragging.emit(False)
            event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        steps = {
            Qt.Key.Key_Left: -SMALL_STEP_US,
            Qt.Key.Key_Right: SMALL_STEP_US,
            Qt.Key.Key_PageDown: LARGE_STEP_US,
            Qt.Key.Key_PageUp: -LARGE_STEP_US,
        }
        if key in steps:
            target = self.instant_us + steps[Qt.Key(key)]
        elif key == Qt.Key.Key_Home:
            target = self.start_us
        elif key == Qt.Key.Key_End:
            target = self.end_us
        else:
            super().keyPressEvent(event)
            return
        self.seek_requested.emit(min(self.end_us, max(self.start_us, target)))
        event.accept()


# --- the bar -------------------------------------------------------------------------------------


class TimelineBar(QWidget):
    """Play/pause, speed, scrubber, elapsed and wall time, steps by event kind, bookmark."""

    seek_requested = Signal(object)
    #: Play (True) or pause (False) asked.
    play_requested = Signal(bool)
    speed_changed = Signal(float)
    #: Step to the previous (-1) or next (+1) event of :meth:`step_kind`.
    step_requested = Signal(int)
    #: Bookmark the instant shown.
    bookmark_requested = Signal()

    def __init__(self, theme: Theme = NIGHT, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timeline_bar")
        self.theme = theme
        self.playing = False
        self.instant_us = 0
        self.origin_us = 0

        self.scrubber = Scrubber(theme)
        self.scrubber.seek_requested.connect(self.seek_requested)

        self.play_button = QPushButton("▶  Play")
        self.play_button.setObjectName("play")
        self.play_button.setToolTip("Play / pause (K)")
        self.play_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.play_button.clicked.connect(self.toggle_play)

        self.speed = QComboBox()
        self.speed.setObjectName("speed")
        self.speed.setToolTip("Playback speed: simulated seconds per second ([ slower, ] faster)")
        for s in SPEEDS:
            self.speed.addItem(speed_text(s), s)
        self.speed.setCurrentIndex(SPEEDS.index(DEFAULT_SPEED))
        self.speed.currentIndexChanged.connect(self._speed_picked)
        self.speed.setFocusPolicy(Qt.FocusPolicy.NoFocus)

        self.prev_button = QToolButton()
        self.prev_button.setObjectName("step_previous")
        self.prev_button.setText("◀ Prev")
        self.prev_button.setToolTip("Previous event of the chosen kind (J)")
        self.prev_button.clicked.connect(self._step_previous)
        self.kind = QComboBox()
        self.kind.setObjectName("step_kind")
        self.kind.setToolTip("The kind of event Prev / Next jump to")
        for kind in STEP_KINDS:
            self.kind.addItem(kind.label, kind.key)
        self.kind.setCurrentIndex(1)
        self.kind.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.next_button = QToolButton()
        self.next_button.setObjectName("step_next")
        self.next_button.setText("Next ▶")
        self.next_button.setToolTip("Next event of the chosen kind (L)")
        self.next_button.clicked.connect(self._step_next)
        for button in (self.prev_button, self.next_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)

        self.elapsed = QLabel(elapsed_text(0, 0))
        self.elapsed.setObjectName("elapsed")
        self.elapsed.setToolTip("Time since the incident opened (event time)")
        self.wall = QLabel("")
        self.wall.setObjectName("wall")
        self.wall.setToolTip("The wall-clock time of the instant shown (this computer's zone)")
        self.bookmark_button = QPushButton("★  Bookmark")
        self.bookmark_button.setObjectName("bookmark")
        self.bookmark_button.setToolTip("Bookmark this instant with a note (B)")
        self.bookmark_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.bookmark_button.clicked.connect(self.bookmark_requested)

        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.setSpacing(8)
        controls.addWidget(self.play_button)
        controls.addWidget(QLabel("Speed"))
        controls.addWidget(self.speed)
        controls.addSpacing(16)
        controls.addWidget(self.elapsed)
        controls.addWidget(self.wall)
        controls.addStretch(1)
        controls.addWidget(QLabel("Step to"))
        controls.addWidget(self.prev_button)
        controls.addWidget(self.kind)
        controls.addWidget(self.next_button)
        controls.addSpacing(16)
        controls.addWidget(self.bookmark_button)
        column = QVBoxLayout(self)
        column.setContentsMargins(8, 2, 8, 6)
        column.setSpacing(2)
        column.addWidget(self.scrubber)
        column.addLayout(controls)
        self.set_theme(theme)

    # --- state ----------------------------------------------------------------------------------

    def set_range(self, start_us: int, end_us: int, origin_us: int) -> None:
        """The scrubber spans ``start_us``..``end_us``; elapsed times count from ``origin_us``
        (the incident's opening)."""
        self.origin_us = origin_us
        self.scrubber.set_range(start_us, end_us, origin_us)

    def set_instant(self, t_us: int) -> None:
        self.instant_us = t_us
        self.scrubber.set_instant(t_us)
        text = elapsed_text(t_us, self.origin_us)
        if self.elapsed.text() != text:
            self.elapsed.setText(text)
            self.wall.setText(wall_text(t_us))

    def set_playing(self, playing: bool) -> None:
        self.playing = playing
        self.play_button.setText("❚❚  Pause" if playing else "▶  Play")
        self.play_button.setChecked(playing)

    def set_speed(self, speed: float) -> None:
        index = self.speed.findData(speed)
        if index >= 0 and index != self.speed.currentIndex():
            self.speed.setCurrentIndex(index)

    def current_speed(self) -> float:
        return float(self.speed.currentData())

    def faster(self) -> None:
        self.speed.setCurrentIndex(min(self.speed.count() - 1, self.speed.currentIndex() + 1))

    def slower(self) -> None:
        self.speed.setCurrentIndex(max(0, self.speed.currentIndex() - 1))

    def step_kind(self) -> StepKind:
        return STEP_KIND_BY_KEY[str(self.kind.currentData())]

    def set_step_kind(self, key: str) -> None:
        index = self.kind.findData(key)
        if index < 0:
            raise KeyError(key)
        self.kind.setCurrentIndex(index)

    def set_markers(self, markers: Sequence[Marker], legend: str = "") -> None:
        self.scrubber.set_markers(markers, legend)

    def set_bookmarks(self, instants: Sequence[int]) -> None:
        self.scrubber.set_bookmarks(instants)

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        t = theme
        mono = tabular_font().family()
        self.setStyleSheet(
            f"""
            QWidget#timeline_bar {{ background: {t.panel}; }}
            QLabel#elapsed {{ font-family: "{mono}"; font-size: 22pt; font-weight: bold;
                color: {t.text}; padding: 0 6px; }}
            QLabel#wall {{ font-family: "{mono}"; font-size: 13pt; color: {t.muted}; }}
            QPushButton#play {{ font-size: 13pt; font-weight: bold; min-width: 110px;
                padding: 5px 14px; }}
            QPushButton#bookmark {{ font-size: 12pt; padding: 5px 12px; }}
            QComboBox {{ font-size: 12pt; padding: 2px 6px; }}
            QToolButton {{ font-size: 12pt; }}
            """
        )
        self.scrubber.set_theme(theme)

    # --- acts -----------------------------------------------------------------------------------

    def toggle_play(self) -> None:
        self.play_requested.emit(not self.playing)

    def _speed_picked(self, _index: int) -> None:
        self.speed_changed.emit(self.current_speed())

    def _step_previous(self) -> None:
        self.step_requested.emit(-1)

    def _step_next(self) -> None:
        self.step_requested.emit(1)


class BookmarksPanel(QWidget):
    """The bookmarks of the incident: instant and note; double-click (or Enter) jumps there."""

    jump_requested = Signal(object)
    remove_requested = Signal(object)

    def __init__(self, theme: Theme = NIGHT, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("bookmarks_panel")
        self.theme = theme
        self.origin_us = 0
        self.bookmarks: list[Bookmark] = []
        self.list = QListWidget()
        self.list.setObjectName("bookmark_list")
        self.list.setWordWrap(True)
        self.list.itemActivated.connect(self._activated)
        self.empty = QLabel("No bookmarks yet.\n\nPress B (or ★ Bookmark) to mark the instant "
                            "shown, with a note for the debrief.")  # fmt: skip
        self.empty.setObjectName("empty")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.remove_button = QPushButton("Remove selected")
        self.remove_button.setObjectName("remove_bookmark")
        self.remove_button.clicked.connect(self._remove_selected)
        column = QVBoxLayout(self)
        column.setContentsMargins(6, 6, 6, 6)
        column.addWidget(self.empty)
        column.addWidget(self.list, 1)
        column.addWidget(self.remove_button)
        self.set_bookmarks([], 0)
        self.set_theme(theme)

    def set_bookmarks(self, bookmarks: Sequence[Bookmark], origin_us: int) -> None:
        self.bookmarks = sorted(bookmarks, key=lambda b: b.at_us)
        self.origin_us = origin_us
        self.list.clear()
        for mark in self.bookmarks:
            text = f"{elapsed_text(mark.at_us, origin_us)}   {mark.note or '(no note)'}"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, mark.at_us)
            tip = wall_text(mark.at_us) + (f" — by {mark.by}" if mark.by else "")
            item.setToolTip(tip)
            self.list.addItem(item)
        has = bool(self.bookmarks)
        self.empty.setVisible(not has)
        self.list.setVisible(has)
        self.remove_button.setVisible(has)

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        t = theme
        self.setStyleSheet(
            f"""
            QWidget#bookmarks_panel {{ background: {t.panel}; }}
            QLabel#empty {{ color: {t.muted}; font-size: 12pt; }}
            QListWidget#bookmark_list {{ font-size: 12pt; }}
            """
        )

    def _activated(self, item: QListWidgetItem) -> None:
        self.jump_requested.emit(int(item.data(Qt.ItemDataRole.UserRole)))

    def _remove_selected(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self.remove_requested.emit(int(item.data(Qt.ItemDataRole.UserRole)))


def now_wall_us() -> int:
    """The wall clock (for a bookmark's creation time)."""
    return int(datetime.now().timestamp() * US_PER_S)


__all__ = [
    "SPEEDS",
    "STEP_KINDS",
    "Bookmark",
    "BookmarkStore",
    "BookmarksPanel",
    "Marker",
    "Scrubber",
    "StepKind",
    "TimelineBar",
    "bookmarks_path",
    "elapsed_text",
    "wall_text",
]
