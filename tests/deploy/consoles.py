"""Console processes (``tests/deploy/console_process.py``) seen from the test or the benchmark
that drives them: start, send commands, wait for what they report, stop (or kill)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[2]

Record = dict[str, Any]


class ConsoleProcess:
    """One real console (offscreen) in a child process, its JSON lines gathered by a thread."""

    def __init__(self, db: str, user: str, role: str, log: Path) -> None:
        self.user = user
        self.role = role
        self.log = log
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "QT_QPA_PLATFORM": "offscreen",
        }
        self._stderr: IO[bytes] = log.open("wb")
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.deploy.console_process", "--db", db,
                 "--user", user, "--role", role],
                cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=self._stderr, text=True, bufsize=1,
            )  # fmt: skip
        except BaseException:
            self._stderr.close()
            raise
        self.records: list[Record] = []
        #: seq -> when this console's window got it (first time), and how often it got it.
        self.seen_us: dict[int, int] = {}
        self.times_seen: dict[int, int] = {}
        self.order: list[int] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, name=f"console {user}", daemon=True)
        self._reader.start()

    def __repr__(self) -> str:
        return f"<console {self.user} ({self.role}), pid {self.process.pid}>"

    def _read(self) -> None:
        assert self.process.stdout is not None
        try:
            for line in self.process.stdout:
                try:
                    record: Record = json.loads(line)
                except ValueError:
                    record = {"kind": "unparsed", "line": line}
                with self._changed:
                    if record.get("kind") == "events":
                        for seq in record["seqs"]:
                            self.seen_us.setdefault(seq, record["seen_us"])
                            self.times_seen[seq] = self.times_seen.get(seq, 0) + 1
                            self.order.append(seq)
                    self.records.append(record)
                    self._changed.notify_all()
        finally:  # the waits end at once, whatever ended this
            with self._changed:
                self.records.append({"kind": "exited"})
                self._changed.notify_all()

    # --- talking ---------------------------------------------------------------------------

    def send(self, **op: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(op) + "\n")
        self.process.stdin.flush()

    def mark(self) -> int:
        """Where the records stand now (``wait_for(..., after=mark)`` looks only past it)."""
        with self._changed:
            return len(self.records)

    def wait_until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0 or (self.records and self.records[-1]["kind"] == "exited"):
                    raise AssertionError(f"{self}: no {what} after {timeout} s; {self.tail()}")
                self._changed.wait(min(left, 0.5))

    def wait_for(self, kind: str, *, after: int = 0, timeout: float = 30.0) -> Record:
        """The first record of ``kind`` past ``after``."""
        found: list[Record] = []

        def look() -> bool:
            found[:] = [r for r in self.records[after:] if r["kind"] == kind][:1]
            return bool(found)

        self.wait_until(look, timeout, f"{kind!r} record")
        return found[0]

    def wait_ready(self, timeout: float = 60.0) -> Record:
        return self.wait_for("ready", timeout=timeout)

    def wait_seen(self, seqs: list[int] | set[int], timeout: float = 30.0) -> None:
        wanted = set(seqs)
        self.wait_until(lambda: wanted <= self.seen_us.keys(), timeout, f"events {sorted(wanted)}")

    def state(self, incident_id: str, timeout: float = 30.0) -> Record:
        mark = self.mark()
        self.send(op="state", incident=incident_id)
        return self.wait_for("state", after=mark, timeout=timeout)

    def tail(self, lines: int = 20) -> str:
        log = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"last records {self.records[-3:]!r}; stderr: {log.splitlines()[-lines:]!r}"

    # --- stopping ---------------------------------------------------------------------------

    def stop(self, timeout: float = 15.0) -> None:
        """Ask it to quit; kill it if it does not (always: even when the test failed)."""
        try:
            if self.process.poll() is None:
                with contextlib.suppress(OSError):
                    self.send(op="quit")
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(10)
            with contextlib.suppress(OSError):
                self.process.stdin.close()  # type: ignore[union-attr]
            self._reader.join(10)
            self.process.stdout.close()  # type: ignore[union-attr]
            self._stderr.close()
