"""The incident header: which school, how long since activation, and who is where.

One line of identity (EXERCISE banner when it is one, school, alert type, elapsed time) followed
by the current suspect description with its revision, then one row of counts in a large tabular
font (digits do not jitter as they change). The focused incident is the selection's; with none the
header says so calmly.

Also home of the console's two time formats, shared by the alerts panel and the event log:
:func:`hms` for elapsed times ("00:07:42") and :func:`local_clock` for instants, shown in the
console computer's local time zone (the dispatch floor's wall clock) as ``HH:MM:SS``.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QFontMetrics, QResizeEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from dispatch_console.app.live import Changes, ConsoleState
from dispatch_console.domain.lifecycle import ResponderStatus
from dispatch_console.domain.sentences import acting_commander_text
from dispatch_console.domain.state import IncidentState
from dispatch_console.domain.timeutil import US_PER_S, from_us
from dispatch_console.ui.shell.selection import Selection
from dispatch_console.ui.shell.theme import Theme, tabular_font


def hms(us: int) -> str:
    """An elapsed time as ``HH:MM:SS`` (hours grow past 99 rather than wrap)."""
    seconds = max(0, us // US_PER_S)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"


def local_clock(us: int) -> str:
    """An instant as ``HH:MM:SS`` in the local time zone of the console's computer."""
    return from_us(us).astimezone().strftime("%H:%M:%S")


def words(code: str) -> str:
    """``active_shooter`` -> ``active shooter``."""
    return code.replace("_", " ")


@dataclass(frozen=True)
class _Count:
    name: str
    caption: str
    key: str
    status: ResponderStatus | None = None
    #: Shown amber and framed when above zero (people not accounted for).
    emphasised: bool = False
    tip: str = ""


S = ResponderStatus

COUNTS = (
    _Count("notified", "NOTIFIED", "notified", S.NOTIFIED, tip="everyone the alert reached"),
    _Count("acknowledged", "ACKNOWLEDGED", "acknowledged", S.ACKNOWLEDGED,
           tip="answered the alert (responding or not)"),
    _Count("en_route", "EN ROUTE", "en_route", S.EN_ROUTE),
    _Count("on_scene", "ON SCENE", "on_scene", S.ON_SCENE),
    _Count("at_staging", "AT STAGING", "at_staging", S.AT_STAGING),
    _Count("identified", "IDENTIFIED", "identified", S.IDENTIFIED,
           tip="identified, not yet staged or assigned"),
    _Count("staged", "STAGED", "staged", S.STAGED),
    _Count("assigned", "ASSIGNED", "assigned", S.ASSIGNED),
    _Count("arrived_not_checked_in", "ARRIVED NOT CHECKED IN", "arrived_not_checked_in",
           emphasised=True,
           tip="at staging or on scene and not identified (ICS check-in) yet"),
    _Count("unaccounted", "POSITION UNKNOWN", "stale_responding", emphasised=True,
           tip="en route or present, with a stale position or none: where they are is unknown"),
)  # fmt: skip


class _CountCell(QFrame):
    def __init__(self, count: _Count, parent: QWidget) -> None:
        super().__init__(parent)
        self.count = count
        self.setObjectName("count_cell")
        self.setToolTip(count.tip)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        layout.setSpacing(0)
        self.caption = QLabel(count.caption, self)
        self.caption.setObjectName("caption")
        self.value = QLabel("0", self)
        self.value.setObjectName("count")
        self.value.setFont(tabular_font(24, bold=True))
        self.value.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(self.caption)
        layout.addWidget(self.value)
        self.hot: bool | None = None

    def show_value(self, value: int, theme: Theme) -> None:
        self.value.setText(str(value))
        hot = self.count.emphasised and value > 0
        if hot != self.hot:
            self.hot = hot
            self.set_theme(theme)

    def set_theme(self, theme: Theme) -> None:
        swatch = theme.status.get(self.count.status) if self.count.status else None
        top = f"border-top: 4px solid {swatch};" if swatch else "border-top: 4px solid transparent;"
        if self.hot:
            self.setStyleSheet(
                f"QFrame#count_cell {{ border: 2px solid {theme.caution}; border-radius: 4px; }}"
                f"QLabel {{ color: {theme.caution}; border: 0; }}"
            )
        else:
            self.setStyleSheet(f"QFrame#count_cell {{ border: 0; {top} }} QLabel {{ border: 0; }}")


