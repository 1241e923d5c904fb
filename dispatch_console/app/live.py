"""What the console shows, kept by folding the store's events (no Qt here).

The console's views never read the database: a worker thread reads new events from the store
(in sequence order, the sequence being the truth) and the GUI thread folds each batch into a
:class:`ConsoleState` with the same fold as the service and replay. :meth:`ConsoleState.apply`
returns a :class:`Changes` record naming what changed, so each view refreshes only that.

Besides the incident states it keeps what the views need and the state does not: recent trails
of every responder (a few minutes), and the event log (the newest events, bounded).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import msgspec

from dispatch_console.domain import events as ev
from dispatch_console.domain.fold import apply
from dispatch_console.domain.reference import School
from dispatch_console.domain.state import Alert, IncidentState
from dispatch_console.importers.roads_geojson import Road

#: How far back a responder's breadcrumb trail reaches on the map.
TRAIL_WINDOW_US = 5 * 60 * 1_000_000
#: Trail points kept per responder (a report every 2 s for 5 minutes).
TRAIL_POINTS = 150
#: Events kept for the event log panel (older ones stay in the store and the CLI's ``events``).
LOG_LIMIT = 50_000

#: Event types that change where areas are drawn on the map.
AREA_TYPES = frozenset({
    ev.StagingAreaSet.TYPE, ev.StagingAreaRemoved.TYPE, ev.PerimeterSet.TYPE,
    ev.PerimeterRemoved.TYPE, ev.CheckInPointSet.TYPE, ev.IncidentOpened.TYPE,
    ev.IncidentStatusChanged.TYPE,
})  # fmt: skip
ALERT_TYPES = frozenset({ev.AlertReceived.TYPE, ev.AlertRevised.TYPE, ev.AlertAcknowledged.TYPE})


class TrailPoint(msgspec.Struct, frozen=True, gc=False):
    """One point of a trail (untracked by the cycle collector: there are hundreds of thousands)."""

    at_us: int
    lon: float
    lat: float


@dataclass
class Changes:
    """What one :meth:`ConsoleState.apply` changed."""

    #: Incidents whose state changed in any way.
    incidents: set[str] = field(default_factory=set)
    #: ``(incident_id, responder_id)`` of responders that changed (status, position, profile...).
    responders: set[tuple[str, str]] = field(default_factory=set)
    #: Incidents that gained responders (table rows to insert).
    new_responders: set[str] = field(default_factory=set)
    #: Incidents whose staging areas, perimeters or status changed (map areas to redraw).
    areas: set[str] = field(default_factory=set)
    #: ``(incident_id, alert_id)`` of alerts received in this batch, oldest first.
    new_alerts: list[tuple[str, str]] = field(default_factory=list)
    #: Any alert received or acknowledged.
    alerts: bool = False
    #: Events appended to the log, in sequence order.
    events: list[ev.Event] = field(default_factory=list)
    #: Events skipped because their sequence number was applied already.
    duplicates: int = 0

    def __bool__(self) -> bool:
        return bool(self.incidents or self.events)

    def merge(self, more: Changes) -> None:
        """Add what ``more`` changed (batches folded between two refreshes)."""
        self.incidents |= more.incidents
        self.responders |= more.responders
        self.new_responders |= more.new_responders
        self.areas |= more.areas
        self.new_alerts.extend(more.new_alerts)
        self.alerts = self.alerts or more.alerts
        self.events.extend(more.events)
        self.duplicates += more.duplicates


class ConsoleState:
    """Every incident the console holds, their trails and the event log."""

    def __init__(self, schools: Sequence[School] = (), roads: Sequence[Road] = ()) -> None:
        self.schools: dict[str, School] = {s.school_id: s for s in schools}
        #: Roads (lon/lat polylines with a class), for the basemap.
        self.roads: list[Road] = list(roads)
        self.incidents: dict[str, IncidentState] = {}
        self.trails: dict[tuple[str, str], deque[TrailPoint]] = {}
        self.log: deque[ev.Event] = deque(maxlen=LOG_LIMIT)
        self.last_seq = 0
        #: Registered roles of console users who acted (name -> role), where known (the feed
        #: reads them with the states and new events, a replay with its events): who acted as
        #: incident commander in an older record.
        self.roles: dict[str, str] = {}

    # --- loading and folding ---------------------------------------------------------------

    def load(
        self,
        states: Iterable[IncidentState],
        last_seq: int,
        backlog: Iterable[ev.Event] = (),
        roles: Mapping[str, str] | None = None,
    ) -> None:
        """Start from states read by the worker (which hands them over and keeps no copy) and
        the event log's backlog; ``last_seq`` is the store's sequence read before the states;
        ``roles``: the registered roles of the console users who acted in them."""
        self.roles.update(roles or {})
        self.log.extend(backlog)
        for state in states:
            self.incidents[state.incident_id] = state
            for responder in state.responders.values():
                trail = self._trail(state.incident_id, responder.responder_id)
                for p in responder.track:
                    trail.append(TrailPoint(p.at_us, p.lon, p.lat))
        self.last_seq = max(self.last_seq, last_seq)

    def apply(self, events: Iterable[ev.Event]) -> Changes:
        """Fold new events in sequence order; events at or below :attr:`last_seq` are skipped
        (a re-read after a reconnect applies nothing twice)."""
        changes = Changes()
        for event in events:
            if event.seq <= self.last_seq:
                changes.duplicates += 1
                continue
            self.last_seq = event.seq
            incident_id = event.incident_id
            if incident_id is None:
                continue  # reference data (imports): not part of any incident's state
            state = self.incidents.get(incident_id)
            if state is None:
                state = self.incidents[incident_id] = IncidentState(incident_id=incident_id)
            elif event.seq <= state.last_seq:
                changes.duplicates += 1  # in the state already (read while it was loaded)
                continue
            responder_id = getattr(event.payload, "responder_id", None)
            is_new = responder_id is not None and responder_id not in state.responders
            apply(state, event)
            changes.incidents.add(incident_id)
            self.log.append(event)
            changes.events.append(event)
            if responder_id is not None:
                changes.responders.add((incident_id, responder_id))
                if is_new and responder_id in state.responders:
                    changes.new_responders.add(incident_id)
            payload = event.payload
            if isinstance(payload, ev.ResponderPosition):
                self._trail(incident_id, payload.responder_id).append(
                    TrailPoint(payload.at_us, payload.lon, payload.lat)
                )
            elif event.type in AREA_TYPES:
                changes.areas.add(incident_id)
            elif event.type in ALERT_TYPES:
                changes.alerts = True
                if isinstance(payload, ev.AlertReceived):
                    changes.new_alerts.append((incident_id, payload.alert_id))
        return changes

    def _trail(self, incident_id: str, responder_id: str) -> deque[TrailPoint]:
        key = (incident_id, responder_id)
        trail = self.trails.get(key)
        if trail is None:
            trail = self.trails[key] = deque(maxlen=TRAIL_POINTS)
        return trail

    # --- questions the views ask --------------------------------------------------------------

    def trail(self, incident_id: str, responder_id: str, now_us: int) -> list[TrailPoint]:
        """The responder's positions of the last :data:`TRAIL_WINDOW_US` before ``now_us``."""
        trail = self.trails.get((incident_id, responder_id))
        if not trail:
            return []
        since = now_us - TRAIL_WINDOW_US
        return [p for p in trail if since <= p.at_us <= now_us]

    def incident(self, incident_id: str | None) -> IncidentState | None:
        """The incident ``incident_id`` (None: no incident named, or none of that id)."""
        return self.incidents.get(incident_id) if incident_id else None

    def active_incidents(self) -> list[IncidentState]:
        """Open incidents, newest first."""
        live = [s for s in self.incidents.values() if s.opened and not s.closed]
        return sorted(live, key=lambda s: s.opened_at_us, reverse=True)

    def alerts(self) -> list[tuple[IncidentState, Alert]]:
        """Every alert, unacknowledged first, then newest first."""
        pairs = [(s, a) for s in self.incidents.values() for a in s.alerts.values()]
        return sorted(
            pairs,
            key=lambda p: (p[1].acknowledged_at_us is not None, -p[1].received_at_us),
        )

    def unacknowledged_alerts(self) -> list[tuple[IncidentState, Alert]]:
        """Alerts waiting for a dispatcher, of open incidents only (an imported or closed one
        waits for nobody), live incidents before exercises."""
        waiting = [
            (s, a) for s, a in self.alerts() if a.acknowledged_at_us is None and not s.closed
        ]
        return sorted(waiting, key=lambda p: p[0].exercise)  # stable: newest first within

    def default_focus(self) -> str | None:
        """The incident a dispatcher should be looking at: the newest with an unacknowledged
        alert, else the newest active one; a live incident always before an exercise."""
        waiting = self.unacknowledged_alerts()
        if waiting:
            return waiting[0][0].incident_id
        active = sorted(self.active_incidents(), key=lambda s: s.exercise)
        return active[0].incident_id if active else None
