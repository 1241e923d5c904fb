"""After-action metrics (domain notes, "Replay metrics"), computed from an incident's events.

Everything here is a function of the events alone, folded in sequence order with the console's
own fold, on the timeline's time axis (:func:`~dispatch_console.replay.timeline.cursor_times`:
event time, never going backwards). So the live run, its replay and the same incident imported
on another machine (which keeps received times too: the fold caps a device clock running ahead
by them, live and in replay alike) give the same figures.

Definitions (all times are cursor times of events):

- **Activation**: the first alert's ``activated_at`` (the school's own time of the press),
  never later than the alert was recorded; with no alert, the incident's opening.
- **Time to dispatcher acknowledgement**: activation to the first ``alert_acknowledged``.
- **Time to first responder on scene**: activation to the first ``responder_arrived`` at the
  scene (``place == "scene"``); **to first arrival**: at staging or on scene.
- **Time to first identified / first assignment**: to the first ``responder_identified`` /
  ``responder_assigned``. Each is ``None`` when it never happened.
- **Self-dispatched**: responders with the fold's lasting flag (went en route or arrived without
  being directed). The share is of the responders who *responded* (went en route or arrived).
- **Bypassed staging**: a ``bypassing_staging`` warning was raised for them, or, after being
  directed to a staging area (``responder_directed``) and before ever arriving at staging, they
  arrived on scene or entered the inner perimeter.
- **Never identified**: arrived (staging or scene) and not identified by the last event.
- **Inside the inner perimeter**: from ``perimeter_entered``/``perimeter_exited`` events (what the
  console's monitor recorded) when the incident has any; otherwise from each responder's last
  accepted position against the inner perimeters in force (:class:`GeofenceIndex`, as the
  monitor would have decided). :attr:`Metrics.inside_from` says which.
- **Unidentified inside the inner perimeter** (peak, and exposure in person-minutes): inside an
  inner perimeter, not identified, not released, while the incident is active. Exposure ends
  at exit, identification, release, removal of the perimeter, all clear or cancellation, or
  the last event. The peak is the highest count at any instant (after all events of that
  instant).
- **Stale inside perimeters** (person-minutes): inside any perimeter (inner or outer), not
  released, incident active, and the last accepted position stale (``now >= stale_at``, the
  fold's capped stale time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from dispatch_console.domain import events as ev
from dispatch_console.domain.fold import HANDLERS
from dispatch_console.domain.geometry import local_frame
from dispatch_console.domain.lifecycle import ResponderStatus
from dispatch_console.domain.state import IncidentState, Perimeter, Position, Responder
from dispatch_console.domain.warnings import GeofenceIndex
from dispatch_console.replay.timeline import cursor_times, paused_collector

__all__ = ["STATUSES", "Metrics", "Series", "compute", "series"]

US_PER_MINUTE = 60_000_000
#: :func:`series` samples at most this many instants.
MAX_SAMPLES = 200_000
#: Lifecycle statuses in the order the charts stack them.
STATUSES: tuple[str, ...] = tuple(s.value for s in ResponderStatus)

_PERIMETER_EVENTS = frozenset({ev.PerimeterEntered.TYPE, ev.PerimeterExited.TYPE})
_AREA_CHANGES = frozenset({ev.PerimeterSet.TYPE, ev.PerimeterRemoved.TYPE, ev.IncidentOpened.TYPE})
#: Events after which every responder's exposure is looked at again.
_EVERYONE = frozenset({
    ev.IncidentStatusChanged.TYPE, ev.PerimeterRemoved.TYPE, ev.PerimeterSet.TYPE,
    ev.IncidentOpened.TYPE,
})  # fmt: skip
_NEVER = -(2**62)


@dataclass(frozen=True)
class Metrics:
    """The after-action figures of one incident; durations in microseconds (``None``: it
    never happened); responder lists as sorted ids."""

    incident_id: str
    exercise: bool
    start_us: int
    end_us: int
    activated_at_us: int
    closed_at_us: int | None
    to_acknowledgement_us: int | None
    acknowledged_by: str | None
    to_first_arrival_us: int | None
    to_first_on_scene_us: int | None
    to_first_identified_us: int | None
    to_first_assignment_us: int | None
    notified: int
    responded: int
    self_dispatched: tuple[str, ...]
    bypassed_staging: tuple[str, ...]
    never_identified: tuple[str, ...]
    peak_unidentified_inner: int
    peak_unidentified_inner_at_us: int | None
    #: Person-microseconds unidentified inside the inner perimeter, in all and per responder.
    exposure_us: int
    exposure_by_responder: tuple[tuple[str, int], ...]
    #: Person-microseconds of stale positions inside perimeters.
    stale_inside_us: int
    inside_from: Literal["perimeter_events", "positions"]

    @property
    def self_dispatched_count(self) -> int:
        return len(self.self_dispatched)

    @property
    def self_dispatched_share(self) -> float | None:
        """Self-dispatched among those who responded (``None`` if nobody responded)."""
        return len(self.self_dispatched) / self.responded if self.responded else None

    @property
    def exposure_person_minutes(self) -> float:
        return self.exposure_us / US_PER_MINUTE

    @property
    def stale_inside_person_minutes(self) -> float:
        return self.stale_inside_us / US_PER_MINUTE

    def rows(self) -> list[tuple[str, str]]:
        """``(label, value)`` lines for a report or a panel."""

        def span(us: int | None) -> str:
            if us is None:
                return "never"
            sign, us = ("-", -us) if us < 0 else ("", us)
            seconds = round(us / 1_000_000)
            return f"{sign}{seconds // 60}:{seconds % 60:02d} (m:s)"

        def names(ids: tuple[str, ...]) -> str:
            return f"{len(ids)}" + (f" ({', '.join(ids)})" if ids else "")

        share = self.self_dispatched_share
        return [
            ("Activation to dispatcher acknowledgement", span(self.to_acknowledgement_us)),
            ("Activation to first responder on scene", span(self.to_first_on_scene_us)),
            ("Activation to first arrival (staging or scene)", span(self.to_first_arrival_us)),
            ("Activation to first identified responder", span(self.to_first_identified_us)),
            ("Activation to first assignment", span(self.to_first_assignment_us)),
            ("Responders notified / responded", f"{self.notified} / {self.responded}"),
            (
                "Self-dispatched",
                f"{len(self.self_dispatched)}"
                + (f" ({share:.0%} of those who responded)" if share is not None else ""),
            ),
            ("Bypassed staging", names(self.bypassed_staging)),
            ("Arrived, never identified", names(self.never_identified)),
            ("Peak unidentified inside the inner perimeter", str(self.peak_unidentified_inner)),
            (
                "Blue-on-blue exposure (person-minutes unidentified inside the inner perimeter)",
                f"{self.exposure_person_minutes:.1f}",
            ),
            (
                "Stale positions inside perimeters (person-minutes)",
                f"{self.stale_inside_person_minutes:.1f}",
            ),
        ]


@dataclass
class Series:
    """Figures sampled every ``step_us`` for the charts (numpy arrays, one column per instant).

    ``status_counts[i, k]``: responders in status ``statuses[i]`` at ``times_us[k]`` (stack the
    rows in this order). ``unidentified_inner[k]``: unidentified responders inside the inner
    perimeter (as in :class:`Metrics`). ``distance_m[j, k]``: distance in metres from the school
    of responder ``responder_ids[j]``'s last known position (NaN before their first)."""

    times_us: NDArray[np.int64]
    statuses: tuple[str, ...]
    status_counts: NDArray[np.int32]
    unidentified_inner: NDArray[np.int32]
    responder_ids: tuple[str, ...]
    distance_m: NDArray[np.float32]
    inside_from: Literal["perimeter_events", "positions"] = "perimeter_events"

    def distance_of(self, responder_id: str) -> NDArray[np.float32]:
        row: NDArray[np.float32] = self.distance_m[self.responder_ids.index(responder_id)]
        return row