class IncidentHeader(QWidget):
    """The focused incident at a glance (panel contract: ``refresh``, ``set_theme``).

    Counts come from :meth:`IncidentState.counts`. **Unaccounted** is defined as the responders
    who are en route or present (at staging, on scene, identified, staged or assigned) whose last
    position is stale, or who never sent one (``counts()["stale_responding"]``): the console
    cannot say where they are now. It is shown amber when above zero, like **arrived not checked
    in** (at staging or on scene, not identified yet). A closed incident (all clear, cancelled)
    shows its status and the elapsed time stops at its closing.
    """

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
        self._shown: tuple[object, ...] | None = None
        self._suspect_text = ""
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setObjectName("incident_header")

        outer = QVBoxLayout(self)
        outer.setContentsMargins(10, 3, 10, 3)
        outer.setSpacing(2)
        self.empty = QLabel("No active incident", self)
        self.empty.setObjectName("empty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        outer.addWidget(self.empty)

        self.body = QWidget(self)
        rows = QVBoxLayout(self.body)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.setSpacing(2)
        outer.addWidget(self.body)

        # Line one: [EXERCISE] school, alert type, elapsed clock, then the suspect (wraps).
        first = QHBoxLayout()
        first.setSpacing(12)
        self.exercise = QLabel("EXERCISE", self.body)
        self.exercise.setObjectName("exercise")
        self.exercise.setToolTip("A drill: not a real incident")
        self.school = QLabel(self.body)
        self.school.setObjectName("school")
        self.alert_type = QLabel(self.body)
        self.alert_type.setObjectName("alert_type")
        self.elapsed_caption = QLabel("ELAPSED", self.body)
        self.elapsed_caption.setObjectName("caption")
        self.elapsed = QLabel("00:00:00", self.body)
        self.elapsed.setObjectName("elapsed")
        self.elapsed.setFont(tabular_font(30, bold=True))
        self.elapsed.setToolTip("Time since the alert opened the incident")
        self.suspect = QLabel(self.body)
        self.suspect.setObjectName("suspect")
        self.suspect.setWordWrap(True)
        self.suspect.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        for label in (self.exercise, self.school, self.alert_type, self.elapsed_caption):
            first.addWidget(label, 0, Qt.AlignmentFlag.AlignVCenter)
        first.addWidget(self.elapsed, 0, Qt.AlignmentFlag.AlignVCenter)
        # Who holds incident command (and where the command post is).
        self.commander = QLabel(self.body)
        self.commander.setObjectName("commander")
        first.addWidget(self.commander, 0, Qt.AlignmentFlag.AlignVCenter)
        first.addSpacing(12)
        first.addWidget(self.suspect, 1, Qt.AlignmentFlag.AlignVCenter)
        rows.addLayout(first)

        # Line two: the counts, one cell each, across the whole width.
        cells = QHBoxLayout()
        cells.setSpacing(2)
        self.cells: dict[str, _CountCell] = {}
        for count in COUNTS:
            cell = _CountCell(count, self.body)
            self.cells[count.name] = cell
            cells.addWidget(cell)
        rows.addLayout(cells)

        selection.focus_changed.connect(self._on_focus_changed)
        self.set_theme(theme)
        self._show()

    # --- panel contract ------------------------------------------------------------------

    def refresh(self, changes: Changes, now_us: int) -> None:
        self.now_us = now_us
        self._show()

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        t = theme
        mono = tabular_font().family()
        self.setStyleSheet(
            f"""
            QWidget#incident_header {{ background: {t.panel};
                border-bottom: 1px solid {t.border}; }}
            QLabel {{ color: {t.text}; }}
            QLabel#empty {{ color: {t.muted}; font-size: 16pt; }}
            QLabel#school {{ font-size: 20pt; font-weight: bold; }}
            QLabel#alert_type {{ font-size: 15pt; font-weight: bold; letter-spacing: 1px; }}
            QLabel#exercise {{ background: {t.text}; color: {t.panel}; font-size: 16pt;
                font-weight: 900; padding: 1px 10px; border-radius: 3px; }}
            QLabel#caption {{ color: {t.muted}; font-size: 11pt; font-weight: bold; }}
            QLabel#count {{ font-family: "{mono}"; font-size: 24pt; font-weight: bold; }}
            QLabel#elapsed {{ font-family: "{mono}"; font-size: 30pt; font-weight: bold; }}
            QLabel#suspect {{ font-size: 14pt; font-weight: bold; }}
            QLabel#commander {{ font-size: 13pt; font-weight: bold; }}
            QLabel#commander[vacant="true"] {{ color: {t.caution}; }}
            """
        )
        for cell in self.cells.values():
            cell.set_theme(theme)

    # --- what tests (and the main window's title) read -----------------------------------

    def text_of(self, name: str) -> str:
        """The text shown for ``name``: ``school``, ``alert_type``, ``elapsed``, ``suspect``,
        ``exercise`` ("" unless an exercise), ``empty`` ("" unless no incident), or a count
        (``notified``, ``acknowledged``, ``en_route``, ``on_scene``, ``at_staging``,
        ``identified``, ``staged``, ``assigned``, ``arrived_not_checked_in``, ``unaccounted``)."""
        if name in self.cells:
            return self.cells[name].value.text() if not self.body.isHidden() else ""
        if name == "empty":
            return self.empty.text() if not self.empty.isHidden() else ""
        if name == "exercise":
            hidden = self.exercise.isHidden() or self.body.isHidden()
            return "" if hidden else self.exercise.text()
        label: QLabel = getattr(self, name)
        return label.text() if not self.body.isHidden() else ""

    def is_emphasised(self, name: str) -> bool:
        return bool(self.cells[name].hot)

    # --- showing -------------------------------------------------------------------------

    def _on_focus_changed(self, _incident_id: str) -> None:
        self._show()

    def _state(self) -> IncidentState | None:
        incident_id = self.selection.incident_id
        return self.console.incident(incident_id)

    def _show(self) -> None:
        state = self._state()
        if state is None or not state.opened:
            if self._shown != ():
                self._shown = ()
                self.body.hide()
                self.empty.show()
            return
        # Re-render when the state changed, the focus changed or the second ticked over.
        key = (state.incident_id, state.last_seq, self.now_us // US_PER_S)
        if key == self._shown:
            return
        self._shown = key
        self.empty.hide()
        self.body.show()
        self._show_state(state, self.now_us)

    def _show_state(self, state: IncidentState, now_us: int) -> None:
        self.exercise.setVisible(state.exercise)
        self.school.setText(state.school_name or state.school_id or state.incident_id)
        kind = words(state.incident_type).upper()
        if state.closed:
            kind += f" · {words(state.status).upper()}"
        self.alert_type.setText(kind)
        until = state.status_changed_at_us if state.closed else now_us
        self.elapsed.setText(hms(until - state.opened_at_us))
        counts = state.counts(now_us)
        for cell in self.cells.values():
            cell.show_value(counts[cell.count.key], self.theme)
        self._show_suspect(state)
        self._show_commander(state)

    def _show_commander(self, state: IncidentState) -> None:
        """``IC: Lt. J. Hayes`` (the command post in the tooltip), or ``IC: none`` in the
        caution colour while nobody has established command; in an older record where nobody
        did but an incident commander acted, ``IC: <name> (acting)``, still in caution."""
        vacant = state.commander is None
        acting = state.acting_commanders(self.console.roles) if vacant else []
        if acting:
            text = "IC: " + ", ".join(a.name for a in acting) + " (acting)"
        else:
            text = "IC: none" if vacant else f"IC: {state.commander}"
        self.commander.setText(text)
        if self.commander.property("vacant") != vacant:
            self.commander.setProperty("vacant", vacant)
            self.commander.style().unpolish(self.commander)
            self.commander.style().polish(self.commander)
        if acting:
            tip = acting_commander_text(acting, local_clock)
        elif vacant:
            tip = "Nobody has established incident command (Incident ▸ Incident command…)"
        else:
            period = state.command[-1] if state.command else None
            post = state.command_post or "not named"
            since = f" since {local_clock(period.since_us)}" if period is not None else ""
            tip = f"Incident commander {state.commander}{since}; command post: {post}"
        self.commander.setToolTip(tip)

    def _show_suspect(self, state: IncidentState) -> None:
        """Show "SUSPECT: <description> (rev 2, T+00:05:10)": T+ is the time since activation,
        on the elapsed clock's scale; the tooltip has who revised it and when."""
        suspect = state.suspect
        if suspect is None:
            self._suspect_text = ""
            self.suspect.setText("SUSPECT: no description yet")
            self.suspect.setToolTip("")
            return
        at = hms(suspect.revised_at_us - state.opened_at_us)
        full = f"SUSPECT: {suspect.description.describe()} (rev {suspect.rev}, T+{at})"
        self._suspect_text = full
        self._fit_suspect()
        self.suspect.setToolTip(
            f"{full}\nrevision {suspect.rev} by {suspect.revised_by}"
            f" at {local_clock(suspect.revised_at_us)} (local time)"
        )

    def _fit_suspect(self) -> None:
        """At most two lines: a long description must not grow the header and push the
        table off the screen (the whole text is in the tooltip and the suspect dialog)."""
        text = self._suspect_text
        if not text:
            return
        width = self.suspect.width()
        if width < 100:
            self.suspect.setText(text)
            return
        metrics = QFontMetrics(self.suspect.font())
        shown = text
        box = QRect(0, 0, width, 100_000)
        flags = Qt.TextFlag.TextWordWrap
        limit = 2 * metrics.lineSpacing() + 2
        if self.suspect.maximumHeight() != limit + 2:
            self.suspect.setMaximumHeight(limit + 2)
        if metrics.boundingRect(box, flags, text).height() > limit:
            low, high = 0, len(text)
            while low < high:  # the longest start of it that fits two lines with "…"
                mid = (low + high + 1) // 2
                if metrics.boundingRect(box, flags, text[:mid] + " …").height() <= limit:
                    low = mid
                else:
                    high = mid - 1
            shown = text[:low].rstrip() + " …"
        if self.suspect.text() != shown:
            self.suspect.setText(shown)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_suspect()
