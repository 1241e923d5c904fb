"""The console's incident-command builders: the payloads each act stores, and that the decider
and the fold accept them as the service would."""

from __future__ import annotations

import pytest

from dispatch_console.app import commands
from dispatch_console.domain import events as ev
from dispatch_console.domain.decide import validate
from dispatch_console.domain.fold import apply
from dispatch_console.domain.geometry import area_problem
from dispatch_console.domain.lifecycle import PRESENT, ResponderStatus, Rule, RuleViolation
from dispatch_console.domain.state import IncidentState, decode_state, encode_state
from tests.ui.factory import Built, build_incident

IC = ev.Actor(ev.ActorKind.CONSOLE_USER, "Lt. Hayes")


@pytest.fixture(scope="module")
def built() -> Built:
    return build_incident(40)


@pytest.fixture
def state(built: Built) -> IncidentState:
    """A private copy of the incident (tests store into it)."""
    return decode_state(encode_state(built.console.incidents[built.incident_id]))


def store(state: IncidentState, payloads: list[ev.Payload], at_us: int = 0) -> IncidentState:
    """Validate and fold ``payloads`` one after the other, as ``IncidentService.execute``
    does (a refusal raises)."""
    at = at_us or state.last_event_at_us + 1
    for payload in payloads:
        validate(state, payload)
        seq = state.last_seq + 1
        event = ev.Event(
            seq, state.incident_id, payload.TYPE, at, at, IC, ev.Source.CONSOLE, payload
        )
        apply(state, event)
    return state


def first_area(state: IncidentState) -> str:
    return next(iter(state.staging_areas))


def with_status(state: IncidentState, *statuses: ResponderStatus) -> list[str]:
    return [rid for rid, r in state.responders.items() if r.status in statuses]


# --- direct and broadcast -------------------------------------------------------------------


def test_direct_queues_a_go_to_staging_directive_per_responder_naming_the_area(
    state: IncidentState,
) -> None:
    area = first_area(state)
    ids = with_status(state, ResponderStatus.EN_ROUTE)[:3]
    payloads = commands.direct(state, [*ids, ids[0]], area)  # a repeated id counts once
    assert len(payloads) == 6
    directed = payloads[0::2]
    queued = payloads[1::2]
    assert [p for p in directed] == [ev.ResponderDirected(rid, area) for rid in ids]
    for rid, q in zip(ids, queued, strict=True):
        assert isinstance(q, ev.DirectiveQueued)
        assert q.responder_id == rid and q.device_id == state.responders[rid].device_id
        assert q.kind == "go_to_staging" and q.staging_area_id == area
        assert q.text == "Go to Staging A (church lot, Elm St). Do not go to the school."
        assert q.broadcast_id is None
    store(state, payloads)
    assert all(state.responders[rid].directed_to == area for rid in ids)
    assert {d.responder_id for d in state.directives.values() if d.kind == "go_to_staging"} == set(
        ids
    )


def test_directive_ids_are_fresh_every_time(state: IncidentState) -> None:
    area = first_area(state)
    ids = list(state.responders)
    ids_seen = [
        p.directive_id
        for _ in range(5)
        for p in commands.direct(state, ids, area)
        if isinstance(p, ev.DirectiveQueued)
    ]
    assert len(ids_seen) == 5 * len(ids) == len(set(ids_seen))
    assert all(i.startswith("dir-") and len(i) == len("dir-") + 12 for i in ids_seen)


