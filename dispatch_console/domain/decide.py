"""The decider: is a proposed change allowed in the current state?

A command is the payload of the event it would become. :func:`validate` checks it against the
incident's state and raises :class:`RuleViolation` naming the rule it breaks; only validated
payloads are stored (see ``service.IncidentService``). The fold then trusts stored events.
"""

from __future__ import annotations

from collections.abc import Callable

from dispatch_console.domain import events as ev
from dispatch_console.domain.geometry import area_problem
from dispatch_console.domain.lifecycle import (
    IDENTIFIED_OR_LATER,
    PRESENT,
    Rule,
    RuleViolation,
    check_transition,
)
from dispatch_console.domain.lifecycle import ResponderStatus as S
from dispatch_console.domain.state import IncidentState, IncidentWarning, Par, Responder
from dispatch_console.domain.text import has_unsafe, neutralise

Check = Callable[[IncidentState, ev.Payload], None]


def _open(state: IncidentState) -> None:
    if not state.opened:
        raise RuleViolation(Rule.INCIDENT_NOT_OPEN, f"incident {state.incident_id}")


def _active(state: IncidentState) -> None:
    _open(state)
    if state.closed:
        raise RuleViolation(Rule.INCIDENT_CLOSED, f"incident {state.incident_id} is {state.status}")


def _responder(state: IncidentState, responder_id: str) -> Responder:
    responder = state.responders.get(responder_id)
    if responder is None:
        raise RuleViolation(Rule.UNKNOWN_RESPONDER, f"responder {responder_id}")
    return responder


def _staging_area(state: IncidentState, staging_area_id: str | None) -> None:
    if staging_area_id is not None and staging_area_id not in state.staging_areas:
        raise RuleViolation(Rule.UNKNOWN_STAGING_AREA, f"staging area {staging_area_id}")


def _check_opened(state: IncidentState, p: ev.Payload) -> None:
    if state.opened:
        raise RuleViolation(Rule.INCIDENT_ALREADY_OPEN, f"incident {state.incident_id}")


def _check_open(state: IncidentState, p: ev.Payload) -> None:
    _open(state)


def _check_active(state: IncidentState, p: ev.Payload) -> None:
    _active(state)


def _check_command_established(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.CommandEstablished)
    _active(state)
    if not p.commander.strip():
        raise RuleViolation(Rule.COMMANDER_REQUIRED, "no name given")
    if state.commander is not None:
        raise RuleViolation(
            Rule.COMMAND_ALREADY_ESTABLISHED, f"{state.commander} is incident commander"
        )


def _check_command_transferred(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.CommandTransferred)
    _active(state)
    if not p.to_commander.strip():
        raise RuleViolation(Rule.COMMANDER_REQUIRED, "no name to hand command to")
    if state.commander is None:
        raise RuleViolation(Rule.NO_COMMAND, f"incident {state.incident_id}")
    if p.from_commander != state.commander:
        raise RuleViolation(
            Rule.NOT_IN_COMMAND, f"{state.commander} is in command, not {p.from_commander}"
        )
    if p.to_commander.strip() == state.commander:
        raise RuleViolation(Rule.COMMAND_ALREADY_ESTABLISHED, f"{state.commander} holds it")


def _check_alert_ack(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.AlertAcknowledged)
    _open(state)
    alert = state.alerts.get(p.alert_id)
    if alert is None:
        raise RuleViolation(Rule.UNKNOWN_ALERT, f"alert {p.alert_id}")
    if alert.acknowledged_at_us is not None:
        raise RuleViolation(
            Rule.ALERT_ALREADY_ACKNOWLEDGED, f"alert {p.alert_id} by {alert.acknowledged_by}"
        )


def _check_alert_revised(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.AlertRevised)
    _active(state)
    if p.alert_id not in state.alerts:
        raise RuleViolation(Rule.UNKNOWN_ALERT, f"alert {p.alert_id}")


def _check_alert_received(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.AlertReceived)
    _active(state)  # a new alert never joins a closed incident: it opens a new one
    if p.alert_id in state.alerts:
        raise RuleViolation(Rule.ALERT_ALREADY_RECEIVED, f"alert {p.alert_id}")
    if p.school_id != state.school_id:
        raise RuleViolation(
            Rule.ALERT_OF_ANOTHER_SCHOOL,
            f"alert of {p.school_id} in an incident at {state.school_id}",
        )


def _check_area(geometry: ev.Geometry, radius_m: float | None, capacity: int | None = None) -> None:
    problem = area_problem(geometry, radius_m)
    if problem is None and capacity is not None and capacity <= 0:
        problem = f"capacity {capacity} is not positive"
    if problem is not None:
        raise RuleViolation(Rule.BAD_AREA, problem)


