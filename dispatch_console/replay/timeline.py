"""An incident's events on a time axis: the state at any instant, fast.

**Time.** Replay runs on *event time*, in *sequence order*. The live console folded events in
sequence order, and that order stays the truth: an event is never moved before one stored
earlier. Each event gets a place on the time axis, its *cursor time*: its event time
(``occurred_at_us``), clipped so that it never goes backwards::

    cursor[i] = max(cursor[i - 1], occurred_at_us[i])

A late event (a batch of positions sent after a tunnel, a status with an older time) therefore
appears at the instant the timeline had reached when it was stored, never before events the
console saw first. For a well-behaved feed the cursor time *is* the event time. Received times
play no part in the time axis (the fold itself caps a device clock running ahead by them, as it
did live; an import keeps them). A device whose clock runs ahead (the gateway refuses more than
5 minutes) moves the cursor ahead with it, and the events stored after it wait at that instant
until event time catches up. A fast simulation (device times run ahead of the gateway's clock
by design) replays on simulated time.

``state_at(t)`` is the fold of the events whose cursor time is at most ``t``: always a prefix of
the events, so it is exactly a state the live fold went through.

**Speed.** :class:`Timeline` folds every event once when it is built and keeps the state
(msgpack) every :attr:`Timeline.checkpoint_every` events in memory; ``state_at`` decodes the
nearest checkpoint at or before the instant and folds at most that many events. A
:class:`Cursor` moves one state forward by folding only the new events (playback).
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import zlib
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import msgspec
import numpy as np
from numpy.typing import NDArray

from dispatch_console.domain import events as ev
from dispatch_console.domain.fold import fold
from dispatch_console.domain.state import IncidentState

if TYPE_CHECKING:
    from dispatch_console.store import Store

__all__ = ["Cursor", "Timeline", "TimelineError", "cursor_times", "paused_collector"]

#: Default number of events between two in-memory checkpoints: a seek folds at most this many
#: (about 2 µs each) after decoding one checkpoint (about 30 ms for 2,000 responders); see
#: benchmarks/bench_replay.py. Checkpoints are msgpack, zlib-compressed at level 1 (a
#: 2,000-responder state: 2.5 MB -> 0.5 MB, decoded 3 ms slower).
CHECKPOINT_EVERY = 10_000

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(IncidentState)


class TimelineError(ValueError):
    """A timeline that cannot be built (no events, events of several incidents)."""


@contextlib.contextmanager
def paused_collector() -> Iterator[None]:
    """The cyclic garbage collector off while many small acyclic objects are made (decoding
    a state, folding): it would otherwise walk the whole heap several times per call."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def cursor_times(events: Iterable[ev.Event]) -> list[int]:
    """The cursor time of each event, in order (module docstring): never decreasing."""
    times: list[int] = []
    append = times.append
    last = -(2**63)
    for event in events:
        occurred = event.occurred_at_us
        if occurred > last:
            last = occurred
        append(last)
    return times


TrailPoint = tuple[int, float, float]


