"""The two thin executors of endpoint calls: one over ``httpx.Client``, one over ``httpx.AsyncClient``.

Both httpx clients are created on first use and closed by ``close``/``aclose``, so a client object
stays usable after its ``with``/``async with`` block ended (the next call opens a new connection
pool). The async client is bound to the event loop that created it and is re-created for another
loop, so one ``ZepClient`` can serve several ``asyncio.run`` calls; each async pool is also closed
when its loop shuts down, because an httpx.AsyncClient cannot be closed once its loop is gone.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any, TypeVar

import httpx

from chatmem_client.call import Call, Paged
from chatmem_client.errors import ServerUnreachableError

T = TypeVar("T")


class Transport:
    def __init__(self, base_url: str, *, api_key: str | None, timeout: float) -> None:
        # A trailing slash makes httpx append request paths to a base URL with a path prefix.
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = timeout
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._lock = threading.Lock()
        self._sync: httpx.Client | None = None
        self._async: httpx.AsyncClient | None = None
        self._async_loop: asyncio.AbstractEventLoop | None = None
        self._async_closer: AsyncGenerator[None, None] | None = None
        self._closing: asyncio.Task[None] | None = None

    # -- clients -------------------------------------------------------------------------------

    def _client(self) -> httpx.Client:
        with self._lock:
            if self._sync is None:
                self._sync = httpx.Client(base_url=self.base_url, headers=self._headers, timeout=self.timeout)
            return self._sync

    async def _async_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._async is not None and self._async_loop is loop:
                return self._async
            # The pool of another (possibly closed) loop cannot be used here; its loop closes it.
            client = httpx.AsyncClient(base_url=self.base_url, headers=self._headers, timeout=self.timeout)
            closer = _close_with_loop(client)
            self._async, self._async_loop, self._async_closer = client, loop, closer
        await anext(closer)
        return client

    def close(self) -> None:
        """Close the sync pool, and the async one unless its loop is busy elsewhere: on the running
        loop of this thread its close is scheduled (``aclose`` waits for it); on an idle loop it runs
        here; a closed loop has closed it already."""
        with self._lock:
            client, self._sync = self._sync, None
            loop, closer = self._async_loop, self._async_closer
            self._async = self._async_loop = self._async_closer = None
        if client is not None:
            client.close()
        if loop is None or closer is None or loop.is_closed():
            return
        if loop is _running_loop():
            self._closing = loop.create_task(closer.aclose())
        elif not loop.is_running() and _running_loop() is None:
            loop.run_until_complete(closer.aclose())

    async def aclose(self) -> None:
        """Close both pools (the async one on its own loop, see ``close``)."""
        self.close()
        closing, self._closing = self._closing, None
        if closing is not None:
            await closing

    # -- running calls -------------------------------------------------------------------------

    def run(self, call: Call[T]) -> T:
        client = self._client()
        try:
            response = client.request(call.method, call.path, params=call.params, json=call.json)
        except httpx.TransportError as exc:
            raise self._unreachable(call, exc) from exc
        return call.finish(response)

    async def arun(self, call: Call[T]) -> T:
        client = await self._async_client()
        try:
            response = await client.request(call.method, call.path, params=call.params, json=call.json)
        except httpx.TransportError as exc:
            raise self._unreachable(call, exc) from exc
        return call.finish(response)

    def pages(self, paged: Paged[T]) -> Iterator[list[T]]:
        token: str | None = None
        while True:
            chunk = self.run(paged.page(token))
            if chunk.items:
                yield chunk.items
            if chunk.next_token is None:
                return
            token = chunk.next_token

    async def apages(self, paged: Paged[T]) -> AsyncIterator[list[T]]:
        token: str | None = None
        while True:
            chunk = await self.arun(paged.page(token))
            if chunk.items:
                yield chunk.items
            if chunk.next_token is None:
                return
            token = chunk.next_token

    def _unreachable(self, call: Call[Any], exc: httpx.TransportError) -> ServerUnreachableError:
        url = self.base_url.rstrip("/")
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            reason = (
                f"could not connect to the chatmem server at {url} ({exc or type(exc).__name__}). "
                "Is it running? Pass base_url= or set CHATMEM_URL"
            )
        elif isinstance(exc, httpx.TimeoutException):
            reason = (
                f"the chatmem server at {url} did not answer {call.method} {call.path} within {self.timeout}s"
            )
        else:
            reason = f"{call.method} {call.path} to {url} failed: {exc or type(exc).__name__}"
        return ServerUnreachableError(reason)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def _close_with_loop(client: httpx.AsyncClient) -> AsyncGenerator[None, None]:
    """Parked at its ``yield`` while the pool lives. The loop tracks unfinished async generators and
    closes them before it closes itself (``asyncio.run`` calls ``loop.shutdown_asyncgens``), so the
    pool is closed on the loop that owns its connections even when nobody called ``aclose``."""
    try:
        yield
    finally:
        await client.aclose()
