"""The responder detail panel: everything the console knows about the selected responder.

One responder selected (``selection.current``): who they claim to be and what the roster says
(prominent: an unverified identity is the first thing to see), how they are dressed as a
colleague would see them, where they are and how fresh that is, and what dispatch has done with
them (directed, identified, equipped, assigned). Several selected: how many and a short list.
None: a calm hint. Text comes from the same helpers as the responders table.
"""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from dispatch_console.app.live import Changes, ConsoleState
from dispatch_console.domain.geometry import local_frame
from dispatch_console.domain.lifecycle import PRESENT, RESPONDING
from dispatch_console.domain.state import Directive, IncidentState, Responder
from dispatch_console.domain.views import responder_row
from dispatch_console.ui.panels.responders import (
    format_age,
    format_distance,
    format_eta,
    marker_pixmap,
    name_text,
    position_age_s,
)
from dispatch_console.ui.shell.header import local_clock
from dispatch_console.ui.shell.selection import Selection
from dispatch_console.ui.shell.theme import Theme

#: Fields of the single-responder page, in display order.
FIELDS = (
    "Status",
    "Duty",
    "Attire",
    "Radio",
    "Self-dispatched",
    "Identified",
    "Directed to",
    "Staging area",
    "Equipment",
    "Assignment",
    "Position",
    "Distance / ETA",
    "Suspect",
    "Device",
)
#: How many names the several-selected page lists.
LIST_LIMIT = 12

_ROSTER = {
    "not_on_roster": "NOT ON ROSTER",
    "retired": "retired (LEOSA)",
    "sworn_active": "sworn, active",
    None: "NOT CHECKED against a roster",
}
_METHODS = {
    "credentials_in_person": "credentials checked in person",
    "known_personally": "known personally",
    "agency_confirmed_by_phone": "agency confirmed by phone",
    "agency_confirmed_by_radio": "agency confirmed by radio",
}


