"""Fixtures of the search tests: three backends, servers that embed with the real local model, helpers.

Search runs on ``sqlite``, ``postgres`` (the machine's PostgreSQL, no pgvector: exact NumPy ranking) and
``pgvector``: a PostgreSQL with the extension, started from the ``pgserver`` wheel (dev extra) on a Unix
socket of its own. Its servers set ``search_exact_max_rows=0``, so every vector search goes through the
HNSW index (and its exact fallback).
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatmem.config import Settings
from tests.support import LiveServer, backends, migrated_url, postgres_database, release_postgres

SEARCH_BACKENDS = backends("sqlite", "postgres", "pgvector")

Server = Callable[..., AbstractContextManager[LiveServer]]

# Enrich promptly with the packaged all-MiniLM-L6-v2; no summaries unless a test wants them.
EMBEDDING: dict[str, Any] = {
    "enrich_workers": 1,
    "enrich_poll_seconds": 0.05,
    "embeddings": "local",
    "summarizer": "off",
}


def settle(api: httpx.Client, timeout: float = 60) -> None:
    """Wait until the enrichment queue is empty (no timing is asserted; the timeout only ends a hang)."""
    deadline = time.monotonic() + timeout
    while api.get("/enrichment/queue").json()["depth"] > 0:
        if time.monotonic() > deadline:
            raise AssertionError("enrichment did not finish")
        time.sleep(0.05)


def add(api: httpx.Client, session_id: str, *messages: tuple[str, str] | dict[str, Any]) -> None:
    body = [m if isinstance(m, dict) else {"role": m[0], "content": m[1]} for m in messages]
    response = api.post(f"/sessions/{session_id}/memory", json={"messages": body})
    assert response.status_code == 200, response.text


def search(api: httpx.Client, path: str, limit: int | None = None, **body: Any) -> list[dict[str, Any]]:
    params = {} if limit is None else {"limit": limit}
    response = api.post(f"{path}/search", json=body, params=params)
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()
    return result


def contents(hits: list[dict[str, Any]]) -> list[str]:
    return [hit["message"]["content"] for hit in hits]


@contextmanager
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client("/api/v1", timeout=60) as api:
        yield api


@pytest.fixture(scope="session")
def pgvector_admin() -> Iterator[str]:
    """A PostgreSQL server with pgvector for this test run: its admin URL (Unix socket, no TCP port)."""
    import pgserver

    data = Path(tempfile.gettempdir()) / f"chatmem-pgvector-{uuid.uuid4().hex[:8]}"
    server = pgserver.get_server(data, cleanup_mode="stop")  # type: ignore[attr-defined]
    url = str(server.get_uri())
    try:
        yield url
    finally:
        release_postgres(url)
        server.cleanup()
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="session", params=SEARCH_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextmanager
def search_server(
    request: pytest.FixtureRequest, backend: str, tmp_dir: Path, **overrides: Any
) -> Iterator[LiveServer]:
    """Like ``tests.support.live_server``, for the three search backends."""
    if backend == "pgvector":
        admin_url = request.getfixturevalue("pgvector_admin")
        databases: AbstractContextManager[str] = postgres_database(admin_url, migrated=True)
        overrides = {"search_exact_max_rows": 0, **overrides}
    else:
        databases = migrated_url(backend, tmp_dir)
    with databases as url:
        values: dict[str, Any] = {
            "database_url": url,
            "purge_every_minutes": 0,
            "enrich_workers": 0,
            **overrides,
        }
        with LiveServer(Settings(**values), migrated=True) as server:
            yield server


@pytest.fixture(scope="session")
def shared_server(
    request: pytest.FixtureRequest, backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with search_server(request, backend, tmp_path_factory.mktemp(f"shared-{backend}")) as server:
        yield server


@pytest.fixture
def fresh_server(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> Callable[..., AbstractContextManager[LiveServer]]:
    def start(**overrides: Any) -> AbstractContextManager[LiveServer]:
        return search_server(request, backend, tmp_path, **overrides)

    return start


@pytest.fixture(scope="module")
def embedding_server(
    request: pytest.FixtureRequest, backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One embedding server per backend and module; tests isolate themselves with unique session ids."""
    with search_server(request, backend, tmp_path_factory.mktemp(f"search-{backend}"), **EMBEDDING) as server:
        yield server


@pytest.fixture
def eapi(embedding_server: LiveServer) -> Iterator[httpx.Client]:
    with client(embedding_server) as api:
        yield api
