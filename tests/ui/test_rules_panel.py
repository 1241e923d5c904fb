"""The agency rules panel: the rules in force, a gate's countdown, and its release button."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from dispatch_console.app.live import Changes
from dispatch_console.county.generate import RULE_FILES
from dispatch_console.domain import events as ev
from dispatch_console.domain.rules import parse_rules, rules_json
from dispatch_console.resources import resource
from dispatch_console.ui.panels.rules_panel import NO_RULES, RulesPanel
from dispatch_console.ui.shell.selection import Selection
from dispatch_console.ui.shell.theme import NIGHT
from tests.ui.factory import EventWriter, S, build_incident

SHERIFF = parse_rules(resource("demo", RULE_FILES[1]).read_text())
DISPATCHER = ev.Actor(ev.ActorKind.CONSOLE_USER, "D. Reyes")


def test_rules_gate_countdown_and_release(qtbot: QtBot) -> None:
    built = build_incident(4, acknowledge_alert=True)
    host = QWidget()
    qtbot.addWidget(host)
    selection = Selection()
    selection.focus(built.incident_id)
    panel = RulesPanel(built.console, selection, NIGHT, host)
    requests: list[tuple[str, list[Any], str]] = []
    panel.commands_requested.connect(lambda i, p, d: requests.append((i, list(p), d)))
    now = built.now_us
    panel.refresh(Changes(), now)
    assert panel.rules.text().startswith(NO_RULES)  # and the default rule in plain words
    assert "never unverified app users" in panel.rules.text()

    def store(payloads: list[ev.Payload], at_us: int, actor: ev.Actor | None = None) -> None:
        writer = EventWriter(built.incident_id, built.console.last_seq + 1)
        for payload in payloads:
            writer.add(payload, at_us, actor) if actor else writer.add(payload, at_us)
        panel.refresh(built.console.apply(writer.events), at_us)

    agency = SHERIFF.agency
    store(
        [
            ev.AgencyRulesApplied(agency, 1, rules_json(SHERIFF)),
            ev.AlertGateHeld(agency, ("d-1", "d-2"), now + 90 * S),
        ],
        now,
    )
    assert "Harlan Valley County Sheriff's Office, rules version 1" in panel.rules.text()
    assert "released automatically after 90 s" in panel.rules.text()
    label = panel.gate_labels[agency]
    assert label.text().endswith("2 off-duty/retired officers held: automatic release in 1:30")
    panel.refresh(Changes(), now + 48 * S)  # the countdown runs without any event
    assert label.text().endswith("automatic release in 0:42")
    qtbot.mouseClick(panel.release_buttons[agency], Qt.MouseButton.LeftButton)
    assert requests == [
        (built.incident_id, [ev.AlertGateReleased(agency)], f"release the held alert of {agency}")
    ]
    store([ev.AlertGateReleased(agency)], now + 50 * S, DISPATCHER)
    assert agency not in panel.release_buttons
    assert "2 off-duty/retired officers alerted, released by D. Reyes at" in (
        panel.gate_labels[agency].text()
    )


def test_the_report_states_the_rules_in_force_and_the_gates() -> None:
    from dispatch_console.domain.rules import DEFAULT_RULES
    from dispatch_console.domain.state import AlertGate, IncidentState
    from dispatch_console.ui.print.report import NO_RULES_RECORDED, rules_lines

    state = IncidentState("inc-1")
    assert rules_lines(state) == [("Agency rules", NO_RULES_RECORDED)]
    state.rules_in_force[DEFAULT_RULES.agency] = (1, rules_json(DEFAULT_RULES))
    (default,) = rules_lines(state)
    assert default[0] == "Agency rules: Default rule (no agency rules loaded)"
    assert "never unverified app users" in default[1] and "raid jacket or vest" in default[1]
    del state.rules_in_force[DEFAULT_RULES.agency]
    state.rules_in_force[SHERIFF.agency] = (1, rules_json(SHERIFF))
    state.gates[SHERIFF.agency] = AlertGate(SHERIFF.agency, 0, ["d-1", "d-2"], 90 * S)
    rows = dict(rules_lines(state))
    assert rows[f"Agency rules: {SHERIFF.agency}"].startswith(
        "version 1: Alerted: on duty, off duty, LEOSA-qualified retired; never unverified"
    )
    assert rows[f"Gate: {SHERIFF.agency}"] == "2 held; never released"
