"""An event labelled as the system or a device carrying a console user's decision (an incident
commander's acknowledgement, an identification) is refused by the store (issue 16)."""

from __future__ import annotations

import msgspec
import pytest

from dispatch_console.domain import events as ev
from dispatch_console.store import RawDraft, Store, StoreError
from tests.builders import IC, T0, Recorder

SYSTEM = ev.Actor(ev.ActorKind.SYSTEM, "gateway")
DEVICE = ev.Actor(ev.ActorKind.DEVICE, "dev-stranger")


@pytest.mark.parametrize("actor", [SYSTEM, DEVICE], ids=["system", "device"])
def test_an_ic_decision_labelled_system_or_device_is_refused(store: Store, actor: ev.Actor) -> None:
    rec = Recorder("inc-1").opened()
    rec.add(ev.AlertReceived("a1", "lincoln-hs", "active_shooter", T0), 1, actor=SYSTEM)
    store.append(rec.drafts())
    before = store.last_seq()
    ack = ev.AlertAcknowledged("a1", IC.name)
    with pytest.raises(StoreError, match="console user's decision"):
        store.append([ev.EventDraft("inc-1", T0, actor, ev.Source.FEED, ack)])
    # Through the gateway's raw path: that one draft refused, the rest of the batch stored.
    position = ev.ResponderPosition("r1", 38.2, -84.5, T0, T0 + 30_000_000)
    with store.writing() as tx:
        result = tx.append_raw(
            [
                RawDraft("inc-1", T0, actor, ev.Source.FEED, ack.TYPE, msgspec.json.encode(ack)),
                RawDraft(
                    "inc-1",
                    T0,
                    DEVICE,
                    ev.Source.FEED,
                    position.TYPE,
                    msgspec.json.encode(position),
                ),
            ]
        )
    assert list(result.refused) == [0] and "console user's decision" in result.refused[0]
    assert [e.type for e in result.stored] == [position.TYPE]
    assert store.last_seq() == before + 1
    # The same decision by the registered incident commander is stored.
    store.append([ev.EventDraft("inc-1", T0, IC, ev.Source.CONSOLE, ack)])
    assert store.last_seq() == before + 2
