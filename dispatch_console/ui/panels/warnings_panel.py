"""The warnings panel: the focused incident's friendly-fire warnings, one card per responder.

A responder with several active warnings has one card with every reason inside. Cards are in
two severities: **critical** (attire matches the suspect, unidentified or no visible ID inside
the inner perimeter, bypassing staging, not on any roster) above **advisory** (stale position
or no radio in a perimeter); within a severity, cards waiting for acknowledgement come first,
newest first (the warning that just appeared is on top, not below 25 older ones). A new reason
on a responder whose card was acknowledged turns the card red again and says what is new.

Each card is a responder's warnings. Unacknowledged and critical it is alarm red (red is
reserved for this and for unacknowledged alerts) with the warnings in words, who they are
about, what the domain found, how long it has lasted and an ACKNOWLEDGE button;
acknowledged (or only advisory) it is calm with an amber bar and says who acknowledged it
and how long ago. Ended warnings go to a short history, collapsed under the cards.

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

from PySide6.QtCore import QEvent, QObject, QRect, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
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
from dispatch_console.ui.shell.cards import CardColumn, WrappedLabel
from dispatch_console.ui.shell.header import hms, local_clock
from dispatch_console.ui.shell.selection import Selection
from dispatch_console.ui.shell.theme import Theme, tabular_font

ORIGIN = "warnings"
ACKNOWLEDGE_TEXT = "ACKNOWLEDGE (W)"
PENDING_TEXT = "ACKNOWLEDGING…"
#: A request not answered by an event within this time may be sent again.
PENDING_US = 10 * US_PER_S
#: Responder cards shown (the rest are counted: they are the lowest priority).
CARD_LIMIT = 50
#: The warning kinds that may mean a shooting (the rest are advisory).
CRITICAL_KINDS = frozenset(
    {
        "attire_matches_suspect",
        "unidentified_in_inner_perimeter",
        "bypassing_staging",
        "not_on_roster",
    }
)
CRITICAL, ADVISORY = 0, 1
#: A card's forms, richest first: the panel shows the richest in which its top card is whole.
FULL, COMPACT, MINIMAL = 0, 1, 2
#: The full form only while the top card takes at most this share of the dock: a dock that one
#: full card fills shows the cards compact, so that the next ones are in sight too.
FULL_SHARE = 0.6
#: Point sizes of a card's reasons and of who it is about, ``[red, calm][full, compact]``.
TITLE_POINTS = {False: (14, 12), True: (13, 12)}
WHO_POINTS = {False: (13, 12), True: (12, 11)}
SEVERITY_WORDS = {CRITICAL: "critical", ADVISORY: "advisory"}


def severity(warning: IncidentWarning) -> int:
    return CRITICAL if warning.kind in CRITICAL_KINDS else ADVISORY


def group_key(warnings: list[IncidentWarning]) -> tuple[int, bool, int, str]:
    """Display order of a responder's card: severity, waiting before acknowledged, then the
    newest warning of its severity first."""
    top = min(severity(w) for w in warnings)
    of_top = [w for w in warnings if severity(w) == top]
    acknowledged = all(w.acknowledged_at_us is not None for w in warnings)
    newest = max(w.raised_at_us for w in of_top)
    return top, acknowledged, -newest, warnings[0].responder_id


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
    """One responder's active warnings; paints its own background (alarm red, or calm)."""

    clicked = Signal(str)
    #: The responder id: acknowledge every waiting warning of the card.
    acknowledge_clicked = Signal(str)

    def __init__(self, responder_id: str, parent: QWidget) -> None:
        super().__init__(parent)
        self.responder_id = responder_id
        #: The active warnings shown, most serious first.
        self.warning_ids: list[str] = []
        self.severity = ADVISORY
        #: Kinds in words that are new since the card was acknowledged ("" when none).
        self.news = ""
        #: None until shown; then whether the card shows the warning acknowledged.
        self.acknowledged: bool | None = None
        self.pending = False
        self.selected = False
        self.raised_at_us = 0
        self.acknowledged_at_us = 0
        self.acknowledged_by = ""
        self.name = ""
        self._theme: Theme | None = None
        self._styled: tuple[bool, int] | None = None
        #: How much the card shows (:data:`FULL`, :data:`COMPACT` or :data:`MINIMAL`), chosen
        #: by the panel so that the top card is whole in its dock.
        self.form = FULL
        self._tip = ""
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(16, 8, 10, 8)
        self.grid.setHorizontalSpacing(8)
        self.grid.setVerticalSpacing(2)
        self.title = self._label("title")
        self.new = self._label("new")
        self.who = self._label("who")
        self.facts = self._label("facts")
        self.detail = self._label("detail")
        self.elapsed = self._label("elapsed")
        self.button = QPushButton(ACKNOWLEDGE_TEXT, self)
        self.button.setObjectName("acknowledge")
        # The main window's key acknowledges the top warning; a focused button would take keys.
        self.button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.button.clicked.connect(self._on_button)
        self._arrange()

    def _arrange(self) -> None:
        """Place the parts for the card's form. Full: the reasons, who, what they look like,
        the domain's sentences, then how long and the button. Compact (a short dock): the
        reasons, who beside the button, what they look like; the sentences and the times go
        to the tooltip. Minimal: the reasons, and who beside the button."""
        grid = self.grid
        for part in (self.title, self.new, self.who, self.facts, self.detail, self.elapsed):
            grid.removeWidget(part)
        grid.removeWidget(self.button)
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        grid.addWidget(self.title, 0, 0, 1, 2)
        grid.addWidget(self.new, 1, 0, 1, 2)
        if self.form == FULL:
            grid.setContentsMargins(16, 8, 10, 8)
            grid.addWidget(self.who, 2, 0, 1, 2)
            grid.addWidget(self.facts, 3, 0, 1, 2)
            grid.addWidget(self.detail, 4, 0, 1, 2)
            grid.addWidget(self.elapsed, 5, 0)
            grid.addWidget(self.button, 5, 1, right)
        else:
            grid.setContentsMargins(14, 5, 8, 5)
            grid.addWidget(self.who, 2, 0)
            grid.addWidget(self.button, 2, 1, right)
            grid.addWidget(self.facts, 3, 0, 1, 2)
            grid.addWidget(self.elapsed, 4, 0, 1, 2)
            grid.addWidget(self.detail, 5, 0, 1, 2)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 0)

    def set_form(self, form: int) -> None:
        """Show the card :data:`FULL`, :data:`COMPACT` or :data:`MINIMAL` from now on."""
        if form == self.form:
            return
        self.form = form
        self._arrange()
        self._show_parts()
        if self._theme is not None:
            self.set_theme(self._theme)

    def _show_parts(self) -> None:
        full = self.form == FULL
        self.new.setVisible(bool(self.news))
        self.facts.setVisible(bool(self.facts.text()) and self.form != MINIMAL)
        self.detail.setVisible(bool(self.detail.text()) and full)
        # Compact, the time shows only on a calm card (who acknowledged it, when); a red one has
        # its button on that line.
        self.elapsed.setVisible(full or (self.form == COMPACT and bool(self.acknowledged)))
        self.button.setVisible(self.acknowledged is False)
        self._update_tooltip()

    def _update_tooltip(self) -> None:
        tip = self._tip
        if self.form != FULL:
            hidden = [self.facts.text()] if self.form == MINIMAL else []
            hidden += [self.detail.text(), self.elapsed.text()]
            tip = "\n".join([*(h for h in hidden if h), tip])
        if self.toolTip() != tip:
            self.setToolTip(tip)

    def height_for(self, width: int, form: int) -> int:
        """How tall the card is in ``form`` at ``width`` px (whatever its form now): the panel
        chooses the richest form in which its top card is whole."""
        self.ensurePolished()
        full = form == FULL
        left, top, right, bottom = (16, 8, 10, 8) if full else (14, 5, 8, 5)
        inner = max(1, width - left - right)
        spacing = self.grid.verticalSpacing()
        sizes = TITLE_POINTS[self.quiet]
        rows = [_text_height(self.title, inner, sizes[0 if full else 1])]
        if self.news:
            rows.append(_text_height(self.new, inner))
        button = self.button.sizeHint() if self.acknowledged is False else None
        if full:
            rows.append(_text_height(self.who, inner, WHO_POINTS[self.quiet][0]))
            if self.facts.text():
                rows.append(_text_height(self.facts, inner))
            if self.detail.text():
                rows.append(_text_height(self.detail, inner))
            if button is not None:
                beside = inner - button.width() - self.grid.horizontalSpacing()
                rows.append(max(_text_height(self.elapsed, beside), button.height()))
            else:
                rows.append(_text_height(self.elapsed, inner))
        else:
            who = WHO_POINTS[self.quiet][1]
            if button is not None:
                beside = inner - button.width() - self.grid.horizontalSpacing()
                rows.append(max(_text_height(self.who, beside, who), button.height()))
            else:
                rows.append(_text_height(self.who, inner, who))
            if form == COMPACT and self.facts.text():
                rows.append(_text_height(self.facts, inner))
            if form == COMPACT and self.acknowledged:
                rows.append(_text_height(self.elapsed, inner))
        return top + bottom + sum(rows) + spacing * (len(rows) - 1)

    def _label(self, name: str) -> WrappedLabel:
        # As tall as its wrapped text at the card's width: a card with several reasons is
        # never cut.
        label = WrappedLabel(self)
        label.setObjectName(name)
        return label

    @property
    def warning_id(self) -> str:
        """The most serious warning of the card."""
        return self.warning_ids[0] if self.warning_ids else ""

    def show_warnings(
        self, state: IncidentState, warnings: list[IncidentWarning], now_us: int, theme: Theme
    ) -> None:
        """``warnings``: the responder's active ones, most serious first."""
        waiting = [w for w in warnings if w.acknowledged_at_us is None]
        acknowledged = not waiting
        responder = state.responders.get(self.responder_id)
        self.warning_ids = [w.warning_id for w in warnings]
        self.severity = min(severity(w) for w in warnings)
        self.raised_at_us = min(w.raised_at_us for w in warnings)
        acks = [w for w in warnings if w.acknowledged_at_us is not None]
        last_ack = max(acks, key=lambda w: w.acknowledged_at_us or 0) if acks else None
        self.acknowledged_at_us = (last_ack.acknowledged_at_us or 0) if last_ack else 0
        self.acknowledged_by = (last_ack.acknowledged_by or "unknown") if last_ack else ""
        name, facts = responder_words(responder, self.responder_id)
        self.name = name
        _set(self.title, "\n".join(warning_title(state, w) for w in warnings))
        # Acknowledged before, waiting again: what is new is said, not left to be spotted.
        self.news = ", ".join(KIND_WORDS.get(w.kind, w.kind) for w in waiting) if acks else ""
        _set(self.new, f"NEW SINCE ACKNOWLEDGED: {self.news}" if self.news else "")
        _set(self.who, name)
        _set(self.facts, facts)
        # An attire match's title already names what matched; its sentence would repeat it
        # (unless it says what a suspect revision newly matched).
        details = [
            w.detail
            for w in warnings
            if w.detail
            and not (
                w.kind == "attire_matches_suspect" and w.matched_fields and "newly" not in w.detail
            )
        ]
        _set(self.detail, "\n".join(details))
        priority = min(w.priority for w in warnings)
        level = SEVERITY_WORDS[self.severity]
        self._tip = f"{level} · priority {priority} · click to select {name}"
        self.acknowledged = acknowledged
        if (acknowledged, self.severity) != self._styled or theme is not self._theme:
            self._styled = (acknowledged, self.severity)
            self.set_theme(theme)
        self.tick(now_us)
        self._show_parts()

    @property
    def quiet(self) -> bool:
        """Painted calm: acknowledged, or only advisory (red is for what may mean a shot)."""
        return bool(self.acknowledged) or self.severity == ADVISORY

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
        if self.form != FULL:
            self._update_tooltip()

    def set_theme(self, theme: Theme) -> None:
        self._theme = theme
        t = theme
        mono = tabular_font().family()
        form = 0 if self.form == FULL else 1
        title_pt = TITLE_POINTS[self.quiet][form]
        who_pt = WHO_POINTS[self.quiet][form]
        if self.quiet:
            self.setStyleSheet(
                f"""
                QPushButton#acknowledge {{ background: {t.caution}; color: #000000;
                    font-size: 11pt; font-weight: 900; border: 0; border-radius: 4px;
                    padding: 5px 10px; }}
                QLabel {{ color: {t.text}; background: transparent; font-size: 11pt; }}
                QLabel#title {{ color: {t.caution}; font-size: {title_pt}pt;
                    font-weight: bold; }}
                QLabel#new {{ color: {t.caution}; font-size: 12pt; font-weight: bold; }}
                QLabel#who {{ font-size: {who_pt}pt; font-weight: bold; }}
                QLabel#elapsed {{ font-family: "{mono}"; font-size: 11pt; color: {t.text}; }}
                """
            )
        else:
            self.setStyleSheet(
                f"""
                QLabel {{ color: {t.alarm_text}; background: transparent; font-size: 11pt; }}
                QLabel#title {{ font-size: {title_pt}pt; font-weight: 900; }}
                QLabel#new {{ font-size: 12pt; font-weight: 900; }}
                QLabel#who {{ font-size: {who_pt}pt; font-weight: bold; }}
                QLabel#elapsed {{ font-family: "{mono}"; font-size: 11pt; font-weight: bold; }}
                QPushButton#acknowledge {{ background: {t.alarm_text}; color: {t.alarm};
                    font-size: 11pt; font-weight: 900; border: 0; border-radius: 4px;
                    padding: 5px 10px; }}
                QPushButton#acknowledge:disabled {{ background: {t.calm}; color: {t.text}; }}
                QPushButton#acknowledge:pressed {{ background: {t.calm}; color: {t.text}; }}
                """
            )
        for label in (self.title, self.new, self.who, self.facts, self.detail, self.elapsed):
            label.fit()  # in the font the style sheet now gives it
        self.update()

    @property
    def background(self) -> QColor:
        """What the card is painted: alarm red (unacknowledged) or calm."""
        if self._theme is None:
            return QColor()
        return QColor(self._theme.calm if self.quiet else self._theme.alarm)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.background)
        if self._theme is not None:
            if self.quiet:
                painter.fillRect(0, 0, 8, self.height(), QColor(self._theme.caution))
            if self.selected:
                x = 8 if self.quiet else 0
                painter.fillRect(x, 0, 5, self.height(), QColor(self._theme.selection))
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(self.responder_id)
            event.accept()
            return
        super().mousePressEvent(event)

    def _on_button(self) -> None:
        self.acknowledge_clicked.emit(self.responder_id)