def _check_staging_set(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.StagingAreaSet)
    _active(state)
    _check_area(p.geometry, p.radius_m, p.capacity)


def _check_perimeter_set(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.PerimeterSet)
    _active(state)
    _check_area(p.geometry, p.radius_m)


def _check_check_in_point(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.CheckInPointSet)
    _active(state)
    try:
        ev.check_lat_lon(p.lat, p.lon)
    except ValueError as bad:
        raise RuleViolation(Rule.BAD_AREA, str(bad)) from None


def _check_equipment(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.ResponderEquipmentIssued)
    _open(state)
    r = _responder(state, p.responder_id)
    if r.status not in PRESENT:
        raise RuleViolation(Rule.NOT_PRESENT, f"responder {r.responder_id} is {r.status.label}")


def _check_staging_removed(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.StagingAreaRemoved)
    _active(state)
    _staging_area(state, p.staging_area_id)


def _check_perimeter_removed(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.PerimeterRemoved)
    _active(state)
    if p.perimeter_id not in state.perimeters:
        raise RuleViolation(Rule.UNKNOWN_PERIMETER, f"perimeter {p.perimeter_id}")


def _check_notified(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.ResponderNotified)
    _active(state)
    if p.responder_id in state.responders:
        raise RuleViolation(Rule.ALREADY_NOTIFIED, f"responder {p.responder_id}")


def _check_known_responder(state: IncidentState, p: ev.Payload) -> None:
    _open(state)
    _responder(state, getattr(p, "responder_id"))  # noqa: B009 - every responder payload has it


def _check_acknowledged(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.ResponderAcknowledged)
    _open(state)
    r = _responder(state, p.responder_id)
    check_transition(r.responder_id, r.status, S.ACKNOWLEDGED if p.responding else S.DECLINED)


def _transition_check(target: S, needs_active: bool = True) -> Check:
    def check(state: IncidentState, p: ev.Payload) -> None:
        if needs_active:
            _active(state)
        else:
            _open(state)
        r = _responder(state, getattr(p, "responder_id"))  # noqa: B009
        check_transition(r.responder_id, r.status, target)

    return check


def _check_arrived(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.ResponderArrived)
    _open(state)
    r = _responder(state, p.responder_id)
    if p.place == "staging":
        if p.staging_area_id is None:
            raise RuleViolation(Rule.STAGING_AREA_REQUIRED, f"responder {r.responder_id}")
        _staging_area(state, p.staging_area_id)
    if r.status in IDENTIFIED_OR_LATER:
        return  # a checked-in responder moving between staging and scene: place, not status
    check_transition(r.responder_id, r.status, S.AT_STAGING if p.place == "staging" else S.ON_SCENE)


def _check_directed(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.ResponderDirected)
    _active(state)
    r = _responder(state, p.responder_id)
    _staging_area(state, p.staging_area_id)
    if r.status is S.RELEASED:
        raise RuleViolation(Rule.RELEASED_IS_FINAL, f"responder {r.responder_id} is released")


def _details(owner: str, **fields: str | None) -> None:
    """A team, channel, place or name a responder reads on a phone: one bounded line."""
    for name, value in fields.items():
        if value is None:
            continue
        if len(value) > ev.MAX_DETAIL_CHARS or has_unsafe(value):
            shown = neutralise(value[:40]) + ("…" if len(value) > 40 else "")
            raise RuleViolation(Rule.BAD_DETAIL, f"{owner}: {name} {shown!r} ({len(value)} chars)")


def _check_identified(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.ResponderIdentified)
    if not p.verifier.strip():
        raise RuleViolation(Rule.VERIFIER_REQUIRED, f"responder {p.responder_id}")
    _details(f"responder {p.responder_id}", team=p.team)
    _transition_check(S.IDENTIFIED)(state, p)


def _check_assigned(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.ResponderAssigned)
    _details(
        f"responder {p.responder_id}",
        team=p.team,
        location=p.location,
        radio_channel=p.radio_channel,
        report_to=p.report_to,
    )
    _transition_check(S.ASSIGNED)(state, p)


def _check_staged(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.ResponderStaged)
    _staging_area(state, p.staging_area_id)
    _transition_check(S.STAGED)(state, p)