@dataclass
class _Track:
    """One responder's open intervals (since when) and what the metrics learned of them."""

    exposed_since: int | None = None
    inside_since: int | None = None
    stale_at_us: int = _NEVER
    exposure_us: int = 0
    reached_staging: bool = False
    #: Inside an inner perimeter (and counted) after the last update.
    inner: bool = False


@dataclass
class _Sweep:
    """Folds the events one at a time (the console's fold) and integrates the intervals."""

    events: Sequence[ev.Event]
    times: list[int]
    incident_id: str
    state: IncidentState = field(init=False)
    from_positions: bool = field(init=False)
    next: int = 0
    now_us: int = _NEVER
    tracks: dict[str, _Track] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    exposed: int = 0
    peak: int = 0
    peak_at_us: int | None = None
    stale_inside_us: int = 0
    bypassed: set[str] = field(default_factory=set)
    firsts: dict[str, int] = field(default_factory=dict)
    activated_at_us: int | None = None
    closed_at_us: int | None = None
    acknowledged_by: str | None = None
    index: GeofenceIndex | None = None
    #: Event index -> the perimeters its position lies in (positions in none are left out).
    places: dict[int, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.state = IncidentState(incident_id=self.incident_id)
        self.from_positions = not any(e.type in _PERIMETER_EVENTS for e in self.events)
        if self.from_positions:
            self.places = _position_places(self.events)

    # -- stepping ---------------------------------------------------------------------------

    def advance_to(self, t_us: int) -> None:
        """Fold every event with cursor time at most ``t_us``."""
        events, times = self.events, self.times
        with paused_collector():
            while self.next < len(events) and times[self.next] <= t_us:
                self._step(events[self.next], times[self.next])
                self.next += 1
        self._instant(t_us)

    def _instant(self, t_us: int) -> None:
        """Time moves on to ``t_us``: the count reached at the previous instant is final."""
        if t_us > self.now_us:
            if self.exposed > self.peak:
                self.peak, self.peak_at_us = self.exposed, self.now_us
            self.now_us = t_us

    def _step(self, event: ev.Event, t: int) -> None:
        self._instant(t)
        state = self.state
        kind = event.type
        payload = event.payload
        rid: str | None = getattr(payload, "responder_id", None)
        before = state.responders.get(rid) if rid is not None else None
        if kind == ev.ResponderPosition.TYPE:
            position = before.position if before is not None else None
            HANDLERS[kind](state, event)
            if before is None or before.position is position:
                return  # an older position (or an unknown responder): nothing moved
            if self.from_positions:
                self._locate(before, self.next)
            track = self.tracks.get(before.responder_id)
            if (track is not None and track.inside_since is not None) or before.inside_perimeters:
                self._update(before, t)  # a new position: a new stale time
            return
        directed = before is not None and before.directed_to is not None
        HANDLERS[kind](state, event)
        if kind in _AREA_CHANGES:
            if kind == ev.PerimeterSet.TYPE:
                assert isinstance(payload, ev.PerimeterSet)
                self.kinds[payload.perimeter_id] = payload.kind
            elif kind == ev.IncidentOpened.TYPE:
                self.firsts.setdefault("opened", t)
            if self.from_positions:
                self.index = None
                for r in state.responders.values():
                    self._locate(r)
        elif kind == ev.PerimeterEntered.TYPE:
            assert isinstance(payload, ev.PerimeterEntered)
            self.kinds.setdefault(payload.perimeter_id, payload.kind)
        elif kind == ev.AlertReceived.TYPE:
            assert isinstance(payload, ev.AlertReceived)
            if self.activated_at_us is None:
                self.activated_at_us = min(payload.activated_at_us, t)
        elif kind == ev.AlertAcknowledged.TYPE:
            assert isinstance(payload, ev.AlertAcknowledged)
            alert = state.alerts.get(payload.alert_id)
            acknowledged = alert is not None and alert.acknowledged_at_us is not None
            if acknowledged and "ack" not in self.firsts:
                self.firsts["ack"] = t
                self.acknowledged_by = alert.acknowledged_by if alert else None
        elif kind == ev.IncidentStatusChanged.TYPE:
            if state.status != "active" and self.closed_at_us is None:
                self.closed_at_us = t
        elif kind == ev.WarningRaised.TYPE:
            assert isinstance(payload, ev.WarningRaised)
            if payload.kind == "bypassing_staging":
                self.bypassed.add(payload.responder_id)
        if kind in _EVERYONE:
            for r in state.responders.values():
                self._update(r, t)
        elif before is not None:
            self._milestones(kind, payload, before, t, directed)
            self._update(before, t)

    def _milestones(
        self, kind: str, payload: ev.Payload, r: Responder, t: int, directed: bool
    ) -> None:
        firsts = self.firsts
        if kind == ev.ResponderArrived.TYPE:
            assert isinstance(payload, ev.ResponderArrived)
            firsts.setdefault("arrival", t)
            track = self._track(r.responder_id)
            if payload.place == "staging":
                track.reached_staging = True
            else:
                firsts.setdefault("scene", t)
                if directed and not track.reached_staging:
                    self.bypassed.add(r.responder_id)
        elif kind == ev.ResponderIdentified.TYPE:
            firsts.setdefault("identified", t)
        elif kind == ev.ResponderAssigned.TYPE:
            firsts.setdefault("assigned", t)

    # -- where responders are (from positions, when the events do not say) -------------------

    def _locate(self, r: Responder, at: int | None = None) -> None:
        """Set ``r``'s perimeters from its last accepted position: the one of event ``at``
        (located beforehand, all together), or located now (after an area changed)."""
        pos: Position | None = r.position
        if pos is None:
            return
        if at is not None:
            inside = list(self.places.get(at, ()))
        else:
            state = self.state
            if self.index is None:
                self.index = GeofenceIndex(state.lon, state.lat, (), state.perimeters.values())
            inside = list(self.index.place_of(pos.lon, pos.lat).perimeters)
        if inside != r.inside_perimeters:
            r.inside_perimeters = inside
            self._update(r, self.now_us)

    # -- intervals ----------------------------------------------------------------------------

    def _track(self, rid: str) -> _Track:
        track = self.tracks.get(rid)
        if track is None:
            track = self.tracks[rid] = _Track()
        return track

    def _update(self, r: Responder, t: int) -> None:
        """Close ``r``'s open intervals at ``t`` and open them again as ``r`` is now."""
        track = self._track(r.responder_id)
        state = self.state
        counting = state.opened and state.status == "active" and r.status != "released"
        inside = counting and bool(r.inside_perimeters)
        inner = inside and any(self._is_inner(p) for p in r.inside_perimeters)
        if inner and not track.inner and r.directed_to is not None and not track.reached_staging:
            self.bypassed.add(r.responder_id)  # directed to staging, went into the hot zone
        track.inner = inner
        self._close(track, t)
        if inner and r.identification is None:
            track.exposed_since = t
            self.exposed += 1
        if inside:
            track.inside_since = t
            track.stale_at_us = r.position.stale_at_us if r.position is not None else _NEVER

    def _close(self, track: _Track, t: int) -> None:
        if track.exposed_since is not None:
            track.exposure_us += t - track.exposed_since
            track.exposed_since = None
            self.exposed -= 1
        if track.inside_since is not None:
            stale_from = max(track.inside_since, track.stale_at_us)
            if t > stale_from:
                self.stale_inside_us += t - stale_from
            track.inside_since = None

    def _is_inner(self, perimeter_id: str) -> bool:
        kind = self.kinds.get(perimeter_id)
        if kind is None:
            perimeter = self.state.perimeters.get(perimeter_id)
            kind = perimeter.kind if perimeter is not None else None
        return kind == "inner"

    def finish(self, end_us: int) -> None:
        """Fold everything and close every open interval at ``end_us`` (the last event)."""
        self.advance_to(end_us)
        self._instant(end_us + 1)
        for track in self.tracks.values():
            self._close(track, end_us)


def _position_places(events: Sequence[ev.Event]) -> dict[int, tuple[str, ...]]:
    """The perimeters each position event lies in, against the perimeters in force when it was
    stored: located together for each stretch of events between two changes of the areas."""
    lon0 = lat0 = 0.0
    perimeters: dict[str, Perimeter] = {}
    stretches: list[tuple[float, float, list[Perimeter], list[int]]] = []
    current: list[int] = []
    position_type = ev.ResponderPosition.TYPE
    for i, e in enumerate(events):
        kind = e.type
        if kind == position_type:
            current.append(i)
            continue
        p = e.payload
        if isinstance(p, ev.IncidentOpened | ev.PerimeterSet | ev.PerimeterRemoved):
            if current:
                stretches.append((lon0, lat0, list(perimeters.values()), current))
                current = []
            if isinstance(p, ev.IncidentOpened):
                lon0, lat0 = p.lon, p.lat
            elif isinstance(p, ev.PerimeterSet):
                perimeters[p.perimeter_id] = Perimeter(
                    p.perimeter_id, p.kind, p.geometry, p.radius_m
                )
            else:
                perimeters.pop(p.perimeter_id, None)
    if current:
        stretches.append((lon0, lat0, list(perimeters.values()), current))
    places: dict[int, tuple[str, ...]] = {}
    for lon, lat, areas, indexes in stretches:
        if not areas:
            continue
        index = GeofenceIndex(lon, lat, (), areas)
        payloads = [events[i].payload for i in indexes]
        lons = np.array([p.lon for p in payloads], dtype=np.float64)  # type: ignore[attr-defined]
        lats = np.array([p.lat for p in payloads], dtype=np.float64)  # type: ignore[attr-defined]
        found = index.places(*index.locate(*index.to_plane_many(lons, lats)), len(indexes))
        for i, place in zip(indexes, found, strict=True):
            if place.perimeters:
                places[i] = place.perimeters
    return places


def compute(events: Sequence[ev.Event], *, incident_id: str | None = None) -> Metrics:
    """The metrics of one incident's events (in sequence order)."""
    if not events:
        raise ValueError("no events: nothing to measure")
    times = cursor_times(events)
    sweep = _Sweep(events, times, incident_id or events[0].incident_id or "")
    end = times[-1]
    sweep.finish(end)
    state = sweep.state
    start = times[0]
    activated = sweep.activated_at_us
    if activated is None:
        activated = sweep.firsts.get("opened", start)

    def since(name: str) -> int | None:
        at = sweep.firsts.get(name)
        return None if at is None else at - activated

    responders = state.responders.values()
    exposure = tuple(
        sorted((rid, t.exposure_us) for rid, t in sweep.tracks.items() if t.exposure_us)
    )
    return Metrics(
        incident_id=state.incident_id,
        exercise=state.exercise,
        start_us=start,
        end_us=end,
        activated_at_us=activated,
        closed_at_us=sweep.closed_at_us,
        to_acknowledgement_us=since("ack"),
        acknowledged_by=sweep.acknowledged_by,
        to_first_arrival_us=since("arrival"),
        to_first_on_scene_us=since("scene"),
        to_first_identified_us=since("identified"),
        to_first_assignment_us=since("assigned"),
        notified=len(state.responders),
        responded=sum(1 for r in responders if r.en_route_at_us is not None),
        self_dispatched=tuple(sorted(r.responder_id for r in responders if r.self_dispatched)),
        bypassed_staging=tuple(sorted(sweep.bypassed & set(state.responders))),
        never_identified=tuple(
            sorted(
                r.responder_id
                for r in responders
                if r.arrived_at_us is not None and r.identification is None
            )
        ),
        peak_unidentified_inner=sweep.peak,
        peak_unidentified_inner_at_us=sweep.peak_at_us if sweep.peak else None,
        exposure_us=sum(us for _, us in exposure),
        exposure_by_responder=exposure,
        stale_inside_us=sweep.stale_inside_us,
        inside_from="positions" if sweep.from_positions else "perimeter_events",
    )


def series(
    events: Sequence[ev.Event],
    step_us: int,
    *,
    start_us: int | None = None,
    end_us: int | None = None,
    incident_id: str | None = None,
) -> Series:
    """Figures every ``step_us`` from ``start_us`` to ``end_us`` (default: the first and last
    event's cursor times; the last instant is always sampled)."""
    if step_us <= 0:
        raise ValueError("step_us must be positive")
    if not events:
        raise ValueError("no events: nothing to chart")
    times = cursor_times(events)
    start = times[0] if start_us is None else start_us
    end = times[-1] if end_us is None else end_us
    if (end - start) // step_us > MAX_SAMPLES:
        raise ValueError(
            f"{(end - start) // step_us + 1:,} instants to sample: more than {MAX_SAMPLES:,} "
            "(use a longer step)"
        )
    instants = list(range(start, end + 1, step_us)) or [start]
    if instants[-1] != end and end > start:
        instants.append(end)
    sweep = _Sweep(events, times, incident_id or events[0].incident_id or "")
    statuses = {s: i for i, s in enumerate(STATUSES)}
    counts = np.zeros((len(STATUSES), len(instants)), dtype=np.int32)
    unidentified = np.zeros(len(instants), dtype=np.int32)
    rows: dict[str, int] = {}
    columns: list[tuple[list[int], list[float], list[float]]] = []
    frame = None
    for k, t in enumerate(instants):
        sweep.advance_to(t)
        state = sweep.state
        unidentified[k] = sweep.exposed
        column_rows: list[int] = []
        lons: list[float] = []
        lats: list[float] = []
        for rid, r in state.responders.items():
            counts[statuses[r.status.value], k] += 1
            if r.position is not None:
                row = rows.get(rid)
                if row is None:
                    row = rows[rid] = len(rows)
                column_rows.append(row)
                lons.append(r.position.lon)
                lats.append(r.position.lat)
        columns.append((column_rows, lons, lats))
        if frame is None and state.opened:
            frame = local_frame(state.lon, state.lat)
    distance = np.full((len(rows), len(instants)), np.nan, dtype=np.float32)
    if frame is not None and rows:
        all_lons = [lon for _, lons, _ in columns for lon in lons]
        all_lats = [lat for _, _, lats in columns for lat in lats]
        xs, ys = frame.to_local_many(all_lons, all_lats)
        metres = np.hypot(xs, ys)
        at = 0
        for k, (column_rows, _, _) in enumerate(columns):
            n = len(column_rows)
            if n:
                distance[np.asarray(column_rows), k] = metres[at : at + n]
            at += n
    return Series(
        times_us=np.asarray(instants, dtype=np.int64),
        statuses=STATUSES,
        status_counts=counts,
        unidentified_inner=unidentified,
        responder_ids=tuple(rows),
        distance_m=distance,
        inside_from="positions" if sweep.from_positions else "perimeter_events",
    )
