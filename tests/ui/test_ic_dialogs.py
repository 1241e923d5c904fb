"""The incident commander's dialogs: OK only with the required fields, the payloads they build,
Enter accepts, Esc cancels, the roster verdict up front."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QComboBox, QDialog
from pytestqt.qtbot import QtBot

from dispatch_console.domain import events as ev
from dispatch_console.domain.state import (
    IncidentState,
    SuspectRevision,
    decode_state,
    encode_state,
)
from dispatch_console.ui.panels.ic_dialogs import (
    METHOD_WORDS,
    TASK_WORDS,
    AssignDialog,
    DirectDialog,
    IdentifyDialog,
    ReleaseDialog,
    SuspectDialog,
)
from dispatch_console.ui.shell.theme import NIGHT
from tests.ui.factory import Built, build_incident


@pytest.fixture(scope="module")
def built() -> Built:
    return build_incident(24, acknowledge_alert=True)


@pytest.fixture
def state(built: Built) -> IncidentState:
    return decode_state(encode_state(built.console.incidents[built.incident_id]))


def shown(qtbot: QtBot, dialog: QDialog) -> QDialog:
    qtbot.addWidget(dialog)
    dialog.show()
    QApplication.processEvents()
    return dialog


def choose(combo: QComboBox, index: int) -> None:
    """Pick an entry with the keyboard, as a user tabbing through would."""
    combo.setFocus()
    while combo.currentIndex() < index:
        QTest.keyClick(combo, Qt.Key.Key_Down)


# --- identify ----------------------------------------------------------------------------------


def test_identify_needs_a_method_and_a_verifier(qtbot: QtBot, state: IncidentState) -> None:
    dialog = IdentifyDialog(state, "r000", "Lt. Hayes", theme=NIGHT)
    shown(qtbot, dialog)
    assert dialog.verifier.text() == "Lt. Hayes"  # the signed-in user, prefilled
    assert [dialog.method.itemText(i) for i in range(dialog.method.count())] == list(
        METHOD_WORDS.values()
    )
    assert dialog.method.currentIndex() == -1  # a conscious choice, never a default
    assert not dialog.ok_button.isEnabled()
    assert QApplication.focusWidget() is dialog.method
    choose(dialog.method, 0)
    assert dialog.ok_button.isEnabled()
    dialog.verifier.clear()
    assert not dialog.ok_button.isEnabled()
    QTest.keyClicks(dialog.verifier, "Sgt. Staging")
    assert dialog.ok_button.isEnabled()


def test_identify_builds_identification_and_issued_equipment(
    qtbot: QtBot, state: IncidentState
) -> None:
    dialog = IdentifyDialog(state, "r000", "Lt. Hayes")
    shown(qtbot, dialog)
    choose(dialog.method, 3)  # agency confirmed by radio
    dialog.method.setFocus()
    QTest.keyClick(dialog.method, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is dialog.verifier
    QTest.keyClick(dialog.verifier, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is dialog.radio_id
    QTest.keyClicks(dialog.radio_id, "R-14")
    QTest.keyClick(dialog.radio_id, Qt.Key.Key_Tab)
    QTest.keyClicks(dialog.radio_channel, "TAC 2")
    choose(dialog.marking, 1)  # raid jacket
    QTest.keyClicks(dialog.team, "Team 2")
    identified, issued, told = dialog.payloads()
    assert identified == ev.ResponderIdentified(
        "r000", "agency_confirmed_by_radio", "Lt. Hayes", "Team 2"
    )
    assert issued == ev.ResponderEquipmentIssued("r000", "R-14", "TAC 2", "raid_jacket")
    # The responder's phone is told: team, channel, the marking to wear.
    assert isinstance(told, ev.DirectiveQueued) and told.kind == "identified"
    assert (told.responder_id, told.device_id) == ("r000", state.responders["r000"].device_id)
    assert told.details == ev.DirectiveDetails("Team 2", "TAC 2", "raid_jacket")
    assert told.text == "You are identified. Team: Team 2. Radio: TAC 2. Wear your raid jacket."
    assert dialog.description() == "mark U-000 identified"
    QTest.keyClick(dialog.radio_channel, Qt.Key.Key_Return)  # Enter accepts
    assert dialog.result() == QDialog.DialogCode.Accepted


def test_identify_enter_does_nothing_until_ready_and_esc_cancels(
    qtbot: QtBot, state: IncidentState
) -> None:
    dialog = IdentifyDialog(state, "r000", "Lt. Hayes")
    shown(qtbot, dialog)
    QTest.keyClick(dialog.verifier, Qt.Key.Key_Return)
    assert dialog.isVisible()  # no method chosen: Enter does not accept
    QTest.keyClick(dialog.verifier, Qt.Key.Key_Escape)
    assert dialog.result() == QDialog.DialogCode.Rejected and not dialog.isVisible()


def test_identify_shows_the_roster_verdict_and_attire_up_front(
    qtbot: QtBot, state: IncidentState
) -> None:
    unverified = IdentifyDialog(state, "r005", "Lt. Hayes")  # not on roster
    shown(qtbot, unverified)
    assert unverified.roster.text() == "NOT ON ROSTER"
    assert f"background: {NIGHT.caution}" in unverified.roster.styleSheet()
    sworn = IdentifyDialog(state, "r000", "Lt. Hayes")
    shown(qtbot, sworn)
    assert sworn.roster.text() == "On roster: sworn, active"
    assert NIGHT.caution not in sworn.roster.styleSheet()
    assert sworn.attire.text() == (
        "OFF DUTY · PLAINCLOTHES: black t-shirt, blue pants, no visible ID"
    )


def test_no_marking_issued_means_no_equipment_event(qtbot: QtBot, state: IncidentState) -> None:
    dialog = IdentifyDialog(state, "r004", "Lt. Hayes")
    shown(qtbot, dialog)
    choose(dialog.method, 1)
    identified, told = dialog.payloads()
    assert identified == ev.ResponderIdentified("r004", "known_personally", "Lt. Hayes")
    assert isinstance(told, ev.DirectiveQueued)
    assert told.text == "You are identified. Wait at staging for an assignment. Radio: none given."


# --- assign ------------------------------------------------------------------------------------


def test_assign_needs_task_and_team_and_leaves_out_the_unidentified(
    qtbot: QtBot, state: IncidentState
) -> None:
    # r005, r015: identified; r006: assigned (identified); r004: at staging, not identified.
    dialog = AssignDialog(state, ["r005", "r004", "r015", "r006"])
    shown(qtbot, dialog)
    assert [r.responder_id for r in dialog.assignable] == ["r005", "r015", "r006"]
    assert [dialog.task.itemText(i) for i in range(dialog.task.count())] == list(
        TASK_WORDS.values()
    )
    assert not dialog.ok_button.isEnabled()
    choose(dialog.task, 0)
    assert not dialog.ok_button.isEnabled()  # no team yet
    QTest.keyClicks(dialog.team, "Contact 1")
    assert dialog.ok_button.isEnabled() and dialog.ok_button.text() == "Assign 3"
    dialog.report_to.clear()
    payloads = dialog.payloads()
    assert payloads[0::2] == [
        ev.ResponderAssigned(rid, "contact_team", "Contact 1") for rid in ("r005", "r015", "r006")
    ]
    # Each one's phone is sent the assignment, to acknowledge.
    sent = payloads[1::2]
    assert all(isinstance(d, ev.DirectiveQueued) and d.kind == "assignment" for d in sent)
    assert [d.responder_id for d in sent] == ["r005", "r015", "r006"]  # type: ignore[attr-defined]
    assert dialog.description() == "assign 3 responders: contact team, Contact 1"
    QTest.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert dialog.result() == QDialog.DialogCode.Accepted


def test_assign_sends_where_channel_and_whom_to_report_to(
    qtbot: QtBot, state: IncidentState
) -> None:
    dialog = AssignDialog(state, ["r005"])
    shown(qtbot, dialog)
    choose(dialog.task, 0)
    QTest.keyClicks(dialog.team, "Team 2")
    QTest.keyClicks(dialog.location, "East wing, building B")
    dialog.radio_channel.setText("")
    QTest.keyClicks(dialog.radio_channel, "TAC 3")
    dialog.report_to.setText("Sgt. Lee\x1b[2J")  # pasted with a control character
    assigned, told = dialog.payloads()
    assert assigned == ev.ResponderAssigned(
        "r005", "contact_team", "Team 2", "East wing, building B", "TAC 3", "Sgt. Lee\\x1b[2J"
    )
    assert isinstance(told, ev.DirectiveQueued) and told.kind == "assignment"
    assert told.details == ev.DirectiveDetails(
        team="Team 2", radio_channel="TAC 3", task="contact_team",
        location="East wing, building B", report_to="Sgt. Lee\\x1b[2J",
    )  # fmt: skip
    assert told.text.startswith("Assignment: Contact team, Team 2. Where: East wing, building B.")
    # Longer than a phone line is never typed: the field stops at the limit.
    QTest.keyClicks(dialog.location, "x" * 200)
    assert len(dialog.location.text()) == ev.MAX_DETAIL_CHARS


def test_assign_with_nobody_identified_never_enables_ok(qtbot: QtBot, state: IncidentState) -> None:
    dialog = AssignDialog(state, ["r004", "r000"])
    shown(qtbot, dialog)
    choose(dialog.task, 2)
    QTest.keyClicks(dialog.team, "Team 9")
    assert not dialog.ok_button.isEnabled()


# --- direct ------------------------------------------------------------------------------------


def test_direct_lists_the_areas_with_how_many_are_there(qtbot: QtBot, state: IncidentState) -> None:
    dialog = DirectDialog(state, ["r001", "r002", "r011"])
    shown(qtbot, dialog)
    texts = [dialog.areas.item(i).text() for i in range(dialog.areas.count())]
    at_a = sum(1 for r in state.responders.values() if r.staging_area_id == "staging-a")
    assert texts[0] == f"Staging A (church lot, Elm St) — {at_a} responders there now"
    assert texts[1] == "Staging B (bus depot) — 0 responders there now"
    assert dialog.ok_button.text() == "Direct 3"
    assert dialog.staging_area_id() == "staging-a"  # the first, ready for Enter
    dialog.areas.setCurrentRow(1)
    payloads = dialog.payloads()
    assert [p.TYPE for p in payloads] == ["responder_directed", "directive_queued"] * 3
    assert payloads[0] == ev.ResponderDirected("r001", "staging-b")
    queued = payloads[1]
    assert isinstance(queued, ev.DirectiveQueued)
    assert queued.text == "Go to Staging B (bus depot). Do not go to the school."
    assert dialog.description() == "direct 3 responders to Staging B (bus depot)"
    QTest.keyClick(dialog.areas, Qt.Key.Key_Return)
    assert dialog.result() == QDialog.DialogCode.Accepted


def test_direct_preselects_the_area_they_were_directed_to(
    qtbot: QtBot, state: IncidentState
) -> None:
    for rid in ("r001", "r002"):
        state.responders[rid].directed_to = "staging-b"
    dialog = DirectDialog(state, ["r001", "r002"])
    shown(qtbot, dialog)
    assert dialog.staging_area_id() == "staging-b"


# --- suspect -----------------------------------------------------------------------------------


def test_suspect_is_prefilled_and_saves_only_a_real_change(
    qtbot: QtBot, state: IncidentState
) -> None:
    dialog = SuspectDialog(state)
    shown(qtbot, dialog)
    current = state.suspect
    assert current is not None
    assert dialog.fields["top_color"].text() == "black"
    assert dialog.fields["bottom_type"].text() == "jeans"
    assert not dialog.ok_button.isEnabled()  # nothing changed yet
    assert QApplication.focusWidget() is dialog.fields["sex"]
    top = dialog.fields["top_color"]
    top.selectAll()
    QTest.keyClicks(top, "red")
    QTest.keyClicks(dialog.free_text, "last seen running north")
    assert dialog.ok_button.isEnabled()
    [payload] = dialog.payloads()
    assert isinstance(payload, ev.SuspectDescriptionRevised)
    assert payload.description == ev.SuspectDescription(
        sex="male", race="white", top_color="red", top_type="shirt", bottom_color="blue",
        bottom_type="jeans", weapon="rifle", free_text="last seen running north",
    )  # fmt: skip
    top.selectAll()
    QTest.keyClicks(top, "black")
    dialog.free_text.clear()
    assert not dialog.ok_button.isEnabled()  # back to the current revision


def test_suspect_history_lists_every_revision_newest_first(
    qtbot: QtBot, state: IncidentState
) -> None:
    first = state.suspect_revisions[0]
    state.suspect_revisions.append(
        SuspectRevision(2, first.revised_at_us + 60_000_000, "Lt. Hayes",
                        ev.SuspectDescription(top_color="red", top_type="hoodie"))
    )  # fmt: skip
    dialog = SuspectDialog(state)
    shown(qtbot, dialog)
    assert dialog.windowTitle() == "Suspect description"
    lines = dialog.history.text().splitlines()
    assert lines[0].startswith("rev 2 · ") and lines[0].endswith("Lt. Hayes: red hoodie")
    assert lines[1].startswith("rev 1 · ") and "black shirt" in lines[1]
    assert dialog.fields["top_type"].text() == "hoodie"  # prefilled with the latest


# --- release -----------------------------------------------------------------------------------


def test_release_needs_a_reason(qtbot: QtBot, state: IncidentState) -> None:
    dialog = ReleaseDialog(state, ["r005", "r006"])
    shown(qtbot, dialog)
    assert not dialog.ok_button.isEnabled()
    line = dialog.reason.lineEdit()
    assert line is not None
    QTest.keyClicks(line, "identity could not be verified")
    assert dialog.ok_button.isEnabled() and dialog.ok_button.text() == "Release 2"
    assert dialog.payloads() == [
        ev.ResponderReleased("r005", "identity could not be verified"),
        ev.ResponderReleased("r006", "identity could not be verified"),
    ]
    QTest.keyClick(line, Qt.Key.Key_Escape)
    assert dialog.result() == QDialog.DialogCode.Rejected


def test_the_identify_title_names_the_responder_once(qtbot: QtBot, state: IncidentState) -> None:
    import msgspec
    from PySide6.QtWidgets import QLabel

    r = state.responders["r000"]
    state.responders["r000"] = msgspec.structs.replace(r, callsign=None)
    dialog = IdentifyDialog(state, "r000", "Lt. Hayes", theme=NIGHT)
    qtbot.addWidget(dialog)
    texts = [label.text() for label in dialog.findChildren(QLabel)]
    assert f"Identify {r.name}" in texts
    assert not any(text.count(r.name or "?") > 1 for text in texts)
