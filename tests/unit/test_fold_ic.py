"""Fold and decide for the incident-command events: broadcasts, geofences, warnings, PAR."""

from __future__ import annotations

import pytest

from dispatch_console.domain import events as ev
from dispatch_console.domain.decide import CHECKS, validate
from dispatch_console.domain.fold import HANDLERS
from dispatch_console.domain.lifecycle import Rule, RuleViolation
from dispatch_console.domain.state import IncidentState, decode_state, encode_state
from tests.builders import T0, Recorder, S

GW = ev.Actor(ev.ActorKind.SYSTEM, "monitor")


def _refused(state: IncidentState, payload: ev.Payload) -> Rule:
    with pytest.raises(RuleViolation) as refused:
        validate(state, payload)
    assert refused.value.rule.value in str(refused.value)  # the message says the rule
    return refused.value.rule


def _add(rec: Recorder, payload: ev.Payload, at_s: float = 10) -> None:
    """Record ``payload`` after checking it with the decider, as the service would."""
    validate(rec.state(), payload)
    rec.add(payload, at_s)


def test_every_event_type_has_a_fold_handler_and_every_incident_command_a_rule() -> None:
    assert set(HANDLERS) == set(ev.PAYLOAD_TYPES)
    # Reference data and an import's mark (written by the import), not commands.
    reference_data = {*ev.REFERENCE_DATA_TYPES, ev.IncidentImported.TYPE}
    assert set(CHECKS) == set(ev.PAYLOAD_TYPES) - reference_data


def test_a_broadcast_gathers_the_directives_sent_with_it() -> None:
    rec = Recorder().opened().notified("r1", "r2")
    _add(rec, ev.BroadcastSent("b1", "go_to_staging", "Go to Staging A", "staging-a"), 10)
    for rid in ("r1", "r2"):
        _add(
            rec,
            ev.DirectiveQueued(
                f"d-{rid}", rid, rid, "go_to_staging", "Go to Staging A", "staging-a", "b1"
            ),
            10,
        )
    rec.add(ev.DirectiveQueued("d-x", "r1", "r1", "message", "hello"), 11)
    rec.add(ev.DirectiveDelivered("d-r1", "http"), 12)
    state = rec.state()
    broadcast = state.broadcasts["b1"]
    assert broadcast.directive_ids == ["d-r1", "d-r2"]
    assert broadcast.sent_by == "Lt. Hayes" and broadcast.sent_at_us == T0 + 10 * S
    assert broadcast.kind == "go_to_staging" and broadcast.staging_area_id == "staging-a"
    assert state.directives["d-r1"].broadcast_id == "b1"
    assert state.directives["d-x"].broadcast_id is None
    delivered = [d for d in broadcast.directive_ids if state.directives[d].delivered_at_us]
    assert delivered == ["d-r1"]


def test_broadcast_rules() -> None:
    rec = Recorder().opened().notified("r1")
    _add(rec, ev.BroadcastSent("b1", "stand_down", "Threat neutralized, do not respond"))
    state = rec.state()
    assert (
        _refused(state, ev.BroadcastSent("b1", "message", "again")) is Rule.BROADCAST_ALREADY_SENT
    )
    assert _refused(state, ev.BroadcastSent("b2", "message", "  ")) is Rule.EMPTY_BROADCAST
    assert (
        _refused(state, ev.BroadcastSent("b2", "go_to_staging", "Go to Z", "staging-z"))
        is Rule.UNKNOWN_STAGING_AREA
    )
    queued = ev.DirectiveQueued("d1", "r1", "r1", "message", "x", broadcast_id="b9")
    assert _refused(state, queued) is Rule.UNKNOWN_BROADCAST


def test_directing_to_an_unknown_staging_area_is_refused() -> None:
    state = Recorder().opened().notified("r1").state()
    assert _refused(state, ev.ResponderDirected("r1", "staging-z")) is Rule.UNKNOWN_STAGING_AREA
    validate(state, ev.ResponderDirected("r1", "staging-a"))


