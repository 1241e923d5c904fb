"""The write path: validate, append, fold, publish (on SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from dispatch_console.domain import events as ev
from dispatch_console.domain.lifecycle import ResponderStatus, Rule, RuleViolation
from dispatch_console.domain.reference import CheckIn, PlannedArea, PrePlan, School
from dispatch_console.service import Command, IncidentService
from dispatch_console.store import Store
from tests.builders import INNER, STAGING_A, T0
from tests.users import register

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
    register(store, IC)
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


def test_a_retried_activation_opens_no_second_incident(store: Store) -> None:
    service = IncidentService(store, clock=lambda: T0)
    key = "school:lincoln-hs/act-1"
    first, _ = service.open_incident(
        SCHOOL, ALERT, actor=GW, source=ev.Source.FEED, idempotency_key=key
    )
    again, more = service.open_incident(
        SCHOOL, ALERT, actor=GW, source=ev.Source.FEED, idempotency_key=key
    )
    assert again == first and more == []
    assert [i.incident_id for i in store.incidents()] == [first]
    # A second service (another process) that raced past the check is refused by the store's
    # unique keys instead of opening a half-made incident.
    other = IncidentService(store, clock=lambda: T0)
    with pytest.raises(RuleViolation):
        other.execute(
            "another-id",
            [
                ev.IncidentOpened(
                    "lincoln-hs", "Lincoln High School", "active_shooter", -84.54, 38.225
                ),
                ALERT,
                ev.StagingAreaSet("staging-a", "A", STAGING_A, 60.0),
            ],
            actor=GW,
            source=ev.Source.FEED,
            idempotency_keys=[f"{key}#incident", key, None],
        )
    assert len(store.incidents()) == 1


def test_a_retried_keyed_command_is_a_no_op_not_a_refusal(store: Store) -> None:
    service, incident, _ = _opened(store)
    command = [ev.ResponderNotified("r1", "d1")]
    first = service.execute(
        incident, command, actor=GW, source=ev.Source.FEED, idempotency_keys=["d1/m1"]
    )
    again = service.execute_batch([Command(incident, command[0], GW, ev.Source.FEED, T0, "d1/m1")])
    assert (
        again.stored == [] and again.refused == {} and again.duplicates == {"d1/m1": first[0].seq}
    )


def test_rules_are_checked_against_what_other_processes_stored(store: Store) -> None:
    a, incident, _ = _opened(store)
    a.execute(
        incident,
        [ev.ResponderNotified("r1", "d1"), ev.ResponderArrived("r1", "scene")],
        actor=GW,
        source=ev.Source.FEED,
    )
    a.execute(
        incident,
        [ev.ResponderIdentified("r1", "known_personally", "Sgt. B")],
        actor=IC,
        source=ev.Source.CONSOLE,
    )
    b = IncidentService(store, clock=lambda: T0)
    b.state(incident)  # B loads the incident now ...
    a.execute(
        incident, [ev.ResponderReleased("r1", "sent home")], actor=IC, source=ev.Source.CONSOLE
    )
    a.execute(
        incident,
        [ev.IncidentStatusChanged("cancelled", "false alarm")],
        actor=IC,
        source=ev.Source.CONSOLE,
    )
    # ... and then decides on what it saw: refused, because the store knows better.
    with pytest.raises(RuleViolation) as refused:
        b.execute(
            incident,
            [ev.ResponderAssigned("r1", "contact_team", "T1")],
            actor=IC,
            source=ev.Source.CONSOLE,
        )
    assert refused.value.rule in (Rule.INCIDENT_CLOSED, Rule.RELEASED_IS_FINAL)
    assert b.state(incident).status == "cancelled"
    assert b.state(incident).responders["r1"].status is ResponderStatus.RELEASED
    assert store.state_at(incident) == b.state(incident)


def test_a_failing_subscriber_does_not_undo_or_hide_a_stored_command(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    service, incident, published = _opened(store)

    def broken(events: list[ev.Event]) -> None:
        raise RuntimeError("display crashed")

    service.subscribe(broken)
    service.subscribe(published.append)
    stored = service.execute(
        incident, [ev.ResponderNotified("r1", "d1")], actor=GW, source=ev.Source.FEED
    )
    assert len(stored) == 1 and published[-1] == stored
    assert "display crashed" in caplog.text


def test_the_live_path_keeps_snapshots_for_replay(store_url: str) -> None:
    from sqlalchemy import create_engine, text

    with Store(store_url, snapshot_interval=10) as store:
        service = IncidentService(store, clock=lambda: T0)
        incident, _ = service.open_incident(SCHOOL, ALERT, actor=GW, source=ev.Source.FEED)
        for i in range(30):
            service.execute(incident, [ev.ResponderNotified(f"r{i}", f"d{i}")], actor=GW,
                            source=ev.Source.FEED)  # fmt: skip
        store.flush_snapshots()  # written off the writer's path, on the store's own thread
        engine = create_engine(store_url)
        with engine.connect() as conn:
            counts = [r[0] for r in conn.execute(text("SELECT event_count FROM snapshots"))]
        engine.dispose()
        assert sorted(counts) == [10, 20, 30]
        assert store.state_at(incident) == service.state(incident)