class Timeline:
    """The events of one incident, in sequence order, with the state at any instant.

    Read-only: nothing here writes to a store. Build it with :meth:`load` (reads every event of
    the incident once) or from events already decoded.
    """

    def __init__(
        self,
        events: Iterable[ev.Event],
        *,
        incident_id: str | None = None,
        checkpoint_every: int = CHECKPOINT_EVERY,
    ) -> None:
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be at least 1")
        self._events: list[ev.Event] = list(events)
        if not self._events:
            raise TimelineError(f"no events for incident {incident_id or '?'}: nothing to replay")
        first = self._events[0].incident_id
        self.incident_id: str = incident_id or first or ""
        if any(e.incident_id != self.incident_id for e in self._events):
            raise TimelineError("a timeline replays the events of one incident only")
        self.checkpoint_every = checkpoint_every
        times = cursor_times(self._events)
        self._times_list = times
        self.times: NDArray[np.int64] = np.asarray(times, dtype=np.int64)
        self._checkpoints: list[bytes] = []
        self._by_type: dict[str, NDArray[np.intp]] = {}
        self._positions: dict[str, list[int]] = {}
        self._final: IncidentState
        #: The registered roles (name -> role) of the console users who acted, as the store
        #: knows them (:meth:`load`): who acted as incident commander in an older record.
        self.roles: dict[str, str] = {}
        self._build()

    @classmethod
    def load(
        cls, store: Store, incident_id: str, *, checkpoint_every: int = CHECKPOINT_EVERY
    ) -> Timeline:
        """Every event of ``incident_id`` in ``store``, read once (the one slow step: about
        6 s per million events from SQLite: benchmarks/bench_replay.py --sqlite)."""
        with paused_collector():
            events = list(store.read(incident_id))
        timeline = cls(events, incident_id=incident_id, checkpoint_every=checkpoint_every)
        timeline.roles = store.user_roles(timeline._final.acted)
        return timeline

    def _build(self) -> None:
        """Fold every event once, keeping a checkpoint every ``checkpoint_every`` events, an
        index of events by type and of position events by responder."""
        every = self.checkpoint_every
        events = self._events
        by_type: dict[str, list[int]] = {}
        positions = self._positions
        position_type = ev.ResponderPosition.TYPE
        for index, event in enumerate(events):
            kind = event.type
            found = by_type.get(kind)
            if found is None:
                found = by_type[kind] = []
            found.append(index)
            if kind == position_type:
                rid = event.payload.responder_id  # type: ignore[attr-defined]
                mine = positions.get(rid)
                if mine is None:
                    mine = positions[rid] = []
                mine.append(index)
        self._by_type = {k: np.asarray(v, dtype=np.intp) for k, v in by_type.items()}
        state = IncidentState(incident_id=self.incident_id)
        with paused_collector():
            for start in range(0, len(events), every):
                self._checkpoints.append(zlib.compress(_encoder.encode(state), 1))
                fold(events[start : start + every], state)
        self._final = state

    # --- the axis ------------------------------------------------------------------------------

    @property
    def events(self) -> Sequence[ev.Event]:
        """Every event, in sequence order (do not change the list)."""
        return self._events

    def __len__(self) -> int:
        return len(self._events)

    @property
    def start_us(self) -> int:
        """Cursor time of the first event (the incident's opening)."""
        return self._times_list[0]

    @property
    def end_us(self) -> int:
        """Cursor time of the last event."""
        return self._times_list[-1]

    @property
    def exercise(self) -> bool:
        return self._final.exercise

    def time_of(self, index: int) -> int:
        """Cursor time of the event at ``index``."""
        return self._times_list[index]

    def index_at(self, t_us: int) -> int:
        """How many events are folded at ``t_us``: those with cursor time at most ``t_us``."""
        return bisect.bisect_right(self._times_list, t_us)

    def events_between(self, t0_us: int, t1_us: int) -> list[ev.Event]:
        """Events with ``t0_us < cursor time <= t1_us``: what moving from ``t0`` to ``t1``
        folds (consecutive calls never repeat or miss an event)."""
        return self._events[self.index_at(t0_us) : self.index_at(t1_us)]

    def next_time(self, t_us: int, types: set[str] | frozenset[str] | None = None) -> int | None:
        """Cursor time of the first event after ``t_us`` (of one of ``types``, if given)."""
        start = self.index_at(t_us)
        if types is None:
            return self._times_list[start] if start < len(self._events) else None
        best: int | None = None
        for kind in types:
            indexes = self._by_type.get(kind)
            if indexes is None:
                continue
            at = int(np.searchsorted(indexes, start, side="left"))
            if at < len(indexes) and (best is None or indexes[at] < best):
                best = int(indexes[at])
        return None if best is None else self._times_list[best]

    def previous_time(
        self, t_us: int, types: set[str] | frozenset[str] | None = None
    ) -> int | None:
        """Cursor time of the last event before ``t_us`` (strictly earlier; of one of
        ``types``, if given)."""
        end = bisect.bisect_left(self._times_list, t_us)  # events strictly before t_us
        if types is None:
            return self._times_list[end - 1] if end > 0 else None
        best: int | None = None
        for kind in types:
            indexes = self._by_type.get(kind)
            if indexes is None:
                continue
            at = int(np.searchsorted(indexes, end, side="left")) - 1
            if at >= 0 and (best is None or indexes[at] > best):
                best = int(indexes[at])
        return None if best is None else self._times_list[best]

    def count_of(self, kind: str) -> int:
        indexes = self._by_type.get(kind)
        return 0 if indexes is None else len(indexes)

    # --- states --------------------------------------------------------------------------------

    def state_at(self, t_us: int) -> IncidentState:
        """The incident as the fold of every event with cursor time at most ``t_us`` (a new
        object each call: the caller may keep or change it)."""
        return self.state_after(self.index_at(t_us))

    def state_after(self, count: int) -> IncidentState:
        """The state after the first ``count`` events (a new object each call)."""
        count = max(0, min(count, len(self._events)))
        every = self.checkpoint_every
        checkpoint = min(count // every, len(self._checkpoints) - 1)
        with paused_collector():
            state = _decoder.decode(zlib.decompress(self._checkpoints[checkpoint]))
            fold(self._events[checkpoint * every : count], state)
        return state

    @property
    def final_state(self) -> IncidentState:
        """The state after every event (a new object each call)."""
        return self.state_after(len(self._events))

    def cursor(self, t_us: int | None = None) -> Cursor:
        """A :class:`Cursor` at ``t_us`` (default: the start)."""
        return Cursor(self, self.start_us if t_us is None else t_us)

    # --- trails --------------------------------------------------------------------------------

    def trail(self, responder_id: str, t_us: int, window_us: int) -> list[TrailPoint]:
        """The responder's reported positions ``(at_us, lon, lat)`` whose events have cursor
        time in ``(t_us - window_us, t_us]``, oldest first (``at_us`` is the position's own
        time, as the live console's trail keeps it)."""
        indexes = self._positions.get(responder_id)
        if not indexes:
            return []
        lo = bisect.bisect_left(indexes, self.index_at(t_us - window_us))
        hi = bisect.bisect_left(indexes, self.index_at(t_us))
        out: list[TrailPoint] = []
        events = self._events
        for index in indexes[lo:hi]:
            p = events[index].payload
            assert isinstance(p, ev.ResponderPosition)
            out.append((p.at_us, p.lon, p.lat))
        return out

    def responders_with_positions(self) -> list[str]:
        return list(self._positions)


class Cursor:
    """One state moving along a timeline (playback): forward by folding only the events in
    between, backward or far ahead by starting from a checkpoint.

    :attr:`state` is changed in place when moving forward; :meth:`move_to` returns the events
    it folded (for a view that refreshes what they touched), or ``None`` when the state was
    rebuilt (refresh everything; :attr:`state` is then a new object).
    """

    def __init__(self, timeline: Timeline, t_us: int) -> None:
        self.timeline = timeline
        self.index = timeline.index_at(t_us)
        self.time_us = t_us
        self.state = timeline.state_after(self.index)

    def move_to(self, t_us: int) -> list[ev.Event] | None:
        timeline = self.timeline
        target = timeline.index_at(t_us)
        self.time_us = t_us
        if target == self.index:
            return []
        if target < self.index or target - self.index > timeline.checkpoint_every:
            self.index = target
            self.state = timeline.state_after(target)
            return None
        events = timeline._events[self.index : target]
        with paused_collector():
            fold(events, self.state)
        self.index = target
        return events
