"""Commands in, events out.

``execute`` checks each proposed payload with the domain's decider against the incident's live
state, appends the resulting events in one durable transaction, folds the stored events into
the live state and hands them to subscribers (the console's bus, the gateway's outbound queue).
Nothing else writes incident state.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import msgspec

from dispatch_console.domain import events as ev
from dispatch_console.domain.decide import validate
from dispatch_console.domain.fold import WorkingCopy, fold
from dispatch_console.domain.lifecycle import Rule, RuleViolation
from dispatch_console.domain.reference import School
from dispatch_console.domain.state import IncidentState
from dispatch_console.domain.timeutil import from_us
from dispatch_console.store import RawDraft, Store, StoreError
from dispatch_console.store.store import WriteTransaction

Subscriber = Callable[[list[ev.Event]], None]
log = logging.getLogger(__name__)

#: Event types that never change what a later command is validated against: a batch of them
#: (a flood of positions) is checked against the live state without copying it.
VALIDATION_NEUTRAL = frozenset({
    ev.ResponderPosition.TYPE, ev.ResponderProfileReported.TYPE, ev.ResponderRosterChecked.TYPE,
    ev.ResponderEquipmentIssued.TYPE, ev.DirectiveDelivered.TYPE,
})  # fmt: skip


@dataclass(frozen=True)
class Command:
    """A proposed event: the payload, for which incident, by whom, from where, when."""

    incident_id: str
    payload: ev.Payload
    actor: ev.Actor
    source: ev.Source
    occurred_at_us: int
    idempotency_key: str | None = None
    #: The incident's ``last_seq`` when the user decided (the state they saw): if another
    #: console user changed what this command acts on since, it is refused (``CONFLICT``).
    expected_seq: int | None = None


@dataclass(frozen=True)
class BatchOutcome:
    stored: list[ev.Event]
    #: Index in the batch -> why that command was refused.
    refused: dict[int, RuleViolation] = field(default_factory=dict)
    #: Idempotency keys already stored -> the sequence number they were stored at.
    duplicates: dict[str, int] = field(default_factory=dict)


class PositionFields(msgspec.Struct, omit_defaults=True, gc=False):
    """The fields of a :class:`~dispatch_console.domain.events.ResponderPosition`, not yet
    checked: cheap to make, and encoded as the same JSON. The store decodes that JSON as a
    ``ResponderPosition`` (which checks it) before it keeps it."""

    responder_id: str
    lat: float
    lon: float
    at_us: int
    stale_at_us: int
    accuracy_m: float | None = None
    speed_mps: float | None = None
    heading_deg: float | None = None


class PositionReport(msgspec.Struct, frozen=True, gc=False):
    """A position to store as a ``responder_position`` event of ``incident_id``, at the
    position's own time (:meth:`IncidentService.record_positions`)."""

    incident_id: str
    actor: ev.Actor
    source: ev.Source
    position: PositionFields
    idempotency_key: str | None = None


@dataclass(frozen=True)
class PositionsOutcome:
    #: Events stored: those of the commands first, then the positions, in sequence order.
    stored: list[ev.Event]
    #: Index among the commands -> why that command was refused.
    refused_commands: dict[int, RuleViolation] = field(default_factory=dict)
    #: Index among the reports -> why that position was refused (a rule, or its payload).
    refused: dict[int, str] = field(default_factory=dict)
    #: Idempotency keys already stored -> the sequence number they were stored at.
    duplicates: dict[str, int] = field(default_factory=dict)


_position_lines = msgspec.json.Encoder()


#: What :meth:`IncidentService.catch_up` reads: everything but positions.
_CATCH_UP_TYPES = tuple(t for t in ev.PAYLOAD_TYPES if t != ev.ResponderPosition.TYPE)


