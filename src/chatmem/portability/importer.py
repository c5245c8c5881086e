"""Import a dump (``format``) into a tenant: idempotent, resumable, consistent up to a bad line.

Lines are validated as they are read and written in batches, each batch one transaction. Every row
keeps its identity (user and session ids, uuids, message ``seq``), and every insert skips what is
already there, so running an import again (to finish an interrupted one, or by mistake) stores
nothing twice. A malformed line, or one that contradicts the tenant, stops the import with its number:
every line before it is written first, so the tenant holds exactly the lines before it.

Users and sessions already in the tenant are updated from the dump when the dump's ``updated_at`` is
newer (metadata, names, a session's owner and deleted state); messages likewise (metadata, token
count). docs/portability.md has the rules.

Speed: a batch's messages go in with one statement per dialect, built from ``INSERTED_MESSAGE_COLUMNS`` and
``_Writer._message_row`` (the one place to add a column): SQLite an ``executemany`` per session,
PostgreSQL one ``INSERT ... SELECT FROM unnest(arrays)`` for the whole batch. Both run on the raw
DB-API cursor of the batch's transaction, with values already in the driver's form. A second thread
writes each batch while the next one is read and checked (``_Background``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from chatmem.base import clock
from chatmem.base.json import json_text
from chatmem.enrich import queue
from chatmem.portability import format as fmt
from chatmem.store import Database
from chatmem.store.jobs import Kind, job_row
from chatmem.store.live import soft_delete
from chatmem.store.prepared import Prepared, Writes, run, upsert
from chatmem.store.tables import message_embeddings, messages, sessions, summaries, summary_embeddings, users

# Lines per transaction: large enough to amortize a commit, small enough to hold briefly.
BATCH = 5000

# The columns the bulk message insert writes: every column of ``messages``, in the table's order, which
# is the order of the values of ``_Writer._message_row``.
INSERTED_MESSAGE_COLUMNS = tuple(messages.c.keys())


@dataclass(slots=True)
class ImportResult:
    """Rows written by this run; ``already_there`` counts lines whose row existed unchanged (a re-run),
    ``updated`` those whose row existed and was older than the line (and so was updated)."""

    users: int = 0
    sessions: int = 0
    summaries: int = 0
    messages: int = 0
    embeddings: int = 0
    jobs: int = 0
    already_there: int = 0
    updated: int = 0
    complete: bool = field(default=False)

    def as_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True)
class _Session:
    """A session whose lines are being written: its summaries and messages follow its line."""

    record: fmt.SessionLine
    pk: int
    has_summary: bool = False


def _bind(table: sa.Table, name: str) -> sa.BindParameter[Any]:
    return sa.bindparam(name, type_=table.c[name].type)


def _greatest(dialect_name: str, column: Any, value: Any) -> Any:
    return sa.func.max(column, value) if dialect_name == "sqlite" else sa.func.greatest(column, value)


_USER_FIELDS = ("user_id", "uuid", "email", "first_name", "last_name", "metadata", "created_at", "updated_at")
_SESSION_FIELDS = ("session_id", "uuid", "user_id", "metadata", "created_at", "updated_at", "deleted_at")

_insert_user: Prepared[Writes] = Prepared(
    lambda d: (
        upsert(d, users)
        .values({name: _bind(users, name) for name in ("tenant_id", *_USER_FIELDS)})
        .on_conflict_do_nothing()
        .returning(users.c.id)
    )
)
# The dump's row wins when it is newer than the stored one (an incremental dump, or a source changed
# since the last import); an equal or older one changes nothing, so a re-run updates nothing.
_update_user: Prepared[Writes] = Prepared(
    sa.update(users)
    .where(
        users.c.tenant_id == _bind(users, "tenant_id"),
        users.c.user_id == sa.bindparam("key", type_=sa.Text),
        users.c.updated_at < _bind(users, "updated_at"),
    )
    .values({name: _bind(users, name) for name in _USER_FIELDS if name not in ("user_id", "uuid")})
    .returning(users.c.id)
)
_user_exists = Prepared(
    sa.select(users.c.id).where(
        users.c.tenant_id == _bind(users, "tenant_id"), users.c.user_id == _bind(users, "user_id")
    )
)
_insert_session: Prepared[Writes] = Prepared(
    lambda d: (
        upsert(d, sessions)
        .values({name: _bind(sessions, name) for name in ("tenant_id", *_SESSION_FIELDS)})
        .on_conflict_do_nothing()
        .returning(sessions.c.id)
    )
)
_deleted = _bind(sessions, "deleted_at")
_update_session: Prepared[Writes] = Prepared(
    sa.update(sessions)
    .where(
        sessions.c.tenant_id == _bind(sessions, "tenant_id"),
        sessions.c.session_id == sa.bindparam("key", type_=sa.Text),
        sessions.c.updated_at < _bind(sessions, "updated_at"),
    )
    .values(
        user_id=_bind(sessions, "user_id"),
        metadata=_bind(sessions, "metadata"),
        updated_at=_bind(sessions, "updated_at"),
        deleted_at=_deleted,
        # Deleted by the dump: its floor rises over every message (live.soft_delete); revived by it:
        # the floor stays, so what was deleted here stays deleted.
        floor_seq=sa.case(
            (sa.and_(_deleted.is_not(None), sessions.c.deleted_at.is_(None)), soft_delete(None)["floor_seq"]),
            else_=sessions.c.floor_seq,
        ),
        message_count=sa.case((_deleted.is_not(None), 0), else_=sessions.c.message_count),
    )
    .returning(sessions.c.id)
)
_session_pk = Prepared(
    sa.select(sessions.c.id).where(
        sessions.c.tenant_id == _bind(sessions, "tenant_id"),
        sessions.c.session_id == _bind(sessions, "session_id"),
    )
)
_count_messages: Prepared[Writes] = Prepared(
    lambda d: (
        sa.update(sessions)
        .where(sessions.c.id == sa.bindparam("pk", type_=sa.BigInteger))
        .values(
            last_seq=_greatest(d, sessions.c.last_seq, sa.bindparam("hi", type_=sa.BigInteger)),
            message_count=sessions.c.message_count + sa.bindparam("n", type_=sa.BigInteger),
        )
    )
)
_bump_vectors: Prepared[Writes] = Prepared(
    sa.update(sessions)
    .where(sessions.c.id == sa.bindparam("pk", type_=sa.BigInteger))
    .values(vectors_version=sessions.c.vectors_version + 1)
)
_stored_messages = Prepared(
    sa.select(messages.c.seq, messages.c.uuid, messages.c.updated_at).where(
        messages.c.tenant_id == _bind(messages, "tenant_id"),
        messages.c.session_pk == _bind(messages, "session_pk"),
        messages.c.seq.between(
            sa.bindparam("lo", type_=sa.BigInteger), sa.bindparam("hi", type_=sa.BigInteger)
        ),
    )
)
_update_message: Prepared[Writes] = Prepared(
    sa.update(messages)
    .where(
        messages.c.tenant_id == _bind(messages, "tenant_id"),
        messages.c.session_pk == _bind(messages, "session_pk"),
        messages.c.seq == _bind(messages, "seq"),
        messages.c.updated_at < _bind(messages, "updated_at"),
    )
    .values(
        metadata=_bind(messages, "metadata"),
        token_count=_bind(messages, "token_count"),
        updated_at=_bind(messages, "updated_at"),
    )
)


def _many(conn: sa.Connection, query: Prepared[Writes], params: Sequence[dict[str, Any]]) -> int:
    """``executemany`` of a prepared write; how many rows it changed."""
    if not params:
        return 0
    compiled = query.compiled(conn.dialect)
    cursor: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(compiled.sql, [query.arguments(compiled, one) for one in params])
        return int(cursor.rowcount)
    finally:
        cursor.close()


class _MessageInsert:
    """The bulk insert of messages, on the raw DB-API cursor, with the driver's own value types."""

    def __init__(self, dialect_name: str) -> None:
        names = ", ".join(INSERTED_MESSAGE_COLUMNS)
        self.sqlite = dialect_name == "sqlite"
        if self.sqlite:
            marks = ", ".join("?" for _ in INSERTED_MESSAGE_COLUMNS)
            self.sql = f"INSERT INTO messages ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        else:
            pg = postgresql.dialect()  # type: ignore[no-untyped-call]
            types = [messages.c[name].type.compile(dialect=pg) for name in INSERTED_MESSAGE_COLUMNS]
            # %b: binary arrays (psycopg's text arrays escape every string with a regex).
            arrays = ", ".join(f"%b::{kind}[]" for kind in types)
            # One statement for the whole batch; it answers how many rows each session got.
            self.sql = (
                f"WITH ins AS (INSERT INTO messages ({names}) SELECT * FROM unnest({arrays}) "
                "ON CONFLICT DO NOTHING RETURNING session_pk) "
                "SELECT session_pk, count(*) FROM ins GROUP BY session_pk"
            )

    def uuid(self, value: UUID) -> Any:
        return value.hex if self.sqlite else value

    def time(self, value: dt.datetime) -> Any:
        # SQLite: the text SQLAlchemy's DateTime stores (naive UTC, microseconds); the dump's times are UTC.
        return value.replace(tzinfo=None).isoformat(" ", "microseconds") if self.sqlite else value

    def insert(self, conn: sa.Connection, groups: list[tuple[int, list[tuple[Any, ...]]]]) -> dict[int, int]:
        """Insert each session's rows, skipping those already stored: how many each session got."""
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            if self.sqlite:
                inserted = {}
                for pk, rows in groups:
                    cursor.executemany(self.sql, rows)
                    inserted[pk] = cursor.rowcount
                return inserted
            columns = list(zip(*(row for _, rows in groups for row in rows), strict=True))
            cursor.execute(self.sql, [list(column) for column in columns])
            return {pk: n for pk, n in cursor.fetchall()}
        finally:
            cursor.close()


