"""The gateway's logic, transport-free: authenticated messages in, events out.

Everything here runs on ONE thread (the gateway's writer), so the live incident states need no
further locking and checks such as "was this message id stored already?" cannot race within a
process. HTTP handlers and CoT listeners hand their work to that thread and wait for its reply,
which is given only after the events are durably stored.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from dispatch_console.domain import events as ev
from dispatch_console.domain.fold import CLOCK_TOLERANCE_US
from dispatch_console.domain.lifecycle import Rule, RuleViolation
from dispatch_console.domain.reference import DEFAULT_NOTIFICATION_RADIUS_M, School
from dispatch_console.domain.roster import Roster
from dispatch_console.domain.state import DEFAULT_STALE_US, IncidentState
from dispatch_console.domain.timeutil import US_PER_S, parse_iso
from dispatch_console.feeds import contract as c
from dispatch_console.feeds.auth import AuthError, verify
from dispatch_console.feeds.cot.parse import CotPosition
from dispatch_console.feeds.identity import admitted, enrolled_uids
from dispatch_console.feeds.keys import KeyProblem, KeyRing, OpenKey, SecretBox
from dispatch_console.feeds.notify import alert_text, devices_to_notify
from dispatch_console.feeds.rejections import RejectionLog
from dispatch_console.service import Command, IncidentService, PositionFields, PositionReport
from dispatch_console.service.incidents import new_incident_id
from dispatch_console.store import Store, StoreUnreachable, collector_paused, unreachable
from dispatch_console.store.registry import Device, Rejection, excerpt_of
from dispatch_console.store.store import wall_clock_us

log = logging.getLogger(__name__)

GATEWAY = ev.Actor(ev.ActorKind.SYSTEM, "gateway")
#: Sender times further than this in the future are refused (a device clock gone wrong).
MAX_FUTURE_US = 300 * US_PER_S
#: Reports before this are from a device whose clock was never set.
EARLIEST_US = 946_684_800 * US_PER_S
#: The longest a CoT position stays current without a newer report.
MAX_STALE_WINDOW_US = 600 * US_PER_S
#: Unregistered TAK contacts added to one incident at most (each is an UNVERIFIED responder);
#: past that, a flood of made-up uids is refused instead of burying the real responders.
MAX_UNREGISTERED_PER_INCIDENT = 200
#: How long cached reference data (devices, roster) is trusted before it is read again.
REFERENCE_TTL_S = 10.0
#: What a key id may look like (anything else is refused before any lookup).
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]


def error(status: int, message: str, field: str | None = None) -> Reply:
    body: dict[str, Any] = {"error": message}
    if field is not None:
        body["field"] = field
    return Reply(status, body)


@dataclass
class _Cached:
    loaded_at: float = 0.0
    value: Any = None


@dataclass(slots=True)
class _Route:
    """Where one uid's CoT positions go, worked out once per batch."""

    responder_id: str
    actor: ev.Actor
    device: Device | None
    #: Registered: the active incidents it is a responder of (joined ones added on the way).
    member: list[IncidentState] = field(default_factory=list)
    #: Registered: the active incidents it may join by reporting from near them.
    others: list[IncidentState] = field(default_factory=list)
    #: Unregistered: the incidents in which this batch made it an UNVERIFIED responder.
    contacted: set[str] = field(default_factory=set)


