"""Commands in, events out.

``execute`` checks each proposed payload with the domain's decider against the incident's live
state, appends the resulting events in one durable transaction, folds the stored events into
the live state and hands them to subscribers (the console's bus, the gateway's outbound queue).
Nothing else writes incident state.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable, Sequence

from dispatch_console.domain import events as ev
from dispatch_console.domain.decide import validate
from dispatch_console.domain.fold import apply, fold
from dispatch_console.domain.reference import School
from dispatch_console.domain.state import IncidentState, decode_state, encode_state
from dispatch_console.domain.timeutil import from_us
from dispatch_console.store import Store, StoreError

Subscriber = Callable[[list[ev.Event]], None]


class IncidentService:
    def __init__(self, store: Store, *, clock: Callable[[], int] | None = None) -> None:
        self.store = store
        self.clock = clock or store._clock
        self._lock = threading.RLock()
        self._live: dict[str, IncidentState] = {}
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def state(self, incident_id: str) -> IncidentState:
        """The live state (kept in memory after the first call)."""
        with self._lock:
            state = self._live.get(incident_id)
            if state is None:
                state = self._live[incident_id] = self.store.state_at(incident_id)
            return state

    def execute(
        self,
        incident_id: str,
        payloads: Sequence[ev.Payload],
        *,
        actor: ev.Actor,
        source: ev.Source,
        occurred_at_us: int | None = None,
        idempotency_keys: Sequence[str | None] | None = None,
    ) -> list[ev.Event]:
        """Validate and store ``payloads`` as events of ``incident_id``, all or none.

        Raises ``RuleViolation`` (nothing stored) if any payload breaks a rule in the state
        left by the ones before it.
        """
        occurred = self.clock() if occurred_at_us is None else occurred_at_us
        keys = list(idempotency_keys) if idempotency_keys is not None else [None] * len(payloads)
        with self._lock:
            try:
                state = self.state(incident_id)
            except StoreError:
                state = self._live[incident_id] = IncidentState(incident_id=incident_id)
            scratch = state if len(payloads) == 1 else decode_state(encode_state(state))
            for payload in payloads:
                validate(scratch, payload)
                if scratch is not state:
                    apply(scratch, _provisional(incident_id, occurred, actor, source, payload))
            drafts = [
                ev.EventDraft(incident_id, occurred, actor, source, payload, key)
                for payload, key in zip(payloads, keys, strict=True)
            ]
            result = self.store.append(drafts)
            fold(result.stored, state)
            for subscriber in self._subscribers:
                subscriber(result.stored)
            return result.stored

    def open_incident(
        self,
        school: School,
        alert: ev.AlertReceived,
        *,
        actor: ev.Actor,
        source: ev.Source,
        exercise: bool = False,
        occurred_at_us: int | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[str, list[ev.Event]]:
        """Open an incident at ``school`` for ``alert``, with the school's pre-plan in force."""
        occurred = self.clock() if occurred_at_us is None else occurred_at_us
        incident_id = new_incident_id(school.school_id, occurred)
        payloads: list[ev.Payload] = [
            ev.IncidentOpened(
                school.school_id, school.name, alert.alert_type, school.lon, school.lat, exercise
            ),
            alert,
        ]
        plan = school.pre_plan
        for area in plan.staging_areas:
            payloads.append(
                ev.StagingAreaSet(
                    area.area_id, area.name, area.geometry, area.radius_m, None, area.capacity
                )
            )
        if plan.inner_perimeter is not None:
            area = plan.inner_perimeter
            payloads.append(ev.PerimeterSet(area.area_id, "inner", area.geometry, area.radius_m))
        if plan.outer_perimeter is not None:
            area = plan.outer_perimeter
            payloads.append(ev.PerimeterSet(area.area_id, "outer", area.geometry, area.radius_m))
        if plan.check_in is not None:
            payloads.append(
                ev.CheckInPointSet(plan.check_in.name, plan.check_in.lon, plan.check_in.lat)
            )
        keys: list[str | None] = [None] * len(payloads)
        keys[1] = idempotency_key
        events = self.execute(
            incident_id,
            payloads,
            actor=actor,
            source=source,
            occurred_at_us=occurred,
            idempotency_keys=keys,
        )
        return incident_id, events


def new_incident_id(school_id: str, occurred_us: int) -> str:
    """Readable and unique: ``20261124-0914-lincoln-hs-7f3a``."""
    stamp = from_us(occurred_us).strftime("%Y%m%d-%H%M")
    slug = re.sub(r"[^a-z0-9]+", "-", school_id.lower()).strip("-")[:32]
    return f"{stamp}-{slug}-{secrets.token_hex(2)}"


def _provisional(
    incident_id: str, occurred: int, actor: ev.Actor, source: ev.Source, payload: ev.Payload
) -> ev.Event:
    return ev.Event(0, incident_id, payload.TYPE, occurred, occurred, actor, source, payload)