class _Writer:
    """Writes batches of lines, each in one transaction; remembers the session the lines are in."""

    def __init__(self, db: Database, tenant_id: int, result: ImportResult) -> None:
        self.db = db
        self.tenant_id = tenant_id
        self.result = result
        self.session: _Session | None = None
        self.known_users: set[str] = set()
        self.inserts = _MessageInsert(db.dialect_name)

    def _message_row(self, pk: int, m: fmt.MessageLine) -> tuple[Any, ...]:
        """A message's values in the order of INSERTED_MESSAGE_COLUMNS."""
        i = self.inserts
        metadata = None if m.metadata is None else json_text(m.metadata)
        created, updated = i.time(m.created_at), i.time(m.updated_at)
        return (
            self.tenant_id,
            pk,
            m.seq,
            i.uuid(m.uuid),
            m.role,
            m.content,
            metadata,
            m.token_count,
            created,
            updated,
        )

    def write(self, batch: list[tuple[int, fmt.Line]]) -> None:
        """Write ``batch`` in one transaction; on any error nothing of it stays, here or in the result."""
        if not batch:
            return
        session, counted = self.session, _counters(self.result)
        try:
            with self.db.write() as conn:
                self._write(conn, batch)
        except BaseException:
            self.session = session
            self.known_users.clear()  # a cache of users known to be stored: it may name rolled-back ones
            for name, value in counted.items():
                setattr(self.result, name, value)
            raise

    def _write(self, conn: sa.Connection, batch: list[tuple[int, fmt.Line]]) -> None:
        groups: list[tuple[_Session, list[tuple[int, fmt.MessageLine]]]] = []
        for number, line in batch:
            if isinstance(line, fmt.MessageLine):
                session = self.session
                assert session is not None  # import_lines checked that a session line came first
                if not groups or groups[-1][0] is not session:
                    groups.append((session, []))
                groups[-1][1].append((number, line))
            elif isinstance(line, fmt.UserLine):
                self._user(conn, line)
            elif isinstance(line, fmt.SessionLine):
                self._session(conn, number, line)
            elif isinstance(line, fmt.SummaryLine):
                self._summary(conn, line)
        if groups:
            self._messages(conn, groups)

    def _user(self, conn: sa.Connection, line: fmt.UserLine) -> None:
        values = {"tenant_id": self.tenant_id, **{name: getattr(line, name) for name in _USER_FIELDS}}
        if run(conn, _insert_user, **values):
            self.result.users += 1
        elif run(conn, _update_user, key=line.user_id, **values):
            self.result.updated += 1
        else:
            self.result.already_there += 1
        self.known_users.add(line.user_id)

    def _session(self, conn: sa.Connection, number: int, line: fmt.SessionLine) -> None:
        if line.user_id is not None and line.user_id not in self.known_users:
            if not run(conn, _user_exists, tenant_id=self.tenant_id, user_id=line.user_id):
                raise fmt.DumpError(
                    number, f"user_id {line.user_id!r} is neither in the dump nor in the tenant"
                )
            self.known_users.add(line.user_id)
        values = {"tenant_id": self.tenant_id, **{name: getattr(line, name) for name in _SESSION_FIELDS}}
        created = run(conn, _insert_session, **values)
        if created:
            self.result.sessions += 1
            pk = created[0][0]
        else:
            if run(conn, _update_session, key=line.session_id, **values):
                self.result.updated += 1
            else:
                self.result.already_there += 1
            pk = run(conn, _session_pk, tenant_id=self.tenant_id, session_id=line.session_id)[0][0]
        self.session = _Session(line, pk)

    def _summary(self, conn: sa.Connection, line: fmt.SummaryLine) -> None:
        session = self.session
        assert session is not None  # import_lines checked that a session line came first
        session.has_summary = True
        row = {
            f.name: getattr(line, f.name) for f in fields(line) if f.name not in ("session_id", "embedding")
        }
        if self._insert(conn, summaries, [{**row, "tenant_id": self.tenant_id, "session_pk": session.pk}]):
            self.result.summaries += 1
        else:
            self.result.already_there += 1
        if line.embedding is not None:
            vector = _embedding_row(self.tenant_id, session.pk, line.embedding, line.created_at)
            vector["point_seq"] = line.point_seq
            if self._insert(conn, summary_embeddings, [vector]):
                self.result.embeddings += 1
                run(conn, _bump_vectors, pk=session.pk)

    def _insert(self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> int:
        """Insert ``rows`` (few: summaries, vectors), skipping those already stored; how many were new."""
        if not rows:
            return 0
        key = table.primary_key.columns.values()[-1]
        return len(conn.execute(self.db.insert(table).on_conflict_do_nothing().returning(key), rows).all())

    def _messages(
        self, conn: sa.Connection, groups: list[tuple[_Session, list[tuple[int, fmt.MessageLine]]]]
    ) -> None:
        row = self._message_row
        inserted = self.inserts.insert(
            conn, [(s.pk, [row(s.pk, m) for _, m in lines]) for s, lines in groups]
        )
        counted: list[dict[str, Any]] = []
        jobs: list[dict[str, object]] = []
        now = clock.now()
        for session, lines in groups:
            new = inserted.get(session.pk, 0)
            if new < len(lines):
                self._check_already_there(conn, session, lines, len(lines) - new)
            if not new:
                continue
            self.result.messages += new
            lo, hi = lines[0][1].seq, lines[-1][1].seq
            counted.append({"pk": session.pk, "hi": max(m.seq for _, m in lines), "n": new})
            vectors = [
                _embedding_row(self.tenant_id, session.pk, m.embedding, m.created_at) | {"seq": m.seq}
                for _, m in lines
                if m.embedding is not None
            ]
            if vectors:
                stored = self._insert(conn, message_embeddings, vectors)
                self.result.embeddings += stored
                if stored:
                    run(conn, _bump_vectors, pk=session.pk)
            # Token counts, vectors and summaries for what arrived without them; the jobs skip what is
            # done (a message with a token count, a vector of the current model, a summarized range).
            if len(vectors) < len(lines) or not session.has_summary:
                jobs.append(job_row(self.tenant_id, session.pk, Kind.INGEST, min(lo, hi), max(lo, hi), now))
        _many(conn, _count_messages, counted)
        queue.enqueue(conn, jobs)
        self.result.jobs += len(jobs)

    def _check_already_there(
        self, conn: sa.Connection, session: _Session, lines: list[tuple[int, fmt.MessageLine]], skipped: int
    ) -> None:
        """A skipped message must be the same message, already imported (a newer line updates its
        metadata and token count); anything else is a conflict that would lose a message, so the import
        stops at its line."""
        seqs = [m.seq for _, m in lines]
        stored = {
            seq: (uuid, updated_at)
            for seq, uuid, updated_at in run(
                conn,
                _stored_messages,
                tenant_id=self.tenant_id,
                session_pk=session.pk,
                lo=min(seqs),
                hi=max(seqs),
            )
        }
        newer: list[dict[str, Any]] = []
        for number, message in lines:
            uuid, updated_at = stored.get(message.seq, (None, None))
            if uuid != message.uuid:
                raise fmt.DumpError(
                    number,
                    f"session {message.session_id!r} already holds another message at seq {message.seq} "
                    f"(or message {message.uuid} at another seq): import into an empty tenant, or into "
                    "one that holds an earlier import of this same data",
                )
            if updated_at is not None and updated_at < message.updated_at:
                newer.append(
                    {
                        "tenant_id": self.tenant_id,
                        "session_pk": session.pk,
                        "seq": message.seq,
                        "metadata": message.metadata,
                        "token_count": message.token_count,
                        "updated_at": message.updated_at,
                    }
                )
        # Of the lines skipped, those updated now were newer; the rest were there unchanged. (The
        # lines inserted by this statement were not stored before it, so none of them is newer.)
        updated = _many(conn, _update_message, newer)
        self.result.updated += updated
        self.result.already_there += skipped - updated


def _counters(result: ImportResult) -> dict[str, Any]:
    """The result's counters (to put them back when a batch is rolled back)."""
    return {f.name: getattr(result, f.name) for f in fields(result) if f.name != "complete"}


def _embedding_row(tenant_id: int, pk: int | None, embedding: fmt.Embedding, ts: Any) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "session_pk": pk,
        "model": embedding.model,
        "dimensions": embedding.dimensions,
        "vector": embedding.vector,
        "created_at": ts,
    }