def test_perimeter_membership_follows_entries_exits_and_removal() -> None:
    rec = Recorder().opened().notified("r1", "r2")
    rec.add(
        ev.PerimeterSet("outer", "outer", {"type": "Point", "coordinates": [-84.54, 38.225]}, 600.0)
    )
    for payload in (
        ev.PerimeterEntered("r1", "outer", "outer"),
        ev.PerimeterEntered("r1", "inner", "inner"),
        ev.PerimeterEntered("r2", "inner", "inner"),
        ev.PerimeterExited("r2", "inner", "inner"),
    ):
        _add(rec, payload)
    state = rec.state()
    assert state.responders["r1"].inside_perimeters == ["outer", "inner"]
    assert state.responders["r2"].inside_perimeters == []
    assert _refused(state, ev.PerimeterEntered("r1", "inner", "inner")) is Rule.ALREADY_INSIDE
    assert _refused(state, ev.PerimeterExited("r2", "inner", "inner")) is Rule.NOT_INSIDE
    assert (
        _refused(state, ev.PerimeterEntered("r2", "inner", "outer")) is Rule.PERIMETER_KIND_MISMATCH
    )
    assert _refused(state, ev.PerimeterEntered("r2", "nowhere", "inner")) is Rule.UNKNOWN_PERIMETER
    assert _refused(state, ev.PerimeterEntered("r9", "inner", "inner")) is Rule.UNKNOWN_RESPONDER
    _add(rec, ev.PerimeterRemoved("inner"))
    assert rec.state().responders["r1"].inside_perimeters == ["outer"]


def test_a_warning_starts_is_acknowledged_and_ends_as_events() -> None:
    rec = Recorder().opened().notified("r1", "r2")
    _add(rec, ev.WarningRaised("w5", "not_on_roster", "r1", "r1 is not on any roster"), 10)
    _add(
        rec,
        ev.WarningRaised(
            "w2", "attire_matches_suspect", "r2", "matches", ("top_color", "top_type")
        ),
        11,
    )
    _add(rec, ev.WarningAcknowledged("w2", "Lt. Hayes"), 12)
    state = rec.state()
    assert [w.warning_id for w in state.active_warnings()] == ["w2", "w5"]  # priority first
    w2 = state.warnings["w2"]
    assert w2.matched_fields == ("top_color", "top_type") and w2.priority == 2
    assert (w2.acknowledged_by, w2.acknowledged_at_us) == ("Lt. Hayes", T0 + 12 * S)
    _add(rec, ev.WarningEnded("w2", "suspect description revised"), 20)
    state = rec.state()
    assert not state.warnings["w2"].active
    assert state.warnings["w2"].end_reason == "suspect description revised"
    assert state.warnings["w2"].ended_at_us == T0 + 20 * S
    assert [w.warning_id for w in state.active_warnings()] == ["w5"]
    assert decode_state(encode_state(state)) == state


def test_warning_rules() -> None:
    rec = Recorder().opened().notified("r1")
    _add(rec, ev.WarningRaised("w1", "not_on_roster", "r1", "r1 is not on any roster"))
    _add(rec, ev.WarningAcknowledged("w1", "Lt. Hayes"))
    state = rec.state()
    assert _refused(state, ev.WarningAcknowledged("w9", "Lt. Hayes")) is Rule.UNKNOWN_WARNING
    assert _refused(state, ev.WarningEnded("w9")) is Rule.UNKNOWN_WARNING
    assert (
        _refused(state, ev.WarningAcknowledged("w1", "Dispatcher B"))
        is Rule.WARNING_ALREADY_ACKNOWLEDGED
    )
    assert (
        _refused(state, ev.WarningRaised("w1", "not_on_roster", "r1", "again"))
        is Rule.WARNING_ALREADY_RAISED
    )
    assert (
        _refused(state, ev.WarningRaised("w2", "not_on_roster", "r1", "again"))
        is Rule.WARNING_ALREADY_ACTIVE
    )
    assert (
        _refused(state, ev.WarningRaised("w2", "not_on_roster", "r9", "who"))
        is Rule.UNKNOWN_RESPONDER
    )
    _add(rec, ev.WarningEnded("w1", "released"))
    state = rec.state()
    assert _refused(state, ev.WarningEnded("w1")) is Rule.WARNING_ENDED
    assert _refused(state, ev.WarningAcknowledged("w1", "Lt. Hayes")) is Rule.WARNING_ENDED
    validate(state, ev.WarningRaised("w2", "not_on_roster", "r1", "again"))
    rec.add(ev.IncidentStatusChanged("all_clear"), 30)
    assert (
        _refused(rec.state(), ev.WarningRaised("w3", "not_on_roster", "r1", "late"))
        is Rule.INCIDENT_CLOSED
    )


