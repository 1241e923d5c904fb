"""Derived facts brought up to date: geofences, arrival by geofence, warnings' start and end.

:func:`derive` compares what positions and rules say now with what the events have recorded
so far, and returns the events that close the gap, in this order:

1. ``PerimeterExited`` / ``PerimeterEntered``: the perimeters each responder's last known
   position is in (a stale position keeps its membership: going silent is not leaving).
2. ``ResponderArrived`` by geofence, for a responder who has not arrived yet (notified,
   acknowledged, declined or en route: a device inside the area has arrived, whatever its
   owner answered) whose position is
   - inside a staging area: arrived at staging (the area they were directed to if they are
     in it, else the first by id). A responder who reported "on scene" while standing in a
     staging area is at staging too;
   - else inside an inner perimeter (the school and its grounds, where the IC counts people
     "on scene"), or, when the incident has no inner perimeter, within
     :data:`SCENE_RADIUS_M` of the school: arrived on scene. The outer perimeter is the
     cordon, not the scene.
   Leaving an area never un-arrives anybody: status only moves forward.
3. ``WarningEnded`` for each active warning whose finding is gone, with the reason
   ("identified", "left the inner perimeter", "released", ...).
4. ``WarningRaised`` for each finding (:func:`dispatch_console.domain.warnings.evaluate`,
   judged as if the arrivals above had happened) with no active warning of the same
   ``(kind, responder)``; the id is ``f"{kind}:{responder_id}:{n}"``, ``n`` counting that
   responder's warnings of that kind from 1.

Applying the result and deriving again at the same instant returns ``[]``. On a closed
incident (all clear, cancelled) only the ends of the warnings still active are derived.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Collection

import msgspec

from dispatch_console.domain import events as ev
from dispatch_console.domain.fold import HANDLERS
from dispatch_console.domain.lifecycle import IDENTIFIED_OR_LATER, RESPONDING
from dispatch_console.domain.lifecycle import ResponderStatus as S
from dispatch_console.domain.state import IncidentState, IncidentWarning, Responder
from dispatch_console.domain.warnings import (
    NO_RADIO,
    NO_VISIBLE_ID,
    NOT_IDENTIFIED,
    STALE,
    GeofenceIndex,
    Survey,
    has_no_radio,
    scan,
    survey,
    torso_marked,
    visible_police_id,
)

#: With no inner perimeter, a responder this close to the school's point (metres) is on scene.
SCENE_RADIUS_M = 100.0
#: Statuses of a responder who has not arrived yet.
NOT_ARRIVED = frozenset({S.NOTIFIED, S.ACKNOWLEDGED, S.DECLINED, S.EN_ROUTE})
MONITOR = ev.Actor(ev.ActorKind.SYSTEM, "monitor")


def derive(
    state: IncidentState,
    now_us: int,
    index: GeofenceIndex | None = None,
    *,
    only: Collection[str] | None = None,
) -> list[ev.Payload]:
    """The events that bring geofences, arrivals and warnings up to date at ``now_us``.

    ``index``: a prebuilt :class:`~dispatch_console.domain.warnings.GeofenceIndex` of the
    state's areas (default: the cached one). ``only``: the responders to look at, when the
    caller knows nothing else changed since everything was derived last (no area, suspect
    description or status of the incident, and no other responder, whose position did not
    go stale meanwhile either: see ``service.monitor``): the result is then what the whole
    derivation would return, for a cost in proportion to ``only``, not to the incident."""
    if not state.opened:
        return []
    if state.closed:
        reason = f"incident {state.status.replace('_', ' ')}"
        return [ev.WarningEnded(w.warning_id, reason) for w in state.active_warnings()]
    members = None if only is None else in_state_order(state, only)
    where = survey(state, index, members)
    geofence = _geofence(state, where, members)
    arrivals = _arrivals(state, where, members)
    view = _after(state, arrivals, now_us)
    if members is not None and arrivals:
        members = {rid: view.responders[rid] for rid in members}
    return [*geofence, *arrivals, *_warnings(view, where, now_us, members)]


def in_state_order(state: IncidentState, only: Collection[str]) -> dict[str, Responder]:
    """The responders of ``only`` that the state knows, in the state's order (the order the
    whole derivation reports them in), without walking every responder when they are few."""
    responders = state.responders
    if len(only) * 4 >= len(responders):
        return {rid: r for rid, r in responders.items() if rid in only}
    ranks = _ranks(state)
    known = [rid for rid in only if rid in responders]
    known.sort(key=ranks.__getitem__)
    return {rid: responders[rid] for rid in known}


#: incident id -> (its responders dict, how many were ranked, responder id -> rank). Responders
#: are only ever added to a state (never removed), so ranks are extended, not rebuilt.
_RANKS: dict[str, tuple[dict[str, Responder], int, dict[str, int]]] = {}


def _ranks(state: IncidentState) -> dict[str, int]:
    responders = state.responders
    cached = _RANKS.get(state.incident_id)
    if cached is None or cached[0] is not responders or cached[1] > len(responders):
        if len(_RANKS) >= 32:
            _RANKS.pop(next(iter(_RANKS)))
        cached = (responders, 0, {})
    ranks = cached[2]
    if cached[1] < len(responders):
        for n, rid in enumerate(itertools.islice(responders, cached[1], None), cached[1]):
            ranks[rid] = n
    _RANKS[state.incident_id] = (responders, len(responders), ranks)
    return ranks


def _geofence(
    state: IncidentState, where: Survey, members: dict[str, Responder] | None = None
) -> list[ev.Payload]:
    out: list[ev.Payload] = []
    perimeters = state.perimeters
    inside = where.inside
    for rid, r in (state.responders if members is None else members).items():
        recorded = r.inside_perimeters
        if r.position is None:
            continue  # nothing known of where they are: like a stale position, keep membership
        place = inside.get(rid)
        if not recorded and (place is None or not place.perimeters):
            continue
        now_in = place.perimeters if place is not None else ()
        if tuple(recorded) == now_in or (
            len(recorded) == len(now_in) and set(recorded) == set(now_in)
        ):
            continue
        for pid in recorded:
            if pid not in now_in and pid in perimeters:
                out.append(ev.PerimeterExited(rid, pid, perimeters[pid].kind))
        for pid in now_in:
            if pid not in recorded:
                out.append(ev.PerimeterEntered(rid, pid, perimeters[pid].kind))
    return out


def _arrivals(
    state: IncidentState, where: Survey, members: dict[str, Responder] | None = None
) -> list[ev.Payload]:
    out: list[ev.Payload] = []
    index = where.index
    near_school: set[str] = set()
    if index.inner is None:  # the scene is around the school's point
        x0, y0 = index.to_plane(state.lon, state.lat)
        near_school = set(where.within(x0, y0, SCENE_RADIUS_M))
    inside = where.inside
    # In the state's order: the same in every process.
    for rid, r in (state.responders if members is None else members).items():
        if r.status not in NOT_ARRIVED and r.status is not S.ON_SCENE:
            continue
        if rid not in inside and rid not in near_school:
            continue
        place = where.place(rid)
        if place.staging:
            area = r.directed_to if r.directed_to in place.staging else min(place.staging)
            out.append(ev.ResponderArrived(rid, "staging", area))
        elif r.status in NOT_ARRIVED and (place.inner or rid in near_school):
            out.append(ev.ResponderArrived(rid, "scene"))
    return out


def _after(state: IncidentState, arrivals: list[ev.Payload], now_us: int) -> IncidentState:
    """``state`` as the arrivals leave it, without touching it: the arriving responders are
    copied, the others shared."""
    if not arrivals:
        return state
    view = msgspec.structs.replace(state, responders=dict(state.responders))
    for payload in arrivals:
        assert isinstance(payload, ev.ResponderArrived)
        rid = payload.responder_id
        view.responders[rid] = msgspec.structs.replace(view.responders[rid])
        event = ev.Event(
            0, state.incident_id, payload.TYPE, now_us, now_us, MONITOR, ev.Source.FEED, payload
        )
        HANDLERS[payload.TYPE](view, event)
    return view


def _warnings(
    state: IncidentState,
    where: Survey,
    now_us: int,
    members: dict[str, Responder] | None = None,
) -> list[ev.Payload]:
    active = {
        (w.kind, w.responder_id): w
        for w in state.warnings.values()
        if w.ended_at_us is None and (members is None or w.responder_id in members)
    }
    found = scan(state, now_us, where, known=active, members=members)
    still = set(found.still)
    gone = [w for key, w in active.items() if key not in still]
    gone.sort(key=lambda w: (w.priority, w.raised_at_us, w.warning_id))
    out: list[ev.Payload] = [
        ev.WarningEnded(w.warning_id, end_reason(state, w, where, now_us)) for w in gone
    ]
    if not found.findings:
        return out
    raised: Counter[tuple[str, str]] = Counter(
        (w.kind, w.responder_id) for w in state.warnings.values()
    )
    for f in found.findings:
        n = raised[f.key] + 1
        while f"{f.kind}:{f.responder_id}:{n}" in state.warnings:
            n += 1
        out.append(
            ev.WarningRaised(
                f"{f.kind}:{f.responder_id}:{n}", f.kind, f.responder_id, f.detail, f.matched_fields
            )
        )
    return out


def end_reason(state: IncidentState, w: IncidentWarning, where: Survey, now_us: int) -> str:
    """Why an active warning's finding no longer holds, in a few words."""
    r = state.responders.get(w.responder_id)
    if r is None:
        return "responder unknown"
    if r.status is S.RELEASED:
        return "released"
    if r.status not in RESPONDING:
        return f"no longer responding ({r.status.label})"
    reason = _REASONS[w.kind](state, r, w, where, now_us)
    return reason or "no longer applies"