def _numbered(lines: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    for number, raw in enumerate(lines, start=1):
        if raw.strip():
            yield number, raw


class _Background:
    """Writes one batch in a second thread while the next one is read and checked: the database's work
    (SQLite releases the GIL while it steps, PostgreSQL works in its own process) overlaps the parsing.
    At most one batch is in flight, so memory stays at two batches."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chatmem-import")
        self._in_flight: Future[None] | None = None

    def submit(
        self, write: Callable[[list[tuple[int, fmt.Line]]], None], todo: list[tuple[int, fmt.Line]]
    ) -> None:
        self.wait()
        self._in_flight = self._executor.submit(write, todo)

    def wait(self) -> None:
        """Until the batch in flight is written; its error, if it failed."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            in_flight.result()

    def __enter__(self) -> _Background:
        return self

    def __exit__(self, kind: object, error: object, _traceback: object) -> None:
        try:
            if error is None:
                self.wait()
            elif self._in_flight is not None:
                # Leaving on another error (an interrupt): the batch in flight still ends, committed
                # or rolled back, before the import returns; the first error is the one raised.
                self._in_flight.exception()
        finally:
            self._executor.shutdown(wait=True)


def import_lines(
    db: Database,
    tenant_id: int,
    lines: Iterable[bytes],
    *,
    batch: int = BATCH,
    progress: Callable[[int], object] | None = None,
) -> ImportResult:
    """Import a dump's lines into the tenant. At the first bad line, every line before it is written
    and ``DumpError`` names it; a dump without its ``end`` line (truncated) is a ``DumpError`` too,
    after everything in it is written."""
    result = ImportResult()
    writer = _Writer(db, tenant_id, result)
    numbered = _numbered(lines)
    first = next(numbered, None)
    if first is None:
        raise fmt.DumpError(1, "the dump is empty")
    fmt.read_header(*first)

    def commit(todo: list[tuple[int, fmt.Line]]) -> None:
        refused: fmt.DumpError | None = None
        while True:
            try:
                writer.write(todo)
                break
            except fmt.DumpError as exc:
                # The batch is rolled back: write the lines before the refused one, then stop there
                # (a line before it may be refused in turn: the first one wins).
                refused = exc
                todo = [(number, line) for number, line in todo if number < exc.line]
        if progress is not None:
            progress(sum(isinstance(line, fmt.MessageLine) for _, line in todo))
        if refused is not None:
            raise refused

    pending: list[tuple[int, fmt.Line]] = []
    session_id: str | None = None
    last = first[0]
    complete = False
    with _Background() as background:
        for number, raw in numbered:
            last = number
            try:
                if complete:
                    raise fmt.DumpError(number, "a line after the end line")
                line = fmt.read_line(number, raw)
                if isinstance(line, fmt.MessageLine | fmt.SummaryLine):
                    if line.session_id != session_id:
                        raise fmt.DumpError(
                            number, f"session_id {line.session_id!r} is not that of the session line above it"
                        )
                elif isinstance(line, fmt.SessionLine):
                    session_id = line.session_id
                elif isinstance(line, fmt.UserLine) and session_id is not None:
                    raise fmt.DumpError(number, "a user line after the first session line")
            except fmt.DumpError:
                background.wait()  # a line refused in an earlier batch comes first
                commit(pending)  # whatever precedes the bad line is written, as one consistent batch
                raise
            if isinstance(line, fmt.EndLine):
                complete = True
                continue
            pending.append((number, line))
            if len(pending) >= batch:
                background.submit(commit, pending)
                pending = []
        background.wait()
        commit(pending)
    result.complete = complete
    if not complete:
        raise fmt.DumpError(
            last + 1, "the dump ends without its end line (truncated?); every line before is imported"
        )
    return result
