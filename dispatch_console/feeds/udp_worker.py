"""The CoT UDP receiver in a process of its own.

Receiving and parsing position reports is CPU work that would otherwise share one interpreter
lock with validation and storage; in its own process it runs on the other core, and the socket
is drained even while the writer is busy, so a burst waits in a large kernel buffer instead of
being dropped. The worker sends parsed reports and rejections to the gateway in batches over a
pipe; it never touches the store. It exits when told to, when the pipe closes, or when its parent
dies (checked every half second), so a killed gateway leaves no orphan holding the port.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import queue
import select
import signal
import socket
import struct
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, NamedTuple

import msgspec

from dispatch_console.feeds.cot.parse import CotPosition, CotRejected
from dispatch_console.feeds.cot.proto import parse_position_message

log = logging.getLogger(__name__)

BATCH_MAX = 2000
#: Batches waiting for the gateway inside the worker (about 2,000 reports each: 100 seconds
#: at 20,000 reports a second); past that the kernel buffer takes over, then datagrams drop.
QUEUED_BATCHES_MAX = 1000
BATCH_WAIT_S = 0.02
RECEIVE_BUFFER = 64 * 1024 * 1024
#: Datagrams received and not yet parsed, held in the worker: receiving costs a tenth of
#: parsing, so the socket is drained between every few parsed datagrams and a burst that
#: parsing cannot keep up with (both cores busy) waits here rather than being dropped by the
#: kernel once its buffer is full. At most this many, and at most :data:`RECEIVED_BYTES_MAX`
#: of them (a flood of 64 KiB datagrams must not take gigabytes); past either the kernel's
#: buffer fills.
RECEIVED_MAX = 100_000
RECEIVED_BYTES_MAX = 96 * 1024 * 1024
#: Datagrams parsed between two drains of the socket.
PARSE_SLICE = 64
EXCERPT = 300


@dataclass(frozen=True)
class UdpBatch:
    """What the worker hands over: parsed positions and refusals, each with its sender."""

    positions: list[tuple[CotPosition, str]]
    rejected: list[tuple[str, str, bytes]]  # (sender, reason, first bytes)
    received: int


class EncodedBatch(NamedTuple):
    """A batch as it came over the pipe: decoded only when it is stored (on the writer, with
    the cyclic collector paused: thousands of small objects that never form cycles, which the
    collector would otherwise walk while they wait for the writer)."""

    reports: int  # positions and refusals in it
    received: int
    blob: bytes


# Over the pipe a batch travels as msgpack of plain lists (a third of pickle's cost for
# thousands of small named tuples) after a header with its counts, and is rebuilt in the
# gateway.
_HEADER = struct.Struct("<II")
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(
    tuple[list[tuple[CotPosition, str]], list[tuple[str, str, bytes]], int]
)


def encode_batch(batch: UdpBatch) -> bytes:
    header = _HEADER.pack(len(batch.positions) + len(batch.rejected), batch.received)
    return header + _encoder.encode((batch.positions, batch.rejected, batch.received))


def read_batch(data: bytes) -> EncodedBatch:
    reports, received = _HEADER.unpack_from(data)
    return EncodedBatch(reports, received, data)


def decode_batch(encoded: EncodedBatch) -> UdpBatch:
    positions, rejected, received = _decoder.decode(memoryview(encoded.blob)[_HEADER.size :])
    return UdpBatch(positions, rejected, received)


def decode_batches(batches: list[EncodedBatch]) -> UdpBatch:
    """Several batches as one (one transaction for all of them)."""
    if len(batches) == 1:
        return decode_batch(batches[0])
    decoded = [decode_batch(b) for b in batches]
    return UdpBatch(
        [p for b in decoded for p in b.positions],
        [r for b in decoded for r in b.rejected],
        sum(b.received for b in decoded),
    )


#: Linux's SO_RCVBUFFORCE (Python's socket module does not name it).
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33 if sys.platform == "linux" else None)


def enlarge_receive_buffer(sock: socket.socket) -> None:
    """A burst of CoT must wait in the kernel, not be dropped (the default is ~208 KiB).
    SO_RCVBUFFORCE passes the system limit where we may (root); else the plain option."""
    for option in (_SO_RCVBUFFORCE, socket.SO_RCVBUF):
        if option is None:
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, RECEIVE_BUFFER)
            return
        except OSError:
            continue


def bind_udp(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    enlarge_receive_buffer(sock)
    sock.bind((host, port))
    return sock


def run_worker(
    sock: socket.socket, pipe: multiprocessing.connection.Connection, parent_pid: int
) -> None:
    """The worker's loop (in the child process).

    One thread receives and parses: it drains the socket into memory (up to
    :data:`RECEIVED_MAX` datagrams and :data:`RECEIVED_BYTES_MAX` bytes) before every
    :data:`PARSE_SLICE` datagrams it parses, so the kernel's buffer stays empty while parsing
    falls behind (a second receiving thread would wait for the interpreter lock at every
    datagram, and drain almost nothing). Encoded batches go to a sender thread through a
    bounded queue, so a gateway busy with a commit does not hold up receiving either.
    """
    outbox: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUED_BATCHES_MAX)
    gone = threading.Event()

    def send_batches() -> None:
        while (blob := outbox.get()) is not None:
            try:
                pipe.send_bytes(blob)
            except (BrokenPipeError, OSError):
                gone.set()
                return

    sender_thread = threading.Thread(target=send_batches, name="cot-udp-send", daemon=True)
    sender_thread.start()
    # Non-blocking: a socket with a timeout polls before every receive (a second system call
    # per datagram); here the poll happens only once the socket is drained.
    sock.setblocking(False)
    waiting = select.poll()
    waiting.register(sock, select.POLLIN)
    receive = sock.recvfrom
    parse = parse_position_message
    pending: deque[tuple[bytes, Any]] = deque()
    pending_bytes = 0
    senders: dict[Any, str] = {}
    positions: list[tuple[CotPosition, str]] = []
    rejected: list[tuple[str, str, bytes]] = []
    received = 0
    last_sent = last_check = time.monotonic()

    def hand_over(now: float) -> None:
        nonlocal positions, rejected, received, last_sent
        outbox.put(encode_batch(UdpBatch(positions, rejected, received)))
        positions, rejected, received = [], [], 0
        last_sent = now

    def told_to_stop(now: float) -> bool:
        """Checked twice a second: the parent is gone, or it told the worker to stop."""
        nonlocal last_check
        if now - last_check <= 0.5:
            return False
        last_check = now
        return os.getppid() != parent_pid or pipe.poll()

    try:
        while not gone.is_set():
            try:
                while len(pending) < RECEIVED_MAX and pending_bytes < RECEIVED_BYTES_MAX:
                    datagram = receive(70_000)
                    pending.append(datagram)
                    pending_bytes += len(datagram[0])
            except BlockingIOError:
                pass
            except OSError:
                return
            if not pending:  # drained: hand over what waits, then wait for more
                now = time.monotonic()
                if received and now - last_sent >= BATCH_WAIT_S:
                    hand_over(now)
                if told_to_stop(now):
                    return
                wait = BATCH_WAIT_S - (now - last_sent) if received else 0.5
                waiting.poll(max(1, int(wait * 1000)))
                continue
            for _ in range(min(PARSE_SLICE, len(pending))):
                data, address = pending.popleft()
                pending_bytes -= len(data)
                received += 1
                sender = senders.get(address)
                if sender is None:
                    if len(senders) > 4096:  # a flood of made-up source ports
                        senders.clear()
                    sender = senders[address] = f"{address[0]}:{address[1]}"
                try:
                    position = parse(data)
                except CotRejected as refused:
                    rejected.append((sender, refused.reason, data[:EXCERPT]))
                else:
                    if position is not None:
                        positions.append((position, sender))
            now = time.monotonic()
            if len(positions) + len(rejected) >= BATCH_MAX or now - last_sent >= BATCH_WAIT_S:
                hand_over(now)
            if now - last_check > 0.5 and told_to_stop(now):
                return
    finally:
        with contextlib.suppress(queue.Full):
            outbox.put_nowait(None)


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker the moment its parent dies (kill -9 included), so an
    orphan never holds the gateway's UDP port while a restarted gateway binds it; elsewhere the
    worker's own check (twice a second) ends it."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return


def _child(
    sock: socket.socket, pipe: multiprocessing.connection.Connection, parent_pid: int
) -> None:
    _die_with_parent()
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        return
    with contextlib.suppress(KeyboardInterrupt):
        run_worker(sock, pipe, parent_pid)


class UdpWorker:
    """Starts the worker process on a socket bound here (so the port is known at once)."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = bind_udp(host, port)
        self.port = int(self.sock.getsockname()[1])
        context = multiprocessing.get_context("spawn")
        self._ours, theirs = context.Pipe(duplex=True)
        # The bound socket itself goes to the child (multiprocessing passes its descriptor).
        self.process = context.Process(
            target=_child, args=(self.sock, theirs, os.getpid()), name="cot-udp", daemon=True
        )
        self.process.start()
        theirs.close()

    def receive(self, timeout: float) -> EncodedBatch | None:
        """The next batch, or ``None`` after ``timeout`` seconds or once the worker is gone."""
        try:
            if self._ours.poll(timeout):
                return read_batch(self._ours.recv_bytes())
        except (EOFError, OSError):
            return None
        return None

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._ours.send(None)
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)
        self._ours.close()
        self.sock.close()
