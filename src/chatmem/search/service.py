"""Searching a session's, or a user's, messages or summaries: the one entry point for REST and benches.

The query text is embedded before the database is touched (a model call must not hold a connection);
everything else runs in one read transaction, so a search sees one consistent snapshot.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa

from chatmem.base.errors import BadRequestError
from chatmem.config import Settings
from chatmem.enrich.embedders import Embedder, LocalEmbedder, make_embedder
from chatmem.search import filters, fulltext, ranking, vectors
from chatmem.search.query import Scope, SearchQuery, SearchType
from chatmem.search.targets import TARGETS, LiveScope, Target, Within, resolve, with_keys
from chatmem.search.vector_cache import FloatArray, VectorCache
from chatmem.store import Database
from chatmem.store.records import MESSAGE_COLUMNS, SUMMARY_COLUMNS, MessageRecord, SummaryRecord
from chatmem.store.tables import messages, sessions

log = logging.getLogger("chatmem.search")

Key = tuple[int, int]
Ranked = list[tuple[Key, float]]


@dataclass(frozen=True, slots=True)
class Hit:
    session_id: str
    dist: float
    message: MessageRecord | None = None
    summary: SummaryRecord | None = None
    embedding: list[float] | None = None


class Searcher:
    """Search over one database with the configured message embedder (loaded on first use)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        embedder_factory: Callable[[Settings], Embedder | None] = make_embedder,
    ) -> None:
        self.db = db
        self.settings = settings
        self._embedder_factory = embedder_factory
        self._lock = threading.Lock()
        self.vector_cache = VectorCache(settings.search_cache_mb * 2**20)

    @functools.cached_property
    def embedder(self) -> Embedder | None:
        with self._lock:
            return self._embedder_factory(self.settings)

    def preload(self) -> None:
        """Load the local model in a background thread, so the first search does not wait seconds."""
        threading.Thread(target=self._load_model, name="chatmem-preload", daemon=True).start()

    def _load_model(self) -> None:
        try:
            embedder = self.embedder
            if isinstance(embedder, LocalEmbedder):
                embedder.load()
        except Exception:  # the first search reports it again, with a clear error
            log.exception("loading the embedding model failed")

    @functools.cached_property
    def pgvector(self) -> bool:
        """Whether migration 0003 found pgvector on this PostgreSQL server (and made its tables)."""
        if self.db.is_sqlite:
            return False
        with self.db.read() as conn:
            return bool(conn.exec_driver_sql("SELECT to_regclass('message_vectors') IS NOT NULL").scalar())

    def search_session(self, tenant_id: int, session_id: str, query: SearchQuery) -> list[Hit]:
        return self._search(Within(tenant_id, session_id=session_id), query)

    def search_user(self, tenant_id: int, user_id: str, query: SearchQuery) -> list[Hit]:
        return self._search(Within(tenant_id, user_id=user_id), query)

    def _query_vector(self, query: SearchQuery) -> tuple[FloatArray, str] | None:
        if not query.text or query.type is SearchType.TEXT:
            return None
        embedder = self.embedder
        if embedder is None:
            if query.type is SearchType.HYBRID:
                return None  # hybrid degrades to keyword search
            raise BadRequestError(
                f"{query.type.value} search needs embeddings, which are off on this server "
                "(CHATMEM_EMBEDDINGS); use search_type text or hybrid"
            )
        (vector,) = embedder.embed([query.text])
        return vectors.as_array(vector), embedder.model

    def _search(self, within: Within, query: SearchQuery) -> list[Hit]:
        embedded = self._query_vector(query)
        target = TARGETS[query.scope]
        with self.db.read() as conn:
            scope = resolve(conn, within)
            if scope is None:
                return []
            filters.prepare(conn)
            where = filters.conditions(query.filters, target.table, conn.dialect.name)
            wanted: dict[Key, FloatArray] = {}
            if not query.text:
                ranked = _newest(conn, target, scope, where, query.limit)
            elif query.type is SearchType.TEXT:
                ranked = fulltext.rank(conn, target, scope, query.text, where, query.limit)
            elif query.type is SearchType.HYBRID:
                ranked = self._hybrid(conn, target, scope, query, where, embedded)
            else:
                assert embedded is not None
                vector, model = embedded
                depth = max(2 * query.limit, 10) if query.type is SearchType.MMR else query.limit
                ranked = self._vector(conn, target, scope, vector, model, where, depth)
                if query.type is SearchType.MMR:
                    ranked, wanted = _mmr(conn, target, ranked, vector, model, query)
            return _hydrate(conn, target, ranked, wanted)

    def _vector(
        self,
        conn: sa.Connection,
        target: Target,
        scope: LiveScope,
        vector: FloatArray,
        model: str,
        where: list[sa.ColumnElement[bool]],
        limit: int,
    ) -> Ranked:
        return vectors.rank(
            conn,
            target,
            scope,
            vector,
            model,
            where,
            limit,
            pgvector=self.pgvector,
            exact_max_rows=self.settings.search_exact_max_rows,
            ef_search=self.settings.search_hnsw_ef_search,
            cache=self.vector_cache,
        )

    def _hybrid(
        self,
        conn: sa.Connection,
        target: Target,
        scope: LiveScope,
        query: SearchQuery,
        where: list[sa.ColumnElement[bool]],
        embedded: tuple[FloatArray, str] | None,
    ) -> Ranked:
        depth = max(self.settings.search_candidates, query.limit)
        semantic: Ranked = []
        if embedded is not None:
            semantic = self._vector(conn, target, scope, embedded[0], embedded[1], where, depth)
        # Rows not embedded yet (or ever) still come in through the keyword list.
        keyword = fulltext.rank(conn, target, scope, query.text, where, depth)
        if self.settings.search_fusion == "rrf":
            lists = [ranked for ranked in (semantic, keyword) if ranked]
            return ranking.reciprocal_rank_fusion(lists, k=self.settings.search_rrf_k, limit=query.limit)
        return ranking.convex_fusion(
            semantic, keyword, alpha=self.settings.search_hybrid_alpha, limit=query.limit
        )


