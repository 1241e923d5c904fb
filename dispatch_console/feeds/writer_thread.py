"""The gateway's one writer thread: every store write, in the order submitted, except that an
urgent job (a school's activation: an alert that decides who drives to a shooting) goes before
the ordinary ones waiting (group commits of positions, CoT batches). A CoT burst keeps a batch
queued behind every other job; an activation no longer waits behind it. After
:data:`URGENT_RUN_MAX` urgent jobs in a row, one ordinary job waiting runs."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

T = TypeVar("T")
#: Urgent jobs run in a row at most while ordinary ones wait; then one ordinary job runs (a
#: flood of urgent work cannot stop the phones' group commits altogether).
URGENT_RUN_MAX = 8
_Job = tuple["Future[Any]", Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class WriterThread(Executor):
    def __init__(self, name: str) -> None:
        self._urgent: deque[_Job] = deque()
        self._ordinary: deque[_Job] = deque()
        self._changed = threading.Condition()
        self._shut = False
        self._urgent_run = 0  # urgent jobs run in a row while ordinary ones waited
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        return self._put(self._ordinary, fn, args, kwargs)

    def submit_urgent(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Run ``fn`` before every ordinary job waiting (after the one running, and after
        urgent ones submitted before it)."""
        return self._put(self._urgent, fn, args, kwargs)

    def _put(
        self, queue: deque[_Job], fn: Callable[..., T], args: tuple[Any, ...], kwargs: Any
    ) -> Future[T]:
        future: Future[T] = Future()
        with self._changed:
            if self._shut:
                raise RuntimeError("cannot schedule new jobs after shutdown")
            queue.append((future, fn, args, kwargs))
            self._changed.notify()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._changed:
            self._shut = True
            if cancel_futures:
                for queue in (self._urgent, self._ordinary):
                    while queue:
                        queue.popleft()[0].cancel()
            self._changed.notify()
        if wait and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._urgent and not self._ordinary and not self._shut:
                    self._changed.wait()
                if self._urgent and not (self._ordinary and self._urgent_run >= URGENT_RUN_MAX):
                    job = self._urgent.popleft()
                    self._urgent_run = self._urgent_run + 1 if self._ordinary else 0
                elif self._ordinary:
                    job = self._ordinary.popleft()
                    self._urgent_run = 0
                else:
                    return  # shut down, and nothing waits
            future, fn, args, kwargs = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:  # handed to whoever waits for it
                future.set_exception(exc)
            else:
                future.set_result(result)
            del job, future, fn, args, kwargs
