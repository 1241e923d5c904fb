"""The store against real SQLite and real PostgreSQL (every test runs on both)."""

from __future__ import annotations

import threading
from pathlib import Path

import msgspec
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from dispatch_console.domain import events as ev
from dispatch_console.domain.fold import replay
from dispatch_console.domain.reference import CheckIn, PlannedArea, PrePlan, RosterEntry, School
from dispatch_console.domain.state import STATE_FORMAT
from dispatch_console.store import RawDraft, Store, StoreError, schema
from tests.builders import T0, Recorder, S


class FakeClock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def _long_incident(positions: int = 240) -> Recorder:
    rec = Recorder().opened().notified("r1", "r2", "r3")
    rec.add(ev.ResponderEnRoute("r1"), 2)
    for i in range(positions):
        rec.position(f"r{1 + i % 3}", 38.2 + i * 1e-5, -84.5, at_s=3 + i)
        if i == positions // 2:
            rec.add(ev.ResponderArrived("r1", "scene"), 3 + i)
            rec.add(ev.SuspectDescriptionRevised(ev.SuspectDescription(top_color="black")), 3 + i)
    return rec


def test_appended_events_read_back_identical_in_order(store: Store) -> None:
    rec = _long_incident(20)
    stored = store.append(rec.drafts()).stored
    assert [e.seq for e in stored] == list(range(1, len(rec.events) + 1))
    read = list(store.read("inc-1"))
    assert read == stored
    assert [e.payload for e in read] == [e.payload for e in rec.events]
    pairs = zip(read, rec.events, strict=True)
    assert all(e.actor == o.actor and e.source == o.source for e, o in pairs)


def test_a_repeated_idempotency_key_is_stored_once(store: Store) -> None:
    rec = Recorder().opened()
    draft = rec.drafts()[0]
    keyed = ev.EventDraft(
        draft.incident_id,
        draft.occurred_at_us,
        draft.actor,
        draft.source,
        draft.payload,
        "school:lincoln-hs/act-1",
    )
    first = store.append([keyed, keyed])
    assert len(first.stored) == 1 and first.duplicates == {"school:lincoln-hs/act-1": 1}
    again = store.append([keyed])
    assert again.stored == [] and again.duplicates == {"school:lincoln-hs/act-1": 1}
    assert len(list(store.read("inc-1"))) == 1


def test_sequence_and_received_time_never_go_backwards(store_url: str) -> None:
    clock = FakeClock(T0 + 100 * S)
    with Store(store_url, clock=clock) as store:
        store.append(Recorder().opened().drafts())
        clock.now = T0  # the wall clock stepped back (NTP correction)
        store.append(Recorder().opened().drafts())
        received = [e.received_at_us for e in store.read("inc-1")]
    assert received == sorted(received)
    assert received[-1] == T0 + 100 * S


def test_the_database_refuses_to_change_or_delete_an_event(store: Store, store_url: str) -> None:
    store.append(Recorder().opened().drafts())
    engine = create_engine(store_url)
    try:
        for sql in ("UPDATE events SET type = 'forged' WHERE seq = 1", "DELETE FROM events"):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
                conn.execute(text(sql))
    finally:
        engine.dispose()
    assert len(list(store.read("inc-1"))) == 3


def test_state_at_equals_folding_from_zero_at_every_instant(store_url: str) -> None:
    rec = _long_incident(240)
    clock = FakeClock(T0)
    with Store(store_url, clock=clock, snapshot_interval=25) as store:
        for event, draft in zip(rec.events, rec.drafts(), strict=True):
            clock.now = event.received_at_us
            store.append([draft])
        for cut in (0, 1, 3, 24, 25, 26, 100, 137, 200, len(rec.events)):
            at = rec.events[max(cut - 1, 0)].received_at_us if cut else T0 - 1
            expected = replay("inc-1", [e for e in rec.events if e.received_at_us <= at])
            got = store.state_at("inc-1", at)
            assert got.event_count == expected.event_count
            assert got.responders == expected.responders
            assert got.suspect_revisions == expected.suspect_revisions
        assert store.state_at("inc-1").event_count == len(rec.events)


