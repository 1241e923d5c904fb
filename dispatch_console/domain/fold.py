"""Live state as a pure fold of events.

``apply`` is the only code that changes an :class:`IncidentState`. It trusts stored events
(they were checked by the decider before they were stored) but never raises on them: an event
about an unknown responder or area is counted and skipped, so one odd event cannot stop a
console or a replay.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import msgspec

from dispatch_console.domain import events as ev
from dispatch_console.domain.lifecycle import IDENTIFIED_OR_LATER
from dispatch_console.domain.lifecycle import ResponderStatus as S
from dispatch_console.domain.state import (
    TRACK_LIMIT,
    Acts,
    Alert,
    AlertGate,
    Assignment,
    Broadcast,
    CheckInPoint,
    CommandPeriod,
    Directive,
    Equipment,
    Identification,
    IncidentState,
    IncidentWarning,
    Par,
    Perimeter,
    Position,
    Responder,
    StagingArea,
    SuspectRevision,
    copy_responder,
    copy_state,
)
from dispatch_console.domain.text import neutralise

log = logging.getLogger(__name__)

#: How far ahead of the store's receive time a device's clock may be before it is capped.
CLOCK_TOLERANCE_US = 5_000_000

Handler = Callable[[IncidentState, ev.Event], None]


def _incident_opened(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.IncidentOpened)
    state.opened = True
    state.opened_at_us = event.occurred_at_us
    state.school_id = p.school_id
    state.school_name = p.school_name
    state.incident_type = p.incident_type
    state.lon, state.lat = p.lon, p.lat
    state.exercise = p.exercise
    state.status = "active"
    state.status_changed_at_us = event.occurred_at_us


def _alert_received(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.AlertReceived)
    if p.alert_id in state.alerts:
        return  # the first receipt stands (and keeps its acknowledgement)
    state.alerts[p.alert_id] = Alert(
        alert_id=p.alert_id,
        school_id=p.school_id,
        alert_type=p.alert_type,
        activated_at_us=p.activated_at_us,
        received_at_us=event.received_at_us,
        activated_by_name=_shown(p.activated_by_name),
        activated_by_role=_shown(p.activated_by_role),
        location_detail=_shown(p.location_detail),
        message=_shown(p.message),
    )


def _shown(text: str | None) -> str | None:
    """A sender's text as every output shows it: control and bidi characters made visible
    (the console, the terminal, the CSV and the PDF all read the state)."""
    return neutralise(text) if text else text


def _alert_revised(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.AlertRevised)
    alert = state.alerts.get(p.alert_id)
    if alert is None:
        return
    if p.location_detail is not None:
        alert.location_detail = _shown(p.location_detail)
    if p.message is not None:
        alert.message = _shown(p.message)


def _alert_acknowledged(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.AlertAcknowledged)
    alert = state.alerts.get(p.alert_id)
    if alert is not None and alert.acknowledged_at_us is None:
        alert.acknowledged_at_us = event.occurred_at_us
        alert.acknowledged_by = p.by


def _take_command(state: IncidentState, event: ev.Event, period: CommandPeriod) -> None:
    """The one path by which command changes hands (established, assumed, transferred)."""
    if state.command and state.command[-1].until_us is None:
        state.command[-1].until_us = event.occurred_at_us
        if period.command_post is None:  # the post stays where it was unless it moved
            before = state.command[-1]
            period.command_post = before.command_post
            period.lon, period.lat = before.lon, before.lat
    state.command.append(period)
    state.commander = period.commander


def _command_established(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.CommandEstablished)
    how = "assumed" if p.assumed else "established"
    period = CommandPeriod(
        p.commander, event.occurred_at_us, how, event.actor.name, p.command_post, p.lon, p.lat
    )
    _take_command(state, event, period)


def _command_transferred(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.CommandTransferred)
    period = CommandPeriod(
        p.to_commander, event.occurred_at_us, "transferred", event.actor.name, p.command_post,
        p.lon, p.lat, from_commander=p.from_commander, reason=p.reason,
    )  # fmt: skip
    _take_command(state, event, period)


def _commander_assigned(state: IncidentState, event: ev.Event) -> None:
    """An older record's assignment: establishes command, or transfers it."""
    p = event.payload
    assert isinstance(p, ev.IncidentCommanderAssigned)
    before = state.commander
    how = "established" if before is None else "transferred"
    period = CommandPeriod(p.name, event.occurred_at_us, how, event.actor.name)
    period.from_commander = before
    _take_command(state, event, period)


