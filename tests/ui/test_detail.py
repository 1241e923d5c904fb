"""The responder detail panel: one responder in full, several as a summary, none as a hint."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from dispatch_console.app.live import Changes, ConsoleState
from dispatch_console.domain import events as ev
from dispatch_console.domain.state import IncidentState
from dispatch_console.ui.panels.detail import LIST_LIMIT, ResponderDetailPanel
from dispatch_console.ui.shell.selection import Selection
from dispatch_console.ui.shell.theme import DAY, NIGHT
from tests.ui.factory import DISPATCHER, Built, EventWriter, S, build_incident

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot


@pytest.fixture
def built() -> Built:
    return build_incident(40)


def state_of(built: Built) -> IncidentState:
    return built.console.incidents[built.incident_id]


def make_panel(qtbot: QtBot, built: Built) -> tuple[ResponderDetailPanel, Selection]:
    selection = Selection()
    selection.focus(built.incident_id)
    panel = ResponderDetailPanel(built.console, selection, NIGHT)
    qtbot.addWidget(panel)
    panel.resize(420, 500)
    panel.refresh(Changes(), built.now_us)
    return panel, selection


def first_with_verdict(built: Built, verdict: str) -> str:
    return next(
        rid for rid, r in sorted(state_of(built).responders.items()) if r.roster_verdict == verdict
    )


def test_no_selection_shows_a_calm_hint(qtbot: QtBot, built: Built) -> None:
    panel, _ = make_panel(qtbot, built)
    assert panel.mode == "none"
    assert "No responder selected" in panel.hint.text()
    assert panel.pages.currentWidget() is panel.pages.widget(0)


def test_no_incident_in_focus_says_so(qtbot: QtBot) -> None:
    panel = ResponderDetailPanel(ConsoleState(), Selection(), NIGHT)
    qtbot.addWidget(panel)
    panel.refresh(Changes(), 0)
    assert panel.mode == "no_incident"
    assert panel.hint.text() == "No incident in focus."


def test_black_shirt_responder_shows_attire_duty_and_the_suspect_to_compare(
    qtbot: QtBot, built: Built
) -> None:
    panel, selection = make_panel(qtbot, built)
    selection.select({"r000"}, "map")  # renders at once, without waiting for a refresh
    assert panel.mode == "single"
    assert panel.title.text() == "U-000 · Officer 000"
    assert "Georgetown PD" in panel.subtitle.text() and "badge 1000" in panel.subtitle.text()
    attire = panel.field("Attire")
    assert "PLAINCLOTHES" in attire
    assert "black t-shirt" in attire and "no visible ID" in attire
    assert "color: " + NIGHT.caution in panel.fields["Attire"].styleSheet()  # no visible ID
    assert panel.field("Duty") == "OFF DUTY"
    assert panel.field("Identified") == "NOT identified"
    assert panel.field("Radio") == "NO radio"
    assert panel.field("Self-dispatched") == "yes"
    assert panel.field("Status") == "on scene, for 20 s"
    assert panel.field("Device") == "dev-000"
    assert panel.field("Distance / ETA").endswith("km · arrived")
    position = panel.field("Position")
    assert position.startswith("20 s ago")
    r = state_of(built).responders["r000"]
    assert r.position is not None and f"{r.position.lat:.5f}" in position
    assert "black shirt" in panel.field("Suspect")
    assert panel.fields["Suspect"].isVisibleTo(panel)
    assert panel.roster.text() == "Roster: sworn, active"


def test_unverified_responder_shows_not_on_roster_prominently(qtbot: QtBot, built: Built) -> None:
    panel, selection = make_panel(qtbot, built)
    rid = first_with_verdict(built, "not_on_roster")
    selection.select({rid}, "table")
    assert panel.roster.text() == "Roster: NOT ON ROSTER"
    assert f"background: {NIGHT.caution}" in panel.roster.styleSheet()
    assert "font-size: 14pt" in panel.roster.styleSheet()
    assert "not on any imported roster" in panel.roster_reason.text()
    assert not panel.fields["Suspect"].isVisibleTo(panel)  # uniformed: nothing to compare


@pytest.mark.parametrize(
    ("verdict", "shown"), [("retired", "retired (LEOSA)"), ("sworn_active", "sworn, active")]
)
def test_roster_verdicts_read_as_words(
    qtbot: QtBot, built: Built, verdict: str, shown: str
) -> None:
    panel, selection = make_panel(qtbot, built)
    selection.select({first_with_verdict(built, verdict)}, "map")
    assert panel.roster.text() == f"Roster: {shown}"
    assert "background" not in panel.roster.styleSheet()


def test_several_selected_shows_a_count_and_a_short_list(qtbot: QtBot, built: Built) -> None:
    panel, selection = make_panel(qtbot, built)
    selection.select({"r000", "r001", "r003", "r005"}, "map")
    assert panel.mode == "multi"
    assert panel.count.text() == "4 responders selected"
    for callsign in ("U-000", "U-001", "U-003", "U-005"):
        assert callsign in panel.listing.text()
    mix = panel.mix.text().replace("\u00a0", " ")
    assert "2 plainclothes" in mix
    assert "1 unverified" in mix
    assert "2 off duty" in mix
    selection.select({f"r{i:03d}" for i in range(20)}, "map")
    assert panel.count.text() == "20 responders selected"
    assert f"and {20 - LIST_LIMIT} more" in panel.listing.text()
    assert "U-019" not in panel.listing.text()


def test_refresh_follows_what_happens_to_the_selected_responder(qtbot: QtBot, built: Built) -> None:
    panel, selection = make_panel(qtbot, built)
    selection.select({"r000"}, "map")
    state = state_of(built)
    staging = next(iter(state.staging_areas.values()))
    writer = EventWriter(built.incident_id, first_seq=built.console.last_seq + 1)
    t = built.now_us + S
    writer.add(ev.ResponderDirected("r000", staging.staging_area_id), t, DISPATCHER)
    writer.add(ev.ResponderIdentified("r000", "known_personally", "Lt. Reyes"), t, DISPATCHER)
    writer.add(ev.ResponderEquipmentIssued("r000", "R-7", "3", "raid_jacket"), t, DISPATCHER)
    writer.add(ev.ResponderAssigned("r000", "contact_team", "Team 1"), t + S, DISPATCHER)
    changes = built.console.apply(writer.events)
    assert ("r000" in {rid for _, rid in changes.responders}) and panel.mode == "single"
    panel.refresh(changes, t + 2 * S)
    assert panel.field("Directed to") == staging.name
    assert panel.field("Identified") == "yes, by Lt. Reyes (known personally), 2 s ago"
    assert panel.field("Equipment") == "radio R-7 (ch 3), raid jacket"
    assert panel.field("Radio") == "yes"
    assert panel.field("Assignment").startswith("contact team, Team 1")
    assert panel.field("Status") == "assigned, for 1 s"


def test_position_age_advances_and_turns_stale_without_events(qtbot: QtBot, built: Built) -> None:
    panel, selection = make_panel(qtbot, built)
    selection.select({"r002"}, "map")  # en route, last position 20 s old, stale in 10 s
    assert panel.field("Position").startswith("20 s ago\n")
    assert "ETA" in panel.field("Distance / ETA")
    panel.refresh(Changes(), built.now_us + 15 * S)
    assert panel.field("Position").startswith("35 s ago  STALE")
    assert NIGHT.caution in panel.fields["Position"].styleSheet()


def test_selection_of_another_incidents_responder_is_not_shown(qtbot: QtBot, built: Built) -> None:
    panel, selection = make_panel(qtbot, built)
    selection.select({"nobody"}, "map")
    assert panel.mode == "none"


def test_theme_switch_recolours_the_roster_banner(qtbot: QtBot, built: Built) -> None:
    panel, selection = make_panel(qtbot, built)
    selection.select({first_with_verdict(built, "not_on_roster")}, "map")
    panel.set_theme(DAY)
    assert f"background: {DAY.caution}" in panel.roster.styleSheet()


def test_the_assignment_shows_whether_the_phone_acknowledged_it(qtbot: QtBot, built: Built) -> None:
    from dispatch_console.app import commands

    panel, selection = make_panel(qtbot, built)
    selection.select({"r000"}, "map")
    state = state_of(built)
    writer = EventWriter(built.incident_id, first_seq=built.console.last_seq + 1)
    t = built.now_us + S
    for payload in commands.identify("r000", "known_personally", "Lt. Reyes", team="Team 1"):
        writer.add(payload, t, DISPATCHER)
    sent = commands.assign(
        "r000", "contact_team", "Team 1", location="East wing", radio_channel="TAC 2",
        report_to="Sgt. Lee", state=state,
    )  # fmt: skip
    for payload in sent:
        writer.add(payload, t + S, DISPATCHER)
    panel.refresh(built.console.apply(writer.events), t + 2 * S)
    assignment = panel.field("Assignment")
    assert assignment.startswith("contact team, Team 1 at East wing, radio TAC 2, report to Sgt.")
    assert assignment.endswith("phone: NOT delivered yet")
    assert NIGHT.caution in panel.fields["Assignment"].styleSheet()
    directive = sent[1]
    assert isinstance(directive, ev.DirectiveQueued)
    device = ev.Actor(ev.ActorKind.DEVICE, "dev-000")
    more = EventWriter(built.incident_id, first_seq=built.console.last_seq + 1)
    more.add(ev.DirectiveDelivered(directive.directive_id, "http"), t + 3 * S, device)
    panel.refresh(built.console.apply(more.events), t + 3 * S)
    assert panel.field("Assignment").endswith("phone: delivered, NOT acknowledged yet")
    last = EventWriter(built.incident_id, first_seq=built.console.last_seq + 1)
    last.add(ev.DirectiveAcknowledged(directive.directive_id), t + 4 * S, device)
    panel.refresh(built.console.apply(last.events), t + 4 * S)
    assert "phone: acknowledged " in panel.field("Assignment")
    assert NIGHT.caution not in panel.fields["Assignment"].styleSheet()
    assert panel.field("Identified").endswith(", Team 1")