class IncidentService:
    def __init__(self, store: Store, *, clock: Callable[[], int] | None = None) -> None:
        self.store = store
        self.clock = clock or store._clock
        self._lock = threading.RLock()
        self._live: dict[str, IncidentState] = {}
        #: incident id -> (its live state, a sequence number up to which everything stored in
        #: it was folded into that state): see ``_fold_foreign``.
        self._checked: dict[str, tuple[IncidentState, int]] = {}
        self._subscribers: list[Subscriber] = []
        #: The store's sequence :meth:`catch_up` has read up to (None: not started).
        self._seen_seq: int | None = None

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    @property
    def lock(self) -> threading.RLock:
        """Held while the live state is read or changed (a monitor deriving from it takes it)."""
        return self._lock

    def catch_up(self) -> list[ev.Event]:
        """Fold and publish what other writers (a console's commands, another process) stored
        since the last call, for the incidents held here and incidents opened since.

        Positions are left out: in a deployment the gateway is their only writer. The first
        call only sets the starting point (call it right after :meth:`load_active`).
        """
        with self._lock:
            if self._seen_seq is None:
                self._seen_seq = self.store.last_seq()
                return []
            events = list(
                self.store.read(all_incidents=True, after_seq=self._seen_seq, types=_CATCH_UP_TYPES)
            )
            if not events:
                return []
            self._seen_seq = events[-1].seq
            fresh: dict[str, list[ev.Event]] = {}
            loaded: set[str] = set()
            for event in events:
                incident_id = event.incident_id
                if incident_id is None:
                    continue
                state = self._live.get(incident_id)
                if state is None:
                    if event.type != ev.IncidentOpened.TYPE:
                        continue  # an incident this service never held (closed before it started)
                    # Opened by another writer: read whole from the store (positions included,
                    # which this read leaves out), not folded from the filtered stream.
                    state = self._live[incident_id] = self.store.state_at(incident_id)
                    loaded.add(incident_id)
                if incident_id in loaded:
                    if event.seq <= state.last_seq:
                        fresh.setdefault(incident_id, []).append(event)  # to publish only
                    continue
                if event.seq <= state.last_seq:
                    continue  # written (and folded) here
                fresh.setdefault(incident_id, []).append(event)
            published: list[ev.Event] = []
            for incident_id, batch in fresh.items():
                if incident_id not in loaded:
                    self._fold_and_checkpoint(self._live[incident_id], batch)
                published.extend(batch)
            if published:
                published.sort(key=lambda e: e.seq)
                self._publish(published)
            return published

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
        expected_seq: int | None = None,
    ) -> list[ev.Event]:
        """Validate and store ``payloads`` as events of ``incident_id``, all or none.

        Raises ``RuleViolation`` (nothing stored) if any payload breaks a rule in the state
        left by the ones before it, or, with ``expected_seq`` (the incident's ``last_seq`` the
        user decided on), if another console user changed what they act on since (``CONFLICT``).
        """
        occurred = self.clock() if occurred_at_us is None else occurred_at_us
        keys = list(idempotency_keys) if idempotency_keys is not None else [None] * len(payloads)
        commands = [
            Command(incident_id, payload, actor, source, occurred, key, expected_seq)
            for payload, key in zip(payloads, keys, strict=True)
        ]
        outcome = self.execute_batch(commands, all_or_nothing=True)
        return outcome.stored

    def execute_batch(
        self,
        commands: Sequence[Command],
        *,
        all_or_nothing: bool = False,
        alongside: Callable[[WriteTransaction], None] | None = None,
    ) -> BatchOutcome:
        """Validate each command against the state the ones before it leave, store the valid
        ones in one durable transaction, fold them into the live state and publish them.

        With ``all_or_nothing`` the first refusal is raised and nothing is stored; otherwise
        refusals are returned per command (``BatchOutcome.refused``) and the rest is stored.
        ``alongside``: more to write in the same transaction (one commit, not two).
        """
        with self._lock, self._forgetting_new_on_failure(c.incident_id for c in commands):
            with self.store.writing() as tx:
                # What other consoles and gateways stored since we last looked comes first:
                # rules are checked against the store's truth, under its write lock.
                foreign = self._fold_foreign(tx, dict.fromkeys(c.incident_id for c in commands))
                keys = [c.idempotency_key for c in commands if c.idempotency_key is not None]
                duplicates = tx.existing_keys(keys)
                accepted, refused = self._decide(commands, duplicates, all_or_nothing, {}, tx)
                drafts = [
                    ev.EventDraft(c.incident_id, c.occurred_at_us, c.actor, c.source, c.payload,
                                  c.idempotency_key)
                    for c in accepted
                ]  # fmt: skip
                result = tx.append(drafts)
                if alongside is not None:
                    alongside(tx)
            duplicates.update(result.duplicates)
            self._publish_foreign(foreign)
            self._fold_published(result.stored)
            return BatchOutcome(result.stored, refused, duplicates)

    def record_positions(
        self,
        reports: Sequence[PositionReport],
        commands: Sequence[Command] = (),
        *,
        alongside: Callable[[WriteTransaction], None] | None = None,
    ) -> PositionsOutcome:
        """Store a flood of position reports, and the few ``commands`` they brought about
        (a contact joining an incident), in one durable transaction.

        The commands are decided as :meth:`execute_batch` decides them, first. A position
        passes the rule of ``responder_position`` (an opened incident in which the responder
        is known), checked once per incident and responder against the state the commands
        leave: positions change nothing a later position is checked against, and whether one
        may be stored depends on its responder and incident only. No ``Command`` or
        ``EventDraft`` per report: the fields are encoded as JSON in one call and the store
        decodes them as ``ResponderPosition`` (checked, and proven readable) before it keeps
        them; a key stored already, by this writer or another, is stored once.
        ``alongside``: more to write in the same transaction (one commit, not two).
        """
        incident_ids = dict.fromkeys(
            [c.incident_id for c in commands] + [r.incident_id for r in reports]
        )
        with self._lock, self._forgetting_new_on_failure(incident_ids):
            with self.store.writing() as tx:
                foreign = self._fold_foreign(tx, incident_ids)
                working: dict[str, IncidentState] = {}
                refused_commands: dict[int, RuleViolation] = {}
                duplicates: dict[str, int] = {}
                stored: list[ev.Event] = []
                if commands:
                    keys = [c.idempotency_key for c in commands if c.idempotency_key is not None]
                    duplicates = tx.existing_keys(keys)
                    accepted, refused_commands = self._decide(
                        commands, duplicates, False, working, tx, keep_working=True
                    )
                    drafts = [
                        ev.EventDraft(c.incident_id, c.occurred_at_us, c.actor, c.source,
                                      c.payload, c.idempotency_key)
                        for c in accepted
                    ]  # fmt: skip
                    result = tx.append(drafts)
                    duplicates.update(result.duplicates)
                    stored.extend(result.stored)
                refused, kept = self._check_positions(reports, working)
                positions = [reports[i].position for i in kept]
                lines = _position_lines.encode_lines(positions).split(b"\n") if kept else []
                position_type = ev.ResponderPosition.TYPE
                raw = []
                for index, line in zip(kept, lines, strict=False):
                    r = reports[index]
                    raw.append(
                        RawDraft(r.incident_id, r.position.at_us, r.actor, r.source,
                                 position_type, line, r.idempotency_key)
                    )  # fmt: skip
                result = tx.append_raw(raw)
                for index, why in result.refused.items():
                    refused[kept[index]] = why
                duplicates.update(result.duplicates)
                stored.extend(result.stored)
                if alongside is not None:
                    alongside(tx)
            self._publish_foreign(foreign)
            self._fold_published(stored)
            return PositionsOutcome(stored, refused_commands, refused, duplicates)

    def _check_positions(
        self, reports: Sequence[PositionReport], working: dict[str, IncidentState]
    ) -> tuple[dict[int, str], list[int]]:
        """Why the reports the rules refuse are refused, and the indexes of the others (the
        rule is checked once per incident and responder)."""
        verdicts: dict[tuple[str, str], str | None] = {}
        refused: dict[int, str] = {}
        kept: list[int] = []
        for index, report in enumerate(reports):
            pair = (report.incident_id, report.position.responder_id)
            try:
                why = verdicts[pair]
            except KeyError:
                state = working.get(pair[0])
                if state is None:
                    state = self._live[pair[0]]
                try:
                    validate(state, ev.ResponderPosition(pair[1], 0.0, 0.0, 0, 0))
                    why = None
                except RuleViolation as violation:
                    why = str(violation)
                verdicts[pair] = why
            if why is None:
                kept.append(index)
            else:
                refused[index] = why
        return refused, kept

    def _fold_foreign(self, tx: WriteTransaction, incident_ids: Iterable[str]) -> list[ev.Event]:
        """Fold what other writers stored in these incidents since this service last looked
        (under the write lock, before deciding); returned to be published after the commit:
        a console's directive must reach the gateway's subscribers (its TAK push, the
        monitor) however it was first seen."""
        foreign: list[ev.Event] = []
        checked = self._checked
        for incident_id in incident_ids:
            live = self._live[incident_id]
            known = checked.get(incident_id)
            if known is not None and known[0] is live and tx.quiet_since(known[1]):
                continue  # nobody else stored anything since it was last read: no query
            events = list(tx.read(incident_id, live.last_seq))
            if events:
                fold(events, live)
                foreign.extend(events)
            checked[incident_id] = (live, tx.seq_at_start())
        return foreign

    def _publish_foreign(self, foreign: list[ev.Event]) -> None:
        if foreign:
            foreign.sort(key=lambda e: e.seq)
            self._publish(foreign)

    def _fold_published(self, stored: list[ev.Event]) -> None:
        """Fold committed events into the live states, then publish them."""
        by_incident: dict[str, list[ev.Event]] = {}
        for event in stored:
            assert event.incident_id is not None
            by_incident.setdefault(event.incident_id, []).append(event)
        for incident_id, events in by_incident.items():
            self._fold_and_checkpoint(self._live_or_new(incident_id), events)
        if stored:
            self._publish(stored)

    def _fold_and_checkpoint(self, state: IncidentState, events: list[ev.Event]) -> None:
        """Fold into the live state; where it crosses a snapshot boundary, keep a snapshot of
        it there, so replay of a long live incident never has to fold from the start."""
        interval = self.store.snapshot_interval
        while events:
            room = interval - state.event_count % interval
            fold(events[:room], state)
            if len(events) >= room and self.store.write_snapshots:
                self.store.save_snapshot(state)
            events = events[room:]

    def _decide(
        self,
        commands: Sequence[Command],
        duplicates: dict[str, int],
        all_or_nothing: bool,
        working: dict[str, IncidentState],
        tx: WriteTransaction,
        *,
        keep_working: bool = False,
    ) -> tuple[list[Command], dict[int, RuleViolation]]:
        """The commands that pass the rules, each checked against the state the accepted ones
        before it leave; a command whose key is stored already is skipped, not re-checked.
        With ``keep_working``, ``working`` is left holding, per incident, the state the
        accepted commands leave; without, the last command of an incident is not applied to a
        working copy (nothing is checked against it after: an activation joining an incident
        of 2,000 responders copied the whole state for nothing).

        First, who acts: a console user must be registered in the store, in a role that
        commands (``UNKNOWN_USER``, ``ROLE_MAY_NOT_COMMAND``); then, for a command that says
        which version it was decided on, that no other console user changed what it acts on
        since (``CONFLICT``)."""
        # Per incident, the working copy the accepted commands are folded into (copy on write:
        # the live state is never touched; see ``WorkingCopy``).
        copies: dict[str, WorkingCopy] = {}
        accepted: list[Command] = []
        refused: dict[int, RuleViolation] = {}
        seen_keys: set[str] = set()
        roles = tx.user_roles(
            c.actor.name for c in commands if c.actor.kind is ev.ActorKind.CONSOLE_USER
        )
        since: dict[tuple[str, int], list[ev.Event]] = {}
        # The last command naming each responder: a device's own report that no later command
        # of the batch is checked against needs no working copy of the incident (copying a
        # 2,000-responder state for one acknowledgement made each group cost as much as the
        # incident is large).
        last_naming: dict[tuple[str, str], int] = {}
        last_of_incident: dict[str, int] = {}
        for index, command in enumerate(commands):
            last_of_incident[command.incident_id] = index
            rid = getattr(command.payload, "responder_id", None)
            if isinstance(rid, str):
                last_naming[(command.incident_id, rid)] = index
        for index, command in enumerate(commands):
            key = command.idempotency_key
            if key is not None and (key in duplicates or key in seen_keys):
                continue
            state = working.get(command.incident_id)
            if state is None:
                state = working[command.incident_id] = self._live[command.incident_id]
            try:
                _check_actor(command.actor, roles)
                if command.expected_seq is not None:
                    self._check_conflict(tx, command, since)
                validate(state, command.payload)
            except RuleViolation as violation:
                if all_or_nothing:
                    raise
                refused[index] = violation
                continue
            if key is not None:
                seen_keys.add(key)
            assumed = _assumption(command, roles, state)
            if assumed is not None:
                working[command.incident_id] = _fold_provisional(copies, state, assumed)
                accepted.append(assumed)
            accepted.append(command)
            if command.payload.TYPE in VALIDATION_NEUTRAL:
                continue  # cannot change what later commands are checked against
            if not keep_working and last_of_incident[command.incident_id] == index:
                continue  # no later command of its incident is checked against it
            if (
                command.payload.TYPE in _RESPONDER_LOCAL
                and last_naming.get(
                    (command.incident_id, getattr(command.payload, "responder_id", ""))
                )
                == index
            ):
                continue  # changes only its responder, whom no later command names
            working[command.incident_id] = _fold_provisional(copies, state, command)
        return accepted, refused

    def _check_conflict(
        self,
        tx: WriteTransaction,
        command: Command,
        since: dict[tuple[str, int], list[ev.Event]],
    ) -> None:
        """Refuse ``command`` (``CONFLICT``) if another console user stored, after the version
        it was decided on, an event about the same responder, staging area, perimeter, warning
        or alert. ``since`` caches what was read per incident and version."""
        assert command.expected_seq is not None
        where = (command.incident_id, command.expected_seq)
        events = since.get(where)
        if events is None:
            events = since[where] = [
                e
                for e in tx.read(command.incident_id, command.expected_seq, _CATCH_UP_TYPES)
                if e.actor.kind is ev.ActorKind.CONSOLE_USER
            ]
        touched = _touched(command.payload)
        clashes = [e for e in events if e.actor != command.actor and _subjects(e.payload) & touched]
        if not clashes:
            return
        shown = next(
            (e for e in reversed(clashes) if e.type != ev.DirectiveQueued.TYPE), clashes[-1]
        )
        state = self._live.get(command.incident_id)
        detail = f"since you looked, {describe_change(shown, state)}"
        others = len(clashes) - 1
        if others:
            detail += f", and {others} other change{'s' if others > 1 else ''}"
        raise RuleViolation(Rule.CONFLICT, detail)

    def _publish(self, events: list[ev.Event]) -> None:
        """Tell subscribers; one that fails is logged and does not stop the others (the events
        are stored whatever a subscriber does)."""
        for subscriber in self._subscribers:
            try:
                subscriber(events)
            except Exception:
                log.exception("subscriber %r failed on %d events", subscriber, len(events))

    @contextlib.contextmanager
    def _forgetting_new_on_failure(self, incident_ids: Iterable[str]) -> Iterator[None]:
        """Load the incidents before the write lock is taken; if the write fails, forget those
        that were new here: the store may or may not have committed them (a connection lost
        at the commit), and an empty state must not stand for one it did (it is read from the
        store when next needed). Held ones catch up by themselves (``_fold_foreign``)."""
        new = []
        for incident_id in dict.fromkeys(incident_ids):
            if incident_id not in self._live:
                new.append(incident_id)
            self._state_or_new(incident_id)
        try:
            yield
        except BaseException:
            for incident_id in new:
                state = self._live.get(incident_id)
                if state is not None and state.last_seq == 0:
                    del self._live[incident_id]
            raise

    def _state_or_new(self, incident_id: str) -> IncidentState:
        try:
            return self.state(incident_id)
        except StoreError:
            return self._live_or_new(incident_id)

    def _live_or_new(self, incident_id: str) -> IncidentState:
        state = self._live.get(incident_id)
        if state is None:
            state = self._live[incident_id] = IncidentState(incident_id=incident_id)
        return state

    def live_incidents(self) -> list[IncidentState]:
        """The incidents held in memory (loaded with :meth:`load_active` or written here)."""
        with self._lock:
            return list(self._live.values())

    def load_active(self) -> list[IncidentState]:
        """Load every active incident of the store into memory (and start :meth:`catch_up`
        from the store's sequence as it was before they were read)."""
        with self._lock:
            if self._seen_seq is None:
                self._seen_seq = self.store.last_seq()
        for summary in self.store.incidents():
            if summary.status == "active":
                self.state(summary.incident_id)
        return [s for s in self.live_incidents() if s.opened and not s.closed]

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
        incident_id: str | None = None,
    ) -> tuple[str, list[ev.Event]]:
        """Open an incident at ``school`` for ``alert``, with the school's pre-plan in force
        (``incident_id``: the id it was promised, by a gateway that answered from its journal)."""
        occurred = self.clock() if occurred_at_us is None else occurred_at_us
        if idempotency_key is not None:
            known = self.store.incident_of_key(idempotency_key)
            if known:  # a retried activation: the incident it opened, nothing new
                return known, []
        incident_id = incident_id or new_incident_id(school.school_id, occurred)
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
        if idempotency_key is not None:
            # Keyed too, so that a retry racing in another process is refused, not opened twice.
            keys[0] = f"{idempotency_key}#incident"
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