def _status(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.IncidentStatusChanged)
    state.status = p.status
    state.status_changed_at_us = event.occurred_at_us


def _suspect(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.SuspectDescriptionRevised)
    state.suspect_revisions.append(
        SuspectRevision(
            rev=len(state.suspect_revisions) + 1,
            revised_at_us=event.occurred_at_us,
            revised_by=event.actor.name,
            description=p.description,
        )
    )


def _staging_set(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.StagingAreaSet)
    state.staging_areas[p.staging_area_id] = StagingArea(
        p.staging_area_id, p.name, p.geometry, p.radius_m, p.manager, p.capacity
    )


def _staging_removed(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.StagingAreaRemoved)
    state.staging_areas.pop(p.staging_area_id, None)


def _perimeter_set(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.PerimeterSet)
    state.perimeters[p.perimeter_id] = Perimeter(p.perimeter_id, p.kind, p.geometry, p.radius_m)


def _perimeter_removed(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.PerimeterRemoved)
    if state.perimeters.pop(p.perimeter_id, None) is None:
        return
    # Nobody is inside an area that no longer exists: no exit events are needed for it.
    for r in state.responders.values():
        if p.perimeter_id in r.inside_perimeters:
            r.inside_perimeters.remove(p.perimeter_id)


def _check_in_point(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.CheckInPointSet)
    state.check_in_point = CheckInPoint(p.name, p.lon, p.lat)


def _notified(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.ResponderNotified)
    if p.responder_id not in state.responders:
        state.responders[p.responder_id] = Responder(
            responder_id=p.responder_id,
            device_id=p.device_id,
            notified_at_us=event.occurred_at_us,
            status_since_us=event.occurred_at_us,
        )


def _responder(state: IncidentState, responder_id: str, event: ev.Event) -> Responder | None:
    responder = state.responders.get(responder_id)
    if responder is None:
        log.warning(
            "event %s (%s) names responder %s, not notified in incident %s; skipped",
            event.seq,
            event.type,
            responder_id,
            state.incident_id,
        )
    return responder


def _move(responder: Responder, status: S, event: ev.Event) -> None:
    responder.status = status
    responder.status_since_us = event.occurred_at_us


def _profile(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.ResponderProfileReported)
    r = _responder(state, p.responder_id, event)
    if r is None:
        return
    for name in ("name", "agency", "badge", "callsign", "duty", "has_radio", "attire"):
        value = getattr(p, name)
        if isinstance(value, str):
            value = neutralise(value)
        if value is not None:
            setattr(r, name, value)


def _roster(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.ResponderRosterChecked)
    r = _responder(state, p.responder_id, event)
    if r is not None:
        r.roster_verdict = p.verdict
        r.roster_name = p.roster_name
        r.roster_reason = p.reason


def _acknowledged(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.ResponderAcknowledged)
    r = _responder(state, p.responder_id, event)
    if r is None:
        return
    if p.responding:
        r.acknowledged_at_us = r.acknowledged_at_us or event.occurred_at_us
    if r.status in (S.NOTIFIED, S.ACKNOWLEDGED, S.DECLINED):
        _move(r, S.ACKNOWLEDGED if p.responding else S.DECLINED, event)


def position_fix(event: ev.Event) -> Position:
    """The position a ``responder_position`` event reports, as the fold takes it (also what a
    track export draws: one rule for both)."""
    p = event.payload
    assert isinstance(p, ev.ResponderPosition)
    # A device clock running ahead must neither pin the responder to a "newer" fix nor keep a
    # position from going stale: times are capped by when the store received the report.
    at_us = min(p.at_us, event.received_at_us + CLOCK_TOLERANCE_US)
    stale_at_us = min(p.stale_at_us, event.received_at_us + (p.stale_at_us - p.at_us))
    return Position(p.lat, p.lon, at_us, stale_at_us, p.accuracy_m, p.speed_mps, p.heading_deg)