class GatewayCore:
    def __init__(
        self,
        store: Store,
        box: SecretBox,
        *,
        clock: Callable[[], int] = wall_clock_us,
    ) -> None:
        self.store = store
        self._wall_clock = clock
        #: While a journaled message is forwarded: the time it was received (see ``received_at``).
        self._received_us: int | None = None
        #: The store is known to be down (set by the gateway): reference data comes from the
        #: copies read last, without asking the store (each try could take seconds).
        self.offline = False
        #: The incident the last activation was to open (its id is promised if the store went
        #: away while it was being stored: it may be stored under that id).
        self.attempted_incident_id: str | None = None
        self.service = IncidentService(store, clock=self.clock)
        self.keys = KeyRing(store.key, box)
        self._schools: dict[str, School] = {}
        self._devices = _Cached()
        self._by_tak_uid: dict[str, Device] = {}
        #: TAK uid -> device id of devices enrolled with a client certificate.
        self.enrolled: dict[str, str] = {}
        self._radii: dict[str, float] = {}
        self._unregistered_count: dict[str, int] = {}
        self._roster = _Cached()
        self._pending_positions: dict[str, tuple[str, float, float, int]] = {}
        self.rejections = RejectionLog()
        #: The address of the request being handled (every rejection names it).
        self.peer: str | None = None
        self.listeners: list[Callable[[list[ev.Event]], None]] = []
        self.service.subscribe(self._published)
        self.service.load_active()

    def clock(self) -> int:
        """Now; or, while a journaled message is forwarded, when it was received."""
        received = self._received_us
        return self._wall_clock() if received is None else received

    @contextlib.contextmanager
    def received_at(self, at_us: int) -> Iterator[None]:
        """Handle a message as at ``at_us``, when it was received and journaled: its
        signature's age, its times and the events it makes are judged as they would have been."""
        self._received_us = at_us
        try:
            yield
        finally:
            self._received_us = None

    # --- reference data -----------------------------------------------------------------------
    # While the store is unreachable, the last copy read is used (the journal needs them).

    def devices(self) -> dict[str, Device]:
        if time.monotonic() - self._devices.loaded_at > REFERENCE_TTL_S:
            try:
                if self.offline:
                    raise StoreUnreachable("the store is down")
                listed = self.store.devices()
            except Exception as exc:
                if self._devices.value is None or not unreachable(exc):
                    raise
                value: dict[str, Device] = self._devices.value
                return value  # the last copy: the store is down
            devices = {d.device_id: d for d in listed}
            self._devices = _Cached(time.monotonic(), devices)
            self._by_tak_uid = {d.tak_uid: d for d in devices.values() if d.tak_uid}
            self.enrolled = enrolled_uids(self.store, devices)
        current: dict[str, Device] = self._devices.value
        return current

    def remember_reference(self) -> None:
        """Read every key, school and device now (the gateway does so every minute): what a
        message is checked against while the store is unreachable."""
        self.keys.remember(self.store.api_keys())
        self._schools = {school.school_id: school for school in self.store.schools()}
        self._devices.loaded_at = 0.0
        self.devices()

    def school(self, school_id: str) -> School | None:
        """The school, from the store (or its last copy read, while the store is down)."""
        try:
            if self.offline:
                raise StoreUnreachable("the store is down")
            school = self.store.school(school_id)
        except Exception as exc:
            if not unreachable(exc) or school_id not in self._schools:
                raise
            return self._schools[school_id]
        if school is not None:
            self._schools[school_id] = school
        return school

    def device_for_tak_uid(self, uid: str) -> Device | None:
        self.devices()  # refreshes the index when the cache is old
        return self._by_tak_uid.get(uid)

    def roster(self) -> Roster:
        if time.monotonic() - self._roster.loaded_at > REFERENCE_TTL_S:
            self._roster = _Cached(time.monotonic(), Roster(self.store.roster()))
        value: Roster = self._roster.value
        return value

    def active_incident_at(
        self, school_id: str, exercise: bool | None = None
    ) -> IncidentState | None:
        """The open incident at ``school_id``; with ``exercise`` given, only a live one
        (``False``) or only an exercise (``True``): a real alert never joins a drill."""
        for state in self.service.live_incidents():
            if (
                state.opened
                and not state.closed
                and state.school_id == school_id
                and (exercise is None or state.exercise == exercise)
            ):
                return state
        return None

    def _incidents_with(self, device_id: str) -> list[IncidentState]:
        """Every incident held here in which this device's responder is, open or closed."""
        return [s for s in self.service.live_incidents() if device_id in s.responders]

    def incidents_of(self, device_id: str) -> list[IncidentState]:
        """Active incidents in which this device's responder was notified."""
        return [
            s
            for s in self.service.live_incidents()
            if s.opened and not s.closed and device_id in s.responders
        ]

    # --- authentication -----------------------------------------------------------------------

    def authenticate(
        self, key_id: str | None, signature: str | None, body: bytes, sender: str
    ) -> OpenKey | Reply:
        """The key that signed ``body``, or a 401 reply (and the refusal is logged)."""
        try:
            if not key_id or not _KEY_ID.fullmatch(key_id):
                raise AuthError("missing or malformed key id")
            key = self.keys.get(key_id, offline=self.offline)
            if key is None or key.kind not in ("school", "device"):  # a certificate signs nothing
                raise AuthError(f"unknown or revoked key {key_id!r}")
            if key.kind == "device" and key.scope not in self.devices():
                raise AuthError(f"key {key_id} belongs to device {key.scope}, which was removed")
            verify(key.secret, signature, body, self.clock() / US_PER_S)
        except KeyProblem as problem:
            log.error("key %s cannot be opened: %s", key_id, problem)
            self.reject("http", f"{key_id}@{sender}", f"401: {problem}", body)
            return error(401, "unauthorized")
        except AuthError as refused:
            shown_id = excerpt_of(key_id or "-", 64)
            self.reject("http", f"{shown_id}@{sender}", f"401: {refused}", body)
            return error(401, "unauthorized")
        return key

    def reject(self, transport: str, sender: str, reason: str, data: bytes | str) -> None:
        if self.peer and "@" not in sender:  # the address too, whatever refused it
            sender = f"{sender}@{self.peer}"
        reason = excerpt_of(reason, 500)  # a sender's bytes never reach a terminal raw
        sender = excerpt_of(sender, 200)
        rejection = Rejection(self.clock(), transport, sender, reason, excerpt_of(data))
        if self.rejections.add(rejection):  # the first from its source: the rest are counted
            log.warning("rejected %s message from %s: %s", transport, sender, reason)
        if self.rejections.waiting >= 200 and not self.offline:
            try:
                self.flush()
            except Exception as exc:  # kept for the next flush; the refusal stands
                if not unreachable(exc):
                    raise

    def flush(self) -> None:
        """Write coalesced device positions and the rejection log (called a few times a second
        and on shutdown)."""
        self._flush_positions()
        self.rejections.write(self.store, self.clock())  # kept for the next flush if it fails

    def _remember_position(self, device_id: str, lon: float, lat: float, at_us: int) -> None:
        """The newest report wins, whatever order reports arrive in (a clock running ahead is
        capped at now, so it cannot hold the last known position)."""
        at_us = min(at_us, self.clock() + CLOCK_TOLERANCE_US)
        pending = self._pending_positions.get(device_id)
        if pending is None or pending[3] < at_us:
            self._pending_positions[device_id] = (device_id, lon, lat, at_us)

    def _flush_positions(self) -> None:
        if self._pending_positions:
            self.store.record_device_positions(list(self._pending_positions.values()))
            self._pending_positions.clear()  # written (kept for the next try if not)

    # --- the HTTP routes, by name (the journal keeps the name) -------------------------------

    def handle(
        self, route: str, key: OpenKey, target: str, body: bytes, incident_id: str | None = None
    ) -> Reply:
        """Answer one authenticated request of ``route`` (``target``: the device or incident
        of its path; ``incident_id``: for an activation answered from the journal, the id its
        incident was promised)."""
        if route == "activation":
            return self.activation(key, body, incident_id=incident_id)
        if route == "device_messages":
            return self.device_messages(key, target, body)
        if route == "notified":
            return self.notified(key, target, body)
        if route == "directives":
            return self.directives(key, target)
        raise ValueError(f"no route {route!r}")

    @staticmethod
    def promised_slot(body: bytes) -> str | None:
        """``school_id/exercise`` of a journaled activation (see :meth:`journal_answer`)."""
        try:
            return _slot(c.decode_body(body, c.Activation))
        except c.BodyError:
            return None

    def journal_answer(
        self,
        route: str,
        key: OpenKey,
        target: str,
        body: bytes,
        promised: dict[str, str],
        attempted: str | None = None,
    ) -> tuple[Reply, str | None]:
        """While the store is unreachable: the answer for a signed request that is to be kept
        in the journal, and for an activation the incident id it is promised.

        What can be checked without the store is checked now (the body against the contract,
        times, the key's scope, the school), and a request that fails is refused now, as it
        would be at once; everything else is checked when the journal is forwarded, and its
        answer then is kept in the journal. ``promised``: ``school_id/exercise`` -> incident id
        for activations journaled before (a second alert joins the incident the first opens).
        ``attempted``: the incident this very activation was being opened as when the store
        went away (it may have been committed under that id: the same id is promised).
        """
        if route == "activation":
            checked = self._checked_activation(key, body)
            if isinstance(checked, Reply):
                return checked, None
            msg = checked[0]
            slot = _slot(msg)
            incident_id = promised.get(slot)
            if incident_id is None:
                open_incident = self.active_incident_at(msg.school_id, exercise=msg.exercise)
                if open_incident is not None:
                    incident_id = open_incident.incident_id
                else:
                    incident_id = attempted or new_incident_id(msg.school_id, self.clock())
                promised[slot] = incident_id
            return Reply(202, {"incident_id": incident_id, "journaled": True}), incident_id
        if route == "device_messages":
            messages = self._checked_device_messages(key, target, body)
            if isinstance(messages, Reply):
                return messages, None
            results = [{"id": m.id, "result": "journaled"} for m in messages[0].messages]
            return Reply(202, {"results": results, "journaled": True}), None
        if route == "notified":
            try:
                c.decode_body(body, c.Notified)
            except c.BodyError as bad:
                return self._bad("http", key.key_id, bad, body), None
            state = self._held(target)
            school_id = state.school_id if state is not None and state.opened else None
            for slot, promised_id in promised.items():
                if promised_id == target:
                    school_id = slot.rpartition("/")[0]
            if school_id is None:
                self.reject("http", key.key_id, f"404: no incident {target}", body)
                return error(404, f"no open incident {target}"), None
            if key.kind != "school" or key.scope != school_id:
                self.reject("http", key.key_id, f"403: key not for incident {target}", body)
                return error(403, "this key may not report notifications for this incident"), None
            return Reply(202, {"incident_id": target, "journaled": True}), None
        raise ValueError(f"route {route!r} is not journaled")

    # --- activations --------------------------------------------------------------------------

    def _checked_activation(
        self, key: OpenKey, body: bytes
    ) -> tuple[c.Activation, int, School] | Reply:
        """The activation, its time and its school; or the refusal (its body, its time, the
        key's school, the school itself): checked alike now and when journaled."""
        try:
            msg = c.decode_body(body, c.Activation)
            activated_us = self._time(msg.activated_at, "$.activated_at")
        except c.BodyError as bad:
            return self._bad("http", key.key_id, bad, body)
        if key.kind != "school" or key.scope != msg.school_id:
            self.reject("http", key.key_id, f"403: key not for school {msg.school_id}", body)
            return error(
                403, f"this key may not send activations for {msg.school_id}", "$.school_id"
            )
        school = self.school(msg.school_id)
        if school is None:
            self.reject("http", key.key_id, f"400: unknown school {msg.school_id}", body)
            return error(400, f"unknown school {msg.school_id}", "$.school_id")
        return msg, activated_us, school

    def activation(self, key: OpenKey, body: bytes, *, incident_id: str | None = None) -> Reply:
        checked = self._checked_activation(key, body)
        if isinstance(checked, Reply):
            return checked
        msg, activated_us, school = checked
        idempotency = f"{key.key_id}/{msg.id}"
        known = self._already_stored(idempotency)
        if known is not None:
            # Answered as the first time; and if that first time stopped between opening the
            # incident and alerting the devices, the alerting is finished now.
            notified = self._alert_devices(known, school, msg.notified_device_ids)
            return Reply(202, {"incident_id": known, "duplicate": True, "notified": notified})
        by = msg.activated_by or c.Person()
        alert = ev.AlertReceived(
            idempotency,
            msg.school_id,
            msg.type,
            activated_us,
            by.name,
            by.role,
            msg.location_detail,
            msg.message,
        )
        actor = ev.Actor(ev.ActorKind.DEVICE, f"school:{msg.school_id}")
        open_incident = self.active_incident_at(msg.school_id, exercise=msg.exercise)
        if open_incident is None and incident_id is not None and self._known_incident(incident_id):
            # Promised from the journal, but closed meanwhile (a console stood it down while
            # the gateway could not reach the store): the alert is real, it opens a new one.
            log.warning(
                "activation %s was promised incident %s, which was closed meanwhile: it opens "
                "a new incident",
                idempotency,
                incident_id,
            )
            incident_id = None
        if open_incident is None:
            incident_id = incident_id or new_incident_id(msg.school_id, self.clock())
            self.attempted_incident_id = incident_id
        try:
            if open_incident is None:
                incident_id, _ = self.service.open_incident(
                    school,
                    alert,
                    actor=actor,
                    source=ev.Source.FEED,
                    exercise=msg.exercise,
                    idempotency_key=idempotency,
                    incident_id=incident_id,
                )
            else:  # a second alert from the same school joins the open incident
                incident_id = open_incident.incident_id
                self.service.execute(
                    incident_id,
                    [alert],
                    actor=actor,
                    source=ev.Source.FEED,
                    idempotency_keys=[idempotency],
                )
        except RuleViolation as refused:
            self.reject("http", key.key_id, f"409: {refused}", body)
            return error(409, str(refused))
        notified = self._alert_devices(incident_id, school, msg.notified_device_ids)
        return Reply(202, {"incident_id": incident_id, "notified": notified})

    def _known_incident(self, incident_id: str) -> bool:
        """Whether an incident of this id was ever opened (in memory, or in the store)."""
        live = self._held(incident_id)
        if live is not None and live.opened:
            return True
        return self.store.has_incident(incident_id)

    def _held(self, incident_id: str) -> IncidentState | None:
        """The incident's state, if this gateway holds it in memory (never read from the
        store: a request about an incident nobody alerted must not load one)."""
        return next(
            (s for s in self.service.live_incidents() if s.incident_id == incident_id), None
        )

    def _alert_devices(self, incident_id: str, school: School, listed: Sequence[str] | None) -> int:
        """Alert the devices the school listed, or else every device within its radius."""
        if listed is not None:
            return self._notify(incident_id, school, listed, "school")
        chosen = devices_to_notify(school, self.devices().values())
        return self._notify(incident_id, school, [d.device_id for d in chosen], "console")

    def notified(self, key: OpenKey, incident_id: str, body: bytes) -> Reply:
        try:
            msg = c.decode_body(body, c.Notified)
        except c.BodyError as bad:
            return self._bad("http", key.key_id, bad, body)
        state = self._held(incident_id)
        if state is None or not state.opened:
            self.reject("http", key.key_id, f"404: no incident {incident_id}", body)
            return error(404, f"no open incident {incident_id}")
        if state.closed:
            self.reject("http", key.key_id, f"409: incident {incident_id} is closed", body)
            return error(409, f"incident {incident_id} is {state.status.replace('_', ' ')}")
        if key.kind != "school" or key.scope != state.school_id:
            self.reject("http", key.key_id, f"403: key not for incident {incident_id}", body)
            return error(403, "this key may not report notifications for this incident")
        idempotency = f"{key.key_id}/{msg.id}"
        if self._already_stored(idempotency) is not None:
            return Reply(202, {"incident_id": incident_id, "duplicate": True})
        school = self.school(state.school_id)
        assert school is not None
        count = self._notify(incident_id, school, msg.device_ids, "school", idempotency)
        return Reply(202, {"incident_id": incident_id, "notified": count})

    def _notify(
        self,
        incident_id: str,
        school: School,
        device_ids: Sequence[str],
        by: str,
        idempotency: str | None = None,
    ) -> int:
        """Notify each device (once per incident): ``responder_notified``, what it claimed of
        itself so far, its roster verdict and the queued alert directive."""
        state = self.service.state(incident_id)
        devices = self.devices()
        staging = sorted(state.staging_areas.values(), key=lambda a: a.staging_area_id)
        first = staging[0] if staging else None
        latest_alert = max(state.alerts.values(), key=lambda a: a.received_at_us)
        text = alert_text(
            school,
            latest_alert.alert_type,
            latest_alert.location_detail,
            latest_alert.message,
            first.name if first else None,
        )
        if state.exercise:  # a phone must never show a drill as a real call
            text = f"EXERCISE, NOT A REAL CALL. {text}"
        now = self.clock()
        commands: list[Command] = []
        for device_id in dict.fromkeys(device_ids):
            if device_id in state.responders:
                continue
            notify = ev.ResponderNotified(
                device_id, device_id, "school" if by == "school" else "console"
            )
            commands.append(
                Command(
                    incident_id,
                    notify,
                    GATEWAY,
                    ev.Source.FEED,
                    now,
                    idempotency if not commands else None,
                )
            )
            device = devices.get(device_id)
            if device is not None and device.profile:
                commands.extend(self._profile_commands(incident_id, device_id, device.profile, now))
            directive = ev.DirectiveQueued(
                _directive_id(),
                device_id,
                device_id,
                "alert",
                text,
                first.staging_area_id if first else None,
            )
            commands.append(Command(incident_id, directive, GATEWAY, ev.Source.FEED, now))
        if not commands:
            return 0
        outcome = self.service.execute_batch(commands)
        return sum(1 for e in outcome.stored if isinstance(e.payload, ev.ResponderNotified))

    # --- device messages ----------------------------------------------------------------------

    def _checked_device_messages(
        self, key: OpenKey, device_id: str, body: bytes
    ) -> tuple[c.DeviceMessages, list[int]] | Reply:
        """The messages and their times; or the refusal (the key's device, the body, the
        times): checked alike now and when journaled."""
        if key.kind != "device" or key.scope != device_id:
            self.reject("http", key.key_id, f"403: key not for device {device_id}", body)
            return error(403, f"this key may not send for device {device_id}")
        try:
            batch = c.decode_body(body, c.DeviceMessages)
            times = [self._time(m.at, f"$.messages[{i}].at") for i, m in enumerate(batch.messages)]
        except c.BodyError as bad:
            return self._bad("http", key.key_id, bad, body)
        return batch, times

    def device_messages(self, key: OpenKey, device_id: str, body: bytes) -> Reply:
        checked = self._checked_device_messages(key, device_id, body)
        if isinstance(checked, Reply):
            return checked
        batch, times = checked
        actor = ev.Actor(ev.ActorKind.DEVICE, device_id)
        commands: list[Command] = []
        owners: list[int] = []  # index of the message each command came from
        results: list[dict[str, Any]] = []
        for index, (msg, at_us) in enumerate(zip(batch.messages, times, strict=True)):
            idempotency = f"{key.key_id}/{msg.id}"
            if self._already_stored(idempotency) is not None:
                results.append({"id": msg.id, "result": "duplicate"})
                continue
            try:
                made = self._commands_for(device_id, msg, at_us, actor)
            except RuleViolation as refused:
                results.append({"id": msg.id, "result": "refused", "error": str(refused)})
                continue
            except _AlreadyKnown:  # e.g. "at staging", after the geofence saw it arrive
                results.append({"id": msg.id, "result": "duplicate"})
                continue
            if made:
                first = made[0]
                made[0] = Command(
                    first.incident_id,
                    first.payload,
                    first.actor,
                    first.source,
                    first.occurred_at_us,
                    idempotency,
                )
            commands.extend(made)
            owners.extend([index] * len(made))
            results.append({"id": msg.id, "result": "stored"})
        # A device's last known position is what alerts it to the next incident: written now,
        # before the 2xx, even where it is part of no incident yet (in the same commit).
        positions = list(self._pending_positions.values())
        outcome = self.service.execute_batch(
            commands, alongside=lambda tx: tx.record_device_positions(positions)
        )
        self._pending_positions.clear()
        for command_index, violation in outcome.refused.items():
            message_index = owners[command_index]
            message_id = batch.messages[message_index].id
            for result in results:
                if result["id"] == message_id:
                    result.update(result="refused", error=str(violation))
        refusals = [r for r in results if r["result"] == "refused"]
        if refusals:  # one entry per request, however many of its messages were refused
            summary = f"refused {len(refusals)} of {len(results)}: {refusals[0]['error']}"
            self.reject("http", key.key_id, summary, body)
        return Reply(202, {"results": results})

    def _commands_for(
        self, device_id: str, msg: c.DeviceMessage, at_us: int, actor: ev.Actor
    ) -> list[Command]:
        src = ev.Source.FEED
        if isinstance(msg, c.Position):
            self._remember_position(device_id, msg.lon, msg.lat, at_us)
            device = self.devices().get(device_id)
            joined = self._join_nearby(device, msg.lon, msg.lat, at_us)[1] if device else []
            if joined:  # joins first, so that the position below lands in the new incidents
                self.service.execute_batch(joined)
            payloads: list[tuple[str, ev.Payload]] = [
                (
                    s.incident_id,
                    ev.ResponderPosition(
                        device_id,
                        msg.lat,
                        msg.lon,
                        at_us,
                        at_us + DEFAULT_STALE_US,
                        msg.accuracy_m,
                        msg.speed_mps,
                        msg.heading_deg,
                    ),
                )
                for s in self.incidents_of(device_id)
            ]
            return [Command(i, p, actor, src, at_us) for i, p in payloads]
        if isinstance(msg, c.Profile):
            profile = msgspec.to_builtins(msg)
            profile.pop("kind", None)
            if not self.store.record_device_profile(device_id, profile, at_us):
                return []  # older than the profile kept: it changes nothing
            self._devices.loaded_at = 0.0  # re-read: the profile changed
            return [
                cmd
                for s in self.incidents_of(device_id)
                for cmd in self._profile_commands(s.incident_id, device_id, profile, at_us)
            ]
        if isinstance(msg, c.DirectiveAck):
            for state in self._incidents_with(device_id):
                directive = state.directives.get(msg.directive_id)
                if directive is not None and directive.device_id == device_id:
                    payload = ev.DirectiveAcknowledged(msg.directive_id)
                    return [Command(state.incident_id, payload, actor, src, at_us)]
            raise RuleViolation(
                Rule.UNKNOWN_DIRECTIVE, f"directive {msg.directive_id} of {device_id}"
            )
        incident_id = msg.incident_id
        if not any(s.incident_id == incident_id for s in self.incidents_of(device_id)):
            # Never look up (or create state for) an incident the device was not alerted to.
            raise RuleViolation(
                Rule.UNKNOWN_RESPONDER, f"{device_id} is in no open incident {incident_id!r}"
            )
        if isinstance(msg, c.Ack):
            return [
                Command(
                    incident_id,
                    ev.ResponderAcknowledged(device_id, msg.responding),
                    actor,
                    src,
                    at_us,
                )
            ]
        status_payload: ev.Payload
        _raise_if_known(self.service.state(incident_id), device_id, msg.status, msg)
        if msg.status == "en_route":
            status_payload = ev.ResponderEnRoute(device_id)
        elif msg.status == "on_scene":
            status_payload = ev.ResponderArrived(device_id, "scene")
        elif msg.status == "at_staging":
            status_payload = ev.ResponderArrived(device_id, "staging", msg.staging_area_id)
        else:
            status_payload = ev.ResponderAcknowledged(device_id, False)
        return [Command(incident_id, status_payload, actor, src, at_us)]

    def _profile_commands(
        self, incident_id: str, device_id: str, profile: dict[str, Any], at_us: int
    ) -> list[Command]:
        attire = profile.get("attire")
        reported = ev.ResponderProfileReported(
            device_id,
            profile.get("name"),
            profile.get("agency"),
            profile.get("badge"),
            profile.get("callsign"),
            profile.get("duty"),
            profile.get("has_radio"),
            msgspec.convert(attire, ev.Attire) if attire is not None else None,
        )
        match = self.roster().match(
            agency=reported.agency, badge=reported.badge, name=reported.name, device_id=device_id
        )
        checked = ev.ResponderRosterChecked(
            device_id,
            match.verdict,
            match.entry.name if match.entry else None,
            reported.agency,
            reported.badge,
            match.reason,
        )
        actor = ev.Actor(ev.ActorKind.DEVICE, device_id)
        return [
            Command(incident_id, reported, actor, ev.Source.FEED, at_us),
            Command(incident_id, checked, GATEWAY, ev.Source.FEED, at_us),
        ]

    # --- directives ---------------------------------------------------------------------------

    def directives(self, key: OpenKey, device_id: str, *, record_delivery: bool = True) -> Reply:
        """Pending directives of the device; the first fetch of each is its delivery event
        (while the store is down they are listed from memory, ``record_delivery`` False, and the
        first fetch after it is back is recorded as the delivery)."""
        if key.kind != "device" or key.scope != device_id:
            self.reject("http", key.key_id, f"403: key not for device {device_id}", b"")
            return error(403, f"this key may not read directives of {device_id}")
        listed: list[dict[str, Any]] = []
        commands: list[Command] = []
        now = self.clock()
        for state in self._incidents_with(device_id):
            for d in state.pending_directives(device_id):
                listed.append(
                    {
                        "directive_id": d.directive_id,
                        "incident_id": state.incident_id,
                        "kind": d.kind,
                        "text": d.text,
                        "school": state.school_name,
                        "staging_area_id": d.staging_area_id,
                    }
                )
                if d.delivered_at_us is None:
                    commands.append(
                        Command(
                            state.incident_id,
                            ev.DirectiveDelivered(d.directive_id, "http"),
                            GATEWAY,
                            ev.Source.FEED,
                            now,
                        )
                    )
        if commands and record_delivery:
            self.service.execute_batch(commands)
        return Reply(200, {"directives": listed})

    # --- Cursor-on-Target ---------------------------------------------------------------------

    def cot_batch(
        self,
        batch: Sequence[tuple[bytes, str]],
        transport: str,
        proven: tuple[str, str | None] | None = None,
    ) -> set[str]:
        """Parse and store a batch of CoT documents ``(data, sender)``; return the uids seen."""
        from dispatch_console.feeds.cot.parse import CotRejected
        from dispatch_console.feeds.cot.proto import parse_position_message

        positions: list[tuple[CotPosition, str]] = []
        for data, sender in batch:
            try:
                cot = parse_position_message(data)
            except CotRejected as refused:
                self.reject(transport, sender, refused.reason, data)
                continue
            if cot is not None:  # None: well-formed, but not a position report
                positions.append((cot, sender))
        return self.cot_positions(positions, transport, proven)

    def cot_positions(
        self,
        positions: Sequence[tuple[CotPosition, str]],
        transport: str,
        proven: tuple[str, str | None] | None = None,
    ) -> set[str]:
        """Store parsed position reports ``(report, sender)``; return the uids seen.

        No command per report: who a uid is, and which incidents its positions go to, is
        worked out once per uid and batch. Only a contact joining an incident (a registered
        device near one it was not alerted to, an unregistered uid near one) makes commands,
        stored first in the same transaction as the positions.
        """
        self.devices()  # (the enrolled uids are read with the devices)
        positions = admitted(
            positions, transport, self.reject, enrolled=self.enrolled, proven=proven
        )
        with collector_paused():  # thousands of short-lived objects, no cycles
            return self._cot_positions(positions, transport)

    def _cot_positions(
        self, positions: Sequence[tuple[CotPosition, str]], transport: str
    ) -> set[str]:
        now = self.clock()
        horizon = now + MAX_FUTURE_US
        latest = now + CLOCK_TOLERANCE_US
        uids: set[str] = set()
        commands: list[Command] = []
        reports: list[PositionReport] = []
        routes: dict[str, _Route] = {}
        open_states = [s for s in self.service.live_incidents() if s.opened and not s.closed]
        pending = self._pending_positions
        feed = ev.Source.FEED
        for cot, sender in positions:
            uid, _, at_us, stale_us, lat, lon, ce, _, speed, course = cot
            if lat == 0.0 and lon == 0.0:
                self.reject(transport, sender, "position at 0,0 (no GPS fix)", f"uid {uid}")
                continue
            if at_us < EARLIEST_US:
                self.reject(
                    transport, sender, "time before the year 2000 (clock never set)", f"uid {uid}"
                )
                continue
            if at_us > horizon:
                self.reject(
                    transport, sender, "time more than 5 minutes in the future", f"uid {uid}"
                )
                continue
            uids.add(uid)  # only an accepted report binds its uid to a connection
            route = routes.get(uid)
            if route is None:
                route = routes[uid] = self._route(uid, open_states)
            responder_id = route.responder_id
            if route.device is not None:
                # The newest report wins, whatever order reports arrive in (a clock running
                # ahead is capped at now, so it cannot hold the last known position).
                capped = at_us if at_us < latest else latest
                known = pending.get(responder_id)
                if known is None or known[3] < capped:
                    pending[responder_id] = (responder_id, lon, lat, capped)
                if route.others:
                    self._join_near(route, lon, lat, at_us, commands)
                targets = route.member
            else:
                targets = self._contact_near(route, cot, open_states, commands)
            if not targets:
                continue
            # A stale time before the time: stale at once; a window of days (as some clients
            # send): capped, so a silent device is never shown as current for long.
            if stale_us < at_us:
                stale_us = at_us
            elif stale_us > at_us + MAX_STALE_WINDOW_US:
                stale_us = at_us + MAX_STALE_WINDOW_US
            fields = PositionFields(responder_id, lat, lon, at_us, stale_us, ce, speed, course)
            for state in targets:
                incident_id = state.incident_id
                # Time first: keys then arrive nearly in order, and the unique index takes
                # them at its right edge (uid first scattered them: 3 us more per insert).
                key = f"cot:{at_us}:{uid}:{incident_id}"
                reports.append(PositionReport(incident_id, route.actor, feed, fields, key))
        if reports or commands:
            self.service.record_positions(reports, commands)
        return uids

    def _route(self, uid: str, open_states: list[IncidentState]) -> _Route:
        """Who reports as ``uid``, and where its positions go (for one batch)."""
        device = self.device_for_tak_uid(uid)
        if device is None:
            responder_id = f"tak:{uid}"
            return _Route(responder_id, ev.Actor(ev.ActorKind.DEVICE, responder_id), None)
        responder_id = device.device_id
        route = _Route(responder_id, ev.Actor(ev.ActorKind.DEVICE, responder_id), device)
        for state in open_states:
            (route.member if responder_id in state.responders else route.others).append(state)
        return route

    def _join_near(
        self, route: _Route, lon: float, lat: float, at_us: int, commands: list[Command]
    ) -> None:
        """A registered device that reports from near an active incident it was never alerted
        to joins it (see :meth:`_join_nearby`); its positions go there from now on."""
        device = route.device
        assert device is not None
        for state in [s for s in route.others if self._near(s, lon, lat)]:
            commands.extend(self._join_commands(state, device, at_us))
            route.others.remove(state)
            route.member.append(state)

    def _contact_near(
        self,
        route: _Route,
        cot: CotPosition,
        open_states: list[IncidentState],
        commands: list[Command],
    ) -> list[IncidentState]:
        """The active incidents near an unregistered uid's report, where it shows as an
        UNVERIFIED responder (made one on its first report there, within the limit)."""
        targets = []
        responder_id = route.responder_id
        for state in open_states:
            if not self._near(state, cot.lon, cot.lat):
                continue
            incident_id = state.incident_id
            if responder_id not in state.responders and incident_id not in route.contacted:
                unregistered = self._unregistered_count.get(incident_id, 0)
                if unregistered >= MAX_UNREGISTERED_PER_INCIDENT:
                    continue
                self._unregistered_count[incident_id] = unregistered + 1
                route.contacted.add(incident_id)
                commands.extend(self._unregistered_contact(state, responder_id, cot))
            targets.append(state)
        return targets

    def udp_batch(self, batch: Any) -> None:
        """A batch from the UDP worker process (parsed reports and refusals)."""
        for sender, reason, excerpt in batch.rejected:
            self.reject("udp", sender, reason, excerpt)
        self.cot_positions(batch.positions, "udp")

    def cot_stream_pieces(
        self,
        pieces: Sequence[bytes | Exception],
        sender: str,
        proven: tuple[str, str | None] | None = None,
    ) -> set[str]:
        """Documents split from a TCP stream, with the splitter's rejections in between."""
        documents: list[tuple[bytes, str]] = []
        transport = "tls" if proven else "tcp"
        for piece in pieces:
            if isinstance(piece, bytes):
                documents.append((piece, sender))
            else:
                self.reject(transport, sender, str(getattr(piece, "reason", piece)), b"")
        return self.cot_batch(documents, transport, proven)

    def _nearby_incidents(
        self, lon: float, lat: float, *, without: str | None = None
    ) -> list[IncidentState]:
        """Active incidents whose school is within its notification radius of ``lon, lat``
        (leaving out those ``without`` is a responder of, before measuring anything)."""
        return [
            state
            for state in self.service.live_incidents()
            if state.opened
            and not state.closed
            and not (without and without in state.responders)
            and self._near(state, lon, lat)
        ]

    def _near(self, state: IncidentState, lon: float, lat: float) -> bool:
        """Within the notification radius of the incident's school. An equirectangular
        distance is far cheaper than a projection and within a few metres of it at these
        ranges; the radius is what matters here, not the metre."""
        dx = math.radians(lon - state.lon) * math.cos(math.radians(state.lat))
        dy = math.radians(lat - state.lat)
        return 6_371_008.8 * math.hypot(dx, dy) <= self._radius(state.school_id)

    def _join_nearby(
        self, device: Device, lon: float, lat: float, at_us: int
    ) -> tuple[list[IncidentState], list[Command]]:
        """A registered device that reports from near an active incident it was never alerted
        to (registered later, or the school's own list left it out) joins that incident as an
        unsolicited responder, with its claimed identity and roster verdict: an armed officer
        the incident commander cannot see is worse than one listed as self-dispatched."""
        commands: list[Command] = []
        joined = self._nearby_incidents(lon, lat, without=device.device_id)
        for state in joined:
            commands.extend(self._join_commands(state, device, at_us))
        return joined, commands

    def _join_commands(self, state: IncidentState, device: Device, at_us: int) -> list[Command]:
        notified = ev.ResponderNotified(device.device_id, device.device_id, "unsolicited")
        commands = [Command(state.incident_id, notified, GATEWAY, ev.Source.FEED, at_us)]
        if device.profile:
            commands.extend(
                self._profile_commands(state.incident_id, device.device_id, device.profile, at_us)
            )
        return commands

    def _radius(self, school_id: str) -> float:
        radius = self._radii.get(school_id)
        if radius is None:
            school = self.school(school_id)
            radius = school.notification_radius_m if school else DEFAULT_NOTIFICATION_RADIUS_M
            self._radii[school_id] = radius
        return radius

    def _unregistered_contact(
        self, state: IncidentState, responder_id: str, cot: CotPosition
    ) -> list[Command]:
        """A TAK contact whose uid no device is registered with shows as UNVERIFIED."""
        now = self.clock()
        uid = cot.uid
        return [
            Command(
                state.incident_id,
                ev.ResponderNotified(responder_id, responder_id, "unregistered"),
                GATEWAY,
                ev.Source.FEED,
                now,
            ),
            Command(
                state.incident_id,
                ev.ResponderProfileReported(responder_id, callsign=cot.callsign),
                GATEWAY,
                ev.Source.FEED,
                now,
            ),
            Command(
                state.incident_id,
                ev.ResponderRosterChecked(
                    responder_id,
                    "not_on_roster",
                    None,
                    None,
                    None,
                    f"TAK uid {uid} is not registered to any device",
                ),
                GATEWAY,
                ev.Source.FEED,
                now,
            ),
        ]

    def pending_cot_for_tak(self, uid: str) -> list[bytes]:
        """A TAK device just connected: the CoT of every directive it has not acknowledged
        (a write to a TCP socket proves nothing, so they go again on every connection)."""
        device = self.device_for_tak_uid(uid)
        if device is None:
            return []
        documents: list[bytes] = []
        for state in self.incidents_of(device.device_id):
            for d in state.pending_directives(device.device_id):
                payload = ev.DirectiveQueued(
                    d.directive_id, d.responder_id, d.device_id, d.kind, d.text, d.staging_area_id
                )
                documents.extend(self.cot_for_directive(state.incident_id, payload, uid))
                self.directive_delivered(state.incident_id, d.directive_id)
        return documents

    def cot_for_events(
        self, events: list[ev.Event]
    ) -> list[tuple[str, list[bytes], tuple[str, str]]]:
        """For directives just queued for TAK devices: ``(uid, CoT documents, (incident id,
        directive id))`` to send."""
        outbound = []
        for event in events:
            payload = event.payload
            if not isinstance(payload, ev.DirectiveQueued) or event.incident_id is None:
                continue
            device = self.devices().get(payload.device_id)
            if device is None or not device.tak_uid:
                continue
            documents = self.cot_for_directive(event.incident_id, payload, device.tak_uid)
            outbound.append((device.tak_uid, documents, (event.incident_id, payload.directive_id)))
        return outbound

    def cot_for_directive(
        self, incident_id: str, directive: ev.DirectiveQueued, uid: str
    ) -> list[bytes]:
        """The CoT documents that carry a directive to a TAK device: a marker (the school for an
        alert, the staging area for a go-to-staging) and a GeoChat line with the text."""
        from dispatch_console.feeds.cot import build

        state = self.service.state(incident_id)
        now = self._wall_clock()  # sent now (a forwarded message's directive too): not stale
        stale = 3600 * US_PER_S
        documents = []
        if directive.kind == "alert":
            title = f"{state.incident_type.replace('_', ' ').upper()}: {state.school_name}"
            documents.append(
                build.build_alert_marker(
                    uid=f"{incident_id}-9-1-1",
                    lat=state.lat,
                    lon=state.lon,
                    title=title,
                    text=directive.text,
                    now_us=now,
                    stale_after_us=stale,
                )
            )
        area = state.staging_areas.get(directive.staging_area_id or "")
        if area is not None:
            documents.append(_staging_cot(incident_id, area, now, stale))
        documents.append(
            build.build_chat(
                recipient_uid=uid,
                recipient_callsign=uid,
                message=directive.text,
                message_id=directive.directive_id,
                now_us=now,
                stale_after_us=stale,
            )
        )
        return documents

    def directive_delivered(self, incident_id: str, directive_id: str) -> None:
        """Recorded once: when a directive is first written to a TAK device's connection."""
        state = self.service.state(incident_id)
        directive = state.directives.get(directive_id)
        if directive is None or directive.delivered_at_us is not None:
            return
        self.service.execute_batch(
            [
                Command(
                    incident_id,
                    ev.DirectiveDelivered(directive_id, "cot"),
                    GATEWAY,
                    ev.Source.FEED,
                    self.clock(),
                )
            ]
        )

    # --- helpers ------------------------------------------------------------------------------

    def _time(self, text: str, field_path: str) -> int:
        try:
            at_us = parse_iso(text)
        except ValueError as bad:
            raise c.BodyError(str(bad), field_path) from None
        if at_us > self.clock() + MAX_FUTURE_US:
            raise c.BodyError("time is more than 5 minutes in the future", field_path)
        if at_us < EARLIEST_US:  # a device clock that was never set
            raise c.BodyError("time is before the year 2000", field_path)
        return at_us

    def _bad(self, transport: str, sender: str, bad: c.BodyError, body: bytes) -> Reply:
        self.reject(transport, sender, f"400: {bad.error} at {bad.field}", body)
        return error(400, bad.error, bad.field)

    def _already_stored(self, idempotency_key: str) -> str | None:
        """The incident of an event stored under this key, if there is one."""
        return self.store.incident_of_key(idempotency_key)

    def _published(self, events: list[ev.Event]) -> None:
        for listener in self.listeners:
            listener(events)


