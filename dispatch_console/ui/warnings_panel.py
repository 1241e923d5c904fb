"""The warnings panel: the focused incident's friendly-fire warnings, highest priority first.

Each active warning is a card. Unacknowledged it is alarm red (red is reserved for this and for
unacknowledged alerts) with the warning in words, who it is about, what the domain found, how
long it has lasted and an ACKNOWLEDGE button; acknowledged and still active it turns calm with
an amber bar and says who acknowledged it and how long ago. Ended warnings go to a short
history, collapsed under the cards.

Acknowledging is a request: the panel emits :attr:`WarningsPanel.commands_requested` with a
``warning_acknowledged`` payload carrying the user's name (:meth:`WarningsPanel.set_user`), and
the card changes only when that event comes back through :meth:`WarningsPanel.refresh` (a
refused command leaves it red). While a request is in flight its button says so, and
:meth:`WarningsPanel.acknowledge_top` moves on to the next unacknowledged warning.

Clicking a card selects its responder (origin ``"warnings"``): the map, the table and the
detail panel follow. Cards are rebuilt only when a warning event of the focused incident
arrives; between those, a refresh only moves the elapsed times (once a second).
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dispatch_console.app import commands
from dispatch_console.app.live import Changes, ConsoleState
from dispatch_console.domain import events as ev
from dispatch_console.domain.state import IncidentState, IncidentWarning, Responder
from dispatch_console.domain.timeutil import US_PER_S, format_duration
from dispatch_console.ui.cards import CardColumn
from dispatch_console.ui.header import hms, local_clock
from dispatch_console.ui.selection import Selection
from dispatch_console.ui.theme import Theme, tabular_font

ORIGIN = "warnings"
ACKNOWLEDGE_TEXT = "ACKNOWLEDGE (W)"
PENDING_TEXT = "ACKNOWLEDGING…"
#: A request not answered by an event within this time may be sent again.
PENDING_US = 10 * US_PER_S
#: Active warnings shown as cards (the rest are counted: they are the lowest priority).
CARD_LIMIT = 50
#: Ended warnings kept in the history.
HISTORY_LIMIT = 20

WARNING_EVENT_TYPES = frozenset(
    {ev.WarningRaised.TYPE, ev.WarningAcknowledged.TYPE, ev.WarningEnded.TYPE}
)

#: The warning kinds in words, as a title.
KIND_TITLES: dict[str, str] = {
    "unidentified_in_inner_perimeter": "UNIDENTIFIED IN INNER PERIMETER",
    "attire_matches_suspect": "ATTIRE MATCHES SUSPECT",
    "bypassing_staging": "BYPASSING STAGING: HEADING FOR INNER PERIMETER",
    "stale_or_no_radio_in_perimeter": "STALE POSITION OR NO RADIO IN PERIMETER",
    "not_on_roster": "NOT ON ANY ROSTER",
}
#: Short words for the history and command descriptions.
KIND_WORDS: dict[str, str] = {
    "unidentified_in_inner_perimeter": "unidentified in inner perimeter",
    "attire_matches_suspect": "attire matches suspect",
    "bypassing_staging": "bypassing staging",
    "stale_or_no_radio_in_perimeter": "stale or no radio in perimeter",
    "not_on_roster": "not on roster",
}
#: Description fields in words ("top_color" -> "top colour").
FIELD_WORDS: dict[str, str] = {
    "sex": "sex",
    "race": "race",
    "age_range": "age",
    "height": "height",
    "build": "build",
    "hair": "hair",
    "top_color": "top colour",
    "top_type": "top type",
    "bottom_color": "bottom colour",
    "bottom_type": "bottom type",
    "headwear": "headwear",
    "weapon": "weapon",
    "visible_id": "visible ID",
}


def warning_title(state: IncidentState, warning: IncidentWarning) -> str:
    """The warning in words, e.g. ``ATTIRE MATCHES SUSPECT: top colour black, top type
    shirt`` (the suspect's values of the fields that matched)."""
    kind = warning.kind
    responder = state.responders.get(warning.responder_id)
    if kind == "unidentified_in_inner_perimeter" and responder is not None and responder.identified:
        return "NO VISIBLE POLICE ID IN INNER PERIMETER"
    title = KIND_TITLES.get(kind, kind.replace("_", " ").upper())
    if kind == "attire_matches_suspect" and warning.matched_fields:
        title += ": " + matched_words(state, responder, warning.matched_fields)
    return title


def matched_words(state: IncidentState, responder: Responder | None, fields: Iterable[str]) -> str:
    """``top colour black, top type shirt (t-shirt)``: each matched field as the suspect
    description says it, with the responder's own word where it differs."""
    from dispatch_console.domain.warnings import describe_match

    fields = tuple(fields)
    suspect = state.suspect.description if state.suspect is not None else None
    attire = responder.attire if responder is not None else None
    if suspect is not None and attire is not None:
        try:
            return describe_match(attire, suspect, fields)
        except KeyError:  # a field the domain does not describe: say it plainly below
            pass
    parts = []
    for name in fields:
        value = getattr(suspect, name, None) or getattr(attire, name, None)
        words = FIELD_WORDS.get(name, name.replace("_", " "))
        parts.append(f"{words} {value}" if value else words)
    return ", ".join(parts)


def responder_words(responder: Responder | None, responder_id: str) -> tuple[str, str]:
    """``(name, facts)``: ``U-000 · Officer 000`` and ``OFF duty · plainclothes: black
    t-shirt, blue pants, no visible ID``."""
    if responder is None:
        return responder_id, ""
    name = responder.display_name
    if responder.name and responder.name != name:
        name = f"{name} · {responder.name}"
    facts = [
        responder.agency or "",
        {"on": "on duty", "off": "OFF duty"}.get(responder.duty or "", ""),
        responder.attire.describe() if responder.attire is not None else "",
    ]
    return name, " · ".join(f for f in facts if f)


class WarningCard(QFrame):
    """One active warning; paints its own background (alarm red, or calm)."""

    clicked = Signal(str)
    acknowledge_clicked = Signal(str)

    def __init__(self, warning_id: str, parent: QWidget) -> None:
        super().__init__(parent)
        self.warning_id = warning_id
        self.responder_id = ""
        #: None until shown; then whether the card shows the warning acknowledged.
        self.acknowledged: bool | None = None
        self.pending = False
        self.selected = False
        self.raised_at_us = 0
        self.acknowledged_at_us = 0
        self.acknowledged_by = ""
        self.name = ""
        self._theme: Theme | None = None
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 8, 10, 8)
        layout.setSpacing(2)
        self.title = self._label("title")
        self.who = self._label("who")
        self.facts = self._label("facts")
        self.detail = self._label("detail")
        self.elapsed = self._label("elapsed")
        for label in (self.title, self.who, self.facts, self.detail):
            layout.addWidget(label)
        bottom = QHBoxLayout()
        bottom.setContentsMargins(0, 2, 0, 0)
        bottom.setSpacing(8)
        bottom.addWidget(self.elapsed, 1)
        self.button = QPushButton(ACKNOWLEDGE_TEXT, self)
        self.button.setObjectName("acknowledge")
        # The main window's key acknowledges the top warning; a focused button would take keys.
        self.button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.button.clicked.connect(self._on_button)
        bottom.addWidget(self.button, 0, Qt.AlignmentFlag.AlignRight)
        layout.addLayout(bottom)

    def _label(self, name: str) -> QLabel:
        label = QLabel(self)
        label.setObjectName(name)
        label.setTextFormat(Qt.TextFormat.PlainText)
        label.setWordWrap(True)
        return label

    def show_warning(
        self, state: IncidentState, warning: IncidentWarning, now_us: int, theme: Theme
    ) -> None:
        acknowledged = warning.acknowledged_at_us is not None
        responder = state.responders.get(warning.responder_id)
        self.responder_id = warning.responder_id
        self.raised_at_us = warning.raised_at_us
        self.acknowledged_at_us = warning.acknowledged_at_us or 0
        self.acknowledged_by = warning.acknowledged_by or "unknown"
        name, facts = responder_words(responder, warning.responder_id)
        self.name = name
        _set(self.title, warning_title(state, warning))
        _set(self.who, name)
        _set(self.facts, facts)
        self.facts.setVisible(bool(facts))
        _set(self.detail, warning.detail)
        # An attire match's title already names what matched; its sentence would repeat it.
        repeats = warning.kind == "attire_matches_suspect" and bool(warning.matched_fields)
        self.detail.setVisible(bool(warning.detail) and not repeats)
        self.button.setVisible(not acknowledged)
        self.setToolTip(f"priority {warning.priority} · click to select {name}")
        if acknowledged != self.acknowledged or theme is not self._theme:
            self.acknowledged = acknowledged
            self.set_theme(theme)
        self.tick(now_us)

    def set_pending(self, pending: bool) -> None:
        if pending != self.pending:
            self.pending = pending
            self.button.setText(PENDING_TEXT if pending else ACKNOWLEDGE_TEXT)
            self.button.setEnabled(not pending)

    def set_selected(self, selected: bool) -> None:
        if selected != self.selected:
            self.selected = selected
            self.update()

    def tick(self, now_us: int) -> None:
        started = hms(now_us - self.raised_at_us)
        if self.acknowledged:
            text = (
                f"ack by {self.acknowledged_by} {hms(now_us - self.acknowledged_at_us)} ago"
                f" · started {started} ago"
            )
        else:
            text = f"started {started} ago"
        _set(self.elapsed, text)

    def set_theme(self, theme: Theme) -> None:
        self._theme = theme
        t = theme
        mono = tabular_font().family()
        if self.acknowledged:
            self.setStyleSheet(
                f"""
                QLabel {{ color: {t.text}; background: transparent; font-size: 11pt; }}
                QLabel#title {{ color: {t.caution}; font-size: 13pt; font-weight: bold; }}
                QLabel#who {{ font-size: 12pt; font-weight: bold; }}
                QLabel#elapsed {{ font-family: "{mono}"; font-size: 11pt; color: {t.text}; }}
                """
            )
        else:
            self.setStyleSheet(
                f"""
                QLabel {{ color: {t.alarm_text}; background: transparent; font-size: 11pt; }}
                QLabel#title {{ font-size: 14pt; font-weight: 900; }}
                QLabel#who {{ font-size: 13pt; font-weight: bold; }}
                QLabel#elapsed {{ font-family: "{mono}"; font-size: 11pt; font-weight: bold; }}
                QPushButton#acknowledge {{ background: {t.alarm_text}; color: {t.alarm};
                    font-size: 11pt; font-weight: 900; border: 0; border-radius: 4px;
                    padding: 5px 10px; }}
                QPushButton#acknowledge:disabled {{ background: {t.calm}; color: {t.text}; }}
                QPushButton#acknowledge:pressed {{ background: {t.calm}; color: {t.text}; }}
                """
            )
        self.update()

    @property
    def background(self) -> QColor:
        """What the card is painted: alarm red (unacknowledged) or calm."""
        if self._theme is None:
            return QColor()
        return QColor(self._theme.calm if self.acknowledged else self._theme.alarm)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.background)
        if self._theme is not None:
            if self.acknowledged:
                painter.fillRect(0, 0, 8, self.height(), QColor(self._theme.caution))
            if self.selected:
                x = 8 if self.acknowledged else 0
                painter.fillRect(x, 0, 5, self.height(), QColor(self._theme.selection))
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(self.responder_id)
            event.accept()
            return
        super().mousePressEvent(event)

    def _on_button(self) -> None:
        self.acknowledge_clicked.emit(self.warning_id)


