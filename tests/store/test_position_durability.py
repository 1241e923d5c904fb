"""A batch of positions recorded through the fast path survives kill -9 of the process that
recorded it once the call returned, and a batch cut short leaves nothing: whole batches only."""

from __future__ import annotations

from pathlib import Path

from dispatch_console.domain import events as ev
from dispatch_console.service import IncidentService
from dispatch_console.store import Store
from tests.store.killed import acknowledged_then_killed
from tests.store.position_appender import BATCH
from tests.store.test_service import ALERT, GW, SCHOOL

APPENDER = Path(__file__).with_name("position_appender.py")


def test_every_returned_batch_of_positions_is_present_after_kill_9(
    store: Store, store_url: str
) -> None:
    incident, opened = IncidentService(store).open_incident(
        SCHOOL, ALERT, actor=GW, source=ev.Source.FEED
    )
    acknowledged = acknowledged_then_killed(APPENDER, store_url, incident, count=60)

    with Store(store_url) as reopened:
        events = list(reopened.read(incident))[len(opened) :]
        state = reopened.state_at(incident)
    first = len(opened) + 1
    seqs = [e.seq for e in events]
    # Everything acknowledged is there, contiguous; nothing half-written: whole batches only.
    assert seqs[: acknowledged[-1] - first + 1] == list(range(first, acknowledged[-1] + 1))
    assert seqs == list(range(first, first + len(seqs)))
    assert len(events) % (BATCH + 1) == 0
    positions = [e for e in events if isinstance(e.payload, ev.ResponderPosition)]
    assert len(positions) == len(events) // (BATCH + 1) * BATCH
    assert len({e.idempotency_key for e in positions}) == len(positions)
    # Every responder whose batch is stored is there with its newest position.
    for event in positions:
        responder = state.responders[event.payload.responder_id]
        assert responder.position is not None