def moves_forward(previous: Position | None, fix: Position) -> bool:
    """Feed contract: an older position is stored but does not move the responder back."""
    return previous is None or fix.at_us > previous.at_us


def _position(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.ResponderPosition)
    r = _responder(state, p.responder_id, event)
    if r is None:
        return
    pos = position_fix(event)
    if not moves_forward(r.position, pos):
        return
    r.position = pos
    track = r.track
    track.append(pos)
    if len(track) > TRACK_LIMIT:
        del track[0]


def _started_moving(r: Responder, event: ev.Event) -> None:
    if r.en_route_at_us is None:
        r.en_route_at_us = event.occurred_at_us
        if r.directed_to is None:
            r.self_dispatched = True  # lasting: never cleared


def _en_route(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.ResponderEnRoute)
    r = _responder(state, p.responder_id, event)
    if r is not None:
        _started_moving(r, event)
        _move(r, S.EN_ROUTE, event)


def _arrived(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.ResponderArrived)
    r = _responder(state, p.responder_id, event)
    if r is None:
        return
    _started_moving(r, event)
    if r.arrived_at_us is None:
        r.arrived_at_us = event.occurred_at_us
    r.arrived_place = p.place
    if p.place == "staging":
        r.staging_area_id = p.staging_area_id
    if r.status in IDENTIFIED_OR_LATER:
        return  # checked in already: where they are changes, their status does not
    _move(r, S.AT_STAGING if p.place == "staging" else S.ON_SCENE, event)


def _directed(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.ResponderDirected)
    r = _responder(state, p.responder_id, event)
    if r is not None:
        r.directed_to = p.staging_area_id
        r.directed_at_us = event.occurred_at_us


def _identified(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.ResponderIdentified)
    r = _responder(state, p.responder_id, event)
    if r is not None:
        r.identification = Identification(p.method, p.verifier, event.occurred_at_us, p.team)
        _move(r, S.IDENTIFIED, event)


def _equipment(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.ResponderEquipmentIssued)
    r = _responder(state, p.responder_id, event)
    if r is not None:
        before = r.equipment or Equipment()
        # Issued items add up: a vest handed out later does not erase the radio's receipt.
        r.equipment = Equipment(
            p.radio_id or before.radio_id,
            p.radio_channel or before.radio_channel,
            p.marking or before.marking,
        )
        if p.radio_id is not None:
            r.has_radio = True


def _staged(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.ResponderStaged)
    r = _responder(state, p.responder_id, event)
    if r is not None:
        if p.staging_area_id is not None:
            r.staging_area_id = p.staging_area_id
        r.assignment = None
        _move(r, S.STAGED, event)


def _assigned(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.ResponderAssigned)
    r = _responder(state, p.responder_id, event)
    if r is not None:
        r.assignment = Assignment(
            p.task,
            p.team,
            event.occurred_at_us,
            event.actor.name,
            p.location,
            p.radio_channel,
            p.report_to,
        )
        _move(r, S.ASSIGNED, event)


def _released(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.ResponderReleased)
    r = _responder(state, p.responder_id, event)
    if r is not None:
        r.released_at_us = event.occurred_at_us
        _move(r, S.RELEASED, event)


def _directive_queued(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.DirectiveQueued)
    state.directives[p.directive_id] = Directive(
        p.directive_id,
        p.responder_id,
        p.device_id,
        p.kind,
        p.text,
        event.occurred_at_us,
        p.staging_area_id,
        broadcast_id=p.broadcast_id,
        details=p.details,
    )
    if p.broadcast_id is not None:
        broadcast = state.broadcasts.get(p.broadcast_id)
        if broadcast is not None and p.directive_id not in broadcast.directive_ids:
            broadcast.directive_ids.append(p.directive_id)