def test_a_roll_call_marks_responders_accounted_and_lists_the_rest() -> None:
    rec = Recorder().opened().notified("r1", "r2", "r3")
    _add(rec, ev.ParStarted("par-1", ("r1", "r2", "r3")), 10)
    _add(rec, ev.ParAccounted("par-1", "r1"), 11)
    _add(rec, ev.ParAccounted("par-1", "r2"), 12)
    _add(rec, ev.ParAccounted("par-1", "r2", accounted=False), 13)  # marked by mistake
    state = rec.state()
    par = state.par
    assert par is not None and par.par_id == "par-1" and par.started_by == "Lt. Hayes"
    assert par.accounted == {"r1": T0 + 11 * S}
    assert par.unaccounted == ["r2", "r3"]
    _add(rec, ev.ParEnded("par-1"), 20)
    state = rec.state()
    assert state.par is None and state.pars[0].ended_at_us == T0 + 20 * S
    _add(rec, ev.ParStarted("par-2", ("r3",)), 30)
    running = rec.state().par
    assert running is not None and running.par_id == "par-2" and running.unaccounted == ["r3"]
    assert [p.par_id for p in rec.state().pars] == ["par-1", "par-2"]


def test_par_rules() -> None:
    rec = Recorder().opened().notified("r1", "r2")
    state = rec.state()
    assert _refused(state, ev.ParAccounted("par-1", "r1")) is Rule.PAR_NOT_RUNNING
    assert _refused(state, ev.ParEnded("par-1")) is Rule.PAR_NOT_RUNNING
    assert _refused(state, ev.ParStarted("par-1", ("r9",))) is Rule.UNKNOWN_RESPONDER
    _add(rec, ev.ParStarted("par-1", ("r1",)))
    state = rec.state()
    assert _refused(state, ev.ParStarted("par-2", ("r1", "r2"))) is Rule.PAR_RUNNING
    assert _refused(state, ev.ParAccounted("par-1", "r2")) is Rule.NOT_IN_PAR
    assert _refused(state, ev.ParAccounted("par-0", "r1")) is Rule.PAR_NOT_RUNNING
    _add(rec, ev.ParEnded("par-1"))
    state = rec.state()
    assert _refused(state, ev.ParAccounted("par-1", "r1")) is Rule.PAR_NOT_RUNNING
    assert _refused(state, ev.ParEnded("par-1")) is Rule.PAR_NOT_RUNNING
    assert _refused(state, ev.ParStarted("par-1", ("r1",))) is Rule.PAR_ALREADY_STARTED
    validate(state, ev.ParStarted("par-2", ("r1", "r2")))


def test_an_alert_is_refused_by_a_closed_incident() -> None:
    rec = Recorder().opened()
    rec.add(ev.AlertReceived("act-1", "lincoln-hs", "active_shooter", 1))
    rec.add(ev.IncidentStatusChanged("all_clear"))
    state = rec.state()
    with pytest.raises(RuleViolation) as refused:
        validate(state, ev.AlertReceived("act-2", "lincoln-hs", "active_shooter", 2))
    assert refused.value.rule is Rule.INCIDENT_CLOSED
