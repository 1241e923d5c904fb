"""The gateway's writer thread: jobs in order, an urgent one before the ordinary ones waiting."""

from __future__ import annotations

import threading

import pytest

from dispatch_console.feeds.writer_thread import WriterThread


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