def _directive_delivered(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.DirectiveDelivered)
    directive = state.directives.get(p.directive_id)
    if directive is not None and directive.delivered_at_us is None:
        directive.delivered_at_us = event.occurred_at_us
        directive.delivered_via = p.via


def _directive_acknowledged(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.DirectiveAcknowledged)
    directive = state.directives.get(p.directive_id)
    if directive is not None and directive.acknowledged_at_us is None:
        directive.acknowledged_at_us = event.occurred_at_us
        if directive.delivered_at_us is None:  # an ack proves delivery
            directive.delivered_at_us = event.occurred_at_us


def _broadcast_sent(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.BroadcastSent)
    if p.broadcast_id in state.broadcasts:
        return  # the first one stands (and keeps its directives)
    state.broadcasts[p.broadcast_id] = Broadcast(
        p.broadcast_id, p.kind, p.text, event.occurred_at_us, event.actor.name, p.staging_area_id
    )


def _perimeter_entered(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.PerimeterEntered)
    r = _responder(state, p.responder_id, event)
    if r is not None and p.perimeter_id not in r.inside_perimeters:
        r.inside_perimeters.append(p.perimeter_id)


def _perimeter_exited(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.PerimeterExited)
    r = _responder(state, p.responder_id, event)
    if r is not None and p.perimeter_id in r.inside_perimeters:
        r.inside_perimeters.remove(p.perimeter_id)


def _warning_raised(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.WarningRaised)
    if p.warning_id in state.warnings:
        return  # a warning starts once
    state.warnings[p.warning_id] = IncidentWarning(
        p.warning_id,
        p.kind,
        p.responder_id,
        p.detail,
        event.occurred_at_us,
        tuple(p.matched_fields),
    )


def _warning_acknowledged(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.WarningAcknowledged)
    warning = state.warnings.get(p.warning_id)
    if warning is not None and warning.acknowledged_at_us is None:
        warning.acknowledged_at_us = event.occurred_at_us
        warning.acknowledged_by = p.by


def _warning_ended(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.WarningEnded)
    warning = state.warnings.get(p.warning_id)
    if warning is not None and warning.ended_at_us is None:
        warning.ended_at_us = event.occurred_at_us
        warning.end_reason = p.reason


def _par(state: IncidentState, par_id: str) -> Par | None:
    for par in reversed(state.pars):
        if par.par_id == par_id:
            return par
    return None


def _par_started(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.ParStarted)
    if _par(state, p.par_id) is None:
        state.pars.append(
            Par(p.par_id, event.occurred_at_us, event.actor.name, list(p.responder_ids))
        )


def _par_accounted(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.ParAccounted)
    par = _par(state, p.par_id)
    if par is None or par.ended_at_us is not None:
        return
    if p.accounted:
        par.accounted.setdefault(p.responder_id, event.occurred_at_us)
    else:  # marked by mistake: unaccounted again
        par.accounted.pop(p.responder_id, None)


def _par_ended(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.ParEnded)
    par = _par(state, p.par_id)
    if par is not None and par.ended_at_us is None:
        par.ended_at_us = event.occurred_at_us


def _rules_applied(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.AgencyRulesApplied)
    state.rules_in_force[p.agency] = (p.version, p.rules_json)


def _gate_held(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.AlertGateHeld)
    gate = state.gates.get(p.agency)
    if gate is None:
        gate = state.gates[p.agency] = AlertGate(p.agency, event.occurred_at_us)
        gate.release_at_us = p.release_at_us
    for device_id in p.device_ids:
        if device_id not in gate.device_ids:
            gate.device_ids.append(device_id)


def _gate_released(state: IncidentState, event: ev.Event) -> None:
    p = event.payload
    assert isinstance(p, ev.AlertGateReleased)
    gate = state.gates.get(p.agency)
    if gate is not None and gate.released_at_us is None:
        gate.released_at_us = event.occurred_at_us
        gate.released_by = event.actor.name
        gate.automatic = p.automatic


def _ignore(state: IncidentState, event: ev.Event) -> None:
    """Events that exist for the audit trail only (imports) change no incident state."""


