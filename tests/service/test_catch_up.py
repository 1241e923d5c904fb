"""What other writers store reaches this service's subscribers once: in catch_up, and when it
is folded in under the write lock before this service's own batch."""

from __future__ import annotations

from dispatch_console.domain import events as ev
from dispatch_console.service import IncidentService
from dispatch_console.store import Store
from tests.ui.factory import SCHOOL_ACTOR, demo_schools
from tests.users import register

CONSOLE = ev.Actor(ev.ActorKind.CONSOLE_USER, "Lt. Hayes")


def _open(service: IncidentService) -> str:
    school = demo_schools()[0]
    service.store.upsert_schools([school])
    alert = ev.AlertReceived("act-1", school.school_id, "active_shooter", service.clock())
    incident, _ = service.open_incident(school, alert, actor=SCHOOL_ACTOR, source=ev.Source.FEED)
    return incident


def test_an_incident_opened_elsewhere_is_read_whole_positions_included(store_url: str) -> None:
    gateway = IncidentService(Store(store_url))
    gateway.load_active()
    seen: list[ev.Event] = []
    gateway.subscribe(seen.extend)
    other = IncidentService(Store(store_url))
    incident = _open(other)
    school = demo_schools()[0]
    now = other.clock()
    other.execute(
        incident,
        [
            ev.ResponderNotified("r1", "d1"),
            ev.ResponderPosition("r1", school.lat, school.lon, now, now + 30_000_000),
        ],
        actor=SCHOOL_ACTOR,
        source=ev.Source.FEED,
    )
    published = gateway.catch_up()
    state = gateway.state(incident)
    assert state == other.state(incident)
    assert state.responders["r1"].position is not None  # not lost with the position filter
    assert {e.type for e in published} >= {"incident_opened", "alert_received"}
    assert "responder_position" not in {e.type for e in published}
    assert gateway.catch_up() == []  # nothing twice
    other.store.close()
    gateway.store.close()


def test_a_console_directive_folded_before_a_gateway_write_is_still_published(
    store_url: str,
) -> None:
    gateway = IncidentService(Store(store_url))
    incident = _open(gateway)
    gateway.execute(
        incident, [ev.ResponderNotified("r1", "d1")], actor=SCHOOL_ACTOR, source=ev.Source.FEED
    )
    gateway.catch_up()  # the starting point
    seen: list[ev.Event] = []
    gateway.subscribe(seen.extend)
    console = IncidentService(Store(store_url))
    register(console.store, CONSOLE, role="dispatcher")  # a dispatcher assumes no command
    directive = ev.DirectiveQueued("dir-1", "r1", "d1", "message", "Stand by at staging A")
    console.execute(incident, [directive], actor=CONSOLE, source=ev.Source.CONSOLE)
    # The gateway writes before its catch-up runs: the directive is folded in under the lock.
    gateway.execute(
        incident, [ev.ResponderAcknowledged("r1", True)], actor=SCHOOL_ACTOR, source=ev.Source.FEED
    )
    assert [e.type for e in seen] == ["directive_queued", "responder_acknowledged"]
    assert gateway.catch_up() == []  # published once
    console.store.close()
    gateway.store.close()
