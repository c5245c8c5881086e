"""The two HTTP floors, each served by uvicorn exactly as ``chatmem serve`` serves chatmem.

(1) ``noop``: FastAPI with chatmem's settings, middleware and response class, answering chatmem's
    routes with canned bodies and doing no work: the cost of the HTTP stack alone. GET and POST
    memory are answered in front of FastAPI, as chatmem's fast path answers them.
(3) ``naive``: what a user would write instead of chatmem: plain FastAPI routes with a pydantic body,
    one ``messages`` table, one INSERT and COMMIT per append on sqlite3 (WAL, ``synchronous=NORMAL``,
    chatmem's own durability setting) or psycopg, in FastAPI's thread pool; GET memory one SELECT.
(4) ``parse``: a no-work FastAPI app with plain async routes that parses the body into a pydantic
    model and answers "OK": the floor issue 18 measures the append against.
(2) ``asgi``: a framework-free ASGI callable doing chatmem's SQL (``bench.rawsql``) on the same
    database in worker threads (as Starlette runs chatmem's sync routes), GET and POST memory on
    PostgreSQL on psycopg's async driver on the event loop (as chatmem runs them): the cost of the
    work with the thinnest possible server around it.

Run: ``python -m bench.floors noop|asgi --port N --workers N`` with ``BENCH_DB_URL`` set.
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote

import anyio.to_thread
import orjson
from fastapi import FastAPI, Request
from pydantic import BaseModel
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from bench.rawsql import ZERO_SUMMARY, RawStore
from chatmem.server.app import ChatmemApp
from chatmem.server.middleware import ZepTransportMiddleware
from chatmem.server.responses import JSON

_CANNED_SESSION = {
    "uuid": "6f1c3a52-58f5-4f0b-8a43-2f9f8c0b7a10",
    "id": 1,
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-01T00:00:00Z",
    "deleted_at": None,
    "session_id": "canned",
    "metadata": {},
    "user_id": None,
}
_CANNED_MEMORY = orjson.dumps({"messages": [], "summary": ZERO_SUMMARY})


def noop_app() -> FastAPI:
    """Floor (1): the same FastAPI stack, same routes, no work."""

    def transport(inner: ASGIApp) -> ASGIApp:
        return ZepTransportMiddleware(inner, max_body_size=5 * 1024 * 1024, fast=_canned_memory)

    app = ChatmemApp(
        transport=transport, default_response_class=JSON, redirect_slashes=False, strict_content_type=False
    )

    @app.get("/healthz")
    def healthz() -> PlainTextResponse:
        return PlainTextResponse(".")

    @app.get("/api/v1/sessions")
    def list_sessions(request: Request) -> JSON:
        return JSON([])

    @app.get("/api/v1/sessions/{session_id}")
    def get_session(session_id: str) -> JSON:
        return JSON(_CANNED_SESSION)

    @app.patch("/api/v1/sessions/{session_id}")
    def patch_session(session_id: str) -> JSON:
        return JSON(_CANNED_SESSION)

    @app.get("/api/v1/sessions/{session_id}/memory")
    def get_memory(session_id: str) -> Response:
        return Response(_CANNED_MEMORY, media_type="application/json")

    @app.post("/api/v1/sessions/{session_id}/memory")
    def add_memory(session_id: str) -> PlainTextResponse:
        return PlainTextResponse("OK")

    @app.get("/api/v1/sessions/{session_id}/messages")
    def list_messages(session_id: str) -> JSON:
        return JSON({"messages": [], "total_count": 0, "row_count": 0})

    return app


_MEMORY_PATH = re.compile(r"/api/v1/sessions/[^/]+/memory")


async def _canned_memory(scope: Scope, body: bytes, send: Send) -> bool:
    """chatmem's ``FastRoutes`` doing no work: GET and POST memory answered before FastAPI."""
    if scope["method"] not in ("GET", "POST") or not _MEMORY_PATH.fullmatch(scope["path"]):
        return False
    if scope["method"] == "GET":
        await _respond(send, 200, _CANNED_MEMORY, b"application/json")
    else:
        await _respond(send, 200, b"OK", b"text/plain; charset=utf-8")
    return True


Handler = Callable[[RawStore, str, dict[str, list[str]], Any], tuple[int, Any]]


def _int(query: dict[str, list[str]], name: str, default: int) -> int:
    values = query.get(name)
    return int(values[0]) if values and values[0] else default


def _memory(store: RawStore, sid: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    if body is None:
        return 200, store.recent(sid, _int(query, "lastn", 12))
    store.append(sid, _new_messages(body))
    return 200, None


def _new_messages(body: Any) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in body.get("messages") or ()]


