"""The responder web page's routes on the gateway.

- ``GET /r/``: the page (one file, nothing loaded from any other host).
- ``POST /r/v1/enrol``: ``{"token", "public_key"}``: a one-time link's token (made by
  ``dispatch-console devices invite DEVICE``) and the ECDSA P-256 public key the browser made
  (base64 SPKI); answers ``{"device_id", "key_id"}``. From then on the page signs like any app
  (``feeds/auth.py``) and sends the contract's device messages to ``/v1/devices/…/messages``.
- ``GET /v1/devices/{device_id}/stream`` (signed): server-sent events. Each event is the
  device's whole briefing (its incidents and pending directives), sent on connecting and again
  whenever one of its incidents changes: a page that reconnects has caught up at once.
- ``GET /v1/devices/{device_id}/map/{incident_id}`` (signed): the incident's school, campus,
  staging areas and the county's roads near them, for the page's small map.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from dispatch_console.domain import events as ev
from dispatch_console.domain.state import IncidentState
from dispatch_console.feeds.auth import ECDSA_PREFIX, AuthError, ecdsa_public_key
from dispatch_console.feeds.core import GATEWAY, Reply
from dispatch_console.feeds.routes import directive_listing
from dispatch_console.store.registry import RegistryError

if TYPE_CHECKING:
    from dispatch_console.feeds.server import Gateway

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
#: One-time links expire after this if unused.
INVITE_TTL_S = 24 * 3600
#: Roads further than this from the school are left off the page's map.
MAP_RADIUS_M = 2500.0
#: A comment line this often keeps proxies and the page's watchdog from closing a quiet stream.
HEARTBEAT_S = 15.0
#: Events that change nothing a page shows.
_QUIET = frozenset({ev.ResponderPosition.TYPE, ev.DirectiveDelivered.TYPE})
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; "
        "img-src 'self' data:; media-src 'self' data:; connect-src 'self'; "
        "manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_invite_token() -> str:
    return secrets.token_urlsafe(24)


def suspect_text(state: IncidentState) -> str | None:
    revision = state.suspect
    return revision.description.describe() if revision is not None else None


class ResponderWeb:
    """The page's routes, on a running :class:`Gateway`."""

    def __init__(self, gateway: Gateway, roads_path: Path | None = None) -> None:
        self.gateway = gateway
        self.roads_path = roads_path
        self._roads: list[dict[str, Any]] | None = None
        self._page = (STATIC / "index.html").read_bytes()
        #: device -> the queues of its open streams (on the loop).
        self.streams: dict[str, set[asyncio.Queue[bytes | None]]] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dirty: set[str] = set()
        self._pushing: asyncio.Future[None] | None = None

    def install(self, app: web.Application) -> None:
        app.router.add_get("/r/", self._page_route)
        app.router.add_get("/r", self._redirect)
        app.router.add_post("/r/v1/enrol", self._enrol)
        app.router.add_get("/v1/devices/{device_id}/stream", self._stream)
        app.router.add_get("/v1/devices/{device_id}/map/{incident_id}", self._map)
        self._loop = asyncio.get_running_loop()
        core = self.gateway.core
        assert core is not None
        core.listeners.append(self._events)

    # --- the page -------------------------------------------------------------------------------

    async def _redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/r/")

    async def _page_route(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self._page, content_type="text/html", charset="utf-8", headers=_SECURITY_HEADERS
        )

    # --- enrolment ------------------------------------------------------------------------------

    async def _enrol(self, request: web.Request) -> web.Response:
        gateway = self.gateway
        limited = gateway._limited(request)
        if limited is not None:
            return limited
        body = await request.read()
        peer = request.remote or "?"
        try:
            data = json.loads(body)
            token, public_key = str(data["token"]), str(data["public_key"])
            if not 8 <= len(token) <= 100 or len(public_key) > 400:
                raise ValueError("token or key of the wrong size")
            ecdsa_public_key(public_key)
        except (ValueError, KeyError, TypeError, AuthError) as bad:
            await gateway.on_writer(self._refuse, peer, f"400: enrolment: {bad}", body)
            return web.json_response({"error": "not a valid enrolment"}, status=400)

        def enrol() -> Reply:
            from dispatch_console.feeds.keys import new_key_material

            core = gateway.core
            assert core is not None
            device_id = core.store.use_invite(token_hash(token), core.clock())
            if device_id is None:
                core.reject("http", f"enrol@{peer}", "401: unknown, used or expired link", body)
                return Reply(401, {"error": "this link is used, expired or unknown"})
            material = new_key_material("device")
            sealed = core.keys._box.seal((ECDSA_PREFIX + public_key.encode()).decode())
            core.store.add_key(material.key_id, "device", device_id, sealed, "web page")
            log.warning("device %s enrolled from the web page: key %s", device_id, material.key_id)
            return Reply(200, {"device_id": device_id, "key_id": material.key_id})

        try:
            reply = await gateway.on_writer(enrol)
        except RegistryError as failed:
            return web.json_response({"error": str(failed)}, status=409)
        return web.json_response(reply.body, status=reply.status)

    def _refuse(self, peer: str, reason: str, body: bytes) -> None:
        core = self.gateway.core
        assert core is not None
        core.reject("http", f"enrol@{peer}", reason, body)

    # --- signed reads ---------------------------------------------------------------------------

    async def _key_for(self, request: web.Request, device_id: str) -> Any:
        """The device's key, or the refusal to send (401, 403, 429)."""
        gateway = self.gateway
        limited = gateway._limited(request)
        if limited is not None:
            return limited
        key_id = request.headers.get("X-Dispatch-Key-Id")
        signature = request.headers.get("X-Dispatch-Signature")
        peer = request.remote or "?"
        key = await gateway.on_writer(gateway._authorized, key_id, signature, b"", peer)
        if isinstance(key, Reply):
            return web.json_response(key.body, status=key.status)
        if key.kind != "device" or key.scope != device_id:
            return web.json_response({"error": f"this key may not read {device_id}"}, status=403)
        return key

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        device_id = request.match_info["device_id"]
        key = await self._key_for(request, device_id)
        if isinstance(key, web.StreamResponse):
            return key
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=64)
        with self._lock:
            self.streams.setdefault(device_id, set()).add(queue)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        try:
            await response.prepare(request)
            await response.write(await self._briefing_event(key, device_id))
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
                except TimeoutError:
                    item = b""
                    if not await self.gateway.on_writer(self._still_valid, key):
                        break  # revoked (a lost phone): its stream ends, and it cannot open one
                    await response.write(b": still here\n\n")
                    continue
                while item is not None and not queue.empty():  # the newest briefing is enough
                    item = queue.get_nowait()
                if item is None:
                    break
                await response.write(item)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            with self._lock:
                queues = self.streams.get(device_id)
                if queues is not None:
                    queues.discard(queue)
                    if not queues:
                        del self.streams[device_id]
        return response

    def _still_valid(self, key: Any) -> bool:
        core = self.gateway.core
        assert core is not None
        try:
            return core.keys.get(key.key_id, offline=core.offline) is not None
        except Exception:  # the store is away: the key stays as it was
            return True

    async def _briefing_event(self, key: Any, device_id: str) -> bytes:
        return (await self.gateway.on_writer(self.briefings, [device_id]))[device_id]

    def briefings(self, device_ids: Iterable[str]) -> dict[str, bytes]:
        """On the writer: each device's briefing as an SSE event; the first listing of each
        directive is recorded as its delivery (all in one batch), as for the app's fetch."""
        from dispatch_console.service import Command

        core = self.gateway.core
        assert core is not None
        now = core.clock()
        delivered: list[Command] = []
        events: dict[str, bytes] = {}
        for device_id in device_ids:
            briefing = self.briefing(device_id)
            for d in briefing["directives"]:
                state = next(
                    (
                        s
                        for s in core._incidents_with(device_id)
                        if s.incident_id == d["incident_id"]
                    ),
                    None,
                )
                held = state.directives.get(d["directive_id"]) if state is not None else None
                if held is not None and held.delivered_at_us is None:
                    payload = ev.DirectiveDelivered(held.directive_id, "http")
                    delivered.append(
                        Command(d["incident_id"], payload, GATEWAY, ev.Source.FEED, now)
                    )
            events[device_id] = b"event: briefing\ndata: " + json.dumps(briefing).encode() + b"\n\n"
        if delivered and self.gateway.store_down is None:
            core.service.execute_batch(delivered)
        return events

    def briefing(self, device_id: str) -> dict[str, Any]:
        """On the writer: what the page shows (its incidents and pending directives)."""
        core = self.gateway.core
        assert core is not None
        # Directives of open incidents only (a closed one's are over; the page shows that it
        # closed from the incident list below).
        listed = [
            directive_listing(state, d)
            for state in core.incidents_of(device_id)
            for d in state.pending_directives(device_id)
        ]
        incidents = []
        for state in core._incidents_with(device_id):
            responder = state.responders.get(device_id)
            alert = max(state.alerts.values(), key=lambda a: a.received_at_us, default=None)
            incidents.append(
                {
                    "incident_id": state.incident_id,
                    "school": state.school_name,
                    "school_id": state.school_id,
                    "lat": state.lat,
                    "lon": state.lon,
                    "status": state.status,
                    "exercise": state.exercise,
                    "alert_type": alert.alert_type if alert else state.incident_type,
                    "location_detail": alert.location_detail if alert else None,
                    "message": alert.message if alert else None,
                    "suspect": suspect_text(state),
                    "responder_status": str(responder.status) if responder else None,
                    "staging": [
                        {"staging_area_id": a.staging_area_id, "name": a.name}
                        for a in sorted(state.staging_areas.values(), key=_by_id)
                    ],
                }
            )
        return {"device_id": device_id, "incidents": incidents, "directives": listed}

    async def _map(self, request: web.Request) -> web.Response:
        device_id = request.match_info["device_id"]
        key = await self._key_for(request, device_id)
        if isinstance(key, web.StreamResponse):
            return key  # type: ignore[return-value]
        incident_id = request.match_info["incident_id"]
        found = await self.gateway.on_writer(self._map_of, device_id, incident_id)
        if found is None:
            return web.json_response({"error": f"no incident {incident_id}"}, status=404)
        return web.json_response(found, headers={"Cache-Control": "no-store"})

    def _map_of(self, device_id: str, incident_id: str) -> dict[str, Any] | None:
        core = self.gateway.core
        assert core is not None
        state = next(
            (s for s in core._incidents_with(device_id) if s.incident_id == incident_id), None
        )
        if state is None:
            return None
        school = core.school(state.school_id)
        return {
            "school": {"lon": state.lon, "lat": state.lat, "name": state.school_name},
            "campus": school.campus if school is not None else None,
            "staging": [
                {
                    "staging_area_id": a.staging_area_id,
                    "name": a.name,
                    "geometry": msgspec.to_builtins(a.geometry),
                    "radius_m": a.radius_m,
                }
                for a in sorted(state.staging_areas.values(), key=_by_id)
            ],
            "roads": self._roads_near(state.lon, state.lat),
        }

    def _roads_near(self, lon: float, lat: float) -> list[list[list[float]]]:
        """Road lines (lists of [lon, lat], 5 decimals) with a point within the map radius."""
        from dispatch_console.domain.geometry import local_frame

        if self._roads is None:
            self._roads = _load_roads(self.roads_path)
        frame = local_frame(lon, lat)
        near = []
        for feature in self._roads:
            line = feature["coordinates"]
            if any(
                abs(x) < MAP_RADIUS_M and abs(y) < MAP_RADIUS_M
                for x, y in (frame.to_local(c[0], c[1]) for c in line[:: max(1, len(line) // 8)])
            ):
                near.append([[round(c[0], 5), round(c[1], 5)] for c in line])
        return near

    # --- pushing ----------------------------------------------------------------------------------

    def _events(self, events: list[ev.Event]) -> None:
        """On the writer: tell the open streams of every device in a changed incident."""
        if not self.streams:
            return
        touched = {e.incident_id for e in events if e.type not in _QUIET and e.incident_id}
        if not touched:
            return
        core = self.gateway.core
        assert core is not None
        devices: set[str] = set()
        for state in core.service.live_incidents():
            if state.incident_id in touched:
                devices.update(state.responders)
        with self._lock:
            waiting = {d for d in devices if d in self.streams}
        loop = self._loop
        if waiting and loop is not None:
            loop.call_soon_threadsafe(self._push, waiting)

    def _push(self, devices: set[str]) -> None:
        """On the loop: the briefings of ``devices`` made in one writer job, then queued to
        their streams (devices woken again meanwhile join the next job)."""
        self._dirty |= devices
        if self._pushing is None or self._pushing.done():
            self._pushing = asyncio.ensure_future(self._push_all())

    async def _push_all(self) -> None:
        while self._dirty:
            devices, self._dirty = self._dirty, set()
            try:
                made = await self.gateway.on_writer(self.briefings, sorted(devices))
            except Exception:
                log.exception("briefings for the responder pages failed")
                return
            with self._lock:
                targets = [(q, made[d]) for d in made for q in self.streams.get(d, ())]
            for queue, item in targets:
                _put(queue, item)

    def close_streams(self) -> None:
        with self._lock:
            queues = [q for qs in self.streams.values() for q in qs]
        for queue in queues:
            _put(queue, None)


def _put(queue: asyncio.Queue[bytes | None], item: bytes | None) -> None:
    with contextlib.suppress(asyncio.QueueFull):  # it has a wake-up waiting already
        queue.put_nowait(item)


def _by_id(area: Any) -> str:
    return str(area.staging_area_id)


def _load_roads(path: Path | None) -> list[dict[str, Any]]:
    """Road geometries (LineString / MultiLineString split) from a roads GeoJSON file; the
    demo county's when no file is given and it is there."""
    if path is None:
        from dispatch_console.resources import resources_dir

        path = resources_dir() / "demo" / "roads.geojson"
        if not path.exists():
            return []
    try:
        collection = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        log.error("roads for the responder page's map cannot be read: %s", exc)
        return []
    lines: list[dict[str, Any]] = []
    for feature in collection.get("features", []):
        geometry = feature.get("geometry") or {}
        if geometry.get("type") == "LineString":
            lines.append({"coordinates": geometry["coordinates"]})
        elif geometry.get("type") == "MultiLineString":
            lines.extend({"coordinates": part} for part in geometry["coordinates"])
    return lines
