"""Test helpers: throwaway databases (SQLite file or a fresh PostgreSQL database) and live servers."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
import uvicorn

from chatmem.config import Settings
from chatmem.server import create_app
from chatmem.server.connections import uvicorn_options
from chatmem.store import Database, migrate, migrated_database

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
    """A URL to an empty database of ``backend`` that is dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_dir / f'chatmem-{uuid.uuid4().hex[:8]}.db'}"
        return
    with postgres_database(PG_ADMIN_URL) as url:
        yield url


@contextmanager
def migrated(backend: str, tmp_dir: Path) -> Iterator[Database]:
    """A ``Database`` on an empty database of ``backend`` with the schema at head, dropped afterwards."""
    with database_url(backend, tmp_dir) as url, migrated_database(url) as db:
        yield db


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh database on the PostgreSQL server of ``admin_url``, dropped afterwards."""
    name = f"chatmem_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(
        sa.make_url(admin_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """chatmem served by uvicorn on a loopback port, in a background thread of the test process."""

    def __init__(self, settings: Settings, *, root_path: str = "") -> None:
        self.settings = settings
        self.db = Database(settings.resolved_database_url(), pool_size=settings.db_pool_size)
        migrate(self.db)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(settings, self.db)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            root_path=root_path,
            **uvicorn_options(settings),
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        # Startup loads the embedding model (seconds the first time in a process, more on a busy machine).
        deadline = time.monotonic() + 60
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("chatmem test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self.db.dispose()


@contextmanager
def live_server(
    backend: str, tmp_dir: Path, root_path: str = "", **overrides: object
) -> Iterator[LiveServer]:
    with database_url(backend, tmp_dir) as url:
        # The periodic purge stays off unless a test asks for it: tests count rows.
        # Enrichment workers stay off unless a test asks (enrich_workers=N): core tests stay deterministic.
        values: dict[str, object] = {
            "database_url": url,
            "purge_every_minutes": 0,
            "enrich_workers": 0,
            **overrides,
        }
        settings = Settings(**values)  # type: ignore[arg-type]
        with LiveServer(settings, root_path=root_path) as server:
            yield server
