"""Every event in words: one plain sentence, with names, for the report's timeline and the logs.

:func:`sentence` says what an event means to a reader of the after-action report: who did it,
to whom, where, by name (a responder's callsign or name, a staging area's name, a perimeter's
kind), never a payload's field names, a Python ``repr`` or a tuple of ids. It reads the names
from an incident state (the report passes the incident's final state; any state that knows the
responders will do) and falls back to the ids only for what that state does not know.

Every event type has its sentence (checked below when the module loads, as the fold checks its
handlers), so a new event type cannot reach the report as a raw payload.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from dispatch_console.domain import events as ev
from dispatch_console.domain.state import ActingCommander, IncidentState

#: How the record names someone who acted as incident commander where nobody established it.
ACTING_COMMANDER = "acting incident commander (command not formally established)"


def acting_commander_text(acting: Iterable[ActingCommander], when: Callable[[int], str]) -> str:
    """``Lt. J. Hayes, acting incident commander (command not formally established): first
    acted 09:15:02, last acted 09:40:10`` (``when`` writes an instant), one per person, ``; ``
    between them; ``""`` for nobody."""
    parts = []
    for a in acting:
        span = f"first acted {when(a.first_us)}"
        span += f", last acted {when(a.last_us)}" if a.last_us != a.first_us else " (once)"
        parts.append(f"{a.name}, {ACTING_COMMANDER}: {span}")
    return "; ".join(parts)


#: Names listed in one sentence at most (the rest are counted).
NAMES_LISTED = 6

#: How a warning kind reads in a sentence.
WARNING_WORDS: dict[str, str] = {
    "unidentified_in_inner_perimeter": "unidentified inside the inner perimeter",
    "attire_matches_suspect": "attire matches the suspect",
    "bypassing_staging": "bypassing staging",
    "stale_or_no_radio_in_perimeter": "stale position or no radio inside a perimeter",
    "not_on_roster": "not on any roster",
}
ROSTER_WORDS = {
    "sworn_active": "a sworn, active officer",
    "retired": "a retired officer (LEOSA)",
    "not_on_roster": "on no roster (UNVERIFIED)",
}
METHOD_WORDS = {
    "credentials_in_person": "credentials checked in person",
    "known_personally": "known personally",
    "agency_confirmed_by_phone": "agency confirmed by phone",
    "agency_confirmed_by_radio": "agency confirmed by radio",
}

Names = IncidentState | None
_DOUBLE_STOP = re.compile(r"([.!?])”\.$")
Render = Callable[[Any, ev.Event, Names], str]


def words(code: str) -> str:
    """``active_shooter`` -> ``active shooter``."""
    return code.replace("_", " ")


def responder_name(state: Names, responder_id: str) -> str:
    """The name the console shows for a responder: callsign, name, roster name, else the id."""
    r = state.responders.get(responder_id) if state is not None else None
    if r is None:
        return f"responder {responder_id}"
    return r.callsign or r.name or r.roster_name or f"responder {responder_id}"


def responder_names(state: Names, responder_ids: Iterable[str]) -> str:
    """``VIPER, Ofc. Dan Pruitt and 12 more`` (or ``nobody``)."""
    names = [responder_name(state, rid) for rid in responder_ids]
    if not names:
        return "nobody"
    if len(names) > NAMES_LISTED:
        return ", ".join(names[:NAMES_LISTED]) + f" and {len(names) - NAMES_LISTED} more"
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def area_name(state: Names, staging_area_id: str | None) -> str:
    if staging_area_id is None:
        return "staging"
    area = state.staging_areas.get(staging_area_id) if state is not None else None
    return area.name if area is not None else f"staging area {staging_area_id}"


def perimeter_name(state: Names, perimeter_id: str, kind: str | None = None) -> str:
    if kind is None and state is not None:
        known = state.perimeters.get(perimeter_id)
        kind = known.kind if known is not None else None
    return f"the {kind} perimeter" if kind else f"perimeter {perimeter_id}"


def _warning(state: Names, warning_id: str) -> str:
    w = state.warnings.get(warning_id) if state is not None else None
    if w is None:
        return f"warning {warning_id}"
    return f"the warning “{WARNING_WORDS.get(w.kind, words(w.kind))}” on " + responder_name(
        state, w.responder_id
    )


def _directive(state: Names, directive_id: str) -> str:
    d = state.directives.get(directive_id) if state is not None else None
    if d is None:
        return f"directive {directive_id}"
    return f"the {words(d.kind)} directive to {responder_name(state, d.responder_id)}"


def _actor(event: ev.Event) -> str:
    actor = event.actor
    if actor.kind is ev.ActorKind.SYSTEM:
        return "The console"
    if actor.kind is ev.ActorKind.DEVICE:
        school = actor.name.removeprefix("school:")
        if school != actor.name:
            return f"The school's alert system ({school})"
        return f"Device {actor.name}"
    return actor.name


def _by_administrator(event: ev.Event) -> str:
    """`` by cli:<user>`` when the command line did it (administration), else nothing."""
    actor = event.actor
    if actor.kind is ev.ActorKind.SYSTEM and actor.name.startswith("cli:"):
        return f" by {actor.name}"
    return ""


def _first(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def _radius(radius_m: float | None) -> str:
    return f" ({radius_m:.0f} m radius)" if radius_m else ""


def _opened(p: ev.IncidentOpened, e: ev.Event, s: Names) -> str:
    drill = " as an EXERCISE" if p.exercise else ""
    kind = words(p.incident_type)
    article = "an" if kind[:1] in "aeiou" else "a"
    return f"{_actor(e)} opened {article} {kind} incident at {p.school_name}{drill}."


def _alert(p: ev.AlertReceived, e: ev.Event, s: Names) -> str:
    who = p.activated_by_name or "someone unnamed"
    if p.activated_by_role:
        who += f" ({p.activated_by_role})"
    where = f" — {p.location_detail}" if p.location_detail else ""
    said = f": “{p.message}”" if p.message else ""
    return f"{words(p.alert_type).upper()} alert activated by {who}{where}{said}."


def _alert_revised(p: ev.AlertRevised, e: ev.Event, s: Names) -> str:
    changes = []
    if p.location_detail is not None:
        changes.append(f"location now {p.location_detail}")
    if p.message is not None:
        changes.append(f"message now “{p.message}”")
    what = "; ".join(changes) if changes else "no field changed"
    return f"{_actor(e)} revised the alert: {what}."


def _imported(p: ev.IncidentImported, e: ev.Event, s: Names) -> str:
    if p.trusted:
        by = p.signer or p.signer_key_id or "a trusted key"
        return (
            f"{_actor(e)} imported this incident ({p.events} events) from {p.file}, signed by {by}."
        )
    why = f": {p.why_untrusted}" if p.why_untrusted else ""
    return (
        f"{_actor(e)} imported this incident ({p.events} events) from {p.file} as UNTRUSTED{why}."
    )


_AUDIT_WORDS = {
    "enrolled": "was enrolled as a console user",
    "signed_in": "signed in",
    "signed_out": "signed out",
    "sign_in_failed": "failed to sign in",
    "locked_out": "was locked out after repeated failed sign-ins",
    "unlocked": "was unlocked",
    "role_changed": "had their role changed",
    "session_locked": "had their idle session locked",
    "session_unlocked": "unlocked their session",
    "unlock_failed": "failed to unlock their session",
}


def _gate_held(p: ev.AlertGateHeld, e: ev.Event, s: Names) -> str:
    n = len(p.device_ids)
    who = f"{n} off-duty or retired officer{'s' if n != 1 else ''} of {p.agency}"
    if p.release_at_us is None:
        when = "until a dispatcher releases it"
    else:
        after_s = (p.release_at_us - e.occurred_at_us) // 1_000_000
        when = f"for a dispatcher's release, automatic after {after_s} s"
    return f"The alert to {who} was held {when} (the agency's dispatcher gate)."


def _user_audit(p: ev.ConsoleUserAudit, e: ev.Event, s: Names) -> str:
    what = _AUDIT_WORDS.get(p.action, words(p.action))
    role = f" (role: {p.role})" if p.role else ""
    detail = f" — {p.detail}" if p.detail else ""
    return f"Console user {p.name} {what}{role}{_by_administrator(e)}{detail}."


_ACCESS_VERBS = {
    "added": "made",
    "revoked": "revoked",
    "registered": "registered",
    "removed": "removed",
    "enrolled": "issued",
}


def _access(p: ev.AccessChanged, e: ev.Event, s: Names) -> str:
    """Who may speak to the gateway: a key, a device, a device's client certificate."""
    verb = _ACCESS_VERBS.get(p.action, words(p.action))
    detail = f" — {p.detail}" if p.detail else ""
    if p.what == "key":
        kind = f"{p.detail} " if p.detail and p.action == "added" else ""
        scope = f" for {p.scope}" if p.scope else ""
        return f"{_actor(e)} {verb} the {kind}API key {p.subject}{scope}."
    if p.what == "certificate":
        to = f" to device {p.scope}" if p.scope else ""
        return f"{_actor(e)} {verb} a client certificate ({p.subject}){to}{detail}."
    if p.what == "user":
        return f"{_actor(e)} {verb} console user {p.subject}{detail}."
    if p.what == "gateway":
        verb = "created" if p.action == "added" else verb
        by = _by_administrator(e) or f" by {_actor(e)}"
        return f"Gateway login role {p.subject} {verb}{by}{detail}."
    return f"{_actor(e)} {verb} device {p.subject}{detail}."


