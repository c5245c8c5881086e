"""Searching a session's, or a user's, messages or summaries: the one entry point for REST and benches.

The query text is embedded before the database is touched (a model call must not hold a connection);
everything else runs in one read transaction, so a search sees one consistent snapshot. Hybrid search
looks up its pending messages and ranks by keyword beside that, while the query is embedded and ranked
by vector, on a connection of its own (``_SideHalf`` says why that is sound).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa

from chatmem.base.errors import BadRequestError
from chatmem.config import Settings
from chatmem.embeddings import Embedder, LocalEmbedder, make_embedder
from chatmem.search import filters, fulltext, pending, ranking, vectors
from chatmem.search.query import Scope, SearchQuery, SearchType
from chatmem.search.side import SidePool
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


@dataclass(frozen=True, slots=True)
class SearchResult:
    hits: list[Hit]
    # Messages not embedded yet beyond CHATMEM_SEARCH_PENDING_MAX: ranked by their text only.
    ranked_by_text: int = 0


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
        # Hybrid's side half (pending messages, keyword ranking) runs here while the request's thread
        # embeds the query and ranks by vector; a search that finds every thread busy does that work
        # itself (``SidePool``). Two by default: the machines this is tuned on have two cores.
        self._side = SidePool(workers=settings.search_side_threads)

    def close(self) -> None:
        """Wait for the side halves running and stop the threads (the server's shutdown)."""
        self._side.close()

    @functools.cached_property
    def embedder(self) -> Embedder | None:
        with self._lock:
            return self._embedder_factory(self.settings)

    def preload(self) -> None:
        """Load the local model now, so the first search does not wait seconds.

        The server calls this before it takes requests. Loading in a background thread while serving
        held the GIL for seconds (graph building and checking), stalling every request meanwhile.
        """
        try:
            embedder = self.embedder
            if isinstance(embedder, LocalEmbedder):
                started = time.perf_counter()
                embedder.load()
                log.info("embedding model %s loaded in %.1f s", embedder.model, time.perf_counter() - started)
        except Exception:  # the first search reports it again, with a clear error
            log.exception("loading the embedding model failed")

    @functools.cached_property
    def pgvector(self) -> bool:
        """Whether migration 0003 found pgvector on this PostgreSQL server (and made its tables)."""
        if self.db.is_sqlite:
            return False
        with self.db.read() as conn:
            return bool(conn.exec_driver_sql("SELECT to_regclass('message_vectors') IS NOT NULL").scalar())

    def search_session(self, tenant_id: int, session_id: str, query: SearchQuery) -> SearchResult:
        return self._search(Within(tenant_id, session_id=session_id), query)

    def search_user(self, tenant_id: int, user_id: str, query: SearchQuery) -> SearchResult:
        return self._search(Within(tenant_id, user_id=user_id), query)

    def _query_embedder(self, query: SearchQuery) -> Embedder | None:
        if not query.text or query.type is SearchType.TEXT:
            return None
        embedder = self.embedder
        if embedder is None and query.type is not SearchType.HYBRID:  # hybrid degrades to keyword search
            raise BadRequestError(
                f"{query.type.value} search needs embeddings, which are off on this server "
                "(CHATMEM_EMBEDDINGS); use search_type text or hybrid"
            )
        return embedder

    def _pending(
        self, within: Within, query: SearchQuery, target: Target, embedder: Embedder
    ) -> pending.Pending:
        """The messages in scope not embedded yet (read-your-writes), to embed with the query."""
        if target.table is not messages:
            return pending.Pending([], 0)
        with self.db.read() as conn:
            scoped = _scoped(conn, within, query, messages)
            if scoped is None:
                return pending.Pending([], 0)
            scope, where = scoped
            return pending.find(conn, scope, embedder.model, where, self.settings.search_pending_max)

    def _embed(self, embedder: Embedder, query: SearchQuery, found: pending.Pending) -> _Embedded:
        """The query vector, and the vectors of the pending messages ``found``.

        Both are embedded in one call, before the ranking transaction: a model call must not hold a
        connection. Messages found pending but embedded by a worker meanwhile are simply ranked once
        (the keys are the same)."""
        got = embedder.embed([query.text, *(content for _key, content in found.rows)])
        rows = [vectors.as_array(vector) for vector in got]
        extra = {key: row for (key, _content), row in zip(found.rows, rows[1:], strict=True)}
        return _Embedded(rows[0], embedder.model, extra, found.overflow)

    def _search(self, within: Within, query: SearchQuery) -> SearchResult:
        target = TARGETS[query.scope]
        embedder = self._query_embedder(query)
        half = None
        if embedder is not None and query.type is SearchType.HYBRID:
            depth = max(self.settings.search_candidates, query.limit)
            pending_max = self.settings.search_pending_max
            half = _SideHalf(self.db, self._side, within, query, target, depth, embedder.model, pending_max)
        try:
            embedded = None
            if embedder is not None:
                embedded = self._embedded(within, query, target, embedder, half)
            if half is not None:
                half.wait_connected()
            return self._ranked(within, query, target, embedded, half)
        finally:
            if half is not None:
                half.settle()

    def _embedded(
        self, within: Within, query: SearchQuery, target: Target, embedder: Embedder, half: _SideHalf | None
    ) -> _Embedded:
        if half is None or not half.beside:
            return self._embed(embedder, query, self._pending(within, query, target, embedder))
        # The side half looks for pending messages meanwhile. The query is embedded alone now, which is
        # the very model call a search makes when none is pending (nearly always: the queue's lag is
        # tens of milliseconds); when some are, they are embedded with the query in one call, as ever,
        # and this vector is dropped.
        alone = embedder.embed([query.text])
        found = half.found_pending()
        if found.rows:
            return self._embed(embedder, query, found)
        return _Embedded(vectors.as_array(alone[0]), embedder.model, {}, found.overflow)

    def _ranked(
        self,
        within: Within,
        query: SearchQuery,
        target: Target,
        embedded: _Embedded | None,
        half: _SideHalf | None,
    ) -> SearchResult:
        with self.db.read() as conn:
            scoped = _scoped(conn, within, query, target.table)
            if scoped is None:
                return SearchResult([])
            scope, where = scoped
            wanted: dict[Key, FloatArray] = {}
            expanded = False
            if embedded is not None:
                embedded = embedded.live(scope)
            if not query.text:
                ranked = _newest(conn, target, scope, where, query.limit)
            elif query.type is SearchType.TEXT:
                ranked = ranking.text_dist(fulltext.rank(conn, target, scope, query.text, where, query.limit))
            elif query.type is SearchType.HYBRID:
                ranked = self._hybrid(conn, target, scope, query, where, embedded, half)
                weight = self.settings.search_neighbour_weight
                expanded = weight > 0 and target.table is messages and not where
                if expanded:
                    # Every fused candidate lends to its neighbours, not only the final best few.
                    neighbours = ranking.with_neighbours(ranked, weight=weight, depth=len(ranked))
                    # Room for neighbours that turn out blank or missing when the rows are read.
                    ranked = _live_neighbours(neighbours, scope)[: 2 * query.limit]
                else:
                    ranked = ranked[: query.limit]
            else:
                assert embedded is not None
                depth = max(2 * query.limit, 10) if query.type is SearchType.MMR else query.limit
                ranked = self._vector(conn, target, scope, embedded, where, depth)
                if query.type is SearchType.MMR:
                    ranked, wanted = _mmr(conn, target, scope, ranked, embedded, query)
                ranked = ranking.merge_by_dist(
                    ranking.similarity_dist(ranked),
                    self._overflow_by_text(conn, target, scope, query, where, embedded),
                    limit=query.limit,
                )
            hits = _hydrate(conn, target, scope, ranked, wanted)
            if expanded:  # neighbours that turned out blank (or not to exist) are dropped, hence the cut
                hits = [hit for hit in hits if hit.message is not None and hit.message.content.strip()]
                hits = hits[: query.limit]
        return SearchResult(hits, embedded.overflow if embedded is not None else 0)

    def _vector(
        self,
        conn: sa.Connection,
        target: Target,
        scope: LiveScope,
        embedded: _Embedded,
        where: list[sa.ColumnElement[bool]],
        limit: int,
    ) -> Ranked:
        stored = vectors.rank(
            conn,
            target,
            scope,
            embedded.vector,
            embedded.model,
            where,
            limit,
            pgvector=self.pgvector,
            exact_max_rows=self.settings.search_exact_max_rows,
            ef_search=self.settings.search_hnsw_ef_search,
            cache=self.vector_cache,
        )
        if not embedded.extra:
            return stored
        fresh = [(key, float(row @ embedded.vector)) for key, row in embedded.extra.items()]
        best = dict(stored)
        best.update(fresh)
        return sorted(best.items(), key=lambda item: (-item[1], -item[0][1]))[:limit]

    def _overflow_by_text(
        self,
        conn: sa.Connection,
        target: Target,
        scope: LiveScope,
        query: SearchQuery,
        where: list[sa.ColumnElement[bool]],
        embedded: _Embedded,
    ) -> Ranked:
        """Pending messages beyond the bound, which have no vector to rank by: ranked by text."""
        if not embedded.overflow:
            return []
        rest = [pending.condition(embedded.model), *where]
        if embedded.extra:
            rest.append(~with_keys(messages.c.session_pk, messages.c.seq, embedded.extra))
        return ranking.text_dist(fulltext.rank(conn, target, scope, query.text, rest, query.limit))

    def _hybrid(
        self,
        conn: sa.Connection,
        target: Target,
        scope: LiveScope,
        query: SearchQuery,
        where: list[sa.ColumnElement[bool]],
        embedded: _Embedded | None,
        half: _SideHalf | None,
    ) -> Ranked:
        depth = max(self.settings.search_candidates, query.limit)
        semantic: Ranked = []
        if embedded is not None:
            semantic = self._vector(conn, target, scope, embedded, where, depth)
        # Rows not embedded yet (or ever) still come in through the keyword list.
        if half is not None:
            keyword = half.result(conn, scope, where)
        else:
            keyword = fulltext.rank(conn, target, scope, query.text, where, depth)
        weight = self.settings.search_context_weight
        if embedded is not None and target.table is messages and weight > 0:
            semantic = _in_context(
                conn,
                target,
                scope,
                embedded,
                semantic,
                keyword,
                weight,
                grow=not where,
                cache=self.vector_cache,
            )
        if self.settings.search_fusion == "rrf":
            lists = [ranked for ranked in (semantic, keyword) if ranked]
            return ranking.reciprocal_rank_fusion(lists, k=self.settings.search_rrf_k, limit=depth)
        return ranking.convex_fusion(
            semantic, keyword, alpha=self.settings.search_hybrid_alpha, limit=depth, vector_depth=depth
        )


class _SideHalf:
    """What hybrid search reads beside the request's thread, on the searcher's side pool and a read
    connection of its own: the scope's pending messages (read-your-writes), then the keyword ranking.
    Meanwhile the request's thread embeds the query (ONNX Runtime releases the GIL) and ranks by
    vector (NumPy does); SQLite and psycopg release the GIL while a statement runs. When the pool has
    no idle thread, the search does both itself, in line, as before (``beside`` is False).

    Why separate snapshots are sound here: both are taken after the request arrived, so each holds every
    write acknowledged before the search began (read-your-writes holds for both halves); a write that
    commits while the search runs may land in either, as it might have landed either side of a single
    snapshot taken a moment earlier or later. What must not happen is a row that is gone in the
    search's snapshot coming back through this half: its keyword list keeps only keys live in the
    search's own scope (``_in_scope``), its pending messages likewise (``_Embedded.live``), and every
    hit is read from the search's snapshot (``_hydrate``), so the rows, their content and the liveness
    a search returns all come from one snapshot. The most a race changes is which of a concurrent
    write's rows enter the keyword list or the pending set, and with which score.
    """

    def __init__(
        self,
        db: Database,
        side: SidePool,
        within: Within,
        query: SearchQuery,
        target: Target,
        depth: int,
        model: str,
        pending_max: int,
    ) -> None:
        self._db = db
        self._within = within
        self._query = query
        self._target = target
        self._depth = depth
        self._model = model
        self._pending_max = pending_max
        self._connected = threading.Event()
        self._looked = threading.Event()
        self._pending: pending.Pending | None = None
        self._future = side.submit(self._run)
        self.beside = self._future is not None
        if not self.beside:
            self._connected.set()
            self._looked.set()

    def _run(self) -> Ranked:
        try:
            with self._db.read() as conn:
                self._connected.set()
                scoped = _scoped(conn, self._within, self._query, self._target.table)
                if scoped is None:
                    self._pending = pending.Pending([], 0)
                    return []
                scope, where = scoped
                found = pending.Pending([], 0)
                if self._target.table is messages:
                    found = pending.find(conn, scope, self._model, where, self._pending_max)
                self._pending = found
                self._looked.set()
                return fulltext.rank(conn, self._target, scope, self._query.text, where, self._depth)
        finally:
            # Also when no connection could be had or a statement failed: the search then fails alone.
            self._connected.set()
            self._looked.set()

    def found_pending(self) -> pending.Pending:
        """The pending messages this half found; its error, if it failed before it knew."""
        self._looked.wait()
        if self._pending is None:
            assert self._future is not None
            self._future.result()  # raises what the half raised
            raise AssertionError("the side half ended without a pending set")  # pragma: no cover
        return self._pending

    def wait_connected(self) -> None:
        """Return once this half holds its connection (or has ended). The search opens its own only
        then: a search that waited for this half while holding a connection could, with every pooled
        connection held by such searches, wait for ever (until the pool's timeout)."""
        self._connected.wait()

    def result(self, conn: sa.Connection, scope: LiveScope, where: list[sa.ColumnElement[bool]]) -> Ranked:
        """The keyword list, live in ``scope`` (the search's snapshot); an error of this half is raised
        here, in the request's thread, as if the search had run it itself."""
        if self._future is None:
            return fulltext.rank(conn, self._target, scope, self._query.text, where, self._depth)
        return _in_scope(self._future.result(), scope)

    def settle(self) -> None:
        """Wait for this half to end, whatever the search did: nothing of a request outlives it (a
        search that failed first leaves this half's outcome unread, its connection returned)."""
        if self._future is not None:
            futures.wait([self._future])


def _scoped(
    conn: sa.Connection, within: Within, query: SearchQuery, table: sa.Table
) -> tuple[LiveScope, list[sa.ColumnElement[bool]]] | None:
    """The search's live scope in ``conn``'s snapshot and its filters as conditions on ``table``; None
    when the scope is gone (an unknown or deleted session or user)."""
    scope = resolve(conn, within)
    if scope is None:
        return None
    filters.prepare(conn)
    return scope, filters.conditions(query.filters, table, conn.dialect.name)


def _in_scope(ranked: Ranked, scope: LiveScope) -> Ranked:
    """Only keys of the scope's live sessions above their floor (the liveness of ``scope``'s snapshot)."""
    floors = {session.pk: session.floor_seq for session in scope.sessions}
    return [(key, score) for key, score in ranked if key[0] in floors and key[1] > floors[key[0]]]


@dataclass(frozen=True, slots=True)
class _Embedded:
    vector: FloatArray
    model: str
    extra: dict[Key, FloatArray]  # pending messages embedded with the query
    overflow: int  # pending messages beyond the bound

    def live(self, scope: LiveScope) -> _Embedded:
        """Without the pending messages deleted since they were read."""
        floors = {session.pk: session.floor_seq for session in scope.sessions}
        extra = {key: row for key, row in self.extra.items() if key[0] in floors and key[1] > floors[key[0]]}
        return _Embedded(self.vector, self.model, extra, self.overflow)


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
    scope: LiveScope,
    ranked: Ranked,
    embedded: _Embedded,
    query: SearchQuery,
) -> tuple[Ranked, dict[Key, FloatArray]]:
    stored = vectors.fetch(conn, target, scope.within.tenant_id, [key for key, _ in ranked], embedded.model)
    stored.update(embedded.extra)
    candidates = [(key, score) for key, score in ranked if key in stored]
    if not candidates:
        return [], {}
    matrix = np.stack([stored[key] for key, _ in candidates])
    chosen = ranking.mmr(embedded.vector, matrix, lambda_mult=query.mmr_lambda, k=query.limit)
    return [candidates[i] for i in chosen], stored


