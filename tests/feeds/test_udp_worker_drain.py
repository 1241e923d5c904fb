"""The CoT UDP worker drains its socket while parsing falls behind (both cores busy at a large
incident): a burst waits in the worker's memory instead of overflowing the kernel's buffer,
where datagrams are dropped without a trace.

The worker's loop runs here in a thread, on a socket with a small kernel buffer (a few dozen
datagrams), with parsing slowed to 1 ms a report and datagrams sent at twice that rate: every
one must come out of the pipe. Receiving and parsing each datagram in turn (the worker before
this test) lost most of them."""

from __future__ import annotations

import multiprocessing
import os
import socket
import threading
import time

import pytest

from dispatch_console.feeds import udp_worker
from dispatch_console.feeds.udp_worker import read_batch, run_worker
from tests.feeds.cot.samples import PLI

SENT = 2_000
RATE = 2_000  # a second; parsing takes 1 ms a report: half that


def _delivered(monkeypatch: pytest.MonkeyPatch, datagram: bytes, parse_slice: int = 8) -> int:
    """Send :data:`SENT` copies of ``datagram`` at :data:`RATE` to a worker whose parsing
    takes 1 ms a datagram; how many it handed over (parsed or refused)."""
    real_parse = udp_worker.parse_position_message

    def slow_parse(data: bytes) -> object:
        time.sleep(0.001)
        return real_parse(data)

    monkeypatch.setattr(udp_worker, "parse_position_message", slow_parse)
    monkeypatch.setattr(udp_worker, "PARSE_SLICE", parse_slice, raising=False)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65_536)  # a few dozen datagrams
    sock.bind(("127.0.0.1", 0))
    ours, theirs = multiprocessing.Pipe(duplex=True)
    worker = threading.Thread(target=run_worker, args=(sock, theirs, os.getppid()), daemon=True)
    worker.start()
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    started = time.monotonic()
    for n in range(SENT):
        sender.sendto(datagram, sock.getsockname())
        time.sleep(max(0.0, started + (n + 1) / RATE - time.monotonic()))
    received = 0
    deadline = time.monotonic() + 20
    # Until all came, or nothing more came for 1.5 s (batches follow every 20 ms while it
    # parses).
    while received < SENT and time.monotonic() < deadline and ours.poll(1.5):
        received += read_batch(ours.recv_bytes()).received
    ours.send_bytes(b"stop")  # the worker checks its pipe twice a second
    worker.join(5)
    sender.close()
    sock.close()
    assert not worker.is_alive()
    return received


def test_a_burst_the_parser_cannot_keep_up_with_is_not_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    received = _delivered(monkeypatch, PLI)
    assert received == SENT, f"{SENT - received} of {SENT} datagrams dropped"


def test_what_waits_in_the_worker_is_bounded_in_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A flood of big datagrams (hostile, or not CoT at all) must not take the worker's memory:
    past :data:`RECEIVED_BYTES_MAX` waiting it stops draining, and the kernel drops the rest."""
    monkeypatch.setattr(udp_worker, "RECEIVED_BYTES_MAX", 100_000, raising=False)
    # Drained after every datagram parsed: only the bound makes the kernel drop any.
    received = _delivered(monkeypatch, b"<" + b"x" * 8_000, parse_slice=1)  # refused, in 1 ms
    assert received < SENT * 3 // 4, received
