"""Test helpers: throwaway databases (SQLite file or a fresh PostgreSQL database) and live servers."""

from __future__ import annotations

import asyncio
import atexit
import os
import queue
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import closing, contextmanager
from email.utils import formatdate
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from uvicorn.lifespan.on import LifespanOn

from chatmem.config import Settings
from chatmem.server import create_app
from chatmem.server.connections import uvicorn_options
from chatmem.store import Database, migrate, migrated_database
from tests.in_process import AppOnLoop, AsyncInProcessTransport, InProcessTransport

# The PostgreSQL server tests create their databases on (trust auth on the CI machine).
PG_ADMIN_URL = os.environ.get("CHATMEM_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# Every backend a test may run on; ``pgvector`` (a PostgreSQL of its own, from the pgserver wheel) serves the
# search tests only.
KNOWN_BACKENDS = ("sqlite", "postgres", "pgvector")


def selected_backends(value: str | None) -> frozenset[str]:
    """The backends ``CHATMEM_TEST_BACKENDS`` names (a comma list); unset or blank selects every one."""
    if value is None or not value.strip():
        return frozenset(KNOWN_BACKENDS)
    names = {name.strip() for name in value.split(",") if name.strip()}
    unknown = sorted(names - set(KNOWN_BACKENDS))
    if unknown:
        raise ValueError(
            f"CHATMEM_TEST_BACKENDS names unknown backend(s) {', '.join(unknown)}; "
            f"choose from {', '.join(KNOWN_BACKENDS)}"
        )
    return frozenset(names)


SELECTED_BACKENDS = selected_backends(os.environ.get("CHATMEM_TEST_BACKENDS"))


def backends(*names: str) -> tuple[str, ...]:
    """Those of ``names`` this run tests, in order: the parameters of a test that runs on ``names``."""
    return tuple(name for name in names if name in SELECTED_BACKENDS)


BACKENDS = backends("sqlite", "postgres")

# Runs every test of a module (``pytestmark = BOTH_PATHS``) with the fast path on and off, so GET/POST memory
# are answered once by server/fast_routes.py and once by the FastAPI routes (the ``fast_path`` fixture).
BOTH_PATHS = pytest.mark.parametrize(
    "fast_path", [True, False], ids=["fast-path", "fastapi-routes"], indirect=True
)

# For a test that talks to the machine's PostgreSQL without a ``backend`` parameter.
needs_postgres = pytest.mark.skipif(
    "postgres" not in SELECTED_BACKENDS, reason="CHATMEM_TEST_BACKENDS leaves out postgres"
)


@contextmanager
def database_url(backend: str, tmp_dir: Path) -> Iterator[str]:
    """A URL to an empty database of ``backend`` (no schema) that is dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_dir / f'chatmem-{uuid.uuid4().hex[:8]}.db'}"
        return
    with postgres_database(PG_ADMIN_URL) as url:
        yield url


@contextmanager
def migrated_url(backend: str, tmp_dir: Path) -> Iterator[str]:
    """A URL to a database of ``backend`` with the schema at head and no rows of its own, dropped
    afterwards: a copy of a template migrated once per run (a copied SQLite file, a PostgreSQL
    ``CREATE DATABASE ... TEMPLATE``), the same schema ``migrate`` makes, without running it again."""
    if backend == "sqlite":
        path = tmp_dir / f"chatmem-{uuid.uuid4().hex[:8]}.db"
        _SQLITE_TEMPLATE.copy_to(path)
        yield f"sqlite:///{path}"
        return
    with postgres_database(PG_ADMIN_URL, migrated=True) as url:
        yield url


@contextmanager
def migrated(backend: str, tmp_dir: Path) -> Iterator[Database]:
    """A ``Database`` on a database of ``backend`` with the schema at head and no rows of its own,
    dropped afterwards."""
    with migrated_url(backend, tmp_dir) as url:
        db = Database(url)
        try:
            yield db
        finally:
            db.dispose()


class _SqliteTemplate:
    """A SQLite file migrated to head once per run, copied for each migrated database."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._path: Path | None = None

    def copy_to(self, path: Path) -> None:
        with self._lock:
            if self._path is None:
                template = Path(tempfile.mkdtemp(prefix="chatmem-template-")) / "template.db"
                with migrated_database(f"sqlite:///{template}"):
                    pass
                self._path = template
            path.parent.mkdir(parents=True, exist_ok=True)
            # The backup API copies a consistent database whatever is left in a WAL file.
            with closing(sqlite3.connect(self._path)) as source, closing(sqlite3.connect(path)) as target:
                source.backup(target)

    def discard(self) -> None:
        with self._lock:
            if self._path is not None:
                shutil.rmtree(self._path.parent, ignore_errors=True)
                self._path = None


_SQLITE_TEMPLATE = _SqliteTemplate()


class _PostgresServer:
    """The test run's view of one PostgreSQL server: an admin engine, a template database migrated to
    head on first use, and a thread that drops finished databases in the background (a DROP DATABASE
    waits for a checkpoint; the tests need not)."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.admin = sa.create_engine(
            sa.make_url(admin_url).set(drivername="postgresql+psycopg"),
            isolation_level="AUTOCOMMIT",
            poolclass=sa.NullPool,
        )
        self._lock = threading.Lock()
        self._template: str | None = None
        self._doomed: queue.Queue[str | None] = queue.Queue()
        self._dropper = threading.Thread(target=self._drop_each, name="drop-test-databases", daemon=True)
        self._dropper.start()

    def url(self, name: str) -> str:
        return sa.make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def create(self, name: str, *, migrated: bool) -> None:
        template = f' TEMPLATE "{self.template()}"' if migrated else ""
        self._execute(f'CREATE DATABASE "{name}"{template}')

    def template(self) -> str:
        with self._lock:
            if self._template is None:
                name = f"chatmem_template_{uuid.uuid4().hex[:12]}"
                self._execute(f'CREATE DATABASE "{name}"')
                # Disposed on exit: a template can only be copied while no one is connected to it.
                with migrated_database(self.url(name)):
                    pass
                self._template = name
            return self._template

    def drop_later(self, name: str) -> None:
        self._doomed.put(name)

    def close(self) -> None:
        """Drop what is still to drop and the template; wait for it."""
        self._doomed.put(None)
        self._dropper.join()
        with self._lock:
            if self._template is not None:
                self._drop(self._template)
                self._template = None
        self.admin.dispose()

    def _drop_each(self) -> None:
        while (name := self._doomed.get()) is not None:
            self._drop(name)

    def _drop(self, name: str) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _execute(self, sql: str) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(sql)


_POSTGRES_SERVERS: dict[str, _PostgresServer] = {}
_POSTGRES_LOCK = threading.Lock()


def _postgres_server(admin_url: str) -> _PostgresServer:
    with _POSTGRES_LOCK:
        if admin_url not in _POSTGRES_SERVERS:
            _POSTGRES_SERVERS[admin_url] = _PostgresServer(admin_url)
        return _POSTGRES_SERVERS[admin_url]


def release_postgres(admin_url: str) -> None:
    """Drop every test database on the server of ``admin_url`` still pending, and its template (before
    that server stops, or at the end of the run)."""
    with _POSTGRES_LOCK:
        server = _POSTGRES_SERVERS.pop(admin_url, None)
    if server is not None:
        server.close()


def release_templates() -> None:
    """At the end of the run: every pending drop done, every template gone."""
    for admin_url in list(_POSTGRES_SERVERS):
        release_postgres(admin_url)
    _SQLITE_TEMPLATE.discard()


# The conftest fixture releases them at the end of a pytest run; this covers a script using these helpers.
atexit.register(release_templates)


@contextmanager
def postgres_database(admin_url: str, *, migrated: bool = False) -> Iterator[str]:
    """A database of its own on the PostgreSQL server of ``admin_url``, empty or (``migrated``) with
    the schema at head; dropped afterwards, in the background."""
    server = _postgres_server(admin_url)
    name = f"chatmem_test_{uuid.uuid4().hex[:12]}"
    server.create(name, migrated=migrated)
    try:
        yield server.url(name)
    finally:
        server.drop_later(name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """chatmem's app running in a background thread of the test process, as ``chatmem serve`` runs it:
    the schema migrated, the lifespan started (workers, purger, samplers) on an event loop of its own.

    ``client()`` / ``async_client()`` reach the app in-process (tests/in_process.py): what a behaviour
    test needs, without a socket. ``url`` (and ``port``) put uvicorn in front of the same app on that
    loop, listening on a loopback port from the first time they are read: for what goes through HTTP
    itself (raw sockets, timeouts, another process or the real SDKs as clients).
    """

    def __init__(self, settings: Settings, *, root_path: str = "", migrated: bool = False) -> None:
        self.settings = settings
        self.root_path = root_path
        self.db = Database(
            settings.resolved_database_url(),
            pool_size=settings.db_pool_size,
            group_commit=settings.group_commit,
        )
        if not migrated:
            migrate(self.db)
        self._port = free_port()
        self.app = create_app(settings, self.db)
        self._config = self._uvicorn_config(lifespan="on")
        self._config.load()
        self._lifespan = LifespanOn(self._config)
        self._socket_server: uvicorn.Server | None = None
        self._socket_serving: Future[None] | None = None
        self._socket_lock = threading.Lock()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chatmem-test-server", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        """The server's HTTP address; uvicorn listens there from the first time this is read."""
        self._listen()
        return self._address

    @property
    def port(self) -> int:
        self._listen()
        return self._port

    @property
    def _address(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def client(self, path: str = "", **options: Any) -> httpx.Client:
        """An httpx client on ``path`` of this server (``"/api/v1"``) that reaches the app in-process."""
        transport = InProcessTransport(self._in_process())
        return httpx.Client(base_url=f"{self._address}{path}", transport=transport, **options)

    def async_client(self, path: str = "", **options: Any) -> httpx.AsyncClient:
        """``client`` for async code."""
        transport = AsyncInProcessTransport(self._in_process())
        return httpx.AsyncClient(base_url=f"{self._address}{path}", transport=transport, **options)

    def _in_process(self) -> AppOnLoop:
        assert self._loop is not None, "the server is not running"
        return AppOnLoop(
            self._config.loaded_app,
            self._loop,
            port=self._port,
            root_path=self.root_path,
            state=self._lifespan.state,
            default_headers=self._default_headers,
        )

    def _default_headers(self) -> list[tuple[bytes, bytes]]:
        # What uvicorn puts in front of every response's headers.
        return [(b"date", formatdate(usegmt=True).encode("latin-1")), *self._config.encoded_headers]

    def _uvicorn_config(self, *, lifespan: Literal["on", "off"]) -> uvicorn.Config:
        return uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self._port,
            log_level="warning",
            access_log=False,
            root_path=self.root_path,
            lifespan=lifespan,
            **uvicorn_options(self.settings),
        )

    def _run(self) -> None:
        with asyncio.Runner(loop_factory=self._config.get_loop_factory()) as runner:
            self._loop = runner.get_loop()
            runner.run(self._serve())

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        await self._lifespan.startup()
        if self._lifespan.should_exit:
            return  # startup failed; uvicorn's lifespan logged why
        self._started.set()
        await self._stop.wait()
        if self._socket_server is not None and self._socket_serving is not None:
            self._socket_server.should_exit = True
            await asyncio.wrap_future(self._socket_serving)
        await self._lifespan.shutdown()

    def _listen(self) -> None:
        with self._socket_lock:
            if self._socket_server is None:
                assert self._loop is not None, "the server is not running"
                server = uvicorn.Server(self._uvicorn_config(lifespan="off"))
                serving = asyncio.run_coroutine_threadsafe(server.serve(), self._loop)
                deadline = time.monotonic() + 15
                while not server.started:
                    if time.monotonic() > deadline or serving.done():
                        raise RuntimeError("chatmem test server did not listen")
                    time.sleep(0.005)
                self._socket_server, self._socket_serving = server, serving

    def __enter__(self) -> LiveServer:
        self._thread.start()
        # Startup loads the embedding model (seconds the first time in a process, more on a busy machine).
        deadline = time.monotonic() + 60
        while not self._started.wait(0.01):
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("chatmem test server did not start")
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=15)
        self.db.dispose()


@contextmanager
def live_server(
    backend: str, tmp_dir: Path, root_path: str = "", **overrides: object
) -> Iterator[LiveServer]:
    with migrated_url(backend, tmp_dir) as url:
        # The periodic purge stays off unless a test asks for it: tests count rows.
        # Enrichment workers stay off unless a test asks (enrich_workers=N): core tests stay deterministic.
        values: dict[str, object] = {
            "database_url": url,
            "purge_every_minutes": 0,
            "enrich_workers": 0,
            **overrides,
        }
        settings = Settings(**values)  # type: ignore[arg-type]
        # A database the caller names is migrated as ``chatmem serve`` would; the copy of the template is
        # migrated already.
        with LiveServer(settings, root_path=root_path, migrated="database_url" not in overrides) as server:
            yield server
