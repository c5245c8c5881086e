"""Where a memory-layer call runs: on the event loop or in the thread pool.

(The hottest routes do not come through here: their work is a plan that ``Database.aread_plan`` /
``awrite_plan`` run without a thread on PostgreSQL. This is for the rest of the memory layer.)

The memory layer is synchronous. Handing a call to the thread pool costs more CPU than a SQLite read
itself (profiled: ~150 us of ~550 us per GET memory), and a read in SQLite's WAL mode does not wait for
writers, so SQLite reads run inline. Everything that can wait (PostgreSQL round trips, any write, which
may queue for the single SQLite writer) runs in the thread pool so that it never blocks the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool

from chatmem.store import Database

P = ParamSpec("P")
T = TypeVar("T")


async def read(db: Database, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    if db.is_sqlite:
        return call(*args, **kwargs)
    return await run_in_threadpool(call, *args, **kwargs)
