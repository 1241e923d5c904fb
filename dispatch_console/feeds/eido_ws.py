"""EIDO for the centre's CAD: ``GET /v1/incidents/<id>/eido`` and the ``/v1/eido/subscribe``
WebSocket, both for ``cad`` keys only (read-only: a cad key can send nothing).

The WebSocket's handshake is signed like every request (the signature covers an empty body).
It sends the EIDO of every open incident first, then a new EIDO of an incident each time the
gateway stores or folds in a change to it (its own writes, and what consoles stored, caught up
twice a second), in the order of the changes: documents are made on the gateway's writer
thread, in event order, and queued to each subscriber in that order. ``?incident=<id>`` limits
the feed to one incident. A subscriber more than :data:`MAX_QUEUED` documents behind is closed
(code 1013, try again) rather than slowing the gateway.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from aiohttp import WSCloseCode, web

from dispatch_console.domain import events as ev
from dispatch_console.domain.state import IncidentState
from dispatch_console.feeds.eido import eido_document

if TYPE_CHECKING:
    from dispatch_console.feeds.core import GatewayCore, Reply
    from dispatch_console.feeds.keys import OpenKey

__all__ = ["MAX_QUEUED", "EidoSubscribers", "incident_eido_reply"]

log = logging.getLogger(__name__)

MAX_QUEUED: Final = 1_000


def incident_eido_reply(core: GatewayCore, key: OpenKey, incident_id: str) -> Reply:
    """The answer to ``GET /v1/incidents/<id>/eido`` (on the writer thread)."""
    from dispatch_console.feeds.core import Reply, error

    if key.kind != "cad":
        core.reject("http", key.key_id, f"403: a {key.kind} key may not read EIDO", b"")
        return error(403, "only a cad key may read EIDO documents")
    state = _live(core, incident_id)
    if state is None:
        if not core.store.has_incident(incident_id):
            core.reject("http", key.key_id, f"404: EIDO of unknown incident {incident_id}", b"")
            return error(404, f"no incident {incident_id}")
        state = core.store.state_at(incident_id)
    return Reply(200, eido_document(state, core.clock()))


def _live(core: GatewayCore, incident_id: str) -> IncidentState | None:
    return next((s for s in core.service.live_incidents() if s.incident_id == incident_id), None)


@dataclass(eq=False)
class _Subscriber:
    incident_id: str | None
    queue: asyncio.Queue[dict[str, Any] | None] = field(default_factory=asyncio.Queue)


class EidoSubscribers:
    """The WebSocket subscribers of one gateway."""

    def __init__(self, core: GatewayCore, loop: asyncio.AbstractEventLoop) -> None:
        self.core = core
        self.loop = loop
        self._subscribers: set[_Subscriber] = set()  # touched on the loop only
        self._count = 0  # read on the writer thread: documents are made only when wanted

    def on_events(self, events: list[ev.Event]) -> None:
        """A core listener (writer thread): one document per incident changed, in order."""
        if not self._count:
            return
        changed: list[str] = []
        for event in events:
            if event.incident_id is not None and event.incident_id not in changed:
                changed.append(event.incident_id)
        documents = []
        for incident_id in changed:
            state = _live(self.core, incident_id)
            if state is not None and state.opened:
                documents.append((incident_id, eido_document(state, self.core.clock())))
        if documents:
            self.loop.call_soon_threadsafe(self._deliver, documents)

    def _deliver(self, documents: list[tuple[str, dict[str, Any]]]) -> None:
        for subscriber in list(self._subscribers):
            for incident_id, document in documents:
                if subscriber.incident_id not in (None, incident_id):
                    continue
                if subscriber.queue.qsize() >= MAX_QUEUED:
                    subscriber.queue.put_nowait(None)  # closes it: too far behind
                    self._subscribers.discard(subscriber)
                    self._count -= 1
                    break
                subscriber.queue.put_nowait(document)

    async def handle(
        self,
        request: web.Request,
        authorize: Callable[[str | None, str | None, bytes, str], Awaitable[OpenKey | Reply]],
        on_writer: Callable[..., Awaitable[Any]],
    ) -> web.StreamResponse:
        from dispatch_console.feeds.core import Reply

        key = await authorize(
            request.headers.get("X-Dispatch-Key-Id"),
            request.headers.get("X-Dispatch-Signature"),
            b"",
            request.remote or "?",
        )
        if isinstance(key, Reply):
            return web.json_response(key.body, status=key.status)
        if key.kind != "cad":
            await on_writer(
                self.core.reject, "http", key.key_id, "403: EIDO subscribe needs a cad key", b""
            )
            return web.json_response({"error": "only a cad key may subscribe"}, status=403)
        incident_id = request.query.get("incident") or None
        subscriber = _Subscriber(incident_id)
        ws = web.WebSocketResponse(heartbeat=30.0)
        await ws.prepare(request)
        await on_writer(self._join, subscriber)
        closed = asyncio.Event()

        async def read_until_closed() -> None:
            async for _message in ws:  # the client says nothing we use; this sees it leave
                pass
            closed.set()
            subscriber.queue.put_nowait(None)

        reader = asyncio.create_task(read_until_closed())
        try:
            while not ws.closed:
                document = await subscriber.queue.get()
                if document is None:
                    if not closed.is_set():
                        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too far behind")
                    break
                await ws.send_json(document)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            reader.cancel()
            if subscriber in self._subscribers:
                self._subscribers.discard(subscriber)
                self._count -= 1
        return ws

    def _join(self, subscriber: _Subscriber) -> None:
        """On the writer thread: the open incidents as they are now go first; every change
        after them follows in order (the listener runs on this thread, and the loop runs what
        this thread hands it in the order handed)."""
        self._count += 1
        now = self.core.clock()
        first = [
            eido_document(s, now)
            for s in self.core.service.live_incidents()
            if s.opened and subscriber.incident_id in (None, s.incident_id)
        ]
        self.loop.call_soon_threadsafe(self._add, subscriber, first)

    def _add(self, subscriber: _Subscriber, first: list[dict[str, Any]]) -> None:
        for document in first:
            subscriber.queue.put_nowait(document)
        self._subscribers.add(subscriber)
