"""The monitor: keeps geofences, arrivals by geofence and warnings up to date, as events.

``Monitor.check`` derives (``domain.monitor.derive``) for each open incident the service holds
and stores what it found through the service, like any other command: checked by the decider,
stored durably, folded, published. A refusal (another console or gateway stored the same fact
first) is logged, never raised. Run it after each batch the gateway stores (``as_subscriber``)
and on a timer (positions go stale and warnings start with no event arriving).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from dispatch_console.domain import events as ev
from dispatch_console.domain.monitor import MONITOR, derive
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

    def check(
        self, incident_ids: Iterable[str] | None = None, now_us: int | None = None
    ) -> list[ev.Event]:
        """Derive and store, for each live incident (or only ``incident_ids``), what changed:
        returns the events stored. Incidents not opened, or closed with no active warning,
        are skipped."""
        wanted = set(incident_ids) if incident_ids is not None else None
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
                    for payload in derive(state, now):
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
                return  # published by our own check
            incident_ids = {
                e.incident_id for e in events if e.incident_id is not None and e.actor != self.actor
            }
            if incident_ids:
                self.check(incident_ids)

        return on_stored


def _key(incident_id: str, payload: ev.Payload) -> str | None:
    """Warnings start and end once, even when two monitors race: keyed by their id."""
    if isinstance(payload, ev.WarningRaised):
        return f"monitor:{incident_id}:{payload.warning_id}:raised"
    if isinstance(payload, ev.WarningEnded):
        return f"monitor:{incident_id}:{payload.warning_id}:ended"
    return None
