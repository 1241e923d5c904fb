from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from dispatch_console.domain import events as ev
from dispatch_console.domain.decide import validate
from dispatch_console.domain.lifecycle import (
    TRANSITIONS,
    ResponderStatus,
    Rule,
    RuleViolation,
    check_transition,
)
from tests.builders import Recorder

S = ResponderStatus


def _at(status: S) -> Recorder:
    """An incident with responder r1 brought to ``status`` by the shortest legal path."""
    rec = Recorder().opened().notified("r1")
    path = {
        S.NOTIFIED: [],
        S.ACKNOWLEDGED: [ev.ResponderAcknowledged("r1", True)],
        S.DECLINED: [ev.ResponderAcknowledged("r1", False)],
        S.EN_ROUTE: [ev.ResponderEnRoute("r1")],
        S.AT_STAGING: [ev.ResponderArrived("r1", "staging", "staging-a")],
        S.ON_SCENE: [ev.ResponderArrived("r1", "scene")],
        S.IDENTIFIED: [
            ev.ResponderArrived("r1", "scene"),
            ev.ResponderIdentified("r1", "credentials_in_person", "Sgt. Brooks"),
        ],
        S.STAGED: [
            ev.ResponderArrived("r1", "staging", "staging-a"),
            ev.ResponderIdentified("r1", "known_personally", "Sgt. Brooks"),
            ev.ResponderStaged("r1", "staging-a"),
        ],
        S.ASSIGNED: [
            ev.ResponderArrived("r1", "scene"),
            ev.ResponderIdentified("r1", "known_personally", "Sgt. Brooks"),
            ev.ResponderAssigned("r1", "contact_team", "Team 1"),
        ],
        S.RELEASED: [ev.ResponderReleased("r1")],
    }[status]
    for i, payload in enumerate(path):
        validate(rec.state(), payload)
        rec.add(payload, at_s=10 + i)
    assert rec.state().responders["r1"].status is status
    return rec


def test_every_status_is_reachable_through_the_decider() -> None:
    for status in S:
        _at(status)


@pytest.mark.parametrize("status", [s for s in S if s not in (S.IDENTIFIED, S.STAGED, S.ASSIGNED)])
def test_assigning_an_unidentified_responder_is_refused_naming_the_rule(status: S) -> None:
    state = _at(status).state()
    with pytest.raises(RuleViolation) as refused:
        validate(state, ev.ResponderAssigned("r1", "contact_team", "Team 1"))
    expected = Rule.RELEASED_IS_FINAL if status is S.RELEASED else Rule.ASSIGN_REQUIRES_IDENTIFIED
    assert refused.value.rule is expected
    assert expected.name in str(refused.value)


@pytest.mark.parametrize("status", [S.NOTIFIED, S.ACKNOWLEDGED, S.DECLINED, S.EN_ROUTE])
def test_identification_needs_the_responder_present(status: S) -> None:
    with pytest.raises(RuleViolation) as refused:
        validate(_at(status).state(), ev.ResponderIdentified("r1", "known_personally", "Sgt. B"))
    assert refused.value.rule is Rule.IDENTIFY_REQUIRES_PRESENCE


def test_identification_needs_a_verifier() -> None:
    with pytest.raises(RuleViolation) as refused:
        validate(_at(S.ON_SCENE).state(), ev.ResponderIdentified("r1", "known_personally", "  "))
    assert refused.value.rule is Rule.VERIFIER_REQUIRED


def test_staging_an_unidentified_responder_is_refused() -> None:
    with pytest.raises(RuleViolation) as refused:
        validate(_at(S.AT_STAGING).state(), ev.ResponderStaged("r1", "staging-a"))
    assert refused.value.rule is Rule.STAGE_REQUIRES_IDENTIFIED


def test_released_is_final() -> None:
    for payload in (
        ev.ResponderEnRoute("r1"),
        ev.ResponderArrived("r1", "scene"),
        ev.ResponderDirected("r1", "staging-a"),
    ):
        with pytest.raises(RuleViolation) as refused:
            validate(_at(S.RELEASED).state(), payload)
        assert refused.value.rule is Rule.RELEASED_IS_FINAL