HANDLERS: dict[str, Handler] = {
    ev.SchoolsImported.TYPE: _ignore,
    ev.RosterImported.TYPE: _ignore,
    ev.AccessChanged.TYPE: _ignore,
    ev.RoadsImported.TYPE: _ignore,
    ev.IncidentImported.TYPE: _ignore,
    ev.ConsoleUserAudit.TYPE: _ignore,
    ev.IncidentOpened.TYPE: _incident_opened,
    ev.AlertReceived.TYPE: _alert_received,
    ev.AlertRevised.TYPE: _alert_revised,
    ev.AlertAcknowledged.TYPE: _alert_acknowledged,
    ev.IncidentCommanderAssigned.TYPE: _commander_assigned,
    ev.CommandEstablished.TYPE: _command_established,
    ev.CommandTransferred.TYPE: _command_transferred,
    ev.IncidentStatusChanged.TYPE: _status,
    ev.SuspectDescriptionRevised.TYPE: _suspect,
    ev.StagingAreaSet.TYPE: _staging_set,
    ev.StagingAreaRemoved.TYPE: _staging_removed,
    ev.PerimeterSet.TYPE: _perimeter_set,
    ev.PerimeterRemoved.TYPE: _perimeter_removed,
    ev.CheckInPointSet.TYPE: _check_in_point,
    ev.ResponderNotified.TYPE: _notified,
    ev.ResponderProfileReported.TYPE: _profile,
    ev.ResponderRosterChecked.TYPE: _roster,
    ev.ResponderAcknowledged.TYPE: _acknowledged,
    ev.ResponderPosition.TYPE: _position,
    ev.ResponderEnRoute.TYPE: _en_route,
    ev.ResponderArrived.TYPE: _arrived,
    ev.ResponderDirected.TYPE: _directed,
    ev.ResponderIdentified.TYPE: _identified,
    ev.ResponderEquipmentIssued.TYPE: _equipment,
    ev.ResponderStaged.TYPE: _staged,
    ev.ResponderAssigned.TYPE: _assigned,
    ev.ResponderReleased.TYPE: _released,
    ev.DirectiveQueued.TYPE: _directive_queued,
    ev.DirectiveDelivered.TYPE: _directive_delivered,
    ev.DirectiveAcknowledged.TYPE: _directive_acknowledged,
    ev.AgencyRulesApplied.TYPE: _rules_applied,
    ev.AlertGateHeld.TYPE: _gate_held,
    ev.AlertGateReleased.TYPE: _gate_released,
    ev.BroadcastSent.TYPE: _broadcast_sent,
    ev.PerimeterEntered.TYPE: _perimeter_entered,
    ev.PerimeterExited.TYPE: _perimeter_exited,
    ev.WarningRaised.TYPE: _warning_raised,
    ev.WarningAcknowledged.TYPE: _warning_acknowledged,
    ev.WarningEnded.TYPE: _warning_ended,
    ev.ParStarted.TYPE: _par_started,
    ev.ParAccounted.TYPE: _par_accounted,
    ev.ParEnded.TYPE: _par_ended,
}
missing = set(ev.PAYLOAD_TYPES) - set(HANDLERS)
assert not missing, f"event types without a fold handler: {missing}"


_CONSOLE_USER = ev.ActorKind.CONSOLE_USER


def _acted(state: IncidentState, event: ev.Event) -> None:
    """Note a console user's act (who acted as incident commander where nobody established
    command is read from these: :meth:`IncidentState.acting_commanders`)."""
    name = event.actor.name
    at = event.occurred_at_us
    acts = state.acted.get(name)
    if acts is None:
        state.acted[name] = Acts(at, at)
        return
    acts.first_us = min(acts.first_us, at)
    acts.last_us = max(acts.last_us, at)
    acts.count += 1


def apply(state: IncidentState, event: ev.Event) -> None:
    """Fold one event into ``state`` (in place)."""
    HANDLERS[event.type](state, event)
    if event.actor.kind == _CONSOLE_USER:
        _acted(state, event)
    state.last_seq = event.seq
    state.event_count += 1
    state.last_received_at_us = event.received_at_us
    if event.occurred_at_us > state.last_event_at_us:
        state.last_event_at_us = event.occurred_at_us