def _session(store: RawStore, sid: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    found = store.get_session(sid) if body is None else store.patch_metadata(sid, body.get("metadata") or {})
    return (404, {"message": "session not found"}) if found is None else (200, found)


def _messages(store: RawStore, sid: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    return 200, store.list_messages(sid, _int(query, "limit", 100), _int(query, "cursor", 1))


def _sessions(store: RawStore, sid: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    after = query.get("after")
    keyset = None
    if after and after[0]:
        import base64

        token = after[0]
        keyset = int(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()[1:])
    limit = _int(query, "limit", 100)
    return 200, store.list_sessions(limit, offset=_int(query, "cursor", 0), after=keyset)


class RawAsgiApp:
    """Floor (2): routing by splitting the path, JSON by orjson, SQL by the driver."""

    def __init__(self, url: str) -> None:
        self.store = RawStore(url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        method: str = scope["method"]
        parts = scope["raw_path"].decode("latin-1").split("/")
        body: Any = None
        if method in ("POST", "PATCH"):
            chunks = []
            while True:
                message = await receive()
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
            body = orjson.loads(b"".join(chunks))
        query = parse_qs(scope["query_string"].decode("latin-1"))
        handler: Handler | None = None
        sid = ""
        if parts[1:4] == ["api", "v1", "sessions"]:
            if len(parts) == 4:
                handler = _sessions
            else:
                sid = unquote(parts[4])
                tail = parts[5] if len(parts) > 5 else ""
                handler = {"": _session, "memory": _memory, "messages": _messages}.get(tail)
        if scope["path"] == "/healthz":
            await _respond(send, 200, b".", b"text/plain")
            return
        if handler is None:
            await _respond(send, 404, b'{"message":"not found"}', b"application/json")
            return
        chosen = handler
        if chosen is _memory and not self.store.sqlite:
            # chatmem serves GET and POST memory on PostgreSQL's async driver: so does its floor.
            status, payload = 200, None
            if body is None:
                payload = await self.store.apg_recent(sid, _int(query, "lastn", 12))
            else:
                await self.store.apg_append(sid, _new_messages(body))
        else:
            status, payload = await anyio.to_thread.run_sync(lambda: chosen(self.store, sid, query, body))
        if payload is None:
            await _respond(send, status, b"OK", b"text/plain; charset=utf-8")
        else:
            await _respond(send, status, orjson.dumps(payload, option=orjson.OPT_UTC_Z), b"application/json")


async def _respond(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def asgi_app() -> RawAsgiApp:
    return RawAsgiApp(os.environ["BENCH_DB_URL"])


class _NaiveMessage(BaseModel):
    role: str
    content: str
    metadata: dict[str, Any] | None = None


class _NaiveMemory(BaseModel):
    messages: list[_NaiveMessage]


class _NaiveStore:
    """One connection per thread; the table created on first use."""

    def __init__(self, url: str) -> None:
        self.sqlite = url.startswith("sqlite")
        self.url = url
        self._local = threading.local()
        placeholder = "?" if self.sqlite else "%s"
        self.insert = (
            "INSERT INTO naive_messages (session_id, role, content, metadata, created_at) "
            f"VALUES ({', '.join([placeholder] * 5)})"
        )
        self.select = (
            "SELECT role, content, metadata, created_at FROM naive_messages "
            f"WHERE session_id = {placeholder} ORDER BY id DESC LIMIT {placeholder}"
        )
        with self._connect() as conn:
            key = "INTEGER PRIMARY KEY AUTOINCREMENT" if self.sqlite else "BIGSERIAL PRIMARY KEY"
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS naive_messages (id {key}, session_id TEXT NOT NULL, "
                "role TEXT NOT NULL, content TEXT NOT NULL, metadata TEXT, created_at TEXT NOT NULL)"
            )
            conn.execute("CREATE INDEX IF NOT EXISTS naive_by_session ON naive_messages (session_id, id)")
            conn.commit()

    def _connect(self) -> Any:
        if self.sqlite:
            conn = sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=30, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            return conn
        import psycopg

        return psycopg.connect(self.url.replace("postgresql+psycopg://", "postgresql://"))

    def conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn


def parse_app() -> FastAPI:
    """Floor (4): a no-work FastAPI app that parses the same body into a pydantic model and answers
    "OK" (the issue's "no-op floor"): plain routes, no middleware, no database."""
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> PlainTextResponse:
        return PlainTextResponse(".")

    @app.post("/api/v1/sessions/{session_id}/memory")
    async def add_memory(session_id: str, memory: _NaiveMemory) -> PlainTextResponse:
        return PlainTextResponse("OK")

    @app.get("/api/v1/sessions/{session_id}/memory")
    async def get_memory(session_id: str, lastn: int = 12) -> Response:
        return Response(_CANNED_MEMORY, media_type="application/json")

    return app


def naive_app() -> FastAPI:
    """Floor (3): the straightforward app, one INSERT and COMMIT per message appended."""
    store = _NaiveStore(os.environ["BENCH_DB_URL"])
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> PlainTextResponse:
        return PlainTextResponse(".")

    @app.post("/api/v1/sessions/{session_id}/memory")
    def add_memory(session_id: str, memory: _NaiveMemory) -> PlainTextResponse:
        conn = store.conn()
        now = datetime.now(UTC).isoformat()
        for message in memory.messages:
            metadata = orjson.dumps(message.metadata).decode() if message.metadata else None
            conn.execute(store.insert, (session_id, message.role, message.content, metadata, now))
        conn.commit()
        return PlainTextResponse("OK")

    @app.get("/api/v1/sessions/{session_id}/memory")
    def get_memory(session_id: str, lastn: int = 12) -> dict[str, Any]:
        rows = store.conn().execute(store.select, (session_id, lastn)).fetchall()
        if not store.sqlite:
            store.conn().commit()  # end the read transaction psycopg opened
        return {
            "messages": [
                {
                    "role": r[0],
                    "content": r[1],
                    "metadata": orjson.loads(r[2]) if r[2] else {},
                    "created_at": r[3],
                }
                for r in reversed(rows)
            ]
        }

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.floors")
    parser.add_argument("kind", choices=("noop", "asgi", "naive", "parse"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    uvicorn.run(
        f"bench.floors:{args.kind}_app",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
