"""Group commit: write plans that arrive while a commit is in flight share the next one.

SQLite has one writer. With a commit per request, 32 clients appending at once queue for that writer
and each pays a transaction (BEGIN IMMEDIATE, the WAL append of its pages, COMMIT) and two thread
hand-offs. Here one thread owns the writing: it takes every plan waiting in its queue (up to
``max_group``), runs them in one transaction, each inside its own SAVEPOINT, commits once, and then
answers each caller. Nothing waits for company: a plan that finds the writer idle is written at once, in
a group of one, so a lone client sees no added latency.

What each caller sees is unchanged:

- **Atomic and alone.** A plan that raises (bad input found late, a constraint) is rolled back to its
  savepoint and fails by itself; the others of the group commit.
- **Acknowledged means committed.** A caller is answered only after the COMMIT of its group returned.
  If the COMMIT itself fails, every plan of the group fails and none is stored.
- **Order.** Plans run in the order they were queued; appends to one session keep their order
  (each reserves its ``seq`` numbers under the session row, as before).
- **Durability** is the database's for the commit: on SQLite (WAL, ``synchronous=NORMAL``) an
  acknowledged write survives a killed process, and after a power loss the last commits before the
  crash may be gone; on PostgreSQL what ``synchronous_commit`` promises (docs/architecture.md,
  "Durability").

A ``Batchable`` write (the fast path's append) goes in the same queue; consecutive ones of a group are
made by one plan of their kind (``_run_batch``), in one savepoint, and each again alone if that fails.

On PostgreSQL only the batchable appends come here (``Database.awrite``): an append there is one
statement, but a commit and a round trip each, and the writer that makes 32 of them in one transaction
of three statements spends about half the database CPU per append (docs/benchmarks.md, "Write
path"). The other writes keep their own transactions on the async pool, running side by side as
PostgreSQL allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import queue
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from chatmem.store.prepared import Batchable, Done, RawTransaction, WritePlan, drive, first_step, run_step

T = TypeVar("T")

# A group's size is bounded so that one commit never holds the writer for long.
MAX_GROUP = 64


@dataclass(slots=True)
class _Pending:
    work: WritePlan[Any] | Batchable[Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    value: Any = None
    error: BaseException | None = field(default=None)


def _settle_all(answered: list[_Pending]) -> None:
    for pending in answered:
        future = pending.future
        if future.done():  # the caller went away (its request was cancelled)
            continue
        if pending.error is not None:
            future.set_exception(pending.error)
        else:
            future.set_result(pending.value)


class GroupCommitter:
    """One writer thread, fed by ``submit`` from any event loop."""

    def __init__(
        self, transaction: Callable[[], AbstractContextManager[RawTransaction]], max_group: int = MAX_GROUP
    ) -> None:
        self._transaction = transaction
        self._max_group = max_group
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._savepoints = itertools.count()
        # How many groups and plans were committed (read by tests and benchmarks).
        self.groups = 0
        self.plans = 0

    async def submit(self, plan: WritePlan[T]) -> T:
        """Run ``plan`` in the next group; return its result once that group has committed."""
        result: T = await self._submit(plan)
        return result

    async def submit_batchable(self, work: Batchable[Any]) -> None:
        """``submit`` for a write that the writer may make together with others of its kind: consecutive
        ones in a group are made by one ``batch`` plan; if that fails, each alone by its ``single``."""
        await self._submit(work)

    async def _submit(self, work: WritePlan[Any] | Batchable[Any]) -> Any:
        loop = asyncio.get_running_loop()
        pending = _Pending(work, loop, loop.create_future())
        self._ensure_thread()
        self._queue.put(pending)
        return await pending.future

    def close(self) -> None:
        """Stop the writer thread after the plans already queued."""
        with self._start_lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=30)

    def _ensure_thread(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="chatmem-writer", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            stop = False
            while len(group) < self._max_group:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                group.append(more)
            self._write(group)  # never raises: every failure lands on the group's plans
            # One wake-up per event loop for the whole group, not one per plan: each call_soon_threadsafe
            # writes to the loop's self-pipe.
            by_loop: dict[asyncio.AbstractEventLoop, list[_Pending]] = {}
            for pending in group:
                by_loop.setdefault(pending.loop, []).append(pending)
            for loop, answered in by_loop.items():
                # A closed event loop (its caller gone) raises RuntimeError: nobody waits for that answer.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_settle_all, answered)
            if stop:
                return

    def _write(self, group: list[_Pending]) -> None:
        try:
            with self._transaction() as conn:
                if len(group) == 1:
                    group[0].value = _run_plan(conn, _plan_of(group[0].work))
                else:
                    for run in _runs(group):
                        if len(run) == 1:
                            self._run_in_savepoint(conn, run[0], _plan_of(run[0].work))
                        else:
                            self._run_batch(conn, run)
        except BaseException as exc:  # BEGIN, a savepoint or the COMMIT failed: nothing was stored
            # Kept on the plans, not raised: the thread must outlive any one group, callers wait on it.
            for pending in group:
                if pending.error is None:
                    pending.error = exc
                    pending.value = None
            return
        self.groups += 1
        self.plans += sum(1 for pending in group if pending.error is None)

    def _run_in_savepoint(self, conn: RawTransaction, pending: _Pending, plan: WritePlan[Any]) -> None:
        value, error = self._in_savepoint(conn, plan)
        if error is None:
            pending.value = value
        else:
            pending.error = error

    def _run_batch(self, conn: RawTransaction, run: list[_Pending]) -> None:
        """Batchable writes of one kind in one plan, inside one savepoint; if it fails, each alone."""
        works = [pending.work for pending in run]
        assert all(isinstance(work, Batchable) for work in works)
        batch = cast(Batchable[Any], works[0]).batch
        _, error = self._in_savepoint(conn, batch([cast(Batchable[Any], work).item for work in works]))
        if error is not None:
            for pending in run:
                self._run_in_savepoint(conn, pending, _plan_of(pending.work))

    def _in_savepoint(self, conn: RawTransaction, plan: WritePlan[Any]) -> tuple[Any, Exception | None]:
        """Run ``plan`` inside a savepoint of its own: its result, or the error it raised after its
        writes were undone. A failing SAVEPOINT, ROLLBACK TO or RELEASE raises (the group fails)."""
        name = f"chatmem_{next(self._savepoints)}"
        cursor = conn.dbapi_connection.cursor()
        try:
            cursor.execute(f"SAVEPOINT {name}")
            try:
                value, error = _run_plan(conn, plan), None
            except Exception as exc:
                cursor.execute(f"ROLLBACK TO {name}")
                value, error = None, exc
            cursor.execute(f"RELEASE {name}")
            return value, error
        finally:
            cursor.close()


def _plan_of(work: WritePlan[Any] | Batchable[Any]) -> WritePlan[Any]:
    return work.single(work.item) if isinstance(work, Batchable) else work


def _runs(group: list[_Pending]) -> list[list[_Pending]]:
    """The group cut into runs: consecutive batchable writes of one kind together, every plan alone.
    Only consecutive ones, so that a write never moves past another of the group (order is kept)."""
    runs: list[list[_Pending]] = []
    for pending in group:
        work = pending.work
        if runs and isinstance(work, Batchable):
            last = runs[-1][-1].work
            if isinstance(last, Batchable) and last.batch is work.batch:
                runs[-1].append(pending)
                continue
        runs.append([pending])
    return runs


def _run_plan(conn: RawTransaction, plan: WritePlan[T]) -> T:
    first = first_step(plan)
    if isinstance(first, Done):
        return first.value
    return drive(plan, lambda step: run_step(conn, step), first)