def _in_context(
    conn: sa.Connection,
    target: Target,
    scope: LiveScope,
    embedded: _Embedded,
    semantic: Ranked,
    keyword: Ranked,
    weight: float,
    *,
    grow: bool,
    cache: VectorCache,
) -> Ranked:
    """Hybrid's vector list with each turn scored in its context: the larger of its own cosine with
    the query and ``weight`` times the best of its neighbours' (the turns just before and after it).
    A chat turn often means something only with its neighbour ("yes, the red one" answers the
    question that matches; a question is told apart by the answer that follows it), so a turn next
    to a close match is a likely answer itself. Unlike adjacent-turn expansion after the fusion, this
    reaches every vector candidate, not only the final best few, and the text list's rows are fused
    with their real cosine instead of none.

    Scored: the vector list's turns, the keyword list's and, when ``grow`` (no metadata filter, which
    a neighbour might not pass), the turns next to the vector list's. Turns without a stored vector
    (blank, not embedded yet) are left to the keyword list. The vectors come from the sessions'
    in-memory blocks (``vector_cache``, the ones exact ranking uses, loaded if need be); nothing is
    embedded.
    """
    pool = dict.fromkeys(key for key, _ in semantic)
    pool.update(dict.fromkeys(key for key, _ in keyword))
    if grow:
        for pk, seq in list(pool)[: len(semantic)]:
            pool.update(dict.fromkeys([(pk, seq - 1), (pk, seq + 1)]))
    # Each touched session's keys and their neighbours', grouped once (not one pass over the pool per
    # session: a user search touches many sessions).
    around_pool: dict[int, set[int]] = {}
    for pk, seq in pool:
        around_pool.setdefault(pk, set()).update((seq - 1, seq, seq + 1))
    sessions = [session for session in scope.sessions if session.pk in around_pool]
    dims = int(embedded.vector.shape[0])
    cosine: dict[Key, float] = {}
    for session, block in zip(
        sessions,
        cache.blocks(conn, target, scope.within.tenant_id, sessions, embedded.model, dims),
        strict=True,
    ):
        live = block.above(session.floor_seq)
        wanted = np.asarray(sorted(around_pool[session.pk]), dtype=np.int64)
        at = np.minimum(np.searchsorted(live.keys, wanted), max(len(live.keys) - 1, 0))
        found = (live.keys[at] == wanted) if len(live.keys) else np.zeros(len(wanted), dtype=bool)
        if found.any():
            scores = live.matrix[at[found]] @ embedded.vector
            # tolist(): Python ints and floats at once, the same values as int() and float() of each.
            cosine.update(
                ((session.pk, seq), score)
                for seq, score in zip(wanted[found].tolist(), scores.tolist(), strict=True)
            )
    floors = {session.pk: session.floor_seq for session in scope.sessions}
    for key, row in embedded.extra.items():  # pending messages embedded with the query
        if key[1] > floors.get(key[0], key[1]):
            cosine[key] = float(row @ embedded.vector)
    if not cosine:
        return semantic
    ranked: Ranked = []
    for key in pool:
        own = cosine.get(key)
        if own is None:
            continue
        pk, seq = key
        around = [cosine[n] for n in ((pk, seq - 1), (pk, seq + 1)) if n in cosine]
        ranked.append((key, max(own, weight * max(around)) if around else own))
    return sorted(ranked, key=lambda item: (-item[1], -item[0][1]))


def _live_neighbours(ranked: Ranked, scope: LiveScope) -> Ranked:
    """Without keys at or below their session's floor (deleted messages the expansion may name)."""
    floors = {session.pk: session.floor_seq for session in scope.sessions}
    return [(key, score) for key, score in ranked if key[1] > floors.get(key[0], key[1])]


def _hydrate(
    conn: sa.Connection, target: Target, scope: LiveScope, ranked: Ranked, embeddings: dict[Key, FloatArray]
) -> list[Hit]:
    if not ranked:
        return []
    table = target.table
    columns: Sequence[Any] = MESSAGE_COLUMNS if target.table is messages else SUMMARY_COLUMNS
    query = (
        sa.select(table.c.session_pk, target.key_column, sessions.c.session_id, *columns)
        .join_from(
            table,
            sessions,
            sa.and_(sessions.c.tenant_id == table.c.tenant_id, sessions.c.id == table.c.session_pk),
        )
        .where(
            table.c.tenant_id == scope.within.tenant_id,
            with_keys(table.c.session_pk, target.key_column, (key for key, _ in ranked)),
        )
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


__all__ = ["Hit", "Scope", "SearchQuery", "SearchResult", "SearchType", "Searcher"]
