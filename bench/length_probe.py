"""Is GET memory's database path flat in session length? ``python -m bench.length_probe``

The HTTP benchmark's concurrency-1 p50 at each session length is a few hundred requests through a server
on a shared machine. This measures the server's own read path (``Database.aread_plan`` of
``recent_messages_plan``, psycopg's async driver) in-process on a fresh PostgreSQL database, on sessions
of 10, 1,000 and 10,000 messages, interleaved twice so drift hits every length alike.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from bench.dbs import fresh_database
from chatmem.memory.messages import add_messages_plan, recent_messages_plan
from chatmem.memory.records import NewMessage
from chatmem.store import Database, migrated_database
from chatmem.store.tables import DEFAULT_TENANT_ID

LENGTHS = (10, 1_000, 10_000)
READS = 2_000


async def _p50_ms(db: Database, session_id: str) -> float:
    samples = []
    for _ in range(READS):
        started = time.perf_counter()
        await db.aread_plan(
            recent_messages_plan(db.dialect_name, DEFAULT_TENANT_ID, session_id, window=12, lastn=10)
        )
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e3


async def _measure(db: Database) -> None:
    try:
        for round_ in (1, 2):
            figures = [f"{length:,} msgs {await _p50_ms(db, f'len-{length}'):.3f} ms" for length in LENGTHS]
            print(f"round {round_}: get-memory p50 " + ", ".join(figures))
    finally:
        await db.aclose()


def main() -> None:
    with (
        tempfile.TemporaryDirectory() as work,
        fresh_database("postgres", Path(work)) as url,
        migrated_database(url) as db,
    ):
        for length in LENGTHS:
            for start in range(0, length, 100):
                batch = [
                    NewMessage(role="user", content=f"message {i} of a long chat")
                    for i in range(start, min(length, start + 100))
                ]
                db.write_plan(add_messages_plan(db.dialect_name, DEFAULT_TENANT_ID, f"len-{length}", batch))
        with db.write() as conn:
            conn.execute(sa.text("ANALYZE"))
        asyncio.run(_measure(db))


if __name__ == "__main__":
    main()
