"""The radio broadcast line: one sentence to read on the radio, describing every plainclothes
responder inside the outer perimeter, so that uniformed officers know who not to shoot.

The sentence comes from :func:`dispatch_console.domain.warnings.radio_line` (the same words in
the console, the CLI and replay) and is shown large, updated live, with when it last changed
(a dispatcher who read it a minute ago must see that it is different now) and a COPY button
that puts it on the clipboard in one click.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from dispatch_console.app.live import Changes, ConsoleState
from dispatch_console.domain.state import IncidentState
from dispatch_console.domain.timeutil import US_PER_S
from dispatch_console.ui.header import hms, local_clock
from dispatch_console.ui.selection import Selection
from dispatch_console.ui.theme import Theme, tabular_font

#: With nothing new for the focused incident, the line is recomputed this often (time alone
#: can change it: a position goes stale).
RECOMPUTE_US = US_PER_S
COPIED_MS = 2000
#: A change this recent is shown in amber: the sentence read a moment ago is not this one.
FRESH_US = 30 * US_PER_S
COPY_TEXT = "COPY"


def radio_line(state: IncidentState, now_us: int) -> str:
    """The domain's sentence (imported here, when first needed)."""
    from dispatch_console.domain.warnings import radio_line as domain_radio_line

    line: str = domain_radio_line(state, now_us)
    return line


class BroadcastLinePanel(QWidget):
    """Panel contract: ``refresh(changes, now_us)``, ``set_theme``; :meth:`copy`."""

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
        #: The sentence shown ("" with no incident in focus).
        self.line = ""
        #: When the sentence last changed (console time), or None before the first one.
        self.changed_at_us: int | None = None
        self._incident_id: str | None = None
        self._computed_at_us: int | None = None
        self._news = False
        self.setObjectName("broadcast_line_panel")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(6)
        top = QHBoxLayout()
        top.setSpacing(8)
        self.caption = QLabel("READ ON THE RADIO", self)
        self.caption.setObjectName("caption")
        top.addWidget(self.caption)
        top.addStretch(1)
        self.copy_button = QPushButton(COPY_TEXT, self)
        self.copy_button.setObjectName("copy")
        self.copy_button.setToolTip("Copy the sentence to the clipboard")
        self.copy_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.copy_button.clicked.connect(self.copy)
        top.addWidget(self.copy_button)
        layout.addLayout(top)
        self.text = QLabel(self)
        self.text.setObjectName("line")
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        self.text.setWordWrap(True)
        self.text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.text, 1)
        self.changed = QLabel(self)
        self.changed.setObjectName("changed")
        layout.addWidget(self.changed)

        self._copied_timer = QTimer(self)
        self._copied_timer.setSingleShot(True)
        self._copied_timer.setInterval(COPIED_MS)
        self._copied_timer.timeout.connect(self._restore_copy_text)
        selection.focus_changed.connect(self._on_focus_changed)
        self.set_theme(theme)
        self._show()

    # --- panel contract ----------------------------------------------------------------------

    def refresh(self, changes: Changes, now_us: int) -> None:
        self.now_us = now_us
        focused = self.selection.incident_id
        due = (
            self._computed_at_us is None
            or now_us - self._computed_at_us >= RECOMPUTE_US
            or now_us < self._computed_at_us
        )
        if focused != self._incident_id or focused in changes.incidents or due:
            self._recompute()
        self._show_changed()

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        t = theme
        mono = tabular_font().family()
        self.setStyleSheet(
            f"""
            QWidget#broadcast_line_panel {{ background: {t.panel}; }}
            QLabel#caption {{ color: {t.muted}; font-size: 11pt; font-weight: bold; }}
            QLabel#line {{ color: {t.text}; font-size: 17pt; font-weight: bold; }}
            QLabel#changed {{ color: {t.muted}; font-family: "{mono}"; font-size: 11pt; }}
            QPushButton#copy {{ font-size: 12pt; font-weight: bold; padding: 4px 16px; }}
            """
        )

    # --- acts -----------------------------------------------------------------------------------

    def copy(self) -> str:
        """Put the sentence on the clipboard; returns it ("" with no incident: nothing copied)."""
        if not self.line:
            return ""
        QGuiApplication.clipboard().setText(self.line)
        self.copy_button.setText("COPIED ✓")
        self._copied_timer.start()
        return self.line

    # --- internals ------------------------------------------------------------------------------

    def _recompute(self) -> None:
        focused = self.selection.incident_id
        state = self.console.incidents.get(focused) if focused else None
        line = radio_line(state, self.now_us) if state is not None else ""
        first = focused != self._incident_id or self._computed_at_us is None
        if focused != self._incident_id:
            self._incident_id = focused
            self.changed_at_us = None
            self.line = ""
        self._computed_at_us = self.now_us
        if line != self.line:
            # The first sentence seen of an incident is not news; a change after it is.
            self._news = not first
            self.line = line
            # (no instant yet: a focus change before the first refresh dates nothing)
            known = state is not None and self.now_us > 0
            self.changed_at_us = self.now_us if known else None
            self._show()

    def _show(self) -> None:
        self.text.setText(self.line or "No incident in focus.")
        self.copy_button.setEnabled(bool(self.line))
        self._show_changed()

    def _show_changed(self) -> None:
        fresh = False
        age = self.now_us - (self.changed_at_us or 0)
        if self.changed_at_us is None or age < 0:
            text = ""
        else:
            fresh = self._news and 0 <= age < FRESH_US
            at = local_clock(self.changed_at_us)
            if fresh:
                text = f"NEW · changed {hms(age)} ago (at {at})"
            else:
                text = f"unchanged for {hms(age)} (since {at})"
        if self.changed.text() != text:
            self.changed.setText(text)
        style = f"color: {self.theme.caution}; font-weight: bold;" if fresh else ""
        if self.changed.styleSheet() != style:
            self.changed.setStyleSheet(style)

    @property
    def fresh(self) -> bool:
        """Whether the sentence changed in the last :data:`FRESH_US` (shown amber)."""
        return self.changed.text().startswith("NEW")

    def _restore_copy_text(self) -> None:
        self.copy_button.setText(COPY_TEXT)

    def _on_focus_changed(self, _incident_id: str) -> None:
        self._recompute()
        self._show_changed()
