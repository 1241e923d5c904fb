"""An append that returned survives kill -9 of the process that made it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from dispatch_console.store import Store

APPENDER = Path(__file__).with_name("appender.py")
ROOT = Path(__file__).resolve().parents[2]


def test_every_returned_append_is_present_after_kill_9(store: Store, store_url: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, str(APPENDER), store_url], stdout=subprocess.PIPE, text=True, env=env
    )
    acknowledged: list[int] = []
    assert child.stdout is not None
    try:
        for line in child.stdout:
            acknowledged.append(int(line))
            if len(acknowledged) == 150:
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert len(acknowledged) == 150

    with Store(store_url) as reopened:
        events = list(reopened.read("inc-kill"))
    seqs = [e.seq for e in events]
    # Everything acknowledged is there, nothing half-written: whole batches of 20 only.
    assert seqs[: acknowledged[-1]] == list(range(1, acknowledged[-1] + 1))
    assert len(seqs) % 20 == 0
    assert len({e.idempotency_key for e in events}) == len(events)
