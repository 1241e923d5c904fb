"""The gateway's logic, transport-free: authenticated messages in, events out.

Everything here runs on ONE thread (the gateway's writer), so the live incident states need no
further locking and checks such as "was this message id stored already?" cannot race within a
process. HTTP handlers and CoT listeners hand their work to that thread and wait for its reply,
which is given only after the events are durably stored.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from dispatch_console.domain import events as ev
from dispatch_console.domain.lifecycle import RuleViolation
from dispatch_console.domain.reference import School
from dispatch_console.domain.roster import Roster
from dispatch_console.domain.state import DEFAULT_STALE_US, IncidentState
from dispatch_console.domain.timeutil import US_PER_S, parse_iso
from dispatch_console.feeds import contract as c
from dispatch_console.feeds.auth import AuthError, verify
from dispatch_console.feeds.cot.parse import CotPosition
from dispatch_console.feeds.keys import KeyRing, OpenKey, SecretBox
from dispatch_console.feeds.notify import alert_text, devices_to_notify
from dispatch_console.service import Command, IncidentService
from dispatch_console.store import Store
from dispatch_console.store.registry import Device, Rejection, excerpt_of
from dispatch_console.store.store import wall_clock_us

log = logging.getLogger(__name__)

GATEWAY = ev.Actor(ev.ActorKind.SYSTEM, "gateway")
#: Sender times further than this in the future are refused (a device clock gone wrong).
MAX_FUTURE_US = 300 * US_PER_S
#: How long cached reference data (devices, roster) is trusted before it is read again.
REFERENCE_TTL_S = 10.0


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


@dataclass
class Outbound:
    """Directives queued by this batch, for the transports to push (CoT to TAK devices)."""

    directives: list[ev.DirectiveQueued] = field(default_factory=list)


class GatewayCore:
    def __init__(
        self,
        store: Store,
        box: SecretBox,
        *,
        clock: Callable[[], int] = wall_clock_us,
    ) -> None:
        self.store = store
        self.clock = clock
        self.service = IncidentService(store, clock=clock)
        self.keys = KeyRing(store.key, box)
        self._devices = _Cached()
        self._by_tak_uid: dict[str, Device] = {}
        self._roster = _Cached()
        self._pending_positions: dict[str, tuple[str, float, float, int]] = {}
        self._pending_rejections: list[Rejection] = []
        self.listeners: list[Callable[[list[ev.Event]], None]] = []
        self.service.subscribe(self._published)
        self.service.load_active()

    # --- reference data -----------------------------------------------------------------------

    def devices(self) -> dict[str, Device]:
        if time.monotonic() - self._devices.loaded_at > REFERENCE_TTL_S:
            devices = {d.device_id: d for d in self.store.devices()}
            self._devices = _Cached(time.monotonic(), devices)
            self._by_tak_uid = {d.tak_uid: d for d in devices.values() if d.tak_uid}
        value: dict[str, Device] = self._devices.value
        return value

    def device_for_tak_uid(self, uid: str) -> Device | None:
        self.devices()  # refreshes the index when the cache is old
        return self._by_tak_uid.get(uid)

    def roster(self) -> Roster:
        if time.monotonic() - self._roster.loaded_at > REFERENCE_TTL_S:
            self._roster = _Cached(time.monotonic(), Roster(self.store.roster()))
        value: Roster = self._roster.value
        return value

    def active_incident_at(self, school_id: str) -> IncidentState | None:
        for state in self.service.live_incidents():
            if state.opened and not state.closed and state.school_id == school_id:
                return state
        return None

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
        key = self.keys.get(key_id) if key_id else None
        try:
            if key is None:
                raise AuthError(f"unknown or revoked key {key_id!r}")
            verify(key.secret, signature, body, self.clock() / US_PER_S)
        except AuthError as refused:
            self.reject("http", f"{key_id or '-'}@{sender}", f"401: {refused}", body)
            return error(401, "unauthorized")
        return key

    def reject(self, transport: str, sender: str, reason: str, data: bytes | str) -> None:
        log.warning("rejected %s message from %s: %s", transport, sender, reason)
        self._pending_rejections.append(
            Rejection(self.clock(), transport, sender, reason, excerpt_of(data))
        )
        if len(self._pending_rejections) >= 200:
            self.flush()

    def flush(self) -> None:
        """Write coalesced device positions and the rejection log (called a few times a second
        and on shutdown)."""
        self._flush_positions()
        if self._pending_rejections:
            rejections, self._pending_rejections = self._pending_rejections, []
            self.store.add_rejections(rejections)

    def _flush_positions(self) -> None:
        if self._pending_positions:
            positions = list(self._pending_positions.values())
            self._pending_positions.clear()
            self.store.record_device_positions(positions)

    # --- activations --------------------------------------------------------------------------

    def activation(self, key: OpenKey, body: bytes) -> Reply:
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
        idempotency = f"{key.key_id}/{msg.id}"
        known = self._already_stored(idempotency)
        if known is not None:
            return Reply(202, {"incident_id": known, "duplicate": True})
        school = self.store.school(msg.school_id)
        if school is None:
            return error(400, f"unknown school {msg.school_id}", "$.school_id")
        by = msg.activated_by or c.Person()
        alert = ev.AlertReceived(
            msg.id,
            msg.school_id,
            msg.type,
            activated_us,
            by.name,
            by.role,
            msg.location_detail,
            msg.message,
        )
        actor = ev.Actor(ev.ActorKind.DEVICE, f"school:{msg.school_id}")
        open_incident = self.active_incident_at(msg.school_id)
        if open_incident is None:
            incident_id, _ = self.service.open_incident(
                school, alert, actor=actor, source=ev.Source.FEED, idempotency_key=idempotency
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
        if msg.notified_device_ids is not None:
            notified = self._notify(incident_id, school, msg.notified_device_ids, "school")
        else:
            chosen = devices_to_notify(school, self.devices().values())
            notified = self._notify(incident_id, school, [d.device_id for d in chosen], "console")
        return Reply(202, {"incident_id": incident_id, "notified": notified})

    def notified(self, key: OpenKey, incident_id: str, body: bytes) -> Reply:
        try:
            msg = c.decode_body(body, c.Notified)
        except c.BodyError as bad:
            return self._bad("http", key.key_id, bad, body)
        state = next(
            (s for s in self.service.live_incidents() if s.incident_id == incident_id), None
        )
        if state is None or not state.opened:
            return error(404, f"no open incident {incident_id}")
        if key.kind != "school" or key.scope != state.school_id:
            self.reject("http", key.key_id, f"403: key not for incident {incident_id}", body)
            return error(403, "this key may not report notifications for this incident")
        idempotency = f"{key.key_id}/{msg.id}"
        if self._already_stored(idempotency) is not None:
            return Reply(202, {"incident_id": incident_id, "duplicate": True})
        school = self.store.school(state.school_id)
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
        if commands:
            self.service.execute_batch(commands)
        return sum(1 for cmd in commands if isinstance(cmd.payload, ev.ResponderNotified))

    # --- device messages ----------------------------------------------------------------------

    def device_messages(self, key: OpenKey, device_id: str, body: bytes) -> Reply:
        if key.kind != "device" or key.scope != device_id:
            self.reject("http", key.key_id, f"403: key not for device {device_id}", body)
            return error(403, f"this key may not send for device {device_id}")
        try:
            batch = c.decode_body(body, c.DeviceMessages)
            times = [self._time(m.at, f"$.messages[{i}].at") for i, m in enumerate(batch.messages)]
        except c.BodyError as bad:
            return self._bad("http", key.key_id, bad, body)
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
        outcome = self.service.execute_batch(commands)
        # A device's last known position is what alerts it to the next incident: written now,
        # before the 2xx, even where it is part of no incident yet.
        self._flush_positions()
        for command_index, violation in outcome.refused.items():
            message_index = owners[command_index]
            message_id = batch.messages[message_index].id
            for result in results:
                if result["id"] == message_id:
                    result.update(result="refused", error=str(violation))
        for result in results:
            if result["result"] == "refused":
                self.reject("http", key.key_id, f"refused: {result['error']}", body)
        return Reply(202, {"results": results})

    def _commands_for(
        self, device_id: str, msg: c.DeviceMessage, at_us: int, actor: ev.Actor
    ) -> list[Command]:
        src = ev.Source.FEED
        if isinstance(msg, c.Position):
            self._pending_positions[device_id] = (device_id, msg.lon, msg.lat, at_us)
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
            self.store.record_device_profile(device_id, profile)
            self._devices.loaded_at = 0.0  # re-read: the profile changed
            return [
                cmd
                for s in self.incidents_of(device_id)
                for cmd in self._profile_commands(s.incident_id, device_id, profile, at_us)
            ]
        if isinstance(msg, c.DirectiveAck):
            for state in self.incidents_of(device_id):
                directive = state.directives.get(msg.directive_id)
                if directive is not None and directive.device_id == device_id:
                    payload = ev.DirectiveAcknowledged(msg.directive_id)
                    return [Command(state.incident_id, payload, actor, src, at_us)]
            from dispatch_console.domain.lifecycle import Rule

            raise RuleViolation(
                Rule.UNKNOWN_DIRECTIVE, f"directive {msg.directive_id} of {device_id}"
            )
        incident_id = msg.incident_id
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

    def directives(self, key: OpenKey, device_id: str) -> Reply:
        """Pending directives of the device; the first fetch of each is its delivery event."""
        if key.kind != "device" or key.scope != device_id:
            self.reject("http", key.key_id, f"403: key not for device {device_id}", b"")
            return error(403, f"this key may not read directives of {device_id}")
        listed: list[dict[str, Any]] = []
        commands: list[Command] = []
        now = self.clock()
        for state in self.incidents_of(device_id):
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
        if commands:
            self.service.execute_batch(commands)
        return Reply(200, {"directives": listed})

    # --- Cursor-on-Target ---------------------------------------------------------------------

    def cot_batch(self, batch: Sequence[tuple[bytes, str]], transport: str) -> set[str]:
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
        return self.cot_positions(positions, transport)

    def cot_positions(
        self, positions: Sequence[tuple[CotPosition, str]], transport: str
    ) -> set[str]:
        """Store parsed position reports ``(report, sender)``; return the uids seen."""
        commands: list[Command] = []
        uids: set[str] = set()
        horizon = self.clock() + MAX_FUTURE_US
        for cot, sender in positions:
            uids.add(cot.uid)
            if cot.lat == 0.0 and cot.lon == 0.0:
                self.reject(transport, sender, "position at 0,0 (no GPS fix)", f"uid {cot.uid}")
                continue
            if cot.time_us > horizon:
                self.reject(
                    transport, sender, "time more than 5 minutes in the future", f"uid {cot.uid}"
                )
                continue
            commands.extend(self._cot_position(cot))
        if commands:
            self.service.execute_batch(commands)
        return uids

    def udp_batch(self, batch: Any) -> None:
        """A batch from the UDP worker process (parsed reports and refusals)."""
        for sender, reason, excerpt in batch.rejected:
            self.reject("udp", sender, reason, excerpt)
        self.cot_positions(batch.positions, "udp")

    def cot_stream_pieces(self, pieces: Sequence[bytes | Exception], sender: str) -> set[str]:
        """Documents split from a TCP stream, with the splitter's rejections in between."""
        documents: list[tuple[bytes, str]] = []
        for piece in pieces:
            if isinstance(piece, bytes):
                documents.append((piece, sender))
            else:
                self.reject("tcp", sender, str(getattr(piece, "reason", piece)), b"")
        return self.cot_batch(documents, "tcp")

    def _cot_position(self, cot: CotPosition) -> list[Command]:
        at_us: int = cot.time_us
        stale_us = max(int(cot.stale_us), at_us)  # a stale time before the time: stale at once
        device = self.device_for_tak_uid(cot.uid)
        if device is not None:
            responder_id = device.device_id
            self._pending_positions[responder_id] = (responder_id, cot.lon, cot.lat, at_us)
            incidents = self.incidents_of(responder_id)
        else:
            responder_id = f"tak:{cot.uid}"
            incidents = self._nearby_incidents(cot.lon, cot.lat)
        actor = ev.Actor(ev.ActorKind.DEVICE, responder_id)
        commands: list[Command] = []
        for state in incidents:
            if responder_id not in state.responders:
                commands.extend(self._unregistered_contact(state, responder_id, cot))
            position = ev.ResponderPosition(
                responder_id,
                cot.lat,
                cot.lon,
                at_us,
                stale_us,
                cot.ce,
                cot.speed_mps,
                cot.course_deg,
            )
            key = f"cot:{cot.uid}:{at_us}:{state.incident_id}"
            commands.append(Command(state.incident_id, position, actor, ev.Source.FEED, at_us, key))
        return commands

    def _nearby_incidents(self, lon: float, lat: float) -> list[IncidentState]:
        from dispatch_console.domain.geometry import local_frame

        found = []
        for state in self.service.live_incidents():
            if not state.opened or state.closed:
                continue
            school = self.store.school(state.school_id)
            radius = school.notification_radius_m if school else 16_093.44
            if (
                local_frame(state.lon, state.lat).distance_m(lon, lat, state.lon, state.lat)
                <= radius
            ):
                found.append(state)
        return found

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

    def queue_pending_for_tak(self, uid: str) -> None:
        """A TAK device just connected: re-announce its undelivered directives so the
        transport pushes them."""
        device = self.device_for_tak_uid(uid)
        if device is None:
            return
        events: list[ev.Event] = []
        for state in self.incidents_of(device.device_id):
            for d in state.pending_directives(device.device_id):
                if d.delivered_at_us is None:
                    payload = ev.DirectiveQueued(
                        d.directive_id,
                        d.responder_id,
                        d.device_id,
                        d.kind,
                        d.text,
                        d.staging_area_id,
                    )
                    events.append(
                        ev.Event(
                            0,
                            state.incident_id,
                            payload.TYPE,
                            d.queued_at_us,
                            d.queued_at_us,
                            GATEWAY,
                            ev.Source.FEED,
                            payload,
                        )
                    )
        if events:
            self._published(events)

    def cot_for_directive(
        self, incident_id: str, directive: ev.DirectiveQueued, uid: str
    ) -> list[bytes]:
        """The CoT documents that carry a directive to a TAK device: a marker (the school for an
        alert, the staging area for a go-to-staging) and a GeoChat line with the text."""
        from dispatch_console.feeds.cot import build

        state = self.service.state(incident_id)
        now = self.clock()
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
        if at_us < 946_684_800 * US_PER_S:  # before 2000: a device clock that was never set
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
