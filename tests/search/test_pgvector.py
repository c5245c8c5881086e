"""The pgvector path: embeddings copied into ``vector`` columns by trigger, ranked through HNSW."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from chatmem.enrich import vectors as packed
from chatmem.memory.purge import purge
from chatmem.search import vectors
from chatmem.search.query import Scope
from chatmem.search.service import Searcher
from chatmem.search.targets import TARGETS, Within, resolve
from chatmem.search.vector_cache import VectorCache
from chatmem.store.tables import DEFAULT_TENANT_ID, include_name, message_embeddings, metadata_obj
from tests.search.conftest import EMBEDDING, add, client, contents, search, settle
from tests.support import LiveServer

Server = Callable[..., AbstractContextManager[LiveServer]]


@pytest.fixture
def server(backend: str, fresh_server: Server) -> Server:
    if backend != "pgvector":
        pytest.skip("pgvector only")
    return fresh_server


def test_embeddings_are_mirrored_as_pgvector_vectors_and_leave_with_the_purge(
    server: Server, sid: str
) -> None:
    with server(**EMBEDDING) as live, client(live) as api:
        add(api, sid, ("human", "one small step"), ("ai", "for a man"), ("human", "a giant leap"))
        settle(api)
        with live.db.read() as conn:
            stored = conn.execute(sa.select(message_embeddings.c.seq, message_embeddings.c.vector)).all()
            mirrored: dict[int, str] = dict(
                conn.exec_driver_sql("SELECT seq, embedding::text FROM message_vectors").all()
            )
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_name": include_name}
            )
            assert compare_metadata(context, metadata_obj) == []
        assert len(stored) == 3 and set(mirrored) == {seq for seq, _ in stored}
        for seq, blob in stored:
            got = np.array([float(x) for x in mirrored[seq].strip("[]").split(",")], dtype=np.float32)
            assert np.allclose(got, np.array(packed.unpack(blob), dtype=np.float32), atol=1e-6)
        api.delete(f"/sessions/{sid}/memory")
        purge(live.db)
        with live.db.read() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM message_vectors").scalar() == 0


def test_hnsw_is_used_for_large_scopes_and_agrees_with_exact_ranking(server: Server, sid: str) -> None:
    topics = ["dogs and puppies", "stock markets", "italian cooking", "mountain hiking", "jazz music"]
    with server(**EMBEDDING) as live, client(live) as api:
        add(api, sid, *[("human", f"{topic}, remark number {i}") for i in range(8) for topic in topics])
        settle(api)
        searcher = Searcher(live.db, live.settings)
        embedder = searcher.embedder
        assert embedder is not None and searcher.pgvector
        query = vectors.as_array(embedder.embed(["my puppy"])[0])
        target = TARGETS[Scope.MESSAGES]
        with live.db.read() as conn:
            scope = resolve(conn, Within(DEFAULT_TENANT_ID, session_id=sid))
            assert scope is not None
            # 40 rows are cheaper to scan; forbid that to see that the query matches the partial index.
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = "\n".join(
                row[0]
                for row in conn.execute(
                    sa.text(
                        "EXPLAIN "
                        + str(
                            vectors.hnsw_query(target, scope, query, embedder.model, [], 5, 40).compile(
                                live.db.engine, compile_kwargs={"literal_binds": True}
                            )
                        )
                    )
                )
            )
            assert "ix_message_vectors_hnsw_384" in plan

            def ranked(*, pgvector: bool, exact_max_rows: int) -> list[tuple[tuple[int, int], float]]:
                return vectors.rank(
                    conn,
                    target,
                    scope,
                    query,
                    embedder.model,
                    [],
                    5,
                    pgvector=pgvector,
                    exact_max_rows=exact_max_rows,
                    ef_search=100,
                    cache=VectorCache(0),
                )

            hnsw = ranked(pgvector=True, exact_max_rows=0)
            exact = ranked(pgvector=True, exact_max_rows=10**9)
            numpy = ranked(pgvector=False, exact_max_rows=0)
        assert [key for key, _ in hnsw] == [key for key, _ in exact] == [key for key, _ in numpy]
        assert np.allclose([s for _, s in hnsw], [s for _, s in numpy], atol=1e-5)
        # A filter that leaves fewer than `limit` of HNSW's candidates falls back to the exact query.
        narrow = search(
            api,
            f"/sessions/{sid}",
            limit=3,
            text="puppy",
            metadata={"start_date": "2000-01-01"},
            search_type="similarity",
        )
        assert len(narrow) == 3 and all("dogs" in text for text in contents(narrow))
