"""The service's position fast path (SQLite and PostgreSQL): the rules of ``responder_position``
are checked, the commands a batch brought about go first in the same transaction, a position
reported to two writers is stored once, and the live state is what a replay folds."""

from __future__ import annotations

import msgspec

from dispatch_console.domain import events as ev
from dispatch_console.service import Command, IncidentService, PositionFields, PositionReport
from dispatch_console.store import Store
from tests.builders import T0
from tests.store.test_service import ALERT, GW, SCHOOL

DEV = ev.Actor(ev.ActorKind.DEVICE, "dev-1")
STRANGER = ev.Actor(ev.ActorKind.DEVICE, "dev-9")


def _report(incident: str, n: int, actor: ev.Actor = DEV, key: str | None = "") -> PositionReport:
    at = T0 + n * 1_000_000
    fields = PositionFields(actor.name, 38.2 + n * 1e-5, -84.54, at, at + 30_000_000, 5.0)
    chosen = f"cot:{at}:{actor.name}:{incident}" if key == "" else key
    return PositionReport(incident, actor, ev.Source.FEED, fields, chosen)


def _opened_with_responder(store: Store) -> tuple[IncidentService, str, list[list[ev.Event]]]:
    published: list[list[ev.Event]] = []
    service = IncidentService(store, clock=lambda: T0)
    service.subscribe(published.append)
    incident, _ = service.open_incident(SCHOOL, ALERT, actor=GW, source=ev.Source.FEED)
    service.execute(
        incident, [ev.ResponderNotified("dev-1", "dev-1")], actor=GW, source=ev.Source.FEED
    )
    return service, incident, published


def test_position_fields_are_the_fields_of_a_responder_position() -> None:
    """The JSON the fast path writes is decoded as ``ResponderPosition``: same fields, same
    order, same defaults (a field added to one and not the other fails here)."""

    def shape(cls: type) -> list[tuple[str, object, object]]:
        return [(f.name, f.type, f.default) for f in msgspec.structs.fields(cls)]

    assert shape(PositionFields) == shape(ev.ResponderPosition)
    fields = PositionFields("dev-1", 38.2, -84.5, T0, T0 + 1, None, 3.0, None)
    payload = ev.ResponderPosition("dev-1", 38.2, -84.5, T0, T0 + 1, None, 3.0, None)
    assert msgspec.json.encode(fields) == ev.encode_payload(payload)


def test_positions_of_known_responders_are_stored_folded_and_published(store: Store) -> None:
    service, incident, published = _opened_with_responder(store)
    outcome = service.record_positions([_report(incident, n) for n in range(3)])
    assert outcome.refused == {} and outcome.duplicates == {}
    assert [type(e.payload) for e in outcome.stored] == [ev.ResponderPosition] * 3
    assert published[-1] == outcome.stored
    position = service.state(incident).responders["dev-1"].position
    assert position is not None and position.at_us == T0 + 2_000_000
    assert store.state_at(incident) == service.state(incident)


def test_a_position_of_a_responder_not_in_the_incident_is_refused(store: Store) -> None:
    service, incident, _ = _opened_with_responder(store)
    before = store.last_seq()
    outcome = service.record_positions(
        [_report(incident, 0, STRANGER), _report(incident, 1), _report("no-such-incident", 2)]
    )
    assert sorted(outcome.refused) == [0, 2]
    assert outcome.refused[0].startswith("UNKNOWN_RESPONDER") and "dev-9" in outcome.refused[0]
    assert outcome.refused[2].startswith("INCIDENT_NOT_OPEN")
    assert [e.actor for e in outcome.stored] == [DEV]
    assert store.last_seq() == before + 1


def test_commands_go_first_and_let_the_positions_after_them_in(store: Store) -> None:
    service, incident, _ = _opened_with_responder(store)
    join = Command(incident, ev.ResponderNotified("dev-9", "dev-9", "unsolicited"), GW,
                   ev.Source.FEED, T0)  # fmt: skip
    outcome = service.record_positions([_report(incident, 0, STRANGER)], [join])
    assert [e.type for e in outcome.stored] == ["responder_notified", "responder_position"]
    assert outcome.stored[0].seq + 1 == outcome.stored[1].seq
    assert service.state(incident).responders["dev-9"].position is not None


def test_a_position_reported_to_two_writers_is_stored_once(store: Store, store_url: str) -> None:
    service, incident, _ = _opened_with_responder(store)
    other_store = Store(store_url, migrate=False)
    try:
        other = IncidentService(other_store, clock=lambda: T0)
        first = service.record_positions([_report(incident, n) for n in range(3)])
        second = other.record_positions([_report(incident, n) for n in range(1, 5)])
        assert len(first.stored) == 3
        assert [e.occurred_at_us for e in second.stored] == [T0 + 3_000_000, T0 + 4_000_000]
        assert set(second.duplicates) == {_report(incident, n).idempotency_key for n in (1, 2)}
        events = list(store.read(incident))
        keys = [e.idempotency_key for e in events if e.type == "responder_position"]
        assert len(keys) == len(set(keys)) == 5
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert other.state(incident) == store.state_at(incident)
    finally:
        other_store.close()


def test_a_batch_of_positions_is_folded_alike_live_and_on_replay(store_url: str) -> None:
    with Store(store_url, snapshot_interval=7) as store:
        service, incident, _ = _opened_with_responder(store)
        for start in range(0, 40, 10):  # out of order and repeated within and across batches
            batch = [_report(incident, n) for n in range(start + 9, start - 1, -1)]
            service.record_positions(batch + batch[:3])
        assert store.state_at(incident) == service.state(incident)
        responder = service.state(incident).responders["dev-1"]
        assert responder.position is not None and responder.position.at_us == T0 + 39_000_000
