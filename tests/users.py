"""Console users for tests: the service refuses incident events by console users who are not
registered in the store (or whose role only watches), so a test that writes as one registers
it first."""

from __future__ import annotations

from dispatch_console.domain import events as ev
from dispatch_console.store import Store


def register(target: Store | str, *actors: ev.Actor, role: str = "incident commander") -> None:
    """Register the console users among ``actors`` in ``role`` (a store, or its URL)."""
    store = target if isinstance(target, Store) else Store(target)
    try:
        for actor in actors:
            if actor.kind is ev.ActorKind.CONSOLE_USER:
                store.set_user(actor.name, role)
    finally:
        if store is not target:
            store.close()
