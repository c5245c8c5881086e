"""Export: a tenant's users, sessions, summaries and messages as dump lines (``format``), streamed.

Constant memory: one read transaction (one snapshot) with three server-side cursors (``_Cursor``)
ordered by the session key: sessions, their summaries, their messages. They are merged as they stream,
so a session's lines follow it without any session's rows being held at once.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from chatmem.base import clock
from chatmem.base.errors import BadRequestError
from chatmem.portability import format as fmt
from chatmem.store import Database
from chatmem.store.live import above_floor
from chatmem.store.prepared import Prepared, Reads
from chatmem.store.tables import message_embeddings, messages, sessions, summaries, summary_embeddings, users

# Rows fetched per round trip of each cursor.
BATCH = 2000


@dataclass(frozen=True, slots=True)
class Selection:
    """What to export of a tenant: everything, one user's sessions, or one session; ``since`` keeps
    the users and sessions changed at or after it, and of those the messages changed since."""

    user_id: str | None = None
    session_id: str | None = None
    since: dt.datetime | None = None
    with_embeddings: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "session_id": self.session_id, "since": self.since}


def parse_since(value: str) -> dt.datetime:
    """``--since`` / ``since=``: an ISO 8601 time, UTC when it names no zone."""
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise BadRequestError(f"since is not an ISO 8601 time (2026-11-30T21:30:00Z): {value!r}") from None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed


def _session_filter(tenant_id: int, selection: Selection) -> sa.ColumnElement[bool]:
    conditions = [sessions.c.tenant_id == tenant_id]
    if selection.user_id is not None:
        conditions.append(sessions.c.user_id == selection.user_id)
    if selection.session_id is not None:
        conditions.append(sessions.c.session_id == selection.session_id)
    if selection.since is not None:
        conditions.append(sessions.c.updated_at >= selection.since)
    return sa.and_(*conditions)


def _user_filter(tenant_id: int, selection: Selection, of_sessions: sa.ColumnElement[bool]) -> Any:
    # Every user an exported session refers to is exported, so the dump imports on its own.
    referenced = users.c.user_id.in_(sa.select(sessions.c.user_id).where(of_sessions))
    if selection.session_id is not None:
        chosen: sa.ColumnElement[bool] = referenced
    else:
        own: list[sa.ColumnElement[bool]] = [sa.true()]
        if selection.user_id is not None:
            own.append(users.c.user_id == selection.user_id)
        if selection.since is not None:
            own.append(users.c.updated_at >= selection.since)
        chosen = sa.or_(sa.and_(*own), referenced)
    return sa.and_(users.c.tenant_id == tenant_id, chosen)


def _its_session(table: sa.Table) -> sa.ColumnElement[bool]:
    return sa.and_(sessions.c.tenant_id == table.c.tenant_id, sessions.c.id == table.c.session_pk)


def _queries(tenant_id: int, selection: Selection) -> tuple[Any, Any, Any, Any]:
    of_sessions = _session_filter(tenant_id, selection)
    user_q = (
        sa.select(
            users.c.user_id,
            users.c.uuid,
            users.c.email,
            users.c.first_name,
            users.c.last_name,
            users.c.metadata,
            users.c.created_at,
            users.c.updated_at,
        )
        .where(_user_filter(tenant_id, selection, of_sessions))
        .order_by(users.c.id)
    )
    session_q = (
        sa.select(
            sessions.c.id,
            sessions.c.session_id,
            sessions.c.uuid,
            sessions.c.user_id,
            sessions.c.metadata,
            sessions.c.created_at,
            sessions.c.updated_at,
            sessions.c.deleted_at,
        )
        .where(of_sessions)
        .order_by(sessions.c.id)
    )
    # Only live rows: a deleted session's history is deleted (its line says so); a revived one's
    # starts above its floor.
    live_rows = sa.and_(of_sessions, sessions.c.deleted_at.is_(None))
    message_columns: list[Any] = [
        messages.c.session_pk,
        messages.c.seq,
        messages.c.uuid,
        messages.c.role,
        messages.c.content,
        messages.c.metadata,
        messages.c.token_count,
        messages.c.created_at,
        messages.c.updated_at,
    ]
    message_from: Any = messages.join(sessions, _its_session(messages))
    summary_columns: list[Any] = [
        summaries.c.session_pk,
        summaries.c.point_seq,
        summaries.c.uuid,
        summaries.c.recent_message_uuid,
        summaries.c.content,
        summaries.c.token_count,
        summaries.c.metadata,
        summaries.c.created_at,
    ]
    summary_from: Any = summaries.join(sessions, _its_session(summaries))
    if selection.with_embeddings:
        embedding = (message_embeddings.c.model, message_embeddings.c.dimensions, message_embeddings.c.vector)
        message_columns.extend(embedding)
        message_from = message_from.outerjoin(
            message_embeddings,
            sa.and_(
                message_embeddings.c.tenant_id == messages.c.tenant_id,
                message_embeddings.c.session_pk == messages.c.session_pk,
                message_embeddings.c.seq == messages.c.seq,
            ),
        )
        summary_columns.extend(
            (summary_embeddings.c.model, summary_embeddings.c.dimensions, summary_embeddings.c.vector)
        )
        summary_from = summary_from.outerjoin(
            summary_embeddings,
            sa.and_(
                summary_embeddings.c.tenant_id == summaries.c.tenant_id,
                summary_embeddings.c.session_pk == summaries.c.session_pk,
                summary_embeddings.c.point_seq == summaries.c.point_seq,
            ),
        )
    message_where = [live_rows, messages.c.tenant_id == tenant_id, above_floor(messages.c.seq)]
    if selection.since is not None:
        message_where.append(messages.c.updated_at >= selection.since)
    message_q = (
        sa.select(*message_columns)
        .select_from(message_from)
        .where(*message_where)
        .order_by(messages.c.session_pk, messages.c.seq)
    )
    summary_q = (
        sa.select(*summary_columns)
        .select_from(summary_from)
        .where(live_rows, summaries.c.tenant_id == tenant_id, above_floor(summaries.c.point_seq))
        .order_by(summaries.c.session_pk, summaries.c.point_seq)
    )
    return user_q, session_q, summary_q, message_q


class _Cursor:
    """A streamed, ordered result with one row of look-ahead, to take the rows of one session.

    Run on the transaction's DB-API connection, not through SQLAlchemy's result objects: the query is
    compiled once and each row gets only its columns' own result processors (``store.prepared``). On
    PostgreSQL it is a server-side (named) cursor, so the rows stream ``BATCH`` at a time.
    """

    def __init__(self, conn: sa.Connection, query: Any, name: str, *, prefetch: bool = False) -> None:
        prepared: Prepared[Reads] = Prepared(query)
        compiled = prepared.compiled(conn.dialect)
        dbapi: Any = conn.connection.dbapi_connection
        self._cursor = dbapi.cursor() if conn.dialect.name == "sqlite" else dbapi.cursor(name=name)
        self._cursor.execute(compiled.sql, prepared.arguments(compiled, compiled.defaults))
        self._stop = threading.Event()
        self._pump: threading.Thread | None = None
        self._closed = False
        chunks = self._ahead() if prefetch else iter(lambda: self._cursor.fetchmany(BATCH), [])
        self._rows = self._stream(prepared, compiled, chunks)
        self._next: tuple[Any, ...] | None = next(self._rows, None)

    def _stream(
        self, prepared: Prepared[Reads], compiled: Any, chunks: Iterator[Any]
    ) -> Iterator[tuple[Any, ...]]:
        try:
            for chunk in chunks:
                yield from prepared.convert(compiled, chunk)
        finally:
            self.close()

    def _ahead(self) -> Iterator[Any]:
        """The chunks, fetched by a thread while the caller encodes the previous ones: the server
        (PostgreSQL, its own process) produces rows while this one writes lines."""
        ahead: queue.Queue[Any] = queue.Queue(maxsize=2)

        def put(item: Any) -> None:
            while not self._stop.is_set():
                try:
                    ahead.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue

        def pump() -> None:
            try:
                while not self._stop.is_set():
                    chunk = self._cursor.fetchmany(BATCH)
                    put(chunk)
                    if not chunk:
                        return
            except Exception as exc:  # handed to the reader, which raises it
                put(exc)

        self._pump = threading.Thread(target=pump, name="chatmem-export", daemon=True)
        self._pump.start()
        while True:
            item = ahead.get()
            if isinstance(item, Exception):
                raise item
            if not item:
                return
            yield item

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._pump is not None:
            self._pump.join()
        self._cursor.close()

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        if self._next is not None:
            yield self._next
            self._next = None
        yield from self._rows

    def take(self, session_pk: int) -> Iterator[tuple[Any, ...]]:
        # Both are ordered by session pk: rows of sessions not exported cannot occur (same filter).
        while self._next is not None and self._next[0] == session_pk:
            yield self._next
            self._next = next(self._rows, None)


def export_lines(
    db: Database,
    tenant_id: int,
    tenant: str,
    selection: Selection,
    *,
    progress: Callable[[int], object] | None = None,
) -> Generator[bytes, None, None]:
    """The dump, line by line; ``progress(n)`` is told of every ``n`` messages written."""
    counts = dict.fromkeys((fmt.USER, fmt.SESSION, fmt.SUMMARY, fmt.MESSAGE), 0)
    encode = fmt.encode
    user_q, session_q, summary_q, message_q = _queries(tenant_id, selection)
    embeddings = selection.with_embeddings
    yield encode(fmt.header(tenant, selection.as_json(), embeddings, clock.now()))
    with db.read() as conn:
        for row in _Cursor(conn, user_q, "export_users"):
            yield encode(
                {
                    "type": fmt.USER,
                    "user_id": row[0],
                    "uuid": row[1],
                    "email": row[2],
                    "first_name": row[3],
                    "last_name": row[4],
                    "metadata": row[5],
                    "created_at": row[6],
                    "updated_at": row[7],
                }
            )
            counts[fmt.USER] += 1
        summary_rows = _Cursor(conn, summary_q, "export_summaries")
        # Most rows are messages: on PostgreSQL they are fetched ahead, in a thread.
        message_rows = _Cursor(conn, message_q, "export_messages", prefetch=not db.is_sqlite)
        session_rows = _Cursor(conn, session_q, "export_sessions")
        try:
            yield from _sessions(session_rows, summary_rows, message_rows, counts, embeddings, progress)
        finally:  # also when the reader stops early: no fetch runs after the transaction ends
            for cursor in (message_rows, summary_rows, session_rows):
                cursor.close()
    yield encode({"type": fmt.END, "counts": counts})


def _sessions(
    session_rows: _Cursor,
    summary_rows: _Cursor,
    message_rows: _Cursor,
    counts: dict[str, int],
    embeddings: bool,
    progress: Callable[[int], object] | None,
) -> Iterator[bytes]:
    """Each session's line, then its summaries' and its messages' lines."""
    encode = fmt.encode
    for pk, session_id, *session in session_rows:
        yield encode(
            {
                "type": fmt.SESSION,
                "session_id": session_id,
                "uuid": session[0],
                "user_id": session[1],
                "metadata": session[2],
                "created_at": session[3],
                "updated_at": session[4],
                "deleted_at": session[5],
            }
        )
        counts[fmt.SESSION] += 1
        for s in summary_rows.take(pk):
            line = {
                "type": fmt.SUMMARY,
                "session_id": session_id,
                "point_seq": s[1],
                "uuid": s[2],
                "recent_message_uuid": s[3],
                "content": s[4],
                "token_count": s[5],
                "metadata": s[6],
                "created_at": s[7],
            }
            if embeddings:
                line["embedding"] = fmt.embedding_json(s[8], s[9], s[10])
            yield encode(line)
            counts[fmt.SUMMARY] += 1
        written = 0
        for m in message_rows.take(pk):
            line = {
                "type": fmt.MESSAGE,
                "session_id": session_id,
                "seq": m[1],
                "uuid": m[2],
                "role": m[3],
                "content": m[4],
                "metadata": m[5],
                "token_count": m[6],
                "created_at": m[7],
                "updated_at": m[8],
            }
            if embeddings:
                line["embedding"] = fmt.embedding_json(m[9], m[10], m[11])
            yield encode(line)
            written += 1
        counts[fmt.MESSAGE] += written
        if progress is not None and written:
            progress(written)