def fold(events: Iterable[ev.Event], state: IncidentState) -> IncidentState:
    """Fold ``events`` (in sequence order) into ``state`` and return it."""
    handlers = HANDLERS
    last: ev.Event | None = None
    count = 0
    for event in events:
        handlers[event.type](state, event)
        if event.actor.kind == _CONSOLE_USER:
            _acted(state, event)
        if event.occurred_at_us > state.last_event_at_us:
            state.last_event_at_us = event.occurred_at_us
        last = event
        count += 1
    if last is not None:
        state.last_seq = last.seq
        state.last_received_at_us = last.received_at_us
        state.event_count += count
    return state


def replay(incident_id: str, events: Iterable[ev.Event]) -> IncidentState:
    """The state after all ``events`` of one incident, from nothing."""
    return fold(events, IncidentState(incident_id=incident_id))


#: Event types whose fold changes nothing in a state but the responder they name (or adds
#: them), the warning they name (or add) and the state's counters; and, for a console user's
#: act, their entry in ``acted``. Checked for every event type by
#: ``tests/unit/test_working_copy.py``: a type added here whose fold touches anything else
#: makes it fail.
RECORD_LOCAL = frozenset(
    {
        ev.ResponderNotified.TYPE,
        ev.ResponderProfileReported.TYPE,
        ev.ResponderRosterChecked.TYPE,
        ev.ResponderAcknowledged.TYPE,
        ev.ResponderPosition.TYPE,
        ev.ResponderEnRoute.TYPE,
        ev.ResponderArrived.TYPE,
        ev.ResponderDirected.TYPE,
        ev.ResponderIdentified.TYPE,
        ev.ResponderEquipmentIssued.TYPE,
        ev.ResponderStaged.TYPE,
        ev.ResponderAssigned.TYPE,
        ev.ResponderReleased.TYPE,
        ev.PerimeterEntered.TYPE,
        ev.PerimeterExited.TYPE,
        ev.WarningRaised.TYPE,
        ev.WarningAcknowledged.TYPE,
        ev.WarningEnded.TYPE,
    }
)


class WorkingCopy:
    """``state`` as some events leave it, for checking what comes after them, without
    touching ``state`` and without copying all of it: copy on write, record by record.

    The copy shares every record with ``state`` until an event changes it: the responder or
    warning an event of :data:`RECORD_LOCAL` names is copied before the event is folded in
    (the dicts holding them are copied at the start: a 2,000-responder incident costs two dict
    copies, not a deep copy of 2,000 records and their tracks). Any other event type makes it
    a whole deep copy first (then it folds in place)."""

    __slots__ = ("_own", "_whole", "state")

    def __init__(self, state: IncidentState) -> None:
        self.state = msgspec.structs.replace(
            state,
            responders=dict(state.responders),
            warnings=dict(state.warnings),
            acted={name: msgspec.structs.replace(acts) for name, acts in state.acted.items()},
        )
        self._own: set[tuple[str, str]] = set()  # records copied already
        self._whole = False

    def apply(self, event: ev.Event) -> None:
        if not self._whole:
            if event.type in RECORD_LOCAL:
                self._copy_named(event.payload)
            else:
                self.state = copy_state(self.state)
                self._whole = True
        apply(self.state, event)

    def _copy_named(self, payload: ev.Payload) -> None:
        state = self.state
        responder_id = getattr(payload, "responder_id", None)
        if isinstance(responder_id, str) and ("r", responder_id) not in self._own:
            responder = state.responders.get(responder_id)
            if responder is not None:
                state.responders[responder_id] = copy_responder(responder)
            self._own.add(("r", responder_id))
        warning_id = getattr(payload, "warning_id", None)
        if isinstance(warning_id, str) and ("w", warning_id) not in self._own:
            warning = state.warnings.get(warning_id)
            if warning is not None:  # every field a scalar or a tuple: a shallow copy is whole
                state.warnings[warning_id] = msgspec.structs.replace(warning)
            self._own.add(("w", warning_id))
