"""Vector ranking by inner product (cosine similarity for the normalized vectors both providers give).

Three ways, one answer:
- Exact from memory: each session's float32 vectors kept as one matrix (``vector_cache``) and scored
  with NumPy. Every scope without pgvector (SQLite, a PostgreSQL without the extension), and scopes of
  at most ``search_exact_max_rows`` messages with it, where it beats pgvector's exact scan of the same
  rows (docs/search.md has the figures).
- PostgreSQL with pgvector, larger scope and an indexed width: the HNSW index proposes ``ef_search``
  nearest vectors of the whole table; those in scope and passing the filters are kept. If fewer than
  ``limit`` survive (a small user among many, a narrow filter), the exact query below answers instead,
  so a filter never silently shrinks the result.
- PostgreSQL with pgvector, larger scope otherwise: exact in SQL, ``ORDER BY embedding <#> q`` over the
  scope's rows (read through the primary key, which leads with the session).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from threadpoolctl import threadpool_limits

from chatmem.search.targets import HNSW_DIMENSIONS, LiveScope, PgVector, Target, with_keys
from chatmem.search.vector_cache import Block, FloatArray, KeyArray, VectorCache

Key = tuple[int, int]
Ranked = list[tuple[Key, float]]
_NO_KEYS: KeyArray = np.empty(0, dtype=np.int64)


def single_threaded_blas() -> None:
    """Score with one BLAS thread, process-wide. A matrix-vector product is bound by memory bandwidth,
    not arithmetic, and OpenBLAS's idle threads keep spinning on the cores torch then needs to embed
    the next query (docs/search.md has the figures)."""
    threadpool_limits(limits=1, user_api="blas")


def as_array(vector: Sequence[float] | Any) -> FloatArray:
    return np.asarray(vector, dtype=np.float32).reshape(-1)


def pg_literal(vector: FloatArray) -> str:
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


def pg_vector_param(vector: FloatArray, dims: int | None = None) -> Any:
    """The query vector as ``(SELECT CAST(:text AS vector))``: an InitPlan, converted once per query.

    A bare ``CAST(:text AS vector)`` is converted once per row once psycopg prepares the statement
    (after 5 runs) and PostgreSQL switches to a generic plan, which made an exact scan many times slower
    (docs/search.md). The HNSW index accepts the InitPlan's value as its ORDER BY operand.
    """
    return sa.select(sa.cast(sa.literal(pg_literal(vector), sa.Text), PgVector(dims))).scalar_subquery()


def rank(
    conn: sa.Connection,
    target: Target,
    scope: LiveScope,
    query_vector: FloatArray,
    model: str,
    where: list[sa.ColumnElement[bool]],
    limit: int,
    *,
    pgvector: bool,
    exact_max_rows: int,
    ef_search: int,
    cache: VectorCache,
) -> Ranked:
    dims = int(query_vector.shape[0])
    if not pgvector or scope.size <= exact_max_rows:
        return _exact(conn, target, scope, query_vector, model, where, limit, cache)
    if dims in HNSW_DIMENSIONS and limit <= ef_search:
        found = _hnsw(conn, target, scope, query_vector, model, where, limit, ef_search)
        if len(found) >= limit:
            return found
    return _pg_exact(conn, target, scope, query_vector, model, where, limit)


def _joined_to_target(target: Target, source: Any, pk: Any, key: Any, where: list[Any]) -> Any:
    """Filters are on the searchable table's columns; join it only when there are filters."""
    if not where:
        return source
    return source.join(
        target.table,
        sa.and_(
            target.table.c.tenant_id == source.c.tenant_id,
            target.table.c.session_pk == pk,
            target.key_column == key,
        ),
    )


def _exact(
    conn: sa.Connection,
    target: Target,
    scope: LiveScope,
    query_vector: FloatArray,
    model: str,
    where: list[sa.ColumnElement[bool]],
    limit: int,
    cache: VectorCache,
) -> Ranked:
    dims = int(query_vector.shape[0])
    allowed = _matching_keys(conn, target, scope, where) if where else None
    pks: list[KeyArray] = []
    keys: list[KeyArray] = []
    scores: list[FloatArray] = []
    blocks = cache.blocks(conn, target, scope.within.tenant_id, scope.sessions, model, dims)
    for session, stored in zip(scope.sessions, blocks, strict=True):
        block = stored.above(session.floor_seq)
        if allowed is not None:
            keep = np.isin(block.keys, allowed.get(session.pk, _NO_KEYS), assume_unique=True)
            block = Block(block.keys[keep], block.matrix[keep])
        if len(block.keys):
            pks.append(np.full(len(block.keys), session.pk, dtype=np.int64))
            keys.append(block.keys)
            scores.append(block.matrix @ query_vector)
    if not scores:
        return []
    all_pks, all_keys, all_scores = np.concatenate(pks), np.concatenate(keys), np.concatenate(scores)
    count = min(limit, len(all_scores))
    best = np.argpartition(-all_scores, count - 1)[:count]
    # Best score first; among equal scores the newest row, as the PostgreSQL queries order them.
    best = best[np.lexsort((-all_keys[best], -all_scores[best]))]
    return [((int(all_pks[i]), int(all_keys[i])), float(all_scores[i])) for i in best]


