"""The alerts panel: every school alert, unacknowledged ones red, flashing and on top.

Each alert is a small card in a scroll area. An unacknowledged alert is the loudest thing on the
console: the alarm red background (flashing to a darker red about once a second), large bold
text with the school, the alert type, the time received, the elapsed time since activation in
a tabular font, who activated it and where, and an "ACKNOWLEDGE (Space)" button. An
acknowledged alert is calm and compact: "acknowledged by <name> at <time>".

Acknowledging is a request: the panel emits :attr:`AlertsPanel.acknowledge_requested` and the
main window turns it into an event carrying the user's name. The card turns calm only when that
``alert_acknowledged`` event comes back through :meth:`ConsoleState.apply` and
:meth:`AlertsPanel.refresh`, never before (a failed command must leave it red).

The panel owns the :class:`~dispatch_console.ui.shell.alarm.Alarm`: a newly received unacknowledged
alert starts it (so does a console started with alerts still waiting), and it stops when none
is left. Cards are built once per alert and only the elapsed times of unacknowledged ones are
touched on each refresh, so fifty alerts of history cost nothing.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFontMetrics, QMouseEvent, QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from dispatch_console.app.live import Changes, ConsoleState
from dispatch_console.domain.state import Alert, IncidentState
from dispatch_console.ui.shell.alarm import Alarm
from dispatch_console.ui.shell.cards import CardColumn
from dispatch_console.ui.shell.header import hms, local_clock, words
from dispatch_console.ui.shell.selection import Selection
from dispatch_console.ui.shell.theme import Theme, tabular_font

#: Half a flash period: red for 500 ms, darker red for 500 ms (1 Hz, far below the 3 Hz
#: photosensitivity limit).
FLASH_INTERVAL_MS = 500
ACKNOWLEDGE_TEXT = "ACKNOWLEDGE (Space)"

#: Below this height (px) the alerts panel shows its cards compact (1366x768, 1600x900): the
#: full unacknowledged card (about 230 px at the dock's usual width, under the counts line)
#: would not fit, and a card cut in half hides its school or its ACKNOWLEDGE button.
COMPACT_BELOW = 280

AlertKey = tuple[str, str]


class AlertCard(QFrame):
    """One alert. Paints its own background so flashing changes a colour, not a stylesheet."""

    clicked = Signal(str)
    acknowledge_clicked = Signal(str, str)

    def __init__(self, incident_id: str, alert_id: str, parent: QWidget) -> None:
        super().__init__(parent)
        self.incident_id = incident_id
        self.alert_id = alert_id
        #: None until shown; then whether the card shows the alert as acknowledged.
        self.acknowledged: bool | None = None
        self.activated_at_us = 0
        self.focused = False
        self._background = QColor()
        self._dark = False
        self._theme: Theme | None = None
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

        #: Whether the card is laid out compactly (a short alerts dock, see :meth:`set_compact`).
        self.compact = False
        self._place = ""
        layout = QGridLayout(self)
        layout.setHorizontalSpacing(10)
        self.grid = layout
        self.kind = self._label("kind")
        self.school = self._label("school")
        self.elapsed = self._label("elapsed")
        self.elapsed.setFont(tabular_font(22, bold=True))
        self.elapsed.setToolTip("Elapsed since the alert was activated")
        self.received = self._label("received")
        self.who = self._label("who")
        self.detail = self._label("detail")
        self.acknowledged_line = self._label("acknowledged")
        for label in (self.kind, self.school, self.received, self.who, self.detail):
            label.setWordWrap(True)
        self.acknowledged_line.setWordWrap(True)
        self.button = QPushButton(ACKNOWLEDGE_TEXT, self)
        self.button.setObjectName("acknowledge")
        # Space is the main window's shortcut for the top alert: a focused button would take it.
        self.button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.button.clicked.connect(self._on_button)
        self._arrange()

    def _arrange(self) -> None:
        """Place the parts in the grid: the full card (type, school, elapsed and received, who,
        where, the button below), or the compact one for a short dock (type and elapsed on one
        line, the school, where on one line with the button beside it)."""
        grid = self.grid
        parts: list[QWidget] = [
            self.kind, self.school, self.elapsed, self.received, self.who, self.detail,
            self.acknowledged_line, self.button,
        ]  # fmt: skip
        for part in parts:
            grid.removeWidget(part)
        top = Qt.AlignmentFlag.AlignTop
        if self.compact:
            grid.setContentsMargins(12, 5, 6, 5)
            grid.setVerticalSpacing(0)
            grid.addWidget(self.kind, 0, 0, 1, 2)
            grid.addWidget(self.elapsed, 0, 2, Qt.AlignmentFlag.AlignRight)
            grid.addWidget(self.school, 1, 0, 1, 3)
            grid.addWidget(self.detail, 2, 0)
            grid.addWidget(self.button, 2, 1, 1, 2, top)
            grid.addWidget(self.who, 3, 0, 1, 3)
            grid.addWidget(self.acknowledged_line, 4, 0, 1, 3)
            grid.setColumnStretch(0, 1)
            grid.setColumnStretch(1, 0)
        else:
            grid.setContentsMargins(14, 8, 10, 10)
            grid.setVerticalSpacing(2)
            grid.addWidget(self.kind, 0, 0, 1, 2)
            grid.addWidget(self.school, 1, 0, 1, 2)
            grid.addWidget(self.elapsed, 2, 0)
            grid.addWidget(self.received, 2, 1, Qt.AlignmentFlag.AlignBottom)
            grid.addWidget(self.who, 3, 0, 1, 2)
            grid.addWidget(self.detail, 4, 0, 1, 2)
            grid.addWidget(self.acknowledged_line, 5, 0, 1, 2)
            grid.addWidget(self.button, 6, 0, 1, 2)
            grid.setColumnStretch(0, 0)
            grid.setColumnStretch(1, 1)

    def set_compact(self, compact: bool) -> None:
        """Compact (or not) from now on; an acknowledged card is compact either way."""
        if compact == self.compact:
            return
        self.compact = compact
        self._arrange()
        self.kind.setWordWrap(not compact)
        # Never wider than the dock: the type gives way (it is short) rather than the card.
        self.kind.setSizePolicy(
            QSizePolicy.Policy.Ignored if compact else QSizePolicy.Policy.Preferred,
            QSizePolicy.Policy.Preferred,
        )
        self._show_parts()
        if self._theme is not None:
            self.set_theme(self._theme)

    def _label(self, name: str) -> QLabel:
        label = QLabel(self)
        label.setObjectName(name)
        label.setTextFormat(Qt.TextFormat.PlainText)
        return label

    # --- content -----------------------------------------------------------------------------

    def show_alert(self, state: IncidentState, alert: Alert, now_us: int, theme: Theme) -> None:
        acknowledged = alert.acknowledged_at_us is not None
        self.activated_at_us = alert.activated_at_us
        kind = words(alert.alert_type).upper()
        school = state.school_name or alert.school_id
        who = alert.activated_by_name or "unknown person"
        if alert.activated_by_role:
            who += f" ({alert.activated_by_role})"
        received = f"received {local_clock(alert.received_at_us)}"
        place = " — ".join(p for p in (alert.location_detail, alert.message) if p)
        if acknowledged:
            # Calm and compact: three short lines.
            self.kind.setText(f"{kind} · {school}")
            self.who.setText(f"{received} · by {who}")
            self.acknowledged_line.setText(
                f"acknowledged by {alert.acknowledged_by or 'unknown'}"
                f" at {local_clock(alert.acknowledged_at_us or 0)}"
            )
        else:
            self.kind.setText(kind)
            self.school.setText(school)
            self.received.setText(f"since activation\n{received}")
            self.who.setText(f"activated by {who}")
            self.detail.setText(place)
        self._place = place
        self._show_parts(acknowledged)
        self.setToolTip(f"{school}: alert {alert.alert_id}; click to focus this incident")
        if acknowledged != self.acknowledged or theme is not self._theme:
            self.acknowledged = acknowledged
            self.set_theme(theme)
        self._fit_detail()
        self.tick(now_us)

    def _show_parts(self, acknowledged: bool | None = None) -> None:
        if acknowledged is None:
            acknowledged = bool(self.acknowledged)
        waiting = not acknowledged
        self.school.setVisible(waiting)
        self.elapsed.setVisible(waiting)
        self.received.setVisible(waiting and not self.compact)
        self.who.setVisible(acknowledged or not self.compact)
        self.detail.setVisible(bool(self._place) and waiting)
        self.acknowledged_line.setVisible(acknowledged)
        self.button.setVisible(waiting)
        # Compact, where it is goes on one line (the whole of it in the tooltip).
        self.detail.setWordWrap(not self.compact)
        self.detail.setSizePolicy(
            QSizePolicy.Policy.Ignored if self.compact else QSizePolicy.Policy.Preferred,
            QSizePolicy.Policy.Preferred,
        )
        self.detail.setToolTip(self._place if self.compact else "")
        self._fit_detail()

    def _fit_detail(self) -> None:
        """Compact: the place elided to the width it has (it never pushes the card wider)."""
        if self.acknowledged or not self._place:
            return
        if not self.compact:
            if self.detail.text() != self._place:
                self.detail.setText(self._place)
            return
        width = self.detail.width()
        if width < 40:
            width = max(40, self.width() - 190)
        self.detail.ensurePolished()
        text = QFontMetrics(self.detail.font()).elidedText(
            self._place, Qt.TextElideMode.ElideRight, width
        )
        if text != self.detail.text():
            self.detail.setText(text)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.compact:
            QTimer.singleShot(0, self._fit_detail)  # once the grid has placed the label

    def tick(self, now_us: int) -> None:
        if not self.acknowledged:
            self.elapsed.setText(hms(now_us - self.activated_at_us))

    def set_flash(self, dark: bool) -> None:
        if dark != self._dark:
            self._dark = dark
            self._update_background()

    def set_focused(self, focused: bool) -> None:
        if focused != self.focused:
            self.focused = focused
            self.update()

    def set_theme(self, theme: Theme) -> None:
        self._theme = theme
        t = theme
        mono = tabular_font().family()
        if self.acknowledged:
            self.setStyleSheet(
                f"""
                QLabel {{ color: {t.text}; background: transparent; font-size: 11pt; }}
                QLabel#kind {{ font-size: 12pt; font-weight: bold; }}
                QLabel#acknowledged {{ font-size: 12pt; }}
                """
            )
        else:
            self.setStyleSheet(
                f"""
                QLabel {{ color: {t.alarm_text}; background: transparent; }}
                QLabel#kind {{ font-size: 20pt; font-weight: 900; }}
                QLabel#elapsed {{ font-family: "{mono}"; font-size: 22pt; font-weight: bold; }}
                QLabel#school {{ font-size: 17pt; font-weight: bold; }}
                QLabel#detail {{ font-size: 13pt; font-weight: bold; }}
                QLabel#who, QLabel#received {{ font-size: 12pt; }}
                QPushButton#acknowledge {{ background: {t.alarm_text}; color: {t.alarm};
                    font-size: 14pt; font-weight: 900; border: 0; border-radius: 4px;
                    padding: 8px; margin-top: 6px; }}
                QPushButton#acknowledge:pressed {{ background: {t.calm}; color: {t.text}; }}
                """
            )
            if self.compact:
                self.setStyleSheet(
                    f"""
                    QLabel {{ color: {t.alarm_text}; background: transparent; }}
                    QLabel#kind {{ font-size: 13pt; font-weight: 900; }}
                    QLabel#elapsed {{ font-family: "{mono}"; font-size: 13pt;
                        font-weight: bold; }}
                    QLabel#school {{ font-size: 12pt; font-weight: bold; }}
                    QLabel#detail {{ font-size: 10pt; font-weight: bold; }}
                    QPushButton#acknowledge {{ background: {t.alarm_text}; color: {t.alarm};
                        font-size: 10pt; font-weight: 900; border: 0; border-radius: 4px;
                        padding: 3px 6px; }}
                    QPushButton#acknowledge:pressed {{ background: {t.calm}; color: {t.text}; }}
                    """
                )
        self._update_background()

    def _update_background(self) -> None:
        if self._theme is None:
            return
        if self.acknowledged:
            self._background = QColor(self._theme.calm)
        else:
            red = QColor(self._theme.alarm)
            self._background = red.darker(165) if self._dark else red
        self.update()

    @property
    def background(self) -> QColor:
        """The colour the card is painted (alarm red, its darker flash, or calm)."""
        return QColor(self._background)

    # --- events ------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self._background)
        if self.focused and self._theme is not None:
            painter.fillRect(0, 0, 6, self.height(), QColor(self._theme.selection))
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(self.incident_id)
            event.accept()
            return
        super().mousePressEvent(event)

    def _on_button(self) -> None:
        self.acknowledge_clicked.emit(self.incident_id, self.alert_id)


class AlertsPanel(QWidget):
    """Every alert, unacknowledged first (panel contract: ``refresh``, ``set_theme``).

    ``alarm`` may be given (tests pass one without audio); by default the panel makes its own.
    """

    #: ``(incident_id, alert_id)``: the user asked to acknowledge this alert.
    acknowledge_requested = Signal(str, str)
    #: True while any alert is unacknowledged (the main window flashes its title).
    attention_changed = Signal(bool)
    #: The alerts dock's title (with the counts when the panel is compact).
    title_changed = Signal(str)

    def __init__(
        self,
        console: ConsoleState,
        selection: Selection,
        theme: Theme,
        parent: QWidget | None = None,
        *,
        alarm: Alarm | None = None,
    ) -> None:
        super().__init__(parent)
        self.console = console
        self.selection = selection
        self.theme = theme
        self.now_us = 0
        self.alarm = alarm if alarm is not None else Alarm(self)
        if self.alarm.parent() is None:
            self.alarm.setParent(self)
        self.cards: dict[AlertKey, AlertCard] = {}
        self._order: list[AlertKey] = []
        self._unacknowledged = 0
        self._attention = False
        self._dark = False
        #: Cards compact: the panel is shorter than :data:`COMPACT_BELOW` (a 768 or 900 px
        #: high screen), so the whole of an unacknowledged card and its button fit.
        self.compact = False
        self._title = "Alerts"
        self.setObjectName("alerts_panel")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)

        self.flash_timer = QTimer(self)
        self.flash_timer.setInterval(FLASH_INTERVAL_MS)
        self.flash_timer.timeout.connect(self._flash)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        self.summary = QLabel(self)
        self.summary.setObjectName("summary")
        layout.addWidget(self.summary)
        self.empty = QLabel("No alerts", self)
        self.empty.setObjectName("empty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.empty, 1)
        self.scroll_area = CardColumn("alert_list", self)
        self.alert_list = self.scroll_area.container
        self.list_layout = self.scroll_area.column
        layout.addWidget(self.scroll_area, 1)

        selection.focus_changed.connect(self._on_focus_changed)
        self.set_theme(theme)
        self._sync_cards()
        self._update_attention()
        if self._unacknowledged:
            self.alarm.start()  # started with alerts still waiting (a restart mid-incident)

    # --- panel contract ----------------------------------------------------------------------

    def refresh(self, changes: Changes, now_us: int) -> None:
        self.now_us = now_us
        # Also after a load the changes did not describe (a catch-up, a reconnect).
        known = sum(len(state.alerts) for state in self.console.incidents.values())
        if changes.alerts or changes.new_alerts or known != len(self.cards):
            self._sync_cards()
        for card in self.cards.values():
            if not card.acknowledged:
                card.tick(now_us)
        if any(self._is_waiting(key) for key in changes.new_alerts):
            self.alarm.start()
            self.scroll_area.verticalScrollBar().setValue(0)
        self._update_attention()

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        t = theme
        self.setStyleSheet(
            f"""
            QWidget#alerts_panel, QWidget#alert_list {{ background: {t.panel}; }}
            QLabel#empty {{ color: {t.muted}; font-size: 14pt; }}
            QLabel#summary {{ color: {t.muted}; font-size: 11pt; font-weight: bold; }}
            """
        )
        for card in self.cards.values():
            card.set_theme(theme)

    # --- acts and questions -------------------------------------------------------------------

    def acknowledge_top(self) -> bool:
        """Ask to acknowledge the top unacknowledged alert (bound to a key by the main window).
        Returns False when there is none."""
        waiting = self.console.unacknowledged_alerts()
        if not waiting:
            return False
        state, alert = waiting[0]
        self.acknowledge_requested.emit(state.incident_id, alert.alert_id)
        return True

    def unacknowledged_count(self) -> int:
        return self._unacknowledged

    @property
    def flashing(self) -> bool:
        return self.flash_timer.isActive()

    def order(self) -> list[AlertKey]:
        """``(incident_id, alert_id)`` of the cards as shown, top first."""
        return list(self._order)

    # --- internals ----------------------------------------------------------------------------

    def _is_waiting(self, key: AlertKey) -> bool:
        state = self.console.incidents.get(key[0])
        alert = state.alerts.get(key[1]) if state else None
        return alert is not None and alert.acknowledged_at_us is None

    def _sync_cards(self) -> None:
        pairs = self.console.alerts()
        order = [(state.incident_id, alert.alert_id) for state, alert in pairs]
        for (state, alert), key in zip(pairs, order, strict=True):
            card = self.cards.get(key)
            if card is None:
                card = self._new_card(key)
            if card.acknowledged is None or card.acknowledged != (
                alert.acknowledged_at_us is not None
            ):
                card.show_alert(state, alert, self.now_us, self.theme)
        for key in set(self.cards) - set(order):
            self.cards.pop(key).deleteLater()
        if order != self._order:
            self._order = order
            for key in order:
                self.list_layout.removeWidget(self.cards[key])
            for index, key in enumerate(order):
                self.list_layout.insertWidget(index, self.cards[key])
                self.cards[key].show()  # now, not at the next event loop turn
        self._unacknowledged = sum(1 for _, a in pairs if a.acknowledged_at_us is None)
        self._show_summary()
        self.empty.setVisible(not pairs)
        self.scroll_area.setVisible(bool(pairs))

    def dock_title(self) -> str:
        """ "Alerts", with the counts when compact (the summary line is hidden then)."""
        return self._title

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._choose_compact()

    def leaveEvent(self, event: QEvent) -> None:
        super().leaveEvent(event)
        self._choose_compact()  # a change waited for the pointer to leave

    def _choose_compact(self) -> None:
        """Compact cards when the panel is short. Decided on the panel's height (set by its
        dock, not by the cards), so it never flips back and forth; never while the pointer is
        over the panel (nothing moves under it: the change waits until the pointer leaves)."""
        compact = self.height() < COMPACT_BELOW
        if compact == self.compact or self.underMouse():
            return
        self.compact = compact
        for card in self.cards.values():
            card.set_compact(compact)
        self._show_summary()

    def _show_summary(self) -> None:
        total = len(self.cards)
        acknowledged = total - self._unacknowledged
        text = (
            f"{self._unacknowledged} unacknowledged · {acknowledged} acknowledged" if total else ""
        )
        self.summary.setText(text)
        self.summary.setVisible(bool(text) and not self.compact)
        # Short, so that neither the dock's title nor its tab (beside the responder's detail)
        # is cut: what waits, and of how many.
        if not total or not self.compact:
            title = "Alerts"
        elif not self._unacknowledged:
            title = f"Alerts: {total} acknowledged"
        elif total > self._unacknowledged:
            title = f"Alerts: {self._unacknowledged} unacknowledged of {total}"
        else:
            title = f"Alerts: {self._unacknowledged} unacknowledged"
        if title != self._title:
            self._title = title
            self.title_changed.emit(title)

    def _new_card(self, key: AlertKey) -> AlertCard:
        card = AlertCard(key[0], key[1], self.alert_list)
        card.set_compact(self.compact)
        card.clicked.connect(self._on_card_clicked)
        card.acknowledge_clicked.connect(self.acknowledge_requested)
        card.set_focused(key[0] == self.selection.incident_id)
        card.set_flash(self._dark)
        self.cards[key] = card
        return card

    def _update_attention(self) -> None:
        attention = self._unacknowledged > 0
        if attention and not self.flash_timer.isActive():
            self.flash_timer.start()
        elif not attention:
            self.flash_timer.stop()
            self._dark = False
            self.alarm.stop()
        if attention != self._attention:
            self._attention = attention
            self.attention_changed.emit(attention)

    def _flash(self) -> None:
        self._dark = not self._dark
        for card in self.cards.values():
            if not card.acknowledged:
                card.set_flash(self._dark)

    def _on_card_clicked(self, incident_id: str) -> None:
        self.selection.focus(incident_id)

    def _on_focus_changed(self, incident_id: str) -> None:
        for (card_incident, _), card in self.cards.items():
            card.set_focused(card_incident == incident_id)
