"""Agency rules: the response rules in force for the incident in focus, and its dispatcher
gates with their countdown.

For each agency whose rules decided who of its officers this incident alerted
(``agency_rules_applied``): the rules in plain words (``AgencyRules.summary``). For each
dispatcher gate (``alert_gate_held``): how many off-duty and retired officers wait for their
alert, the seconds to the automatic release (or "only a dispatcher releases it"), and a button
that releases it now (``alert_gate_released``, in the user's name). The release itself, and the
automatic one, are the gateway's: it alerts the held officers once the event is stored.
"""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

from dispatch_console.app.live import Changes, ConsoleState
from dispatch_console.domain import events as ev
from dispatch_console.domain.rules import DEFAULT_RULES, rules_from_json
from dispatch_console.domain.state import AlertGate, IncidentState
from dispatch_console.ui.shell.header import local_clock
from dispatch_console.ui.shell.selection import Selection
from dispatch_console.ui.shell.theme import Theme

NO_RULES = (
    "No response rules are recorded with this incident yet (none of its alerts went through "
    "them). While no agency has loaded rules, the default rule decides who is alerted:"
)


def gate_text(gate: AlertGate, now_us: int) -> str:
    """One gate, as the panel says it: ``GATE Carverton PD: 3 held, released in 0:42``."""
    held = len(gate.device_ids)
    who = f"{held} off-duty/retired {'officer' if held == 1 else 'officers'}"
    if not gate.open:
        how = "automatically" if gate.automatic else f"by {gate.released_by}"
        at = local_clock(gate.released_at_us) if gate.released_at_us is not None else ""
        return f"{gate.agency}: {who} alerted, released {how} at {at}"
    left = gate.seconds_left(now_us)
    if left is None:
        return f"GATE {gate.agency}: {who} held: only a dispatcher releases it"
    whole = int(left + 0.999)
    return f"GATE {gate.agency}: {who} held: automatic release in {whole // 60}:{whole % 60:02d}"


class RulesPanel(QWidget):
    """Panel contract (``refresh``, ``set_theme``) and :attr:`commands_requested`."""

    #: ``(incident_id, payloads, description)``: the main window submits them as the user.
    commands_requested = Signal(str, object, str)

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
        self.setObjectName("rules_panel")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        self.gates = QVBoxLayout()
        self.gates.setSpacing(4)
        layout.addLayout(self.gates)
        # The rules text scrolls: three agencies' rules are taller than a docked tab may be, and
        # a panel's minimum height must never push the window past a 768-pixel screen. The gates
        # (what a dispatcher may have to act on) stay above it, always in sight.
        self.rules = QLabel()
        self.rules.setObjectName("rules_text")
        self.rules.setWordWrap(True)
        self.rules.setTextFormat(Qt.TextFormat.RichText)
        self.rules.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.rules_scroll = QScrollArea(self)
        self.rules_scroll.setObjectName("rules_scroll")
        self.rules_scroll.setWidgetResizable(True)
        self.rules_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.rules_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.rules_scroll.setWidget(self.rules)
        layout.addWidget(self.rules_scroll, 1)
        self.gate_labels: dict[str, QLabel] = {}
        self.release_buttons: dict[str, QPushButton] = {}
        self._shown: tuple[str | None, int] = (None, -1)
        self.set_theme(theme)

    # --- panel contract ----------------------------------------------------------------------

    def refresh(self, changes: Changes, now_us: int) -> None:
        self.now_us = now_us
        state = self._state()
        key = (state.incident_id if state else None, state.last_seq if state else -1)
        if key != self._shown:
            self._shown = key
            self._render(state)
        if state is not None:  # the countdowns, every refresh
            for agency, label in self.gate_labels.items():
                gate = state.gates.get(agency)
                if gate is not None:
                    label.setText(gate_text(gate, now_us))

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        t = theme
        self.setStyleSheet(
            f"""
            QWidget#rules_panel {{ background: {t.panel}; }}
            QScrollArea#rules_scroll, QLabel#rules_text {{ background: {t.panel}; }}
            QLabel {{ color: {t.text}; }}
            QLabel[gate="open"] {{ color: {t.caution}; font-weight: bold; }}
            """
        )

    # --- acts -----------------------------------------------------------------------------------

    def release(self, agency: str) -> None:
        state = self._state()
        if state is None or agency not in state.gates or not state.gates[agency].open:
            return
        self.commands_requested.emit(
            state.incident_id,
            [ev.AlertGateReleased(agency)],
            f"release the held alert of {agency}",
        )

    # --- rendering ------------------------------------------------------------------------------

    def _state(self) -> IncidentState | None:
        focused = self.selection.incident_id
        return self.console.incident(focused)

    def _render(self, state: IncidentState | None) -> None:
        while self.gates.count():
            item = self.gates.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.gate_labels.clear()
        self.release_buttons.clear()
        if state is None:
            self.rules.setText("No incident in focus.")
            return
        for agency, gate in state.gates.items():
            label = QLabel(gate_text(gate, self.now_us), self)
            label.setWordWrap(True)
            label.setProperty("gate", "open" if gate.open else "released")
            self.gates.addWidget(label)
            self.gate_labels[agency] = label
            if gate.open:
                button = QPushButton(f"Release {agency} alert now", self)
                button.setObjectName("release_gate")
                button.clicked.connect(lambda _=False, a=agency: self.release(a))
                self.gates.addWidget(button)
                self.release_buttons[agency] = button
        if not state.rules_in_force:
            lines = DEFAULT_RULES.summary()[1:]
            body = "<br>".join(escape(line, quote=False) for line in lines)
            self.rules.setText(f"{escape(NO_RULES, quote=False)}<br>{body}")
            return
        blocks = []
        for _agency, (_version, text) in state.rules_in_force.items():
            lines = rules_from_json(text).summary()
            body = "<br>".join(escape(line, quote=False) for line in lines[1:])
            blocks.append(f"<b>{escape(lines[0], quote=False)}</b><br>{body}")
        self.rules.setText("<br><br>".join(blocks))
