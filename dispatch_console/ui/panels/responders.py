"""The responders table: every responder of the focused incident, filtered, sorted, selectable.

:class:`ResponderTableModel` is a flat Qt table over the focused incident's responders in the
:class:`~dispatch_console.app.live.ConsoleState`. Cell text comes from
:func:`dispatch_console.domain.views.responder_row` (so the CLI and the console agree), computed
lazily for the rows Qt actually paints and cached until the responder changes. What sorting and
filtering need for *every* row (distance, status order, flags) is kept per responder and updated
only for the responders a :class:`~dispatch_console.app.live.Changes` names: distances of all
changed responders are projected in one vectorised call.

Sorting happens in the model (``ResponderTableModel.sort``: one Python ``sorted`` over cached
keys, then a ``layoutChanged``), not in the proxy: ``QSortFilterProxyModel`` compares rows by
calling the model's ``data()`` from C++ about 43,000 times to re-sort 2,000 changed rows
(~100 ms measured), while a Python sort of cached keys and the layout change take ~3 ms.
:class:`ResponderFilterProxy` still owns the sort call (the view's header talks to it) and
passes it to the model. A live sort is re-applied at most once a second, so rows do not jump
under the dispatcher's cursor at 10 Hz.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from enum import IntEnum
from typing import Any

import numpy as np
from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractTableModel,
    QByteArray,
    QEvent,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPointF,
    QSize,
    QSortFilterProxyModel,
    Qt,
    QTimer,
)
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dispatch_console.app.live import Changes, ConsoleState
from dispatch_console.domain.geometry import LocalFrame, local_frame, straight_line_eta_s
from dispatch_console.domain.lifecycle import PRESENT, RESPONDING, ResponderStatus
from dispatch_console.domain.state import IncidentState, Responder
from dispatch_console.domain.timeutil import US_PER_S, format_duration
from dispatch_console.domain.views import ResponderRow, responder_row
from dispatch_console.ui.shell.selection import Selection
from dispatch_console.ui.shell.theme import Theme, tabular_font

Index = QModelIndex | QPersistentModelIndex

#: The responder id of a row (any column).
ResponderIdRole = int(Qt.ItemDataRole.UserRole) + 1
#: Raw values to sort by: numbers for distance, ETA, age; the lifecycle index for status.
SortRole = int(Qt.ItemDataRole.UserRole) + 2

#: How often time alone (position ages, staleness) refreshes the table and re-applies a sort.
TICK_US = US_PER_S

_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_DECORATION = int(Qt.ItemDataRole.DecorationRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_FONT = int(Qt.ItemDataRole.FontRole)
_ALIGN = int(Qt.ItemDataRole.TextAlignmentRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)

_STATUS_ORDER = {status: i for i, status in enumerate(ResponderStatus)}
_QUIET_STATUSES = frozenset({ResponderStatus.DECLINED, ResponderStatus.RELEASED})
#: A directed responder counts as "directed" until they reach staging (or are identified).
_DIRECTED_STATUSES = frozenset(
    {
        ResponderStatus.NOTIFIED,
        ResponderStatus.ACKNOWLEDGED,
        ResponderStatus.EN_ROUTE,
        ResponderStatus.ON_SCENE,
    }
)


class Column(IntEnum):
    NAME = 0
    AGENCY = 1
    DUTY = 2
    ATTIRE = 3
    ROSTER = 4
    STATUS = 5
    SELF_DISPATCHED = 6
    IDENTIFIED = 7
    DISTANCE = 8
    ETA = 9
    AGE = 10


HEADERS = {
    Column.NAME: "Callsign · name",
    Column.AGENCY: "Agency",
    Column.DUTY: "Duty",
    Column.ATTIRE: "Attire",
    Column.ROSTER: "Roster",
    Column.STATUS: "Status",
    Column.SELF_DISPATCHED: "Self-disp.",
    Column.IDENTIFIED: "Identified",
    Column.DISTANCE: "Distance",
    Column.ETA: "ETA",
    Column.AGE: "Pos. age",
}
HEADER_TIPS = {
    Column.NAME: "Callsign and the name the responder's device claims",
    Column.ROSTER: "Roster check of the claimed identity: UNVERIFIED = not on any imported roster",
    Column.SELF_DISPATCHED: "Went en route without being directed by dispatch or the IC",
    Column.IDENTIFIED: "Identity verified in person (ICS check-in)",
    Column.DISTANCE: "Straight-line distance to the school",
    Column.ETA: "Straight-line ETA to the school at the responder's speed",
    Column.AGE: "Time since the last position report; STALE when past its stale time",
}
_COLUMNS = len(Column)
_NUMERIC = frozenset({Column.DISTANCE, Column.ETA, Column.AGE})
_ROLES = frozenset(
    {_DISPLAY, SortRole, ResponderIdRole, _FOREGROUND, _FONT, _DECORATION, _ALIGN, _TOOLTIP}
)
_ITEM_FLAGS = (
    Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren
)
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_TIME_COLUMNS = (Column.DISTANCE, Column.AGE)  # the columns time alone changes (first, last)

# --- filters ---------------------------------------------------------------------------------

SELF_DISPATCHED = 1
UNIDENTIFIED = 2
PLAINCLOTHES = 4
STALE = 8
UNVERIFIED = 16
AT_STAGING = 32
DIRECTED = 64

#: Filter name -> flag bit, in the order of the filter bar.
FILTERS: dict[str, int] = {
    "self_dispatched": SELF_DISPATCHED,
    "unidentified": UNIDENTIFIED,
    "plainclothes": PLAINCLOTHES,
    "stale": STALE,
    "unverified": UNVERIFIED,
    "at_staging": AT_STAGING,
    "directed": DIRECTED,
}
FILTER_LABELS = {
    "self_dispatched": "Self-dispatched",
    "unidentified": "Unidentified",
    "plainclothes": "Plainclothes",
    "stale": "Stale",
    "unverified": "Unverified",
    "at_staging": "At staging",
    "directed": "Directed",
}
FILTER_TIPS = {
    "self_dispatched": "Responders who went en route without being directed",
    "unidentified": "En route or at the incident, identity not yet verified in person",
    "plainclothes": "Responders not in uniform",
    "stale": "En route or at the incident with a stale position (or none)",
    "unverified": "Claimed identity not on any roster, or not checked yet",
    "at_staging": "Arrived at a staging area (and not yet identified)",
    "directed": "Directed to a staging area by dispatch or the IC, not arrived there yet",
}


def responder_flags(responder: Responder, now_us: int) -> int:
    """The filter bits of one responder at ``now_us`` (see :data:`FILTERS`).

    Unidentified and stale count only responders en route or at the incident (as the header's
    counts do); self-dispatched, plainclothes and unverified are facts about the person.
    """
    flags = 0
    if responder.self_dispatched:
        flags |= SELF_DISPATCHED
    if responder.plainclothes:
        flags |= PLAINCLOTHES
    if responder.unverified:
        flags |= UNVERIFIED
    if responder.status is ResponderStatus.AT_STAGING:
        flags |= AT_STAGING
    if responder.directed_to is not None and responder.status in _DIRECTED_STATUSES:
        flags |= DIRECTED
    if responder.status in RESPONDING:
        if not responder.identified:
            flags |= UNIDENTIFIED
        if responder.is_stale(now_us):
            flags |= STALE
    return flags


# --- text formats (shared with the detail panel) ---------------------------------------------


def format_distance(distance_m: float | None) -> str:
    return "—" if distance_m is None else f"{distance_m / 1000:.1f} km"


def format_eta(eta_s: float | None, status: ResponderStatus | None = None) -> str:
    if eta_s is None:
        return "—"
    if status in PRESENT:
        return "arrived"
    seconds = round(eta_s)
    return f"{seconds // 60}:{seconds % 60:02d}"


def format_age(age_s: float | None) -> str:
    """``12 s`` under a minute, then ``2m 10s``; ``—`` without a position."""
    if age_s is None:
        return "—"
    if age_s < 60:
        return f"{int(age_s)} s"
    return format_duration(int(age_s * US_PER_S))


def position_age_s(responder: Responder, now_us: int) -> float | None:
    """Seconds since the last position (the formula of ``views.responder_row``), live."""
    pos = responder.position
    return None if pos is None else max(0.0, (now_us - pos.at_us) / 1e6)


def name_text(row: ResponderRow, callsign: str | None) -> str:
    if callsign and callsign != row.name:
        return f"{callsign} · {row.name}"
    return row.name


# --- the model -------------------------------------------------------------------------------


class ResponderTableModel(QAbstractTableModel):
    """The focused incident's responders, one row each, updated incrementally by
    :meth:`refresh`; :meth:`set_incident` resets it for another incident."""

    def __init__(
        self,
        console: ConsoleState,
        theme: Theme,
        incident_id: str | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._console = console
        self._theme = theme
        self._incident_id: str | None = None
        self._state: IncidentState | None = None
        self._frame: LocalFrame | None = None
        self._school_xy = (0.0, 0.0)
        self._now_us = 0
        self._last_tick_us = 0
        #: Responder ids in row order; ``_row_of`` is its inverse.
        self._ids: list[str] = []
        self._row_of: dict[str, int] = {}
        #: Responder ids in notification order (the tie-break of every sort).
        self._notified: list[str] = []
        self._rows: dict[str, ResponderRow] = {}  # lazily computed for painted rows
        self._haystack: dict[str, str] = {}  # lazily computed for the text filter
        self._flags: dict[str, int] = {}
        self._distance: dict[str, float | None] = {}
        self._counts = dict.fromkeys(FILTERS.values(), 0)
        self._sort_column = -1
        self._sort_order = Qt.SortOrder.AscendingOrder
        #: Responders changed since the last sort: the next time tick re-sorts.
        self._order_dirty = False
        #: Why the live order is held (pointer on the table, a row being acted on): while
        #: any reason holds, rows do not move; new rows go to the end.
        self.holds: set[str] = set()
        self._icons: dict[tuple[ResponderStatus, bool, bool, bool, bool], QIcon] = {}
        self._bold = QFont()
        self._bold.setBold(True)
        self._numbers = tabular_font(11)
        self._numbers_bold = tabular_font(11, bold=True)
        self._colors: dict[str, QColor] = {}
        self._set_colors(theme)
        if incident_id is not None:
            self.set_incident(incident_id)

    # --- public API ---------------------------------------------------------------------------

    @property
    def incident_id(self) -> str | None:
        return self._incident_id

    @property
    def now_us(self) -> int:
        return self._now_us

    def set_incident(self, incident_id: str | None, now_us: int | None = None) -> None:
        """Show another incident's responders (a model reset)."""
        self.beginResetModel()
        if now_us is not None:
            self._now_us = now_us
        self._incident_id = incident_id
        self._clear()
        state = self._console.incident(incident_id)
        if state is not None:
            self._adopt(state)
            self._append(list(state.responders))
            self._ids = self._sorted()
            self._row_of = {rid: i for i, rid in enumerate(self._ids)}
        self._last_tick_us = self._now_us
        self.endResetModel()

    def refresh(self, changes: Changes, now_us: int) -> None:
        """Fold in what ``changes`` names for the focused incident, and what time changed."""
        self._now_us = now_us
        if self._incident_id is None:
            return
        state = self._console.incidents.get(self._incident_id)
        if state is not self._state:  # the incident appeared, or a reload replaced its state
            self.set_incident(self._incident_id)
            return
        if state is None:
            return
        responders = state.responders
        fresh: list[str] = []
        if len(responders) > len(self._ids):
            fresh = [rid for rid in responders if rid not in self._row_of]
            first = len(self._ids)
            self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
            self._append(fresh)
            self.endInsertRows()
        inserted = set(fresh)
        changed = [
            rid
            for incident_id, rid in changes.responders
            if incident_id == self._incident_id and rid in self._row_of and rid not in inserted
        ]
        if changed:
            self._update(changed)
        tick = now_us - self._last_tick_us >= TICK_US or now_us < self._last_tick_us
        if tick:
            self._last_tick_us = now_us
            self._restale()
        if changed or inserted:
            self._order_dirty = True
        if self._sort_column >= 0 and self._order_dirty and (inserted or tick) and not self.holds:
            self._resort()
        rows = sorted(self._row_of[rid] for rid in changed)
        last_row = len(self._ids) - 1
        if tick and rows and 2 * len(rows) > last_row:  # most rows: one signal for all
            self.dataChanged.emit(self.index(0, 0), self.index(last_row, _COLUMNS - 1))
            return
        for first, last in _runs(rows):
            self.dataChanged.emit(self.index(first, 0), self.index(last, _COLUMNS - 1))
        if tick and self._ids:
            self.dataChanged.emit(
                self.index(0, _TIME_COLUMNS[0]), self.index(last_row, _TIME_COLUMNS[1])
            )

    def set_theme(self, theme: Theme) -> None:
        self._theme = theme
        self._set_colors(theme)
        self._icons.clear()
        if self._ids:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._ids) - 1, _COLUMNS - 1))

    def responder_id(self, row: int) -> str:
        return self._ids[row]

    def row_of(self, responder_id: str) -> int | None:
        return self._row_of.get(responder_id)

    def responder(self, row: int) -> Responder:
        assert self._state is not None
        return self._state.responders[self._ids[row]]

    def row(self, row: int) -> ResponderRow:
        """The ``views.responder_row`` of a row (cached until the responder changes)."""
        return self._row(self._ids[row])

    def flags_of(self, row: int) -> int:
        return self._flags[self._ids[row]]

    def haystack(self, row: int) -> str:
        """Lower-case name, callsign, agency and badge (for the text filter)."""
        rid = self._ids[row]
        text = self._haystack.get(rid)
        if text is None:
            r = self.responder(row)
            parts = (r.name, r.callsign, r.agency, r.badge, r.responder_id)
            text = self._haystack[rid] = "\n".join(p for p in parts if p).casefold()
        return text

    def counts(self) -> dict[str, int]:
        """How many responders each filter alone would show."""
        return {name: self._counts[bit] for name, bit in FILTERS.items()}

    @property
    def order_waiting(self) -> bool:
        """Rows changed since the last sort while the order was held."""
        return self._order_dirty and self._sort_column >= 0

    def resume_order(self) -> None:
        """Apply the sort held back (when the last hold is released)."""
        if self._sort_column >= 0 and self._order_dirty and not self.holds:
            self._resort()

    @property
    def sort_column(self) -> int:
        return self._sort_column

    # --- QAbstractTableModel ----------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else _COLUMNS

    def flags(self, index: Index) -> Qt.ItemFlag:
        return _ITEM_FLAGS if index.isValid() else Qt.ItemFlag.NoItemFlags

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < _COLUMNS:
            return None
        column = Column(section)
        if role == _DISPLAY:
            return HEADERS[column]
        if role == _TOOLTIP:
            return HEADER_TIPS.get(column)
        if role == _ALIGN:  # left, so the sort arrow on the right does not cover the title
            return _LEFT
        return None

    def data(self, index: Index, role: int = _DISPLAY) -> Any:
        if role not in _ROLES or not index.isValid():
            return None
        row = index.row()
        if not 0 <= row < len(self._ids):
            return None
        rid = self._ids[row]
        column = index.column()
        if role == _DISPLAY:
            return self._text(rid, column)
        if role == SortRole:
            return self._sort_key(rid, column)
        if role == ResponderIdRole:
            return rid
        if role == _FOREGROUND:
            return self._foreground(rid, column)
        if role == _FONT:
            return self._font(rid, column)
        if role == _DECORATION:
            return self._icon(rid) if column == Column.STATUS else None
        if role == _ALIGN:
            return _RIGHT if column in _NUMERIC else _LEFT
        if role == _TOOLTIP:
            return self._tooltip(rid, column)
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Order the rows by ``column``'s :data:`SortRole` value (-1: notification order)."""
        self._sort_column = column if 0 <= column < _COLUMNS else -1
        self._sort_order = order
        self._resort()

    # --- internals: rows ------------------------------------------------------------------------

    def _clear(self) -> None:
        self._state = None
        self._frame = None
        self._ids = []
        self._row_of = {}
        self._notified = []
        self._rows.clear()
        self._haystack.clear()
        self._flags.clear()
        self._distance.clear()
        self._counts = dict.fromkeys(FILTERS.values(), 0)

    def _adopt(self, state: IncidentState) -> None:
        self._state = state
        self._frame = local_frame(state.lon, state.lat)
        self._school_xy = self._frame.to_local(state.lon, state.lat)

    def _append(self, responder_ids: list[str]) -> None:
        for rid in responder_ids:
            self._row_of[rid] = len(self._ids)
            self._ids.append(rid)
            self._notified.append(rid)
            self._flags[rid] = 0
        self._update(responder_ids)

    def _update(self, responder_ids: Iterable[str]) -> None:
        """Recompute what sorting and filtering need for these responders; drop cached text.
        Distances of all of them come from one vectorised projection."""
        assert self._state is not None and self._frame is not None
        responders = self._state.responders
        now = self._now_us
        old_flags = self._flags
        drop_row = self._rows.pop
        drop_haystack = self._haystack.pop
        distance = self._distance
        located: list[str] = []
        lons: list[float] = []
        lats: list[float] = []
        for rid in responder_ids:
            r = responders[rid]
            drop_row(rid, None)
            drop_haystack(rid, None)
            flags = responder_flags(r, now)
            if flags != old_flags[rid]:
                self._set_flags(rid, flags, self._counts)
            pos = r.position
            if pos is None:
                distance[rid] = None
            else:
                located.append(rid)
                lons.append(pos.lon)
                lats.append(pos.lat)
        if located:
            xs, ys = self._frame.to_local_many(lons, lats)
            x0, y0 = self._school_xy
            distance.update(zip(located, np.hypot(xs - x0, ys - y0).tolist(), strict=True))

    def _set_flags(self, rid: str, flags: int, counts: dict[int, int]) -> None:
        before = self._flags.get(rid, 0)
        if flags == before:
            return
        for bit in counts:
            if before & bit:
                counts[bit] -= 1
            if flags & bit:
                counts[bit] += 1
        self._flags[rid] = flags

    def _restale(self) -> None:
        """Time moves positions into staleness: refresh the stale bit of every row."""
        assert self._state is not None
        responders = self._state.responders
        now = self._now_us
        for rid, flags in self._flags.items():
            r = responders[rid]
            stale = STALE if r.status in RESPONDING and r.is_stale(now) else 0
            if flags & STALE != stale:
                self._set_flags(rid, (flags & ~STALE) | stale, self._counts)

    def _row(self, rid: str) -> ResponderRow:
        row = self._rows.get(rid)
        if row is None:
            assert self._state is not None
            responder = self._state.responders[rid]
            row = self._rows[rid] = responder_row(self._state, responder, self._now_us, self._frame)
        return row

    # --- internals: sorting -------------------------------------------------------------------

    def _sort_key(self, rid: str, column: int) -> Any:
        """The raw value :data:`SortRole` returns (numbers where the column is a number)."""
        assert self._state is not None
        r = self._state.responders[rid]
        if column == Column.NAME:
            return (r.callsign or r.name or rid).casefold()
        if column == Column.AGENCY:
            return (r.agency or "").casefold()
        if column == Column.DUTY:
            return {"off": 0, "on": 1}.get(r.duty or "", 2)
        if column == Column.ATTIRE:
            if r.attire is None:
                return 3
            if r.attire.uniform:
                return 2
            return 1 if r.attire.visible_id not in (None, "none") else 0
        if column == Column.ROSTER:
            return {"not_on_roster": 0, None: 1, "retired": 2}.get(r.roster_verdict, 3)
        if column == Column.STATUS:
            return _STATUS_ORDER[r.status]
        if column == Column.SELF_DISPATCHED:
            return int(r.self_dispatched)
        if column == Column.IDENTIFIED:
            return int(r.identified)
        if column == Column.DISTANCE:
            return _number(self._distance.get(rid))
        if column == Column.ETA:
            return _number(self._eta(r, self._distance.get(rid)))
        if column == Column.AGE:
            return _number(position_age_s(r, self._now_us))
        return None

    @staticmethod
    def _eta(r: Responder, distance: float | None) -> float | None:
        """``views.responder_row``'s ETA from the cached distance (for sorting every row)."""
        if distance is None:
            return None
        if r.status is ResponderStatus.EN_ROUTE:
            pos = r.position
            return straight_line_eta_s(distance, pos.speed_mps if pos else None)
        return 0.0 if r.status in PRESENT else None

    def _sorted(self) -> list[str]:
        """Every row's id in the order of the sort column (ties: notification order)."""
        base = self._notified  # notification order
        column = self._sort_column
        if column < 0 or self._state is None:
            return list(base)
        if column == Column.DISTANCE:  # the live default: straight from the cached distances
            distance = self._distance
            keys: dict[str, Any] = {
                rid: math.inf if (d := distance[rid]) is None else d for rid in base
            }
        else:
            sort_key = self._sort_key
            keys = {rid: sort_key(rid, column) for rid in base}
        # Unknown numbers (no position) stay last in both directions.
        known = [rid for rid in base if keys[rid] != math.inf]
        unknown = [rid for rid in base if keys[rid] == math.inf]
        descending = self._sort_order == Qt.SortOrder.DescendingOrder
        return sorted(known, key=keys.__getitem__, reverse=descending) + unknown

    def _resort(self) -> None:
        self._order_dirty = False
        order = self._sorted()
        if order == self._ids:
            return
        self.layoutAboutToBeChanged.emit()
        new_row = {rid: i for i, rid in enumerate(order)}
        old = self.persistentIndexList()
        moved = [
            self.index(new_row[self._ids[i.row()]], i.column()) if i.isValid() else QModelIndex()
            for i in old
        ]
        self._ids = order
        self._row_of = new_row
        self.changePersistentIndexList(old, moved)
        self.layoutChanged.emit()

    # --- internals: presentation ----------------------------------------------------------------

    def _set_colors(self, theme: Theme) -> None:
        self._colors = {
            name: QColor(getattr(theme, name)) for name in ("text", "muted", "caution", "stale")
        }

    def _text(self, rid: str, column: int) -> str:
        assert self._state is not None
        r = self._state.responders[rid]
        if column == Column.AGE:
            age = position_age_s(r, self._now_us)
            text = format_age(age)
            if r.position is not None and r.position.is_stale(self._now_us):
                text += " STALE"
            return text
        row = self._row(rid)
        if column == Column.NAME:
            return name_text(row, r.callsign)
        if column == Column.AGENCY:
            return row.agency or "—"
        if column == Column.DUTY:
            return row.duty
        if column == Column.ATTIRE:
            # Bold text and the marker's ring say plainclothes: the room goes to what they wear.
            return row.attire.removeprefix("plainclothes: ")
        if column == Column.ROSTER:
            return row.roster
        if column == Column.STATUS:
            if r.directed_to is not None and r.status in _DIRECTED_STATUSES:
                area = self._state.staging_areas.get(r.directed_to)
                return f"{row.status.label} → {area.name if area else r.directed_to}"
            return row.status.label
        if column == Column.SELF_DISPATCHED:
            return "yes" if row.self_dispatched else ""
        if column == Column.IDENTIFIED:
            return "yes" if row.identified else "no"
        if column == Column.DISTANCE:
            return format_distance(row.distance_m)
        if column == Column.ETA:
            return format_eta(row.eta_s, row.status)
        return ""

    def _foreground(self, rid: str, column: int) -> QColor | None:
        assert self._state is not None
        r = self._state.responders[rid]
        colors = self._colors
        if column == Column.ROSTER and r.unverified:
            return colors["caution"]
        if column == Column.ATTIRE and _no_visible_id(r):
            return colors["caution"]
        if column == Column.IDENTIFIED and not r.identified and r.status in PRESENT:
            return colors["caution"]
        if column in _NUMERIC and r.status in RESPONDING and r.is_stale(self._now_us):
            if column == Column.AGE:
                return colors["caution"]
            return colors["stale"]
        if r.status in _QUIET_STATUSES:
            return colors["muted"]
        return None

    def _font(self, rid: str, column: int) -> QFont | None:
        assert self._state is not None
        r = self._state.responders[rid]
        if column in _NUMERIC:
            stale = column == Column.AGE and r.status in RESPONDING and r.is_stale(self._now_us)
            return self._numbers_bold if stale else self._numbers
        if column == Column.ROSTER and r.unverified:
            return self._bold
        if column == Column.DUTY and r.duty == "off":
            return self._bold
        if column == Column.ATTIRE and r.plainclothes:
            return self._bold
        if column == Column.IDENTIFIED and not r.identified and r.status in PRESENT:
            return self._bold
        return None

    def _icon(self, rid: str) -> QIcon:
        assert self._state is not None
        r = self._state.responders[rid]
        stale = r.status in RESPONDING and r.is_stale(self._now_us)
        key = (r.status, r.duty == "off", r.plainclothes, not r.identified, stale)
        icon = self._icons.get(key)
        if icon is None:
            icon = self._icons[key] = QIcon(marker_pixmap(self._theme, *key))
        return icon

    def _tooltip(self, rid: str, column: int) -> str | None:
        assert self._state is not None
        r = self._state.responders[rid]
        now = self._now_us
        if column == Column.NAME:
            parts = [
                r.callsign and f"callsign {r.callsign}",
                r.name,
                r.badge and f"badge {r.badge}",
                f"device {r.device_id}",
            ]
            return " · ".join(p for p in parts if p)
        if column == Column.ROSTER:
            verdict = self._row(rid).roster
            if r.roster_verdict == "not_on_roster":
                verdict = "NOT ON ROSTER: claimed identity unverified"
            return f"{verdict}: {r.roster_reason}" if r.roster_reason else verdict
        if column == Column.STATUS:
            since = format_duration(max(0, now - r.status_since_us)) if r.status_since_us else "?"
            return f"{r.status.label} for {since}"
        if column == Column.ATTIRE:
            return self._row(rid).attire
        if column in _NUMERIC:
            if r.position is None:
                return "no position reported"
            age = format_age(position_age_s(r, now))
            if r.position.is_stale(now):
                return f"STALE: last position {age} ago; distance and ETA are out of date"
            return f"last position {age} ago"
        if column == Column.IDENTIFIED and r.identification is not None:
            ident = r.identification
            return f"identified by {ident.verifier} ({ident.method.replace('_', ' ')})"
        return None


