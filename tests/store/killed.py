"""Run a writer script in a child process, read what it says it has stored, kill -9 it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def acknowledged_then_killed(script: Path, *args: str, count: int) -> list[int]:
    """The first ``count`` numbers ``script`` printed (one a line, each once its write
    returned), after which the child is killed with SIGKILL (checked)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, str(script), *args], stdout=subprocess.PIPE, text=True, env=env
    )
    acknowledged: list[int] = []
    assert child.stdout is not None
    try:
        for line in child.stdout:
            acknowledged.append(int(line))
            if len(acknowledged) == count:
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert len(acknowledged) == count
    return acknowledged
