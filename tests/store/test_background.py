"""The store's background thread: jobs in order, a bounded wait, flush and close."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from dispatch_console.store import background
from dispatch_console.store.background import Background


def test_jobs_run_in_order_off_the_callers_thread_and_flush_waits_for_them() -> None:
    done: list[tuple[int, str]] = []
    jobs = Background("test", 100)
    for n in range(20):
        jobs.submit(
            lambda n=n: (time.sleep(0.002), done.append((n, threading.current_thread().name)))
        )
    jobs.flush()
    assert [n for n, _ in done] == list(range(20))
    assert {name for _, name in done} == {"test"}
    jobs.close()


def test_past_the_bound_the_oldest_waiting_job_is_dropped_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = threading.Event()
    done: list[int] = []
    jobs = Background("test", 3)
    jobs.submit(lambda: (gate.wait(5), done.append(0)))
    while not jobs._running:
        time.sleep(0.001)
    for n in range(1, 6):
        jobs.submit(lambda n=n: done.append(n))
    gate.set()
    jobs.flush()
    assert done == [0, 3, 4, 5]
    assert jobs.dropped == 2
    assert "oldest was dropped" in caplog.text
    jobs.close()


def test_a_failing_job_is_logged_and_the_next_runs(caplog: pytest.LogCaptureFixture) -> None:
    done: list[str] = []
    jobs = Background("test", 10)
    jobs.submit(lambda: 1 / 0)  # type: ignore[func-returns-value]
    jobs.submit(lambda: done.append("next"))
    jobs.flush()
    assert done == ["next"]
    assert "a job failed" in caplog.text
    jobs.close()


def test_close_runs_what_waits_and_later_jobs_run_in_the_caller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    done: list[str] = []
    jobs = Background("test", 10)
    jobs.submit(lambda: (time.sleep(0.05), done.append("waiting")))
    jobs.close()
    assert done == ["waiting"]
    jobs.submit(lambda: done.append(threading.current_thread().name))
    assert done == ["waiting", threading.current_thread().name]


def test_an_idle_thread_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(background, "IDLE_S", 0.05)
    jobs = Background("test", 10)
    jobs.submit(lambda: None)
    jobs.flush()
    deadline = time.monotonic() + 5
    while jobs._thread is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert jobs._thread is None
    done: list[int] = []
    jobs.submit(lambda: done.append(1))  # a new thread takes it
    jobs.flush()
    assert done == [1]


def test_inline_jobs_run_at_once_in_the_callers_thread() -> None:
    done: list[str] = []
    jobs = Background("test", 10, inline=True)
    jobs.submit(lambda: done.append(threading.current_thread().name))
    assert done == [threading.current_thread().name]
    assert jobs._thread is None


def test_an_in_memory_store_writes_its_snapshots_at_once(tmp_path: Path) -> None:
    """One connection serves everything in memory: no second thread may use it."""
    from dispatch_console.store import Store

    with Store(f"sqlite:///{tmp_path / 'file.sqlite3'}") as on_disk:
        assert not on_disk._snapshots.inline  # a connection of its own

    with Store("sqlite://") as memory:
        assert memory._snapshots.inline
    with Store("sqlite:///:memory:") as memory:
        assert memory._snapshots.inline