def _command_established(p: ev.CommandEstablished, e: ev.Event, s: Names) -> str:
    post = f", command post {p.command_post}" if p.command_post else ""
    if p.assumed:
        return f"{p.commander} assumed incident command by acting as incident commander{post}."
    by = "" if e.actor.name == p.commander else f" (entered by {_actor(e)})"
    return f"{p.commander} established incident command{post}{by}."


def _command_transferred(p: ev.CommandTransferred, e: ev.Event, s: Names) -> str:
    post = f"; command post {p.command_post}" if p.command_post else ""
    why = f" ({p.reason})" if p.reason else ""
    return f"Incident command passed from {p.from_commander} to {p.to_commander}{why}{post}."


def _status(p: ev.IncidentStatusChanged, e: ev.Event, s: Names) -> str:
    why = f": {p.reason}" if p.reason else ""
    if p.status == "active":
        return f"{_actor(e)} set the incident active again{why}."
    return f"{_actor(e)} declared the incident {words(p.status).upper()}{why}."


def _profile(p: ev.ResponderProfileReported, e: ev.Event, s: Names) -> str:
    parts = [
        p.name and f"name {p.name}",
        p.callsign and f"callsign {p.callsign}",
        p.agency,
        p.badge and f"badge {p.badge}",
        p.duty and f"{p.duty} duty",
        p.attire and p.attire.describe(),
        p.has_radio is not None and ("has a radio" if p.has_radio else "no radio"),
    ]
    said = ", ".join(str(x) for x in parts if x) or "nothing new"
    return f"{responder_name(s, p.responder_id)} reported: {said}."