def test_state_at_writes_snapshots_and_uses_them(store_url: str) -> None:
    rec = _long_incident(240)
    with Store(store_url, snapshot_interval=50) as store:
        store.append(rec.drafts())
        full = store.checkpoint("inc-1")
        engine = create_engine(store_url)
        with engine.connect() as conn:
            seqs = [row[0] for row in conn.execute(text("SELECT seq FROM snapshots ORDER BY seq"))]
        engine.dispose()
        assert seqs == list(range(50, len(rec.events) + 1, 50))
        assert store.state_at("inc-1") == full


def test_a_snapshot_of_another_state_format_is_ignored(store_url: str) -> None:
    rec = _long_incident(60)
    with Store(store_url, snapshot_interval=20) as store:
        store.append(rec.drafts())
        expected = store.checkpoint("inc-1")
        engine = create_engine(store_url)
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE snapshots SET format = :f, state = :junk"),
                {"f": STATE_FORMAT + 1, "junk": b"not msgpack"},
            )
        engine.dispose()
        assert store.state_at("inc-1") == expected


def test_state_of_an_unknown_incident_is_a_clear_error(store: Store) -> None:
    with pytest.raises(StoreError, match="no incident 'nope'"):
        store.state_at("nope")


def test_incidents_are_listed_with_status_and_size(store: Store) -> None:
    rec = Recorder("inc-1").opened()
    rec.add(ev.IncidentStatusChanged("all_clear"), 600)
    store.append(rec.drafts())
    store.append(Recorder("inc-2").opened().drafts())
    incidents = {i.incident_id: i for i in store.incidents()}
    assert incidents["inc-1"].status == "all_clear" and incidents["inc-1"].event_count == 4
    assert incidents["inc-2"].status == "active" and incidents["inc-2"].school_name == "Lincoln HS"
    assert store.has_incident("inc-2") and not store.has_incident("inc-3")


def test_concurrent_appenders_get_distinct_contiguous_sequence_numbers(
    store_url: str, store: Store
) -> None:
    stores = [Store(store_url, migrate=False) for _ in range(4)]
    errors: list[BaseException] = []

    def work(store: Store, n: int) -> None:
        try:
            for _ in range(25):
                store.append(Recorder(f"inc-{n}").opened().drafts())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s, n)) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    seqs = [e.seq for e in stores[0].read(all_incidents=True)]
    assert seqs == list(range(1, 4 * 25 * 3 + 1))
    for store in stores:
        store.close()


def test_schools_with_pre_plans_and_rosters_are_kept(store: Store) -> None:
    plan = PrePlan(
        staging_areas=(
            PlannedArea(
                "a", "Staging A", {"type": "Point", "coordinates": [-84.5, 38.2]}, 60.0, 40
            ),
        ),
        inner_perimeter=PlannedArea(
            "inner", "Inner", {"type": "Point", "coordinates": [-84.5, 38.2]}, 150.0
        ),
        check_in=CheckIn("Check-in", -84.5, 38.21),
    )
    school = School(
        "lincoln-hs", "Lincoln High School", -84.54, 38.225, "1200 Lincoln Ave", pre_plan=plan
    )
    store.upsert_schools([school])
    store.upsert_schools([school])  # importing again updates, does not duplicate
    assert store.schools() == [school]
    assert store.school("lincoln-hs") == school and store.school("other") is None
    entries = [
        RosterEntry("GPD", "4411", "M. Ruiz", "active", ("dev-1", "dev-2")),
        RosterEntry("GPD", "1102", "L. Price", "retired"),
    ]
    store.replace_roster(entries)
    assert store.roster() == sorted(entries, key=lambda e: (e.agency, e.badge))


