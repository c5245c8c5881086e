"""Does authentication cost the hot paths anything? ``python -m bench.auth_overhead [--db sqlite|postgres]``

GET and POST memory (the fast path) through the whole ASGI app, called in-process one request at a time
(no network, no load generator competing for the 2 cores), on one migrated database holding 10,000 API
keys. Two apps share the database: ``CHATMEM_AUTH=off`` and ``CHATMEM_AUTH=on`` with a writer key. The
modes alternate in short rounds so machine noise hits both alike; each figure is the median of the
rounds' mean latencies, and the ratio is auth-on / auth-off (1.05 would be the 5% budget).
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

from bench.dbs import fresh_database
from chatmem.access import keys
from chatmem.access.roles import Role
from chatmem.config import Settings
from chatmem.server import create_app
from chatmem.store import Database, migrated_database
from chatmem.store.tables import DEFAULT_TENANT_ID, api_keys

STORED_KEYS = 10_000
ROUNDS = 15
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


async def _round(call: Callable[[], Awaitable[int]]) -> float:
    started = time.perf_counter()
    for _ in range(REQUESTS_PER_ROUND):
        status = await call()
        if status != 200:
            raise RuntimeError(f"status {status}")
    return (time.perf_counter() - started) / REQUESTS_PER_ROUND * 1e6


async def measure(db: Database, url: str) -> dict[str, dict[str, float]]:
    key = keys.create_key(db, "default", Role.WRITER, "bench").key
    apps = {
        "off": Caller(create_app(Settings(database_url=url), db), []),
        "on": Caller(
            create_app(Settings(database_url=url, auth="on"), db),
            [(b"authorization", f"Bearer {key}".encode())],
        ),
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
        samples: dict[str, list[float]] = {"off": [], "on": []}
        for index in range(ROUNDS):
            order = ("off", "on") if index % 2 == 0 else ("on", "off")
            for mode in order:
                caller = apps[mode]
                samples[mode].append(await _round(lambda caller=caller, request=request: request(caller)))
        off, on = statistics.median(samples["off"]), statistics.median(samples["on"])
        figures[name] = {"off_us": off, "on_us": on, "ratio": on / off}
    await db.aclose()
    return figures


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
    print(f"{'database':<10}{'route':<13}{'auth off us':>12}{'auth on us':>12}{'on/off':>8}")
    for kind in args.db or ["sqlite", "postgres"]:
        for route, figure in run(kind).items():
            print(
                f"{kind:<10}{route:<13}{figure['off_us']:>12.1f}{figure['on_us']:>12.1f}{figure['ratio']:>8.3f}"
            )


if __name__ == "__main__":
    main()
