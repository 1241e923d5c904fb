"""The incident commander's acts as event payloads, ready for the incident service (no Qt here).

Each builder returns the payloads one console action stores, in order, as one all-or-nothing
command (``IncidentService.execute``). The builders check nothing the decider checks: the
service validates every payload against the store's state under its write lock, so a refusal
(an unknown responder, an unidentified one assigned, a released one directed) comes back as the
command's outcome, never as a half-stored action. What they do decide is what the console
decides: new ids, the words a responder reads in the car, and who a broadcast goes to.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from typing import Literal

from dispatch_console.domain import events as ev
from dispatch_console.domain.lifecycle import IDENTIFIED_OR_LATER, PRESENT, ResponderStatus
from dispatch_console.domain.state import IncidentState, Responder
from dispatch_console.domain.text import neutralise

#: What every responder reads on a stand-down (short enough for a lock screen).
STAND_DOWN_TEXT = "Threat neutralized. Do not respond. Stand down."
#: A go-to-staging directive: the area by name, and where not to go.
GO_TO_STAGING_TEXT = "Go to {area}. Do not go to the school."

#: Statuses that receive no broadcast: they said no, or they are done.
NOT_BROADCAST = frozenset({ResponderStatus.DECLINED, ResponderStatus.RELEASED})

Payloads = list[ev.Payload]
#: What staging may hand out to mark a plainclothes officer.
Marking = Literal["raid_jacket", "vest"]
MARKINGS: tuple[Marking, ...] = ("raid_jacket", "vest")


def new_id(prefix: str) -> str:
    """A fresh id such as ``dir-3f9a0c12b4e1`` (48 random bits: unique in any incident)."""
    return f"{prefix}-{secrets.token_hex(6)}"


# --- words ----------------------------------------------------------------------------------


def staging_area_name(state: IncidentState, staging_area_id: str) -> str:
    area = state.staging_areas.get(staging_area_id)
    return area.name if area is not None else staging_area_id


def go_to_staging_text(state: IncidentState, staging_area_id: str) -> str:
    """``Go to Staging A (church lot, Elm St). Do not go to the school.``"""
    return GO_TO_STAGING_TEXT.format(area=staging_area_name(state, staging_area_id))


# --- directing and broadcasting ---------------------------------------------------------------


def _device_of(state: IncidentState, responder_id: str) -> str:
    responder = state.responders.get(responder_id)
    # An unknown responder's directive is refused by the decider; its device is a guess.
    return responder.device_id if responder is not None else responder_id


def direct(state: IncidentState, responder_ids: Iterable[str], staging_area_id: str) -> Payloads:
    """Direct each responder to a staging area: ``ResponderDirected`` and a ``go_to_staging``
    directive to their device, per responder (in the order given, each once)."""
    text = go_to_staging_text(state, staging_area_id)
    payloads: Payloads = []
    for rid in dict.fromkeys(responder_ids):
        responder = state.responders.get(rid)
        if responder is not None and responder.status is ResponderStatus.RELEASED:
            continue  # released is final: one of them must not sink everyone else's directive
        payloads.append(ev.ResponderDirected(rid, staging_area_id))
        payloads.append(
            ev.DirectiveQueued(
                new_id("dir"), rid, _device_of(state, rid), "go_to_staging", text, staging_area_id
            )
        )
    return payloads


def broadcast_recipients(
    state: IncidentState, skip: frozenset[ResponderStatus] = frozenset()
) -> list[Responder]:
    """Who a broadcast reaches: every notified responder who has not declined or been
    released (nor is in ``skip``), in notification order."""
    excluded = NOT_BROADCAST | skip
    return [r for r in state.responders.values() if r.status not in excluded]


def broadcast(
    state: IncidentState,
    kind: ev.BroadcastKind,
    text: str,
    staging_area_id: str | None = None,
    *,
    skip: frozenset[ResponderStatus] = frozenset(),
) -> Payloads:
    """``BroadcastSent`` and one directive per recipient (:func:`broadcast_recipients`)
    carrying the broadcast's id, so delivery and acknowledgement are counted per broadcast."""
    broadcast_id = new_id("bc")
    payloads: Payloads = [ev.BroadcastSent(broadcast_id, kind, text, staging_area_id)]
    for r in broadcast_recipients(state, skip):
        payloads.append(
            ev.DirectiveQueued(
                new_id("dir"),
                r.responder_id,
                r.device_id,
                kind,
                text,
                staging_area_id,
                broadcast_id=broadcast_id,
            )
        )
    return payloads


