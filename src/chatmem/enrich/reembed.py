"""``chatmem reembed``: give every live message and summary a vector of the configured model.

Vectors are stored one per row with their model's name (an upsert replaces the old model's), and
searches compare only vectors of the model that embedded the query, so after a model change the rows
not re-embedded yet are simply absent from vector ranking (text and hybrid search still find them),
never ranked with another model's vectors. This fills the gap.

Resumable by construction: what is left is always "live rows without a vector of this model", read
again in key order; each batch is committed on its own, so an interrupted run loses at most a batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from chatmem.base import clock
from chatmem.embeddings import Embedder
from chatmem.enrich import queue, vectors
from chatmem.enrich.jobs import floors_for_new_vectors, upsert_vectors
from chatmem.store import Database
from chatmem.store.embedded import EMBEDDED_MESSAGES, EMBEDDED_SUMMARIES, Embedded
from chatmem.store.jobs import Kind, job_row
from chatmem.store.tables import sessions

BATCH = 256
# Rows per queued job: a job is embedded and committed as one batch by a worker.
ROWS_PER_JOB = 256


TARGETS = {"messages": EMBEDDED_MESSAGES, "summaries": EMBEDDED_SUMMARIES}


@dataclass(frozen=True, slots=True)
class Row:
    tenant_id: int
    session_pk: int
    key: int
    content: str


def _missing(target: Embedded, model: str) -> Any:
    """Live, non-blank rows without a vector of ``model`` (none at all, or another model's)."""
    table, emb = target.table, target.embeddings
    joined = table.join(
        sessions, sa.and_(sessions.c.tenant_id == table.c.tenant_id, sessions.c.id == table.c.session_pk)
    ).outerjoin(
        emb,
        sa.and_(
            emb.c.tenant_id == table.c.tenant_id,
            emb.c.session_pk == table.c.session_pk,
            target.embedding_key == target.key_column,
            emb.c.model == model,
        ),
    )
    return (
        sa.select(table.c.tenant_id, table.c.session_pk, target.key_column, table.c.content)
        .select_from(joined)
        .where(
            sessions.c.deleted_at.is_(None),
            target.key_column > sessions.c.floor_seq,
            emb.c.session_pk.is_(None),
            sa.func.trim(table.c.content) != "",
        )
    )


def count_missing(db: Database, model: str) -> dict[str, int]:
    with db.read() as conn:
        return {
            scope: conn.execute(
                sa.select(sa.func.count()).select_from(_missing(target, model).subquery())
            ).scalar_one()
            for scope, target in TARGETS.items()
        }


def _batches(db: Database, target: Embedded, model: str) -> Iterator[list[Row]]:
    after: tuple[int, int, int] | None = None
    table = target.table
    while True:
        query = _missing(target, model)
        if after is not None:  # in key order: (tenant_id, session_pk, key), the primary key's
            query = query.where(
                sa.or_(
                    table.c.tenant_id > after[0],
                    sa.and_(table.c.tenant_id == after[0], table.c.session_pk > after[1]),
                    sa.and_(
                        table.c.tenant_id == after[0],
                        table.c.session_pk == after[1],
                        target.key_column > after[2],
                    ),
                )
            )
        query = query.order_by(table.c.tenant_id, table.c.session_pk, target.key_column).limit(BATCH)
        with db.read() as conn:
            rows = [Row(*row) for row in conn.execute(query)]
        if not rows:
            return
        yield rows
        after = (rows[-1].tenant_id, rows[-1].session_pk, rows[-1].key)


def reembed(db: Database, embedder: Embedder, progress: Callable[[int], None] = lambda _n: None) -> int:
    """Embed and store every missing vector now; ``progress`` is told each batch's size."""
    done = 0
    for target in TARGETS.values():
        for rows in _batches(db, target, embedder.model):
            got = embedder.embed([row.content for row in rows])
            ts = clock.now()
            with db.write() as conn:
                floors = floors_for_new_vectors(conn, {row.session_pk for row in rows})
                values = [
                    {
                        "tenant_id": row.tenant_id,
                        "session_pk": row.session_pk,
                        target.key: row.key,
                        "model": embedder.model,
                        "dimensions": vectors.dimensions(vector),
                        "vector": vectors.pack(vector),
                        "created_at": ts,
                    }
                    for row, vector in zip(rows, got, strict=True)
                    if row.session_pk in floors and row.key > floors[row.session_pk]
                ]
                upsert_vectors(db, conn, target.embeddings, ["tenant_id", "session_pk", target.key], values)
            done += len(rows)
            progress(len(rows))
    return done


def enqueue(db: Database, model: str) -> int:
    """Queue the same work as jobs for the workers (``embed_messages`` per run of up to ROWS_PER_JOB
    messages of a session, ``embed_summary`` per summary). Returns the number of jobs queued."""
    jobs: list[dict[str, object]] = []
    ts = clock.now()
    for rows in _batches(db, EMBEDDED_SUMMARIES, model):
        jobs.extend(job_row(r.tenant_id, r.session_pk, Kind.EMBED_SUMMARY, r.key, r.key, ts) for r in rows)
    for rows in _batches(db, EMBEDDED_MESSAGES, model):
        for first, run in _runs(rows):
            jobs.append(job_row(first.tenant_id, first.session_pk, Kind.EMBED_MESSAGES, run[0], run[-1], ts))
    with db.write() as conn:
        for start in range(0, len(jobs), 500):
            queue.enqueue(conn, jobs[start : start + 500])
    return len(jobs)


def _runs(rows: list[Row]) -> Iterator[tuple[Row, list[int]]]:
    """Each session's keys in runs of at most ROWS_PER_JOB, with the run's first row."""
    current: tuple[Row, list[int]] | None = None
    for row in rows:
        if current is None or current[0].session_pk != row.session_pk or len(current[1]) >= ROWS_PER_JOB:
            if current is not None:
                yield current
            current = (row, [])
        current[1].append(row.key)
    if current is not None:
        yield current
