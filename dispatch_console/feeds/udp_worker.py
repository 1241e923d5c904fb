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
import logging
import multiprocessing
import multiprocessing.connection
import os
import queue
import socket
import threading
import time
from dataclasses import dataclass

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
EXCERPT = 300


@dataclass(frozen=True)
class UdpBatch:
    """What the worker hands over: parsed positions and refusals, each with its sender."""

    positions: list[tuple[CotPosition, str]]
    rejected: list[tuple[str, str, bytes]]  # (sender, reason, first bytes)
    received: int


# Over the pipe a batch travels as msgpack of plain lists (a third of pickle's cost for
# thousands of small named tuples), and is rebuilt in the gateway.
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(
    tuple[list[tuple[CotPosition, str]], list[tuple[str, str, bytes]], int]
)


def encode_batch(batch: UdpBatch) -> bytes:
    return _encoder.encode((batch.positions, batch.rejected, batch.received))


def decode_batch(blob: bytes) -> UdpBatch:
    positions, rejected, received = _decoder.decode(blob)
    return UdpBatch(positions, rejected, received)


def enlarge_receive_buffer(sock: socket.socket) -> None:
    """A burst of CoT must wait in the kernel, not be dropped (the default is ~208 KiB).
    SO_RCVBUFFORCE passes the system limit where we may (root); else the plain option."""
    for option in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
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

    Receiving never waits for the gateway: encoded batches go to a sender thread through a
    bounded queue, so while the gateway is busy with a commit the socket keeps being drained
    into memory here (up to :data:`QUEUED_BATCHES_MAX` batches) instead of overflowing the
    kernel's buffer.
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
    sock.settimeout(BATCH_WAIT_S)
    positions: list[tuple[CotPosition, str]] = []
    rejected: list[tuple[str, str, bytes]] = []
    received = 0
    last_sent = last_check = time.monotonic()
    try:
        while not gone.is_set():
            try:
                data, address = sock.recvfrom(70_000)
            except TimeoutError:
                address = None
            except OSError:
                return
            now = time.monotonic()
            if address is not None:
                received += 1
                sender = f"{address[0]}:{address[1]}"
                try:
                    position = parse_position_message(data)
                except CotRejected as refused:
                    rejected.append((sender, refused.reason, data[:EXCERPT]))
                else:
                    if position is not None:
                        positions.append((position, sender))
            if received and (
                len(positions) + len(rejected) >= BATCH_MAX or now - last_sent >= BATCH_WAIT_S
            ):
                outbox.put(encode_batch(UdpBatch(positions, rejected, received)))
                positions, rejected, received = [], [], 0
                last_sent = now
            if now - last_check > 0.5:
                last_check = now
                if os.getppid() != parent_pid or pipe.poll():  # parent gone, or told to stop
                    return
    finally:
        with contextlib.suppress(queue.Full):
            outbox.put_nowait(None)


def _child(
    sock: socket.socket, pipe: multiprocessing.connection.Connection, parent_pid: int
) -> None:
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

    def receive(self, timeout: float) -> UdpBatch | None:
        """The next batch, or ``None`` after ``timeout`` seconds or once the worker is gone."""
        try:
            if self._ours.poll(timeout):
                return decode_batch(self._ours.recv_bytes())
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