def _number(value: float | None) -> float:
    return math.inf if value is None else float(value)


def _no_visible_id(r: Responder) -> bool:
    return r.attire is not None and not r.attire.uniform and r.attire.visible_id in (None, "none")


def _runs(rows: list[int], max_runs: int = 32) -> Iterator[tuple[int, int]]:
    """Contiguous ``(first, last)`` runs of sorted row numbers; one span when too many."""
    if not rows:
        return
    runs: list[tuple[int, int]] = []
    first = last = rows[0]
    for row in rows[1:]:
        if row == last + 1:
            last = row
            continue
        runs.append((first, last))
        first = last = row
    runs.append((first, last))
    if len(runs) > max_runs:
        yield rows[0], rows[-1]
    else:
        yield from runs


def marker_pixmap(
    theme: Theme,
    status: ResponderStatus,
    off_duty: bool,
    plainclothes: bool,
    unidentified: bool,
    stale: bool,
    size: int = 16,
) -> QPixmap:
    """The map's marker in small: status colour (grey when stale), circle on duty, diamond off
    duty, a ring for plainclothes, a dashed outline when unidentified."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    fill = QColor(theme.stale if stale else theme.status[status])
    outline = QPen(QColor(theme.text), 1.4)
    if unidentified:
        outline.setStyle(Qt.PenStyle.DashLine)
    painter.setPen(outline)
    painter.setBrush(fill)
    c = size / 2
    r = size / 2 - (3.5 if plainclothes else 1.5)
    if off_duty:
        painter.drawPolygon(
            QPolygonF([QPointF(c, c - r), QPointF(c + r, c), QPointF(c, c + r), QPointF(c - r, c)])
        )
    else:
        painter.drawEllipse(QPointF(c, c), r, r)
    if plainclothes:
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor(theme.text), 1.2))
        painter.drawEllipse(QPointF(c, c), size / 2 - 0.8, size / 2 - 0.8)
    painter.end()
    return pixmap


# --- the proxy -------------------------------------------------------------------------------


class ResponderFilterProxy(QSortFilterProxyModel):
    """Filters (AND-combined) and a free-text search over name, callsign, agency and badge.

    Sorting is passed to the :class:`ResponderTableModel` (see the module's docstring); any
    other source model is sorted by the proxy itself, by :data:`SortRole`.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(SortRole)
        self.setDynamicSortFilter(True)
        self.setFilterKeyColumn(-1)
        self._table: ResponderTableModel | None = None
        self._mask = 0
        self._words: tuple[str, ...] = ()
        self._text = ""

    def setSourceModel(self, model: QAbstractItemModel) -> None:
        self._table = model if isinstance(model, ResponderTableModel) else None
        super().setSourceModel(model)

    def set_filter(self, name: str, enabled: bool) -> None:
        bit = FILTERS[name]
        mask = self._mask | bit if enabled else self._mask & ~bit
        if mask == self._mask:
            return
        self.beginFilterChange()
        self._mask = mask
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_text(self, text: str) -> None:
        words = tuple(text.casefold().split())
        self._text = text
        if words == self._words:
            return
        self.beginFilterChange()
        self._words = words
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    @property
    def text(self) -> str:
        return self._text

    def active_filters(self) -> frozenset[str]:
        return frozenset(name for name, bit in FILTERS.items() if self._mask & bit)

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        table = self._table
        if table is None:
            return True
        mask = self._mask
        if mask and table.flags_of(source_row) & mask != mask:
            return False
        if self._words:
            haystack = table.haystack(source_row)
            return all(word in haystack for word in self._words)
        return True

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if self._table is None:
            super().sort(column, order)
            return
        self._table.sort(column, order)


# --- the panel -------------------------------------------------------------------------------


class _RowDelegate(QStyledItemDelegate):
    """Selected rows: a lighter (night) or darker (day) band, a bar on the left and a line
    above and below, keeping each cell's own text colour (the style sheet's selection colour
    would paint over caution amber). The band is faint in the day theme so that amber text
    keeps its contrast; the lines carry the selection there."""

    def __init__(self, theme: Theme, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.set_theme(theme)

    def set_theme(self, theme: Theme) -> None:
        panel = QColor(theme.panel)
        share = 0.22 if panel.lightnessF() < 0.5 else 0.06
        self._band = _mix(panel, QColor(theme.selection), share)
        self._bar = QColor(theme.selection)
        self._line = _mix(panel, QColor(theme.selection), 0.6)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        state = option.state
        if not state & QStyle.StateFlag.State_Selected:
            super().paint(painter, option, index)
            return
        plain = QStyleOptionViewItem(option)
        plain.state = state & ~(QStyle.StateFlag.State_Selected | QStyle.StateFlag.State_HasFocus)
        rect = option.rect
        painter.fillRect(rect, self._band)
        super().paint(painter, plain, index)
        painter.fillRect(rect.x(), rect.y(), rect.width(), 1, self._line)
        painter.fillRect(rect.x(), rect.bottom(), rect.width(), 1, self._line)
        view = self.parent()
        if (
            isinstance(view, QTableView)
            and view.horizontalHeader().visualIndex(index.column()) == 0
        ):
            painter.fillRect(rect.x(), rect.y(), 4, rect.height(), self._bar)


def _mix(a: QColor, b: QColor, share: float) -> QColor:
    return QColor(
        round(a.red() + (b.red() - a.red()) * share),
        round(a.green() + (b.green() - a.green()) * share),
        round(a.blue() + (b.blue() - a.blue()) * share),
    )


class RespondersPanel(QWidget):
    """Filter bar (five toggles with live counts, a search field) over the responders table."""

    ORIGIN = "table"

    def __init__(
        self,
        console: ConsoleState,
        selection: Selection,
        theme: Theme,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._console = console
        self._selection = selection
        self._theme = theme
        self._quiet = 0
        self._model_changing = 0
        self.model = ResponderTableModel(console, theme, parent=self)
        self.proxy = ResponderFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        # Rows the model or a filter remove are not a user's deselection (the map keeps them
        # selected), so they are not echoed: these run before the view's selection model
        # reacts, and the matching ends (connected after the view's) after it.
        for begin in (
            self.proxy.rowsAboutToBeRemoved,
            self.proxy.rowsAboutToBeInserted,
            self.proxy.layoutAboutToBeChanged,
            self.proxy.modelAboutToBeReset,
        ):
            begin.connect(self._begin_model_change)

        self.buttons: dict[str, QToolButton] = {}
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 4, 6, 4)
        bar.setSpacing(6)
        self.summary = QLabel()
        self.summary.setFont(tabular_font(11))
        self.summary.setMinimumWidth(110)
        bar.addWidget(self.summary)
        for name in FILTERS:
            button = QToolButton(self)
            button.setCheckable(True)
            button.setToolTip(FILTER_TIPS[name])
            button.setObjectName(f"filter_{name}")
            button.setProperty("filter", name)
            button.toggled.connect(self._on_filter_toggled)
            bar.addWidget(button)
            self.buttons[name] = button
        #: Says when the live order is held (and that it resumed).
        self.order_note = QLabel(self)
        self.order_note.setObjectName("order_note")
        bar.addWidget(self.order_note)
        bar.addStretch(1)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Find: name, callsign, agency, badge  (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(170)
        self.search.setMaximumWidth(390)
        self.search.textChanged.connect(self._on_text_changed)
        bar.addWidget(self.search)

        self.view = QTableView(self)
        self.view.setModel(self.proxy)
        self._delegate = _RowDelegate(theme, self.view)
        self.view.setItemDelegate(self._delegate)
        font = self.view.font()
        font.setPointSize(max(11, font.pointSize()))
        self.view.setFont(font)
        self.view.setSortingEnabled(False)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.view.setIconSize(QSize(16, 16))
        self.view.setShowGrid(False)
        self.view.verticalHeader().hide()
        # Rows as tall as the text needs: the table shows 8 rows on a 1366×768 screen.
        self.view.verticalHeader().setDefaultSectionSize(self.view.fontMetrics().height() + 4)
        header = self.view.horizontalHeader()
        header.setSectionsMovable(True)
        header.setHighlightSections(False)
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setMinimumSectionSize(40)
        for column, width in _WIDTHS.items():
            header.resizeSection(column, width)
        # Attire takes whatever room is left: it is what tells a colleague from a suspect.
        header.setSectionResizeMode(Column.ATTIRE, QHeaderView.ResizeMode.Stretch)
        header.setSortIndicator(Column.DISTANCE, Qt.SortOrder.AscendingOrder)
        self.view.setSortingEnabled(True)  # sorts by the indicator: nearest first
        self.view.selectionModel().selectionChanged.connect(self._on_view_selection_changed)
        # Rows do not move under the pointer: the live order waits while it is on the table.
        self.view.viewport().installEventFilter(self)
        self._resumed_timer = QTimer(self)
        self._resumed_timer.setSingleShot(True)
        self._resumed_timer.setInterval(2500)
        self._resumed_timer.timeout.connect(self._show_order_note)
        for end in (
            self.proxy.rowsRemoved,
            self.proxy.rowsInserted,
            self.proxy.layoutChanged,
            self.proxy.modelReset,
        ):
            end.connect(self._end_model_change)
        selection.changed.connect(self._on_selection_changed)
        selection.focus_changed.connect(self._on_focus_changed)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)
        self.set_theme(theme)
        if selection.incident_id is not None:
            self._on_focus_changed(selection.incident_id)
        self._update_bar()

    # --- panel contract -----------------------------------------------------------------------

    def refresh(self, changes: Changes, now_us: int) -> None:
        with self._quietly():
            if self.model.incident_id != self._selection.incident_id:
                self.model.set_incident(self._selection.incident_id, now_us)
            self.model.refresh(changes, now_us)
        self._update_bar()

    def set_theme(self, theme: Theme) -> None:
        self._theme = theme
        self.order_note.setStyleSheet(f"color: {theme.caution}; font-weight: bold;")
        self._delegate.set_theme(theme)
        self.model.set_theme(theme)
        self.view.viewport().update()

    # --- for the main window --------------------------------------------------------------------

    def hold_order(self, reason: str) -> None:
        """Hold the live order (``reason``: ``"pointer"``, ``"acting"``...)."""
        self.model.holds.add(reason)
        self._show_order_note()

    def release_order(self, reason: str) -> None:
        """Release one hold; with none left the held sort is applied at once, visibly."""
        if reason not in self.model.holds:
            return
        self.model.holds.discard(reason)
        if not self.model.holds:
            waiting = self.model.order_waiting
            with self._quietly():
                self.model.resume_order()
            if waiting:
                self.order_note.setText("live order resumed: re-sorted")
                self._resumed_timer.start()
                return
        self._show_order_note()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.view.viewport():
            if event.type() == QEvent.Type.Enter:
                self.hold_order("pointer")
            elif event.type() == QEvent.Type.Leave:
                self.release_order("pointer")
        return super().eventFilter(watched, event)

    def _show_order_note(self) -> None:
        if self.model.holds:
            why = "pointer on the table" if "pointer" in self.model.holds else "acting on rows"
            text = f"⏸ live order held ({why})"
        else:
            text = ""
        if self.order_note.text() != text:
            self.order_note.setText(text)

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def toggle_filter(self, name: str) -> None:
        self.buttons[name].toggle()

    def set_filter(self, name: str, enabled: bool) -> None:
        self.buttons[name].setChecked(enabled)

    def row_height(self) -> int:
        return int(self.view.verticalHeader().defaultSectionSize())

    def visible_rows(self) -> int:
        """Whole rows the table's viewport has room for (whether or not there are as many)."""
        return self.view.viewport().height() // max(1, self.row_height())

    def header_state(self) -> bytes:
        return bytes(self.view.horizontalHeader().saveState().data())

    def restore_header_state(self, state: bytes) -> bool:
        header = self.view.horizontalHeader()
        if not header.restoreState(QByteArray(state)):
            return False
        with self._quietly():
            self.proxy.sort(header.sortIndicatorSection(), header.sortIndicatorOrder())
        return True

    def selected_ids(self) -> frozenset[str]:
        """The responders selected in the view (visible rows only)."""
        rows = self.view.selectionModel().selectedRows()
        return frozenset(str(self.proxy.data(i, ResponderIdRole)) for i in rows)

    # --- selection, both ways -------------------------------------------------------------------

    def _on_view_selection_changed(self, *_: object) -> None:
        if self._quiet or self._model_changing:
            return
        self._selection.select(self.selected_ids(), self.ORIGIN)

    def _on_selection_changed(self, origin: str) -> None:
        if origin == self.ORIGIN:
            return
        self._show_selection(scroll=True)

    def _show_selection(self, *, scroll: bool) -> None:
        """Select the rows of ``selection.responder_ids`` (by id, whatever the row order)."""
        wanted = self._selection.responder_ids
        if self.selected_ids() == self._visible(wanted):
            return
        chosen = QItemSelection()
        first: QModelIndex | None = None
        last_column = self.proxy.columnCount() - 1
        for rid in sorted(wanted):
            source_row = self.model.row_of(rid)
            if source_row is None:
                continue
            index = self.proxy.mapFromSource(self.model.index(source_row, 0))
            if not index.isValid():
                continue
            chosen.select(index, index.siblingAtColumn(last_column))
            if first is None or index.row() < first.row():
                first = index
        flags = (
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows
        )
        with self._quietly():
            model = self.view.selectionModel()
            model.select(chosen, flags)
            if first is not None:
                model.setCurrentIndex(first, QItemSelectionModel.SelectionFlag.NoUpdate)
        if scroll and first is not None:
            self.view.scrollTo(first, QAbstractItemView.ScrollHint.EnsureVisible)

    def _visible(self, ids: frozenset[str]) -> frozenset[str]:
        visible = set()
        for rid in ids:
            row = self.model.row_of(rid)
            if row is not None and self.proxy.mapFromSource(self.model.index(row, 0)).isValid():
                visible.add(rid)
        return frozenset(visible)

    def _on_focus_changed(self, incident_id: str) -> None:
        with self._quietly():
            self.model.set_incident(incident_id or None)
        self._update_bar()

    @contextmanager
    def _quietly(self) -> Iterator[None]:
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1

    def _begin_model_change(self, *_: object) -> None:
        self._model_changing += 1

    def _end_model_change(self, *_: object) -> None:
        self._model_changing = max(0, self._model_changing - 1)
        if not self._model_changing and self._selection.responder_ids:
            # Rows a filter brings back come back selected.
            self._show_selection(scroll=False)

    # --- filter bar -----------------------------------------------------------------------------

    def _on_filter_toggled(self, checked: bool) -> None:
        button = self.sender()
        name = button.property("filter") if button is not None else None
        if isinstance(name, str):
            self.proxy.set_filter(name, checked)
            self._update_bar()

    def _on_text_changed(self, text: str) -> None:
        self.proxy.set_text(text)
        self._update_bar()

    def _update_bar(self) -> None:
        counts = self.model.counts()
        for name, button in self.buttons.items():
            text = f"{FILTER_LABELS[name]} {counts[name]}"
            if button.text() != text:
                button.setText(text)
        total = self.model.rowCount()
        shown = self.proxy.rowCount()
        if self.model.incident_id is None:
            text = "No incident in focus"
        elif shown == total:
            text = f"{total} responders"
        else:
            text = f"{shown} of {total} shown"
        if self.summary.text() != text:
            self.summary.setText(text)


#: Initial widths (px) measured for 11 pt text: together they fit a 1,400 px wide table.
_WIDTHS = {
    Column.NAME: 155,
    Column.AGENCY: 145,
    Column.DUTY: 89,
    Column.ATTIRE: 235,
    Column.ROSTER: 130,
    Column.STATUS: 142,
    Column.SELF_DISPATCHED: 96,
    Column.IDENTIFIED: 97,
    Column.DISTANCE: 95,
    Column.ETA: 70,
    Column.AGE: 125,
}