def _newest(
    conn: sa.Connection, target: Target, scope: LiveScope, where: list[sa.ColumnElement[bool]], limit: int
) -> Ranked:
    """A metadata-only search: the newest matching rows (Zep: ``dist`` 0, ``created_at DESC``)."""
    table = target.table
    query: Any = sa.select(table.c.session_pk, target.key_column).where(*where)
    query = scope.restrict(query, table, table.c.session_pk, target.key_column)
    query = query.order_by(table.c.created_at.desc(), target.key_column.desc()).limit(limit)
    return [((row[0], row[1]), 0.0) for row in conn.execute(query)]


def _mmr(
    conn: sa.Connection,
    target: Target,
    ranked: Ranked,
    vector: FloatArray,
    model: str,
    query: SearchQuery,
) -> tuple[Ranked, dict[Key, FloatArray]]:
    stored = vectors.fetch(conn, target, [key for key, _ in ranked], model)
    candidates = [(key, score) for key, score in ranked if key in stored]
    if not candidates:
        return [], {}
    matrix = np.stack([stored[key] for key, _ in candidates])
    chosen = ranking.mmr(vector, matrix, lambda_mult=query.mmr_lambda, k=query.limit)
    return [candidates[i] for i in chosen], stored


def _hydrate(
    conn: sa.Connection, target: Target, ranked: Ranked, embeddings: dict[Key, FloatArray]
) -> list[Hit]:
    if not ranked:
        return []
    table = target.table
    columns: Sequence[Any] = MESSAGE_COLUMNS if target.table is messages else SUMMARY_COLUMNS
    query = (
        sa.select(table.c.session_pk, target.key_column, sessions.c.session_id, *columns)
        .join_from(table, sessions, sessions.c.id == table.c.session_pk)
        .where(with_keys(table.c.session_pk, target.key_column, (key for key, _ in ranked)))
    )
    rows = {(row[0], row[1]): row for row in conn.execute(query)}
    hits = []
    for key, score in ranked:
        row = rows.get(key)
        if row is None:
            continue
        vector = embeddings.get(key)
        hits.append(
            Hit(
                session_id=row[2],
                dist=score,
                message=MessageRecord(*row[3:]) if target.table is messages else None,
                summary=SummaryRecord(*row[3:]) if target.table is not messages else None,
                embedding=[float(x) for x in vector] if vector is not None else None,
            )
        )
    return hits


__all__ = ["Hit", "Scope", "SearchQuery", "SearchType", "Searcher"]
