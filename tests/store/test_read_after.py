"""The console feed's read: the next events after a sequence number, at most a batch, at once;
an event this version cannot read is skipped but read past (a feed never stops at it)."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from dispatch_console.store import Store
from tests.builders import Recorder


def test_batches_in_order_with_the_last_seq_read_and_whether_more_follow(store_url: str) -> None:
    rec = Recorder().opened().notified(*[f"r{n}" for n in range(9)])
    with Store(store_url) as store:
        stored = store.append(rec.drafts()).stored
        seqs = [e.seq for e in stored]
        events, last, more = store.read_after(0, 4)
        assert [e.seq for e in events] == seqs[:4] and last == seqs[3] and more
        collected, after = list(events), last
        while more:
            events, after, more = store.read_after(after, 4)
            collected.extend(events)
        assert [e.seq for e in collected] == seqs
        assert collected == list(store.read(all_incidents=True))
        assert store.read_after(seqs[-1], 4) == ([], seqs[-1], False)


def test_an_event_this_version_cannot_read_is_skipped_and_read_past(store_url: str) -> None:
    rec = Recorder().opened().notified("r1", "r2")
    with Store(store_url) as store:
        stored = store.append(rec.drafts()).stored
        last = stored[-1]
        # A newer version's event type, stored by a newer console sharing the database.
        engine = create_engine(store_url)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO events (seq, incident_id, type, occurred_at_us, "
                    "received_at_us, actor_kind, actor_name, source, payload) VALUES "
                    "(:seq, 'inc-1', 'from_the_future', 1, :at, 'system', 'x', 'feed', '{}')"
                ),
                {"seq": last.seq + 1, "at": last.received_at_us},
            )
        engine.dispose()
        events, after, more = store.read_after(last.seq - 1, 2)
        assert [e.seq for e in events] == [last.seq]  # the unreadable one skipped...
        assert after == last.seq + 1 and more  # ...but read past
        assert store.read_after(after, 2) == ([], after, False)
