"""The radio broadcast line: one sentence to read on the radio, describing every plainclothes
responder inside the outer perimeter, so that uniformed officers know who not to shoot.

The sentence comes from :func:`dispatch_console.domain.warnings.radio_line` (the same words in
the console, the CLI and replay) and is shown large, updated live, with when it last changed
(a dispatcher who read it a minute ago must see that it is different now) and a COPY button
that puts it on the clipboard in one click.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt, QTimer
from PySide6.QtGui import QFontMetrics, QGuiApplication, QResizeEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from dispatch_console.app.live import Changes, ConsoleState
from dispatch_console.domain.state import IncidentState
from dispatch_console.domain.timeutil import US_PER_S
from dispatch_console.ui.shell.header import hms, local_clock
from dispatch_console.ui.shell.selection import Selection
from dispatch_console.ui.shell.theme import Theme, tabular_font

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
        *,
        strip: bool = False,
    ) -> None:
        super().__init__(parent)
        #: In the window's critical strip: one row (caption and age on the left, the sentence
        #: wrapping over as many lines as it needs, COPY on the right), never cut.
        self.strip = strip
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

        self.caption = QLabel("READ ON THE RADIO", self)
        self.caption.setObjectName("caption")
        self.copy_button = QPushButton(COPY_TEXT, self)
        self.copy_button.setObjectName("copy")
        self.copy_button.setToolTip("Copy the sentence to the clipboard (Ctrl+Shift+C)")
        self.copy_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.copy_button.clicked.connect(self.copy)
        self.text = QLabel(self)
        self.text.setObjectName("line")
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        self.text.setWordWrap(True)
        self.text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.changed = QLabel(self)
        self.changed.setObjectName("changed")
        if strip:
            self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
            row = QHBoxLayout(self)
            row.setContentsMargins(10, 3, 10, 3)
            row.setSpacing(10)
            left = QVBoxLayout()
            left.setSpacing(0)
            left.addWidget(self.caption)
            left.addWidget(self.changed)
            left.addStretch(1)
            row.addLayout(left)
            # The sentence takes what width is left and as many lines as it needs.
            self.text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            self.text.setFixedHeight(40)  # until laid out (a first guess must not grow the window)
            row.addWidget(self.text, 1)
            row.addWidget(self.copy_button, 0, Qt.AlignmentFlag.AlignTop)
        else:
            layout = QVBoxLayout(self)
            layout.setContentsMargins(10, 8, 10, 8)
            layout.setSpacing(6)
            top = QHBoxLayout()
            top.setSpacing(8)
            top.addWidget(self.caption)
            top.addStretch(1)
            top.addWidget(self.copy_button)
            layout.addLayout(top)
            layout.addWidget(self.text, 1)
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
            QWidget#broadcast_line_panel {{ background: {t.panel};
                border-bottom: 1px solid {t.border}; }}
            QLabel#caption {{ color: {t.muted}; font-size: 11pt; font-weight: bold; }}
            QLabel#line {{ color: {t.text}; font-size: {12 if self.strip else 17}pt;
                font-weight: bold; }}
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
        state = self.console.incident(focused)
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
        self._fit_height()
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
        if self.strip:  # a narrow column beside the sentence
            text = text.replace(" · ", "\n", 1).replace(" (", "\n(", 1)
        if self.changed.text() != text:
            self.changed.setText(text)
        style = f"color: {self.theme.caution}; font-weight: bold;" if fresh else ""
        if self.changed.styleSheet() != style:
            self.changed.setStyleSheet(style)

    @property
    def fresh(self) -> bool:
        """Whether the sentence changed in the last :data:`FRESH_US` (shown amber)."""
        return self.changed.text().startswith("NEW")

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_height()

    def _fit_height(self) -> None:
        """In the strip: exactly as many lines as the sentence needs at the width it has (a
        bar does not ask a wrapping label how tall it wants to be)."""
        if not self.strip:
            return
        # The width the row leaves the sentence (from the panel's, which the window sets: the
        # label's own may be a transient one, and a tall guess would grow the window).
        side = max(self.caption.sizeHint().width(), self.changed.sizeHint().width())
        width = self.width() - side - self.copy_button.sizeHint().width() - 40
        if width < 200:
            return
        self.text.ensurePolished()  # the style sheet's font
        box = QFontMetrics(self.text.font()).boundingRect(
            QRect(0, 0, width, 100_000), Qt.TextFlag.TextWordWrap, self.text.text()
        )
        height = box.height() + 4
        if height != self.text.height():
            self.text.setFixedHeight(height)

    def is_whole(self) -> bool:
        """Whether the whole sentence fits the label as laid out now (nothing cut)."""
        label = self.text
        if not label.isVisible() or label.width() <= 0:
            return False
        box = QFontMetrics(label.font()).boundingRect(
            QRect(0, 0, label.width(), 100_000), Qt.TextFlag.TextWordWrap, label.text()
        )
        return (
            label.height() >= box.height()
            and label.visibleRegion().boundingRect().height() >= box.height()
        )

    def _restore_copy_text(self) -> None:
        self.copy_button.setText(COPY_TEXT)

    def _on_focus_changed(self, _incident_id: str) -> None:
        self._recompute()
        self._show_changed()