def broadcast_go_to_staging(state: IncidentState, staging_area_id: str) -> Payloads:
    """ "Go to staging area B, not the school", to everyone not yet checked in (an assigned
    contact team inside the school is not sent away), and each of them counts as directed
    there: not self-dispatched from now on, and warned about if they bypass staging."""
    payloads = broadcast(
        state,
        "go_to_staging",
        go_to_staging_text(state, staging_area_id),
        staging_area_id,
        skip=IDENTIFIED_OR_LATER,
    )
    directed: Payloads = [
        ev.ResponderDirected(p.responder_id, staging_area_id)
        for p in payloads
        if isinstance(p, ev.DirectiveQueued)
    ]
    return [*payloads, *directed]


def stand_down(state: IncidentState) -> Payloads:
    """ "Threat neutralized, do not respond", to everyone."""
    return broadcast(state, "stand_down", STAND_DOWN_TEXT)


# --- check-in, assignment, release -------------------------------------------------------------


def one_line(value: str | None) -> str | None:
    """A typed field as it is stored and sent: trimmed, control and bidi characters made
    visible (``\\x1b``), None when empty. (Length is the decider's: an overlong field is
    refused, never cut.)"""
    text = (value or "").strip()
    return neutralise(text) if text else None


#: The markings in the words a responder reads.
MARKING_TEXT = {"raid_jacket": "raid jacket", "vest": "vest marked POLICE"}
#: The assignment tasks in the words a responder reads.
TASK_TEXT: dict[str, str] = {
    "contact_team": "Contact team",
    "rescue_task_force": "Rescue task force",
    "perimeter_post": "Perimeter post",
    "traffic": "Traffic",
    "reunification": "Reunification",
    "other": "Task",
}


def directive_text(kind: ev.DirectiveKind, details: ev.DirectiveDetails) -> str:
    """An ``identified`` or ``assignment`` directive in one line (TAK's GeoChat, the log):
    ``Assignment: Contact team, Team 2. Where: east wing. Radio: TAC 2. Report to: Sgt. Lee.``"""
    d = details
    if kind == "assignment":
        parts = [f"Assignment: {TASK_TEXT.get(d.task or 'other', 'Task')}, {d.team}."]
    else:
        parts = ["You are identified."]
        parts.append(f"Team: {d.team}." if d.team else "Wait at staging for an assignment.")
    if d.location:
        parts.append(f"Where: {d.location}.")
    parts.append(f"Radio: {d.radio_channel}." if d.radio_channel else "Radio: none given.")
    if d.marking:
        parts.append(f"Wear your {MARKING_TEXT[d.marking]}.")
    if d.report_to:
        parts.append(f"Report to: {d.report_to}.")
    return " ".join(parts)


def _directive(
    state: IncidentState | None,
    responder_id: str,
    kind: ev.DirectiveKind,
    details: ev.DirectiveDetails,
) -> Payloads:
    if state is None:
        return []
    text = directive_text(kind, details)
    did = new_id("dir")
    device = _device_of(state, responder_id)
    return [ev.DirectiveQueued(did, responder_id, device, kind, text, details=details)]


def identify(
    responder_id: str,
    method: ev.IdentificationMethod,
    verifier: str,
    radio_id: str | None = None,
    radio_channel: str | None = None,
    marking: str | None = None,
    *,
    team: str | None = None,
    state: IncidentState | None = None,
) -> Payloads:
    """Mark identified (ICS check-in), and record what staging issued, if anything; with the
    incident's ``state``, also tell the responder's device (an ``identified`` directive: the
    team, the radio channel and the marking to wear).

    ``marking`` takes the dialog's choice: ``raid_jacket`` or ``vest``; ``none`` (or None)
    issues no marking.
    """
    team = one_line(team)
    payloads: Payloads = [ev.ResponderIdentified(responder_id, method, verifier.strip(), team=team)]
    radio_id = one_line(radio_id)
    radio_channel = one_line(radio_channel)
    issued: Marking | None = (
        "raid_jacket" if marking == "raid_jacket" else "vest" if marking == "vest" else None
    )
    if radio_id or radio_channel or issued:
        payloads.append(ev.ResponderEquipmentIssued(responder_id, radio_id, radio_channel, issued))
    if state is not None:
        responder = state.responders.get(responder_id)
        equipment = responder.equipment if responder is not None else None
        channel = radio_channel or (equipment.radio_channel if equipment else None)
        wear = issued or (equipment.marking if equipment else None)
        details = ev.DirectiveDetails(
            team=team,
            radio_channel=channel,
            marking=wear if wear in ("raid_jacket", "vest") else None,  # type: ignore[arg-type]
        )
        payloads += _directive(state, responder_id, "identified", details)
    return payloads


