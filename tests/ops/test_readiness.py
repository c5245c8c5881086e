"""GET /readyz: 503 with the reason while the database is down or a migration is pending, 200 after;
/healthz stays Zep's exactly-``.`` whatever the database does."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from chatmem.config import Settings
from chatmem.server import create_app
from chatmem.store import Database, migrate
from chatmem.store.migrate import head_revision
from tests.support import PG_ADMIN_URL, database_url, postgres_database


def app_on(url: str) -> TestClient:
    # No lifespan: the app must not need its workers to answer the probes.
    return TestClient(
        create_app(Settings(database_url=url, enrich_workers=0, purge_every_minutes=0, allowed_hosts="*"))
    )


def test_ready_only_once_the_schema_is_at_the_newest_migration(backend: str, tmp_path: Path) -> None:
    with database_url(backend, tmp_path) as url:
        db = Database(url)
        try:
            client = app_on(url)
            empty = client.get("/readyz")
            assert empty.status_code == 503
            assert "no revision" in empty.json()["reason"]

            migrate(db, "0004")
            pending = client.get("/readyz")
            assert pending.status_code == 503
            assert pending.json()["revision"] == "0004"
            assert f"needs {head_revision()}" in pending.json()["reason"]
            assert client.get("/healthz").text == "."

            migrate(db)
            ready = client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json() == {"status": "ready", "revision": head_revision()}

            # A newer chatmem migrated further (a rolling upgrade): this one stays in the balancer.
            with db.write() as conn:
                conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
            assert client.get("/readyz").status_code == 200
        finally:
            db.dispose()


class TcpProxy:
    """A TCP proxy to PostgreSQL that can be cut (every connection dropped, none accepted) and mended."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()

    def _call(self, coro: object) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)  # type: ignore[arg-type]

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, upstream_writer}
        await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()
        await self._server.wait_closed()

    def start(self) -> None:
        self._call(self._start())

    def cut(self) -> None:
        self._call(self._cut())

    def close(self) -> None:
        self._call(self._cut())
        self._loop.call_soon_threadsafe(self._loop.stop)


@contextlib.contextmanager
def proxied_postgres() -> Iterator[tuple[str, TcpProxy]]:
    with postgres_database(PG_ADMIN_URL) as url:
        parsed = sa.make_url(url)
        proxy = TcpProxy((parsed.host or "127.0.0.1", parsed.port or 5432))
        proxy.start()
        try:
            yield parsed.set(port=proxy.port).render_as_string(hide_password=False), proxy
        finally:
            proxy.close()


def test_unready_while_the_postgres_server_is_down() -> None:
    # (An embedded SQLite file has no server that could go down.)
    with proxied_postgres() as (url, proxy):
        db = Database(url)
        try:
            migrate(db)
        finally:
            db.dispose()
        client = app_on(url)
        assert client.get("/readyz").status_code == 200

        proxy.cut()
        down = client.get("/readyz")
        assert down.status_code == 503
        assert down.json()["reason"].startswith("the database does not answer")
        assert client.get("/healthz").text == "."

        proxy.start()  # the same port again
        assert client.get("/readyz").status_code == 200
