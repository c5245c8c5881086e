"""What each job kind does. Every handler is idempotent (a job may run again after a lost lease) and
skips messages and summaries that were deleted after the job was queued."""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from chatmem.base import clock
from chatmem.base.metrics import EMBEDDINGS, SUMMARIES
from chatmem.config import Settings
from chatmem.embeddings import Embedder, make_embedder
from chatmem.enrich import queue, tokens, vectors
from chatmem.enrich.queue import Job
from chatmem.enrich.summaries import latest_summary, live_session
from chatmem.enrich.summarizers import Summarizer, make_summarizer
from chatmem.store import Database
from chatmem.store.jobs import Kind, State, job_row
from chatmem.store.live import LIVE_SESSION, live
from chatmem.store.tables import (
    enrich_jobs,
    message_embeddings,
    messages,
    sessions,
    summaries,
    summary_embeddings,
)

# Most messages one summary folds; a longer backlog is folded into several summaries in a row.
MAX_FOLD = 200


class DimensionMismatchError(RuntimeError):
    """The provider's vectors are not as wide as configured (CHATMEM_EMBEDDINGS_DIMENSIONS)."""


class Enricher:
    """The providers one worker process uses, built from its settings (the local model loads lazily)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    @functools.cached_property
    def embedder(self) -> Embedder | None:
        return make_embedder(self.settings)

    @functools.cached_property
    def summarizer(self) -> Summarizer | None:
        return make_summarizer(self.settings)

    def handle(self, kind: Kind, jobs: Sequence[Job]) -> None:
        {
            Kind.INGEST: self.ingest,
            Kind.EMBED_MESSAGES: self.embed_messages,
            Kind.SUMMARIZE: self.summarize,
            Kind.EMBED_SUMMARY: self.embed_summary,
        }[kind](jobs)

    # --- ingest: token counts, then the follow-up jobs ------------------------------------------------

    def ingest(self, jobs: Sequence[Job]) -> None:
        live = _live_messages(self.db, jobs)
        counts: list[dict[str, Any]] = []
        if self.settings.token_counts:
            todo = [m for m in live if m["token_count"] == 0]
            numbers = tokens.count_messages([(m["role"], m["content"]) for m in todo])
            counts = [
                {"tn": m["tenant_id"], "pk": m["session_pk"], "sq": m["seq"], "tc": n}
                for m, n in zip(todo, numbers, strict=True)
            ]
        ts = clock.now()
        follow_ups: list[dict[str, object]] = []
        with self.db.write() as conn:
            present = _lock_sessions(conn, {job.session_pk for job in jobs})
            live = [m for m in live if m["session_pk"] in present]  # purged since they were read
            counts = [c for c in counts if c["pk"] in present]
            if counts:
                conn.execute(
                    sa.update(messages)
                    .where(
                        messages.c.tenant_id == sa.bindparam("tn"),
                        messages.c.session_pk == sa.bindparam("pk"),
                        messages.c.seq == sa.bindparam("sq"),
                        # A count the client sent is kept (it may be for another tokenizer).
                        messages.c.token_count == 0,
                    )
                    .values(token_count=sa.bindparam("tc")),
                    counts,
                )
            for (tenant_id, session_pk), seqs in _by_session(live).items():
                if self.embedder is not None:
                    follow_ups.append(
                        job_row(tenant_id, session_pk, Kind.EMBED_MESSAGES, min(seqs), max(seqs), ts)
                    )
                if self.summarizer is not None and not _queued(conn, tenant_id, session_pk, Kind.SUMMARIZE):
                    follow_ups.append(
                        job_row(tenant_id, session_pk, Kind.SUMMARIZE, min(seqs), max(seqs), ts)
                    )
            queue.enqueue(conn, follow_ups)
            queue.complete(conn, jobs)

    # --- message embeddings -----------------------------------------------------------------------------

    def embed_messages(self, jobs: Sequence[Job]) -> None:
        embedder = self.embedder
        if embedder is None:  # switched off after the job was queued
            with self.db.write() as conn:
                queue.complete(conn, jobs)
            return
        model = embedder.model
        todo = [
            m
            for m in _live_messages(self.db, jobs, embedded_model=True)
            if m["content"].strip() and m["embedded_model"] != model
        ]
        rows = self._vectors(embedder, [m["content"] for m in todo])
        ts = clock.now()
        with self.db.write() as conn:
            floors = floors_for_new_vectors(conn, {m["session_pk"] for m in todo})
            values = [
                {
                    "tenant_id": m["tenant_id"],
                    "session_pk": m["session_pk"],
                    "seq": m["seq"],
                    "created_at": ts,
                    **row,
                }
                for m, row in zip(todo, rows, strict=True)
                if m["session_pk"] in floors and m["seq"] > floors[m["session_pk"]]
            ]
            upsert_vectors(self.db, conn, message_embeddings, ["tenant_id", "session_pk", "seq"], values)
            queue.complete(conn, jobs)
        EMBEDDINGS.labels("message").inc(len(values))

    def _vectors(self, embedder: Embedder, texts: list[str]) -> list[dict[str, Any]]:
        if not texts:
            return []
        got = embedder.embed(texts)
        expected = self.settings.embeddings_dimensions
        rows = []
        for vector in got:
            width = vectors.dimensions(vector)
            if expected is not None and width != expected:
                raise DimensionMismatchError(
                    f"{embedder.model} returned {width}-d vectors; CHATMEM_EMBEDDINGS_DIMENSIONS={expected}"
                )
            rows.append({"model": embedder.model, "dimensions": width, "vector": vectors.pack(vector)})
        return rows

    # --- progressive summaries ----------------------------------------------------------------------

    def summarize(self, jobs: Sequence[Job]) -> None:
        """Fold each job's session until it is up to date, or until the job has had its time
        (CHATMEM_ENRICH_JOB_SECONDS): then the rest goes to a new job at the back of the queue, so one
        long backlog cannot hold the worker while other sessions wait."""
        deadline = time.monotonic() + self.settings.enrich_job_seconds
        for job in jobs:
            unfinished = False
            if self.summarizer is not None:
                while self._fold_once(job.tenant_id, job.session_pk):
                    if time.monotonic() > deadline:
                        unfinished = True
                        break
            with self.db.write() as conn:
                if unfinished:
                    ts = clock.now()
                    queue.enqueue(
                        conn,
                        [job_row(job.tenant_id, job.session_pk, Kind.SUMMARIZE, job.seq_lo, job.seq_hi, ts)],
                    )
                queue.complete(conn, [job])

    def _fold_once(self, tenant_id: int, session_pk: int) -> bool:
        """Fold the oldest unsummarized messages into a new summary if a window's worth is waiting.

        Zep 0.27.2's rule: with at least ``window`` non-blank messages after the summary point,
        fold all but the newest ``window // 2``. Unlike Zep this reads every waiting message, not only the
        newest ``window``, so a large batch is summarized completely (in chunks of MAX_FOLD messages and
        at most CHATMEM_SUMMARIZER_MAX_CHARS characters: one fold reads a bounded amount whatever the
        messages hold). The messages' stored vectors of the current model go to the summarizer with them.
        Returns True when it wrote a summary (the caller then looks again).
        """
        summarizer = self.summarizer
        assert summarizer is not None
        window = self.settings.message_window
        max_chars = self.settings.summarizer_max_chars
        with self.db.read() as conn:
            session = live_session(conn, session_pk)
            if session is None:
                return False
            floor = session.floor_seq
            previous = latest_summary(conn, tenant_id, session_pk, floor)
            base = previous["point_seq"] if previous else floor
            waiting = conn.execute(
                sa.select(
                    messages.c.seq,
                    messages.c.uuid,
                    messages.c.role,
                    sa.func.substr(messages.c.content, 1, max_chars).label("content"),
                    message_embeddings.c.model,
                    message_embeddings.c.vector,
                )
                .select_from(messages.outerjoin(message_embeddings, _its_embedding))
                .where(
                    messages.c.tenant_id == tenant_id,
                    messages.c.session_pk == session_pk,
                    messages.c.seq > max(base, floor),
                )
                .order_by(messages.c.seq)
                .limit(MAX_FOLD + window)
            ).all()
        more = len(waiting) == MAX_FOLD + window
        nonblank = [m for m in waiting if m.content.strip()]
        if more:
            fold = nonblank[:MAX_FOLD]
        elif len(nonblank) >= window:
            fold = nonblank[: len(nonblank) - window // 2]
        else:
            return False
        fold = _within_chars(fold, max_chars)
        model = self.embedder.model if self.embedder is not None else None
        content = summarizer.summarize(
            previous["content"] if previous else "",
            [f"{m.role}: {m.content}" for m in fold],
            [vectors.unpack(m.vector) if m.model == model and model else None for m in fold],
        )
        point = fold[-1]
        ts = clock.now()
        with self.db.write() as conn:
            floors = _locked_floors(conn, {session_pk})
            if session_pk not in floors or floors[session_pk] >= point.seq:
                return False  # deleted meanwhile
            current = latest_summary(conn, tenant_id, session_pk, floors[session_pk])
            if (current["point_seq"] if current else floors[session_pk]) != base:
                return True  # another worker summarized first: start again from its summary
            conn.execute(
                sa.insert(summaries).values(
                    tenant_id=tenant_id,
                    session_pk=session_pk,
                    point_seq=point.seq,
                    uuid=uuid.uuid4(),
                    recent_message_uuid=point.uuid,
                    content=content,
                    token_count=tokens.count_text(content) if self.settings.token_counts else 0,
                    created_at=ts,
                )
            )
            if self.embedder is not None and self.settings.embed_summaries:
                queue.enqueue(
                    conn, [job_row(tenant_id, session_pk, Kind.EMBED_SUMMARY, point.seq, point.seq, ts)]
                )
        SUMMARIES.inc()
        return True

    # --- summary embeddings ---------------------------------------------------------------------------

    def embed_summary(self, jobs: Sequence[Job]) -> None:
        embedder = self.embedder
        todo: list[Any] = []
        if embedder is not None:
            with self.db.read() as conn:
                for job in jobs:
                    row = conn.execute(
                        sa.select(
                            summaries.c.tenant_id,
                            summaries.c.session_pk,
                            summaries.c.point_seq,
                            summaries.c.content,
                        )
                        .select_from(summaries.join(sessions, _its_session(summaries)))
                        .where(
                            summaries.c.tenant_id == job.tenant_id,
                            summaries.c.session_pk == job.session_pk,
                            summaries.c.point_seq == job.seq_lo,
                            live(summaries.c.point_seq),
                        )
                    ).first()
                    if row is not None and row.content.strip():
                        todo.append(row)
        rows = self._vectors(embedder, [r.content for r in todo]) if embedder is not None else []
        ts = clock.now()
        with self.db.write() as conn:
            floors = floors_for_new_vectors(conn, {r.session_pk for r in todo})
            values = [
                {
                    "tenant_id": r.tenant_id,
                    "session_pk": r.session_pk,
                    "point_seq": r.point_seq,
                    "created_at": ts,
                    **row,
                }
                for r, row in zip(todo, rows, strict=True)
                if r.session_pk in floors and r.point_seq > floors[r.session_pk]
            ]
            upsert_vectors(
                self.db, conn, summary_embeddings, ["tenant_id", "session_pk", "point_seq"], values
            )
            queue.complete(conn, jobs)
        EMBEDDINGS.labels("summary").inc(len(values))


_its_embedding = sa.and_(
    message_embeddings.c.tenant_id == messages.c.tenant_id,
    message_embeddings.c.session_pk == messages.c.session_pk,
    message_embeddings.c.seq == messages.c.seq,
)


def _its_session(table: sa.Table) -> sa.ColumnElement[bool]:
    """The join of a row below a session to its session (the tenant leads both keys)."""
    return sa.and_(sessions.c.tenant_id == table.c.tenant_id, sessions.c.id == table.c.session_pk)


def _within_chars(fold: list[Any], max_chars: int) -> list[Any]:
    """The leading messages of ``fold`` whose contents add up to at most ``max_chars`` (at least one)."""
    total = 0
    for count, message in enumerate(fold):
        total += len(message.content)
        if total > max_chars and count:
            return fold[:count]
    return fold


def _live_messages(db: Database, jobs: Sequence[Job], *, embedded_model: bool = False) -> list[Any]:
    """The live messages the jobs cover, one indexed range query per job."""
    columns: list[Any] = [
        messages.c.tenant_id,
        messages.c.session_pk,
        messages.c.seq,
        messages.c.role,
        messages.c.content,
        messages.c.token_count,
    ]
    source: Any = messages.join(sessions, _its_session(messages))
    if embedded_model:
        columns.append(message_embeddings.c.model.label("embedded_model"))
        source = source.outerjoin(message_embeddings, _its_embedding)
    found: list[Any] = []
    with db.read() as conn:
        for job in jobs:
            query = (
                sa.select(*columns)
                .select_from(source)
                .where(
                    messages.c.tenant_id == job.tenant_id,
                    messages.c.session_pk == job.session_pk,
                    messages.c.seq.between(job.seq_lo, job.seq_hi),
                    live(messages.c.seq),
                )
                .order_by(messages.c.seq)
            )
            found.extend(conn.execute(query).mappings())
    return found


def _by_session(rows: Sequence[Any]) -> dict[tuple[int, int], list[int]]:
    """The rows' seqs by (tenant_id, session_pk)."""
    grouped: dict[tuple[int, int], list[int]] = {}
    for row in rows:
        grouped.setdefault((row["tenant_id"], row["session_pk"]), []).append(row["seq"])
    return grouped