def test_the_lifecycle_does_not_go_backwards() -> None:
    with pytest.raises(RuleViolation) as refused:
        validate(_at(S.IDENTIFIED).state(), ev.ResponderEnRoute("r1"))
    assert refused.value.rule is Rule.NO_GOING_BACK


#: The documented lifecycle (README, "Design"; domain notes): the main chain
#: ``notified → acknowledged | declined → en route → at staging | on scene → identified → staged
#: → assigned → released`` ...
CHAIN = [
    [S.NOTIFIED],
    [S.ACKNOWLEDGED, S.DECLINED],
    [S.EN_ROUTE],
    [S.AT_STAGING, S.ON_SCENE],
    [S.IDENTIFIED],
    [S.STAGED],
    [S.ASSIGNED],
    [S.RELEASED],
]
ANSWERS = (S.NOTIFIED, S.ACKNOWLEDGED, S.DECLINED)
#: ... and the documented departures from it (README, "Design", same paragraph).
DEPARTURES = {
    # an officer may change their answer
    (S.ACKNOWLEDGED, S.DECLINED),
    (S.DECLINED, S.ACKNOWLEDGED),
    # ... or go, or arrive, without answering or despite declining (self-dispatch)
    *((a, b) for a in ANSWERS for b in (S.EN_ROUTE, S.AT_STAGING, S.ON_SCENE)),
    # before check-in, between staging and the scene
    (S.AT_STAGING, S.ON_SCENE),
    (S.ON_SCENE, S.AT_STAGING),
    # an identified responder may be assigned without being staged first
    (S.IDENTIFIED, S.ASSIGNED),
    # an assigned responder may be re-assigned, or sent back to staging
    (S.ASSIGNED, S.ASSIGNED),
    (S.ASSIGNED, S.STAGED),
    # anyone not yet released may be released; released is final
    *((a, S.RELEASED) for a in S if a is not S.RELEASED),
}


def _documented_moves() -> set[tuple[S, S]]:
    chain = {(a, b) for here, there in pairwise(CHAIN) for a in here for b in there}
    return chain | DEPARTURES


def test_the_readme_documents_the_chain_the_test_checks() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    documented = " ".join(readme.split())  # the chain is wrapped over two lines
    chain = " → ".join(" | ".join(s.label for s in step) for step in CHAIN)
    assert f"`{chain}`" in documented


def test_the_transition_table_allows_exactly_the_documented_moves() -> None:
    """The WHOLE table: every (current, target) pair, allowed or not, against the documented
    lifecycle. Any move added to or removed from ``TRANSITIONS`` fails here."""
    table = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    expected = _documented_moves()
    assert set(TRANSITIONS) == set(S)
    assert sorted(table - expected) == [], "moves in the table that are not documented"
    assert sorted(expected - table) == [], "documented moves missing from the table"
    for current in S:
        for target in S:
            if (current, target) in expected:
                check_transition("r1", current, target)
            else:
                with pytest.raises(RuleViolation):
                    check_transition("r1", current, target)


def test_unknown_responder_and_unknown_staging_area_are_refused() -> None:
    state = _at(S.EN_ROUTE).state()
    with pytest.raises(RuleViolation) as refused:
        validate(state, ev.ResponderEnRoute("nobody"))
    assert refused.value.rule is Rule.UNKNOWN_RESPONDER
    with pytest.raises(RuleViolation) as refused:
        validate(state, ev.ResponderDirected("r1", "staging-z"))
    assert refused.value.rule is Rule.UNKNOWN_STAGING_AREA


def test_a_closed_incident_refuses_new_assignments_but_still_allows_release() -> None:
    rec = _at(S.IDENTIFIED)
    rec.add(ev.IncidentStatusChanged("all_clear", "suspect in custody"), at_s=99)
    state = rec.state()
    with pytest.raises(RuleViolation) as refused:
        validate(state, ev.ResponderAssigned("r1", "traffic", "T"))
    assert refused.value.rule is Rule.INCIDENT_CLOSED
    validate(state, ev.ResponderReleased("r1", "all clear"))


