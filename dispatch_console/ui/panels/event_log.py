"""The event log panel: every event the console folded, newest on top, in plain words.

:class:`EventLogModel` mirrors ``console.log`` (a deque bounded at ``LOG_LIMIT`` events) and
follows it incrementally: the new events of each refresh are inserted as rows at the top
(``beginInsertRows``), and the oldest events the deque dropped are removed from the bottom
(``beginRemoveRows``). It never resets unless it finds itself out of step with the deque (a
refresh missed), and then it rebuilds once from the deque.

Times are shown as ``HH:MM:SS`` in the console computer's **local** time zone (the column says
so; the tooltip has the full UTC time). :class:`EventLogFilter` hides responder positions by
default (they flood the log: a report every few seconds per responder) and filters by event
type and by responder. :class:`EventLogPanel` follows the newest events unless the user scrolls
away from the top; then the rows they read stay still while new ones arrive above. Activating a
row (double-click, Enter) focuses its incident and selects its responder (origin "event_log").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from dispatch_console.app.live import Changes, ConsoleState
from dispatch_console.domain import events as ev
from dispatch_console.domain.sentences import sentence
from dispatch_console.domain.state import IncidentState
from dispatch_console.domain.text import neutralise
from dispatch_console.domain.timeutil import iso
from dispatch_console.ui.shell.header import local_clock, words
from dispatch_console.ui.shell.selection import Selection
from dispatch_console.ui.shell.theme import Theme, tabular_font

ModelIndex = QModelIndex | QPersistentModelIndex
POSITION = ev.ResponderPosition.TYPE
#: Shown bold: the alert history reads out of the log at a glance.
ALERT_TYPES = frozenset({ev.AlertReceived.TYPE, ev.AlertRevised.TYPE, ev.AlertAcknowledged.TYPE})
ROSTER_WORDS = {
    "sworn_active": "sworn, active",
    "retired": "retired (LEOSA)",
    "not_on_roster": "UNVERIFIED: not on any roster",
}
#: Event types of incidents (the log holds no reference-data events).
INCIDENT_TYPES = tuple(sorted(t for t in ev.PAYLOAD_TYPES if t not in ev.REFERENCE_DATA_TYPES))


def type_words(event_type: str) -> str:
    """``responder_arrived`` -> ``responder arrived``."""
    return words(event_type)


def actor_text(actor: ev.Actor) -> str:
    """``console_user: Dispatcher A. Moreno``."""
    return neutralise(f"{actor.kind.value}: {actor.name}")


def _metres(value: float | None) -> str:
    return f" ±{value:.0f} m" if value is not None else ""


def _radius(radius_m: float | None) -> str:
    return f", radius {radius_m:.0f} m" if radius_m else ""


def _area_name(state: IncidentState | None, area_id: str | None) -> str:
    if area_id is None:
        return "(no area)"
    area = state.staging_areas.get(area_id) if state else None
    return area.name if area else area_id


def summarize(event: ev.Event, state: IncidentState | None) -> str:
    """One line saying what the event means, from its payload (and the incident's names), with
    a sender's control and bidi characters made visible (the event log and the report)."""
    return neutralise(_summary(event, state))


def _summary(event: ev.Event, state: IncidentState | None) -> str:
    p = event.payload
    describe = _SUMMARIES.get(type(p))
    if describe is not None:
        return describe(p, state)
    return sentence(event, state)


def _position(p: ev.ResponderPosition, _s: IncidentState | None) -> str:
    return f"{p.lat:.4f}, {p.lon:.4f}{_metres(p.accuracy_m)}"


def _arrived(p: ev.ResponderArrived, s: IncidentState | None) -> str:
    if p.place == "staging":
        return f"at staging {_area_name(s, p.staging_area_id)}"
    return "on scene"


def _alert_received(p: ev.AlertReceived, _s: IncidentState | None) -> str:
    who = p.activated_by_name or "unknown"
    if p.activated_by_role:
        who += f" ({p.activated_by_role})"
    where = " — ".join(x for x in (p.location_detail, p.message) if x)
    return f"{words(p.alert_type).upper()} activated by {who}" + (f": {where}" if where else "")


def _profile(p: ev.ResponderProfileReported, _s: IncidentState | None) -> str:
    parts = [
        p.name,
        p.agency,
        p.badge and f"badge {p.badge}",
        p.duty and f"{p.duty} duty",
        p.attire and p.attire.describe(),
        p.has_radio is not None and ("radio" if p.has_radio else "no radio"),
    ]
    return ", ".join(str(x) for x in parts if x)


def _roster(p: ev.ResponderRosterChecked, _s: IncidentState | None) -> str:
    text = ROSTER_WORDS.get(p.verdict, p.verdict)
    if p.roster_name:
        text += f" as {p.roster_name}"
    return text + (f" ({p.reason})" if p.reason else "")


def _equipment(p: ev.ResponderEquipmentIssued, _s: IncidentState | None) -> str:
    parts = [
        p.radio_id and f"radio {p.radio_id}",
        p.radio_channel and f"channel {p.radio_channel}",
        p.marking and words(p.marking),
    ]
    return ", ".join(x for x in parts if x) or "nothing recorded"


def _opened(p: ev.IncidentOpened, _s: IncidentState | None) -> str:
    exercise = " · EXERCISE" if p.exercise else ""
    return f"{p.school_name} · {words(p.incident_type)}{exercise}"


_SUMMARIES: dict[type[ev.Payload], Callable[[Any, IncidentState | None], str]] = {
    ev.IncidentOpened: _opened,
    ev.AlertReceived: _alert_received,
    ev.AlertRevised: lambda p, _s: (
        "alert revised: "
        + (" — ".join(x for x in (p.location_detail, p.message) if x) or "no change")
    ),
    ev.AlertAcknowledged: lambda p, _s: f"alert {p.alert_id} acknowledged by {p.by}",
    ev.IncidentCommanderAssigned: lambda p, _s: f"incident commander: {p.name}",
    ev.IncidentStatusChanged: lambda p, _s: words(p.status) + (f": {p.reason}" if p.reason else ""),
    ev.SuspectDescriptionRevised: lambda p, _s: p.description.describe(),
    ev.StagingAreaSet: lambda p, _s: p.name + _radius(p.radius_m),
    ev.StagingAreaRemoved: lambda p, s: f"removed {_area_name(s, p.staging_area_id)}",
    ev.PerimeterSet: lambda p, _s: f"{p.kind} perimeter" + _radius(p.radius_m),
    ev.PerimeterRemoved: lambda p, _s: f"removed {p.perimeter_id}",
    ev.CheckInPointSet: lambda p, _s: f"{p.name} at {p.lat:.4f}, {p.lon:.4f}",
    ev.ResponderNotified: lambda p, _s: f"device {p.device_id} ({p.notified_by})",
    ev.ResponderProfileReported: _profile,
    ev.ResponderRosterChecked: _roster,
    ev.ResponderAcknowledged: lambda p, _s: "responding" if p.responding else "declined",
    ev.ResponderPosition: _position,
    ev.ResponderEnRoute: lambda _p, _s: "en route",
    ev.ResponderArrived: _arrived,
    ev.ResponderDirected: lambda p, s: f"to staging {_area_name(s, p.staging_area_id)}",
    ev.ResponderIdentified: lambda p, _s: (
        f"{words(p.method)} by {p.verifier}" + (f", team {p.team}" if p.team else "")
    ),
    ev.ResponderEquipmentIssued: _equipment,
    ev.ResponderStaged: lambda p, s: f"staged at {_area_name(s, p.staging_area_id)}",
    ev.ResponderAssigned: lambda p, _s: ", ".join(
        x
        for x in (
            f"{words(p.task)}, {p.team}",
            p.location and f"at {p.location}",
            p.radio_channel and f"radio {p.radio_channel}",
            p.report_to and f"report to {p.report_to}",
        )
        if x
    ),
    ev.ResponderReleased: lambda p, _s: p.reason or "released",
    ev.DirectiveQueued: lambda p, _s: f"{words(p.kind)}: “{p.text}”",
    ev.DirectiveDelivered: lambda p, _s: f"directive {p.directive_id} delivered via {p.via}",
    ev.DirectiveAcknowledged: lambda p, _s: f"directive {p.directive_id} acknowledged",
}


class EventLogModel(QAbstractTableModel):
    """``console.log`` as a table, newest event in row 0."""

    TIME, INCIDENT, TYPE, RESPONDER, ACTOR, SOURCE, SUMMARY = range(7)
    HEADERS: ClassVar[tuple[str, ...]] = (
        "Time (local)",
        "Incident",
        "Type",
        "Responder",
        "Actor",
        "Source",
        "Summary",
    )

    def __init__(self, console: ConsoleState, theme: Theme, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.console = console
        self.theme = theme
        #: Oldest first, like the deque (row r shows ``_events[-1 - r]``).
        self._events: list[ev.Event] = list(console.log)
        self._muted = QColor(theme.muted)
        self._bold = QFont()
        self._bold.setBold(True)
        self._mono = tabular_font(11)

    # --- following the deque ---------------------------------------------------------------

    def append(self, new_events: Sequence[ev.Event]) -> None:
        """Insert ``new_events`` (in sequence order, already in ``console.log``) at the top and
        drop the rows of the events the bounded deque let go."""
        log = self.console.log
        if new_events:
            if len(new_events) > len(log) or not self._in_step(new_events):
                self.reset()
                return
            count = len(new_events)
            self.beginInsertRows(QModelIndex(), 0, count - 1)
            self._events.extend(new_events)
            self.endInsertRows()
        excess = len(self._events) - len(log)
        if excess > 0:
            total = len(self._events)
            self.beginRemoveRows(QModelIndex(), total - excess, total - 1)
            del self._events[:excess]
            self.endRemoveRows()
        if self._events and (len(self._events) != len(log) or self._events[0] is not log[0]):
            self.reset()

    def _in_step(self, new_events: Sequence[ev.Event]) -> bool:
        """The deque ends with exactly our events followed by ``new_events``."""
        log = self.console.log
        if log[-1] is not new_events[-1]:
            return False
        before = len(log) - len(new_events) - 1
        if not self._events:
            return True
        return before < 0 or log[before] is self._events[-1]

    def reset(self) -> None:
        self.beginResetModel()
        self._events = list(self.console.log)
        self.endResetModel()

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self._muted = QColor(theme.muted)
        if self._events:
            self.dataChanged.emit(
                self.index(0, 0),
                self.index(len(self._events) - 1, len(self.HEADERS) - 1),
                [Qt.ItemDataRole.ForegroundRole],
            )

    # --- reading -------------------------------------------------------------------------------

    def event_at(self, row: int) -> ev.Event:
        return self._events[-1 - row]

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._events)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(self.HEADERS)
        ):
            return self.HEADERS[section]
        return None

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._events):
            return None
        event = self.event_at(index.row())
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(event, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(event, column)
        if role == Qt.ItemDataRole.ForegroundRole and event.type == POSITION:
            return self._muted
        if role == Qt.ItemDataRole.FontRole:
            if column == self.TIME:
                return self._mono
            if column in (self.TYPE, self.SUMMARY) and event.type in ALERT_TYPES:
                return self._bold
        return None

    def text(self, event: ev.Event, column: int) -> str:
        state = self.console.incident(event.incident_id)
        if column == self.TIME:
            return local_clock(event.occurred_at_us)
        if column == self.INCIDENT:
            return (state.school_name if state else "") or (event.incident_id or "")
        if column == self.TYPE:
            return type_words(event.type)
        if column == self.RESPONDER:
            return self.responder_text(event, state)
        if column == self.ACTOR:
            return actor_text(event.actor)
        if column == self.SOURCE:
            return event.source.value
        if column == self.SUMMARY:
            return summarize(event, state)
        return ""

    @staticmethod
    def responder_id_of(event: ev.Event, state: IncidentState | None) -> str | None:
        responder_id: str | None = getattr(event.payload, "responder_id", None)
        directive_id = getattr(event.payload, "directive_id", None)
        if responder_id is None and directive_id is not None and state is not None:
            directive = state.directives.get(directive_id)
            responder_id = directive.responder_id if directive else None
        return responder_id

    def responder_text(self, event: ev.Event, state: IncidentState | None) -> str:
        """The responder's callsign (or name, or id) as the incident knows them now."""
        responder_id = self.responder_id_of(event, state)
        if responder_id is None:
            return ""
        responder = state.responders.get(responder_id) if state else None
        return responder.display_name if responder else responder_id

    def _tooltip(self, event: ev.Event, column: int) -> str:
        if column == self.TIME:
            return (
                f"event time {iso(event.occurred_at_us)}\n"
                f"received {iso(event.received_at_us)}\nsequence {event.seq}"
            )
        if column == self.RESPONDER:
            state = self.console.incident(event.incident_id)
            responder_id = self.responder_id_of(event, state)
            responder = state.responders.get(responder_id) if state and responder_id else None
            if responder is not None:
                parts = (responder.name, responder.agency, responder.callsign, responder_id)
                return " · ".join(p for p in parts if p)
        if column == self.INCIDENT:
            return event.incident_id or ""
        return self.text(event, column)


class EventLogFilter(QSortFilterProxyModel):
    """Hides positions (by default), keeps one event type, or one responder's events."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.hide_positions = True
        self.event_type: str | None = None
        self.responder_text = ""

    def set_hide_positions(self, hide: bool) -> None:
        if hide != self.hide_positions:
            self.beginFilterChange()
            self.hide_positions = hide
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_event_type(self, event_type: str | None) -> None:
        if event_type != self.event_type:
            self.beginFilterChange()
            self.event_type = event_type
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_responder_text(self, text: str) -> None:
        text = text.strip().casefold()
        if text != self.responder_text:
            self.beginFilterChange()
            self.responder_text = text
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: ModelIndex) -> bool:
        model = self.sourceModel()
        if not isinstance(model, EventLogModel):
            return True
        event = model.event_at(source_row)
        if self.event_type is not None and event.type != self.event_type:
            return False
        if self.hide_positions and event.type == POSITION:
            return False
        if self.responder_text:
            state = model.console.incident(event.incident_id)
            responder_id = model.responder_id_of(event, state)
            if responder_id is None:
                return False
            responder = state.responders.get(responder_id) if state else None
            names = [responder_id]
            if responder is not None:
                names += [responder.callsign or "", responder.name or ""]
            return any(self.responder_text in n.casefold() for n in names)
        return True


class EventLogPanel(QWidget):
    """The log table with its filters (panel contract: ``refresh``, ``set_theme``)."""

    def __init__(
        self,
        console: ConsoleState,
        selection: Selection,
        theme: Theme,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.console = console
        self.selection = selection
        self.theme = theme
        self.model = EventLogModel(console, theme, self)
        self.proxy = EventLogFilter(self)
        self.proxy.setSourceModel(self.model)
        self._adjusting = False

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        bar = QHBoxLayout()
        bar.setSpacing(8)
        self.type_combo = QComboBox(self)
        self.type_combo.addItem("All event types", None)
        for event_type in INCIDENT_TYPES:
            self.type_combo.addItem(type_words(event_type), event_type)
        self.type_combo.setMaxVisibleItems(30)
        self.type_combo.currentIndexChanged.connect(self._on_type_changed)
        self.hide_positions = QCheckBox("Hide positions", self)
        self.hide_positions.setChecked(True)
        self.hide_positions.setToolTip("Responder positions arrive every few seconds each")
        self.hide_positions.toggled.connect(self._on_hide_positions)
        self.responder_filter = QLineEdit(self)
        self.responder_filter.setPlaceholderText("Responder: callsign, name or id")
        self.responder_filter.setClearButtonEnabled(True)
        self.responder_filter.textChanged.connect(self.proxy.set_responder_text)
        self.follow = QCheckBox("Follow live", self)
        self.follow.setChecked(True)
        self.follow.setToolTip("Keep the newest event in view (scroll down to stop)")
        self.follow.toggled.connect(self._on_follow_toggled)
        self.count = QLabel(self)
        self.count.setProperty("role", "muted")
        type_label = QLabel("Type", self)
        bar.addWidget(type_label)
        bar.addWidget(self.type_combo)
        bar.addWidget(self.hide_positions)
        self.responder_filter.setMinimumWidth(260)
        bar.addWidget(self.responder_filter)
        bar.addStretch(1)
        bar.addWidget(self.follow)
        bar.addWidget(self.count)
        layout.addLayout(bar)

        self.table = QTableView(self)
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerItem)
        self.table.setWordWrap(False)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        vertical = self.table.verticalHeader()
        vertical.hide()
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vertical.setDefaultSectionSize(24)
        horizontal = self.table.horizontalHeader()
        horizontal.setStretchLastSection(True)
        horizontal.setHighlightSections(False)
        horizontal.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        widths = (130, 170, 210, 110, 320, 90)
        for column, width in enumerate(widths):
            self.table.setColumnWidth(column, width)
        layout.addWidget(self.table, 1)

        self.table.activated.connect(self._on_activated)
        self.table.verticalScrollBar().valueChanged.connect(self._on_scrolled)
        self.proxy.rowsInserted.connect(self._on_rows_inserted)
        self.proxy.rowsInserted.connect(self._update_count)
        self.proxy.rowsRemoved.connect(self._update_count)
        self.proxy.modelReset.connect(self._update_count)
        self.proxy.layoutChanged.connect(self._update_count)
        self.set_theme(theme)
        self._update_count()

    # --- panel contract ------------------------------------------------------------------

    def refresh(self, changes: Changes, now_us: int) -> None:
        if changes.events or len(self.console.log) != self.model.rowCount():
            self.model.append(changes.events)

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.model.set_theme(theme)
        self.table.setStyleSheet(f"QTableView {{ alternate-background-color: {theme.window}; }}")

    # --- following -------------------------------------------------------------------------

    @property
    def following(self) -> bool:
        return self.follow.isChecked()

    def _on_rows_inserted(self, parent: QModelIndex, first: int, last: int) -> None:
        bar = self.table.verticalScrollBar()
        if self.following:
            self.table.scrollToTop()
        elif first <= bar.value():
            # Keep the rows the user is reading still while newer ones arrive above them.
            self._adjusting = True
            bar.setValue(bar.value() + last - first + 1)
            self._adjusting = False

    def _on_scrolled(self, value: int) -> None:
        if not self._adjusting:
            self.follow.setChecked(value == 0)

    def _on_follow_toggled(self, on: bool) -> None:
        if on:
            self.table.scrollToTop()

    def _on_activated(self, index: QModelIndex) -> None:
        """Double-click or Enter on an event: focus its incident and select its responder."""
        event = self.model.event_at(self.proxy.mapToSource(index).row())
        if event.incident_id is None:
            return
        self.selection.focus(event.incident_id)
        state = self.console.incidents.get(event.incident_id)
        responder_id = self.model.responder_id_of(event, state)
        if responder_id is not None:
            self.selection.select({responder_id}, "event_log")

    # --- filters ---------------------------------------------------------------------------

    def _on_type_changed(self, _index: int) -> None:
        event_type = self.type_combo.currentData()
        if event_type == POSITION:
            self.hide_positions.setChecked(False)  # asking for positions shows them
        self.proxy.set_event_type(event_type)

    def _on_hide_positions(self, hide: bool) -> None:
        if hide and self.type_combo.currentData() == POSITION:
            self.type_combo.setCurrentIndex(0)
        self.proxy.set_hide_positions(hide)

    def _update_count(self) -> None:
        self.count.setText(f"{self.proxy.rowCount():,} of {self.model.rowCount():,} events")
