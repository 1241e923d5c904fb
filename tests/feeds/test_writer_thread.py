"""The gateway's writer thread: jobs in order, an urgent one before the ordinary ones waiting."""

from __future__ import annotations

import threading
import time

import pytest

from dispatch_console.feeds.auth import sign
from dispatch_console.feeds.writer_thread import URGENT_RUN_MAX, WriterThread
from tests.feeds.gateway_fixture import RunningGateway


def test_an_urgent_job_goes_before_the_ordinary_ones_waiting() -> None:
    writer = WriterThread("test-writer")
    gate, started = threading.Event(), threading.Event()
    order: list[str] = []
    running = writer.submit(lambda: (started.set(), gate.wait(5), order.append("running")))
    assert started.wait(5)
    waiting = [writer.submit(order.append, f"ordinary-{n}") for n in range(3)]
    first = writer.submit_urgent(order.append, "urgent-1")
    second = writer.submit_urgent(order.append, "urgent-2")
    gate.set()
    for future in (running, *waiting, first, second):
        future.result(5)
    # The job running is not interrupted; urgent ones keep their own order.
    assert order == ["running", "urgent-1", "urgent-2", "ordinary-0", "ordinary-1", "ordinary-2"]
    assert threading.current_thread().name not in {"test-writer"}
    writer.shutdown()


def test_results_exceptions_thread_and_shutdown() -> None:
    writer = WriterThread("test-writer")
    assert writer.submit(lambda: threading.current_thread().name).result(5) == "test-writer"
    with pytest.raises(ZeroDivisionError):
        writer.submit_urgent(lambda: 1 / 0).result(5)
    assert writer.submit(sum, [1, 2, 3]).result(5) == 6  # still running after a failure
    last = writer.submit(lambda: "done")
    writer.shutdown(wait=True)
    assert last.result(0) == "done"  # what waited ran before the thread stopped
    with pytest.raises(RuntimeError):
        writer.submit(print)


def test_a_flood_of_urgent_jobs_lets_an_ordinary_one_through_every_few() -> None:
    writer = WriterThread("test-writer")
    gate, started = threading.Event(), threading.Event()
    order: list[str] = []
    first = writer.submit(lambda: (started.set(), gate.wait(5)))
    assert started.wait(5)
    futures = [writer.submit(order.append, f"o{n}") for n in range(3)]
    futures += [writer.submit_urgent(order.append, f"u{n}") for n in range(20)]
    gate.set()
    for future in (first, *futures):
        future.result(5)
    kinds = "".join(name[0] for name in order)
    run = "u" * URGENT_RUN_MAX
    assert kinds == f"{run}o{run}o{'u' * (20 - 2 * URGENT_RUN_MAX)}o"
    writer.shutdown()


def test_only_a_proven_alert_goes_first(gateway: RunningGateway) -> None:
    """An alert route's request is urgent only when signed by a key that may send alerts and
    that the gateway holds: unsigned or forged floods wait their turn behind the phones."""
    proven = gateway.thread.gateway._proven_alert
    body = b'{"id": "a-1"}'
    school, device = gateway.keys["school"], gateway.keys["dev-chen"]
    now = int(time.time())
    assert proven(school.key_id, sign(school.secret.encode(), now, body), body)
    assert not proven(school.key_id, sign(b"not the secret", now, body), body)
    assert not proven(school.key_id, None, body)
    assert not proven(school.key_id, sign(school.secret.encode(), now - 3_600, body), body)
    assert not proven(device.key_id, sign(device.secret.encode(), now, body), body)
    assert not proven("k_unknown", sign(school.secret.encode(), now, body), body)
    assert not proven(None, None, body)
