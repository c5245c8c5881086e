"""The access log: one line per request, logger ``chatmem.access``, in the configured format.

Written here rather than through ``logging``: a ``logging`` call with its record, formatter and one
write per line cost about four times the CPU of building the line and writing lines in batches, which
on the hot routes was most of what observability cost (docs/benchmarks.md). The lines look exactly like
the other log lines of their format and go to the same place (stderr). They are written when 128 have
gathered or 0.25 s after the first of a batch, and at shutdown: a crash can lose the last quarter
second of access lines, never other log lines.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import BinaryIO

import orjson

LOGGER = "chatmem.access"
BATCH_LINES = 128
BATCH_SECONDS = 0.25


class AccessLog:
    def __init__(self, *, json: bool, stream: BinaryIO | None = None) -> None:
        self.json = json
        self.stream = stream
        self._lines: list[bytes] = []
        self._scheduled = False
        self._second = -1
        self._stamp = ""

    def _timestamp(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            self._second = second
            if self.json:
                self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            else:  # logging's default asctime: local time, comma before the milliseconds
                self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        millis = int((now - second) * 1000)
        return f"{self._stamp}.{millis:03d}+00:00" if self.json else f"{self._stamp},{millis:03d}"

    def write(
        self, request_id: str, method: str, route: str, status: int, seconds: float, tenant: str | None
    ) -> None:
        stamp = self._timestamp(time.time())
        message = f"{method} {route} {status} {seconds * 1000:.2f}ms"
        if self.json:
            line = orjson.dumps(
                {
                    "time": stamp,
                    "level": "info",
                    "logger": LOGGER,
                    "message": message,
                    "request_id": request_id,
                    "route": route,
                    "method": method,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    "tenant": tenant,
                },
                option=orjson.OPT_APPEND_NEWLINE,
            )
        else:
            line = f"{stamp} INFO {LOGGER}: {message} [{request_id}]\n".encode()
        self._lines.append(line)
        if len(self._lines) >= BATCH_LINES:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_later(BATCH_SECONDS, self._timer)

    def _timer(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        if self._lines:
            lines, self._lines = self._lines, []
            stream = self.stream or sys.stderr.buffer
            stream.write(b"".join(lines))
            stream.flush()
