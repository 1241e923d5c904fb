"""The gateway's transports: HTTP (aiohttp), Cursor-on-Target over UDP and a TCP stream (plain,
opt-in), and CoT over TLS with a client certificate per device.

One asyncio loop does all network I/O; one writer thread runs :class:`GatewayCore` (parsing,
validation, durable appends). A reply or acknowledgement is sent only after the writer says
the events are stored. :class:`GatewayThread` runs the whole gateway inside another process (the
console) off its GUI thread; :func:`serve` runs it standalone until SIGINT or SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import signal
import ssl
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from dispatch_console.domain import events as ev
from dispatch_console.domain.timeutil import US_PER_S
from dispatch_console.feeds.auth import AuthError, verify
from dispatch_console.feeds.ca import CertificateAuthority, peer_serial
from dispatch_console.feeds.core import GatewayCore, Reply, error
from dispatch_console.feeds.eido_ws import EidoSubscribers
from dispatch_console.feeds.identity import certified_device
from dispatch_console.feeds.journal import Entry, Journal, JournalError, default_journal_path
from dispatch_console.feeds.keys import (
    ALERTING_KINDS,
    MASTER_KEY_ENV,
    KeyProblem,
    OpenKey,
    SecretBox,
)
from dispatch_console.feeds.routes import DeviceRequest
from dispatch_console.feeds.udp_worker import (
    EncodedBatch,
    UdpWorker,
    decode_batches,
    enlarge_receive_buffer,
)
from dispatch_console.feeds.web.routes import ResponderWeb
from dispatch_console.feeds.writer_thread import WriterThread
from dispatch_console.service.monitor import Monitor
from dispatch_console.store import (
    Store,
    StoreUnreachable,
    collector_paused,
    error_line,
    unreachable,
)

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
#: A connection that has not sent a whole request head this long after it opened (or after
#: its last answer) is closed: slow clients holding partial headers cannot starve the port.
HEADER_TIMEOUT_S = 10.0
#: The longest a request body may take to arrive (then 408, and the refusal is logged).
BODY_TIMEOUT_S = 10.0
LINGER_S = 2.0
MAX_TAK_CONNECTIONS = 1000
MAX_UIDS_PER_CONNECTION = 8
TAK_IDLE_TIMEOUT_S = 600.0
TLS_HANDSHAKE_TIMEOUT_S = 10.0
#: How often an open CoT TLS connection's certificate is checked again (revoked: closed).
CERT_RECHECK_S = 30.0
#: The most CoT UDP reports stored in one transaction (the writer is busy 12 to 30 us per
#: report: a group this size keeps the phones' group commits waiting behind it for 25 to 60 ms;
#: 8,000 held them long enough, under a CoT burst, for their queue to age past admission).
UDP_GROUP_MAX = 2000
#: Requests the writer takes before the ordinary jobs waiting: alerts (activations, CAP, EIDO).
URGENT_ROUTES = frozenset({"activation", "cap", "eido"})
#: CoT UDP reports waiting for the writer at most before the pump stops reading the worker.
UDP_GATHERED_MAX = 4 * UDP_GROUP_MAX
#: Journaled messages forwarded in one go on the writer (then it takes other work, and goes on).
FORWARD_CHUNK = 50
#: Times a journaled message is forwarded before it is kept as failed (not counting the store
#: being away): one that cannot be handled must not hold up the rest for ever.
FORWARD_TRIES = 3
#: A writer that has not finished a periodic tick for this long is reported by the health check.
WRITER_STUCK_S = 5.0
#: How often every key, school and device is read for checking messages during an outage.
REFERENCE_EVERY_S = 60.0
#: The routes a journal may keep (a GET of directives is not a message to keep).
JOURNALED_ROUTES = frozenset({"activation", "device_messages", "notified"})
#: Device-message requests answered in one group commit at most (one durable transaction).
HTTP_GROUP_MAX = 400
#: Device-message requests waiting for the writer at most: past that, a request is answered
#: ``503`` with ``Retry-After`` at once (graceful overload: refused fast, never after 30 s).
HTTP_QUEUE_MAX = 600
#: A request that waited this long for its group is answered ``503`` without being handled
#: (the writer is behind: the sender backs off and sends again, rather than wait).
HTTP_WAIT_MAX_S = 0.5
#: A device-message request arriving when the oldest one waiting (or the group on the writer)
#: has waited this long is refused at once with ``503`` (see ``Gateway._admit``): together with
#: :data:`HTTP_WAIT_MAX_S`, every request is answered within about a second, stored or not.
HTTP_ADMIT_AGE_S = 0.4
#: Seconds a refused sender is asked to wait before sending again.
RETRY_AFTER_S = 1
#: Requests per second (and burst) from one address before authentication. Sized for a
#: carrier's NAT or a reverse proxy, behind which thousands of phones share one address
#: (2,000 phones every 5 s are 400 requests a second); what protects the writer is the bounded
#: queue above, and each key has its own limit after authentication.
PEER_RATE = 2000.0
PEER_BURST = 4000.0
#: Connections waiting to be accepted (aiohttp's default is 128): thousands of phones
#: reconnecting at once (after a network blip, or opening a second connection while the
#: first waits) would overflow a short queue, and a dropped SYN is tried again after 1, 3, 7,
#: 15 s: answers half a minute late although the gateway refuses fast. The kernel caps it
#: at net.core.somaxconn.
HTTP_BACKLOG = 4096
#: The interpreter's thread switch interval in a standalone gateway (see :func:`serve`).
GIL_SWITCH_S = 0.0005
T = TypeVar("T")


@dataclass(frozen=True)
class Listen:
    host: str = "127.0.0.1"
    http_port: int = 8470
    udp_port: int = 6969
    tcp_port: int = 8087
    certfile: str | None = None
    keyfile: str | None = None
    #: Receive and parse CoT over UDP in a process of its own (the other core); off, the
    #: gateway's event loop receives it (tests, or a one-core machine).
    udp_worker: bool = True
    #: Reverse proxies (addresses or networks, e.g. ``10.0.0.0/8``) whose ``X-Forwarded-For``
    #: is believed: the client is then the last address in it not itself a trusted proxy.
    #: From any other peer the header is ignored (anyone can write it).
    trusted_proxies: tuple[str, ...] = ()
    #: Plain CoT (UDP and the TCP stream, no credentials). The command line makes it opt-in
    #: (``--cot-plaintext``); a device enrolled with a certificate is never heard on it.
    cot_plaintext: bool = True
    #: CoT over TLS with a client certificate per device (TAK Server's 8089), when ``ca_dir``
    #: names the console's certificate authority (:mod:`dispatch_console.feeds.ca`).
    cot_tls_port: int = 8089
    ca_dir: str | None = None
    #: Listen on an address other than loopback without TLS (refused otherwise).
    insecure: bool = False

    def insecure_problem(self) -> str | None:
        """Why this would expose plain traffic beyond this machine, or None."""
        if self.insecure or _loopback(self.host):
            return None
        if not self.certfile:
            return f"HTTP on {self.host} without TLS (give --tls-cert and --tls-key)"
        if self.cot_plaintext:
            return f"plain CoT on {self.host} (CoT over TLS with device certificates is on 8089)"
        return None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


class RateLimiter:
    """Token buckets per sender: ``rate`` requests a second, bursts up to ``burst``. At most
    ``senders`` buckets are kept (least recently seen forgotten first), so a flood of made-up
    senders costs a bounded amount of memory and constant time per request."""

    def __init__(self, rate: float, burst: float, senders: int = 10_000) -> None:
        self.rate = rate
        self.burst = burst
        self.senders = senders
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, sender: str) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.pop(sender, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            allowed = tokens >= 1.0
            self._buckets[sender] = (tokens - 1.0 if allowed else tokens, now)
            if len(self._buckets) > self.senders:
                self._buckets.popitem(last=False)
        return allowed


class Gateway:
    """All transports of one gateway, on the running asyncio loop."""

    def __init__(
        self,
        store_url: str | None,
        listen: Listen,
        *,
        box: SecretBox | None = None,
        clock: Callable[[], int] | None = None,
        journal_path: str | None = None,
    ) -> None:
        self.store_url = store_url
        self.listen = listen
        self.box = box
        self.clock = clock
        self.journal_path = journal_path
        self.journal: Journal | None = None
        #: Why the store is unreachable (None while it answers): messages go to the journal.
        self.store_down: str | None = None
        #: Activations journaled in this outage: ``school_id/exercise`` -> the incident promised.
        self._promised: dict[str, str] = {}
        self._forwarding = False
        #: Journal entry id -> how often forwarding it failed (not for the store being away).
        self._forward_failures: dict[int, int] = {}
        self._reference_read_at = 0.0
        #: When the writer last finished a periodic tick (health: a writer stuck on a store
        #: that stopped answering mid-query shows here).
        self._last_tick = time.monotonic()
        #: CoT reports that could not be stored while the store was down (CoT is never
        #: acknowledged; the next report of each device supersedes them).
        self.cot_dropped = 0
        self.core: GatewayCore | None = None
        self.web: ResponderWeb | None = None
        self._store: Store | None = None
        self._writer = WriterThread("gateway-writer_0")
        self._runner: web.AppRunner | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._tls: asyncio.Server | None = None
        self._tls_context: ssl.SSLContext | None = None
        self._handshakes: set[asyncio.Task[None]] = set()
        self._flusher: asyncio.Task[None] | None = None
        self._udp_queue: deque[tuple[bytes, str]] = deque()
        self._udp_busy = False
        self._tak_writers: dict[str, asyncio.StreamWriter] = {}
        self._tak_connections: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}
        self.key_limiter = RateLimiter(rate=50.0, burst=100.0)
        self.peer_limiter = RateLimiter(rate=PEER_RATE, burst=PEER_BURST)
        self._trusted = [ipaddress.ip_network(p, strict=False) for p in listen.trusted_proxies]
        #: Device-message requests waiting for their group commit, and whether a group is
        #: queued on the writer.
        self._http_waiting: deque[_Waiting] = deque()
        self._http_grouping = False
        self._http_lock = threading.Lock()
        #: When the writer began the group it is on (None between groups).
        self._group_began: float | None = None
        #: Requests answered 503 because the gateway was past capacity (health, benchmark).
        self.overloaded = 0
        #: Seconds from a device-messages request read to its answer, the latest ones (what
        #: the gateway itself adds; a sender also sees the network and the event loop).
        self.answer_times: deque[float] = deque(maxlen=5000)
        #: Seconds each recent group commit took on the writer (validation, commit, answers).
        self.group_times: deque[float] = deque(maxlen=2000)
        #: How late the event loop woke for a timer, the latest ones (health stats).
        self.loop_lags: deque[float] = deque(maxlen=600)
        self._lag_watch: asyncio.Task[None] | None = None
        #: Group commits made, and the requests they answered (health, benchmark).
        self.groups = 0
        self.grouped = 0
        self.ports: dict[str, int] = {}
        self.udp_datagrams = 0  # received, for the benchmark's loss figure
        self._udp_worker: UdpWorker | None = None
        self._udp_pump: threading.Thread | None = None
        self._stopping = threading.Event()
        self.monitor: Monitor | None = None
        self.eido: EidoSubscribers | None = None
        # UDP batches waiting for the writer, and whether a store of them is queued on it.
        self._udp_gathered: deque[EncodedBatch] = deque()
        self._udp_gathered_size = 0
        self._udp_storing = False
        self._udp_room = threading.Condition()

    async def on_writer(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn, *args)

    async def on_writer_first(self, fn: Callable[..., T], *args: Any) -> T:
        """:meth:`on_writer`, before the ordinary jobs waiting (see ``WriterThread``)."""
        return await asyncio.wrap_future(self._writer.submit_urgent(fn, *args))

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()  # whatever did start (worker process, sockets) is released
            raise

    async def _start(self) -> None:
        problem = self.listen.insecure_problem()
        if problem is not None:
            raise RuntimeError(f"refusing to listen: {problem}; --insecure to do it anyway")
        store = self._store = await self.on_writer(Store, self.store_url)
        path = self.journal_path or default_journal_path(store.url)
        journal = self.journal = await self.on_writer(Journal, path)
        # Activations journaled by an earlier run keep the incidents they were promised.
        for entry in await self.on_writer(journal.pending_of, "activation"):
            slot = GatewayCore.promised_slot(entry.body)
            if slot is not None and entry.incident_id:
                self._promised.setdefault(slot, entry.incident_id)
        box = self.box if self.box is not None else await self.on_writer(SecretBox)
        clock = self.clock
        core = await self.on_writer(
            lambda: GatewayCore(store, box, clock=clock) if clock else GatewayCore(store, box)
        )
        self.core = core
        await self.on_writer(_check_master_key, store, box)
        await self.on_writer(core.remember_reference)
        self._reference_read_at = time.monotonic()
        loop = asyncio.get_running_loop()

        def to_loop(events: list[ev.Event]) -> None:
            # On the writer thread: directives for TAK devices become CoT here, and the loop
            # only writes bytes (it never touches the core or the store).
            outbound = core.cot_for_events(events)
            if outbound:
                loop.call_soon_threadsafe(self._push_cot, outbound)

        core.listeners.append(to_loop)
        self.eido = EidoSubscribers(core, loop)
        core.listeners.append(self.eido.on_events)
        self.monitor = await self.on_writer(_start_monitor, core)
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._errors])
        app.router.add_post("/v1/activations", self._activation)
        app.router.add_post("/v1/cap", self._cap)
        app.router.add_get("/v1/incidents/{incident_id}/eido", self._eido)
        app.router.add_get("/v1/eido/subscribe", self._eido_subscribe)
        app.router.add_post("/v1/devices/{device_id}/messages", self._device_messages)
        app.router.add_get("/v1/devices/{device_id}/directives", self._directives)
        app.router.add_post("/v1/incidents/{incident_id}/notified", self._notified)
        app.router.add_get("/v1/health", self._health)
        self.web = ResponderWeb(self)  # the responder web page (feeds/web/)
        self.web.install(app)
        _no_banner()
        self._runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            keepalive_timeout=HEADER_TIMEOUT_S,
            # After an answer given before the whole body came (413, 408), the rest is read
            # for this long at most before the connection closes.
            lingering_time=LINGER_S,
            logger=_MalformedRequests(self),
        )
        await self._runner.setup()
        context = None
        if self.listen.certfile:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.listen.certfile, self.listen.keyfile)
        site = web.TCPSite(
            self._runner,
            self.listen.host,
            self.listen.http_port,
            ssl_context=context,
            backlog=HTTP_BACKLOG,
        )
        await site.start()
        self.ports["http"] = _bound_port(site)
        if self.listen.cot_plaintext:
            if self.listen.udp_worker:
                self._udp_worker = await self.on_writer(
                    UdpWorker, self.listen.host, self.listen.udp_port
                )
                self.ports["udp"] = self._udp_worker.port
                self._udp_pump = threading.Thread(
                    target=self._pump_udp, name="cot-udp-pump", daemon=True
                )
                self._udp_pump.start()
            else:
                self._udp, _ = await loop.create_datagram_endpoint(
                    lambda: _CotDatagrams(self), local_addr=(self.listen.host, self.listen.udp_port)
                )
                sock = self._udp.get_extra_info("socket")
                enlarge_receive_buffer(sock)
                self.ports["udp"] = sock.getsockname()[1]
            self._tcp = await asyncio.start_server(
                self._tak_stream, self.listen.host, self.listen.tcp_port, limit=MAX_BODY
            )
            self.ports["tcp"] = self._tcp.sockets[0].getsockname()[1]
        if self.listen.ca_dir is not None:
            authority = CertificateAuthority(self.listen.ca_dir)
            self._tls_context = await self.on_writer(authority.server_context, self.listen.host)
            self._tls = await loop.create_server(
                lambda: _TlsPending(self), self.listen.host, self.listen.cot_tls_port
            )
            self.ports["tls"] = self._tls.sockets[0].getsockname()[1]
        self._flusher = asyncio.create_task(self._flush_periodically())
        self._lag_watch = asyncio.create_task(self._watch_loop())
        scheme = "https" if context else "http"
        names = {"udp": "CoT UDP", "tcp": "CoT TCP (plain)", "tls": "CoT TLS (device certificates)"}
        log.warning(
            "gateway listening: %s://%s:%d%s",
            scheme,
            self.listen.host,
            self.ports["http"],
            "".join(
                f", {names[k]} {self.listen.host}:{self.ports[k]}" for k in names if k in self.ports
            ),
        )

    async def _watch_loop(self) -> None:
        """How late the event loop runs what is due (health stats): every request waits
        that long before the gateway even reads it."""
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + 0.05
            await asyncio.sleep(0.05)
            self.loop_lags.append(max(0.0, loop.time() - due))

    async def stop(self) -> None:
        if self._lag_watch is not None:
            self._lag_watch.cancel()
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        if self._udp is not None:
            self._udp.close()
        self._stopping.set()
        if self._udp_pump is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._udp_pump.join, 10)
        if self._udp_worker is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._udp_worker.stop)
        servers = [server for server in (self._tcp, self._tls) if server is not None]
        for server in servers:
            server.close()
        for task in [*self._tak_connections, *self._handshakes]:
            task.cancel()
        if self._tak_connections or self._handshakes:
            await asyncio.gather(*self._tak_connections, *self._handshakes, return_exceptions=True)
        for server in servers:
            await server.wait_closed()
        if self.web is not None:
            self.web.close_streams()
        if self._runner is not None:
            # Idle keep-alive connections are closed by the cleanup, but a TLS close waits for
            # the peer's answer, which a browser may never send before this loop ends: their
            # sockets were left open to the garbage collector. Whatever is still open after
            # the orderly close is cut.
            web_server = self._runner.server
            transports = [h.transport for h in web_server.connections] if web_server else []
            await self._runner.cleanup()
            for transport in transports:
                if transport is not None:
                    transport.abort()
        while self._udp_busy or self._udp_queue:
            await self._drain_udp_now()
        if self.core is not None:
            await self.on_writer(self.core.flush)
        if self._store is not None:
            await self.on_writer(self._store.close)
        if self.journal is not None:
            await self.on_writer(self.journal.close)
        self._writer.shutdown(wait=True)
        log.warning("gateway stopped")

    async def _flush_periodically(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(0.5)
            try:
                if self.store_down is not None:
                    # Asked off the writer (a connection attempt may take seconds), so that
                    # messages keep being journaled meanwhile.
                    answers = await loop.run_in_executor(None, self._store_answers)
                    self._last_tick = time.monotonic()
                    if not answers:
                        continue
                await self.on_writer(self._tick)
                self._last_tick = time.monotonic()
                # Keys in use read again before they expire: off the writer (a read of every
                # phone's key, which group commits need not wait behind).
                core = self.core
                if core is not None and self.store_down is None:
                    await loop.run_in_executor(None, self._refresh_keys, core)
            except Exception:
                log.exception("gateway flush failed")

    @staticmethod
    def _refresh_keys(core: GatewayCore) -> None:
        try:
            core.refresh_keys()
        except Exception as exc:
            if not unreachable(exc):
                raise

    def _store_answers(self) -> bool:
        """Whether the store answers a read (off the writer thread, while it is down)."""
        assert self._store is not None
        try:
            self._store.last_seq()
        except Exception as exc:
            if not unreachable(exc):
                log.exception("asking the store failed")
            return False
        return True

    def _tick(self) -> None:
        """On the writer thread, twice a second: positions kept for alerting are written;
        what consoles stored is folded in (their directives go out to TAK devices from here);
        geofences and warnings are brought up to date (a position goes stale with no event).
        After an outage (the store answered a read again): what others stored meanwhile is
        folded in first, then the journal is forwarded; the store counts as back once that and
        the writes kept meanwhile have succeeded."""
        core = self.core
        assert core is not None
        trying = self.store_down is not None
        try:
            core.offline = False
            core.service.catch_up()
            self._forward_journal(trying=trying)
            core.alerting.release_gates()  # a dispatcher gate released, or its time up
            core.flush()
            if trying:
                self._store_back()
            if time.monotonic() - self._reference_read_at > REFERENCE_EVERY_S:
                core.remember_reference()
                self._reference_read_at = time.monotonic()
            if self.monitor is not None:
                self.monitor.check()
        except Exception as exc:
            if not unreachable(exc):
                raise
            self._store_lost(exc)

    # --- the store down: the journal ------------------------------------------------------

    def _store_lost(self, exc: BaseException) -> None:
        """On the writer: the store stopped answering (said once per outage)."""
        assert self.core is not None and self.journal is not None
        self.core.offline = True
        if self.store_down is None:
            self.store_down = error_line(exc)[:300]
            log.error(
                "the store is unreachable (%s): acknowledged messages are kept in the journal "
                "%s and forwarded when it is back",
                self.store_down,
                self.journal.path,
            )

    def _store_back(self) -> None:
        assert self.journal is not None
        log.warning(
            "the store answers again: %d journaled message(s) still to forward; %d CoT "
            "report(s) could not be stored meanwhile",
            self.journal.pending,
            self.cot_dropped,
        )
        self.store_down = None

    def _journal_first(self) -> bool:
        """A message goes to the journal while the store is down, and while the journal still
        holds messages not forwarded (they keep their order)."""
        return self.store_down is not None or bool(self.journal and self.journal.pending)

    def _forward_journal(self, *, trying: bool = False) -> None:
        """On the writer: forward the oldest journaled messages, each as if it had arrived when
        it was received; queue the rest behind other work. A message's answer now (stored,
        duplicate, refused) is kept in the journal; refusals go to the rejection log too. One
        that fails for another reason than the store being away is tried
        :data:`FORWARD_TRIES` times, then kept as failed (500), so the rest goes on.
        ``trying``: the store is believed down but answered a read."""
        journal, core = self.journal, self.core
        assert journal is not None and core is not None
        if not journal.pending or (self.store_down is not None and not trying):
            return
        for entry in journal.oldest(FORWARD_CHUNK):
            try:
                with core.received_at(entry.received_us), core.from_peer(entry.peer):
                    key = core.authenticate(entry.key_id, entry.signature, entry.body, entry.peer)
                    if isinstance(key, Reply):
                        reply = key
                    else:
                        reply = core.handle(
                            entry.route, key, entry.target, entry.body, entry.incident_id
                        )
            except Exception as exc:
                if unreachable(exc):
                    raise
                tries = self._forward_failures[entry.id] = (
                    self._forward_failures.get(entry.id, 0) + 1
                )
                if tries < FORWARD_TRIES:
                    raise
                log.exception(
                    "journaled message %d failed %d times: kept as failed", entry.id, tries
                )
                reply = error(500, f"{type(exc).__name__}: {exc}"[:300])
            journal.forwarded(entry.id, reply.status, reply.body)
            self._forward_failures.pop(entry.id, None)
        if journal.pending:
            if not self._forwarding:
                self._forwarding = True
                self._writer.submit(self._forward_more)
        else:
            self._promised.clear()
            pruned = journal.prune()
            log.warning("journal forwarded, store up to date (%d old entries pruned)", pruned)

    def _forward_more(self) -> None:
        self._forwarding = False
        try:
            self._forward_journal()
        except Exception as exc:
            if not unreachable(exc):
                log.exception("forwarding the journal failed (tried again on the next tick)")
                return
            self._store_lost(exc)

    def _authorized(
        self,
        key_id: str | None,
        signature: str | None,
        body: bytes,
        peer: str,
        *,
        counted: bool = False,
    ) -> OpenKey | Reply:
        """On the writer: the key that signed the request, within its rate (unless the request
        was ``counted`` against it already); or the refusal (401, 429)."""
        core = self.core
        assert core is not None
        key = core.authenticate(key_id, signature, body, peer)
        if isinstance(key, Reply) or counted or self.key_limiter.allow(key.key_id):
            return key
        core.reject("http", f"{key.key_id}@{peer}", "429: rate limited", body)
        return error(429, "rate limited")

    def _journal(
        self,
        route: str,
        target: str,
        key_id: str | None,
        signature: str | None,
        body: bytes,
        peer: str,
        *,
        counted: bool = False,
        attempted: str | None = None,
    ) -> Reply:
        """On the writer, while the store is down: authenticate (with the keys read before),
        check what needs no store, keep the message durably and acknowledge it. ``counted``:
        the request was counted against its key's rate already; ``attempted``: the incident an
        activation was being opened as when the store went (see ``journal_answer``)."""
        core, journal = self.core, self.journal
        assert core is not None and journal is not None
        received_us = core.clock()
        try:
            key = self._authorized(key_id, signature, body, peer, counted=counted)
            if isinstance(key, Reply):
                return key
            if route in ("cap", "eido"):  # not journaled: the sender retries on 503
                return _unavailable()
            if route not in JOURNALED_ROUTES:  # directives: listed from memory meanwhile
                return core.directives(key, target, record_delivery=self.store_down is None)
            promised = dict(self._promised)
            reply, incident_id = core.journal_answer(route, key, target, body, promised, attempted)
        except Exception as exc:
            if not unreachable(exc):
                raise
            return _unavailable()  # a key or school never read before: cannot be checked now
        if reply.status >= 300:
            return reply
        try:
            journal.add(
                Entry(received_us, route, target, key.key_id, signature or "", body, peer,
                      incident_id)
            )  # fmt: skip
        except JournalError as full:
            log.error("%s", full)
            return _unavailable()
        self._promised = promised
        return reply

    # --- HTTP ---------------------------------------------------------------------------------

    @web.middleware
    async def _errors(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            await self._log_refusal(request, f"413: body larger than {MAX_BODY} bytes")
            return web.json_response({"error": f"body larger than {MAX_BODY} bytes"}, status=413)
        except web.HTTPException as http_error:
            return web.json_response({"error": http_error.reason}, status=http_error.status)
        except Exception:
            log.exception("gateway error on %s %s", request.method, request.path)
            return web.json_response({"error": "internal error; retry later"}, status=500)

    def _limited(self, request: web.Request) -> web.Response | None:
        """Before authentication only the sender's address is limited: a key id is no secret,
        so an unsigned flood naming it must not use up that key's allowance."""
        if not self.peer_limiter.allow(self.client_address(request)):
            return _too_many()
        return None

    def client_address(self, request: web.Request) -> str:
        """The sender's address: the peer's; behind a trusted reverse proxy, the last address
        of ``X-Forwarded-For`` that is not a trusted proxy itself."""
        peer = request.remote or "?"
        if not self._trusted or not self._is_trusted(peer):
            return peer
        forwarded = request.headers.getall("X-Forwarded-For", [])
        hops = [hop.strip() for line in forwarded for hop in line.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self._is_trusted(hop):
                try:
                    return str(ipaddress.ip_address(hop))
                except ValueError:
                    return peer  # a forged or broken header: the proxy itself is the sender
        return hops[0] if hops else peer

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._trusted)

    async def _log_refusal(self, request: web.Request, reason: str) -> None:
        core = self.core
        if core is not None:
            key_id = request.headers.get("X-Dispatch-Key-Id", "-")[:64]
            sender = f"{key_id}@{self.client_address(request)}"
            await self.on_writer(core.reject, "http", sender, reason, b"")

    async def _signed(self, request: web.Request, route: str, target: str = "") -> web.Response:
        limited = self._limited(request)
        if limited is not None:
            await self._log_refusal(request, "429: too many requests from this address")
            return limited
        try:
            body = await asyncio.wait_for(request.read(), BODY_TIMEOUT_S)
        except TimeoutError:
            await self._log_refusal(request, f"408: body not received within {BODY_TIMEOUT_S} s")
            slow = web.json_response({"error": "request body too slow"}, status=408)
            slow.force_close()  # the rest of the body is not waited for
            return slow
        key_id = request.headers.get("X-Dispatch-Key-Id")
        signature = request.headers.get("X-Dispatch-Signature")
        peer = self.client_address(request)
        if route == "device_messages":
            reply = await self._grouped(target, key_id, signature, body, peer)
        else:
            # A proven alert goes before the group commits and CoT batches waiting.
            urgent = route in URGENT_ROUTES and self._proven_alert(key_id, signature, body)
            run = self.on_writer_first if urgent else self.on_writer
            reply = await run(self._answer_one, route, target, key_id, signature, body, peer)
        headers = {"Retry-After": str(RETRY_AFTER_S)} if reply.status in (429, 503) else None
        return web.json_response(reply.body, status=reply.status, headers=headers)

    def _proven_alert(self, key_id: str | None, signature: str | None, body: bytes) -> bool:
        """Whether the request is signed by a key that may send alerts and that the gateway
        holds already (checked here, on the loop, in microseconds, without the store). Only a
        proven alert goes before the queue: unsigned or forged requests to an alert route,
        however many, wait their turn behind the phones' group commits instead of starving
        them. The writer still authenticates it as any other request."""
        core = self.core
        if core is None or not key_id:
            return False
        key = core.keys.known(key_id)
        if key is None or key.kind not in ALERTING_KINDS:
            return False
        try:
            verify(key.secret, signature, body, core.clock() / US_PER_S)
        except (AuthError, KeyProblem):
            return False
        return True

    def _answer_one(
        self, route: str, target: str, key_id: str | None, signature: str | None, body: bytes,
        peer: str,
    ) -> Reply:  # fmt: skip
        """On the writer: answer one request (to the journal while the store is down); every
        refusal meanwhile names ``peer``."""
        core = self.core
        assert core is not None
        with core.from_peer(peer):
            return self._answer_one_from(route, target, key_id, signature, body, peer)

    def _answer_one_from(
        self, route: str, target: str, key_id: str | None, signature: str | None, body: bytes,
        peer: str,
    ) -> Reply:  # fmt: skip
        core = self.core
        assert core is not None
        if self._journal_first():
            return self._journal(route, target, key_id, signature, body, peer)
        core.attempted_incident_id = None
        counted = False
        try:
            key = self._authorized(key_id, signature, body, peer)
            if isinstance(key, Reply):
                return key
            counted = True  # (whatever raises after this, it was counted against the key)
            return core.handle(route, key, target, body)
        except Exception as exc:
            if not unreachable(exc):
                raise
            self._store_lost(exc)
        # Whatever of it was stored before the store went is stored once: the journal
        # forwards it under the same idempotency key.
        return self._journal(
            route, target, key_id, signature, body, peer,
            counted=counted, attempted=core.attempted_incident_id,
        )  # fmt: skip

    # --- device messages: group commit, bounded queue ---------------------------------------

    async def _grouped(
        self, target: str, key_id: str | None, signature: str | None, body: bytes, peer: str
    ) -> Reply:
        """Device messages wait for the next group commit (answered after it), or, past
        :data:`HTTP_QUEUE_MAX` waiting requests, are refused at once with ``503``."""
        if len(self._http_waiting) >= HTTP_QUEUE_MAX:
            return self._busy()
        entered = time.monotonic()
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        waiting = _Waiting(time.monotonic(), target, key_id, signature, body, peer, future)
        with self._http_lock:
            self._http_waiting.append(waiting)
            if not self._http_grouping:
                self._http_grouping = True
                self._writer.submit(self._answer_group, asyncio.get_running_loop())
        reply = await future
        self.answer_times.append(time.monotonic() - entered)
        return reply

    def _answer_alone(self, request: DeviceRequest) -> Reply:
        core = self.core
        assert core is not None
        try:
            return core.device_messages_group([request])[0]
        except Exception as exc:
            if unreachable(exc):
                raise
            log.exception("device messages of %s failed", request.device_id)
            return error(500, "internal error; retry later")

    def _busy(self) -> Reply:
        self.overloaded += 1
        return error(503, "the gateway is at capacity; send again later")

    def _answer_group(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the writer: answer the device-message requests waiting, up to
        :data:`HTTP_GROUP_MAX`, with one durable commit; requests arriving meanwhile make the
        next group (the longer a commit takes, the more the next one carries)."""
        began = time.monotonic()
        group: list[_Waiting] = []
        with self._http_lock:
            while self._http_waiting and len(group) < HTTP_GROUP_MAX:
                group.append(self._http_waiting.popleft())
            self._group_began = group[0].since if group else None
        replies: list[Reply] = []
        try:
            late = time.monotonic() - HTTP_WAIT_MAX_S
            fresh = [w for w in group if w.since >= late]
            answers = iter(self._answer_fresh(fresh))
            replies = [next(answers) if w.since >= late else self._busy() for w in group]
        except Exception:
            log.exception("answering a group of device messages failed")
            failed = error(500, "internal error; retry later")
            replies = [failed] * len(group)
        finally:
            # One wake-up of the loop for the whole group (not one per request).
            answered = [(w.future, reply) for w, reply in zip(group, replies, strict=False)]
            loop.call_soon_threadsafe(_resolve_all, answered)
            self.group_times.append(time.monotonic() - began)
            with self._http_lock:
                self._group_began = None
                if self._http_waiting:
                    self._writer.submit(self._answer_group, loop)
                else:
                    self._http_grouping = False

    def _answer_fresh(self, group: list[_Waiting]) -> list[Reply]:
        if not group:
            return []
        core = self.core
        assert core is not None
        if self._journal_first():
            return [
                self._answer_one("device_messages", w.target, w.key_id, w.signature, w.body,
                                 w.peer)
                for w in group
            ]  # fmt: skip
        replies: list[Reply | None] = [None] * len(group)
        requests: list[DeviceRequest] = []
        places: list[int] = []
        core.prefetch_keys([w.key_id for w in group])
        for index, w in enumerate(group):
            with core.from_peer(w.peer):
                key = self._authorized(w.key_id, w.signature, w.body, w.peer)
            if isinstance(key, Reply):
                replies[index] = key
            else:
                requests.append(DeviceRequest(key, w.target, w.body, w.peer))
                places.append(index)
        try:
            answers = core.device_messages_group(requests) if requests else []
        except Exception as exc:
            if not unreachable(exc):
                if len(requests) < 2:
                    raise
                # One request that breaks the group (nothing of it was stored) must not fail
                # the others with it, again on every resend: each is answered alone.
                log.exception("a group of %d requests failed: answered one by one", len(requests))
                answers = [self._answer_alone(request) for request in requests]
                for index, answer in zip(places, answers, strict=True):
                    replies[index] = answer
                return [reply for reply in replies if reply is not None]
            self._store_lost(exc)
            # Nothing of the group was committed (or, if the commit went through, its keys are
            # stored once when the journal forwards it).
            answers = []
            for i in places:
                with core.from_peer(group[i].peer):
                    answers.append(
                        self._journal("device_messages", group[i].target, group[i].key_id,
                                      group[i].signature, group[i].body, group[i].peer,
                                      counted=True)
                    )  # fmt: skip
        else:
            self.groups += 1
            self.grouped += len(requests)
        for index, answer in zip(places, answers, strict=True):
            replies[index] = answer
        return [reply for reply in replies if reply is not None]

    async def _activation(self, request: web.Request) -> web.Response:
        return await self._signed(request, "activation")

    async def _cap(self, request: web.Request) -> web.Response:
        from dispatch_console.feeds.cap import CAP_CONTENT_TYPES

        if request.content_type not in CAP_CONTENT_TYPES:
            await self._log_refusal(request, f"415: CAP body of type {request.content_type!r}")
            return web.json_response({"error": "a CAP body is application/cap+xml"}, status=415)
        return await self._signed(request, "cap")

    async def _eido(self, request: web.Request) -> web.Response:
        return await self._signed(request, "eido", request.match_info["incident_id"])

    async def _eido_subscribe(self, request: web.Request) -> web.StreamResponse:
        limited = self._limited(request)
        if limited is not None:
            return limited
        assert self.eido is not None  # routes exist only once started

        async def authorize(key_id: str | None, sig: str | None, body: bytes, peer: str) -> Any:
            return await self.on_writer(self._authorized, key_id, sig, body, peer)

        return await self.eido.handle(request, authorize, self.on_writer)

    async def _device_messages(self, request: web.Request) -> web.Response:
        refused = self._admit()
        if refused is not None:
            return refused
        return await self._signed(request, "device_messages", request.match_info["device_id"])

    def _admit(self) -> web.Response | None:
        """Admission, decided before anything else is done for the request (its body read,
        its signature checked, its sender's rate counted): past capacity it is refused with
        ``503`` and ``Retry-After`` at once, costing the gateway next to nothing. Past
        capacity means the queue is full, or its oldest request (or the group the writer is
        on) has waited more than :data:`HTTP_ADMIT_AGE_S`: what comes now would be answered
        late. The age says it sooner than the length when commits slow down."""
        waiting = self._http_waiting
        oldest = self._group_began
        if waiting:
            first = waiting[0].since
            oldest = first if oldest is None else min(oldest, first)
        if len(waiting) < HTTP_QUEUE_MAX and (
            oldest is None or time.monotonic() - oldest < HTTP_ADMIT_AGE_S
        ):
            return None
        self.overloaded += 1
        return web.Response(
            body=_BUSY_BODY,
            status=503,
            content_type="application/json",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    async def _notified(self, request: web.Request) -> web.Response:
        return await self._signed(request, "notified", request.match_info["incident_id"])

    async def _directives(self, request: web.Request) -> web.Response:
        return await self._signed(request, "directives", request.match_info["device_id"])

    async def _health(self, request: web.Request) -> web.Response:
        """``ok``; or ``degraded`` while the store is unreachable or the journal is being
        forwarded (how many messages it holds). With ``?stats``: the device-message group
        commits, refusals at capacity and recent answer times, and the CoT datagrams received
        and not stored (benchmarks, operators)."""
        pending = self.journal.pending if self.journal is not None else 0
        stuck_s = time.monotonic() - self._last_tick
        stuck = stuck_s > WRITER_STUCK_S
        body: dict[str, Any] = {
            "status": "ok" if self.store_down is None and not pending and not stuck else "degraded",
            "store": "reachable" if self.store_down is None else "unreachable",
            "journaled": pending,
        }
        if self.store_down is not None:
            body["store_error"] = self.store_down
        if stuck:
            body["writer_stuck_s"] = round(stuck_s, 1)
        if "stats" not in request.query:
            return web.json_response(body)
        times = sorted(self.answer_times)
        body["device_messages"] = {
            "groups": self.groups,
            "grouped": self.grouped,
            "overloaded": self.overloaded,
            "recent_p50_ms": round(times[len(times) // 2] * 1000, 1) if times else None,
            "recent_p99_ms": round(times[int(len(times) * 0.99)] * 1000, 1) if times else None,
        }
        groups = sorted(self.group_times)
        if groups:
            body["device_messages"]["group_p50_ms"] = round(groups[len(groups) // 2] * 1000, 1)
            body["device_messages"]["group_p99_ms"] = round(
                groups[int(len(groups) * 0.99)] * 1000, 1
            )
            body["device_messages"]["group_max_ms"] = round(groups[-1] * 1000, 1)
        lags = sorted(self.loop_lags)
        if lags:
            body["device_messages"]["loop_lag_p99_ms"] = round(
                lags[int(len(lags) * 0.99)] * 1000, 1
            )
            body["device_messages"]["loop_lag_max_ms"] = round(lags[-1] * 1000, 1)
        # CoT over UDP: datagrams the worker handed over, and reports the gateway could not
        # store (the store unreachable): offered minus received is what the kernel dropped.
        body["cot_udp"] = {"received": self.udp_datagrams, "not_stored": self.cot_dropped}
        return web.json_response(body)

    # --- Cursor-on-Target ---------------------------------------------------------------------

    def _cot(
        self, store: Callable[[Sequence[Any], str], set[str]], batch: Sequence[Any], sender: str
    ) -> set[str]:
        """On the writer: store CoT reports; while the store is down they are counted and
        dropped (CoT is never acknowledged, and a device's next report supersedes them)."""
        try:
            if self.store_down is not None:  # not tried again for every batch
                raise StoreUnreachable(self.store_down)
            return store(batch, sender)
        except Exception as exc:
            if not unreachable(exc):
                raise
            self._store_lost(exc)
            self.cot_dropped += len(batch)
            return set()

    def _pump_udp(self) -> None:
        """Hand the UDP worker's batches to the writer. Whatever arrives while the writer
        stores one group is gathered into the next (group commit: the longer a commit takes,
        the more reports the next durable commit carries). Past :data:`UDP_GATHERED_MAX`
        waiting reports the pump stops reading, and the worker's queue and the kernel's
        buffer hold the rest. A worker that died is restarted."""
        worker = self._udp_worker
        assert worker is not None
        while not self._stopping.is_set():
            batch = worker.receive(0.25)
            if batch is not None:
                self.udp_datagrams += batch.received
                with self._udp_room:
                    while self._udp_gathered_size >= UDP_GATHERED_MAX and self._udp_storing:
                        self._udp_room.wait(0.25)
                    self._udp_gathered.append(batch)
                    self._udp_gathered_size += batch.reports
                    if not self._udp_storing:
                        self._udp_storing = True
                        self._writer.submit(self._store_udp_group)
                continue
            if not worker.alive and not self._stopping.is_set():
                log.error("CoT UDP worker died (exit %s); restarting it", worker.process.exitcode)
                port = worker.port
                worker.stop()
                worker = self._udp_worker = UdpWorker(self.listen.host, port)
        with self._udp_room:  # what was received is stored before the gateway stops
            while self._udp_storing:
                self._udp_room.wait(0.25)

    def _store_udp_group(self) -> None:
        """On the writer: store what the pump gathered, up to :data:`UDP_GROUP_MAX` reports in
        one transaction. If more is waiting, the next group is queued behind whatever else
        waits for the writer (an HTTP request is not held up by a stream of datagrams)."""
        core = self.core
        assert core is not None
        group: list[EncodedBatch] = []
        size = 0
        with self._udp_room:
            gathered = self._udp_gathered
            while gathered and (not group or size < UDP_GROUP_MAX):
                batch = gathered.popleft()
                group.append(batch)
                size += batch.reports
            self._udp_gathered_size -= size
            self._udp_room.notify_all()
        try:
            if group and self.store_down is not None:
                raise StoreUnreachable(self.store_down)  # not tried again for every group
            if group:
                with collector_paused():  # decoded here: short-lived, no cycles
                    core.udp_batch(decode_batches(group))
        except Exception as exc:
            if unreachable(exc):
                self._store_lost(exc)
                self.cot_dropped += size
            else:
                log.exception("storing a CoT UDP batch failed")
        finally:
            with self._udp_room:
                if self._udp_gathered:
                    self._writer.submit(self._store_udp_group)
                else:
                    self._udp_storing = False
                    self._udp_room.notify_all()

    def udp_received(self, data: bytes, sender: str) -> None:
        self.udp_datagrams += 1
        self._udp_queue.append((data, sender))
        if not self._udp_busy:
            self._udp_busy = True
            asyncio.get_running_loop().create_task(self._drain_udp())

    async def _drain_udp(self) -> None:
        try:
            while self._udp_queue:
                await self._drain_udp_now()
        finally:
            self._udp_busy = False

    async def _drain_udp_now(self) -> None:
        batch = [self._udp_queue.popleft() for _ in range(min(len(self._udp_queue), 5000))]
        if not batch:
            await asyncio.sleep(0)
            return
        assert self.core is not None
        await self.on_writer(self._cot, self.core.cot_batch, batch, "udp")

    async def _tak_stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A plain CoT TCP connection (no credentials: see :mod:`.identity`)."""
        await self._cot_connection(reader, writer, "tcp")

    async def _tak_tls(self, transport: asyncio.BaseTransport) -> None:
        """A CoT connection over TLS: the handshake requires a client certificate of the
        console's authority, and the certificate names the one device heard on it. A failed
        handshake is refused and logged with the peer's address (asyncio's own TLS server
        would only log it in debug mode)."""
        core = self.core
        assert core is not None and self._tls_context is not None
        peer = transport.get_extra_info("peername")
        sender = f"{peer[0]}:{peer[1]}" if peer else "?"
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=MAX_BODY, loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        try:
            secure = await loop.start_tls(
                transport,  # type: ignore[arg-type]
                protocol,
                self._tls_context,
                server_side=True,
                ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT_S,
            )
        except (ssl.SSLError, ConnectionError, TimeoutError, OSError) as failed:
            transport.close()
            reason = " ".join(str(failed).split())[:200] or type(failed).__name__
            await self.on_writer(
                core.reject, "tls", sender, f"TLS handshake refused: {reason}", b""
            )
            return
        assert secure is not None
        protocol.connection_made(secure)
        writer = asyncio.StreamWriter(secure, protocol, reader, loop)
        await self._cot_connection(reader, writer, "tls")

    async def _prove(
        self, writer: asyncio.StreamWriter, sender: str
    ) -> tuple[str, str | None] | None:
        """The device the connection's client certificate proves; None (refused and logged)
        without a valid, active certificate of this authority."""
        core = self.core
        assert core is not None
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            await self.on_writer(core.reject, "tls", sender, "no client certificate", b"")
            return None
        serial, common_name = peer_serial(der)
        try:
            proven = await self.on_writer(certified_device, core.store, serial, common_name)
        except Exception as exc:
            if not unreachable(exc):
                raise
            proven = "the store is unreachable: the certificate cannot be checked"
        if isinstance(proven, str):
            await self.on_writer(core.reject, "tls", sender, proven, b"")
            return None
        log.info("CoT TLS connection from %s: device %s", sender, proven[0])
        return proven

    async def _watch_certificate(self, writer: asyncio.StreamWriter, sender: str) -> None:
        """While a TLS connection is open, its certificate is checked again every
        :data:`CERT_RECHECK_S`: revoked (a lost device), or its device removed, the connection
        is closed and logged (its directives go nowhere else)."""
        core = self.core
        assert core is not None
        ssl_object = writer.get_extra_info("ssl_object")
        serial, common_name = peer_serial(ssl_object.getpeercert(binary_form=True))
        while not writer.is_closing():
            await asyncio.sleep(CERT_RECHECK_S)
            try:
                proven = await self.on_writer(certified_device, core.store, serial, common_name)
            except Exception as exc:
                if not unreachable(exc):
                    raise
                continue  # checked again when the store answers
            if isinstance(proven, str):
                await self.on_writer(
                    core.reject, "tls", sender, f"{proven}: connection closed", b""
                )
                writer.close()
                return

    async def _cot_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, transport: str
    ) -> None:
        from dispatch_console.feeds.cot.stream import CotStreamSplitter

        peer = writer.get_extra_info("peername")
        sender = f"{peer[0]}:{peer[1]}" if peer else "?"
        core = self.core
        assert core is not None
        if len(self._tak_connections) >= MAX_TAK_CONNECTIONS:
            log.warning("CoT connection from %s refused: %d open", sender, MAX_TAK_CONNECTIONS)
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._tak_connections[task] = writer
        splitter = CotStreamSplitter()
        bound: set[str] = set()
        ended = "closed by the sender"
        watcher: asyncio.Task[None] | None = None
        try:
            proven = None
            accepted: set[str] = set()
            if transport == "tls":
                proven = await self._prove(writer, sender)
                if proven is None:
                    return
                if proven[1]:  # its directives go out at once, as TAK Server does
                    accepted = {proven[1]}
                watcher = asyncio.create_task(self._watch_certificate(writer, sender))
            while True:
                await self._bind(accepted, bound, writer, sender, transport, proven is not None)
                try:
                    chunk = await asyncio.wait_for(reader.read(65536), TAK_IDLE_TIMEOUT_S)
                except TimeoutError:
                    ended = f"idle for {TAK_IDLE_TIMEOUT_S:.0f} s: closed"
                    break
                except (ConnectionError, OSError, ssl.SSLError) as lost:
                    ended = f"connection lost: {type(lost).__name__}"
                    break
                if not chunk:
                    break
                pieces = splitter.feed(chunk)
                if not pieces:
                    continue
                accepted = await self.on_writer(
                    self._cot, functools.partial(core.cot_stream_pieces, proven=proven), pieces,
                    sender,
                )  # fmt: skip
            if splitter.buffered:  # the stream ended inside a message
                await self.on_writer(
                    core.reject,
                    transport,
                    sender,
                    f"stream ended ({ended}) inside a message: {splitter.buffered} bytes dropped",
                    b"",
                )
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            if watcher is not None:
                watcher.cancel()
            for uid in bound:
                if self._tak_writers.get(uid) is writer:
                    del self._tak_writers[uid]
            self._tak_connections.pop(task, None)
            writer.close()

    async def _bind(
        self,
        accepted: set[str],
        bound: set[str],
        writer: asyncio.StreamWriter,
        sender: str,
        transport: str,
        proven: bool,
    ) -> None:
        """Outbound CoT for these uids goes to this connection from now on (and what they
        have not acknowledged goes now). On plain CoT, a uid bound to a live connection stays
        with it until it closes; a connection whose certificate proves the device takes its
        uid over (the device reconnected)."""
        core = self.core
        assert core is not None
        for uid in accepted - bound:
            if len(bound) >= MAX_UIDS_PER_CONNECTION:
                break
            current = self._tak_writers.get(uid)
            if (
                not proven
                and current is not None
                and current is not writer
                and not current.is_closing()
            ):
                await self.on_writer(
                    core.reject, transport, sender, f"uid {uid} is bound to another connection", uid
                )
                continue
            self._tak_writers[uid] = writer
            bound.add(uid)
            for document in await self.on_writer(core.pending_cot_for_tak, uid):
                writer.write(document)

    def _push_cot(self, outbound: list[tuple[str, list[bytes], tuple[str, str]]]) -> None:
        """Write CoT documents (built on the writer thread) to connected TAK devices."""
        core = self.core
        assert core is not None
        for uid, documents, (incident_id, directive_id) in outbound:
            writer = self._tak_writers.get(uid)
            if writer is None or writer.is_closing():
                continue  # sent again when the device next connects (not acknowledged yet)
            for document in documents:
                writer.write(document)
            asyncio.get_running_loop().run_in_executor(
                self._writer, core.directive_delivered, incident_id, directive_id
            )


def _start_monitor(core: GatewayCore) -> Monitor:
    """The geofence and warning monitor, subscribed last (its events come after the batch that
    caused them), and the service's starting point for catching up on other writers."""
    monitor = Monitor(core.service)
    core.service.subscribe(monitor.as_subscriber())
    core.service.catch_up()
    return monitor


def _check_master_key(store: Store, box: SecretBox) -> None:
    """Refuse to start with a master key that cannot open the stored key secrets (a new key
    file made by mistake): every signed request would otherwise fail."""
    for key in store.api_keys():
        if not key.revoked:
            try:
                box.open(key.secret_sealed)
            except KeyProblem as problem:
                raise RuntimeError(f"{problem}; set {MASTER_KEY_ENV} to the right file") from None
            return


@dataclass(slots=True)
class _Waiting:
    """A device-message request waiting for its group commit."""

    since: float
    target: str
    key_id: str | None
    signature: str | None
    body: bytes
    peer: str
    future: asyncio.Future[Reply]


_BUSY_BODY = b'{"error": "the gateway is at capacity; send again later"}'


def _resolve(future: asyncio.Future[Reply], reply: Reply) -> None:
    if not future.done():  # (the sender may have gone)
        future.set_result(reply)


def _resolve_all(answered: list[tuple[asyncio.Future[Reply], Reply]]) -> None:
    for future, reply in answered:
        _resolve(future, reply)


def _no_banner() -> None:
    """No server software or version in any answer, the parser's own 400s included (aiohttp
    names itself and Python's version by default, read from this module global each time)."""
    import aiohttp.web_response

    aiohttp.web_response.SERVER_SOFTWARE = "dispatch-gateway"  # type: ignore[attr-defined]


class _MalformedRequests(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's logger for requests it cannot parse (a malformed header value, a bad
    Content-Length: it answers 400 itself): one line and a rejection entry with the peer's
    address, instead of a traceback."""

    def __init__(self, gateway: Gateway) -> None:
        super().__init__(log, {})
        self.gateway = gateway

    def exception(self, msg: object, *args: object, exc_info: Any = None, **kw: Any) -> None:
        remote = str(args[0]) if args else "?"
        problem = " ".join(str(exc_info).split())[:300] if exc_info else str(msg)
        self.warning("refused a malformed HTTP request from %s: %s", remote, problem)
        core = self.gateway.core
        if core is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                asyncio.get_running_loop().run_in_executor(
                    self.gateway._writer, core.reject, "http", f"-@{remote}", f"400: {problem}", b""
                )


def _unavailable() -> Reply:
    """Not acknowledged: the sender sends it again (``Retry-After``)."""
    return error(503, "the store is unavailable; send again later")


def _too_many() -> web.Response:
    return web.json_response({"error": "rate limited"}, status=429, headers={"Retry-After": "1"})


class _TlsPending(asyncio.Protocol):
    """A connection to the CoT TLS port before its handshake. Reading is paused at once, so
    the client's first bytes (its ClientHello) wait for the handshake instead of being read as
    plain data (``StreamWriter.start_tls`` after ``start_server`` races with them)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()
        task = asyncio.get_running_loop().create_task(self.gateway._tak_tls(transport))
        self.gateway._handshakes.add(task)
        task.add_done_callback(self.gateway._handshakes.discard)


class _CotDatagrams(asyncio.DatagramProtocol):
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.gateway.udp_received(data, f"{addr[0]}:{addr[1]}")

    def error_received(self, exc: Exception) -> None:
        log.warning("CoT UDP error: %s", exc)


def _bound_port(site: web.TCPSite) -> int:
    server = site._server  # aiohttp keeps the asyncio server here
    assert server is not None
    sockets = getattr(server, "sockets", None) or []
    return int(sockets[0].getsockname()[1]) if sockets else 0


def serve(store_url: str | None, listen: Listen, *, journal_path: str | None = None) -> None:
    """Run a standalone gateway until SIGINT or SIGTERM."""
    # Two threads share the interpreter: the event loop (many short steps, each ending in a
    # system call that lets go of the GIL) and the writer (Python work between round trips to
    # the store). With the default 5 ms switch interval, each of the loop's sends or reads
    # may wait up to 5 ms for the GIL while the writer runs Python, and each of the writer's
    # round trips as long for the loop. 0.5 ms keeps both responsive for a small cost in
    # switches.
    sys.setswitchinterval(GIL_SWITCH_S)

    async def main() -> None:
        # Handlers first: a SIGTERM that comes while the gateway starts still stops it cleanly.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        gateway = Gateway(store_url, listen, journal_path=journal_path)
        await gateway.start()
        await stop.wait()
        log.warning("stopping the gateway")
        await gateway.stop()

    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(main())


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where installed (Linux, macOS): its transports and selector are
    C, so the loop spends less per HTTP request (the loop is what bounds a gateway at 5x
    load); asyncio's own loop otherwise."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


class GatewayThread(threading.Thread):
    """The gateway in a thread of its own (the console embeds it this way)."""

    def __init__(self, store_url: str | None, listen: Listen, **kwargs: Any) -> None:
        super().__init__(name="gateway", daemon=True)
        self.gateway = Gateway(store_url, listen, **kwargs)
        self.started_ok = threading.Event()
        self.failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None

    def run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop_event = asyncio.Event()
            try:
                await self.gateway.start()
            except BaseException as exc:
                self.failure = exc
                self.started_ok.set()
                raise
            self.started_ok.set()
            await self._stop_event.wait()
            await self.gateway.stop()

        with contextlib.suppress(BaseException):
            asyncio.run(main())

    def start_and_wait(self, timeout: float = 30.0) -> None:
        self.start()
        if not self.started_ok.wait(timeout):
            raise RuntimeError("gateway did not start in time")
        if self.failure is not None:
            raise RuntimeError(f"gateway failed to start: {self.failure}") from self.failure

    def stop(self, timeout: float = 30.0) -> None:
        if self._loop is not None and self._stop_event is not None:
            self._loop.call_soon_threadsafe(self._stop_event.set)
        self.join(timeout)


__all__ = ["Gateway", "GatewayThread", "Listen", "RateLimiter", "error", "serve"]