def test_a_broadcast_reaches_every_notified_responder_but_the_declined_and_the_released(
    state: IncidentState,
) -> None:
    released = with_status(state, ResponderStatus.IDENTIFIED)[0]
    store(state, commands.release(released, "not needed"))
    declined = set(with_status(state, ResponderStatus.DECLINED))
    still_notified = set(with_status(state, ResponderStatus.NOTIFIED))
    assert declined and still_notified  # the factory's mix has both
    expected = set(state.responders) - declined - {released}

    payloads = commands.stand_down(state)
    sent, *queued = payloads
    assert isinstance(sent, ev.BroadcastSent)
    assert sent.kind == "stand_down"
    assert sent.text == "Threat neutralized. Do not respond. Stand down."
    assert sent.staging_area_id is None
    assert all(isinstance(q, ev.DirectiveQueued) for q in queued)
    recipients = {q.responder_id for q in queued if isinstance(q, ev.DirectiveQueued)}
    assert recipients == expected
    assert still_notified <= recipients  # never answered: still told
    assert len(queued) == len(recipients)
    assert {q.broadcast_id for q in queued if isinstance(q, ev.DirectiveQueued)} == {
        sent.broadcast_id
    }
    assert {q.kind for q in queued if isinstance(q, ev.DirectiveQueued)} == {"stand_down"}
    store(state, payloads)
    assert len(state.broadcasts[sent.broadcast_id].directive_ids) == len(expected)


def test_go_to_staging_broadcast_names_the_area_and_not_the_school(state: IncidentState) -> None:
    area = list(state.staging_areas)[1]
    sent, *rest = commands.broadcast_go_to_staging(state, area)
    assert isinstance(sent, ev.BroadcastSent)
    assert sent.kind == "go_to_staging" and sent.staging_area_id == area
    assert sent.text == "Go to Staging B (bus depot). Do not go to the school."
    queued = [p for p in rest if isinstance(p, ev.DirectiveQueued)]
    directed = [p for p in rest if isinstance(p, ev.ResponderDirected)]
    assert queued and all(q.staging_area_id == area for q in queued)
    # Each recipient is directed there (not self-dispatched; warned if they bypass staging)...
    assert [d.responder_id for d in directed] == [q.responder_id for q in queued]
    assert all(d.staging_area_id == area for d in directed)
    # ...and nobody checked in already is sent away from their post.
    checked_in = {r.responder_id for r in state.responders.values() if r.identified}
    assert checked_in and not checked_in & {q.responder_id for q in queued}
    store(state, [sent, *rest])


def test_two_broadcasts_never_share_an_id(state: IncidentState) -> None:
    first = commands.stand_down(state)[0]
    second = commands.stand_down(state)[0]
    assert isinstance(first, ev.BroadcastSent) and isinstance(second, ev.BroadcastSent)
    assert first.broadcast_id != second.broadcast_id


# --- check-in, assignment, release ----------------------------------------------------------


def test_identify_records_what_staging_issued_only_when_something_was(
    state: IncidentState,
) -> None:
    rid = with_status(state, ResponderStatus.AT_STAGING)[0]
    bare = commands.identify(rid, "known_personally", "  Sgt. Staging ", "", " ", "none")
    assert bare == [ev.ResponderIdentified(rid, "known_personally", "Sgt. Staging")]
    full = commands.identify(
        rid, "credentials_in_person", "Lt. Hayes", "R-14", "TAC 2", "raid_jacket"
    )
    assert full == [
        ev.ResponderIdentified(rid, "credentials_in_person", "Lt. Hayes"),
        ev.ResponderEquipmentIssued(rid, "R-14", "TAC 2", "raid_jacket"),
    ]
    store(state, full)
    r = state.responders[rid]
    assert r.identified and r.identification is not None
    assert r.identification.verifier == "Lt. Hayes"
    assert r.equipment is not None and r.equipment.radio_id == "R-14"
    assert r.equipment.marking == "raid_jacket"
    vest = commands.identify(rid, "known_personally", "X", marking="vest")
    assert vest[1] == ev.ResponderEquipmentIssued(rid, None, None, "vest")


def test_assign_release_and_suspect_payloads_are_stored(state: IncidentState) -> None:
    rid = with_status(state, ResponderStatus.IDENTIFIED)[0]
    assert commands.assign(rid, "contact_team", " Contact 1 ") == [
        ev.ResponderAssigned(rid, "contact_team", "Contact 1")
    ]
    store(state, commands.assign(rid, "contact_team", "Contact 1"))
    assert state.responders[rid].status is ResponderStatus.ASSIGNED
    assert commands.release(rid, "  ") == [ev.ResponderReleased(rid, None)]
    store(state, commands.release(rid, "stand-down"))
    assert state.responders[rid].status is ResponderStatus.RELEASED
    description = ev.SuspectDescription(sex="male", top_color="red", top_type="hoodie")
    store(state, commands.revise_suspect(description))
    assert state.suspect is not None and state.suspect.description == description
    assert state.suspect.rev == 2


