"""The load generator: asyncio, one keep-alive HTTP/1.1 connection per concurrent worker.

A hand-written client on asyncio streams costs a few tens of microseconds per request, several times
less than httpx, so on a 2-core machine the client leaves the server as much CPU as possible (its own
CPU use is measured and reported next to the server's). It understands exactly what uvicorn sends:
``Content-Length`` framed responses on a persistent connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.stats import Measurement, summarize


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    body: bytes | None = None
    expect: int = 200


RequestFactory = Callable[[], Request]
CpuProbe = Callable[[], float]


class HttpError(Exception):
    pass


class Connection:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        host: str,
        headers: Sequence[bytes] = (),
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._host = host.encode()
        # Sent with every request: ``b"Authorization: Bearer ..."`` for a server with auth on.
        self._headers = list(headers)

    @classmethod
    async def open(cls, host: str, port: int, headers: Sequence[bytes] = ()) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, host, headers)

    async def send(self, request: Request) -> tuple[int, bytes]:
        head = [
            f"{request.method} {request.path} HTTP/1.1".encode(),
            b"Host: " + self._host,
            *self._headers,
        ]
        if request.body is not None:
            head.append(b"Content-Type: application/json")
            head.append(f"Content-Length: {len(request.body)}".encode())
        self._writer.write(b"\r\n".join(head) + b"\r\n\r\n" + (request.body or b""))
        status_and_headers = await self._reader.readuntil(b"\r\n\r\n")
        lines = status_and_headers.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
                break
        if length is None:
            raise HttpError(f"response without Content-Length: {status_and_headers[:200]!r}")
        body = await self._reader.readexactly(length) if length else b""
        return status, body

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()


async def fetch(host: str, port: int, request: Request, headers: Sequence[bytes] = ()) -> tuple[int, bytes]:
    """One request on a fresh connection (setup and checks, not measurements)."""
    connection = await Connection.open(host, port, headers)
    try:
        return await connection.send(request)
    finally:
        await connection.close()


@dataclass(slots=True)
class _Outcome:
    latencies: list[float]
    errors: int = 0
    first_error: str | None = None
    wall: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0


async def _load(
    host: str,
    port: int,
    make_request: RequestFactory,
    *,
    concurrency: int,
    max_requests: int,
    max_seconds: float,
    warmup: int,
    server_cpu: CpuProbe,
    headers: Sequence[bytes] = (),
) -> _Outcome:
    connections = [await Connection.open(host, port, headers) for _ in range(concurrency)]
    outcome = _Outcome(latencies=[])
    issued = 0

    async def warm(connection: Connection) -> None:
        nonlocal issued
        while issued < warmup:
            issued += 1
            await connection.send(make_request())

    async def worker(connection: Connection, deadline: float) -> None:
        nonlocal issued
        while issued < max_requests and time.perf_counter() < deadline:
            issued += 1
            request = make_request()
            started = time.perf_counter()
            status, body = await connection.send(request)
            elapsed = time.perf_counter() - started
            if status != request.expect:
                outcome.errors += 1
                outcome.first_error = outcome.first_error or (
                    f"{request.method} {request.path}: {status} {body[:200]!r}"
                )
                continue
            outcome.latencies.append(elapsed)

    try:
        await asyncio.gather(*(warm(connection) for connection in connections))
        issued = 0
        cpu_before, client_before = server_cpu(), time.process_time()
        started = time.perf_counter()
        deadline = started + max_seconds
        await asyncio.gather(*(worker(connection, deadline) for connection in connections))
        outcome.wall = time.perf_counter() - started
        outcome.server_cpu = server_cpu() - cpu_before
        outcome.client_cpu = time.process_time() - client_before
    finally:
        for connection in connections:
            await connection.close()
    return outcome


def run_http(
    target: str,
    op: str,
    host: str,
    port: int,
    make_request: RequestFactory,
    *,
    concurrency: int,
    max_requests: int,
    max_seconds: float,
    warmup: int,
    server_cpu: CpuProbe,
    headers: Sequence[bytes] = (),
) -> Measurement:
    """Drive ``make_request`` with ``concurrency`` workers until either bound is reached; ``headers``
    go with every request (a credential)."""
    loop = _new_loop()
    try:
        outcome = loop.run_until_complete(
            _load(
                host,
                port,
                make_request,
                concurrency=concurrency,
                max_requests=max_requests,
                max_seconds=max_seconds,
                warmup=warmup,
                server_cpu=server_cpu,
                headers=headers,
            )
        )
    finally:
        loop.close()
    return summarize(
        target,
        op,
        concurrency,
        outcome.latencies,
        outcome.wall,
        outcome.errors,
        server_cpu_s=outcome.server_cpu,
        client_cpu_s=outcome.client_cpu,
        first_error=outcome.first_error,
    )


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        return asyncio.new_event_loop()
