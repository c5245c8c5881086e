"""Fixtures. Every storage-facing test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest

from tests.support import BACKENDS, LiveServer, live_server


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def shared_server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server per backend for the whole run; tests isolate themselves with unique ids."""
    with live_server(backend, tmp_path_factory.mktemp(backend)) as server:
        yield server


@pytest.fixture
def api(shared_server: LiveServer) -> Iterator[httpx.Client]:
    """An HTTP client on ``/api/v1`` of the shared server."""
    with httpx.Client(base_url=f"{shared_server.url}/api/v1", timeout=30) as client:
        yield client


@pytest.fixture
def fresh_server(backend: str, tmp_path: Path) -> Callable[..., AbstractContextManager[LiveServer]]:
    """A server on an empty database of its own, with settings overrides: ``with fresh_server(...)``."""

    def start(**overrides: object) -> AbstractContextManager[LiveServer]:
        return live_server(backend, tmp_path, **overrides)

    return start


@pytest.fixture
def sid() -> str:
    """A unique session id for one test."""
    return f"s-{uuid.uuid4().hex}"