def test_assigning_an_unidentified_responder_is_refused_by_the_decider(
    state: IncidentState,
) -> None:
    rid = with_status(state, ResponderStatus.ON_SCENE)[0]
    with pytest.raises(RuleViolation):
        store(state, commands.assign(rid, "traffic", "Team 3"))


def test_acknowledge_warning_carries_who(state: IncidentState) -> None:
    rid = "r000"
    store(state, [ev.WarningRaised("w1", "attire_matches_suspect", rid, "black shirt")])
    payloads = commands.acknowledge_warning("w1", "Lt. Hayes")
    assert payloads == [ev.WarningAcknowledged("w1", "Lt. Hayes")]
    store(state, payloads)
    assert state.warnings["w1"].acknowledged_by == "Lt. Hayes"


# --- PAR ---------------------------------------------------------------------------------------


def test_a_par_calls_everyone_present_and_runs_to_its_end(state: IncidentState) -> None:
    present = [rid for rid, r in state.responders.items() if r.status in PRESENT]
    assert commands.par_roll(state) == present
    started = commands.start_par(state)
    assert len(started) == 1 and isinstance(started[0], ev.ParStarted)
    assert started[0].responder_ids == tuple(present)
    assert started[0].par_id.startswith("par-")
    assert commands.start_par(state, "par-7")[0] == ev.ParStarted("par-7", tuple(present))
    store(state, started)
    par_id = started[0].par_id
    store(state, commands.mark_accounted(par_id, present[0]))
    store(state, commands.mark_all_accounted(par_id, [present[1], present[2], present[1]]))
    assert state.par is not None
    assert set(state.par.accounted) == set(present[:3])
    store(state, commands.end_par(par_id))
    assert state.par is None and state.pars[-1].ended_at_us is not None


# --- areas ------------------------------------------------------------------------------------


def test_staging_area_as_a_point_with_radius_or_a_polygon(state: IncidentState) -> None:
    lon, lat = state.lon + 0.004, state.lat + 0.002
    point = commands.set_staging_area(
        "Staging C (fire station)", commands.point_geometry(lon, lat), 75
    )
    created = point[0]
    assert isinstance(created, ev.StagingAreaSet)
    assert created.staging_area_id.startswith("staging-")
    assert created.geometry == {"type": "Point", "coordinates": [lon, lat]}
    assert created.radius_m == 75
    ring = [(lon, lat), (lon + 0.001, lat), (lon + 0.001, lat + 0.001)]
    polygon = commands.polygon_geometry(ring)
    assert polygon["coordinates"][0][0] == polygon["coordinates"][0][-1]  # closed
    assert area_problem(polygon, None) is None
    moved = commands.set_staging_area(
        "Staging C (fire station, rear lot)",
        polygon,
        staging_area_id=created.staging_area_id,
        manager=" Sgt. Ortiz ",
        capacity=30,
    )[0]
    assert isinstance(moved, ev.StagingAreaSet)
    assert moved.staging_area_id == created.staging_area_id
    assert moved.manager == "Sgt. Ortiz" and moved.capacity == 30 and moved.radius_m is None
    store(state, point)
    store(state, [moved])
    assert state.staging_areas[created.staging_area_id].name.endswith("rear lot)")
    store(state, commands.remove_staging_area(created.staging_area_id))
    assert created.staging_area_id not in state.staging_areas


def test_perimeters_are_created_changed_and_removed(state: IncidentState) -> None:
    payload = commands.set_perimeter("outer", commands.point_geometry(state.lon, state.lat), 600)[0]
    assert isinstance(payload, ev.PerimeterSet)
    assert payload.perimeter_id.startswith("outer-perimeter-") and payload.kind == "outer"
    store(state, [payload])
    assert state.perimeters[payload.perimeter_id].radius_m == 600
    changed = commands.set_perimeter(
        "outer", payload.geometry, 800, perimeter_id=payload.perimeter_id
    )
    store(state, changed)
    assert state.perimeters[payload.perimeter_id].radius_m == 800
    store(state, commands.remove_perimeter(payload.perimeter_id))
    assert payload.perimeter_id not in state.perimeters