def _slot(msg: c.Activation) -> str:
    """Where an activation's promised incident is kept: ``school_id/exercise``."""
    return f"{msg.school_id}/{msg.exercise}"


class _AlreadyKnown(Exception):
    """A device restates what the incident already knows (answered as a duplicate)."""


_STATUS_OF_REPORT = {"en_route": "en_route", "on_scene": "on_scene", "at_staging": "at_staging"}


def _raise_if_known(state: IncidentState, device_id: str, status: str, msg: Any) -> None:
    """An arrival the geofence recorded first, reported again by the device, is no news."""
    responder = state.responders.get(device_id)
    if responder is None or _STATUS_OF_REPORT.get(status) != responder.status.value:
        return
    area = getattr(msg, "staging_area_id", None)
    if status == "at_staging" and area is not None and area != responder.staging_area_id:
        return  # a different staging area: the decider says what happens
    raise _AlreadyKnown


def _staging_cot(incident_id: str, area: Any, now_us: int, stale_us: int) -> bytes:
    """A staging area as TAK draws it: a circle for a point with a radius, else a polygon."""
    from shapely.geometry import shape

    from dispatch_console.feeds.cot import build

    uid = f"{incident_id}-staging-{area.staging_area_id}"
    geometry = shape(area.geometry)
    if area.radius_m and geometry.geom_type == "Point":
        return build.build_staging_circle(
            uid=uid,
            name=area.name,
            lat=geometry.y,
            lon=geometry.x,
            radius_m=area.radius_m,
            now_us=now_us,
            stale_after_us=stale_us,
        )
    polygon = (
        geometry if geometry.geom_type == "Polygon" else max(geometry.geoms, key=lambda g: g.area)
    )
    vertices = [(lat, lon) for lon, lat in polygon.exterior.coords]
    return build.build_staging_polygon(
        uid=uid, name=area.name, vertices=vertices, now_us=now_us, stale_after_us=stale_us
    )


def _directive_id() -> str:
    return f"dir-{secrets.token_hex(6)}"
