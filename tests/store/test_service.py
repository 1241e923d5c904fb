"""The write path: validate, append, fold, publish (on SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from dispatch_console.domain import events as ev
from dispatch_console.domain.lifecycle import ResponderStatus, Rule, RuleViolation
from dispatch_console.domain.reference import CheckIn, PlannedArea, PrePlan, School
from dispatch_console.service import IncidentService
from dispatch_console.store import Store
from tests.builders import INNER, STAGING_A, T0

IC = ev.Actor(ev.ActorKind.CONSOLE_USER, "Lt. Hayes")
GW = ev.Actor(ev.ActorKind.SYSTEM, "gateway")
SCHOOL = School(
    "lincoln-hs",
    "Lincoln High School",
    -84.54,
    38.225,
    pre_plan=PrePlan(
        staging_areas=(PlannedArea("staging-a", "Staging A", STAGING_A, 60.0, 40),),
        inner_perimeter=PlannedArea("inner", "Inner", INNER),
        outer_perimeter=PlannedArea(
            "outer", "Outer", {"type": "Point", "coordinates": [-84.54, 38.225]}, 400.0
        ),
        check_in=CheckIn("Check-in A", -84.5457, 38.2292),
    ),
)
ALERT = ev.AlertReceived("act-1", "lincoln-hs", "active_shooter", T0, "J. Ortiz", "office")


def _opened(store: Store) -> tuple[IncidentService, str, list[list[ev.Event]]]:
    published: list[list[ev.Event]] = []
    service = IncidentService(store, clock=lambda: T0)
    service.subscribe(published.append)
    incident, _ = service.open_incident(SCHOOL, ALERT, actor=GW, source=ev.Source.FEED)
    return service, incident, published


def test_opening_an_incident_puts_the_school_pre_plan_in_force(store: Store) -> None:
    service, incident, published = _opened(store)
    state = service.state(incident)
    assert state.school_name == "Lincoln High School" and state.incident_type == "active_shooter"
    assert set(state.staging_areas) == {"staging-a"}
    assert {p.kind for p in state.perimeters.values()} == {"inner", "outer"}
    assert (
        state.check_in_point is not None and state.alerts["act-1"].activated_by_name == "J. Ortiz"
    )
    assert [e.type for e in published[0]][:2] == ["incident_opened", "alert_received"]
    assert store.state_at(incident) == state


def test_a_refused_command_stores_nothing_from_its_batch(store: Store) -> None:
    service, incident, published = _opened(store)
    before = store.last_seq()
    with pytest.raises(RuleViolation) as refused:
        service.execute(
            incident,
            [ev.ResponderNotified("r1", "d1"), ev.ResponderAssigned("r1", "contact_team", "T1")],
            actor=IC,
            source=ev.Source.CONSOLE,
        )
    assert refused.value.rule is Rule.ASSIGN_REQUIRES_IDENTIFIED
    assert store.last_seq() == before
    assert "r1" not in service.state(incident).responders
    assert len(published) == 1


def test_commands_are_folded_into_live_state_and_published(store: Store) -> None:
    service, incident, published = _opened(store)
    service.execute(incident, [ev.ResponderNotified("r1", "d1")], actor=GW, source=ev.Source.FEED)
    service.execute(
        incident,
        [ev.ResponderArrived("r1", "staging", "staging-a")],
        actor=GW,
        source=ev.Source.FEED,
    )
    events = service.execute(
        incident,
        [ev.ResponderIdentified("r1", "credentials_in_person", "Sgt. Brooks")],
        actor=IC,
        source=ev.Source.CONSOLE,
    )
    assert events[0].actor == IC and events[0].source is ev.Source.CONSOLE
    live = service.state(incident)
    assert live.responders["r1"].status is ResponderStatus.IDENTIFIED
    assert live.responders["r1"].identification is not None
    assert published[-1] == events
    assert store.state_at(incident) == live  # the store's fold agrees with the live one


def test_a_repeated_alert_message_opens_no_second_incident_event(store: Store) -> None:
    service = IncidentService(store, clock=lambda: T0)
    first, events = service.open_incident(
        SCHOOL, ALERT, actor=GW, source=ev.Source.FEED, idempotency_key="school:lincoln-hs/act-1"
    )
    result = store.append(
        [ev.EventDraft(first, T0, GW, ev.Source.FEED, ALERT, "school:lincoln-hs/act-1")]
    )
    assert result.stored == [] and result.duplicates == {"school:lincoln-hs/act-1": events[1].seq}
