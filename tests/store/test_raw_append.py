"""The store's fast append of JSON payloads (a feed's flood of positions), on SQLite and
PostgreSQL: each payload decoded once as its type, bad ones refused alone, idempotency decided
by the unique index (no query per batch), sequence numbers contiguous whatever happens."""

from __future__ import annotations

import pytest

from dispatch_console.domain import events as ev
from dispatch_console.store import RawDraft, Store, StoreError
from tests.builders import T0

DEVICE = ev.Actor(ev.ActorKind.DEVICE, "dev-1")
POSITION = ev.ResponderPosition.TYPE


def _raw(n: int, key: str | None = None, payload: bytes | None = None) -> RawDraft:
    at = T0 + n * 1000
    if payload is None:
        payload = ev.encode_payload(
            ev.ResponderPosition("dev-1", 38.2 + n * 1e-6, -84.5, at, at + 30_000_000, 8.0)
        )
    return RawDraft("inc-1", at, DEVICE, ev.Source.FEED, POSITION, payload, key)


def _append(store: Store, drafts: list[RawDraft]) -> tuple[list[ev.Event], dict[str, int], dict]:
    with store.writing() as tx:
        result = tx.append_raw(drafts)
    return result.stored, result.duplicates, result.refused


def test_raw_payloads_are_stored_decoded_and_read_back_identical(store: Store) -> None:
    stored, duplicates, refused = _append(store, [_raw(n, f"k{n}") for n in range(5)])
    assert (duplicates, refused) == ({}, {})
    assert [e.seq for e in stored] == [1, 2, 3, 4, 5]
    assert all(isinstance(e.payload, ev.ResponderPosition) for e in stored)
    assert list(store.read("inc-1")) == stored


def test_a_key_repeated_in_a_batch_or_stored_before_is_stored_once(store: Store) -> None:
    _append(store, [_raw(0, "k0"), _raw(1, "k1")])
    stored, duplicates, _ = _append(store, [_raw(2, "k2"), _raw(2, "k2"), _raw(1, "k1")])
    assert [e.idempotency_key for e in stored] == ["k2"]
    assert duplicates == {"k1": 2, "k2": 3}
    assert [e.seq for e in store.read("inc-1")] == [1, 2, 3]


def test_a_key_another_writer_stored_is_caught_by_the_unique_index(
    store: Store, store_url: str
) -> None:
    """The other writer's key is in no cache here: the insert conflicts, the keys are looked
    up, and the batch goes in again without it; sequence numbers stay contiguous."""
    other = Store(store_url, migrate=False)
    try:
        _append(other, [_raw(0, "k0"), _raw(1, "k1")])
        stored, duplicates, refused = _append(
            store, [_raw(2, "k2"), _raw(1, "k1"), _raw(3, "k3"), _raw(0, "k0")]
        )
        assert [e.idempotency_key for e in stored] == ["k2", "k3"]
        assert [e.seq for e in stored] == [3, 4]
        assert duplicates == {"k1": 2, "k0": 1} and refused == {}
        # Both writers now know every key: a repeat is caught without the database.
        for writer in (store, other):
            again, known, _ = _append(writer, [_raw(n, f"k{n}") for n in range(4)])
            assert again == [] and set(known) == {"k0", "k1", "k2", "k3"}
        events = list(store.read("inc-1"))
        assert [e.seq for e in events] == [1, 2, 3, 4]
        assert len({e.idempotency_key for e in events}) == 4
    finally:
        other.close()


@pytest.mark.parametrize(
    "payload",
    [
        b'{"responder_id": "dev-1", "lat": 95.0, "lon": -84.5, "at_us": 1, "stale_at_us": 2}',
        b'{"responder_id": "dev-1", "lat": null, "lon": -84.5, "at_us": 1, "stale_at_us": 2}',
        b'{"responder_id": "dev-1", "lat": 38.2, "lon": -84.5, "at_us": 1.5, "stale_at_us": 2}',
        b'{"responder_id": "dev-1", "lat": 38.2, "lon": -84.5, "at_us": 2, "stale_at_us": 1}',
        b'{"responder_id": "dev-1", "lat": 38.2, "lon": -84.5, "at_us": 1, "stale_at_us": 2, '
        b'"forged": true}',
        b'{"responder_id": "dev-1", "lat": 38.2, "lon": -84.5, "at_us": 1, "stale_at_us": 2},'
        b'{"responder_id": "dev-2", "lat": 38.2, "lon": -84.5, "at_us": 1, "stale_at_us": 2}',
        b'{"responder_id": "dev-1", "lat": 38.2',
        b"not json",
        b"",
    ],
)
def test_a_malformed_or_forged_payload_is_refused_alone(store: Store, payload: bytes) -> None:
    stored, _, refused = _append(store, [_raw(0, "k0"), _raw(1, "k1", payload), _raw(2, "k2")])
    assert list(refused) == [1] and "refused" in refused[1]
    assert [e.idempotency_key for e in stored] == ["k0", "k2"]
    assert [e.seq for e in stored] == [1, 2]
    # Every stored event decodes: nothing unreadable was kept.
    assert list(store.read("inc-1")) == stored


def test_identifiers_longer_than_their_columns_are_refused_alone(store: Store) -> None:
    long_actor = ev.Actor(ev.ActorKind.DEVICE, "d" * 201)
    drafts = [
        _raw(0, "k0"),
        RawDraft("i" * 65, T0, DEVICE, ev.Source.FEED, POSITION, _raw(1).payload_json, "k1"),
        RawDraft("inc-1", T0, long_actor, ev.Source.FEED, POSITION, _raw(2).payload_json, "k2"),
        _raw(3, "k" * 301),
        RawDraft("inc-1", T0, DEVICE, ev.Source.FEED, "no_such_type", b"{}", "k4"),
        _raw(5, "k5"),
    ]
    stored, _, refused = _append(store, drafts)
    assert sorted(refused) == [1, 2, 3, 4]
    assert "longer than" in refused[1] and "unknown event type" in refused[4]
    assert [e.idempotency_key for e in stored] == ["k0", "k5"]


def test_keys_of_a_transaction_that_failed_are_not_remembered(store: Store) -> None:
    with pytest.raises(StoreError), store.writing() as tx:
        assert len(tx.append_raw([_raw(0, "k0")]).stored) == 1
        raise StoreError("the batch fails after the insert")
    assert store.last_seq() == 0
    stored, duplicates, _ = _append(store, [_raw(0, "k0")])
    assert [e.idempotency_key for e in stored] == ["k0"] and duplicates == {}


def test_the_general_append_knows_keys_the_fast_append_stored(store: Store) -> None:
    _append(store, [_raw(0, "k0")])
    draft = ev.EventDraft(
        "inc-1", T0, DEVICE, ev.Source.FEED, ev.ResponderEnRoute("dev-1"), idempotency_key="k0"
    )
    result = store.append([draft])
    assert result.stored == [] and result.duplicates == {"k0": 1}
