"""The gateway's HTTP routes, by name (the journal keeps the name): activations, notified
lists, device messages and directives. Each takes an authenticated request and answers it
after what it made is durably stored.

Device messages are answered in **group commits** (:meth:`HttpRoutes.device_messages_group`):
the requests that arrived together are checked one by one, and what they make (positions
through the one position pipeline, acknowledgements, statuses, profiles) is stored in ONE
durable transaction, with the devices' last-known positions; each request is answered only
after that commit. A new route (CAP, EIDO...) goes here, beside these.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from dispatch_console.domain import events as ev
from dispatch_console.domain.lifecycle import Rule, RuleViolation
from dispatch_console.domain.reference import School
from dispatch_console.domain.state import IncidentState
from dispatch_console.feeds import contract as c
from dispatch_console.feeds.alerting import AgencyAlerting
from dispatch_console.feeds.base import GATEWAY, GatewayBase, Reply, error
from dispatch_console.feeds.keys import OpenKey
from dispatch_console.feeds.notify import alert_text, devices_to_notify
from dispatch_console.feeds.positions import PositionBatch, stale_of
from dispatch_console.service import Command, PositionFields
from dispatch_console.service.incidents import new_incident_id

log = logging.getLogger("dispatch_console.feeds.core")


@dataclass(frozen=True, slots=True)
class DeviceRequest:
    """One authenticated request of device messages, in a group commit."""

    key: OpenKey
    device_id: str
    body: bytes
    #: The sender's address (every refusal of this request names it).
    peer: str | None = None


class HttpRoutes(GatewayBase):
    alerting: AgencyAlerting  # set by GatewayCore

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
        if route == "cap":
            from dispatch_console.feeds.cap import handle_cap

            return handle_cap(self, key, body)  # type: ignore[arg-type]
        if route == "eido":
            from dispatch_console.feeds.eido_ws import incident_eido_reply

            return incident_eido_reply(self, key, target)  # type: ignore[arg-type]
        raise ValueError(f"no route {route!r}")

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
        school = self.reference.school(msg.school_id)
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

    def _alert_devices(self, incident_id: str, school: School, listed: Sequence[str] | None) -> int:
        """Alert the devices the school listed, or else every device within its radius."""
        if listed is not None:  # the school's own system chose them: the rules still decide
            devices = self.reference.devices()
            named = [devices[d] for d in dict.fromkeys(listed) if d in devices]
            return self.alerting.alert(incident_id, school, named, "school")
        chosen = devices_to_notify(school, self.reference.devices().values())
        # Agency response rules (feeds/alerting.py) decide who of them, and what each is told.
        return self.alerting.alert(incident_id, school, chosen)

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
        school = self.reference.school(state.school_id)
        assert school is not None
        # The school's system says whom it alerted: the console alerts those of them the agency
        # rules allow (never an unverified app user), as for an activation's list.
        devices = self.reference.devices()
        named = [devices[d] for d in dict.fromkeys(msg.device_ids) if d in devices]
        count = self.alerting.alert(incident_id, school, named, "school", idempotency)
        return Reply(202, {"incident_id": incident_id, "notified": count})

    def _notify(
        self,
        incident_id: str,
        school: School,
        device_ids: Sequence[str],
        by: str,
        idempotency: str | None = None,
        instructions: dict[str, str] | None = None,
        extra: Sequence[Command] = (),
    ) -> int:
        """Notify each device (once per incident): ``responder_notified``, what it claimed of
        itself so far, its roster verdict and the queued alert directive (``instructions``: what
        the agency's rules tell a device instead of the general text; ``extra``: commands stored
        with them, first, such as the rules applied)."""
        state = self.service.state(incident_id)
        devices = self.reference.devices()
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
        commands: list[Command] = list(extra)
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
                    idempotency if len(commands) == len(extra) else None,
                )
            )
            device = devices.get(device_id)
            if device is not None and device.profile:
                commands.extend(
                    self.reference.profile_commands(incident_id, device_id, device.profile, now)
                )
            told = instructions.get(device_id) if instructions else None
            told_text = text
            if told is not None:
                told_text = alert_text(
                    school,
                    latest_alert.alert_type,
                    latest_alert.location_detail,
                    latest_alert.message,
                    None,
                    told,
                )
                if state.exercise:
                    told_text = f"EXERCISE, NOT A REAL CALL. {told_text}"
            directive = ev.DirectiveQueued(
                _directive_id(),
                device_id,
                device_id,
                "alert",
                told_text,
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
        return self.device_messages_group([DeviceRequest(key, device_id, body)])[0]

    def device_messages_group(self, requests: Sequence[DeviceRequest]) -> list[Reply]:
        """Answer requests of device messages that arrived together: everything they make is
        stored in one durable transaction (with the devices' last-known positions); each answer
        holds only after that commit. A message whose idempotency key is stored already (or
        repeated within the group) is a duplicate."""
        replies: list[Reply | None] = [None] * len(requests)
        checked: list[tuple[int, DeviceRequest, c.DeviceMessages, list[int]]] = []
        for index, request in enumerate(requests):
            with self.from_peer(request.peer or self.peer):
                valid = self._checked_device_messages(request.key, request.device_id, request.body)
            if isinstance(valid, Reply):
                replies[index] = valid
            else:
                checked.append((index, request, valid[0], valid[1]))
        # Looked up first only for messages that make commands (an acknowledgement stored
        # already is a duplicate, not refused by the rules); a position's key is left to the
        # store's unique index inside the group's transaction (``append_raw``), which answers
        # a resent one "duplicate" too: no round trip before the commit for a group of
        # positions.
        keys = [
            f"{r.key.key_id}/{m.id}"
            for _, r, msgs, _ in checked
            for m in msgs.messages
            if not isinstance(m, c.Position)
        ]
        seen = self.store.stored_keys(keys) if keys else set()
        batch = self.positions.batch()
        commands = batch.commands
        #: For each command and report: (request index, message id) it came from.
        command_owner: dict[int, tuple[int, str]] = {}
        report_owner: dict[int, tuple[int, str]] = {}
        plain_reports: list[int] = []
        results: dict[int, list[dict[str, Any]]] = {}
        for index, request, msgs, times in checked:
            device_id = request.device_id
            actor = ev.Actor(ev.ActorKind.DEVICE, device_id)
            answers = results[index] = []
            for msg, at_us in zip(msgs.messages, times, strict=True):
                idempotency = f"{request.key.key_id}/{msg.id}"
                if idempotency in seen:
                    answers.append({"id": msg.id, "result": "duplicate"})
                    continue
                seen.add(idempotency)
                if isinstance(msg, c.Position):
                    before = len(batch.reports)
                    self._position(batch, device_id, msg, at_us, idempotency)
                    for n in range(before, len(batch.reports)):
                        report_owner[n] = (index, msg.id)
                    if len(batch.reports) > before:
                        plain_reports.append(before)
                    answers.append({"id": msg.id, "result": "stored"})
                    continue
                try:
                    made = self._commands_for(batch, device_id, msg, at_us, actor)
                except RuleViolation as refused:
                    answers.append({"id": msg.id, "result": "refused", "error": str(refused)})
                    continue
                except _AlreadyKnown:  # e.g. "at staging", after the geofence saw it arrive
                    answers.append({"id": msg.id, "result": "duplicate"})
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
                for command in made:
                    command_owner[len(commands)] = (index, msg.id)
                    commands.append(command)
                answers.append({"id": msg.id, "result": "stored"})
        if checked:
            self._store_group(batch, command_owner, report_owner, plain_reports, results)
        for index, request, _, _ in checked:
            answers = results[index]
            refusals = [r for r in answers if r["result"] == "refused"]
            if refusals:  # one entry per request, however many of its messages were refused
                summary = f"refused {len(refusals)} of {len(answers)}: {refusals[0]['error']}"
                with self.from_peer(request.peer or self.peer):
                    self.reject("http", request.key.key_id, summary, request.body)
            replies[index] = Reply(202, {"results": answers})
        return [reply for reply in replies if reply is not None]

    def _store_group(
        self,
        batch: PositionBatch,
        command_owner: dict[int, tuple[int, str]],
        report_owner: dict[int, tuple[int, str]],
        plain_reports: list[int],
        results: dict[int, list[dict[str, Any]]],
    ) -> None:
        """One durable transaction for the group; then each message's result is what the
        store decided (refused by a rule, or stored meanwhile by another gateway)."""
        # A device's last known position is what alerts it to the next incident: written now,
        # before the 2xx, even where it is part of no incident yet (in the same commit).
        positions = self.positions.take_last_known()
        try:
            outcome = self.service.record_positions(
                batch.reports,
                batch.commands,
                alongside=lambda tx: tx.record_device_positions(positions),
            )
        except Exception:
            self.positions.keep(positions)
            raise

        def mark(owner: tuple[int, str] | None, result: str, why: str | None = None) -> None:
            if owner is None:
                return
            for answer in results[owner[0]]:
                if answer["id"] == owner[1] and answer["result"] != "refused":
                    answer["result"] = result
                    if why is not None:
                        answer["error"] = why

        for n, violation in outcome.refused_commands.items():
            mark(command_owner.get(n), "refused", str(violation))
        for n, why in outcome.refused.items():
            mark(report_owner.get(n), "refused", why)
        if outcome.duplicates:
            for n, command in enumerate(batch.commands):
                if command.idempotency_key in outcome.duplicates:
                    mark(command_owner.get(n), "duplicate")
            for n in plain_reports:  # a message's first report carries its own key
                if batch.reports[n].idempotency_key in outcome.duplicates:
                    mark(report_owner[n], "duplicate")

    def _position(
        self, batch: PositionBatch, device_id: str, msg: c.Position, at_us: int, key: str
    ) -> None:
        """A device's position over HTTP, into the one position pipeline."""
        device = self.reference.devices().get(device_id)
        if device is None:  # removed since its key was checked: remembered, routed nowhere
            self.positions.remember(device_id, msg.lon, msg.lat, at_us)
            return
        route = self.positions.route_device(batch, device)
        fields = PositionFields(
            device_id, msg.lat, msg.lon, at_us, stale_of(at_us, None),
            msg.accuracy_m, msg.speed_mps, msg.heading_deg,
        )  # fmt: skip
        self.positions.add(batch, route, fields, key, per_incident_keys=False)

    def _commands_for(
        self,
        batch: PositionBatch,
        device_id: str,
        msg: c.DeviceMessage,
        at_us: int,
        actor: ev.Actor,
    ) -> list[Command]:
        src = ev.Source.FEED
        if isinstance(msg, c.Profile):
            profile = msgspec.to_builtins(msg)
            profile.pop("kind", None)
            if not self.store.record_device_profile(device_id, profile, at_us):
                return []  # older than the profile kept: it changes nothing
            self.reference.forget_devices()  # re-read: the profile changed
            return [
                cmd
                for s in self._member_of(batch, device_id)
                for cmd in self.reference.profile_commands(s.incident_id, device_id, profile, at_us)
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
        assert not isinstance(msg, c.Position)
        incident_id = msg.incident_id
        if not any(s.incident_id == incident_id for s in self._member_of(batch, device_id)):
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

    def _member_of(self, batch: PositionBatch, device_id: str) -> list[IncidentState]:
        """Active incidents the device is in, counting those its positions of this group
        joined (stored in the same transaction, before the messages that follow)."""
        route = batch.routes.get(device_id)
        if route is not None:
            return list(route.member)
        return self.incidents_of(device_id)

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
                listed.append(directive_listing(state, d))
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


def directive_listing(state: IncidentState, directive: Any) -> dict[str, Any]:
    """A pending directive as a device reads it (``GET …/directives``, the web page's stream):
    an ``identified`` or ``assignment`` one with its ``details`` (team, radio channel...)."""
    listed = {
        "directive_id": directive.directive_id,
        "incident_id": state.incident_id,
        "kind": directive.kind,
        "text": directive.text,
        "school": state.school_name,
        "staging_area_id": directive.staging_area_id,
    }
    if directive.details is not None:
        listed["details"] = msgspec.to_builtins(directive.details)
    return listed


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


def _slot(msg: c.Activation) -> str:
    """Where an activation's promised incident is kept: ``school_id/exercise``."""
    return f"{msg.school_id}/{msg.exercise}"


def _directive_id() -> str:
    return f"dir-{secrets.token_hex(6)}"
