"""Several consoles on one store: commands carry the version they were decided on, and a
command about something another console user changed since is refused with what changed and
by whom (``CONFLICT``); console users act only if registered in a commanding role."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from dispatch_console.domain import events as ev
from dispatch_console.domain.lifecycle import Rule, RuleViolation
from dispatch_console.domain.reference import PlannedArea, PrePlan, School
from dispatch_console.service import Command, IncidentService
from dispatch_console.store import Store, StoreError
from tests.builders import STAGING_A, T0

GW = ev.Actor(ev.ActorKind.SYSTEM, "gateway")
HAYES = ev.Actor(ev.ActorKind.CONSOLE_USER, "Lt. Hayes")
MORENO = ev.Actor(ev.ActorKind.CONSOLE_USER, "Dispatcher A. Moreno")
STAGING_B = {"type": "Point", "coordinates": [-84.5300, 38.2200]}
SCHOOL = School(
    "lincoln-hs",
    "Lincoln High School",
    -84.54,
    38.225,
    pre_plan=PrePlan(
        staging_areas=(
            PlannedArea("staging-a", "Staging A", STAGING_A, 60.0, 40),
            PlannedArea("staging-b", "Staging B", STAGING_B, 60.0, 40),
        ),
    ),
)
ALERT = ev.AlertReceived("act-1", "lincoln-hs", "active_shooter", T0, "J. Ortiz", "office")


def _incident(store: Store) -> str:
    store.set_user(HAYES.name, "incident commander")
    store.set_user(MORENO.name, "dispatcher")
    gateway = IncidentService(store, clock=lambda: T0)
    incident, _ = gateway.open_incident(SCHOOL, ALERT, actor=GW, source=ev.Source.FEED)
    gateway.execute(
        incident,
        [ev.ResponderNotified("U-012", "d12"), ev.ResponderNotified("U-007", "d7")],
        actor=GW,
        source=ev.Source.FEED,
    )
    return incident


def _direct(
    service: IncidentService, incident: str, rid: str, area: str, actor: ev.Actor, seen: int
) -> list[ev.Event]:
    return service.execute(
        incident,
        [ev.ResponderDirected(rid, area)],
        actor=actor,
        source=ev.Source.CONSOLE,
        expected_seq=seen,
    )


def test_two_consoles_directing_one_responder_at_once_store_one_and_refuse_the_other(
    store_url: str,
) -> None:
    with Store(store_url) as setup:
        incident = _incident(setup)
    stores = [Store(store_url), Store(store_url)]  # two consoles: two connections, two locks
    consoles = [IncidentService(s, clock=lambda: T0 + 60_000_000) for s in stores]
    seen = [c.state(incident).last_seq for c in consoles]
    assert seen[0] == seen[1]
    plan = [(HAYES, "staging-a"), (MORENO, "staging-b")]
    barrier = threading.Barrier(2)
    outcomes: list[object] = [None, None]

    def act(i: int) -> None:
        actor, area = plan[i]
        barrier.wait()
        try:
            outcomes[i] = _direct(consoles[i], incident, "U-012", area, actor, seen[i])
        except RuleViolation as refusal:
            outcomes[i] = refusal

    threads = [threading.Thread(target=act, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    try:
        refused = [o for o in outcomes if isinstance(o, RuleViolation)]
        stored = [o for o in outcomes if isinstance(o, list)]
        assert len(refused) == 1 and len(stored) == 1, outcomes  # both answered
        winner = outcomes.index(stored[0])
        actor, area = plan[winner]
        refusal = refused[0]
        assert refusal.rule is Rule.CONFLICT
        area_name = "Staging A" if area == "staging-a" else "Staging B"
        assert f"since you looked, {actor.name} directed U-012 to {area_name} (at " in str(refusal)
        directed = list(stores[0].read(incident, types=[ev.ResponderDirected.TYPE]))
        assert len(directed) == 1  # no duplicate, no lost update: the winner's stands
        assert directed[0].actor == actor
        assert stores[1].state_at(incident).responders["U-012"].directed_to == area
    finally:
        for store in stores:
            store.close()


@dataclass
class TwoConsoles:
    """This console's service and another's, on one incident, each with its own store
    connection; ``seen``: the version this console showed when the test starts."""

    store: Store
    incident: str
    mine: IncidentService
    other: IncidentService
    seen: int


@pytest.fixture
def two(store_url: str) -> Iterator[TwoConsoles]:
    with Store(store_url) as store, Store(store_url) as other_store:
        incident = _incident(store)
        mine = IncidentService(store, clock=lambda: T0)
        other = IncidentService(other_store, clock=lambda: T0)
        yield TwoConsoles(store, incident, mine, other, mine.state(incident).last_seq)


def test_unrelated_changes_since_do_not_conflict(two: TwoConsoles) -> None:
    store, incident, mine, other, seen = two.store, two.incident, two.mine, two.other, two.seen
    # Another console acts on another responder, sending them to the same area; the device
    # reports where U-012 is; and this console's own earlier command.
    _direct(other, incident, "U-007", "staging-b", HAYES, seen)
    other.execute(
        incident,
        [ev.ResponderPosition("U-012", 38.22, -84.53, T0, T0 + 30_000_000)],
        actor=ev.Actor(ev.ActorKind.DEVICE, "d12"),
        source=ev.Source.FEED,
    )
    _direct(mine, incident, "U-012", "staging-a", MORENO, seen)
    stored = _direct(mine, incident, "U-012", "staging-b", MORENO, seen)
    assert [e.type for e in stored] == [ev.ResponderDirected.TYPE]
    assert store.state_at(incident).responders["U-012"].directed_to == "staging-b"


def test_a_change_to_the_staging_area_or_the_responder_since_is_a_conflict(
    two: TwoConsoles,
) -> None:
    store, incident, mine, other, seen = two.store, two.incident, two.mine, two.other, two.seen
    other.execute(
        incident,
        [ev.StagingAreaSet("staging-b", "Staging B (bus depot)", STAGING_B, 80.0)],
        actor=HAYES,
        source=ev.Source.CONSOLE,
    )
    before = store.last_seq()
    with pytest.raises(RuleViolation) as refused:
        _direct(mine, incident, "U-012", "staging-b", MORENO, seen)
    assert refused.value.rule is Rule.CONFLICT
    assert "Lt. Hayes changed staging area Staging B (bus depot)" in str(refused.value)
    assert store.last_seq() == before
    # Decided again on what is there now: stored.
    _direct(mine, incident, "U-012", "staging-b", MORENO, store.last_seq())
    # In a batch, only the conflicting command is refused.
    seen = store.last_seq()
    other.execute(
        incident,
        [ev.ResponderReleased("U-007", "sent home")],
        actor=HAYES,
        source=ev.Source.CONSOLE,
    )
    commands = [
        Command(incident, ev.ResponderDirected(rid, "staging-a"), MORENO,
                ev.Source.CONSOLE, T0, expected_seq=seen)
        for rid in ("U-007", "U-012")
    ]  # fmt: skip
    outcome = mine.execute_batch(commands)
    assert list(outcome.refused) == [0]
    assert "Lt. Hayes released U-007" in str(outcome.refused[0])
    assert [e.payload for e in outcome.stored] == [commands[1].payload]


def test_a_suspect_description_revised_since_is_a_conflict(two: TwoConsoles) -> None:
    """The description is one thing of the whole incident: a revision decided on an older one
    would undo the other user's, so it is refused with what changed."""
    black = ev.SuspectDescription(top_color="black", top_type="shirt")
    red = ev.SuspectDescription(top_color="red", top_type="hoodie")
    two.other.execute(two.incident, [ev.SuspectDescriptionRevised(red)], actor=HAYES,
                      source=ev.Source.CONSOLE)  # fmt: skip
    with pytest.raises(RuleViolation) as refused:
        two.mine.execute(two.incident, [ev.SuspectDescriptionRevised(black)], actor=MORENO,
                         source=ev.Source.CONSOLE, expected_seq=two.seen)  # fmt: skip
    assert refused.value.rule is Rule.CONFLICT
    assert "Lt. Hayes revised the suspect description" in str(refused.value)
    suspect = two.mine.state(two.incident).suspect
    assert suspect is not None and suspect.description == red


