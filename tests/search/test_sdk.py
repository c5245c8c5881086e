"""chatmem's SDK: ``memory.search_memory`` / ``asearch_memory`` and ``user.search`` / ``asearch``."""

from __future__ import annotations

import uuid

import pytest

from chatmem import CreateUserRequest, ZepClient
from chatmem_client.errors import APIError
from chatmem_client.models import Memory, MemorySearchPayload, Message, Session
from tests.search.conftest import settle
from tests.support import LiveServer


async def test_sdk_searches_a_session_and_a_user(embedding_server: LiveServer) -> None:
    async with ZepClient(base_url=embedding_server.url) as client:
        user_id = f"u-{uuid.uuid4().hex}"
        client.user.add(CreateUserRequest(user_id=user_id))
        sessions = [f"{user_id}-{i}" for i in range(2)]
        for session_id, text in zip(
            sessions, ("I love my terrier dog.", "Bonds pay a fixed coupon."), strict=True
        ):
            client.memory.add_session(Session(session_id=session_id, user_id=user_id))
            client.memory.add_memory(session_id, Memory(messages=[Message(role="human", content=text)]))
        with embedding_server.client("/api/v1") as api:
            settle(api)
        payload = MemorySearchPayload(text="puppy", search_type="similarity")
        hits = client.memory.search_memory(sessions[0], payload, limit=1)
        assert [hit.message.content for hit in hits if hit.message] == ["I love my terrier dog."]
        assert hits[0].dist is not None and hits[0].dist > 0
        ahits = await client.memory.asearch_memory(
            sessions[0], MemorySearchPayload(text="terrier", search_type="text")
        )
        assert [hit.message.content for hit in ahits if hit.message] == ["I love my terrier dog."]
        everywhere = client.user.search(
            user_id, MemorySearchPayload(text="interest rates bonds", search_type="hybrid")
        )
        assert everywhere[0].session_id == sessions[1]
        assert {hit.session_id for hit in everywhere} == set(sessions)
        aeverywhere = await client.user.asearch(user_id, MemorySearchPayload(text="dog"), limit=1)
        assert [hit.session_id for hit in aeverywhere] == [sessions[0]]
        with pytest.raises(APIError):
            client.memory.search_memory(sessions[0], MemorySearchPayload(text=""))