def _queued(conn: sa.Connection, tenant_id: int, session_pk: int, kind: Kind) -> bool:
    """A job of this kind is already waiting (not yet claimed) for the session, so one more is useless."""
    return (
        conn.execute(
            sa.select(enrich_jobs.c.id)
            .where(
                enrich_jobs.c.tenant_id == tenant_id,
                enrich_jobs.c.session_pk == session_pk,
                enrich_jobs.c.kind == kind.value,
                enrich_jobs.c.state == State.QUEUED.value,
            )
            .limit(1)
        ).first()
        is not None
    )


def _lock_sessions(conn: sa.Connection, session_pks: set[int]) -> set[int]:
    """Those of the sessions that still exist (the purge may have removed some since their messages were
    read), key-share locked in id order before the transaction touches their messages or jobs.

    Every transaction that writes a session's rows takes the session row first (appends upsert it, the
    purge selects it FOR UPDATE, in id order): taking it last, through the foreign key of a job insert,
    is what let ingest and the purge deadlock on PostgreSQL. (SQLite has one writer: no lock needed.)
    """
    if not session_pks:
        return set()
    query = sa.select(sessions.c.id).where(sessions.c.id.in_(sorted(session_pks))).order_by(sessions.c.id)
    if conn.dialect.name != "sqlite":
        query = query.with_for_update(read=True, key_share=True)  # FOR KEY SHARE: appends go on
    return set(conn.execute(query).scalars())