def test_the_migrated_schema_matches_the_tables_the_code_uses(store_url: str, store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine(store_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
    engine.dispose()
    assert diff == []


def test_an_unreachable_database_is_one_clear_error() -> None:
    with pytest.raises(
        StoreError, match=r"cannot open postgresql\+psycopg://nobody@127\.0\.0\.1:1/x"
    ):
        Store("postgresql://nobody:secret@127.0.0.1:1/x")


def test_an_unreadable_snapshot_falls_back_to_the_events(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    rec = _long_incident(60)
    with Store(store_url, snapshot_interval=20) as store:
        store.append(rec.drafts())
        expected = store.checkpoint("inc-1")
        engine = create_engine(store_url)
        with engine.begin() as conn:
            conn.execute(text("UPDATE snapshots SET state = :junk"), {"junk": b"\x00garbage"})
        engine.dispose()
        assert store.state_at("inc-1") == expected
    assert "unreadable" in caplog.text


@pytest.mark.parametrize(
    "payload",
    [
        ev.ResponderAssigned("r1", "swat_entry", "T1"),  # type: ignore[arg-type]
        ev.ResponderProfileReported("r1", duty="off-duty"),  # type: ignore[arg-type]
        ev.CheckInPointSet("Check-in", float("nan"), 38.2),
        ev.StagingAreaSet("a", "A", {"type": "Point", "coordinates": [-84.5, 38.2]}, float("inf")),
    ],
)
def test_an_event_the_store_could_not_read_back_is_refused(
    store: Store, payload: ev.Payload
) -> None:
    actor = ev.Actor(ev.ActorKind.CONSOLE_USER, "x")
    good = ev.EventDraft("inc-1", T0, actor, ev.Source.CONSOLE, ev.ResponderNotified("r0", "d0"))
    bad = ev.EventDraft("inc-1", T0, actor, ev.Source.CONSOLE, payload)
    with pytest.raises(StoreError, match="refused"):
        store.append([good, bad])
    assert store.last_seq() == 0  # nothing of the batch


def test_identifiers_longer_than_the_columns_are_refused_alike_on_both_databases(
    store: Store,
) -> None:
    actor = ev.Actor(ev.ActorKind.DEVICE, "d" * 201)
    with pytest.raises(StoreError, match="actor name longer than 200"):
        store.append([ev.EventDraft("inc-1", T0, actor, ev.Source.FEED, ev.ResponderEnRoute("r"))])


def test_sqlite_is_durable_on_power_loss(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'x.sqlite3'}") as store, store._writer.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_importing_an_agency_roster_again_replaces_it(store: Store) -> None:
    store.replace_roster(
        [
            RosterEntry("GPD", "1", "A. One", "active"),
            RosterEntry("GPD", "2", "B. Two", "active"),
            RosterEntry("SO", "9", "C. Nine", "active"),
        ]
    )
    store.replace_roster([RosterEntry("GPD", "2", "B. Two", "retired")])
    assert store.roster() == [
        RosterEntry("GPD", "2", "B. Two", "retired"),
        RosterEntry("SO", "9", "C. Nine", "active"),
    ]


@pytest.mark.parametrize(
    ("role", "refused"),
    [
        (None, "not a registered console user"),
        ("observer", "registered as observer"),
        ("trainer", "registered as trainer"),
    ],
)
def test_the_store_refuses_incident_events_of_users_who_do_not_command(
    store: Store, role: str | None, refused: str
) -> None:
    """Whatever writes (not only the incident service): an observer, a trainer or a user the
    store does not know never changes an incident. Reference data is not an incident."""
    store.append(Recorder().opened().drafts())
    chief = ev.Actor(ev.ActorKind.CONSOLE_USER, "Chief W. Park")
    if role is not None:
        store.set_user(chief.name, role)
    before = store.last_seq()
    draft = ev.EventDraft(
        "inc-1", T0, chief, ev.Source.CONSOLE, ev.IncidentStatusChanged("all_clear")
    )
    with pytest.raises(StoreError, match=refused):
        store.append([draft])
    with pytest.raises(StoreError, match=refused), store.writing() as tx:
        tx.append([draft])
    raw = RawDraft("inc-1", T0, chief, ev.Source.CONSOLE, draft.payload.TYPE,
                   msgspec.json.encode(draft.payload))  # fmt: skip
    with pytest.raises(StoreError, match=refused), store.writing() as tx:
        tx.append_raw([raw])
    assert store.last_seq() == before
    store.set_user(chief.name, "incident commander")
    assert [e.seq for e in store.append([draft]).stored] == [before + 1]
