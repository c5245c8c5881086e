"""Does authentication cost the hot paths anything? ``python -m bench.auth_overhead [--db sqlite|postgres]``

GET and POST memory (the fast path) through the whole ASGI app, called in-process one request at a time
(no network, no load generator competing for the 2 cores), on one migrated database holding 10,000 API
keys. Two apps share the database: ``CHATMEM_AUTH=off`` and ``CHATMEM_AUTH=on`` with a writer key. A
second auth-off app measured the same way gives the noise floor (off-again / off). The modes rotate
in short rounds so machine noise hits them alike; each figure is the median of the
rounds' means, and the ratio is auth-on / auth-off (1.05 would be the 5% budget). ``cpu`` is this
process's CPU time per request (what authentication can add: a cache hit does no database work), which
other processes on a shared machine disturb far less than ``wall``, the latency. Last, the auth layer's
own CPU per request, measured alone.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from starlette.types import Message, Receive, Scope, Send

from bench.dbs import fresh_database
from chatmem.access import keys
from chatmem.access.roles import Role
from chatmem.config import Settings
from chatmem.server import create_app
from chatmem.server.auth import Authenticator, AuthMiddleware
from chatmem.store import Database, migrated_database
from chatmem.store.tables import DEFAULT_TENANT_ID, api_keys

STORED_KEYS = 10_000
ROUNDS = 21
REQUESTS_PER_ROUND = 200
APPEND = orjson.dumps({"messages": [{"role": "human", "content": "What did we decide about the trip?"}]})


def store_keys(db: Database, count: int) -> None:
    """``count`` keys of random tenants' shape, inserted in bulk (the CLI would take minutes)."""
    now = sa.func.now() if not db.is_sqlite else sa.literal("2026-11-30 00:00:00")
    rows = [
        {
            "id": secrets.token_hex(6),
            "tenant_id": DEFAULT_TENANT_ID,
            "name": f"bulk {index}",
            "role": "reader",
            "secret_hash": hashlib.sha256(secrets.token_bytes(32)).digest(),
        }
        for index in range(count)
    ]
    with db.write() as conn:
        conn.execute(sa.insert(api_keys).values(created_at=now), rows)


class Caller:
    """One ASGI app called directly: the request is whole, the response read and thrown away."""

    def __init__(self, app: Any, headers: list[tuple[bytes, bytes]]) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, method: str, path: str, body: bytes = b"") -> int:
        status = 0
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"bench"), (b"content-type", b"application/json"), *self.headers],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 8000),
        }
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await self.app(scope, receive, send)
        return status


async def _round(call: Callable[[], Awaitable[int]]) -> tuple[float, float]:
    """Mean wall time and mean CPU time of this process per request, in microseconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(REQUESTS_PER_ROUND):
        status = await call()
        if status != 200:
            raise RuntimeError(f"status {status}")
    return (
        (time.perf_counter() - wall) / REQUESTS_PER_ROUND * 1e6,
        (time.process_time() - cpu) / REQUESTS_PER_ROUND * 1e6,
    )


def _bound(request: Callable[[Caller], Awaitable[int]], caller: Caller) -> Callable[[], Awaitable[int]]:
    return lambda: request(caller)


async def measure(db: Database, url: str) -> dict[str, dict[str, float]]:
    key = keys.create_key(db, "default", Role.WRITER, "bench").key
    # Every app gets the same request, key included (auth off ignores it): only authentication differs.
    credential = [(b"authorization", f"Bearer {key}".encode())]
    apps = {
        "off": Caller(create_app(Settings(database_url=url), db), credential),
        # A second, identical auth-off app: off-again / off is the noise of this machine right now.
        "off-again": Caller(create_app(Settings(database_url=url), db), credential),
        "on": Caller(create_app(Settings(database_url=url, auth="on"), db), credential),
    }
    paths = {
        "GET memory": lambda caller: caller("GET", "/api/v1/sessions/bench-session/memory"),
        "POST memory": lambda caller: caller("POST", "/api/v1/sessions/bench-session/memory", APPEND),
    }
    for caller in apps.values():  # warm: pools, caches, compiled statements, the key's cache entry
        for request in paths.values():
            for _ in range(50):
                await request(caller)
    figures: dict[str, dict[str, float]] = {}
    for name, request in paths.items():
        samples: dict[str, list[tuple[float, float]]] = {mode: [] for mode in apps}
        modes = list(apps)
        for index in range(ROUNDS):
            for mode in modes[index % 3 :] + modes[: index % 3]:  # each mode goes first in turn
                samples[mode].append(await _round(_bound(request, apps[mode])))
        figure: dict[str, float] = {}
        for measure_index, unit in enumerate(("wall", "cpu")):
            off, again, on = (
                statistics.median(sample[measure_index] for sample in samples[mode])
                for mode in ("off", "off-again", "on")
            )
            figure |= {
                f"{unit}_off_us": off,
                f"{unit}_on_us": on,
                f"{unit}_ratio": on / off,
                f"{unit}_noise": again / off,
            }
        figures[name] = figure
    await db.aclose()
    return figures


def layer_cost_us(repeat: int = 100_000) -> float:
    """CPU of ``AuthMiddleware`` for a cached key, around an app that does nothing."""

    async def nothing(_scope: Scope, _receive: Receive, _send: Send) -> None:
        return None

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(_message: Message) -> None:
        return None

    async def measure_layer() -> float:
        with tempfile.TemporaryDirectory() as work, migrated_database(f"sqlite:///{work}/layer.db") as db:
            key = keys.create_key(db, "default", Role.WRITER).key
            layer = AuthMiddleware(nothing, Authenticator(db, refresh_seconds=3600))
            scope = {
                "type": "http",
                "method": "GET",
                "path": "/api/v1/sessions/s/memory",
                "headers": [(b"host", b"bench"), (b"authorization", f"Bearer {key}".encode())],
            }
            await layer(dict(scope), receive, send)  # resolves and caches the key
            started = time.process_time()
            for _ in range(repeat):
                await layer(dict(scope), receive, send)
            return (time.process_time() - started) / repeat * 1e6

    return asyncio.run(measure_layer())


def run(kind: str) -> dict[str, dict[str, float]]:
    with (
        tempfile.TemporaryDirectory() as work,
        fresh_database(kind, Path(work)) as url,
        migrated_database(url) as db,
    ):
        store_keys(db, STORED_KEYS)
        return asyncio.run(measure(db, url))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.auth_overhead", description=__doc__)
    parser.add_argument("--db", choices=("sqlite", "postgres"), action="append")
    args = parser.parse_args()
    print(f"{STORED_KEYS:,} keys stored; {ROUNDS} alternating rounds of {REQUESTS_PER_ROUND} requests")
    print(
        f"{'database':<10}{'route':<13}{'measure':<9}{'auth off us':>12}{'auth on us':>12}{'on/off':>8}"
        f"{'off/off (noise)':>17}"
    )
    for kind in args.db or ["sqlite", "postgres"]:
        for route, figure in run(kind).items():
            for unit in ("cpu", "wall"):
                print(
                    f"{kind:<10}{route:<13}{unit:<9}{figure[f'{unit}_off_us']:>12.1f}"
                    f"{figure[f'{unit}_on_us']:>12.1f}{figure[f'{unit}_ratio']:>8.3f}"
                    f"{figure[f'{unit}_noise']:>17.3f}"
                )
    # The layer by itself: a cached key resolved and the role checked, without the request around it.
    print(f"auth layer alone, a cached key: {layer_cost_us():.2f} us of CPU per request")


if __name__ == "__main__":
    main()
