"""``chatmem serve`` loads the local embedding model at start, so the first search does not wait for it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import cast

import pytest

from chatmem.embeddings import LocalEmbedder
from chatmem.search.service import Searcher
from tests.search.conftest import search_server
from tests.support import LiveServer


def _searcher(server: LiveServer) -> Searcher:
    return cast(Searcher, server.app.state.searcher)


def test_the_local_model_is_loaded_at_start_when_preload_is_on(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with search_server(request, "sqlite", tmp_path, embeddings="local", embeddings_preload=True) as server:
        searcher = _searcher(server)
        deadline = time.monotonic() + 60
        while "embedder" not in vars(searcher) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert isinstance(vars(searcher).get("embedder"), LocalEmbedder)


def test_nothing_is_loaded_before_the_first_search_when_preload_is_off(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with search_server(request, "sqlite", tmp_path, embeddings="local", embeddings_preload=False) as server:
        time.sleep(0.2)
        assert "embedder" not in vars(_searcher(server))
