"""How busy a server process is with requests: the signal its in-process workers yield to."""

from __future__ import annotations

import time


class RequestActivity:
    """The time a server spent with at least one request in flight (probes and scrapes do not count).

    One per app: the middleware calls ``began`` and ``ended`` around every request, on the event loop's
    thread; the enrichment workers read ``busy_seconds`` between batches, from their own threads. Plain
    attributes, no lock: a worker reading while a request begins or ends may see that request's last
    microseconds counted or not, which moves a pause by as much.
    """

    __slots__ = ("_busy", "_in_flight", "_since")

    def __init__(self) -> None:
        self._in_flight = 0
        self._since = 0.0
        self._busy = 0.0

    def began(self) -> None:
        if self._in_flight == 0:
            self._since = time.monotonic()
        self._in_flight += 1

    def ended(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0:
            self._busy += time.monotonic() - self._since

    def busy_seconds(self) -> float:
        """Seconds with at least one request in flight since the server started, up to now."""
        busy, since = self._busy, self._since
        if self._in_flight:
            busy += time.monotonic() - since
        return busy
