"""The gateway's logic, transport-free: authenticated messages in, events out.

:class:`GatewayCore` is every concern together (see :mod:`~dispatch_console.feeds.base` for
the map of modules): the HTTP routes and their outage answers, the CoT entry points below, and
authentication. A CoT report and an HTTP position both go through the one position pipeline
(:mod:`~dispatch_console.feeds.positions`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from dispatch_console.domain import events as ev
from dispatch_console.domain.reference import School
from dispatch_console.domain.roster import Roster
from dispatch_console.domain.timeutil import US_PER_S
from dispatch_console.feeds.alerting import AgencyAlerting
from dispatch_console.feeds.auth import AuthError, verify
from dispatch_console.feeds.base import Reply, error
from dispatch_console.feeds.cot.parse import CotPosition
from dispatch_console.feeds.identity import CERTIFICATE
from dispatch_console.feeds.keys import KeyProblem, OpenKey
from dispatch_console.feeds.outage import OutageAnswers
from dispatch_console.feeds.positions import (
    EARLIEST_US,
    MAX_FUTURE_US,
    MAX_STALE_WINDOW_US,
    MAX_UNREGISTERED_PER_INCIDENT,
)
from dispatch_console.feeds.reference import GATEWAY, REFERENCE_TTL_S
from dispatch_console.service import PositionFields
from dispatch_console.store import collector_paused
from dispatch_console.store.registry import Device, excerpt_of

log = logging.getLogger(__name__)

#: What a key id may look like (anything else is refused before any lookup).
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
#: A proven client certificate: (device id, its TAK uid).
Proven = tuple[str, str | None]

__all__ = [
    "EARLIEST_US",
    "GATEWAY",
    "MAX_FUTURE_US",
    "MAX_STALE_WINDOW_US",
    "MAX_UNREGISTERED_PER_INCIDENT",
    "REFERENCE_TTL_S",
    "GatewayCore",
    "Reply",
    "error",
]


class GatewayCore(OutageAnswers):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Agency response rules: who of the devices near a school is alerted, and what each is told.
        self.alerting = AgencyAlerting(self)

    # --- reference data (the caches are in ``self.reference``) --------------------------------

    def devices(self) -> dict[str, Device]:
        return self.reference.devices()

    def school(self, school_id: str) -> School | None:
        return self.reference.school(school_id)

    def roster(self) -> Roster:
        return self.reference.roster()

    def device_for_tak_uid(self, uid: str) -> Device | None:
        return self.reference.device_for_tak_uid(uid)

    def remember_reference(self) -> None:
        """Read every key, school and device now (the gateway does so every minute): what a
        message is checked against while the store is unreachable."""
        self.keys.remember(self.store.api_keys())
        self.reference.remember()

    # --- authentication -----------------------------------------------------------------------

    def refresh_keys(self) -> None:
        """Keys in use read again before they expire (twice a second, see ``KeyRing``)."""
        if not self.offline:
            self.keys.refresh_ageing(self.store.keys)

    def prefetch_keys(self, key_ids: Sequence[str | None]) -> None:
        """Read the keys a group of requests names in one query (see ``KeyRing.prefetch``)."""
        if not self.offline:
            wanted = [k for k in key_ids if k and _KEY_ID.fullmatch(k)]
            self.keys.prefetch(wanted, self.store.keys)

    def authenticate(
        self, key_id: str | None, signature: str | None, body: bytes, sender: str
    ) -> OpenKey | Reply:
        """The key that signed ``body``, or a 401 reply (and the refusal is logged)."""
        try:
            if not key_id or not _KEY_ID.fullmatch(key_id):
                raise AuthError("missing or malformed key id")
            key = self.keys.get(key_id, offline=self.offline)
            if key is None or key.kind == CERTIFICATE:  # a certificate's row signs nothing
                raise AuthError(f"unknown or revoked key {key_id!r}")
            if key.kind == "device" and key.scope not in self.reference.devices():
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

    # --- Cursor-on-Target in -------------------------------------------------------------------

    def cot_batch(
        self,
        batch: Sequence[tuple[bytes, str]],
        transport: str,
        proven: Proven | None = None,
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

    def udp_batch(self, batch: Any) -> None:
        """A batch from the UDP worker process (parsed reports and refusals)."""
        for sender, reason, excerpt in batch.rejected:
            self.reject("udp", sender, reason, excerpt)
        self.cot_positions(batch.positions, "udp")

    def cot_stream_pieces(
        self,
        pieces: Sequence[bytes | Exception],
        sender: str,
        proven: Proven | None = None,
    ) -> set[str]:
        """Documents split from a TCP or TLS stream, with the splitter's rejections in
        between (``proven``: the device the TLS connection's certificate proves)."""
        documents: list[tuple[bytes, str]] = []
        transport = "tls" if proven else "tcp"
        for piece in pieces:
            if isinstance(piece, bytes):
                documents.append((piece, sender))
            else:
                self.reject(transport, sender, str(getattr(piece, "reason", piece)), b"")
        return self.cot_batch(documents, transport, proven)

    def cot_positions(
        self,
        positions: Sequence[tuple[CotPosition, str]],
        transport: str,
        proven: Proven | None = None,
    ) -> set[str]:
        """Store parsed position reports ``(report, sender)``; return the uids seen.

        Through the one position pipeline: who a uid is, and which incidents its positions go
        to, is worked out once per uid and batch. Only a contact joining an incident (a
        registered device near one it was not alerted to, an unregistered uid near one) makes
        commands, stored first in the same transaction as the positions. First, who may report
        for each uid (:meth:`PositionPipeline.admit`): plain CoT never speaks for a device
        enrolled with a certificate, a TLS connection only for the device it proves.
        """
        positions = self.positions.admit(positions, transport, self.reject, proven)
        with collector_paused():  # thousands of short-lived objects, no cycles
            return self._cot_positions(positions, transport)

    def _cot_positions(
        self, positions: Sequence[tuple[CotPosition, str]], transport: str
    ) -> set[str]:
        from dispatch_console.feeds.positions import stale_of, time_problem

        now = self.clock()
        uids: set[str] = set()
        pipeline = self.positions
        batch = pipeline.batch()
        for cot, sender in positions:
            uid, _, at_us, stale_us, lat, lon, ce, callsign, speed, course = cot
            if lat == 0.0 and lon == 0.0:
                self.reject(transport, sender, "position at 0,0 (no GPS fix)", f"uid {uid}")
                continue
            problem = time_problem(at_us, now)
            if problem is not None:
                self.reject(transport, sender, problem, f"uid {uid}")
                continue
            uids.add(uid)  # only an accepted report binds its uid to a connection
            route = pipeline.route_uid(batch, uid)
            fields = PositionFields(
                route.responder_id, lat, lon, at_us, stale_of(at_us, stale_us), ce, speed, course
            )
            # Time first: keys then arrive nearly in order, and the unique index takes them at
            # its right edge (uid first scattered them: 3 us more per insert).
            pipeline.add(
                batch, route, fields, f"cot:{at_us}:{uid}", per_incident_keys=True,
                callsign=callsign, uid=uid,
            )  # fmt: skip
        if batch.reports or batch.commands:
            self.service.record_positions(batch.reports, batch.commands)
        return uids

    # --- TAK out (see ``self.tak``) ------------------------------------------------------------

    def pending_cot_for_tak(self, uid: str) -> list[bytes]:
        return self.tak.pending_for(uid)

    def cot_for_events(
        self, events: list[ev.Event]
    ) -> list[tuple[str, list[bytes], tuple[str, str]]]:
        return self.tak.for_events(events)

    def directive_delivered(self, incident_id: str, directive_id: str) -> None:
        self.tak.directive_delivered(incident_id, directive_id)