def _locked_floors(conn: sa.Connection, session_pks: set[int]) -> dict[int, int]:
    """floor_seq of those sessions that are still live, share-locked against a concurrent delete/purge."""
    floors = {}
    for session_pk in sorted(session_pks):
        row = live_session(conn, session_pk, lock=True)
        if row is not None:
            floors[session_pk] = row.floor_seq
    return floors


def floors_for_new_vectors(conn: sa.Connection, session_pks: set[int]) -> dict[int, int]:
    """floor_seq of those sessions that are still live, each row locked and its ``vectors_version``
    bumped: the search's in-memory copy of the session's vectors is reloaded after this commits."""
    floors = {}
    for session_pk in sorted(session_pks):
        floor = conn.execute(
            sa.update(sessions)
            .where(sessions.c.id == session_pk, LIVE_SESSION)
            .values(vectors_version=sessions.c.vectors_version + 1)
            .returning(sessions.c.floor_seq)
        ).scalar()
        if floor is not None:
            floors[session_pk] = floor
    return floors


def upsert_vectors(
    db: Database, conn: sa.Connection, table: sa.Table, keys: list[str], values: list[dict[str, Any]]
) -> None:
    """Insert vectors, replacing those of another model (a re-embed after a model or dimension change)."""
    if not values:
        return
    insert = db.insert(table)
    conn.execute(
        insert.on_conflict_do_update(
            index_elements=[table.c[k] for k in keys],
            set_={c: insert.excluded[c] for c in ("model", "dimensions", "vector", "created_at")},
        ),
        values,
    )
