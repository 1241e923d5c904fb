"""TAK out: directives to TAK devices as Cursor-on-Target (a marker and a GeoChat line).

The documents are built on the gateway's writer thread; the event loop only writes bytes to
the device's connection (CoT TCP, or TLS). A directive counts as delivered when first written
to a connection (:meth:`TakOut.directive_delivered`); one not acknowledged yet goes again each
time the device connects (:meth:`TakOut.pending_for`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dispatch_console.domain import events as ev
from dispatch_console.domain.timeutil import US_PER_S
from dispatch_console.feeds.reference import GATEWAY, ReferenceCache
from dispatch_console.service import Command, IncidentService

#: How long a directive's CoT stays on a TAK map.
DIRECTIVE_STALE_US = 3600 * US_PER_S


class TakOut:
    def __init__(
        self,
        service: IncidentService,
        reference: ReferenceCache,
        *,
        clock: Callable[[], int],
        wall_clock: Callable[[], int],
    ) -> None:
        self.service = service
        self.reference = reference
        self.clock = clock
        self.wall_clock = wall_clock

    def pending_for(self, uid: str) -> list[bytes]:
        """A TAK device just connected: the CoT of every directive it has not acknowledged
        (a write to a TCP socket proves nothing, so they go again on every connection)."""
        device = self.reference.device_for_tak_uid(uid)
        if device is None:
            return []
        documents: list[bytes] = []
        for state in self.service.live_incidents():
            if not state.opened or state.closed or device.device_id not in state.responders:
                continue
            for d in state.pending_directives(device.device_id):
                payload = ev.DirectiveQueued(
                    d.directive_id,
                    d.responder_id,
                    d.device_id,
                    d.kind,
                    d.text,
                    d.staging_area_id,
                    details=d.details,
                )
                documents.extend(self.for_directive(state.incident_id, payload, uid))
                self.directive_delivered(state.incident_id, d.directive_id)
        return documents

    def for_events(self, events: list[ev.Event]) -> list[tuple[str, list[bytes], tuple[str, str]]]:
        """For directives just queued for TAK devices: ``(uid, CoT documents, (incident id,
        directive id))`` to send."""
        outbound = []
        for event in events:
            payload = event.payload
            if not isinstance(payload, ev.DirectiveQueued) or event.incident_id is None:
                continue
            device = self.reference.devices().get(payload.device_id)
            if device is None or not device.tak_uid:
                continue
            documents = self.for_directive(event.incident_id, payload, device.tak_uid)
            outbound.append((device.tak_uid, documents, (event.incident_id, payload.directive_id)))
        return outbound

    def for_directive(
        self, incident_id: str, directive: ev.DirectiveQueued, uid: str
    ) -> list[bytes]:
        """The CoT documents that carry a directive to a TAK device: a marker (the school for an
        alert, the staging area for a go-to-staging) and a GeoChat line with the text."""
        from dispatch_console.feeds.cot import build

        state = self.service.state(incident_id)
        now = self.wall_clock()  # sent now (a forwarded message's directive too): not stale
        stale = DIRECTIVE_STALE_US
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