class WarningsPanel(QWidget):
    """Active warnings of the focused incident (panel contract: ``refresh``, ``set_theme``)."""

    #: ``(incident_id, payloads, description)``: the main window submits them as the user.
    commands_requested = Signal(str, object, str)
    #: True while any active critical warning (of any incident) is unacknowledged.
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
        self._critical_waiting = 0
        #: Cards (responders) per severity, and of those how many wait.
        self._cards_per: dict[int, int] = {CRITICAL: 0, ADVISORY: 0}
        self._waiting_per: dict[int, int] = {CRITICAL: 0, ADVISORY: 0}
        #: The cards' form: the richest in which the top card is whole in the dock.
        self.form = FULL
        self.setObjectName("warnings_panel")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        self.summary = QLabel(self)
        self.summary.setObjectName("summary")
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
        self.scroll_area.setMinimumHeight(60)
        self.scroll_area.viewport().installEventFilter(self)
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
        state = self.console.incident(focused)
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
        """Ask to acknowledge one warning of the focused incident (with the other waiting
        warnings of its responder: one card, one acknowledgement); False if it is not active
        and unacknowledged."""
        state = self._state()
        warning = state.warnings.get(warning_id) if state is not None else None
        if state is None or warning is None or not warning.active:
            return False
        if warning.acknowledged_at_us is not None:
            return False
        return self.acknowledge_responder(warning.responder_id)

    def acknowledge_responder(self, responder_id: str) -> bool:
        """Ask to acknowledge every waiting warning of one responder's card."""
        state = self._state()
        if state is None:
            return False
        waiting = [
            w
            for w in state.warnings.values()
            if w.responder_id == responder_id and w.active and w.acknowledged_at_us is None
        ]
        if not waiting:
            return False
        by = self.user_name or "unknown user"
        payloads = []
        for w in sorted(waiting, key=lambda w: (w.priority, w.warning_id)):
            self._pending[w.warning_id] = self.now_us
            payloads.extend(commands.acknowledge_warning(w.warning_id, by))
        card = self.cards.get(responder_id)
        if card is not None:
            card.set_pending(True)
        name, _ = responder_words(state.responders.get(responder_id), responder_id)
        kinds = ", ".join(KIND_WORDS.get(w.kind, w.kind) for w in waiting)
        self.commands_requested.emit(
            state.incident_id, payloads, f"acknowledge warning: {kinds} — {name}"
        )
        return True

    def acknowledge_top(self) -> bool:
        """Ask to acknowledge the top card waiting for it (not already being acknowledged;
        bound to a key). False when there is none."""
        for responder_id, warnings in self.groups():
            if any(
                w.acknowledged_at_us is None and w.warning_id not in self._pending for w in warnings
            ):
                return self.acknowledge_responder(responder_id)
        return False

    def waiting(self) -> list[IncidentWarning]:
        """Unacknowledged active warnings of the focused incident, in display order."""
        return [w for w in self.active() if w.acknowledged_at_us is None]

    def active(self) -> list[IncidentWarning]:
        """Active warnings of the focused incident, card by card, top first."""
        return [w for _rid, warnings in self.groups() for w in warnings]

    def groups(self) -> list[tuple[str, list[IncidentWarning]]]:
        """``(responder_id, active warnings, most serious and waiting first)`` per card, top first
        (see :func:`group_key`)."""
        state = self._state()
        if state is None:
            return []
        by_responder: dict[str, list[IncidentWarning]] = {}
        for w in state.warnings.values():
            if w.active:
                by_responder.setdefault(w.responder_id, []).append(w)
        for warnings in by_responder.values():
            warnings.sort(
                key=lambda w: (
                    severity(w),
                    w.acknowledged_at_us is not None,  # what waits (is new) before what does not
                    w.priority,
                    -w.raised_at_us,
                    w.warning_id,
                )
            )
        return sorted(by_responder.items(), key=lambda item: group_key(item[1]))

    def order(self) -> list[str]:
        """Responder ids of the cards as shown, top first."""
        return list(self._order)

    def unacknowledged_count(self) -> int:
        """Unacknowledged active warnings of the focused incident, as last shown."""
        return self._waiting_count

    def critical_waiting_count(self) -> int:
        """Unacknowledged active critical warnings of the focused incident, as last shown."""
        return self._critical_waiting

    def dock_title(self) -> str:
        """``Warnings: 3 critical · 12 advisory``: cards (people) per severity (how many wait
        is in the panel's summary line)."""
        parts = []
        for level in (CRITICAL, ADVISORY):
            count = self._cards_per[level]
            if count:
                parts.append(f"{count} {SEVERITY_WORDS[level]}")
        return "Warnings: " + " · ".join(parts) if parts else "Warnings: none"

    def top_line(self) -> tuple[str, bool, bool]:
        """The top card in one line for the critical strip: ``(text, critical, waiting)``;
        ``""`` when no warning is active."""
        groups = self.groups()
        if not groups:
            return "", False, False
        responder_id, warnings = groups[0]
        state = self._state()
        assert state is not None
        name, _ = responder_words(state.responders.get(responder_id), responder_id)
        top = warnings[0]
        waiting = any(w.acknowledged_at_us is None for w in warnings)
        level = severity(top)
        more = len(groups) - 1
        text = f"TOP WARNING: {warning_title(state, top)} — {name}"
        if len(warnings) > 1:
            text += f" (+{len(warnings) - 1} more reason{'s' if len(warnings) > 2 else ''})"
        if waiting:
            text += " — W acknowledges"
        if more:
            text += f" · {more} more"
        return text, level == CRITICAL, waiting

    @property
    def attention(self) -> bool:
        return self._attention

    # --- internals ----------------------------------------------------------------------------

    def _state(self) -> IncidentState | None:
        focused = self.selection.incident_id
        return self.console.incident(focused)

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
        groups = self.groups()
        shown = groups[:CARD_LIMIT]
        order = [rid for rid, _warnings in shown]
        for responder_id, warnings in shown:
            card = self.cards.get(responder_id)
            if card is None:
                card = self._new_card(responder_id)
            assert state is not None
            card.show_warnings(state, warnings, self.now_us, self.theme)
            card.set_pending(
                all(w.warning_id in self._pending for w in warnings if w.acknowledged_at_us is None)
                and any(w.acknowledged_at_us is None for w in warnings)
            )
        for responder_id in set(self.cards) - set(order):
            card = self.cards.pop(responder_id)
            self.list_layout.removeWidget(card)
            card.deleteLater()
        if order != self._order:
            self._order = order
            for responder_id in order:
                self.list_layout.removeWidget(self.cards[responder_id])
            for index, responder_id in enumerate(order):
                self.list_layout.insertWidget(index, self.cards[responder_id])
                self.cards[responder_id].show()
        active = [w for _rid, warnings in groups for w in warnings]
        self._cards_per = {CRITICAL: 0, ADVISORY: 0}
        self._waiting_per = {CRITICAL: 0, ADVISORY: 0}
        for _rid, warnings in groups:
            level = min(severity(w) for w in warnings)
            self._cards_per[level] += 1
            if any(w.acknowledged_at_us is None for w in warnings):
                self._waiting_per[level] += 1
        self._critical_waiting = sum(
            1 for w in active if w.acknowledged_at_us is None and severity(w) == CRITICAL
        )
        hidden = len(groups) - len(shown)
        self.more.setText(f"+ {hidden} responders with lower warnings not shown" if hidden else "")
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
        self._choose_form()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize and watched is self.scroll_area.viewport():
            self._choose_form()
        return super().eventFilter(watched, event)

    def leaveEvent(self, event: QEvent) -> None:
        super().leaveEvent(event)
        self._choose_form()  # a change waited for the pointer to leave

    def _choose_form(self) -> None:
        """The richest form (full, compact, minimal) in which the top card is whole in the
        dock's viewport (full: with room left for the next cards, :data:`FULL_SHARE`): a short
        dock (1366×768) shows every reason and the ACKNOWLEDGE button of the most dangerous
        card rather than half of a full one. Decided on the viewport's
        size and the top card (not on the other cards), so it does not flip back and forth; not
        while the pointer is over the panel (nothing moves under it)."""
        if not self._order or self.underMouse():
            return
        top = self.cards[self._order[0]]
        viewport = self.scroll_area.viewport()
        bar = self.scroll_area.verticalScrollBar()
        # As if the scroll bar were there (it comes and goes with the cards' height).
        width = viewport.width() - (0 if bar.isVisible() else bar.sizeHint().width())
        room = viewport.height()
        if top.height_for(width, FULL) <= room * FULL_SHARE:
            form = FULL
        else:
            form = COMPACT if top.height_for(width, COMPACT) <= room else MINIMAL
        if form != self.form:
            self.form = form
            for card in self.cards.values():
                card.set_form(form)

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

    def _new_card(self, responder_id: str) -> WarningCard:
        card = WarningCard(responder_id, self.card_list)
        card.set_form(self.form)
        card.clicked.connect(self._on_card_clicked)
        card.acknowledge_clicked.connect(self.acknowledge_responder)
        self.cards[responder_id] = card
        return card

    def _update_attention(self, *, recount: bool) -> None:
        if recount:
            focused = self.selection.incident_id
            elsewhere = sum(
                1
                for incident_id, state in self.console.incidents.items()
                if incident_id != focused
                for w in state.warnings.values()
                if w.active and w.acknowledged_at_us is None and severity(w) == CRITICAL
            )
            if elsewhere != self._unacknowledged_elsewhere:
                self._unacknowledged_elsewhere = elsewhere
                self._update_summary()
        attention = bool(self._critical_waiting or self._unacknowledged_elsewhere)
        if attention != self._attention:
            self._attention = attention
            self.attention_changed.emit(attention)

    def _update_summary(self) -> None:
        parts = []
        if self._active_count:
            people = sum(self._cards_per.values())
            parts.append(f"{people} people · {self._waiting_count} waiting")
        if self._unacknowledged_elsewhere:
            parts.append(
                f"{self._unacknowledged_elsewhere} critical unacknowledged in other incidents"
            )
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


def _text_height(label: WrappedLabel, width: int, points: float | None = None) -> int:
    """How tall ``label`` is with its text wrapped at ``width`` px, in its font or that font at
    ``points``."""
    if points is None:
        return label.needed_height(width)
    font = QFont(label.font())
    font.setPointSizeF(points)
    margins = label.contentsMargins()
    inner = max(1, width - margins.left() - margins.right())
    box = QFontMetrics(font).boundingRect(
        QRect(0, 0, inner, 100_000), Qt.TextFlag.TextWordWrap, label.text()
    )
    return box.height() + margins.top() + margins.bottom() + 2


def _set(label: QLabel, text: str) -> None:
    if label.text() != text:
        label.setText(text)