@pytest.mark.parametrize("role", ["observer", "trainer"])
def test_an_observer_or_trainer_cannot_change_an_incident(store_url: str, role: str) -> None:
    with Store(store_url) as store:
        incident = _incident(store)
        store.set_user("T. Watcher", role)
        assert store.user_role("T. Watcher") == role
        watcher = ev.Actor(ev.ActorKind.CONSOLE_USER, "T. Watcher")
        service = IncidentService(store, clock=lambda: T0)
        before = store.last_seq()
        with pytest.raises(RuleViolation) as refused:
            service.execute(
                incident,
                [ev.AlertAcknowledged("act-1", "T. Watcher")],
                actor=watcher,
                source=ev.Source.CONSOLE,
            )
        assert refused.value.rule is Rule.ROLE_MAY_NOT_COMMAND
        assert f"T. Watcher is registered as {role}" in str(refused.value)
        assert store.last_seq() == before
        # Registered again as a dispatcher (another shift), the same user may act.
        store.set_user("T. Watcher", "dispatcher")
        service.execute(
            incident,
            [ev.AlertAcknowledged("act-1", "T. Watcher")],
            actor=watcher,
            source=ev.Source.CONSOLE,
        )
        assert store.state_at(incident).alerts["act-1"].acknowledged_by == "T. Watcher"


