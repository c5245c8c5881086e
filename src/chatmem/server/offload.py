"""Where a memory-layer call runs: on the event loop or in the thread pool.

(The hottest routes do not come through here: their work is a plan that ``Database.aread_plan`` /
``awrite_plan`` run without a thread on PostgreSQL. This is for the rest of the memory layer, and for
those plans when they read many rows.)

The memory layer is synchronous. Handing a call to the thread pool costs more CPU than a SQLite read
itself (profiled: ~150 us of ~550 us per GET memory), and a read in SQLite's WAL mode does not wait for
writers, so small SQLite reads run inline. Everything that can wait (PostgreSQL round trips, any write,
which may queue for the single SQLite writer) and every read of more than ``INLINE_ROWS`` rows (whose
decoding alone can take the loop for long: 1,000 messages of 5 MB each) runs in the thread pool.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool

from chatmem.store import Database
from chatmem.store.prepared import ReadPlan

P = ParamSpec("P")
T = TypeVar("T")

INLINE_ROWS = 100


async def read(db: Database, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    if db.is_sqlite:
        return call(*args, **kwargs)
    return await run_in_threadpool(call, *args, **kwargs)


async def read_rows(db: Database, call: Callable[P, T], rows: int, *args: P.args, **kwargs: P.kwargs) -> T:
    """``read`` for a call that returns up to ``rows`` rows."""
    if db.is_sqlite and rows <= INLINE_ROWS:
        return call(*args, **kwargs)
    return await run_in_threadpool(call, *args, **kwargs)


async def read_plan(db: Database, plan: ReadPlan[T], *, rows: int) -> T:
    """``Database.aread_plan`` for a plan that reads up to ``rows`` rows: in a thread when that is many."""
    if rows <= INLINE_ROWS:
        return await db.aread_plan(plan)
    return await run_in_threadpool(db.read_plan, plan)
