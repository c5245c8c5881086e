"""Connections to the one database chatmem keeps its data in: embedded SQLite or PostgreSQL.

SQLite: WAL journal, a busy timeout, and a single write connection per process whose transactions start
with ``BEGIN IMMEDIATE``. Writers in one process queue for that connection instead of spinning on
SQLITE_BUSY, and a write transaction never has to upgrade a read lock, which is where "database is
locked" errors come from. Readers use their own pool and never block the writer.

PostgreSQL: one pool; correctness under concurrency comes from row locks taken by the statements
themselves (upserts, ``SELECT ... FOR UPDATE``), never from in-process locks, so any number of server
processes can share one database. The hot routes' plans run on a second, async pool (psycopg's
``AsyncConnectionPool``) on the server's event loop: see ``aread_plan``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
import orjson
import sqlalchemy as sa
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import ConnectionPoolEntry

from chatmem.base.json import json_text
from chatmem.store.group_commit import GroupCommitter
from chatmem.store.prepared import (
    Batchable,
    Done,
    Plan,
    RawTransaction,
    ReadPlan,
    Rows,
    Step,
    WritePlan,
    advance,
    arun_step,
    drive,
    first_step,
    run,
    run_step,
    upsert,
)

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Reads of more rows than this run in the thread pool (``Database.aread_plan``).
INLINE_ROWS = 100
# Every engine is made with hide_parameters: a failed statement's exception (and so any log line or
# traceback that shows it) names the statement but never its parameters, which hold message content.


def normalize_url(url: str) -> sa.URL:
    """Accept the URLs people write (``postgresql://``, ``postgres://``) and pick our drivers."""
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+pysqlite")
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///path/file.db or postgresql://...")


class Database:
    """The engines for one database, and the transactions the memory layer runs in."""

    def __init__(self, url: str, *, pool_size: int = 8, group_commit: bool = True) -> None:
        self.url = normalize_url(url)
        self.dialect_name = self.url.get_backend_name()
        if self.dialect_name == "sqlite":
            database = self.url.database or ""
            if database and database != ":memory:":
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self._writer = self._sqlite_engine(pool_size=1, begin="BEGIN IMMEDIATE")
            self._reader = self._sqlite_engine(pool_size=pool_size, begin="BEGIN")
            # Raw connections of the reader pool are in autocommit mode: one statement, one snapshot.
            self._fast = self._reader
        else:
            # No pool_pre_ping: it costs a round trip per request. A connection broken by a database
            # restart fails one request and is then discarded by the pool.
            options: dict[str, Any] = {
                "hide_parameters": True,
                "pool_size": pool_size,
                "max_overflow": pool_size,
                "json_serializer": json_text,
                "json_deserializer": orjson.loads,
            }
            self._writer = sa.create_engine(self.url, **options)
            self._reader = self._writer
            # Single-statement reads need no BEGIN/COMMIT round trips.
            self._fast = sa.create_engine(self.url, isolation_level="AUTOCOMMIT", **options)
        self._pool_size = pool_size
        # One writer thread that commits whatever arrived together in one transaction
        # (chatmem.store.group_commit): on SQLite every write plan of the event loop, on PostgreSQL the
        # batchable appends only (other writes keep their own transactions, which run side by side there).
        self.group_commit = GroupCommitter(self.write_raw) if group_commit else None
        # Per event loop: the psycopg async pool of ``aread_plan`` / ``awrite_plan`` (PostgreSQL only),
        # opened on first use.
        self._async_pools: dict[asyncio.AbstractEventLoop, asyncio.Task[AsyncConnectionPool[Any]]] = {}

    def _sqlite_engine(self, *, pool_size: int, begin: str) -> Engine:
        engine = sa.create_engine(
            self.url,
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            json_serializer=json_text,
            json_deserializer=orjson.loads,
            hide_parameters=True,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
            # Autocommit at the driver level; transactions are started explicitly below.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            for pragma in (
                "journal_mode=WAL",
                "synchronous=NORMAL",
                f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
                "foreign_keys=ON",
                # Deleted content is overwritten with zeros, so an erased user leaves no bytes in
                # the file (chatmem.portability.erase, docs/portability.md).
                "secure_delete=ON",
            ):
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql(begin)

        return engine

    @property
    def is_sqlite(self) -> bool:
        return self.dialect_name == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A read-write transaction, committed when the block ends without an exception."""
        with self._writer.begin() as conn:
            yield conn

    @contextmanager
    def write_raw(self) -> Iterator[RawTransaction]:
        """A read-write transaction for prepared statements only (``chatmem.store.prepared.run``).

        Same guarantees as ``write`` (on SQLite the same single writer connection and ``BEGIN
        IMMEDIATE``), without SQLAlchemy's Connection and transaction objects: the append hot path.
        """
        pooled = self._writer.raw_connection()
        connection = pooled.dbapi_connection
        try:
            if self.is_sqlite:
                connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]
            yield RawTransaction(self._writer.dialect, connection)
            connection.commit()  # type: ignore[union-attr]
        except BaseException:
            try:
                connection.rollback()  # type: ignore[union-attr]
            except Exception:
                # The connection is unusable (e.g. the server went away): drop it, never pool it again.
                pooled.invalidate()
            raise
        finally:
            pooled.close()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction: one consistent snapshot for every statement in the block."""
        with self._reader.begin() as conn:
            yield conn

    def _alone(self, step: Step[Any]) -> Rows:
        """Run one statement outside any explicit transaction (see ``chatmem.store.prepared``)."""
        pooled = self._fast.raw_connection()
        try:
            return run(RawTransaction(self._fast.dialect, pooled.dbapi_connection), step.query, **step.params)
        finally:
            pooled.close()

    def read_plan(self, plan: ReadPlan[T]) -> T:
        """Run a ``ReadPlan`` (see ``chatmem.store.prepared``), each statement in autocommit."""
        first = first_step(plan)
        if isinstance(first, Done):
            return first.value
        return drive(plan, self._alone, first)

    def write_plan(self, plan: WritePlan[T]) -> T:
        """Run a ``WritePlan`` in one ``write_raw`` transaction (a statement that runs alone: without)."""
        first = first_step(plan)
        if isinstance(first, Done):
            return first.value
        if first.alone and not self.is_sqlite:
            # SQLite writes always go through the single writer connection.
            return drive(plan, self._alone, first)
        with self.write_raw() as conn:
            return drive(plan, lambda step: run_step(conn, step), first)

    async def aread_plan(self, plan: ReadPlan[T], *, rows: int = 0) -> T:
        """``read_plan`` without blocking the event loop and without a thread.

        SQLite runs the plan inline: a WAL read never waits for the writer, and handing it to a thread
        costs more than the read. PostgreSQL runs it on psycopg's async driver, on one pooled
        autocommit connection: no thread pool hop and no GIL hand-offs between request threads, which
        under concurrency cost more CPU per hot read than the SQL itself (CHANGELOG.md has the figures).
        A plan that may read more than ``INLINE_ROWS`` rows (``rows``, its page size) runs in the thread
        pool on either database instead: decoding 1,000 large messages would hold the loop for long.
        """
        if rows > INLINE_ROWS:
            return await anyio.to_thread.run_sync(self.read_plan, plan)
        if self.is_sqlite:
            return self.read_plan(plan)
        return await self._adrive(plan, transaction=False)

    async def awrite_plan(self, plan: WritePlan[T]) -> T:
        """``write_plan`` without blocking the event loop: on PostgreSQL on the async driver, in one
        transaction; on SQLite on the group-commit writer thread (or the thread pool without group
        commit), because the single writer may have to wait."""
        if self.is_sqlite:
            if self.group_commit is not None:
                return await self.group_commit.submit(plan)
            return await anyio.to_thread.run_sync(self.write_plan, plan)
        return await self._adrive(plan, transaction=True)

    async def awrite(self, work: WritePlan[None] | Batchable[Any]) -> None:
        """``awrite_plan`` for a write that may be ``Batchable``: with group commit (either database),
        the writer makes it together with the others of its kind that arrived with it; otherwise alone."""
        if not isinstance(work, Batchable):
            await self.awrite_plan(work)
        elif self.group_commit is not None:
            await self.group_commit.submit_batchable(work)
        else:
            await self.awrite_plan(work.single(work.item))

    async def _adrive(self, plan: Plan[T], *, transaction: bool) -> T:
        first = first_step(plan)
        if isinstance(first, Done):
            return first.value
        pool = await self._async_pool()
        dialect = self._fast.dialect
        in_transaction = transaction and not first.alone
        async with pool.connection() as conn, conn.transaction() if in_transaction else nullcontext():
            step = first
            try:
                while True:
                    step = advance(plan, first, await arun_step(conn, dialect, step))
            except StopIteration as done:
                result: T = done.value
                return result

    async def _async_pool(self) -> AsyncConnectionPool[Any]:
        loop = asyncio.get_running_loop()
        opening = self._async_pools.get(loop)
        if opening is None:
            opening = self._async_pools[loop] = loop.create_task(self._open_async_pool())
        return await opening

    async def _open_async_pool(self) -> AsyncConnectionPool[Any]:
        conninfo = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
        pool = AsyncConnectionPool(
            conninfo,
            min_size=1,
            max_size=self._pool_size,
            kwargs={"autocommit": True},
            open=False,
            name="chatmem-async",
        )
        await pool.open()
        return pool

    async def aclose(self) -> None:
        """Close the async pool of the running event loop (the server's shutdown)."""
        opening = self._async_pools.pop(asyncio.get_running_loop(), None)
        if opening is not None:
            await (await opening).close()

    def pool_usage(self) -> list[tuple[str, int, int, int]]:
        """``(pool, in use, idle, most)`` for each connection pool of this process (for metrics)."""
        if self.is_sqlite:
            engines = [("writer", self._writer, 1), ("reader", self._reader, self._pool_size)]
        else:  # pool_size plus as many overflow connections
            engines = [
                ("sync", self._writer, 2 * self._pool_size),
                ("autocommit", self._fast, 2 * self._pool_size),
            ]
        usage = [
            (name, engine.pool.checkedout(), engine.pool.checkedin(), most)  # type: ignore[attr-defined]
            for name, engine, most in engines
        ]
        for opening in list(self._async_pools.values()):
            if opening.done() and not opening.cancelled() and opening.exception() is None:
                stats = opening.result().get_stats()
                size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
                usage.append(("async", size - idle, idle, self._pool_size))
        return usage

    def insert(self, table: sa.Table) -> Any:
        """The dialect's INSERT, which knows ``on_conflict_do_update`` / ``on_conflict_do_nothing``."""
        return upsert(self.dialect_name, table)

    @property
    def engine(self) -> Engine:
        """The engine that may write (used by migrations)."""
        return self._writer

    def dispose(self) -> None:
        if self.group_commit is not None:
            self.group_commit.close()
        for engine in {self._writer, self._reader, self._fast}:
            engine.dispose()