def _roster(p: ev.ResponderRosterChecked, e: ev.Event, s: Names) -> str:
    verdict = ROSTER_WORDS.get(p.verdict, words(p.verdict))
    as_ = f" as {p.roster_name}" if p.roster_name else ""
    why = f" ({p.reason})" if p.reason else ""
    return f"Roster check: {responder_name(s, p.responder_id)} is {verdict}{as_}{why}."


def _position(p: ev.ResponderPosition, e: ev.Event, s: Names) -> str:
    accuracy = f" (±{p.accuracy_m:.0f} m)" if p.accuracy_m is not None else ""
    return f"{responder_name(s, p.responder_id)} was at {p.lat:.5f}, {p.lon:.5f}{accuracy}."


def _arrived(p: ev.ResponderArrived, e: ev.Event, s: Names) -> str:
    where = area_name(s, p.staging_area_id) if p.place == "staging" else "the scene"
    return f"{responder_name(s, p.responder_id)} arrived at {where}."


def _identified(p: ev.ResponderIdentified, e: ev.Event, s: Names) -> str:
    how = METHOD_WORDS.get(p.method, words(p.method))
    team = f", team {p.team}" if p.team else ""
    return f"{p.verifier} identified {responder_name(s, p.responder_id)} ({how}): checked in{team}."


def _equipment(p: ev.ResponderEquipmentIssued, e: ev.Event, s: Names) -> str:
    items = [
        p.radio_id and f"radio {p.radio_id}",
        p.radio_channel and f"channel {p.radio_channel}",
        p.marking and ("a raid jacket" if p.marking == "raid_jacket" else "a marked vest"),
    ]
    given = ", ".join(x for x in items if x) or "nothing recorded"
    return f"{responder_name(s, p.responder_id)} was issued {given}."


def _assigned(p: ev.ResponderAssigned, e: ev.Event, s: Names) -> str:
    extra = "".join(
        f", {label} {value}"
        for label, value in (
            ("at", p.location),
            ("radio channel", p.radio_channel),
            ("reporting to", p.report_to),
        )
        if value
    )
    return (
        f"{_actor(e)} assigned {responder_name(s, p.responder_id)} to {words(p.task)}, "
        f"team {p.team}{extra}."
    )


def _released(p: ev.ResponderReleased, e: ev.Event, s: Names) -> str:
    why = f" ({p.reason})" if p.reason else ""
    return f"{_actor(e)} released {responder_name(s, p.responder_id)}{why}."