def test_an_alert_is_acknowledged_once() -> None:
    rec = Recorder().opened()
    rec.add(ev.AlertReceived("a1", "lincoln-hs", "active_shooter", 0))
    validate(rec.state(), ev.AlertAcknowledged("a1", "Dispatcher Moreno"))
    rec.add(ev.AlertAcknowledged("a1", "Dispatcher Moreno"))
    with pytest.raises(RuleViolation) as refused:
        validate(rec.state(), ev.AlertAcknowledged("a1", "Dispatcher Kim"))
    assert refused.value.rule is Rule.ALERT_ALREADY_ACKNOWLEDGED


def test_a_re_sent_alert_is_refused_and_keeps_its_acknowledgement() -> None:
    rec = Recorder().opened()
    rec.add(ev.AlertReceived("a1", "lincoln-hs", "active_shooter", 0))
    rec.add(ev.AlertAcknowledged("a1", "Dispatcher Moreno"))
    with pytest.raises(RuleViolation) as refused:
        validate(rec.state(), ev.AlertReceived("a1", "lincoln-hs", "active_shooter", 0))
    assert refused.value.rule is Rule.ALERT_ALREADY_RECEIVED
    with pytest.raises(RuleViolation) as refused:
        validate(rec.state(), ev.AlertReceived("a2", "other-school", "lockdown", 0))
    assert refused.value.rule is Rule.ALERT_OF_ANOTHER_SCHOOL
    rec.add(ev.AlertReceived("a1", "lincoln-hs", "active_shooter", 0))  # stored anyway (import)
    assert rec.state().alerts["a1"].acknowledged_by == "Dispatcher Moreno"


@pytest.mark.parametrize(
    ("geometry", "radius"),
    [
        ({"foo": 1}, None),
        ({"type": "Point"}, 50.0),
        ({"type": "Point", "coordinates": [1, 2]}, None),
        ({"type": "Point", "coordinates": [-84.5, 38.2]}, -5.0),
        ({"type": "Point", "coordinates": [-84.5, 999]}, 50.0),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}, None),
        ({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, None),
    ],
)
def test_an_area_that_is_not_a_valid_shape_is_refused(geometry: dict, radius: float | None) -> None:  # type: ignore[type-arg]
    state = Recorder().opened().state()
    with pytest.raises(RuleViolation) as refused:
        validate(state, ev.StagingAreaSet("b", "B", geometry, radius))
    assert refused.value.rule is Rule.BAD_AREA
    with pytest.raises(RuleViolation):
        validate(state, ev.PerimeterSet("p", "outer", geometry, radius))


def test_arrival_at_staging_names_the_area() -> None:
    with pytest.raises(RuleViolation) as refused:
        validate(_at(S.EN_ROUTE).state(), ev.ResponderArrived("r1", "staging", None))
    assert refused.value.rule is Rule.STAGING_AREA_REQUIRED


def test_a_checked_in_responder_can_move_between_staging_and_scene_keeping_their_status() -> None:
    rec = _at(S.ASSIGNED)
    payload = ev.ResponderArrived("r1", "staging", "staging-a")
    validate(rec.state(), payload)
    rec.add(payload, 50)
    responder = rec.state().responders["r1"]
    assert responder.status is S.ASSIGNED and responder.arrived_place == "staging"


def test_equipment_is_issued_in_person_and_items_add_up() -> None:
    with pytest.raises(RuleViolation) as refused:
        validate(_at(S.EN_ROUTE).state(), ev.ResponderEquipmentIssued("r1", "R-1", "TAC-2"))
    assert refused.value.rule is Rule.NOT_PRESENT
    rec = _at(S.IDENTIFIED)
    rec.add(ev.ResponderEquipmentIssued("r1", "R-114", "TAC-2", None), 40)
    rec.add(ev.ResponderEquipmentIssued("r1", None, None, "vest"), 41)
    equipment = rec.state().responders["r1"].equipment
    assert equipment is not None
    assert (equipment.radio_id, equipment.radio_channel, equipment.marking) == (
        "R-114",
        "TAC-2",
        "vest",
    )
