"""Exact vector search keeps each session's vectors in memory; what it returns must never be stale.

Two servers on one database stand for two server processes: each has its own in-memory vectors, and
only one of them runs the enrichment worker, so the other learns of new vectors through the database.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import pytest

from chatmem.search.query import Scope
from chatmem.search.service import Searcher
from chatmem.search.targets import TARGETS
from chatmem.search.vector_cache import Block, VectorCache
from tests.search.conftest import EMBEDDING, add, client, contents, search, search_server, settle
from tests.support import BACKENDS, LiveServer

MESSAGES = TARGETS[Scope.MESSAGES]


def searcher(server: LiveServer) -> Searcher:
    return cast(Searcher, server.app.state.searcher)


def similar(api: object, path: str, text: str, limit: int = 3) -> list[str]:
    return contents(search(api, path, limit=limit, text=text, search_type="similarity"))  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", BACKENDS)
def test_search_sees_vectors_another_server_wrote_after_it_cached_the_session(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path, sid: str
) -> None:
    reader_settings = {**EMBEDDING, "enrich_workers": 0, "embeddings_preload": False}
    with search_server(request, backend, tmp_path, **reader_settings) as reader:
        writer_settings = reader.settings.model_copy(update={"enrich_workers": 1})
        with LiveServer(writer_settings) as writer, client(reader) as rapi, client(writer) as wapi:
            add(wapi, sid, ("human", "we talked about the stock market"), ("ai", "shares fell today"))
            settle(wapi)
            assert len(similar(rapi, f"/sessions/{sid}", "my puppy", limit=1)) == 1
            assert searcher(reader).vector_cache.nbytes > 0
            add(wapi, sid, ("human", "my dog is a small puppy"))
            settle(wapi)
            assert similar(rapi, f"/sessions/{sid}", "my puppy", limit=1) == ["my dog is a small puppy"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_user_search_loads_only_changed_sessions_and_sees_their_new_vectors(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> None:
    with search_server(request, backend, tmp_path, **EMBEDDING) as server, client(server) as api:
        assert api.post("/user", json={"user_id": "ann"}).status_code == 201
        topics = ("stock markets", "italian cooking", "jazz music", "mountain hiking")
        for index, topic in enumerate(topics):
            session_id = f"ann-{index}"
            assert api.post("/sessions", json={"session_id": session_id, "user_id": "ann"}).status_code == 201
            add(api, session_id, ("human", f"a long talk about {topic}"), ("ai", f"more on {topic}"))
        settle(api)
        assert len(similar(api, "/user/ann", "my puppy", limit=8)) == 8
        cached = searcher(server).vector_cache.nbytes
        assert cached > 0
        add(api, "ann-2", ("human", "my dog is a small puppy"))
        settle(api)
        assert similar(api, "/user/ann", "my puppy", limit=1) == ["my dog is a small puppy"]
        # ann-2's block was replaced by a larger one; the other three stayed as they were.
        assert searcher(server).vector_cache.nbytes == cached + 384 * 4 + 8


@pytest.mark.parametrize("backend", BACKENDS)
def test_messages_of_a_deleted_session_leave_the_results_though_their_vectors_were_cached(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path, sid: str
) -> None:
    with search_server(request, backend, tmp_path, **EMBEDDING) as server, client(server) as api:
        add(api, sid, ("human", "my dog is a small puppy"), ("ai", "puppies need walks"))
        settle(api)
        assert len(similar(api, f"/sessions/{sid}", "puppy")) == 2
        assert api.delete(f"/sessions/{sid}/memory").status_code == 200
        assert similar(api, f"/sessions/{sid}", "puppy") == []
        add(api, sid, ("human", "the session lives again, now about cooking pasta"))
        settle(api)
        assert similar(api, f"/sessions/{sid}", "puppy") == [
            "the session lives again, now about cooking pasta"
        ]


def test_search_answers_the_same_with_the_cache_off(
    request: pytest.FixtureRequest, tmp_path: Path, sid: str
) -> None:
    with search_server(request, "sqlite", tmp_path, **EMBEDDING) as server, client(server) as api:
        add(
            api,
            sid,
            *[("human", f"{topic} talk {i}") for i in range(4) for topic in ("dogs", "jazz", "cooking")],
        )
        settle(api)
        cached = search(api, f"/sessions/{sid}", limit=5, text="music", search_type="similarity")
        uncached_settings = server.settings.model_copy(update={"search_cache_mb": 0, "enrich_workers": 0})
        with LiveServer(uncached_settings) as uncached, client(uncached) as uapi:
            again = search(uapi, f"/sessions/{sid}", limit=5, text="music", search_type="similarity")
            assert searcher(uncached).vector_cache.nbytes == 0
        assert [hit["message"]["uuid"] for hit in cached] == [hit["message"]["uuid"] for hit in again]
        assert np.allclose([hit["dist"] for hit in cached], [hit["dist"] for hit in again])


def block(rows: int, dims: int = 4) -> Block:
    return Block(np.arange(1, rows + 1, dtype=np.int64), np.zeros((rows, dims), dtype=np.float32))


def test_block_above_a_floor_keeps_only_later_keys() -> None:
    assert block(5).above(3).keys.tolist() == [4, 5]
    assert block(5).above(0).keys.tolist() == [1, 2, 3, 4, 5]
    assert block(5).above(9).matrix.shape == (0, 4)


def test_cache_stays_within_its_memory_bound_dropping_the_least_recently_used() -> None:
    one = block(10).nbytes
    cache = VectorCache(max_bytes=3 * one)
    for pk in range(1, 5):
        cache._store((MESSAGES.embeddings.name, pk, "m", 4), 1, block(10))
    assert cache.nbytes == 3 * one
    assert [key[1] for key in cache._blocks] == [2, 3, 4]


def test_cache_never_replaces_a_newer_version_with_an_older_one() -> None:
    cache = VectorCache(max_bytes=10**6)
    key = (MESSAGES.embeddings.name, 1, "m", 4)
    cache._store(key, 2, block(2))
    cache._store(key, 1, block(1))
    assert cache._blocks[key][0] == 2 and len(cache._blocks[key][1].keys) == 2
    assert cache.nbytes == block(2).nbytes