def _check_actor(actor: ev.Actor, roles: dict[str, str]) -> None:
    """A console user changes an incident only if registered in a commanding role."""
    if actor.kind is not ev.ActorKind.CONSOLE_USER:
        return
    role = roles.get(actor.name)
    if role is None:
        raise RuleViolation(Rule.UNKNOWN_USER, f"{actor.name} is not a registered console user")
    if role not in ev.COMMANDING_ROLES:
        raise RuleViolation(Rule.ROLE_MAY_NOT_COMMAND, f"{actor.name} is registered as {role}")


#: The events that set who is in command (acting as IC before any of them assumes command).
COMMAND_TYPES = frozenset(
    {ev.CommandEstablished.TYPE, ev.CommandTransferred.TYPE, ev.IncidentCommanderAssigned.TYPE}
)
#: The role whose first act, when nobody has established command, assumes it.
COMMANDER_ROLE = ev.COMMANDER_ROLE


def _assumption(command: Command, roles: dict[str, str], state: IncidentState) -> Command | None:
    """A console user registered as incident commander who acts in an active incident where
    nobody has established command is recorded as having assumed it, by an event stored just
    before their act (same actor, time and source): the report and replay then say who held
    command from when, instead of "none recorded" while an IC acted all along."""
    actor = command.actor
    if (
        actor.kind is not ev.ActorKind.CONSOLE_USER
        or roles.get(actor.name) != COMMANDER_ROLE
        or state.commander is not None
        or not state.opened
        or state.closed
        or command.payload.TYPE in COMMAND_TYPES
    ):
        return None
    payload = ev.CommandEstablished(actor.name, assumed=True)
    return Command(command.incident_id, payload, actor, command.source, command.occurred_at_us)


