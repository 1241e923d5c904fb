"""Child process for the kill -9 test: appends forever, printing each batch's last sequence
number only after ``append`` has returned (that is, after the commit was acknowledged)."""

from __future__ import annotations

import sys

from dispatch_console.domain import events as ev
from dispatch_console.store import Store


def main(url: str) -> None:
    store = Store(url, migrate=False)
    actor = ev.Actor(ev.ActorKind.DEVICE, "dev-1")
    batch = 0
    while True:
        batch += 1
        drafts = [
            ev.EventDraft(
                "inc-kill",
                batch * 1000 + i,
                actor,
                ev.Source.FEED,
                ev.ResponderEnRoute(f"r{i}"),
                f"dev-1/{batch}/{i}",
            )
            for i in range(20)
        ]
        stored = store.append(drafts).stored
        sys.stdout.write(f"{stored[-1].seq}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1])
