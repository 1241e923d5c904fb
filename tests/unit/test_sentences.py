"""Every event type reads as a sentence with names: never a payload's fields, a repr or a tuple."""

from __future__ import annotations

import re

from dispatch_console.app import commands
from dispatch_console.domain import events as ev
from dispatch_console.domain.fold import replay
from dispatch_console.domain.sentences import SENTENCES, sentence
from tests.builders import IC, INNER, STAGING_A, T0, S

UNIFORM = ev.Attire(uniform=True)
PLAIN = ev.Attire(False, "black", "t-shirt", "blue", None, "none")
#: One payload of every event type, about responders and areas the state below names.
SAMPLES: dict[str, ev.Payload] = {
    p.TYPE: p
    for p in (
        ev.SchoolsImported("schools.geojson", 12, 1, 0),
        ev.RoadsImported("roads.zip", 3560, 2, 0),
        ev.AgencyRulesApplied("Carverton PD", 1, "{}"),
        ev.AlertGateHeld("Harlan Valley County SO", ("dev-1", "dev-2"), T0 + 90_000_000),
        ev.AlertGateReleased("Harlan Valley County SO", automatic=True),
        ev.IncidentImported("lincoln.dcincident", 420, False, why_untrusted="unsigned"),
        ev.ConsoleUserAudit("locked_out", "Dispatcher A. Moreno", "dispatcher"),
        ev.AlertRevised("act-1", "Gym, east wing", "Shots heard near the gym"),
        ev.RosterImported("roster.csv", 300, 2),
        ev.IncidentOpened("lincoln-hs", "Lincoln HS", "active_shooter", -84.55, 38.23),
        ev.AlertReceived("act-1", "lincoln-hs", "active_shooter", T0, "K. Webb", "teacher",
                         "Cafeteria", "shots fired"),
        ev.AlertAcknowledged("act-1", "Dispatcher A. Moreno"),
        ev.IncidentCommanderAssigned("Lt. J. Hayes"),
        ev.CommandEstablished("Lt. J. Hayes", "Engine 3 tailboard", assumed=True),
        ev.CommandTransferred("Lt. J. Hayes", "Capt. R. Ortiz", reason="senior officer"),
        ev.IncidentStatusChanged("all_clear", "threat stopped"),
        ev.SuspectDescriptionRevised(ev.SuspectDescription(sex="male", top_color="green")),
        ev.StagingAreaSet("staging-a", "Staging A (church lot)", STAGING_A, 60, "Sgt. Lee", 40),
        ev.StagingAreaRemoved("staging-a"),
        ev.PerimeterSet("inner-1", "inner", INNER),
        ev.PerimeterRemoved("inner-1"),
        ev.CheckInPointSet("Main gate", -84.55, 38.23),
        ev.ResponderNotified("ios-9b8fec", "ios-9b8fec"),
        ev.ResponderProfileReported("ios-9b8fec", "Ofc. Dan Pruitt", "Lexington PD", "4471",
                                    "VIPER", "off", False, PLAIN),
        ev.ResponderRosterChecked("ios-9b8fec", "sworn_active", "Daniel Pruitt"),
        ev.ResponderAcknowledged("ios-9b8fec", True),
        ev.ResponderPosition("ios-9b8fec", 38.23, -84.55, T0, T0 + 30 * S, 8.0),
        ev.ResponderEnRoute("ios-9b8fec"),
        ev.ResponderArrived("ios-9b8fec", "staging", "staging-a"),
        ev.ResponderDirected("and-4dec76", "staging-a"),
        ev.ResponderIdentified("ios-9b8fec", "credentials_in_person", "Sgt. Lee", "Team 2"),
        ev.ResponderEquipmentIssued("ios-9b8fec", "R-12", "TAC 2", "raid_jacket"),
        ev.ResponderStaged("ios-9b8fec", "staging-a"),
        ev.ResponderAssigned("ios-9b8fec", "perimeter_post", "P-1", "Sector 2", "TAC 2",
                             "Sgt. Lee"),
        ev.ResponderReleased("ios-9b8fec", "stand-down"),
        ev.DirectiveQueued("dir-1", "and-4dec76", "and-4dec76", "go_to_staging",
                           "Go to Staging A. Do not go to the school.", "staging-a"),
        ev.DirectiveDelivered("dir-1", "http"),
        ev.DirectiveAcknowledged("dir-1"),
        ev.BroadcastSent("b-1", "stand_down", "Threat neutralized. Stand down."),
        ev.PerimeterEntered("and-4dec76", "inner-1", "inner"),
        ev.PerimeterExited("and-4dec76", "inner-1", "inner"),
        ev.WarningRaised("w-1", "attire_matches_suspect", "and-4dec76", "green jacket",
                         ("top_color", "top_type")),
        ev.WarningAcknowledged("w-1", "Lt. J. Hayes"),
        ev.WarningEnded("w-1", "identified"),
        ev.ParStarted("par-1", ("ios-9b8fec", "and-4dec76")),
        ev.ParAccounted("par-1", "and-4dec76"),
        ev.ParEnded("par-1"),
        # Last: the samples above are indexed (a state is built from the first sixteen).
        ev.AccessChanged("certificate", "enrolled", "ct7f3a", "ios-9b8fec", "SHA-256 ab12cd"),
    )
}  # fmt: skip
#: What must never show in a sentence: field names, reprs, tuples, ids the state can name.
FORBIDDEN = re.compile(
    r"\w+=|\(\s*'|\[\s*'|\bNone\b|\bTrue\b|\bFalse\b|ios-9b8fec|and-4dec76|staging-a\b|inner-1"
    r"|\bw-1\b|\bdir-1\b|\w+_\w+_?\w*\b(?<!t-shirt)"
)


