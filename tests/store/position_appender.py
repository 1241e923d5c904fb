"""Child process for the kill -9 test of the position fast path: records batches of positions
through ``IncidentService.record_positions`` forever, printing each batch's last sequence
number only after the call has returned (that is, after the commit was acknowledged)."""

from __future__ import annotations

import sys

from dispatch_console.domain import events as ev
from dispatch_console.service import Command, IncidentService, PositionFields, PositionReport
from dispatch_console.store import Store

BATCH = 50
GW = ev.Actor(ev.ActorKind.SYSTEM, "gateway")


def main(url: str, incident: str) -> None:
    store = Store(url, migrate=False)
    service = IncidentService(store)
    batch = 0
    while True:
        batch += 1
        responder = f"r{batch}"
        actor = ev.Actor(ev.ActorKind.DEVICE, responder)
        at = 1_795_000_000_000_000 + batch * 1_000_000
        # Each batch makes its responder first (a command), then stores its positions.
        join = Command(incident, ev.ResponderNotified(responder, responder), GW, ev.Source.FEED, at)
        reports = [
            PositionReport(
                incident,
                actor,
                ev.Source.FEED,
                PositionFields(responder, 38.2, -84.5 + i * 1e-6, at + i, at + i + 30_000_000),
                f"cot:{at + i}:{responder}:{incident}",
            )
            for i in range(BATCH)
        ]
        stored = service.record_positions(reports, [join]).stored
        assert len(stored) == BATCH + 1
        sys.stdout.write(f"{stored[-1].seq}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
