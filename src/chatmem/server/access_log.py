"""The access log: one line per request, logger ``chatmem.access``, in the configured format.

Written here rather than through ``logging``: a ``logging`` call with its record, formatter and one
write per line cost about four times the CPU of building the line and writing lines in batches, which
on the hot routes was most of what observability cost (docs/benchmarks.md). The lines look exactly like
the other log lines of their format and go to the same place (stderr). A request leaves a tuple of its
fields (and the time it ended); the lines are built and written together when 128 have gathered or
0.25 s after the first of a batch, and at shutdown: a crash can lose the last quarter second of access
lines, never other log lines.

A JSON line is put together from cached parts rather than by ``orjson.dumps`` of a dict: the same bytes
(tests/ops/test_logs.py compares them) for well under half the CPU. Cached are the parts that depend
only on the route, method and status (the route is the one of them that might need escaping), the
tenant's JSON, and the decimals of a duration (to the millisecond's thousandth they repeat).
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
_CACHED = 4096  # past this many tenants or durations, their cache starts over

# (time it ended, request id, method, route template, status, seconds, tenant)
Record = tuple[float, str, str, str, int, float, str | None]
_MILLIS = [f"{n:03d}" for n in range(1000)]  # a timestamp's milliseconds


class AccessLog:
    def __init__(self, *, json: bool, stream: BinaryIO | None = None) -> None:
        self.json = json
        self.stream = stream
        # Appended to by ``write``, or by the observe middleware itself, which then calls ``appended``
        # unless a flush is already scheduled and the batch is not full.
        self.records: list[Record] = []
        self.scheduled = False
        # (route, method, status) -> the constant parts of a JSON line (_json_parts)
        self._parts: dict[tuple[str, str, int], tuple[str, str]] = {}
        self._tenants: dict[str | None, str] = {None: "null"}
        # the duration in ms to three decimals -> its two decimals and its JSON (_decimals)
        self._durations: dict[str, tuple[str | None, str]] = {}

    def write(
        self, request_id: str, method: str, route: str, status: int, seconds: float, tenant: str | None
    ) -> None:
        self.records.append((time.time(), request_id, method, route, status, seconds, tenant))
        self.appended()

    def appended(self) -> None:
        if len(self.records) >= BATCH_LINES:
            self.flush()
        elif not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_later(BATCH_SECONDS, self._timer)

    def _timer(self) -> None:
        self.scheduled = False
        self.flush()

    def flush(self) -> None:
        if self.records:
            records, self.records = self.records, []
            lines = self._json_lines(records) if self.json else self._text_lines(records)
            stream = self.stream or sys.stderr.buffer
            stream.write("".join(lines).encode())
            stream.flush()

    def _prefix(self, second: int) -> str:
        """The line up to the milliseconds of ``second``'s timestamp."""
        if self.json:
            return '{"time":"' + time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))
        # logging's default asctime: local time, comma before the milliseconds
        return time.strftime("%Y-%m-%d %H:%M:%S,", time.localtime(second))

    def _text_lines(self, records: list[Record]) -> list[str]:
        lines = []
        second, prefix = -1, ""
        for now, request_id, method, route, status, seconds, _tenant in records:
            since = now - second
            if not 0.0 <= since < 1.0:
                second = int(now)
                prefix = self._prefix(second)
                since = now - second
            milliseconds = seconds * 1000
            lines.append(
                f"{prefix}{_MILLIS[int(since * 1000)]} INFO {LOGGER}: "
                f"{method} {route} {status} {milliseconds:.2f}ms [{request_id}]\n"
            )
        return lines

    def _json_lines(self, records: list[Record]) -> list[str]:
        lines = []
        second, prefix = -1, ""
        parts, tenants, durations = self._parts, self._tenants, self._durations
        for now, request_id, method, route, status, seconds, tenant in records:
            since = now - second  # exact: int(now) == second while it is in [0, 1)
            if not 0.0 <= since < 1.0:
                second = int(now)
                prefix = self._prefix(second)
                since = now - second
            key = (route, method, status)
            part = parts.get(key)
            if part is None:
                part = parts[key] = _json_parts(route, method, status)
            tenant_json = tenants.get(tenant)
            if tenant_json is None:
                if len(tenants) > _CACHED:
                    tenants.clear()
                    tenants[None] = "null"
                tenant_json = tenants[tenant] = orjson.dumps(tenant).decode()
            thousandths = f"{seconds * 1000:.3f}"
            decimals = durations.get(thousandths)
            if decimals is None:
                if len(durations) > _CACHED:
                    durations.clear()
                decimals = durations[thousandths] = _decimals(thousandths)
            hundredths, duration = decimals
            if hundredths is None:
                hundredths = f"{seconds * 1000:.2f}"
            # The request id needs no escaping: it is generated, or a client's that matched
            # chatmem.server.observe's pattern.
            lines.append(
                f'{prefix}{_MILLIS[int(since * 1000)]}{part[0]}{hundredths}ms","request_id":"{request_id}'
                f'{part[1]}{duration},"tenant":{tenant_json}}}\n'
            )
        return lines


def _decimals(thousandths: str) -> tuple[str | None, str]:
    """For a duration formatted to three decimals (``:.3f``, correctly rounded): the same to two
    decimals, and ``orjson.dumps(round(duration, 3))``.

    The two decimals follow from the three unless the last is a 5: then the duration itself decides
    (None; the caller formats it). Otherwise the duration lies within 0.0005 of the three decimals and
    at least 0.0005 from a two-decimal tie, on the same side as they. ``round(duration, 3)`` is the
    float nearest to the three decimals (both round correctly), and its shortest repr, which orjson
    writes, is those decimals without trailing zeros (below 1e12 ms, where no shorter string rounds to
    that float)."""
    last = thousandths[-1]
    hundredths = thousandths[:-1] if last < "5" else None if last == "5" else f"{float(thousandths):.2f}"
    duration = thousandths.rstrip("0")
    return hundredths, (duration + "0" if duration[-1] == "." else duration)


def _json_parts(route: str, method: str, status: int) -> tuple[str, str]:
    """What a JSON line holds between the time and the message's duration, and between the request id
    and the duration, for requests of this route, method and status."""
    quoted = orjson.dumps(route).decode()  # the route is the one field that might need escaping
    return (
        f'+00:00","level":"info","logger":"{LOGGER}","message":"{method} {quoted[1:-1]} {status} ',
        f'","route":{quoted},"method":"{method}","status":{status},"duration_ms":',
    )
