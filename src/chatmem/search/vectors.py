"""Vector ranking by inner product (cosine similarity for the normalized vectors both providers give).

Three ways, one answer:
- PostgreSQL with pgvector, large scope (more than ``search_exact_max_rows`` messages) and an indexed
  width: the HNSW index proposes ``ef_search`` nearest vectors of the whole table; those in scope and
  passing the filters are kept. If fewer than ``limit`` survive (a small user among many, a narrow
  filter), the exact query below answers instead, so a filter never silently shrinks the result.
- PostgreSQL with pgvector otherwise: exact, ``ORDER BY embedding <#> q`` over the scope's rows
  (read through the primary key, which leads with the session).
- No pgvector (SQLite, or a PostgreSQL without the extension): exact, the scope's float32 vectors are
  read and scored with NumPy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa

from chatmem.search.targets import HNSW_DIMENSIONS, LiveScope, PgVector, Target

Key = tuple[int, int]
Ranked = list[tuple[Key, float]]
FloatArray = np.ndarray[Any, np.dtype[np.float32]]


def as_array(vector: Sequence[float] | Any) -> FloatArray:
    return np.asarray(vector, dtype=np.float32).reshape(-1)


def pg_literal(vector: FloatArray) -> str:
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


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
) -> Ranked:
    dims = int(query_vector.shape[0])
    if not pgvector:
        return _numpy(conn, target, scope, query_vector, model, where, limit)
    if scope.size > exact_max_rows and dims in HNSW_DIMENSIONS and limit <= ef_search:
        found = _hnsw(conn, target, scope, query_vector, model, where, limit, ef_search)
        if len(found) >= limit:
            return found
    return _pg_exact(conn, target, scope, query_vector, model, where, limit)


def _joined_to_target(target: Target, source: Any, pk: Any, key: Any, where: list[Any]) -> Any:
    """Filters are on the searchable table's columns; join it only when there are filters."""
    if not where:
        return source
    return source.join(target.table, sa.and_(target.table.c.session_pk == pk, target.key_column == key))


def _numpy(
    conn: sa.Connection,
    target: Target,
    scope: LiveScope,
    query_vector: FloatArray,
    model: str,
    where: list[sa.ColumnElement[bool]],
    limit: int,
) -> Ranked:
    emb = target.embeddings
    pk, key = emb.c.session_pk, target.embedding_key
    query = (
        sa.select(pk, key, emb.c.vector)
        .select_from(_joined_to_target(target, emb, pk, key, where))
        .where(emb.c.model == model, emb.c.dimensions == int(query_vector.shape[0]), *where)
    )
    rows = conn.execute(scope.restrict(query, emb, pk, key)).all()
    if not rows:
        return []
    matrix = np.frombuffer(b"".join(row[2] for row in rows), dtype="<f4").reshape(len(rows), -1)
    scores = matrix @ query_vector
    count = min(limit, len(rows))
    best = np.argpartition(-scores, count - 1)[:count]
    best = best[np.argsort(-scores[best], kind="stable")]
    return [((rows[i][0], rows[i][1]), float(scores[i])) for i in best]


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
    distance = vec.c.embedding.op("<#>")(sa.cast(sa.literal(pg_literal(query_vector), sa.Text), PgVector()))
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
    distance = sa.cast(vec.c.embedding, PgVector(dims)).op("<#>")(
        sa.cast(sa.literal(pg_literal(query_vector), sa.Text), PgVector(dims))
    )
    # The width is a literal, not a parameter: the planner must see that the partial index applies.
    nearest = (
        sa.select(vec.c.session_pk, vec.c[target.key], vec.c.model, distance.label("distance"))
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


def fetch(conn: sa.Connection, target: Target, keys: Sequence[Key], model: str) -> dict[Key, FloatArray]:
    """The stored vectors of these rows (for MMR and for the ``embedding`` of its results)."""
    if not keys:
        return {}
    emb = target.embeddings
    rows = conn.execute(
        sa.select(emb.c.session_pk, target.embedding_key, emb.c.vector).where(
            sa.tuple_(emb.c.session_pk, target.embedding_key).in_(list(keys)), emb.c.model == model
        )
    ).all()
    return {(row[0], row[1]): np.frombuffer(row[2], dtype="<f4") for row in rows}
