"""Graceful shutdown: what the server does between SIGTERM and exit.

uvicorn, on SIGTERM, stops accepting connections, lets the requests in flight finish (for up to
``CHATMEM_SHUTDOWN_GRACE_SECONDS``, its ``timeout_graceful_shutdown``) and then runs the app's
lifespan shutdown. The enrichment workers should not wait for the requests to drain before they stop
claiming work: ``on_terminate`` chains a callback in front of uvicorn's own signal handler, so they
start finishing their batches at the same moment, and the lifespan shutdown only collects them within
what is left of the same grace period.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Deadline:
    """The end of the grace period, ``grace`` seconds after ``start`` (the signal). Not started (a
    server stopped in-process, without a signal), the whole grace period remains."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self._at: float | None = None

    def start(self) -> None:
        if self._at is None:
            self._at = time.monotonic() + self.grace

    def remaining(self) -> float:
        return self.grace if self._at is None else max(0.0, self._at - time.monotonic())

    def expired(self) -> bool:
        return self._at is not None and time.monotonic() >= self._at


def on_terminate(callback: Callable[[], None]) -> None:
    """Run ``callback`` when SIGTERM or SIGINT arrives, then the handler that was there (uvicorn's,
    installed before the lifespan starts; it restores the original handlers itself on exit).

    Signal handlers can only be set from the main thread; elsewhere (a test server in a thread) the
    lifespan shutdown still stops everything, just without the head start."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in SIGNALS:
        previous = signal.getsignal(signum)
        if not callable(previous):
            continue  # no server handler to chain to: leave the signal's behaviour alone

        def handler(sig: int, frame: FrameType | None, previous: Any = previous) -> None:
            callback()
            previous(sig, frame)

        signal.signal(signum, handler)