def _check_directive_queued(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.DirectiveQueued)
    _open(state)
    r = _responder(state, p.responder_id)
    if r.status is S.RELEASED and p.kind != "released":
        raise RuleViolation(Rule.RELEASED_IS_FINAL, f"responder {r.responder_id} is released")
    _staging_area(state, p.staging_area_id)
    if p.details is not None:
        d = p.details
        _details(
            f"directive {p.directive_id}",
            team=d.team,
            radio_channel=d.radio_channel,
            location=d.location,
            report_to=d.report_to,
        )
    if p.broadcast_id is not None and p.broadcast_id not in state.broadcasts:
        raise RuleViolation(Rule.UNKNOWN_BROADCAST, f"broadcast {p.broadcast_id}")


def _directive(state: IncidentState, directive_id: str) -> None:
    _open(state)
    if directive_id not in state.directives:
        raise RuleViolation(Rule.UNKNOWN_DIRECTIVE, f"directive {directive_id}")


def _check_directive_delivered(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.DirectiveDelivered)
    _directive(state, p.directive_id)


def _check_directive_acknowledged(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.DirectiveAcknowledged)
    _directive(state, p.directive_id)
    if state.directives[p.directive_id].acknowledged_at_us is not None:
        raise RuleViolation(Rule.DIRECTIVE_ALREADY_ACKNOWLEDGED, f"directive {p.directive_id}")


def _check_broadcast(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.BroadcastSent)
    _active(state)
    if p.broadcast_id in state.broadcasts:
        raise RuleViolation(Rule.BROADCAST_ALREADY_SENT, f"broadcast {p.broadcast_id}")
    if not p.text.strip():
        raise RuleViolation(Rule.EMPTY_BROADCAST, f"broadcast {p.broadcast_id}")
    _staging_area(state, p.staging_area_id)


def _perimeter_of(state: IncidentState, p: ev.PerimeterEntered | ev.PerimeterExited) -> Responder:
    _open(state)
    r = _responder(state, p.responder_id)
    perimeter = state.perimeters.get(p.perimeter_id)
    if perimeter is None:
        raise RuleViolation(Rule.UNKNOWN_PERIMETER, f"perimeter {p.perimeter_id}")
    if perimeter.kind != p.kind:
        raise RuleViolation(
            Rule.PERIMETER_KIND_MISMATCH,
            f"perimeter {p.perimeter_id} is {perimeter.kind}, not {p.kind}",
        )
    return r


def _check_perimeter_entered(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.PerimeterEntered)
    r = _perimeter_of(state, p)
    if p.perimeter_id in r.inside_perimeters:
        raise RuleViolation(
            Rule.ALREADY_INSIDE, f"responder {r.responder_id} in perimeter {p.perimeter_id}"
        )


def _check_perimeter_exited(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.PerimeterExited)
    r = _perimeter_of(state, p)
    if p.perimeter_id not in r.inside_perimeters:
        raise RuleViolation(
            Rule.NOT_INSIDE, f"responder {r.responder_id} in perimeter {p.perimeter_id}"
        )


def _check_warning_raised(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.WarningRaised)
    _active(state)
    _responder(state, p.responder_id)
    if p.warning_id in state.warnings:
        raise RuleViolation(Rule.WARNING_ALREADY_RAISED, f"warning {p.warning_id}")
    for w in state.warnings.values():
        if w.ended_at_us is None and w.kind == p.kind and w.responder_id == p.responder_id:
            raise RuleViolation(
                Rule.WARNING_ALREADY_ACTIVE,
                f"{p.kind} for responder {p.responder_id} is warning {w.warning_id}",
            )


def _active_warning(state: IncidentState, warning_id: str) -> IncidentWarning:
    _open(state)
    warning = state.warnings.get(warning_id)
    if warning is None:
        raise RuleViolation(Rule.UNKNOWN_WARNING, f"warning {warning_id}")
    if warning.ended_at_us is not None:
        why = f": {warning.end_reason}" if warning.end_reason else ""
        raise RuleViolation(Rule.WARNING_ENDED, f"warning {warning_id} ended{why}")
    return warning


def _check_warning_acknowledged(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.WarningAcknowledged)
    warning = _active_warning(state, p.warning_id)
    if not p.by.strip():
        raise RuleViolation(Rule.ACKNOWLEDGER_REQUIRED, f"warning {p.warning_id}")
    if warning.acknowledged_at_us is not None:
        raise RuleViolation(
            Rule.WARNING_ALREADY_ACKNOWLEDGED,
            f"warning {p.warning_id} by {warning.acknowledged_by}",
        )


def _check_warning_ended(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.WarningEnded)
    _active_warning(state, p.warning_id)


