"""Fixtures. Every storage-facing test runs on SQLite and on PostgreSQL (``CHATMEM_TEST_BACKENDS`` narrows).

Two tiers (docs/architecture.md, "Tests"). In-process, the default: ``api`` and ``server.client(...)`` hand
requests to the test server's app on its own event loop, every middleware and the fast path included, no
socket (tests/in_process.py). Over a socket or across processes, where that is the point: ``server.url``
starts uvicorn in front of the same app; tests/compat and tests/ops start ``chatmem`` processes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path

import httpx
import pytest

from tests.support import BACKENDS, LiveServer, live_server, release_templates


@pytest.fixture(scope="session", autouse=True)
def _templates() -> Iterator[None]:
    """The migrated template databases of the run (tests/support.py), dropped at its end with every
    test database still waiting to be dropped."""
    yield
    release_templates()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def fast_path(request: pytest.FixtureRequest) -> bool:
    """Whether servers answer GET/POST memory on the fast path (the default) or through the FastAPI routes.

    A module runs its tests both ways with ``pytestmark = BOTH_PATHS`` (tests/support.py).
    """
    return bool(getattr(request, "param", True))


@pytest.fixture(scope="session")
def shared_servers(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[bool], LiveServer]]:
    """The shared servers of ``backend`` by fast-path setting, each started when first asked for."""
    with ExitStack() as stack:
        started: dict[bool, LiveServer] = {}

        def server(fast_path: bool) -> LiveServer:
            if fast_path not in started:
                tmp_dir = tmp_path_factory.mktemp(backend)
                started[fast_path] = stack.enter_context(live_server(backend, tmp_dir, fast_path=fast_path))
            return started[fast_path]

        yield server


@pytest.fixture
def shared_server(shared_servers: Callable[[bool], LiveServer], fast_path: bool) -> LiveServer:
    """One server per backend (and fast-path setting) for the whole run; tests isolate themselves with
    unique ids. Reach it with ``shared_server.client(...)`` (in-process); ``shared_server.url`` makes it
    listen on a loopback port too."""
    return shared_servers(fast_path)


@pytest.fixture
def api(shared_server: LiveServer) -> Iterator[httpx.Client]:
    """An HTTP client on ``/api/v1`` of the shared server, reaching its app in-process."""
    with shared_server.client("/api/v1", timeout=30) as client:
        yield client


@pytest.fixture
def fresh_server(
    backend: str, fast_path: bool, tmp_path: Path
) -> Callable[..., AbstractContextManager[LiveServer]]:
    """A server on an empty database of its own (a copy of the run's migrated template), with settings
    overrides (and uvicorn's ``root_path``): ``with fresh_server(...) as server, server.client("/api/v1")``.
    """

    def start(root_path: str = "", **overrides: object) -> AbstractContextManager[LiveServer]:
        return live_server(backend, tmp_path, root_path, **{"fast_path": fast_path, **overrides})

    return start


@pytest.fixture
def sid() -> str:
    """A unique session id for one test."""
    return f"s-{uuid.uuid4().hex}"
