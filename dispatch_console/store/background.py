"""Work done on a thread of its own, off the caller's path, in the order given: for what may be
late or lost (a cache), never for what a caller acknowledges."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

log = logging.getLogger(__name__)

#: A thread with nothing to do for this long ends (a store that is never closed leaves none).
IDLE_S = 5.0


class Background:
    """One daemon thread (started at the first job, ended when idle) running jobs in turn. At most
    ``waiting_max`` jobs wait; past that the oldest waiting one is dropped, and logged. A job
    that raises is logged and the next one runs."""

    def __init__(self, name: str, waiting_max: int, *, inline: bool = False) -> None:
        """``inline``: run each job at once in the caller's thread instead (where the work
        cannot be done beside the caller's, such as on a connection the caller shares)."""
        self.name = name
        self.waiting_max = waiting_max
        self.inline = inline
        self.dropped = 0
        self._jobs: deque[Callable[[], None]] = deque()
        self._changed = threading.Condition()
        self._running = False  # a job is being run
        self._closed = False
        self._thread: threading.Thread | None = None

    def submit(self, job: Callable[[], None]) -> None:
        if self.inline:
            job()
            return
        with self._changed:
            if self._closed:
                job()  # after close: in the caller's thread, as before there was a thread
                return
            if len(self._jobs) >= self.waiting_max:
                self._jobs.popleft()
                self.dropped += 1
                log.warning("%s: %d jobs waiting; the oldest was dropped", self.name,
                            self.waiting_max)  # fmt: skip
            self._jobs.append(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            self._changed.notify_all()

    def flush(self) -> None:
        """Wait until every job submitted so far has run."""
        with self._changed:
            while self._jobs or self._running:
                self._changed.wait(0.5)

    def close(self) -> None:
        """Run what waits, then stop the thread (later jobs run in the caller's thread)."""
        self.flush()
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(10)

    def _run(self) -> None:
        while True:
            with self._changed:
                if not self._jobs and not self._closed:
                    self._changed.wait(IDLE_S)
                if not self._jobs:  # closed, or idle: the next job starts a thread again
                    self._thread = None
                    return
                job = self._jobs.popleft()
                self._running = True
            try:
                job()
            except Exception:
                log.exception("%s: a job failed", self.name)
            finally:
                with self._changed:
                    self._running = False
                    self._changed.notify_all()
