"""HTTP clients that reach a test server's app in-process: each request is handed to the ASGI app on the
server's own event loop, as uvicorn hands it, but without a socket, HTTP parsing or a connection.

What the app sees is what uvicorn gives it (tests/support.py's ``LiveServer`` runs the same app under
uvicorn on the same loop): the same scope (``root_path`` prefixed to ``path`` and ``raw_path``, loopback
``client`` and ``server``, a copy of the lifespan state), the request body in one message, then
``http.disconnect`` once the response is complete, and uvicorn's default ``date``/``server`` headers on
the response. An exception escaping the app becomes uvicorn's plain 500, or a dropped connection if the
response had started, and it is logged on uvicorn's logger as uvicorn logs it. Every middleware runs,
the fast path included. What the socket adds (uvicorn's HTTP parser, keep-alive, the header deadline,
slow clients) is only tested over a socket, by the tests that use ``server.url``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import urllib.parse
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import httpx
from starlette.types import ASGIApp, Message

log = logging.getLogger("uvicorn.error")
_client_ports = itertools.count(50000)


class AppOnLoop:
    """An ASGI app served on ``loop`` (running in another thread): ``handle`` runs one request there."""

    def __init__(
        self,
        app: ASGIApp,
        loop: asyncio.AbstractEventLoop,
        *,
        port: int,
        root_path: str = "",
        state: dict[str, Any] | None = None,
        default_headers: Callable[[], list[tuple[bytes, bytes]]] = list,
    ) -> None:
        self.app = app
        self.loop = loop
        self.port = port
        self.root_path = root_path
        self.state = state if state is not None else {}
        self.default_headers = default_headers

    def submit(self, request: httpx.Request, body: bytes) -> Future[httpx.Response]:
        return asyncio.run_coroutine_threadsafe(self.handle(request, body), self.loop)

    async def handle(self, request: httpx.Request, body: bytes) -> httpx.Response:
        raw_path = request.url.raw_path.split(b"?", 1)[0]
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "server": ("127.0.0.1", self.port),
            "client": ("127.0.0.1", next(_client_ports)),
            "scheme": request.url.scheme,
            "root_path": self.root_path,
            "headers": [(name.lower(), value) for name, value in request.headers.raw],
            "state": self.state.copy(),
            "method": request.method,
            "path": self.root_path + path,
            "raw_path": self.root_path.encode("ascii") + raw_path,
            "query_string": request.url.query,
        }
        body_sent = False
        complete = asyncio.Event()
        started: Message | None = None
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await complete.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    complete.set()

        try:
            await self.app(scope, receive, send)
        except Exception:
            log.exception("Exception in ASGI application\n")
            if started is None:
                complete.set()
                return self._internal_error(request)
            if not complete.is_set():
                complete.set()
                raise httpx.RemoteProtocolError("server disconnected mid-response", request=request) from None
        complete.set()
        if started is None:
            log.error("ASGI callable returned without starting response.")
            return self._internal_error(request)
        content = b"" if request.method == "HEAD" else b"".join(chunks)
        return self._response(request, int(started["status"]), list(started.get("headers", [])), content)

    def _internal_error(self, request: httpx.Request) -> httpx.Response:
        """uvicorn's answer when the app fails before it starts a response."""
        headers = [(b"content-type", b"text/plain; charset=utf-8")]
        return self._response(request, 500, headers, b"Internal Server Error")

    def _response(
        self, request: httpx.Request, status: int, headers: list[tuple[bytes, bytes]], content: bytes
    ) -> httpx.Response:
        return httpx.Response(
            status, headers=[*self.default_headers(), *headers], content=content, request=request
        )


def _read_timeout(request: httpx.Request) -> float | None:
    timeout: dict[str, float | None] = request.extensions.get("timeout", {})
    return timeout.get("read")


class InProcessTransport(httpx.BaseTransport):
    """A sync httpx transport onto an ``AppOnLoop``; the client's read timeout bounds the wait."""

    def __init__(self, served: AppOnLoop) -> None:
        self.served = served

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        future = self.served.submit(request, request.read())
        try:
            return future.result(timeout=_read_timeout(request))
        except FutureTimeout:
            # As over a socket, the app goes on with the request the client gave up on.
            raise httpx.ReadTimeout("no response within the read timeout", request=request) from None


class AsyncInProcessTransport(httpx.AsyncBaseTransport):
    """An async httpx transport onto an ``AppOnLoop``, for a client on another event loop (async tests)."""

    def __init__(self, served: AppOnLoop) -> None:
        self.served = served

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        waiting = asyncio.wrap_future(self.served.submit(request, body))
        done, _ = await asyncio.wait({waiting}, timeout=_read_timeout(request))
        if not done:
            # As over a socket, the app goes on with the request the client gave up on.
            raise httpx.ReadTimeout("no response within the read timeout", request=request)
        return waiting.result()
