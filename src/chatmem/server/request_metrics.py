"""The request histogram (``chatmem_http_request_duration_seconds``), recorded in batches.

An observation of a ``prometheus_client`` histogram under ``chatmem serve`` (multiprocess mode) takes a
lock and writes two values into the process's mmap'd file: about 4 µs of CPU per request, a third of
what observability cost before (docs/benchmarks.md). So the observe middleware only appends
``(route, method, status, seconds)`` to a list, and the observations are folded into the histogram
together: one second after the first of a batch (a timer on the event loop) or when 1024 are pending,
before every scrape this process answers (``chatmem.server.metrics_export.render``) and at shutdown.
A scrape answered by one server process therefore sees the requests of the others up to a second late.

The fold is exact: it adds each observation to the sum in arrival order, starting from the sum's value,
and counts each into the bucket ``observe`` would have chosen (the first whose bound is at least the
value), so counts, buckets and sum are those per-request ``observe`` calls would have left. It reaches
into the histogram child's values (``_buckets``, ``_sum``): prometheus_client has no public way to add
many observations at once; tests/ops/test_request_metrics.py checks the result against ``observe``.
"""

from __future__ import annotations

import asyncio
import threading
from bisect import bisect_left

from prometheus_client import Histogram

from chatmem.base.metrics import REQUEST_SECONDS

FOLD_SECONDS = 1.0
FOLD_RECORDS = 1024  # or sooner, when this many are pending

# (route template, method, status, seconds): what the middleware appends per request.
Record = tuple[str, str, int, float]


class RequestMetrics:
    """Observations of a histogram labelled (route, method, status), gathered and folded in batches.

    ``pending`` is appended to by the event loop (``observe`` or the middleware directly); ``fold`` may
    run on any thread: it takes the records from the front of the list (under the GIL, appends go to its
    end) and folds under a lock of its own, so two folds never interleave."""

    def __init__(self, histogram: Histogram) -> None:
        self.histogram = histogram
        self.pending: list[Record] = []
        self.scheduled = False
        self._lock = threading.Lock()
        self._children: dict[tuple[str, str, int], Histogram] = {}
        self._bounds = list(histogram._upper_bounds)  # the last is +Inf

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        pending = self.pending
        pending.append((route, method, status, seconds))
        if not self.scheduled:
            self.schedule()
        elif len(pending) >= FOLD_RECORDS:
            self.fold()

    def schedule(self) -> None:
        """Fold in ``FOLD_SECONDS``: called by whoever appends while no fold is scheduled."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop to wait on: fold now
            self.fold()
            return
        self.scheduled = True
        loop.call_later(FOLD_SECONDS, self._timer)

    def _timer(self) -> None:
        self.scheduled = False
        self.fold()

    def close(self) -> None:
        """Fold what is pending, and forget the timer: at the end of the event loop it was on."""
        self.scheduled = False
        self.fold()

    def fold(self) -> None:
        """Add the pending observations to the histogram."""
        with self._lock:
            count = len(self.pending)
            if not count:
                return
            batch = self.pending[:count]
            del self.pending[:count]
            # key -> [sum, count per bucket]; the sum starts from the child's, see the module docstring.
            totals: dict[tuple[str, str, int], list[float]] = {}
            children = self._children
            bounds = self._bounds
            for route, method, status, seconds in batch:
                key = (route, method, status)
                entry = totals.get(key)
                if entry is None:
                    child = children.get(key)
                    if child is None:
                        child = children[key] = self.histogram.labels(route, method, str(status))
                    entry = totals[key] = [child._sum.get(), *(0.0 for _ in bounds)]
                entry[0] += seconds
                entry[1 + bisect_left(bounds, seconds)] += 1
            for key, entry in totals.items():
                child = children[key]
                child._sum.set(entry[0])
                for index, added in enumerate(entry[1:]):
                    if added:
                        child._buckets[index].inc(added)


REQUESTS = RequestMetrics(REQUEST_SECONDS)
