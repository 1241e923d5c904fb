"""PAR (personnel accountability report): the roll call of everyone present.

"Start PAR" calls everyone present now (at staging, on scene, identified, staged, assigned).
While it runs the panel shows the elapsed time (large, tabular), how many are accounted for, and
the UNACCOUNTED list, the list that matters, with those most at risk first: inside the inner
perimeter, then plainclothes, then arrived but never checked in (each flagged in amber), then
the others by name. Mark accounted with the row's button, a double click or Enter, or select
several and press "Mark selected accounted". "End PAR" closes the roll call (asking first when
someone is still unaccounted). Every act is a ``commands_requested``; rows leave the list only
when the ``par_accounted`` event comes back.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import (
    QAbstractItemModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QMouseEvent, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionButton,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from dispatch_console.app import commands
from dispatch_console.app.live import Changes, ConsoleState
from dispatch_console.domain import events as ev
from dispatch_console.domain.lifecycle import ResponderStatus
from dispatch_console.domain.state import IncidentState, Par, Responder
from dispatch_console.domain.timeutil import US_PER_S
from dispatch_console.ui.panels.broadcasts_panel import Confirm, ask
from dispatch_console.ui.shell.header import hms, local_clock
from dispatch_console.ui.shell.selection import Selection
from dispatch_console.ui.shell.theme import Theme, tabular_font

PAR_EVENT_TYPES = frozenset({ev.ParStarted.TYPE, ev.ParAccounted.TYPE, ev.ParEnded.TYPE})
ACCOUNTED_BUTTON = "Accounted"
#: The responder id of a row.
ResponderIdRole = int(Qt.ItemDataRole.UserRole) + 1

COLUMNS = ("Unaccounted: most at risk first", "")
BUTTON_COLUMN = 1
NAMES_LIMIT = 6


def inside_inner(state: IncidentState, responder: Responder) -> bool:
    perimeters = state.perimeters
    return any(
        (p := perimeters.get(pid)) is not None and p.kind == "inner"
        for pid in responder.inside_perimeters
    )


def risk_flags(state: IncidentState, responder: Responder) -> list[str]:
    """Why this unaccounted responder matters most, in words (most urgent first)."""
    flags = []
    if inside_inner(state, responder):
        flags.append("INNER PERIMETER")
    if responder.plainclothes:
        flags.append("PLAINCLOTHES")
    if responder.arrived_not_checked_in:
        flags.append("NOT CHECKED IN")
    return flags


def row_text(state: IncidentState, r: Responder | None, rid: str) -> tuple[str, list[str]]:
    """A row of the unaccounted list: ``U-000 · Officer 000 — on scene`` and, on a second
    line, why they matter most (``INNER PERIMETER · PLAINCLOTHES · NOT CHECKED IN``)."""
    if r is None:
        return rid, []
    name = r.display_name
    if r.name and r.name != name:
        name = f"{name} · {r.name}"
    status = r.status.label
    if r.assignment is not None:
        status += f": {r.assignment.task.replace('_', ' ')}, {r.assignment.team}"
    flags = risk_flags(state, r)
    text = f"{name} — {status}"
    if flags:
        text += "\n" + " · ".join(flags)
    return text, flags


def unaccounted_order(state: IncidentState, par: Par) -> list[str]:
    """The unaccounted of ``par``: inside the inner perimeter first, then plainclothes, then
    arrived-not-checked-in, then everyone else; by name within each."""

    def key(rid: str) -> tuple[bool, bool, bool, str]:
        r = state.responders.get(rid)
        if r is None:
            return (True, True, True, rid)
        return (
            not inside_inner(state, r),
            not r.plainclothes,
            not r.arrived_not_checked_in,
            r.display_name.casefold(),
        )

    # Released responders have left the incident: not missing, so not on this list.
    still_here = [
        rid
        for rid in par.unaccounted
        if (r := state.responders.get(rid)) is None or r.status is not ResponderStatus.RELEASED
    ]
    return sorted(still_here, key=key)


class AccountedButtonDelegate(QStyledItemDelegate):
    """Paints an "Accounted" push button in each row of its column and reports a click on it
    (:attr:`clicked`, the row): one painted button per row costs nothing, where 800 real
    buttons took a third of a second to build."""

    clicked = Signal(int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pressed: int | None = None

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        button = QStyleOptionButton()
        button.rect = option.rect.adjusted(4, 3, -4, -3)
        button.text = ACCOUNTED_BUTTON
        button.palette = option.palette
        button.fontMetrics = option.fontMetrics
        state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Raised
        if self._pressed == index.row():
            state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Sunken
        button.state = state
        widget = option.widget
        style = widget.style() if widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_PushButton, button, painter, widget)

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        metrics = option.fontMetrics
        return QSize(metrics.horizontalAdvance(ACCOUNTED_BUTTON) + 32, metrics.height() + 16)

    def editorEvent(
        self,
        event: QEvent,
        model: QAbstractItemModel,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> bool:
        kind = event.type()
        if not isinstance(event, QMouseEvent) or event.button() != Qt.MouseButton.LeftButton:
            return False
        inside = option.rect.contains(event.position().toPoint())
        if kind == QEvent.Type.MouseButtonPress and inside:
            self._pressed = index.row()
            return True  # a press on the button does not change the selection
        if kind == QEvent.Type.MouseButtonRelease and self._pressed is not None:
            row, self._pressed = self._pressed, None
            if inside and row == index.row():
                self.clicked.emit(row)
            return True
        return kind == QEvent.Type.MouseButtonDblClick and inside


class ParPanel(QWidget):
    """Panel contract (``refresh``, ``set_theme``) and :attr:`commands_requested`."""

    #: ``(incident_id, payloads, description)``: the main window submits them as the user.
    commands_requested = Signal(str, object, str)

    def __init__(
        self,
        console: ConsoleState,
        selection: Selection,
        theme: Theme,
        parent: QWidget | None = None,
        *,
        confirm: Confirm = ask,
    ) -> None:
        super().__init__(parent)
        self.console = console
        self.selection = selection
        self.theme = theme
        self.confirm = confirm
        self.now_us = 0
        self._incident_id: str | None = None
        self._second = -1
        self._shown: list[str] = []
        self._shown_set: frozenset[str] = frozenset()
        self._dirty = False
        self._par_key: tuple[str, int, int | None] | None = None
        #: The pointer is on the list: rows marked accounted stay where they are (ticked)
        #: until it leaves, so the row under it never changes to someone else.
        self.pointer_inside = False
        self.setObjectName("par_panel")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(6)
        top = QHBoxLayout()
        top.setSpacing(10)
        self.title = QLabel("PAR", self)
        self.title.setObjectName("title")
        self.elapsed = QLabel(self)
        self.elapsed.setObjectName("elapsed")
        self.elapsed.setToolTip("Elapsed since the roll call started")
        self.tally = QLabel(self)
        self.tally.setObjectName("tally")
        top.addWidget(self.title)
        top.addWidget(self.elapsed)
        top.addStretch(1)
        top.addWidget(self.tally)
        layout.addLayout(top)
        self.status = QLabel(self)
        self.status.setObjectName("status")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)

        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("unaccounted")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(True)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(BUTTON_COLUMN, QHeaderView.ResizeMode.ResizeToContents)
        self.button_delegate = AccountedButtonDelegate(self.table)
        self.button_delegate.clicked.connect(self._on_row_button)
        self.table.setItemDelegateForColumn(BUTTON_COLUMN, self.button_delegate)
        # Wrapped rows get their height again when the name column's width changes.
        header.sectionResized.connect(self._on_section_resized)
        self.table.activated.connect(self._on_activated)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.viewport().installEventFilter(self)
        layout.addWidget(self.table, 1)

        buttons = QHBoxLayout()
        buttons.setSpacing(6)
        self.start_button = QPushButton(self)
        self.start_button.setObjectName("start")
        self.start_button.clicked.connect(self.start_par)
        self.mark_button = QPushButton("Mark selected accounted", self)
        self.mark_button.setObjectName("mark")
        self.mark_button.clicked.connect(self.mark_selected)
        self.end_button = QPushButton("End PAR", self)
        self.end_button.setObjectName("end")
        self.end_button.clicked.connect(self.end_par)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.mark_button)
        buttons.addStretch(1)
        buttons.addWidget(self.end_button)
        layout.addLayout(buttons)

        self._bold = QFont()
        self._bold.setBold(True)
        selection.focus_changed.connect(self._on_focus_changed)
        self.set_theme(theme)
        self._sync()

    # --- panel contract ----------------------------------------------------------------------

    def refresh(self, changes: Changes, now_us: int) -> None:
        self.now_us = now_us
        focused = self.selection.incident_id
        state = self._state()
        touched = (
            focused != self._incident_id
            or self._key(state) != self._par_key
            or any(e.incident_id == focused and e.type in PAR_EVENT_TYPES for e in changes.events)
        )
        # Responders of the list changed (status, perimeter, attire: their flags and order may
        # too), or, with no PAR, who is present: redone once a second, not at every batch of
        # positions.
        if not self._dirty:
            if state is not None and state.par is None:
                self._dirty = focused in changes.incidents
            else:
                shown = self._shown_set
                self._dirty = any(i == focused and r in shown for i, r in changes.responders)
        second = now_us // US_PER_S
        if touched or (self._dirty and second != self._second):
            self._sync()
        elif second != self._second:
            self._tick()

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        t = theme
        mono = tabular_font().family()
        self.setStyleSheet(
            f"""
            QWidget#par_panel {{ background: {t.panel}; }}
            QLabel#title {{ font-size: 15pt; font-weight: bold; color: {t.text}; }}
            QLabel#elapsed {{ font-family: "{mono}"; font-size: 20pt; font-weight: bold;
                color: {t.text}; }}
            QLabel#tally {{ font-family: "{mono}"; font-size: 14pt; font-weight: bold;
                color: {t.text}; }}
            QLabel#status {{ font-size: 11pt; color: {t.muted}; }}
            QTableWidget#unaccounted {{ font-size: 11pt; }}
            QPushButton {{ font-size: 12pt; padding: 6px 12px; }}
            QPushButton#start {{ font-weight: bold; }}
            """
        )
        if self._shown:
            self._sync(force=True)

    # --- acts ------------------------------------------------------------------------------------

    def start_par(self) -> bool:
        """Request a roll call of everyone present; False if none is present or one runs."""
        state = self._state()
        if state is None or state.par is not None:
            return False
        payloads = commands.start_par(state)
        roll = payloads[0]
        assert isinstance(roll, ev.ParStarted)
        if not roll.responder_ids:
            return False
        n = len(roll.responder_ids)
        self.commands_requested.emit(state.incident_id, payloads, f"start PAR of {n} present")
        return True

    def mark_accounted(self, responder_ids: Iterable[str]) -> bool:
        """Request ``responder_ids`` marked accounted for in the running PAR."""
        state = self._state()
        par = state.par if state is not None else None
        if state is None or par is None:
            return False
        ids = [rid for rid in dict.fromkeys(responder_ids) if rid in par.unaccounted]
        if not ids:
            return False
        if len(ids) == 1:
            r = state.responders.get(ids[0])
            what = f"PAR: {r.display_name if r else ids[0]} accounted for"
        else:
            what = f"PAR: {len(ids)} accounted for"
        self.commands_requested.emit(
            state.incident_id, commands.mark_all_accounted(par.par_id, ids), what
        )
        return True

    def mark_selected(self) -> bool:
        return self.mark_accounted(self.selected_ids())

    def end_par(self) -> bool:
        """Request the end of the running PAR (asking first if anyone is unaccounted)."""
        state = self._state()
        par = state.par if state is not None else None
        if state is None or par is None:
            return False
        missing = len(par.unaccounted)
        if missing:
            title = f"End PAR with {missing} unaccounted?"
            body = (
                f"{missing} of {len(par.responder_ids)} responders have not been accounted "
                "for. Ending the roll call closes their list."
            )
            if not self.confirm(self, title, body, "End PAR"):
                return False
        self.commands_requested.emit(state.incident_id, commands.end_par(par.par_id), "end PAR")
        return True

    def selected_ids(self) -> list[str]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self._shown[row] for row in rows if 0 <= row < len(self._shown)]

    def unaccounted_shown(self) -> list[str]:
        """Responder ids of the unaccounted list as shown, top first."""
        return list(self._shown)

    # --- internals --------------------------------------------------------------------------------

    def _state(self) -> IncidentState | None:
        focused = self.selection.incident_id
        return self.console.incident(focused)

    @staticmethod
    def _key(state: IncidentState | None) -> tuple[str, int, int | None] | None:
        """What identifies the roll call shown and its progress (catches a reload)."""
        if state is None or not state.pars:
            return None
        par = state.pars[-1]
        return (par.par_id, len(par.accounted), par.ended_at_us)

    def _sync(self, *, force: bool = False) -> None:
        self._dirty = False
        state = self._state()
        self._incident_id = self.selection.incident_id
        self._par_key = self._key(state)
        par = state.par if state is not None else None
        running = par is not None
        present = len(commands.par_roll(state)) if state is not None else 0
        self.start_button.setText(f"Start PAR ({present} present)")
        self.start_button.setEnabled(state is not None and not running and present > 0)
        self.start_button.setVisible(not running)
        self.end_button.setVisible(running)
        self.mark_button.setVisible(running)
        self.table.setVisible(running)
        self.elapsed.setVisible(running)
        self.tally.setVisible(running)
        if state is None:
            self.title.setText("PAR")
            self.status.setText("No incident in focus.")
            self._fill(None, [])
        elif par is None:
            self.title.setText("PAR")
            self.status.setText(self._last_par_text(state))
            self._fill(state, [])
        else:
            self.title.setText("PAR")
            order = unaccounted_order(state, par)
            missing = len(order)
            if self.pointer_inside and self._shown:
                # Nothing moves under the pointer: accounted rows stay (ticked), new ones
                # go to the end.
                held = set(self._shown)
                order = self._shown + [rid for rid in order if rid not in held]
            self._fill(state, order, force=force)
            total = len(par.responder_ids)
            self.tally.setText(f"accounted {total - missing}/{total}")
            self.tally.setToolTip(
                "Of the people called in this roll call (everyone present when it started); "
                "not the header's position counts"
            )
            self.status.setText(
                f"NOT YET ACCOUNTED IN THIS PAR: {missing} — double-click or Enter marks accounted"
                if missing
                else f"All {total} accounted for. End the PAR to close it."
            )
        self._tick()
        self._update_buttons()

    def _last_par_text(self, state: IncidentState) -> str:
        if not state.pars:
            return "No roll call yet. Start PAR calls everyone present."
        last = state.pars[-1]
        total = len(last.responder_ids)
        missing = unaccounted_order(state, last)  # most at risk first
        text = (
            f"Last PAR ended {local_clock(last.ended_at_us or 0)}: "
            f"{total - len(missing)} of {total} accounted for"
        )
        if missing:
            names = [
                (state.responders[rid].display_name if rid in state.responders else rid)
                for rid in missing[:NAMES_LIMIT]
            ]
            more = ", …" if len(missing) > NAMES_LIMIT else ""
            text += f"; NOT accounted: {', '.join(names)}{more}"
        return text

    def _fill(self, state: IncidentState | None, order: list[str], *, force: bool = False) -> None:
        if order == self._shown and not force:
            if state is not None:
                self._refresh_rows(state)
            return
        selected = set(self.selected_ids())
        self._shown = order
        self._shown_set = frozenset(order)
        table = self.table
        table.setRowCount(len(order))
        for row, rid in enumerate(order):
            for column in range(BUTTON_COLUMN + 1):
                item = QTableWidgetItem()
                item.setData(ResponderIdRole, rid)
                table.setItem(row, column, item)
        if state is not None:
            self._refresh_rows(state)
        table.resizeRowsToContents()
        table.clearSelection()
        for row, rid in enumerate(order):
            if rid in selected:
                self._add_row(row)

    def _add_row(self, row: int) -> None:
        model = self.table.selectionModel()
        flags = model.SelectionFlag.Select | model.SelectionFlag.Rows
        model.select(self.table.model().index(row, 0), flags)

    def _refresh_rows(self, state: IncidentState) -> None:
        caution = QColor(self.theme.caution)
        text_color = QColor(self.theme.text)
        muted = QColor(self.theme.muted)
        plain = QFont()
        par = state.par
        for row, rid in enumerate(self._shown):
            r = state.responders.get(rid)
            item = self.table.item(row, 0)
            if item is None:
                continue
            text, flags = row_text(state, r, rid)
            if par is not None and rid not in par.unaccounted:
                text = f"✓ ACCOUNTED — {text}"
                if item.text() != text:
                    item.setText(text)
                item.setForeground(muted)
                item.setFont(plain)
                item.setToolTip("accounted for (the list closes up when the pointer leaves)")
                continue
            if item.text() != text:
                item.setText(text)
            # At risk: the whole entry in bold amber (red is for warnings and alerts only).
            item.setForeground(caution if flags else text_color)
            item.setFont(self._bold if flags else plain)
            item.setToolTip(" · ".join(flags) if flags else "")

    def _tick(self) -> None:
        self._second = self.now_us // US_PER_S
        state = self._state()
        par = state.par if state is not None else None
        text = hms(self.now_us - par.started_at_us) if par is not None else ""
        if self.elapsed.text() != text:
            self.elapsed.setText(text)

    def _update_buttons(self) -> None:
        n = len(self.selected_ids())
        self.mark_button.setEnabled(n > 0)
        self.mark_button.setText(
            f"Mark selected accounted ({n})" if n else "Mark selected accounted"
        )

    def _on_row_button(self, row: int) -> None:
        if 0 <= row < len(self._shown):
            self.mark_accounted([self._shown[row]])

    def _on_activated(self, index: QModelIndex | QPersistentModelIndex) -> None:
        row = index.row()
        if not 0 <= row < len(self._shown) or index.column() == BUTTON_COLUMN:
            return  # a double click on the button is its click
        selected = self.selected_ids()
        rid = self._shown[row]
        self.mark_accounted(selected if rid in selected else [rid])

    def _on_section_resized(self, column: int, _old: int, _new: int) -> None:
        if column == 0:
            self.table.resizeRowsToContents()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.table.viewport():
            if event.type() == QEvent.Type.Enter:
                self.pointer_inside = True
            elif event.type() == QEvent.Type.Leave:
                self.pointer_inside = False
                self._sync(force=True)  # the ticked rows leave now
        return super().eventFilter(watched, event)

    def _on_focus_changed(self, _incident_id: str) -> None:
        self._sync()
