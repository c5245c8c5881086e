"""The SQL chatmem runs for each operation, against the DB-API driver.

This is the work floors (2) and (3) do: the same statements on the same schema and database, with
none of chatmem's layers (no SQLAlchemy at run time, no pydantic, no FastAPI). It returns the same JSON
shapes. Most statements are written by hand; PostgreSQL's one-statement append and GET memory are
chatmem's own SQL text, compiled once at import, so the floor cannot drift from them.
Values are written in the formats SQLAlchemy uses, so chatmem reads what the floors wrote.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
import psycopg
import sqlalchemy as sa
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.dialects.postgresql import psycopg as postgresql_psycopg

from chatmem.config import Settings
from chatmem.memory.messages import append_statement, recent_statement
from chatmem.store.tables import DEFAULT_TENANT_ID

Row = tuple[Any, ...]
JsonObject = dict[str, Any]

# PostgreSQL: chatmem's single-statement append and GET memory, as compiled SQL text (with the values
# SQLAlchemy binds itself); the floors bind the rest with psycopg directly.
_PG_DIALECT = postgresql_psycopg.dialect()
_PG_APPEND = append_statement.compiled(_PG_DIALECT)
_PG_RECENT = recent_statement.compiled(_PG_DIALECT)

SESSION_COLS = "id, uuid, session_id, user_id, metadata, created_at, updated_at"
ZERO_SUMMARY: dict[str, Any] = {
    "uuid": "00000000-0000-0000-0000-000000000000",
    "created_at": "0001-01-01T00:00:00Z",
    "content": "",
    "recent_message_uuid": "00000000-0000-0000-0000-000000000000",
    "token_count": 0,
}
MESSAGE_COLS = "m.uuid, m.role, m.content, m.metadata, m.token_count, m.created_at, m.updated_at"


def merge_patch(target: JsonObject, patch: JsonObject) -> JsonObject:
    """RFC 7396, as chatmem applies it."""
    merged = dict(target)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_patch(merged[key], value)
        else:
            merged[key] = value
    return merged


class RawStore:
    """One connection per thread; on SQLite a process-wide lock plays chatmem's single writer."""

    def __init__(self, url: str) -> None:
        parsed = sa.make_url(url)
        self.sqlite = parsed.get_backend_name() == "sqlite"
        self._path = parsed.database or ""
        self._conninfo = "" if self.sqlite else parsed.set(drivername="postgresql").render_as_string(False)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._p = "?" if self.sqlite else "%s"
        self._opening: asyncio.Future[AsyncConnectionPool[Any]] | None = None

    # -- connections and transactions ------------------------------------------------------------

    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self.sqlite:
                conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=30)
                for pragma in (
                    "journal_mode=WAL",
                    "synchronous=NORMAL",
                    "busy_timeout=30000",
                    "foreign_keys=ON",
                ):
                    conn.execute(f"PRAGMA {pragma}")
            else:
                conn = psycopg.connect(self._conninfo, autocommit=True)
            self._local.conn = conn
        return conn

    @contextmanager
    def _tx(self, *, write: bool) -> Iterator[Any]:
        conn = self._connection()
        if not self.sqlite:
            with conn.transaction():
                yield conn
            return
        if write:
            self._write_lock.acquire()
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            if write:
                self._write_lock.release()

    def _sql(self, text: str) -> str:
        return text if self.sqlite else text.replace("?", "%s")

    # -- value formats ---------------------------------------------------------------------------

    def _ts(self, value: dt.datetime) -> Any:
        return value.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else value

    def _uuid(self, value: uuid.UUID) -> Any:
        return value.hex if self.sqlite else value

    def _json_in(self, value: JsonObject | None) -> Any:
        if value is None:
            return None
        return orjson.dumps(value).decode() if self.sqlite else Jsonb(value)

    def _out_ts(self, value: Any) -> Any:
        return value.replace(" ", "T") + "Z" if self.sqlite else value

    def _out_uuid(self, value: Any) -> Any:
        return uuid.UUID(hex=value) if self.sqlite else value

    def _out_json(self, value: Any) -> Any:
        return orjson.loads(value) if self.sqlite and value is not None else value

    def session_json(self, row: Row) -> JsonObject:
        return {
            "uuid": self._out_uuid(row[1]),
            "id": row[0],
            "created_at": self._out_ts(row[5]),
            "updated_at": self._out_ts(row[6]),
            "deleted_at": None,
            "session_id": row[2],
            "metadata": self._out_json(row[4]) or {},
            "user_id": row[3],
        }

    def message_json(self, row: Row) -> JsonObject:
        body: JsonObject = {
            "uuid": self._out_uuid(row[0]),
            "created_at": self._out_ts(row[5]),
            "updated_at": self._out_ts(row[6]),
            "role": row[1],
            "content": row[2],
            "token_count": row[4],
        }
        metadata = self._out_json(row[3])
        if metadata:
            body["metadata"] = metadata
        return body

    # -- the operations --------------------------------------------------------------------------

    def append(self, session_id: str, messages: Sequence[tuple[str, str]]) -> None:
        if not self.sqlite:
            self._pg_append(session_id, messages)
            return
        count = len(messages)
        now = dt.datetime.now(dt.UTC)
        ts = self._ts(now)
        upsert = self._sql(
            "INSERT INTO sessions (tenant_id, session_id, uuid, created_at, updated_at, last_seq, "
            "message_count) VALUES (1, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, session_id) "
            "DO UPDATE SET updated_at = ?, "
            "deleted_at = NULL, last_seq = sessions.last_seq + ?, message_count = CASE WHEN "
            "sessions.deleted_at IS NULL THEN sessions.message_count ELSE 0 END + ? RETURNING id, last_seq"
        )
        insert = self._sql(
            "INSERT INTO messages (tenant_id, session_pk, seq, uuid, role, content, metadata, "
            "token_count, created_at, updated_at) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        # chatmem queues one enrichment job per append in the same transaction.
        enqueue = self._sql(
            "INSERT INTO enrich_jobs (tenant_id, session_pk, id, kind, seq_lo, seq_hi, state, attempts, "
            "run_at, created_at, updated_at) VALUES (1, ?, ?, 'ingest', ?, ?, 'queued', 0, ?, ?, ?)"
        )
        with self._tx(write=True) as conn:
            session_pk, last_seq = conn.execute(
                upsert, (session_id, self._uuid(uuid.uuid4()), ts, ts, count, count, ts, count, count)
            ).fetchone()
            first = last_seq - count + 1
            rows = [
                (session_pk, first + i, self._uuid(uuid.uuid4()), role, content, None, 0, ts, ts)
                for i, (role, content) in enumerate(messages)
            ]
            if self.sqlite:
                conn.executemany(insert, rows)
            else:
                conn.cursor().executemany(insert, rows)
            conn.execute(enqueue, (session_pk, self._uuid(uuid.uuid4()), first, last_seq, ts, ts, ts))

    def _pg_append(self, session_id: str, messages: Sequence[tuple[str, str]]) -> None:
        """chatmem's one-statement append on PostgreSQL: its SQL text, values bound by psycopg."""
        self._connection().execute(_PG_APPEND.sql, self._pg_append_params(session_id, messages))

    def _pg_append_params(self, session_id: str, messages: Sequence[tuple[str, str]]) -> dict[str, Any]:
        return {
            **_PG_APPEND.defaults,
            "tenant_id": DEFAULT_TENANT_ID,
            "session_id": session_id,
            "uuid": uuid.uuid4(),
            "ts": dt.datetime.now(dt.UTC),
            "count": len(messages),
            "job_id": uuid.uuid4(),
            "messages": orjson.dumps(
                [{"role": role, "content": content, "token_count": 0} for role, content in messages]
            ).decode(),
        }

    def _pg_recent(self, session_id: str, limit: int) -> JsonObject:
        """chatmem's one-statement GET memory on PostgreSQL."""
        rows = (
            self._connection().execute(_PG_RECENT.sql, self._pg_recent_params(session_id, limit)).fetchall()
        )
        return self._pg_recent_json(rows)

    def _pg_recent_params(self, session_id: str, limit: int) -> dict[str, Any]:
        return {
            **_PG_RECENT.defaults,
            "tenant_id": DEFAULT_TENANT_ID,
            "session_id": session_id,
            "whatever_the_summary": True,
            "limit": limit,
        }

    def _pg_recent_json(self, rows: Sequence[Row]) -> JsonObject:
        width = len(rows[0]) - 7 if rows else 0
        found = [self.message_json(row[width:]) for row in reversed(rows) if row[width] is not None]
        return {"messages": found, "summary": ZERO_SUMMARY}

    # -- PostgreSQL on psycopg's async driver, on the event loop (floor 2's GET and POST memory, as
    # chatmem serves them: no thread hop) ----------------------------------------------------------

    async def apg_append(self, session_id: str, messages: Sequence[tuple[str, str]]) -> None:
        async with (await self._async_pool()).connection() as conn:
            await conn.execute(_PG_APPEND.sql, self._pg_append_params(session_id, messages))

    async def apg_recent(self, session_id: str, limit: int) -> JsonObject:
        async with (await self._async_pool()).connection() as conn:
            cursor = await conn.execute(_PG_RECENT.sql, self._pg_recent_params(session_id, limit))
            rows = await cursor.fetchall()
        return self._pg_recent_json(rows)

    async def _async_pool(self) -> AsyncConnectionPool[Any]:
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._open_async_pool())
        return await self._opening

    async def _open_async_pool(self) -> AsyncConnectionPool[Any]:
        # chatmem's default pool size (CHATMEM_DB_POOL_SIZE).
        pool = AsyncConnectionPool(
            self._conninfo,
            min_size=1,
            max_size=Settings().db_pool_size,
            kwargs={"autocommit": True},
            open=False,
        )
        await pool.open()
        return pool

    def recent(self, session_id: str, limit: int) -> JsonObject:
        if not self.sqlite:
            return self._pg_recent(session_id, limit)
        # chatmem's two statements: the live session with its newest live summary, then the newest
        # messages after the summary point (the benchmark's sessions have no summary: the zero one).
        session = self._sql(
            "SELECT s.id, s.floor_seq, su.point_seq, su.content FROM sessions s LEFT OUTER JOIN summaries su "
            "ON su.tenant_id = s.tenant_id AND su.session_pk = s.id AND su.point_seq = "
            "(SELECT max(n.point_seq) FROM summaries n "
            "WHERE n.tenant_id = s.tenant_id AND n.session_pk = s.id AND n.point_seq > s.floor_seq) "
            "WHERE s.tenant_id = 1 AND s.session_id = ? AND s.deleted_at IS NULL"
        )
        newest = self._sql(
            f"SELECT {MESSAGE_COLS} FROM messages m WHERE m.tenant_id = 1 AND m.session_pk = ? AND m.seq > ? "
            "ORDER BY m.seq DESC LIMIT ?"
        )
        with self._tx(write=False) as conn:
            found = conn.execute(session, (session_id,)).fetchone()
            if found is None:
                return {"messages": [], "summary": ZERO_SUMMARY}
            after = found[1] if found[2] is None else max(found[1], found[2])
            rows = conn.execute(newest, (found[0], after, limit)).fetchall()
        return {"messages": [self.message_json(row) for row in reversed(rows)], "summary": ZERO_SUMMARY}

    def get_session(self, session_id: str) -> JsonObject | None:
        query = self._sql(
            f"SELECT {SESSION_COLS} FROM sessions "
            "WHERE tenant_id = 1 AND session_id = ? AND deleted_at IS NULL"
        )
        with self._tx(write=False) as conn:
            row = conn.execute(query, (session_id,)).fetchone()
        return None if row is None else self.session_json(row)

    def patch_metadata(self, session_id: str, patch: JsonObject) -> JsonObject | None:
        select = (
            "SELECT id, metadata FROM sessions WHERE tenant_id = 1 AND session_id = ? AND deleted_at IS NULL"
        )
        update = f"UPDATE sessions SET updated_at = ?, metadata = ? WHERE id = ? RETURNING {SESSION_COLS}"
        with self._tx(write=True) as conn:
            current = conn.execute(self._sql(select + ("" if self.sqlite else " FOR UPDATE")), (session_id,))
            found = current.fetchone()
            if found is None:
                return None
            merged = merge_patch(self._out_json(found[1]) or {}, patch)
            ts = self._ts(dt.datetime.now(dt.UTC))
            row = conn.execute(self._sql(update), (ts, self._json_in(merged), found[0])).fetchone()
        return self.session_json(row)

    def list_sessions(self, limit: int, *, offset: int = 0, after: int | None = None) -> list[JsonObject]:
        where = "tenant_id = 1 AND deleted_at IS NULL" + ("" if after is None else " AND id > ?")
        query = self._sql(f"SELECT {SESSION_COLS} FROM sessions WHERE {where} ORDER BY id LIMIT ? OFFSET ?")
        params: tuple[Any, ...] = (limit, offset) if after is None else (after, limit, offset)
        with self._tx(write=False) as conn:
            rows = conn.execute(query, params).fetchall()
        return [self.session_json(row) for row in rows]

    def list_messages(self, session_id: str, limit: int, page: int) -> JsonObject:
        head = (
            "SELECT id, floor_seq, message_count FROM sessions "
            "WHERE tenant_id = 1 AND session_id = ? AND deleted_at IS NULL"
        )
        query = self._sql(
            f"SELECT {MESSAGE_COLS} FROM messages m WHERE m.tenant_id = 1 AND m.session_pk = ? AND m.seq > ? "
            "ORDER BY m.seq LIMIT ? OFFSET ?"
        )
        with self._tx(write=False) as conn:
            session = conn.execute(self._sql(head), (session_id,)).fetchone()
            if session is None:
                return {"messages": [], "total_count": 0, "row_count": 0}
            rows = conn.execute(query, (session[0], session[1], limit, (page - 1) * limit)).fetchall()
        items = [self.message_json(row) for row in rows]
        return {"messages": items, "total_count": session[2], "row_count": len(items)}

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