def _unidentified_ended(
    state: IncidentState, r: Responder, w: IncidentWarning, where: Survey, now_us: int
) -> str:
    if where.index.inner is None:
        return "inner perimeter removed"
    if not where.area_ids(r.responder_id, "inner"):
        return "left the inner perimeter"
    parts = []
    if NOT_IDENTIFIED in w.detail and r.identification is not None:
        parts.append("identified")
    marking = visible_police_id(r)
    if NO_VISIBLE_ID in w.detail and (marking is not None or not r.plainclothes):
        parts.append(f"visible police ID ({(marking or 'uniform').replace('_', ' ')})")
    return " and ".join(parts)


def _attire_ended(
    state: IncidentState, r: Responder, w: IncidentWarning, where: Survey, now_us: int
) -> str:
    if not r.plainclothes:
        return "in uniform"
    if torso_marked(r):
        return f"marked: {(visible_police_id(r) or '').replace('_', ' ')}"
    suspect = state.suspect
    if suspect is None:
        return "no suspect description"
    if suspect.revised_at_us >= w.raised_at_us:
        return f"suspect description revised (rev {suspect.rev})"
    return "attire changed"


def _bypassing_ended(
    state: IncidentState, r: Responder, w: IncidentWarning, where: Survey, now_us: int
) -> str:
    if r.status is S.AT_STAGING:
        return "arrived at staging"
    if r.status in IDENTIFIED_OR_LATER:
        return "identified"
    if r.directed_to is None:
        return "no longer directed to staging"
    if where.index.inner is None:
        return "inner perimeter removed"
    return "no longer heading into the inner perimeter"


def _stale_or_radio_ended(
    state: IncidentState, r: Responder, w: IncidentWarning, where: Survey, now_us: int
) -> str:
    if not where.perimeters(r.responder_id):
        return "left the perimeter"
    parts = []
    if STALE in w.detail and r.position is not None and not r.position.is_stale(now_us):
        parts.append("position current")
    if NO_RADIO in w.detail and not has_no_radio(r):
        issued = r.equipment is not None and r.equipment.radio_id is not None
        parts.append("radio issued" if issued else "has a radio")
    return " and ".join(parts)


def _roster_ended(
    state: IncidentState, r: Responder, w: IncidentWarning, where: Survey, now_us: int
) -> str:
    verdict = (r.roster_verdict or "not checked").replace("_", " ")
    return f"roster: {verdict}"


_REASONS = {
    "unidentified_in_inner_perimeter": _unidentified_ended,
    "attire_matches_suspect": _attire_ended,
    "bypassing_staging": _bypassing_ended,
    "stale_or_no_radio_in_perimeter": _stale_or_radio_ended,
    "not_on_roster": _roster_ended,
}
assert set(_REASONS) == set(ev.WARNING_KINDS)
