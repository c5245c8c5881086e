"""A few threads that run one part of a search beside the request's own thread (hybrid's side half:
its pending-message lookup and keyword ranking, ``search/service.py``).

A request never waits for one of these threads: when every thread is busy (many searches at once) or
the pool is closed, ``submit`` says so and the caller does the work itself, in line, as it would
without the pool. So no search queues behind others for a thread, and the threads and database
connections that searches take beyond the requests' own stay bounded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class SidePool:
    def __init__(self, workers: int) -> None:
        """``workers`` threads at most, started on first use; 0 runs everything in line."""
        self._executor = (
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chatmem-search") if workers else None
        )
        self._free = threading.BoundedSemaphore(max(workers, 1))
        self._closed = False

    def submit(self, call: Callable[[], T]) -> Future[T] | None:
        """``call`` started on an idle thread of the pool, or None when none is idle (or it is closed)."""
        if self._closed or self._executor is None or not self._free.acquire(blocking=False):
            return None
        try:
            future = self._executor.submit(call)
        except RuntimeError:  # closed meanwhile
            self._free.release()
            return None
        future.add_done_callback(lambda _done: self._free.release())
        return future

    def close(self) -> None:
        """Stop taking work and wait for the calls running (each returns its connection as it ends)."""
        self._closed = True
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