def _events() -> list[ev.Event]:
    device = ev.Actor(ev.ActorKind.DEVICE, "ios-9b8fec")
    system = ev.Actor(ev.ActorKind.SYSTEM, "monitor")
    out = []
    for seq, payload in enumerate(SAMPLES.values(), 1):
        actor = IC if "acknowledged" not in payload.TYPE else device
        if payload.TYPE.startswith(("warning_raised", "perimeter_", "responder_position")):
            actor = system
        at = T0 + seq * S
        out.append(ev.Event(seq, "inc-1", payload.TYPE, at, at, actor, ev.Source.CONSOLE, payload))
    return out


def test_every_event_type_has_a_sample_and_a_sentence() -> None:
    # A new event type fails here until it has a sample above and a sentence in the module.
    assert set(SAMPLES) == set(ev.PAYLOAD_TYPES)
    assert set(SENTENCES) == set(ev.PAYLOAD_TYPES)


def test_every_sentence_has_names_and_no_repr() -> None:
    events = _events()
    # The state that names everyone: the incident with a second responder notified, before the
    # removals (a report reads names from the final state, which keeps responders and warnings).
    named = [e for e in events if not e.type.endswith("_removed")]
    extra = ev.Event(999, "inc-1", "responder_notified", T0, T0, IC, ev.Source.CONSOLE,
                     ev.ResponderNotified("and-4dec76", "and-4dec76"))  # fmt: skip
    profile = ev.Event(1000, "inc-1", "responder_profile_reported", T0, T0, IC, ev.Source.FEED,
                       ev.ResponderProfileReported("and-4dec76", "Dep. Lee Sorensen"))  # fmt: skip
    state = replay("inc-1", [*named[:16], extra, profile, *named[16:]])
    for event in events:
        text = sentence(event, state)
        assert text and "\n" not in text, event.type
        assert text[0].isupper() and text.rstrip("”").endswith((".", "!")), (event.type, text)
        assert not FORBIDDEN.search(text.replace("device ios-9b8fec", "")), (event.type, text)
    by_type = {e.type: sentence(e, state) for e in events}
    assert "VIPER" in by_type["par_started"] and "Dep. Lee Sorensen" in by_type["par_started"]
    assert by_type["responder_directed"] == (
        "Lt. Hayes directed Dep. Lee Sorensen to Staging A (church lot)."
    )
    assert "Capt. R. Ortiz" in by_type["command_transferred"]
    assert "assumed incident command" in by_type["command_established"]
    assert "attire matches the suspect" in by_type["warning_acknowledged"]
    assert by_type["responder_assigned"] == (
        "Lt. Hayes assigned VIPER to perimeter post, team P-1, at Sector 2, radio channel TAC 2, "
        "reporting to Sgt. Lee."
    )
    assert by_type["responder_identified"].endswith("checked in, team Team 2.")
    assert by_type["access_changed"] == (
        "Lt. Hayes issued a client certificate (ct7f3a) to device ios-9b8fec — SHA-256 ab12cd."
    )


def test_without_a_state_ids_are_named_as_what_they_are() -> None:
    event = _events()[list(SAMPLES).index("par_started")]
    text = sentence(event, None)
    assert "responder ios-9b8fec" in text and "('" not in text


def test_an_assignment_directive_reads_with_its_team_and_channel() -> None:
    details = ev.DirectiveDetails(
        team="Team 2", radio_channel="TAC 2", task="contact_team", location="East wing",
        report_to="Sgt. Lee",
    )  # fmt: skip
    text = commands.directive_text("assignment", details)
    assert text == (
        "Assignment: Contact team, Team 2. Where: East wing. Radio: TAC 2. Report to: Sgt. Lee."
    )
    queued = ev.DirectiveQueued("dir-9", "ios-9b8fec", "ios-9b8fec", "assignment", text,
                                details=details)  # fmt: skip
    event = ev.Event(1, "inc-1", queued.TYPE, T0, T0, IC, ev.Source.CONSOLE, queued)
    said = sentence(event, None)
    assert said.startswith("Directive to responder ios-9b8fec (assignment): “Assignment:")
    assert "Team 2" in said and "TAC 2" in said


def test_administration_reads_with_who_did_it() -> None:
    """The command line's administration (``cli:<user>``) is named, and a gateway's login role
    reads as what it is, not as a console user's role change."""
    admin = ev.Actor(ev.ActorKind.SYSTEM, "cli:jdoe")

    def stored(payload: ev.Payload) -> ev.Event:
        return ev.Event(1, None, payload.TYPE, T0, T0, admin, ev.Source.IMPORT, payload)

    gateway = ev.AccessChanged("gateway", "added", "gw-east", None, "in dc_gateway")
    assert (
        sentence(stored(gateway))
        == "Gateway login role gw-east created by cli:jdoe — in dc_gateway."
    )
    enrolled = ev.ConsoleUserAudit(
        "enrolled", "Lt. J. Hayes", "incident commander", "PostgreSQL login role"
    )
    assert sentence(stored(enrolled)) == (
        "Console user Lt. J. Hayes was enrolled as a console user (role: incident commander) by "
        "cli:jdoe — PostgreSQL login role."
    )
    signed_out = ev.ConsoleUserAudit("signed_out", "Lt. J. Hayes")
    by_self = ev.Event(
        2, None, signed_out.TYPE, T0, T0, ev.Actor(ev.ActorKind.CONSOLE_USER, "Lt. J. Hayes"),
        ev.Source.CONSOLE, signed_out,
    )  # fmt: skip
    assert sentence(by_self) == "Console user Lt. J. Hayes signed out."
