"""The monitor: keeps geofences, arrivals by geofence and warnings up to date, as events.

``Monitor.check`` derives (``domain.monitor.derive``) for each open incident the service holds
and stores what it found through the service, like any other command: checked by the decider,
stored durably, folded, published. A refusal (another console or gateway stored the same fact
first) is logged, never raised. Run it after each batch the gateway stores (``as_subscriber``)
and on a timer (positions go stale and warnings start with no event arriving).

Incremental: the monitor is told every batch the service publishes (``note``, done by its
subscriber), and re-derives only the responders those events were about, plus those whose
position went stale since (a heap by stale time). Everything is derived again when something
that concerns every responder changes (an area, the suspect description, the incident's
status, or any event it does not know to be about one responder only), and the first time it
sees an incident's state. The result is the same as deriving everything (a test compares them
over a simulated incident); the cost of a batch is in proportion to what it changed, not to
the size of the incident.
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections.abc import Callable, Iterable

from dispatch_console.domain import events as ev
from dispatch_console.domain.monitor import MONITOR, derive
from dispatch_console.domain.state import IncidentState
from dispatch_console.service.incidents import Command, IncidentService

log = logging.getLogger(__name__)


class Monitor:
    """Derives and stores the facts that follow from positions and rules.

    ``actor`` signs the events it stores (default ``system:monitor``); its own events never
    trigger it again.
    """

    def __init__(
        self,
        service: IncidentService,
        *,
        actor: ev.Actor = MONITOR,
        source: ev.Source = ev.Source.FEED,
    ) -> None:
        self.service = service
        self.actor = actor
        self.source = source
        self._running = threading.local()
        #: incident id -> responders to derive again (``None``: everything).
        self._dirty: dict[str, set[str] | None] = {}
        #: incident id -> heap of (stale_at_us, responder id) of positions folded since.
        self._stale: dict[str, list[tuple[int, str]]] = {}
        #: incident id -> the state object derived whole last (another object: derive whole).
        self._derived: dict[str, IncidentState] = {}
        self._notes = threading.Lock()
        #: Responders looked at by the last :meth:`check` (all incidents; a full derivation
        #: counts every responder of the incident): how its cost is seen and tested.
        self.evaluated = 0

    def note(self, events: Iterable[ev.Event]) -> None:
        """What these stored and folded events change for the next derivation."""
        with self._notes:
            for event in events:
                incident_id = event.incident_id
                if incident_id is None or event.type in _NEUTRAL:
                    continue
                dirty = self._dirty.get(incident_id, set())
                if dirty is None:
                    continue
                payload = event.payload
                responder_id = getattr(payload, "responder_id", None)
                if isinstance(payload, ev.ResponderPosition):
                    heap = self._stale.setdefault(incident_id, [])
                    heapq.heappush(heap, (payload.stale_at_us, payload.responder_id))
                if isinstance(responder_id, str):
                    dirty.add(responder_id)
                elif isinstance(payload, ev.WarningEnded):
                    owner = _warning_owner(payload.warning_id)
                    if owner is None:
                        dirty = None
                    else:
                        dirty.add(owner)
                elif isinstance(payload, ev.ParStarted):
                    dirty.update(payload.responder_ids)
                else:  # about the whole incident (areas, suspect, status...), or not known
                    dirty = None
                self._dirty[incident_id] = dirty

    def _changed(self, state: IncidentState, now_us: int) -> set[str] | bool | None:
        """The responders to derive again in ``state`` at ``now_us`` (taken), ``None`` for
        everything, ``False`` for nothing."""
        incident_id = state.incident_id
        with self._notes:
            dirty = self._dirty.pop(incident_id, set())
            heap = self._stale.get(incident_id)
            if self._derived.get(incident_id) is not state or dirty is None:
                self._derived[incident_id] = state
                self._stale.pop(incident_id, None)
                for r in state.responders.values():  # the positions to watch from now on
                    if r.position is not None and r.position.stale_at_us > now_us:
                        self._stale.setdefault(incident_id, []).append(
                            (r.position.stale_at_us, r.responder_id)
                        )
                heapq.heapify(self._stale.get(incident_id, []))
                return None
            while heap and heap[0][0] <= now_us:
                dirty.add(heapq.heappop(heap)[1])
            return dirty or False

    def check(
        self, incident_ids: Iterable[str] | None = None, now_us: int | None = None
    ) -> list[ev.Event]:
        """Derive and store, for each live incident (or only ``incident_ids``), what changed:
        returns the events stored. Incidents not opened, or closed with no active warning,
        are skipped."""
        wanted = set(incident_ids) if incident_ids is not None else None
        self.evaluated = 0
        self._running.active = True
        try:
            # Under the service's lock: the live states do not change while they are read,
            # and nothing is stored between reading them and storing what they imply.
            with self.service.lock:
                clock = self.service.clock() if now_us is None else now_us
                commands: list[Command] = []
                for state in self.service.live_incidents():
                    if wanted is not None and state.incident_id not in wanted:
                        continue
                    if not state.opened or (state.closed and not state.active_warnings()):
                        continue
                    # Never before the events it derives from: a feed's event times run
                    # ahead of this clock by up to the fold's tolerance (or, in a fast
                    # simulation, by much more), and an arrival must not precede its position.
                    now = clock if now_us is not None else max(clock, state.last_event_at_us)
                    changed = self._changed(state, now)
                    if changed is False:
                        continue  # nothing changed, and no position went stale
                    assert not isinstance(changed, bool)
                    self.evaluated += len(state.responders) if changed is None else len(changed)
                    for payload in derive(state, now, only=changed):
                        commands.append(
                            Command(
                                state.incident_id,
                                payload,
                                self.actor,
                                self.source,
                                now,
                                _key(state.incident_id, payload),
                            )
                        )
                if not commands:
                    return []
                outcome = self.service.execute_batch(commands)
        finally:
            self._running.active = False
        refused = [commands[index] for index in outcome.refused]
        if refused:  # another writer stored something else first: derived again next time
            self.note(
                ev.Event(0, c.incident_id, c.payload.TYPE, 0, 0, c.actor, c.source, c.payload)
                for c in refused
            )
        for index, violation in outcome.refused.items():
            command = commands[index]
            log.info(
                "monitor: %s in %s refused: %s",
                command.payload.TYPE,
                command.incident_id,
                violation,
            )
        return outcome.stored

    def as_subscriber(self) -> Callable[[list[ev.Event]], None]:
        """A service subscriber that re-derives the incidents of each published batch (not
        for the monitor's own events). Subscribe it after the other subscribers, so that
        they see each batch before the monitor's events about it."""

        def on_stored(events: list[ev.Event]) -> None:
            if getattr(self._running, "active", False):
                # Published by our own check: deriving those responders again at this instant
                # would find nothing (see ``domain.monitor``), so they are not marked.
                return
            self.note(events)
            incident_ids = {
                e.incident_id for e in events if e.incident_id is not None and e.actor != self.actor
            }
            if incident_ids:
                self.check(incident_ids)

        return on_stored


#: Events that change nothing the monitor derives from (who acknowledged what, deliveries).
_NEUTRAL = frozenset(
    {
        ev.AlertReceived.TYPE,
        ev.AlertAcknowledged.TYPE,
        ev.AlertRevised.TYPE,
        ev.DirectiveDelivered.TYPE,
        ev.DirectiveAcknowledged.TYPE,
        ev.WarningAcknowledged.TYPE,
    }
)


def _warning_owner(warning_id: str) -> str | None:
    """The responder of a warning id ``kind:responder_id:n`` (None if not of that form)."""
    kind, _, rest = warning_id.partition(":")
    responder_id, _, n = rest.rpartition(":")
    if kind not in ev.WARNING_KINDS or not responder_id or not n.isdigit():
        return None
    return responder_id


def _key(incident_id: str, payload: ev.Payload) -> str | None:
    """Warnings start and end once, even when two monitors race: keyed by their id."""
    if isinstance(payload, ev.WarningRaised):
        return f"monitor:{incident_id}:{payload.warning_id}:raised"
    if isinstance(payload, ev.WarningEnded):
        return f"monitor:{incident_id}:{payload.warning_id}:ended"
    return None