def test_directing_a_group_with_a_released_responder_still_directs_the_others(
    state: IncidentState,
) -> None:
    area = next(iter(state.staging_areas))
    released = next(r for r in state.responders.values() if r.status is ResponderStatus.EN_ROUTE)
    store(state, [ev.ResponderReleased(released.responder_id, "went home")])
    others = [
        r.responder_id
        for r in state.responders.values()
        if r.status is ResponderStatus.EN_ROUTE and r.responder_id != released.responder_id
    ][:2]
    payloads = commands.direct(state, [released.responder_id, *others], area)
    directed = [p.responder_id for p in payloads if isinstance(p, ev.ResponderDirected)]
    assert directed == others
    store(state, payloads)  # the decider accepts the lot: nobody's directive is lost


def test_ics211_csv_cells_never_run_as_spreadsheet_formulas() -> None:
    from dispatch_console.app.ics211 import csv_safe

    assert csv_safe('=HYPERLINK("http://x","click")').startswith("'=")
    assert csv_safe("+1 555").startswith("'")
    assert csv_safe("@cmd") == "'@cmd"
    assert csv_safe("Det. M. Ruiz") == "Det. M. Ruiz"


def test_the_assignment_reaches_the_device_and_its_fields_the_state(state: IncidentState) -> None:
    rid = with_status(state, ResponderStatus.IDENTIFIED)[0]
    payloads = commands.assign(
        rid, "rescue_task_force", " RTF 1 ", location="Gym, building C",
        radio_channel="TAC 2", report_to="Sgt. Lee", state=state,
    )  # fmt: skip
    store(state, payloads)
    r = state.responders[rid]
    assert r.assignment is not None and r.assignment.location == "Gym, building C"
    assert r.team == "RTF 1" and r.radio_channel == "TAC 2"
    sent = state.last_directive(rid, "assignment")
    assert sent is not None and sent.device_id == r.device_id
    assert sent.details == ev.DirectiveDetails(
        team="RTF 1", radio_channel="TAC 2", task="rescue_task_force",
        location="Gym, building C", report_to="Sgt. Lee",
    )  # fmt: skip
    assert state.pending_directives(r.device_id)[-1] is sent
    store(state, [ev.DirectiveAcknowledged(sent.directive_id)])
    assert sent.acknowledged_at_us is not None


@pytest.mark.parametrize(
    "details",
    [
        ev.DirectiveDetails(team="T" * (ev.MAX_DETAIL_CHARS + 1)),
        ev.DirectiveDetails(radio_channel="TAC\x1b[2J 2"),
        ev.DirectiveDetails(report_to="Sgt.\u202eeeL"),
        ev.DirectiveDetails(location="line one\nline two"),
    ],
)
def test_an_overlong_or_control_character_detail_is_refused(
    state: IncidentState, details: ev.DirectiveDetails
) -> None:
    rid = with_status(state, ResponderStatus.IDENTIFIED)[0]
    device = state.responders[rid].device_id
    queued = ev.DirectiveQueued("dir-x", rid, device, "assignment", "text", details=details)
    with pytest.raises(RuleViolation) as refused:
        store(state, [queued])
    assert refused.value.rule is Rule.BAD_DETAIL
    assert "dir-x" not in state.directives
    # The console's own builders neutralise control characters (shown as \x1b) and the
    # decider refuses what is too long, never cut silently.
    long = commands.assign(rid, "traffic", "x" * 81, state=state)
    with pytest.raises(RuleViolation, match="BAD_DETAIL"):
        store(state, long)
    safe = commands.assign(rid, "traffic", "Team\x1b 3", state=state)
    assert safe[0] == ev.ResponderAssigned(rid, "traffic", "Team\\x1b 3")