#: Events that replace something of the whole incident (a revision decided on an older one
#: would silently undo another user's).
_INCIDENT_WIDE = {
    ev.SuspectDescriptionRevised.TYPE: ("suspect", "description"),
    ev.IncidentStatusChanged.TYPE: ("incident", "status"),
}
#: Payload fields naming what an event is about, and the kind of thing they name.
_ID_FIELDS = (
    ("responder_id", "responder"),
    ("staging_area_id", "staging area"),
    ("perimeter_id", "perimeter"),
    ("warning_id", "warning"),
    ("alert_id", "alert"),
)
#: The events whose staging area is their subject (elsewhere it is only where one is sent).
_STAGING_SUBJECT = frozenset({ev.StagingAreaSet.TYPE, ev.StagingAreaRemoved.TYPE})
_NEVER_CONFLICT = VALIDATION_NEUTRAL | {ev.DirectiveAcknowledged.TYPE, ev.BroadcastSent.TYPE}


#: Events that change only their responder's own record (what later commands about OTHER
#: responders are checked against is the same before and after them).
_RESPONDER_LOCAL = frozenset(
    {
        ev.ResponderAcknowledged.TYPE,
        ev.ResponderEnRoute.TYPE,
        ev.ResponderProfileReported.TYPE,
        ev.ResponderRosterChecked.TYPE,
    }
)


