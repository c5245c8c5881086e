"""When a server process last began a request: the signal its in-process workers yield to."""

from __future__ import annotations

import math
import time


class RequestActivity:
    """The monotonic time the server last began a request (probes and scrapes do not count).

    One per app, written by the transport middleware on every request and read by the enrichment
    workers between batches. A plain float attribute: one store per request, no lock (a torn read is
    impossible for a Python float, and a stale one only delays a worker's pause by a batch).
    """

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last = -math.inf

    def began(self) -> None:
        self.last = time.monotonic()

    def since(self, moment: float) -> bool:
        """Whether a request began at or after ``moment`` (a ``time.monotonic()`` reading)."""
        return self.last >= moment