class ResponderDetailPanel(QWidget):
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
        self._now_us = 0
        #: Which page shows: "no_incident", "none", "single" or "multi".
        self.mode = "none"

        self.pages = QStackedWidget(self)
        # --- hint page (none selected / no incident)
        # From the top, in a scroll area: in a short dock (1920x1080) the centred hint's last
        # line was cut by the dock's bottom edge.
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignHCenter)
        self.hint.setProperty("role", "muted")
        self.hint.setContentsMargins(12, 8, 12, 8)
        hint_scroll = QScrollArea()
        hint_scroll.setWidget(self.hint)
        hint_scroll.setWidgetResizable(True)
        hint_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.pages.addWidget(hint_scroll)

        # --- one responder
        single = QWidget()
        column = QVBoxLayout(single)
        column.setContentsMargins(12, 10, 12, 10)
        column.setSpacing(4)
        self.title = QLabel()
        self.title.setStyleSheet(_TITLE)
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.subtitle = QLabel()
        self.subtitle.setWordWrap(True)
        self.subtitle.setProperty("role", "muted")
        self.roster = QLabel()
        self.roster.setWordWrap(True)
        self.roster.setContentsMargins(8, 6, 8, 6)
        self.roster_reason = QLabel()
        self.roster_reason.setWordWrap(True)
        self.roster_reason.setContentsMargins(8, 0, 8, 4)
        column.addWidget(self.title)
        column.addWidget(self.subtitle)
        column.addSpacing(4)
        column.addWidget(self.roster)
        column.addWidget(self.roster_reason)
        form = self._form = QFormLayout()
        form.setContentsMargins(0, 6, 0, 0)
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(5)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.fields: dict[str, QLabel] = {}
        #: The status marker, drawn as on the map, before the status text.
        self.status_icon = QLabel()
        self.status_icon.setFixedSize(18, 18)
        for name in FIELDS:
            label = QLabel(name)
            label.setProperty("role", "muted")
            value = QLabel()
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setObjectName(f"field_{name}")
            self.fields[name] = value
            if name == "Status":
                holder = QWidget()
                row = QHBoxLayout(holder)
                row.setContentsMargins(0, 0, 0, 0)
                row.setSpacing(6)
                row.addWidget(self.status_icon)
                row.addWidget(value, 1)
                form.addRow(label, holder)
            else:
                form.addRow(label, value)
        column.addLayout(form)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(single)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.pages.addWidget(scroll)

        # --- several responders
        multi = QWidget()
        stack = QVBoxLayout(multi)
        stack.setContentsMargins(12, 10, 12, 10)
        self.count = QLabel()
        self.count.setStyleSheet(_TITLE)
        self.mix = QLabel()
        self.mix.setWordWrap(True)
        self.listing = QLabel()
        self.listing.setWordWrap(True)
        self.listing.setTextFormat(Qt.TextFormat.RichText)
        self.listing.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        stack.addWidget(self.count)
        stack.addWidget(self.mix)
        stack.addSpacing(4)
        stack.addWidget(self.listing, 1)
        self.pages.addWidget(multi)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.pages)
        selection.changed.connect(self._on_selection_changed)
        self.set_theme(theme)

    # --- panel contract -----------------------------------------------------------------------

    def refresh(self, changes: Changes, now_us: int) -> None:
        """Re-render: the selected responder may have changed, and ages move with time."""
        self._now_us = now_us
        self._render()

    def set_theme(self, theme: Theme) -> None:
        self._theme = theme
        self._render()

    # --- for tests and the integrator -----------------------------------------------------------

    def field(self, name: str) -> str:
        return self.fields[name].text()

    # --- rendering ------------------------------------------------------------------------------

    def _on_selection_changed(self, _origin: str) -> None:
        self._render()

    def _state(self) -> IncidentState | None:
        incident_id = self._selection.incident_id
        return self._console.incident(incident_id)

    def _render(self) -> None:
        state = self._state()
        if state is None:
            self._show_hint("no_incident", "No incident in focus.")
            return
        ids = sorted(rid for rid in self._selection.responder_ids if rid in state.responders)
        if not ids:
            self._show_hint(
                "none",
                "No responder selected.\nSelect one in the responders table or on the map "
                "to see who they are, what they are wearing and where they are.",
            )
        elif len(ids) == 1:
            self._show_single(state, state.responders[ids[0]])
        else:
            self._show_multi(state, [state.responders[rid] for rid in ids])

    def _show_hint(self, mode: str, text: str) -> None:
        self.mode = mode
        _set(self.hint, text)
        self.pages.setCurrentIndex(0)

    def _show_single(self, state: IncidentState, r: Responder) -> None:
        self.mode = "single"
        t = self._theme
        now = self._now_us
        row = responder_row(state, r, now, local_frame(state.lon, state.lat))
        _set(self.title, name_text(row, r.callsign))
        _set(
            self.subtitle,
            " · ".join(p for p in (r.agency, r.badge and f"badge {r.badge}") if p) or "—",
        )

        verdict = _ROSTER.get(r.roster_verdict, _ROSTER[None])
        if r.unverified:
            roster_style = f"{_BANNER} color: {t.window}; background: {t.caution};"
        else:
            roster_style = f"{_BANNER} color: {t.text}; border: 1px solid {t.border};"
        _set(self.roster, f"Roster: {verdict}")
        _style(self.roster, roster_style)
        reason = r.roster_reason or (
            "Claimed identity is not on any imported roster: anyone can install the app."
            if r.roster_verdict == "not_on_roster"
            else ""
        )
        if r.roster_name and r.roster_name != r.name:
            reason = f"roster name: {r.roster_name}. {reason}".strip()
        _set(self.roster_reason, reason)
        self.roster_reason.setVisible(bool(reason))

        f = self.fields
        since = format_age(max(0, now - r.status_since_us) / 1e6) if r.status_since_us else "?"
        _set(f["Status"], f"{r.status.label}, for {since}")
        self._set_status_icon(r)
        duty = {"on": "on duty", "off": "OFF DUTY"}.get(r.duty or "", "not reported")
        _set(f["Duty"], duty)
        _emphasis(f["Duty"], bold=r.duty == "off")
        _set(f["Attire"], _attire_text(r))
        no_id = r.plainclothes and r.attire is not None and r.attire.visible_id in (None, "none")
        _emphasis(f["Attire"], bold=r.plainclothes, color=t.caution if no_id else None)
        radio = {True: "yes", False: "NO radio", None: "not reported"}[r.has_radio]
        _set(f["Radio"], radio)
        _emphasis(f["Radio"], bold=r.has_radio is False)
        _set(f["Self-dispatched"], "yes" if r.self_dispatched else "no")
        if r.identification is not None:
            ident = r.identification
            ago = format_age(max(0, now - ident.at_us) / 1e6)
            how = _METHODS.get(ident.method, ident.method.replace("_", " "))
            team = f", {ident.team}" if ident.team else ""
            said = phone_text(state.last_directive(r.responder_id, "identified"))
            _set(f["Identified"], f"yes, by {ident.verifier} ({how}), {ago} ago{team}{said}")
            _emphasis(f["Identified"])
        else:
            present = r.status in PRESENT
            _set(f["Identified"], "NOT identified" if present else "not yet")
            _emphasis(f["Identified"], bold=present, color=t.caution if present else None)
        _set(f["Directed to"], self._area_name(state, r.directed_to) or "not directed")
        _set(f["Staging area"], self._area_name(state, r.staging_area_id) or "—")
        _set(f["Equipment"], _equipment_text(r))
        if r.assignment is not None:
            a = r.assignment
            where = f" at {a.location}" if a.location else ""
            extra = "".join(
                f", {label} {value}"
                for label, value in (("radio", a.radio_channel), ("report to", a.report_to))
                if value
            )
            told = state.last_directive(r.responder_id, "assignment")
            _set(
                f["Assignment"],
                f"{a.task.replace('_', ' ')}, {a.team}{where}{extra} (by {a.by}){phone_text(told)}",
            )
            _emphasis(
                f["Assignment"],
                bold=told is not None and told.acknowledged_at_us is None,
                color=t.caution if told is not None and told.acknowledged_at_us is None else None,
            )
        else:
            _set(f["Assignment"], "none")
            _emphasis(f["Assignment"])
        pos = r.position
        if pos is None:
            _set(f["Position"], "no position reported")
            _emphasis(f["Position"], bold=r.status in RESPONDING, color=None)
        else:
            age = format_age(position_age_s(r, now))
            stale = pos.is_stale(now)
            text = f"{age} ago{'  STALE' if stale else ''}\n{pos.lat:.5f}, {pos.lon:.5f}"
            if pos.accuracy_m is not None:
                text += f"  (±{pos.accuracy_m:.0f} m)"
            _set(f["Position"], text)
            _emphasis(f["Position"], bold=stale, color=t.caution if stale else None)
        distance = format_distance(row.distance_m)
        if row.status in PRESENT and row.distance_m is not None:
            distance += " · arrived"
        elif row.eta_s is not None:
            distance += f" · ETA {format_eta(row.eta_s, row.status)}"
        _set(f["Distance / ETA"], distance)
        suspect = state.suspect
        # Beside a plainclothes responder's attire, so the resemblance can be judged at a glance.
        compare = suspect is not None and r.plainclothes
        if suspect is not None and compare:
            _set(f["Suspect"], f"{suspect.description.describe()} (rev {suspect.rev})")
        self._form.setRowVisible(f["Suspect"], compare)
        _set(f["Device"], r.device_id)
        self.pages.setCurrentIndex(1)

    def _set_status_icon(self, r: Responder) -> None:
        stale = r.status in RESPONDING and r.is_stale(self._now_us)
        self.status_icon.setPixmap(
            marker_pixmap(
                self._theme, r.status, r.duty == "off", r.plainclothes, not r.identified, stale
            )
        )

    def _show_multi(self, state: IncidentState, responders: list[Responder]) -> None:
        self.mode = "multi"
        t = self._theme
        _set(self.count, f"{len(responders)} responders selected")
        mix = {
            "unverified": sum(r.unverified for r in responders),
            "unidentified": sum(r.status in RESPONDING and not r.identified for r in responders),
            "plainclothes": sum(r.plainclothes for r in responders),
            "off duty": sum(r.duty == "off" for r in responders),
        }
        # No-break spaces: "2 off duty" never splits over two lines.
        _set(
            self.mix,
            " · ".join(f"{n}\u00a0{w}".replace(" ", "\u00a0") for w, n in mix.items() if n),
        )
        rows = []
        for r in responders[:LIST_LIMIT]:
            flags = []
            if r.unverified:
                flags.append("UNVERIFIED")
            if r.plainclothes:
                flags.append("plainclothes")
            if r.status in RESPONDING and not r.identified:
                flags.append("unidentified")
            rows.append(
                f"<tr><td style='padding-right:10px'><b>{escape(r.display_name)}</b></td>"
                f"<td style='padding-right:10px'>{escape(r.status.label)}</td>"
                f"<td style='color:{t.caution}'>{escape(', '.join(flags))}</td></tr>"
            )
        more = len(responders) - LIST_LIMIT
        tail = f"<p style='color:{t.muted}'>… and {more} more</p>" if more > 0 else ""
        _set(self.listing, f"<table cellspacing='0' cellpadding='2'>{''.join(rows)}</table>{tail}")
        self.pages.setCurrentIndex(2)

    @staticmethod
    def _area_name(state: IncidentState, area_id: str | None) -> str | None:
        if area_id is None:
            return None
        area = state.staging_areas.get(area_id)
        return area.name if area is not None else area_id