def _touched(payload: ev.Payload) -> set[tuple[str, str]]:
    """Everything a command names: its responder, and the staging area it sends them to; or
    the incident-wide thing it replaces (the suspect's description, the incident's status)."""
    found = set()
    for name, kind in _ID_FIELDS:
        value = getattr(payload, name, None)
        if isinstance(value, str):
            found.add((kind, value))
    whole = _INCIDENT_WIDE.get(payload.TYPE)
    if whole is not None:
        found.add(whole)
    return found


def _subjects(payload: ev.Payload) -> set[tuple[str, str]]:
    """What a stored event changed: directing two responders to one staging area is no
    conflict, changing the area is."""
    if payload.TYPE in _NEVER_CONFLICT:
        return set()
    found = _touched(payload)
    if payload.TYPE not in _STAGING_SUBJECT:
        found.discard(("staging area", getattr(payload, "staging_area_id", None) or ""))
    return found


def describe_change(event: ev.Event, state: IncidentState | None) -> str:
    """``Lt. Hayes directed U-012 to Staging B (at 09:21:14)``: who did what, and when."""
    p = event.payload

    def responder(rid: str) -> str:
        known = state.responders.get(rid) if state is not None else None
        return (known.callsign or known.name or rid) if known is not None else rid

    def area(area_id: str | None) -> str:
        known = state.staging_areas.get(area_id or "") if state is not None else None
        return known.name if known is not None else str(area_id)

    what: str
    if isinstance(p, ev.ResponderDirected):
        what = f"directed {responder(p.responder_id)} to {area(p.staging_area_id)}"
    elif isinstance(p, ev.ResponderIdentified):
        what = f"identified {responder(p.responder_id)}"
    elif isinstance(p, ev.ResponderAssigned):
        task = p.task.replace("_", " ")
        what = f"assigned {responder(p.responder_id)} to {task} ({p.team})"
    elif isinstance(p, ev.ResponderStaged):
        what = f"staged {responder(p.responder_id)}"
    elif isinstance(p, ev.ResponderReleased):
        what = f"released {responder(p.responder_id)}"
    elif isinstance(p, ev.ResponderArrived):
        what = f"marked {responder(p.responder_id)} arrived at {p.place}"
    elif isinstance(p, ev.DirectiveQueued):
        what = f"sent {responder(p.responder_id)} a directive ({p.text})"
    elif isinstance(p, ev.StagingAreaSet):
        what = f"changed staging area {p.name}"
    elif isinstance(p, ev.StagingAreaRemoved):
        what = f"removed staging area {area(p.staging_area_id)}"
    elif isinstance(p, ev.PerimeterSet):
        what = f"changed the {p.kind} perimeter {p.perimeter_id}"
    elif isinstance(p, ev.PerimeterRemoved):
        what = f"removed perimeter {p.perimeter_id}"
    elif isinstance(p, ev.WarningAcknowledged):
        what = f"acknowledged warning {p.warning_id}"
    elif isinstance(p, ev.WarningEnded):
        what = f"ended warning {p.warning_id}"
    elif isinstance(p, ev.AlertAcknowledged):
        what = f"acknowledged alert {p.alert_id}"
    elif isinstance(p, ev.SuspectDescriptionRevised):
        what = "revised the suspect description"
    elif isinstance(p, ev.IncidentStatusChanged):
        what = f"set the incident {p.status.replace('_', ' ')}"
    else:
        rid = getattr(p, "responder_id", None)
        what = event.type.replace("_", " ") + (f" for {responder(rid)}" if rid else "")
    at = from_us(event.occurred_at_us).strftime("%H:%M:%S")
    return f"{event.actor.name} {what} (at {at})"


def _fold_provisional(
    copies: dict[str, WorkingCopy], state: IncidentState, command: Command
) -> IncidentState:
    """Fold ``command`` into its incident's working copy (made from ``state`` the first
    time): the state the next commands of the batch are checked against."""
    copy = copies.get(command.incident_id)
    if copy is None:
        copy = copies[command.incident_id] = WorkingCopy(state)
    copy.apply(_provisional(command))
    return copy.state


def _provisional(command: Command) -> ev.Event:
    return ev.Event(
        0,
        command.incident_id,
        command.payload.TYPE,
        command.occurred_at_us,
        command.occurred_at_us,
        command.actor,
        command.source,
        command.payload,
    )