def _check_par_started(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.ParStarted)
    _active(state)
    running = state.par
    if running is not None:
        raise RuleViolation(Rule.PAR_RUNNING, f"PAR {running.par_id} is running")
    if any(par.par_id == p.par_id for par in state.pars):
        raise RuleViolation(Rule.PAR_ALREADY_STARTED, f"PAR {p.par_id}")
    for responder_id in p.responder_ids:
        _responder(state, responder_id)


def _running_par(state: IncidentState, par_id: str) -> Par:
    _open(state)
    running = state.par
    if running is None or running.par_id != par_id:
        now = f"; PAR {running.par_id} is" if running is not None else "; none is"
        raise RuleViolation(Rule.PAR_NOT_RUNNING, f"PAR {par_id}{now}")
    return running


def _check_par_accounted(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.ParAccounted)
    par = _running_par(state, p.par_id)
    if p.responder_id not in par.responder_ids:
        raise RuleViolation(Rule.NOT_IN_PAR, f"responder {p.responder_id} in PAR {p.par_id}")


def _check_par_ended(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.ParEnded)
    _running_par(state, p.par_id)


def _check_gate_released(state: IncidentState, p: ev.Payload) -> None:
    assert isinstance(p, ev.AlertGateReleased)
    _active(state)
    gate = state.gates.get(p.agency)
    if gate is None or not gate.open:
        raise RuleViolation(Rule.NO_OPEN_GATE, f"{p.agency}")


CHECKS: dict[str, Check] = {
    ev.IncidentOpened.TYPE: _check_opened,
    ev.AlertReceived.TYPE: _check_alert_received,
    ev.AlertRevised.TYPE: _check_alert_revised,
    ev.AlertAcknowledged.TYPE: _check_alert_ack,
    ev.IncidentCommanderAssigned.TYPE: _check_active,
    ev.CommandEstablished.TYPE: _check_command_established,
    ev.CommandTransferred.TYPE: _check_command_transferred,
    ev.IncidentStatusChanged.TYPE: _check_open,
    ev.SuspectDescriptionRevised.TYPE: _check_active,
    ev.StagingAreaSet.TYPE: _check_staging_set,
    ev.StagingAreaRemoved.TYPE: _check_staging_removed,
    ev.PerimeterSet.TYPE: _check_perimeter_set,
    ev.PerimeterRemoved.TYPE: _check_perimeter_removed,
    ev.CheckInPointSet.TYPE: _check_check_in_point,
    ev.ResponderNotified.TYPE: _check_notified,
    ev.ResponderProfileReported.TYPE: _check_known_responder,
    ev.ResponderRosterChecked.TYPE: _check_known_responder,
    ev.ResponderAcknowledged.TYPE: _check_acknowledged,
    ev.ResponderPosition.TYPE: _check_known_responder,
    ev.ResponderEnRoute.TYPE: _transition_check(S.EN_ROUTE, needs_active=False),
    ev.ResponderArrived.TYPE: _check_arrived,
    ev.ResponderDirected.TYPE: _check_directed,
    ev.ResponderIdentified.TYPE: _check_identified,
    ev.ResponderEquipmentIssued.TYPE: _check_equipment,
    ev.ResponderStaged.TYPE: _check_staged,
    ev.ResponderAssigned.TYPE: _check_assigned,
    ev.ResponderReleased.TYPE: _transition_check(S.RELEASED, needs_active=False),
    ev.DirectiveQueued.TYPE: _check_directive_queued,
    ev.DirectiveDelivered.TYPE: _check_directive_delivered,
    ev.DirectiveAcknowledged.TYPE: _check_directive_acknowledged,
    ev.AgencyRulesApplied.TYPE: _check_active,
    ev.AlertGateHeld.TYPE: _check_active,
    ev.AlertGateReleased.TYPE: _check_gate_released,
    ev.BroadcastSent.TYPE: _check_broadcast,
    ev.PerimeterEntered.TYPE: _check_perimeter_entered,
    ev.PerimeterExited.TYPE: _check_perimeter_exited,
    ev.WarningRaised.TYPE: _check_warning_raised,
    ev.WarningAcknowledged.TYPE: _check_warning_acknowledged,
    ev.WarningEnded.TYPE: _check_warning_ended,
    ev.ParStarted.TYPE: _check_par_started,
    ev.ParAccounted.TYPE: _check_par_accounted,
    ev.ParEnded.TYPE: _check_par_ended,
}


def validate(state: IncidentState, payload: ev.Payload) -> None:
    """Raise :class:`RuleViolation` if ``payload`` may not be applied to ``state``."""
    check = CHECKS.get(payload.TYPE)
    if check is None:
        raise ValueError(f"{payload.TYPE} is not an incident command")
    check(state, payload)