def _matching_keys(
    conn: sa.Connection, target: Target, scope: LiveScope, where: list[sa.ColumnElement[bool]]
) -> dict[int, KeyArray]:
    """Per session, the keys of the live rows in scope that pass the metadata filters."""
    table = target.table
    query = sa.select(table.c.session_pk, target.key_column).where(*where)
    rows = conn.execute(scope.restrict(query, table, table.c.session_pk, target.key_column)).all()
    grouped: dict[int, list[int]] = {}
    for pk, key in rows:
        grouped.setdefault(pk, []).append(key)
    return {pk: np.asarray(found, dtype=np.int64) for pk, found in grouped.items()}


def _pg_exact(
    conn: sa.Connection,
    target: Target,
    scope: LiveScope,
    query_vector: FloatArray,
    model: str,
    where: list[sa.ColumnElement[bool]],
    limit: int,
) -> Ranked:
    vec = target.vectors
    pk, key = vec.c.session_pk, vec.c[target.key]
    distance = vec.c.embedding.op("<#>")(pg_vector_param(query_vector))
    query = (
        sa.select(pk, key, distance.label("distance"))
        .select_from(_joined_to_target(target, vec, pk, key, where))
        .where(vec.c.model == model, vec.c.dims == int(query_vector.shape[0]), *where)
    )
    query = scope.restrict(query, vec, pk, key).order_by(distance, key.desc()).limit(limit)
    # <#> is the negated inner product.
    return [((row[0], row[1]), -float(row[2])) for row in conn.execute(query)]


def hnsw_query(
    target: Target,
    scope: LiveScope,
    query_vector: FloatArray,
    model: str,
    where: list[sa.ColumnElement[bool]],
    limit: int,
    ef_search: int,
) -> sa.Select[Any]:
    """Nearest ``ef_search`` vectors of the whole table by the HNSW index, then scope and filters."""
    dims = int(query_vector.shape[0])
    vec = target.vectors
    distance = sa.cast(vec.c.embedding, PgVector(dims)).op("<#>")(pg_vector_param(query_vector, dims))
    # The width is a literal, not a parameter: the planner must see that the partial index applies.
    nearest = (
        sa.select(
            vec.c.tenant_id, vec.c.session_pk, vec.c[target.key], vec.c.model, distance.label("distance")
        )
        .where(vec.c.dims == sa.literal_column(str(dims)))
        .order_by(distance)
        .limit(ef_search)
        .subquery("nearest")
    )
    pk, key = nearest.c.session_pk, nearest.c[target.key]
    query = (
        sa.select(pk, key, nearest.c.distance)
        .select_from(_joined_to_target(target, nearest, pk, key, where))
        .where(nearest.c.model == model, *where)
    )
    return scope.restrict(query, nearest, pk, key).order_by(nearest.c.distance, key.desc()).limit(limit)


def _hnsw(
    conn: sa.Connection,
    target: Target,
    scope: LiveScope,
    query_vector: FloatArray,
    model: str,
    where: list[sa.ColumnElement[bool]],
    limit: int,
    ef_search: int,
) -> Ranked:
    query = hnsw_query(target, scope, query_vector, model, where, limit, ef_search)
    conn.exec_driver_sql(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
    return [((row[0], row[1]), -float(row[2])) for row in conn.execute(query)]


def fetch(
    conn: sa.Connection, target: Target, tenant_id: int, keys: Sequence[Key], model: str
) -> dict[Key, FloatArray]:
    """The stored vectors of these rows (for MMR and for the ``embedding`` of its results)."""
    if not keys:
        return {}
    emb = target.embeddings
    rows = conn.execute(
        sa.select(emb.c.session_pk, target.embedding_key, emb.c.vector).where(
            emb.c.tenant_id == tenant_id,
            with_keys(emb.c.session_pk, target.embedding_key, keys),
            emb.c.model == model,
        )
    ).all()
    return {(row[0], row[1]): np.frombuffer(row[2], dtype="<f4") for row in rows}
