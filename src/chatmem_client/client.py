"""``ZepClient``: one object for sync and async calls against a chatmem server."""

from __future__ import annotations

import os
from types import TracebackType

from chatmem_client.endpoints import health
from chatmem_client.operation import Resource, asynchronous, sync
from chatmem_client.resources import MemoryClient, MessageClient, UserClient
from chatmem_client.transport import Transport

DEFAULT_URL = "http://localhost:8000"
URL_ENV = "CHATMEM_URL"


class ZepClient(Resource):
    """A client of the chatmem REST API (the Zep 0.x API), usable from sync and async code alike.

    ``base_url`` defaults to ``$CHATMEM_URL``, else ``http://localhost:8000``; a path prefix is kept
    (``https://host/chatmem`` calls ``https://host/chatmem/api/v1/...``). ``api_key`` is sent as
    ``Authorization: Bearer <api_key>``. ``timeout`` is in seconds, per request.

    ``with`` / ``async with`` check the server's health on entry and release connections on exit;
    the client remains usable afterwards (connections are reopened on the next call).
    """

    def __init__(
        self, base_url: str | None = None, api_key: str | None = None, timeout: float = 10.0
    ) -> None:
        url = base_url or os.environ.get(URL_ENV) or DEFAULT_URL
        super().__init__(Transport(url, api_key=api_key, timeout=timeout))
        self.base_url = url.rstrip("/")
        self.memory = MemoryClient(self._transport)
        self.message = MessageClient(self._transport)
        self.user = UserClient(self._transport)

    check_health = sync(health.check_health)
    acheck_health = asynchronous(health.check_health)

    def close(self) -> None:
        """Release both connection pools. Called from async code, the async pool's release is only
        scheduled on the running loop: ``await aclose()`` there to wait for it."""
        self._transport.close()

    async def aclose(self) -> None:
        """Release both connection pools."""
        await self._transport.aclose()

    def __enter__(self) -> ZepClient:
        self.check_health()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> ZepClient:
        await self.acheck_health()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"ZepClient(base_url={self.base_url!r})"


Client = ZepClient