#: Sizes go in style sheets: the application's ``QWidget { font-size }`` overrides setFont.
_TITLE = "font-size: 16pt; font-weight: bold;"
_BANNER = "font-size: 14pt; font-weight: bold; padding: 4px 8px; border-radius: 3px;"


def _set(label: QLabel, text: str) -> None:
    if label.text() != text:
        label.setText(text)


def _style(label: QLabel, style: str) -> None:
    if label.styleSheet() != style:
        label.setStyleSheet(style)


def _emphasis(label: QLabel, *, bold: bool = False, color: str | None = None) -> None:
    parts = []
    if bold:
        parts.append("font-weight: bold;")
    if color:
        parts.append(f"color: {color};")
    _style(label, " ".join(parts))


def _attire_text(r: Responder) -> str:
    if r.attire is None:
        return "not reported"
    if r.attire.uniform:
        return "uniform"
    # What a colleague would see, without the table's "plainclothes:" prefix.
    return "PLAINCLOTHES: " + r.attire.describe().removeprefix("plainclothes: ")


def _equipment_text(r: Responder) -> str:
    e = r.equipment
    if e is None:
        return "none issued"
    parts = []
    if e.radio_id:
        parts.append(
            f"radio {e.radio_id}" + (f" (ch {e.radio_channel})" if e.radio_channel else "")
        )
    if e.marking:
        parts.append(e.marking.replace("_", " "))
    return ", ".join(parts) or "none issued"


def phone_text(directive: Directive | None) -> str:
    """How far the directive that told the responder got: ``· phone: ACKNOWLEDGED 12:03:10``,
    ``· phone: delivered, NOT acknowledged``, ``· phone: NOT delivered yet``."""
    if directive is None:
        return ""
    if directive.acknowledged_at_us is not None:
        return f"\nphone: acknowledged {local_clock(directive.acknowledged_at_us)}"
    if directive.delivered_at_us is not None:
        return "\nphone: delivered, NOT acknowledged yet"
    return "\nphone: NOT delivered yet"
