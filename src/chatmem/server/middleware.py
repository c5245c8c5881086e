"""One pure ASGI middleware for the transport rules every route shares.

- Every response carries ``X-Zep-Version`` (the SDKs check it).
- The route path is rebuilt from the raw, percent-encoded path so that an encoded ``/`` (``%2F``)
  inside a session or user id stays inside its path segment (the ``id`` convertor decodes it).
- A trailing slash reaches the same handler (no redirect: the SDKs do not follow redirects).
- Request bodies over the configured size get 413 before any handler runs, and a body that does not
  arrive within ``body_timeout`` seconds gets 408.
- ``chatmem.server.guard`` checks Host, path, Content-Type and the JSON body of every request (400,
  415) before any handler runs; the parsed body rides along in ``scope["chatmem.json"]``.
- A request goes to ``fast`` first (``chatmem.server.fast_routes``), then to the app if ``fast`` did
  not answer it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from urllib.parse import unquote

import anyio
import anyio.to_thread
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatmem.base.errors import ChatmemError
from chatmem.server import guard
from chatmem.server.errors import error_response
from chatmem.server.observe import request_context
from chatmem.server.responses import error
from chatmem.version import ZEP_VERSION_HEADER

_VERSION_HEADER = (b"x-zep-version", ZEP_VERSION_HEADER.encode())


def route_path(raw_path: bytes) -> str:
    """Decode each segment, then re-encode only ``%`` and ``/`` so segment boundaries survive."""
    path = raw_path.decode("latin-1")
    if b"%" in raw_path:  # without one, each segment decodes to itself
        segments = path.split("/")
        path = "/".join(unquote(segment).replace("%", "%25").replace("/", "%2F") for segment in segments)
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    return path


# Answers the request (scope, whole body, send) and returns True, or returns False.
FastPath = Callable[[Scope, bytes, Send], Awaitable[bool]]


class ZepTransportMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_size: int,
        fast: FastPath | None = None,
        allowed_hosts: frozenset[str] = frozenset({"*"}),
        body_timeout: float = 30,
        routes: Sequence[BaseRoute] = (),
    ) -> None:
        self.app = app
        # To name the route of a request refused here, before the router saw it (metrics, logs).
        self.routes = routes
        self.max_body_size = max_body_size
        self.fast = fast
        self.allowed_hosts = allowed_hosts
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), _VERSION_HEADER]
            await send(message)

        raw_path = scope.get("raw_path")
        headers = scope.get("headers", ())
        try:
            guard.check_host(headers, self.allowed_hosts)
            if raw_path is not None:
                guard.check_path(raw_path)
            if scope["method"] in guard.WRITE_METHODS:
                guard.check_content_type(headers)
        except ChatmemError as exc:
            await self._refuse(exc, scope, receive, send_with_version)
            return
        if raw_path is not None:
            scope = dict(scope)
            scope["path"] = route_path(raw_path)

        if scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            if self.fast is None or not await self.fast(scope, b"", send_with_version):
                await self.app(scope, receive, send_with_version)
            return

        # asyncio's own timeout: anyio's cancel scope cost more CPU per request than the body parsing.
        try:
            async with asyncio.timeout(self.body_timeout):
                body = await self._read_body(receive)
        except TimeoutError:
            response = error(408, f"the request body did not arrive within {self.body_timeout:g} s")
            response.headers["Connection"] = "close"
            await response(scope, receive, send_with_version)
            return
        if body is None:
            response = error(413, f"request body too large: the limit is {self.max_body_size} bytes")
            await response(scope, receive, send_with_version)
            return
        try:
            if len(body) > guard.OFF_LOOP_BODY_BYTES:
                parsed = await anyio.to_thread.run_sync(guard.check_body, body)
            else:
                parsed = guard.check_body(body)
        except ChatmemError as exc:
            await self._refuse(exc, scope, receive, send_with_version)
            return
        scope = dict(scope)
        scope["chatmem.json"] = parsed

        if self.fast is not None and await self.fast(scope, body, send_with_version):
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send_with_version)

    async def _refuse(self, exc: ChatmemError, scope: Scope, receive: Receive, send: Send) -> None:
        context = request_context(scope)
        if context is not None:
            for route in _leaves(self.routes):
                if isinstance(route, Route) and route.matches(scope)[0] != Match.NONE:
                    context.route = route.path_format
                    break
        await error_response(exc, scope["method"], scope.get("path", ""))(scope, receive, send)

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it exceeds the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_size:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _leaves(routes: Sequence[BaseRoute]) -> Iterator[BaseRoute]:
    """The routes themselves, also those inside the routers FastAPI includes."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _leaves(inner.routes)
        else:
            yield route