def _queued(p: ev.DirectiveQueued, e: ev.Event, s: Names) -> str:
    return f"Directive to {responder_name(s, p.responder_id)} ({words(p.kind)}): “{p.text}”."


def _broadcast(p: ev.BroadcastSent, e: ev.Event, s: Names) -> str:
    b = s.broadcasts.get(p.broadcast_id) if s is not None else None
    reached = f" to {len(b.directive_ids)} responders" if b is not None and b.directive_ids else ""
    return f"{_actor(e)} broadcast {words(p.kind)}{reached}: “{p.text}”."


def _warning_raised(p: ev.WarningRaised, e: ev.Event, s: Names) -> str:
    kind = WARNING_WORDS.get(p.kind, words(p.kind)).upper()
    matched = f" (matching {', '.join(words(f) for f in p.matched_fields)})"
    detail = f": {p.detail}" if p.detail else ""
    return (
        f"WARNING — {kind} — {responder_name(s, p.responder_id)}"
        f"{matched if p.matched_fields else ''}{detail}."
    )


def _par_started(p: ev.ParStarted, e: ev.Event, s: Names) -> str:
    n = len(p.responder_ids)
    return (
        f"{_actor(e)} started a PAR roll call of {n} "
        f"{'responder' if n == 1 else 'responders'}: {responder_names(s, p.responder_ids)}."
    )


def _par_accounted(p: ev.ParAccounted, e: ev.Event, s: Names) -> str:
    name = responder_name(s, p.responder_id)
    if p.accounted:
        return f"PAR: {name} accounted for (marked by {_actor(e)})."
    return f"PAR: {name} marked unaccounted again by {_actor(e)}."


def _par_ended(p: ev.ParEnded, e: ev.Event, s: Names) -> str:
    par = next((x for x in reversed(s.pars) if x.par_id == p.par_id), None) if s else None
    if par is None:
        return f"{_actor(e)} ended the PAR roll call."
    missing = par.unaccounted
    tail = (
        f"; not accounted for: {responder_names(s, missing)}" if missing else "; all accounted for"
    )
    return f"{_actor(e)} ended the PAR roll call: {len(par.accounted)} of " + (
        f"{len(par.responder_ids)} accounted for{tail}."
    )


def _notified(p: ev.ResponderNotified, e: ev.Event, s: Names) -> str:
    how = {
        "console": "by the console",
        "school": "by the school's alert",
        "unregistered": "as an unregistered device",
        "unsolicited": "unsolicited (joined on its own)",
    }.get(p.notified_by, words(p.notified_by))
    return f"{responder_name(s, p.responder_id)} was notified {how} (device {p.device_id})."