class WarningsPanel(QWidget):
    """Active warnings of the focused incident (panel contract: ``refresh``, ``set_theme``)."""

    #: ``(incident_id, payloads, description)``: the main window submits them as the user.
    commands_requested = Signal(str, object, str)
    #: True while any active warning (of any incident) is unacknowledged.
    attention_changed = Signal(bool)

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
        self.now_us = 0
        self.user_name = ""
        self.cards: dict[str, WarningCard] = {}
        self._order: list[str] = []
        self._incident_id: str | None = None
        self._known = -1  # warnings of the shown incident when last synced
        self._second = -1
        self._pending: dict[str, int] = {}
        self._attention = False
        self._unacknowledged_elsewhere = 0
        self._active_count = 0
        self._waiting_count = 0
        self.setObjectName("warnings_panel")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        self.summary = QLabel(self)
        self.summary.setObjectName("summary")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.empty = QLabel(self)
        self.empty.setObjectName("empty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        layout.addWidget(self.empty, 1)
        self.scroll_area = CardColumn("card_list", self)
        self.card_list = self.scroll_area.container
        self.list_layout = self.scroll_area.column
        self.more = QLabel(self.card_list)
        self.more.setObjectName("more")
        self.list_layout.insertWidget(0, self.more)  # above the column's stretch
        layout.addWidget(self.scroll_area, 1)
        self.history_button = QToolButton(self)
        self.history_button.setObjectName("history_button")
        self.history_button.setCheckable(True)
        self.history_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.history_button.setArrowType(Qt.ArrowType.RightArrow)
        self.history_button.toggled.connect(self._on_history_toggled)
        layout.addWidget(self.history_button)
        self.history = QLabel(self)
        self.history.setObjectName("history")
        self.history.setTextFormat(Qt.TextFormat.PlainText)
        self.history.setWordWrap(True)
        self.history.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.history.hide()
        layout.addWidget(self.history)

        selection.changed.connect(self._on_selection_changed)
        selection.focus_changed.connect(self._on_focus_changed)
        self.set_theme(theme)
        self._sync()
        self._update_attention(recount=True)

    # --- panel contract ----------------------------------------------------------------------

    def refresh(self, changes: Changes, now_us: int) -> None:
        self.now_us = now_us
        focused = self.selection.incident_id
        state = self.console.incidents.get(focused) if focused else None
        warning_events = [e for e in changes.events if e.type in WARNING_EVENT_TYPES]
        changed = (
            focused != self._incident_id
            or (state is None) != (self._known < 0)
            or (state is not None and len(state.warnings) != self._known)
            or any(e.incident_id == focused for e in warning_events)
            or self._names_changed(changes)
        )
        expired = [w for w, at in self._pending.items() if now_us - at >= PENDING_US or at > now_us]
        for warning_id in expired:
            del self._pending[warning_id]
        if changed or expired:
            self._sync()
        elif now_us // US_PER_S != self._second:
            self._second = now_us // US_PER_S
            for card in self.cards.values():
                card.tick(now_us)
        self._update_attention(recount=bool(warning_events) or changed)

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        t = theme
        self.setStyleSheet(
            f"""
            QWidget#warnings_panel, QWidget#card_list {{ background: {t.panel}; }}
            QLabel#empty {{ color: {t.muted}; font-size: 13pt; }}
            QLabel#summary {{ color: {t.muted}; font-size: 11pt; font-weight: bold; }}
            QLabel#more {{ color: {t.muted}; font-size: 11pt; }}
            QLabel#history {{ color: {t.muted}; font-size: 11pt; }}
            QToolButton#history_button {{ background: transparent; border: 0;
                color: {t.muted}; font-size: 11pt; font-weight: bold; }}
            """
        )
        for card in self.cards.values():
            card.set_theme(theme)

    # --- acts and questions -------------------------------------------------------------------

    def set_user(self, name: str) -> None:
        """Whose name an acknowledgement carries (the signed-in user)."""
        self.user_name = name

    def acknowledge(self, warning_id: str) -> bool:
        """Ask to acknowledge one warning of the focused incident; False if it is not active
        and unacknowledged."""
        state = self._state()
        warning = state.warnings.get(warning_id) if state is not None else None
        if state is None or warning is None or not warning.active:
            return False
        if warning.acknowledged_at_us is not None:
            return False
        self._pending[warning_id] = self.now_us
        card = self.cards.get(warning_id)
        if card is not None:
            card.set_pending(True)
        name, _ = responder_words(state.responders.get(warning.responder_id), warning.responder_id)
        self.commands_requested.emit(
            state.incident_id,
            commands.acknowledge_warning(warning_id, self.user_name or "unknown user"),
            f"acknowledge warning: {KIND_WORDS.get(warning.kind, warning.kind)} — {name}",
        )
        return True

    def acknowledge_top(self) -> bool:
        """Ask to acknowledge the highest-priority unacknowledged warning of the focused
        incident not already being acknowledged (bound to a key). False when there is none."""
        for warning in self.waiting():
            if warning.warning_id not in self._pending:
                return self.acknowledge(warning.warning_id)
        return False

    def waiting(self) -> list[IncidentWarning]:
        """Unacknowledged active warnings of the focused incident, in display order."""
        return [w for w in self.active() if w.acknowledged_at_us is None]

    def active(self) -> list[IncidentWarning]:
        """Active warnings of the focused incident, top first: priority, then unacknowledged
        before acknowledged, then oldest first."""
        state = self._state()
        if state is None:
            return []
        return sorted(
            (w for w in state.warnings.values() if w.active),
            key=lambda w: (
                w.priority,
                w.acknowledged_at_us is not None,
                w.raised_at_us,
                w.warning_id,
            ),
        )

    def order(self) -> list[str]:
        """Warning ids of the cards as shown, top first."""
        return list(self._order)

    def unacknowledged_count(self) -> int:
        """Unacknowledged active warnings of the focused incident, as last shown."""
        return self._waiting_count

    @property
    def attention(self) -> bool:
        return self._attention

    # --- internals ----------------------------------------------------------------------------

    def _state(self) -> IncidentState | None:
        focused = self.selection.incident_id
        return self.console.incidents.get(focused) if focused else None

    def _names_changed(self, changes: Changes) -> bool:
        if not self.cards or not changes.responders:
            return False
        shown = {card.responder_id for card in self.cards.values()}
        return any(
            incident == self._incident_id and rid in shown for incident, rid in changes.responders
        )

    def _sync(self) -> None:
        state = self._state()
        self._incident_id = self.selection.incident_id
        self._known = len(state.warnings) if state is not None else -1
        self._second = self.now_us // US_PER_S
        for warning_id in list(self._pending):
            w = state.warnings.get(warning_id) if state is not None else None
            if w is None or not w.active or w.acknowledged_at_us is not None:
                del self._pending[warning_id]
        active = self.active()
        shown = active[:CARD_LIMIT]
        order = [w.warning_id for w in shown]
        for warning in shown:
            card = self.cards.get(warning.warning_id)
            if card is None:
                card = self._new_card(warning.warning_id)
            assert state is not None
            card.show_warning(state, warning, self.now_us, self.theme)
            card.set_pending(warning.warning_id in self._pending)
        for warning_id in set(self.cards) - set(order):
            card = self.cards.pop(warning_id)
            self.list_layout.removeWidget(card)
            card.deleteLater()
        if order != self._order:
            self._order = order
            for warning_id in order:
                self.list_layout.removeWidget(self.cards[warning_id])
            for index, warning_id in enumerate(order):
                self.list_layout.insertWidget(index, self.cards[warning_id])
                self.cards[warning_id].show()
        hidden = len(active) - len(shown)
        self.more.setText(f"+ {hidden} lower-priority warnings not shown" if hidden else "")
        self.more.setVisible(hidden > 0)
        self._show_selection()
        self._active_count = len(active)
        self._waiting_count = sum(1 for w in active if w.acknowledged_at_us is None)
        self.empty.setText(
            "No incident in focus."
            if state is None
            else "No active warnings.\n\nFriendly-fire warnings appear here, highest priority "
            "first."
        )
        self.empty.setVisible(not active)
        self.scroll_area.setVisible(bool(active))
        self._update_summary()
        self._sync_history(state)

    def _sync_history(self, state: IncidentState | None) -> None:
        responders = state.responders if state is not None else {}
        ended = sorted(
            (w for w in (state.warnings.values() if state is not None else ()) if not w.active),
            key=lambda w: (w.ended_at_us or 0, w.warning_id),
            reverse=True,
        )
        self.history_button.setText(f"Ended warnings ({len(ended)})")
        self.history_button.setVisible(bool(ended))
        lines = []
        for w in ended[:HISTORY_LIMIT]:
            name, _ = responder_words(responders.get(w.responder_id), w.responder_id)
            end = w.ended_at_us or w.raised_at_us
            ack = f"ack by {w.acknowledged_by}" if w.acknowledged_by else "never acknowledged"
            lines.append(
                f"{local_clock(end)}  {name} · {KIND_WORDS.get(w.kind, w.kind)} · lasted "
                f"{format_duration(end - w.raised_at_us)} · {ack}"
            )
        if len(ended) > HISTORY_LIMIT:
            lines.append(f"… and {len(ended) - HISTORY_LIMIT} earlier")
        self.history.setText("\n".join(lines))
        self.history.setVisible(bool(ended) and self.history_button.isChecked())

    def _on_history_toggled(self, checked: bool) -> None:
        self.history_button.setArrowType(
            Qt.ArrowType.DownArrow if checked else Qt.ArrowType.RightArrow
        )
        self.history.setVisible(checked and bool(self.history.text()))

    def _new_card(self, warning_id: str) -> WarningCard:
        card = WarningCard(warning_id, self.card_list)
        card.clicked.connect(self._on_card_clicked)
        card.acknowledge_clicked.connect(self.acknowledge)
        self.cards[warning_id] = card
        return card

    def _update_attention(self, *, recount: bool) -> None:
        if recount:
            focused = self.selection.incident_id
            elsewhere = sum(
                1
                for incident_id, state in self.console.incidents.items()
                if incident_id != focused
                for w in state.warnings.values()
                if w.active and w.acknowledged_at_us is None
            )
            if elsewhere != self._unacknowledged_elsewhere:
                self._unacknowledged_elsewhere = elsewhere
                self._update_summary()
        attention = bool(self._waiting_count or self._unacknowledged_elsewhere)
        if attention != self._attention:
            self._attention = attention
            self.attention_changed.emit(attention)

    def _update_summary(self) -> None:
        parts = []
        if self._active_count:
            parts.append(f"{self._active_count} active · {self._waiting_count} unacknowledged")
        if self._unacknowledged_elsewhere:
            parts.append(f"{self._unacknowledged_elsewhere} unacknowledged in other incidents")
        _set(self.summary, " · ".join(parts))
        self.summary.setVisible(bool(parts))

    def _on_card_clicked(self, responder_id: str) -> None:
        if responder_id:
            self.selection.select({responder_id}, ORIGIN)

    def _on_selection_changed(self, _origin: str) -> None:
        self._show_selection()

    def _show_selection(self) -> None:
        selected = self.selection.responder_ids
        for card in self.cards.values():
            card.set_selected(card.responder_id in selected)

    def _on_focus_changed(self, _incident_id: str) -> None:
        self._sync()
        self._update_attention(recount=True)


def _set(label: QLabel, text: str) -> None:
    if label.text() != text:
        label.setText(text)
