"""Import a dump (``format``) into a tenant: idempotent, resumable, consistent up to a bad line.

Lines are validated as they are read and written in batches, each batch one transaction. Every row
keeps its identity (user and session ids, uuids, message ``seq``), and every insert skips what is
already there, so running an import again (to finish an interrupted one, or by mistake) stores
nothing twice. A malformed line stops the import with its number: the batch before it is written
first, so the tenant holds exactly the lines before it. docs/portability.md has the rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any

import sqlalchemy as sa

from chatmem.base import clock
from chatmem.enrich import queue
from chatmem.portability import format as fmt
from chatmem.store import Database
from chatmem.store.jobs import Kind, job_row
from chatmem.store.tables import message_embeddings, messages, sessions, summaries, summary_embeddings, users

# Messages per transaction: large enough to amortize a commit, small enough to hold briefly.
BATCH = 5000


@dataclass(slots=True)
class ImportResult:
    """Rows written by this run; ``already_there`` counts lines whose row existed (a re-run)."""

    users: int = 0
    sessions: int = 0
    summaries: int = 0
    messages: int = 0
    embeddings: int = 0
    jobs: int = 0
    already_there: int = 0
    complete: bool = field(default=False)

    def as_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True)
class _Session:
    """The session whose lines are being written: its summaries and messages follow its line."""

    record: fmt.SessionLine
    pk: int = 0
    has_summary: bool = False


class _Writer:
    """Writes batches of lines, each in one transaction; remembers the session the lines are in."""

    def __init__(self, db: Database, tenant_id: int, result: ImportResult) -> None:
        self.db = db
        self.tenant_id = tenant_id
        self.result = result
        self.session: _Session | None = None

    def write(self, batch: list[tuple[int, fmt.Line]]) -> None:
        if not batch:
            return
        with self.db.write() as conn:
            pending: list[tuple[int, fmt.MessageLine]] = []
            for number, line in batch:
                if isinstance(line, fmt.MessageLine):
                    pending.append((number, line))
                    continue
                if pending:
                    self._messages(conn, pending)
                    pending = []
                if isinstance(line, fmt.UserLine):
                    self._user(conn, line)
                elif isinstance(line, fmt.SessionLine):
                    self._session(conn, number, line)
                elif isinstance(line, fmt.SummaryLine):
                    self._summary(conn, line)
            if pending:
                self._messages(conn, pending)

    def _insert(self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]], key: Any) -> int:
        """Insert ``rows``, skipping those already stored; how many were new."""
        if not rows:
            return 0
        statement = self.db.insert(table).on_conflict_do_nothing().returning(key)
        return len(conn.execute(statement, rows).all())

    def _user(self, conn: sa.Connection, line: fmt.UserLine) -> None:
        row = {"tenant_id": self.tenant_id, **{f.name: getattr(line, f.name) for f in fields(line)}}
        if self._insert(conn, users, [row], users.c.id):
            self.result.users += 1
        else:
            self.result.already_there += 1

    def _session(self, conn: sa.Connection, number: int, line: fmt.SessionLine) -> None:
        if line.user_id is not None:
            known = conn.execute(
                sa.select(users.c.id).where(
                    users.c.tenant_id == self.tenant_id, users.c.user_id == line.user_id
                )
            ).first()
            if known is None:
                raise fmt.DumpError(
                    number, f"user_id {line.user_id!r} is neither in the dump nor in the tenant"
                )
        row = {"tenant_id": self.tenant_id, **{f.name: getattr(line, f.name) for f in fields(line)}}
        if self._insert(conn, sessions, [row], sessions.c.id):
            self.result.sessions += 1
        else:
            self.result.already_there += 1
        pk = conn.execute(
            sa.select(sessions.c.id).where(
                sessions.c.tenant_id == self.tenant_id, sessions.c.session_id == line.session_id
            )
        ).scalar_one()
        self.session = _Session(line, pk)

    def _summary(self, conn: sa.Connection, line: fmt.SummaryLine) -> None:
        session = self.session
        assert session is not None  # import_lines checked that a session line came first
        session.has_summary = True
        row = {
            f.name: getattr(line, f.name) for f in fields(line) if f.name not in ("session_id", "embedding")
        }
        mine = {"tenant_id": self.tenant_id, "session_pk": session.pk}
        if self._insert(conn, summaries, [{**row, **mine}], summaries.c.point_seq):
            self.result.summaries += 1
        else:
            self.result.already_there += 1
        if line.embedding is not None:
            vector = _embedding_row(self.tenant_id, session.pk, line.embedding, line.created_at) | {
                "point_seq": line.point_seq
            }
            self.result.embeddings += self._insert(
                conn, summary_embeddings, [vector], summary_embeddings.c.point_seq
            )
            self._bump_vectors(conn, session)

    def _messages(self, conn: sa.Connection, lines: list[tuple[int, fmt.MessageLine]]) -> None:
        session = self.session
        assert session is not None  # import_lines checked that a session line came first
        pk = session.pk
        rows = [
            {
                "tenant_id": self.tenant_id,
                "session_pk": pk,
                "seq": m.seq,
                "uuid": m.uuid,
                "role": m.role,
                "content": m.content,
                "metadata": m.metadata,
                "token_count": m.token_count,
                "created_at": m.created_at,
                "updated_at": m.updated_at,
            }
            for _, m in lines
        ]
        statement = self.db.insert(messages).on_conflict_do_nothing().returning(messages.c.seq)
        inserted = {seq for (seq,) in conn.execute(statement, rows)}
        if len(inserted) < len(rows):
            self._check_already_there(conn, session, [(n, m) for n, m in lines if m.seq not in inserted])
        self.result.messages += len(inserted)
        if not inserted:
            return
        vectors = [
            _embedding_row(self.tenant_id, pk, m.embedding, m.created_at) | {"seq": m.seq}
            for _, m in lines
            if m.embedding is not None and m.seq in inserted
        ]
        if vectors:
            self.result.embeddings += self._insert(
                conn, message_embeddings, vectors, message_embeddings.c.seq
            )
            self._bump_vectors(conn, session)
        conn.execute(
            sa.update(sessions)
            .where(sessions.c.id == pk)
            .values(
                last_seq=sa.func.max(sessions.c.last_seq, max(inserted))
                if self.db.is_sqlite
                else sa.func.greatest(sessions.c.last_seq, max(inserted)),
                message_count=sessions.c.message_count + len(inserted),
            )
        )
        # Token counts, vectors and summaries for what arrived without them; the jobs skip what is
        # done (a message with a token count, a vector of the current model, a summarized range).
        if len(vectors) < len(inserted) or not session.has_summary:
            job = job_row(self.tenant_id, pk, Kind.INGEST, min(inserted), max(inserted), clock.now())
            queue.enqueue(conn, [job])
            self.result.jobs += 1

    def _check_already_there(
        self, conn: sa.Connection, session: _Session, skipped: list[tuple[int, fmt.MessageLine]]
    ) -> None:
        """A skipped message must be the same message, already imported; anything else is a conflict
        that would lose a message, so the import stops."""
        stored = dict(
            conn.execute(
                sa.select(messages.c.seq, messages.c.uuid).where(
                    messages.c.tenant_id == self.tenant_id,
                    messages.c.session_pk == session.pk,
                    messages.c.seq.in_([m.seq for _, m in skipped]),
                )
            ).all()
        )
        for number, message in skipped:
            if stored.get(message.seq) != message.uuid:
                raise fmt.DumpError(
                    number,
                    f"session {message.session_id!r} already holds another message at seq {message.seq} "
                    f"(or message {message.uuid} at another seq): import into an empty tenant, or into "
                    "one that holds an earlier import of this same data",
                )
        self.result.already_there += len(skipped)

    def _bump_vectors(self, conn: sa.Connection, session: _Session) -> None:
        # Search keeps a session's vectors in memory and reloads them when this moves.
        conn.execute(
            sa.update(sessions)
            .where(sessions.c.id == session.pk)
            .values(vectors_version=sessions.c.vectors_version + 1)
        )


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
    pending: list[tuple[int, fmt.Line]] = []
    session_id: str | None = None
    last = first[0]

    def flush() -> None:
        writer.write(pending)
        if progress is not None:
            progress(sum(isinstance(line, fmt.MessageLine) for _, line in pending))
        pending.clear()

    for number, raw in numbered:
        last = number
        try:
            if result.complete:
                raise fmt.DumpError(number, "a line after the end line")
            line = fmt.read_line(number, raw)
            if isinstance(line, fmt.SessionLine):
                session_id = line.session_id
            elif isinstance(line, fmt.MessageLine | fmt.SummaryLine):
                if line.session_id != session_id:
                    raise fmt.DumpError(
                        number, f"session_id {line.session_id!r} is not that of the session line above it"
                    )
            elif isinstance(line, fmt.UserLine) and session_id is not None:
                raise fmt.DumpError(number, "a user line after the first session line")
        except fmt.DumpError:
            flush()  # whatever precedes the bad line is written, as one consistent batch
            raise
        if isinstance(line, fmt.EndLine):
            result.complete = True
            continue
        pending.append((number, line))
        if len(pending) >= batch:
            flush()
    flush()
    if not result.complete:
        raise fmt.DumpError(
            last + 1, "the dump ends without its end line (truncated?); every line before is imported"
        )
    return result
