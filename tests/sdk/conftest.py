"""SDK fixtures: a ``ZepClient`` on the shared live server, and ``twin`` to run one test body through
the sync methods and again through their async twins."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest

from chatmem import CreateUserRequest, ZepClient
from tests.support import LiveServer


class Twin:
    """Calls ``resource.name(...)`` in sync mode, ``await resource.aname(...)`` in async mode."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    async def __call__(self, resource: object, name: str, *args: Any, **kwargs: Any) -> Any:
        if self.mode == "sync":
            return getattr(resource, name)(*args, **kwargs)
        return await getattr(resource, "a" + name)(*args, **kwargs)

    async def chunks(self, resource: object, name: str, *args: Any, **kwargs: Any) -> list[list[Any]]:
        """All chunks of a sync generator method, or of its async-generator twin."""
        if self.mode == "sync":
            return list(getattr(resource, name)(*args, **kwargs))
        generator: AsyncIterator[list[Any]] = getattr(resource, "a" + name)(*args, **kwargs)
        return [chunk async for chunk in generator]


@pytest.fixture(params=["sync", "async"])
def twin(request: pytest.FixtureRequest) -> Twin:
    return Twin(str(request.param))


@pytest.fixture
async def client(shared_server: LiveServer) -> AsyncIterator[ZepClient]:
    client = ZepClient(base_url=shared_server.url)
    yield client
    await client.aclose()


@pytest.fixture
async def fresh_client(
    fresh_server: Callable[..., AbstractContextManager[LiveServer]],
) -> AsyncIterator[ZepClient]:
    """A client on a server with an empty database of its own (for tests that list everything)."""
    with fresh_server() as server:
        async with ZepClient(base_url=server.url) as client:
            yield client


@pytest.fixture
def user_id(client: ZepClient) -> str:
    user = client.user.add(CreateUserRequest(user_id=f"u-{uuid.uuid4().hex}"))
    return user.user_id