def test_an_unregistered_console_user_is_refused_devices_and_system_are_not(
    store_url: str,
) -> None:
    with Store(store_url) as store:
        incident = _incident(store)
        assert store.user_role("Nobody") is None
        service = IncidentService(store, clock=lambda: T0)
        nobody = ev.Actor(ev.ActorKind.CONSOLE_USER, "Nobody")
        commands = [
            Command(incident, ev.AlertAcknowledged("act-1", "Nobody"), nobody,
                    ev.Source.CONSOLE, T0),
            Command(incident, ev.ResponderAcknowledged("U-012", True),
                    ev.Actor(ev.ActorKind.DEVICE, "d12"), ev.Source.FEED, T0),
        ]  # fmt: skip
        outcome = service.execute_batch(commands)
        assert outcome.refused[0].rule is Rule.UNKNOWN_USER
        assert "Nobody is not a registered console user" in str(outcome.refused[0])
        assert [e.type for e in outcome.stored] == [ev.ResponderAcknowledged.TYPE]


def test_set_user_checks_the_role_and_the_name(store_url: str) -> None:
    with Store(store_url) as store:
        with pytest.raises(StoreError, match="unknown role"):
            store.set_user("A. Moreno", "janitor")
        with pytest.raises(StoreError, match="needs a name"):
            store.set_user("  ", "dispatcher")
        store.set_user("A. Moreno", "dispatcher")
        store.set_user("A. Moreno", "incident commander")
        assert store.user_role("A. Moreno") == "incident commander"


def test_others_events_are_read_under_the_lock_only_when_someone_else_stored_since(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer that was the only one to store since it last looked reads nothing of others'
    before deciding (no query per group commit); once another process stored anything, even
    in another incident, it reads again, and folds what was stored in its incident."""
    from dispatch_console.store.store import WriteTransaction

    reads: list[str] = []
    real_read = WriteTransaction.read

    def counted(self: WriteTransaction, incident_id: str, *args: object, **kw: object) -> object:
        reads.append(incident_id)
        return real_read(self, incident_id, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(WriteTransaction, "read", counted)
    with Store(store_url) as mine_store, Store(store_url) as other_store:
        incident = _incident(mine_store)
        mine = IncidentService(mine_store, clock=lambda: T0)
        other = IncidentService(other_store, clock=lambda: T0)
        notify = [ev.ResponderNotified("U-001", "d1")]
        mine.execute(incident, notify, actor=GW, source=ev.Source.FEED)
        reads.clear()
        for n in range(3):  # only this writer stores: no read of others' events
            mine.execute(
                incident, [ev.ResponderNotified(f"U-10{n}", f"d10{n}")], actor=GW,
                source=ev.Source.FEED,
            )  # fmt: skip
        assert reads == []
        other.execute(incident, [ev.ResponderNotified("U-200", "d200")], actor=GW,
                      source=ev.Source.FEED)  # fmt: skip
        reads.clear()
        mine.execute(incident, [ev.ResponderNotified("U-300", "d300")], actor=GW,
                     source=ev.Source.FEED)  # fmt: skip
        assert reads == [incident]
        assert "U-200" in mine.state(incident).responders  # folded before deciding
        assert mine.state(incident) == mine_store.state_at(incident)
