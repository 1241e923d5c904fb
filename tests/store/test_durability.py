"""An append that returned survives kill -9 of the process that made it."""

from __future__ import annotations

from pathlib import Path

from dispatch_console.store import Store
from tests.store.killed import acknowledged_then_killed

APPENDER = Path(__file__).with_name("appender.py")


def test_every_returned_append_is_present_after_kill_9(store: Store, store_url: str) -> None:
    acknowledged = acknowledged_then_killed(APPENDER, store_url, count=150)

    with Store(store_url) as reopened:
        events = list(reopened.read("inc-kill"))
    seqs = [e.seq for e in events]
    # Everything acknowledged is there, nothing half-written: whole batches of 20 only.
    assert seqs[: acknowledged[-1]] == list(range(1, acknowledged[-1] + 1))
    assert len(seqs) % 20 == 0
    assert len({e.idempotency_key for e in events}) == len(events)