SENTENCES: dict[str, Render] = {
    ev.SchoolsImported.TYPE: lambda p, e, s: (
        f"{_actor(e)} imported {p.imported} schools from {p.file} "
        f"({p.rejected} rejected, {p.skipped} skipped)."
    ),
    ev.RosterImported.TYPE: lambda p, e, s: (
        f"{_actor(e)} imported {p.imported} roster entries from {p.file} ({p.rejected} rejected)."
    ),
    ev.RoadsImported.TYPE: lambda p, e, s: (
        f"{_actor(e)} imported {p.imported} road segments from {p.file} "
        f"({p.rejected} rejected, {p.skipped} skipped)."
    ),
    ev.IncidentImported.TYPE: _imported,
    ev.AgencyRulesApplied.TYPE: lambda p, e, s: (
        f"{p.agency}'s response rules (version {p.version}) decided who of its officers was "
        "alerted and what they were told."
    ),
    ev.AlertGateHeld.TYPE: _gate_held,
    ev.AlertGateReleased.TYPE: lambda p, e, s: (
        f"The alert to {p.agency}'s off-duty and retired officers was released "
        + (
            "automatically, nobody having released it in time."
            if p.automatic
            else f"by {_actor(e)}."
        )
    ),
    ev.ConsoleUserAudit.TYPE: _user_audit,
    ev.AccessChanged.TYPE: _access,
    ev.IncidentOpened.TYPE: _opened,
    ev.AlertReceived.TYPE: _alert,
    ev.AlertRevised.TYPE: _alert_revised,
    ev.AlertAcknowledged.TYPE: lambda p, e, s: f"{p.by} acknowledged the alert.",
    ev.IncidentCommanderAssigned.TYPE: lambda p, e, s: f"{p.name} took incident command.",
    ev.CommandEstablished.TYPE: _command_established,
    ev.CommandTransferred.TYPE: _command_transferred,
    ev.IncidentStatusChanged.TYPE: _status,
    ev.SuspectDescriptionRevised.TYPE: lambda p, e, s: (
        f"{_actor(e)} revised the suspect description: {p.description.describe()}."
    ),
    ev.StagingAreaSet.TYPE: lambda p, e, s: (
        f"{_actor(e)} set staging area {p.name}{_radius(p.radius_m)}"
        + (f", manager {p.manager}" if p.manager else "")
        + (f", room for {p.capacity}" if p.capacity else "")
        + "."
    ),
    ev.StagingAreaRemoved.TYPE: lambda p, e, s: (
        f"{_actor(e)} removed {area_name(s, p.staging_area_id)}."
    ),
    ev.PerimeterSet.TYPE: lambda p, e, s: (
        f"{_actor(e)} set {perimeter_name(s, p.perimeter_id, p.kind)}{_radius(p.radius_m)}."
    ),
    ev.PerimeterRemoved.TYPE: lambda p, e, s: (
        f"{_actor(e)} removed {perimeter_name(s, p.perimeter_id)}."
    ),
    ev.CheckInPointSet.TYPE: lambda p, e, s: f"{_actor(e)} set the check-in point at {p.name}.",
    ev.ResponderNotified.TYPE: _notified,
    ev.ResponderProfileReported.TYPE: _profile,
    ev.ResponderRosterChecked.TYPE: _roster,
    ev.ResponderAcknowledged.TYPE: lambda p, e, s: (
        f"{responder_name(s, p.responder_id)} "
        + ("acknowledged: responding." if p.responding else "declined the alert.")
    ),
    ev.ResponderPosition.TYPE: _position,
    ev.ResponderEnRoute.TYPE: lambda p, e, s: f"{responder_name(s, p.responder_id)} is en route.",
    ev.ResponderArrived.TYPE: _arrived,
    ev.ResponderDirected.TYPE: lambda p, e, s: (
        f"{_actor(e)} directed {responder_name(s, p.responder_id)} to "
        f"{area_name(s, p.staging_area_id)}."
    ),
    ev.ResponderIdentified.TYPE: _identified,
    ev.ResponderEquipmentIssued.TYPE: _equipment,
    ev.ResponderStaged.TYPE: lambda p, e, s: (
        f"{responder_name(s, p.responder_id)} is staged"
        + (f" at {area_name(s, p.staging_area_id)}" if p.staging_area_id else "")
        + ", ready for a task."
    ),
    ev.ResponderAssigned.TYPE: _assigned,
    ev.ResponderReleased.TYPE: _released,
    ev.DirectiveQueued.TYPE: _queued,
    ev.DirectiveDelivered.TYPE: lambda p, e, s: (
        f"{_first(_directive(s, p.directive_id))} was delivered ({p.via.upper()})."
    ),
    ev.DirectiveAcknowledged.TYPE: lambda p, e, s: (
        f"{_first(_directive(s, p.directive_id))} was acknowledged."
    ),
    ev.BroadcastSent.TYPE: _broadcast,
    ev.PerimeterEntered.TYPE: lambda p, e, s: (
        f"{responder_name(s, p.responder_id)} entered {perimeter_name(s, p.perimeter_id, p.kind)}."
    ),
    ev.PerimeterExited.TYPE: lambda p, e, s: (
        f"{responder_name(s, p.responder_id)} left {perimeter_name(s, p.perimeter_id, p.kind)}."
    ),
    ev.WarningRaised.TYPE: _warning_raised,
    ev.WarningAcknowledged.TYPE: lambda p, e, s: (
        f"{p.by} acknowledged {_warning(s, p.warning_id)}."
    ),
    ev.WarningEnded.TYPE: lambda p, e, s: (
        f"{_first(_warning(s, p.warning_id))} ended" + (f": {p.reason}." if p.reason else ".")
    ),
    ev.ParStarted.TYPE: _par_started,
    ev.ParAccounted.TYPE: _par_accounted,
    ev.ParEnded.TYPE: _par_ended,
}
_missing = set(ev.PAYLOAD_TYPES) - set(SENTENCES)
assert not _missing, f"event types without a sentence: {_missing}"


def sentence(event: ev.Event, state: IncidentState | None = None) -> str:
    """What ``event`` means, in one sentence with names (see the module's doc)."""
    render = SENTENCES.get(event.type)
    if render is None:  # a type this version does not know: say so, never dump the payload
        return f"{_actor(event)} recorded a {words(event.type)} event."
    text = _first(render(event.payload, event, state))
    # A quotation that ends its own sentence takes no second full stop: “Stand down.” not “…”.
    return _DOUBLE_STOP.sub(r"\1”", text)
