"""Small builders for hand-made event sequences (tests only)."""

from __future__ import annotations

from dispatch_console.domain import events as ev
from dispatch_console.domain.state import IncidentState

T0 = 1_795_000_000_000_000  # a fixed instant (2026-11-19), in microseconds
S = 1_000_000
DEVICE = ev.Actor(ev.ActorKind.DEVICE, "dev-1")
IC = ev.Actor(ev.ActorKind.CONSOLE_USER, "Lt. Hayes")
SCHOOL_LON, SCHOOL_LAT = -84.54, 38.225
INNER = {
    "type": "Polygon",
    "coordinates": [
        [
            [-84.5423, 38.2236],
            [-84.5377, 38.2236],
            [-84.5377, 38.2264],
            [-84.5423, 38.2264],
            [-84.5423, 38.2236],
        ]
    ],
}
STAGING_A = {"type": "Point", "coordinates": [-84.5459, 38.2293]}


class Recorder:
    """Builds a list of stored events with consecutive sequence numbers."""

    def __init__(self, incident_id: str = "inc-1") -> None:
        self.incident_id = incident_id
        self.events: list[ev.Event] = []

    def add(
        self, payload: ev.Payload, at_s: float = 0, actor: ev.Actor = IC, key: str | None = None
    ) -> ev.Event:
        at = T0 + int(at_s * S)
        source = ev.Source.CONSOLE if actor.kind is ev.ActorKind.CONSOLE_USER else ev.Source.FEED
        event = ev.Event(
            len(self.events) + 1,
            self.incident_id,
            payload.TYPE,
            at,
            at,
            actor,
            source,
            payload,
            key,
        )
        self.events.append(event)
        return event

    def opened(self) -> Recorder:
        self.add(
            ev.IncidentOpened("lincoln-hs", "Lincoln HS", "active_shooter", SCHOOL_LON, SCHOOL_LAT)
        )
        self.add(ev.StagingAreaSet("staging-a", "Staging A", STAGING_A, radius_m=60))
        self.add(ev.PerimeterSet("inner", "inner", INNER))
        return self

    def notified(self, *responder_ids: str, at_s: float = 1) -> Recorder:
        for rid in responder_ids:
            self.add(
                ev.ResponderNotified(rid, rid), at_s, actor=ev.Actor(ev.ActorKind.SYSTEM, "gw")
            )
        return self

    def position(
        self, rid: str, lat: float, lon: float, at_s: float, stale_s: float = 30
    ) -> ev.Event:
        at = T0 + int(at_s * S)
        payload = ev.ResponderPosition(rid, lat, lon, at, at + int(stale_s * S), speed_mps=12.0)
        return self.add(payload, at_s, actor=ev.Actor(ev.ActorKind.DEVICE, rid))

    def state(self) -> IncidentState:
        from dispatch_console.domain.fold import replay

        return replay(self.incident_id, self.events)

    def drafts(self) -> list[ev.EventDraft]:
        return [
            ev.EventDraft(
                e.incident_id, e.occurred_at_us, e.actor, e.source, e.payload, e.idempotency_key
            )
            for e in self.events
        ]