def assign(
    responder_id: str,
    task: ev.AssignmentTask,
    team: str,
    *,
    location: str | None = None,
    radio_channel: str | None = None,
    report_to: str | None = None,
    state: IncidentState | None = None,
) -> Payloads:
    """Assign a task and a team (where, on which channel, reporting to whom); with the
    incident's ``state``, also send the ``assignment`` directive to the responder's device."""
    where, channel, chief = one_line(location), one_line(radio_channel), one_line(report_to)
    team = one_line(team) or ""
    payloads: Payloads = [ev.ResponderAssigned(responder_id, task, team, where, channel, chief)]
    details = ev.DirectiveDetails(
        team=team, radio_channel=channel, task=task, location=where, report_to=chief
    )
    return payloads + _directive(state, responder_id, "assignment", details)


def release(responder_id: str, reason: str | None = None) -> Payloads:
    return [ev.ResponderReleased(responder_id, (reason or "").strip() or None)]


def revise_suspect(description: ev.SuspectDescription) -> Payloads:
    return [ev.SuspectDescriptionRevised(description)]


# --- warnings ----------------------------------------------------------------------------------


def take_command(
    state: IncidentState,
    commander: str,
    command_post: str | None = None,
    lon: float | None = None,
    lat: float | None = None,
    reason: str | None = None,
) -> Payloads:
    """Establish command (nobody holds it yet), or transfer it from whoever holds it now to
    ``commander``; the command post given (name, and a point or none) goes with it."""
    name = commander.strip()
    post = (command_post or "").strip() or None
    if state.commander is None:
        return [ev.CommandEstablished(name, post, lon, lat)]
    why = (reason or "").strip() or None
    return [ev.CommandTransferred(state.commander, name, post, lon, lat, why)]


def acknowledge_warning(warning_id: str, by: str) -> Payloads:
    return [ev.WarningAcknowledged(warning_id, by)]


# --- accountability (PAR) ----------------------------------------------------------------------


def par_roll(state: IncidentState) -> list[str]:
    """Who a PAR started now calls: everyone present (at staging, on scene, identified,
    staged, assigned), in notification order."""
    return [r.responder_id for r in state.responders.values() if r.status in PRESENT]


def start_par(state: IncidentState, par_id: str | None = None) -> Payloads:
    return [ev.ParStarted(par_id or new_id("par"), tuple(par_roll(state)))]


def mark_accounted(par_id: str, responder_id: str) -> Payloads:
    return [ev.ParAccounted(par_id, responder_id)]


def mark_all_accounted(par_id: str, responder_ids: Iterable[str]) -> Payloads:
    """Several at once (a multi-selection), each once."""
    return [ev.ParAccounted(par_id, rid) for rid in dict.fromkeys(responder_ids)]


def end_par(par_id: str) -> Payloads:
    return [ev.ParEnded(par_id)]


# --- areas -------------------------------------------------------------------------------------


def point_geometry(lon: float, lat: float) -> ev.Geometry:
    """A GeoJSON point (WGS84): the centre of a point-with-radius area."""
    return {"type": "Point", "coordinates": [lon, lat]}


def polygon_geometry(vertices: Sequence[tuple[float, float]]) -> ev.Geometry:
    """A GeoJSON polygon from its ``(lon, lat)`` vertices; the ring is closed if it is not."""
    ring = [[float(lon), float(lat)] for lon, lat in vertices]
    if ring and ring[0] != ring[-1]:
        ring.append(list(ring[0]))
    return {"type": "Polygon", "coordinates": [ring]}


def set_staging_area(
    name: str,
    geometry: ev.Geometry,
    radius_m: float | None = None,
    *,
    staging_area_id: str | None = None,
    manager: str | None = None,
    capacity: int | None = None,
) -> Payloads:
    """Create (no id: a new one) or change (move, rename: the same id) a staging area: a
    polygon, or a point (:func:`point_geometry`) with ``radius_m``."""
    return [
        ev.StagingAreaSet(
            staging_area_id or new_id("staging"),
            name.strip(),
            geometry,
            radius_m,
            (manager or "").strip() or None,
            capacity,
        )
    ]


def remove_staging_area(staging_area_id: str) -> Payloads:
    return [ev.StagingAreaRemoved(staging_area_id)]


def set_perimeter(
    kind: ev.PerimeterKind,
    geometry: ev.Geometry,
    radius_m: float | None = None,
    *,
    perimeter_id: str | None = None,
) -> Payloads:
    """Create (no id) or change an inner or outer perimeter."""
    return [ev.PerimeterSet(perimeter_id or new_id(f"{kind}-perimeter"), kind, geometry, radius_m)]


def remove_perimeter(perimeter_id: str) -> Payloads:
    return [ev.PerimeterRemoved(perimeter_id)]
