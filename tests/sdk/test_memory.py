"""client.memory messages ("memory") and client.message, sync and async, with the server's fast path of
GET/POST memory on and off."""

from __future__ import annotations

import uuid

import pytest

from chatmem import Memory, Message, NotFoundError, Session, ZepClient
from tests.sdk.conftest import Twin
from tests.support import BOTH_PATHS

pytestmark = BOTH_PATHS


def conversation(count: int) -> Memory:
    return Memory(
        messages=[
            Message(role="human" if i % 2 == 0 else "ai", content=f"message {i}", metadata={"i": i})
            for i in range(count)
        ]
    )


async def test_added_messages_come_back_newest_last(client: ZepClient, twin: Twin, sid: str) -> None:
    assert await twin(client.memory, "add_memory", sid, conversation(5)) == "OK"
    memory = await twin(client.memory, "get_memory", sid)
    assert [m.content for m in memory.messages] == [f"message {i}" for i in range(5)]
    assert [m.role for m in memory.messages] == ["human", "ai", "human", "ai", "human"]
    assert memory.messages[2].metadata == {"i": 2}
    assert all(isinstance(m.uuid, uuid.UUID) and m.created_at is not None for m in memory.messages)
    assert memory.summary is None  # the server's all-zero placeholder means "no summary yet"

    last_two = await twin(client.memory, "get_memory", sid, lastn=2)
    assert [m.content for m in last_two.messages] == ["message 3", "message 4"]


async def test_adding_memory_creates_the_session(client: ZepClient, twin: Twin, sid: str) -> None:
    await twin(client.memory, "add_memory", sid, conversation(1))
    assert (await twin(client.memory, "get_session", sid)).session_id == sid


async def test_a_message_sent_twice_with_its_uuid_is_stored_once(
    client: ZepClient, twin: Twin, sid: str
) -> None:
    message = Message(role="human", content="retry me", uuid=uuid.uuid4(), token_count=7)
    await twin(client.memory, "add_memory", sid, Memory(messages=[message]))
    await twin(client.memory, "add_memory", sid, Memory(messages=[message]))
    stored = (await twin(client.memory, "get_memory", sid)).messages
    assert [(m.uuid, m.token_count) for m in stored] == [(message.uuid, 7)]


async def test_memory_of_an_unknown_or_deleted_session_is_empty(
    client: ZepClient, twin: Twin, sid: str
) -> None:
    assert (await twin(client.memory, "get_memory", sid)).messages == []
    await twin(client.memory, "add_memory", sid, conversation(2))
    await twin(client.memory, "delete_memory", sid)
    assert (await twin(client.memory, "get_memory", sid)).messages == []


async def test_messages_are_paged_by_page_number(client: ZepClient, twin: Twin, sid: str) -> None:
    await twin(client.memory, "add_memory", sid, conversation(5))
    pages = [
        await twin(client.message, "get_session_messages", sid, limit=2, cursor=page) for page in (1, 2, 3, 4)
    ]
    assert [[m.content for m in page] for page in pages] == [
        ["message 0", "message 1"],
        ["message 2", "message 3"],
        ["message 4"],
        [],
    ]
    assert len(await twin(client.message, "get_session_messages", sid)) == 5


async def test_paging_arguments_must_be_positive(client: ZepClient, twin: Twin, sid: str) -> None:
    with pytest.raises(ValueError, match="limit"):
        await twin(client.message, "get_session_messages", sid, limit=0)
    with pytest.raises(ValueError, match="cursor"):
        await twin(client.message, "get_session_messages", sid, cursor=0)


async def test_one_message_is_read_and_its_metadata_merged(client: ZepClient, twin: Twin, sid: str) -> None:
    await twin(client.memory, "add_memory", sid, conversation(2))
    first = (await twin(client.memory, "get_memory", sid)).messages[0]

    fetched = await twin(client.message, "get_session_message", sid, first.uuid)
    assert fetched == first
    updated = await twin(
        client.message, "update_message_metadata", sid, str(first.uuid), {"metadata": {"tag": "x"}}
    )
    assert updated.metadata == {"i": 0, "tag": "x"}
    assert (updated.role, updated.content, updated.token_count) == (
        first.role,
        first.content,
        first.token_count,
    )
    assert (await twin(client.message, "get_session_message", sid, first.uuid)).metadata == {
        "i": 0,
        "tag": "x",
    }


async def test_an_unknown_message_is_not_found(client: ZepClient, twin: Twin, sid: str) -> None:
    await twin(client.memory, "add_session", Session(session_id=sid))
    with pytest.raises(NotFoundError):
        await twin(client.message, "get_session_message", sid, uuid.uuid4())
    with pytest.raises(NotFoundError):
        await twin(client.message, "update_message_metadata", sid, uuid.uuid4(), {"metadata": {"a": 1}})


async def test_a_metadata_update_must_be_wrapped_like_zep_python_s(
    client: ZepClient, twin: Twin, sid: str
) -> None:
    with pytest.raises(ValueError, match="metadata"):
        await twin(client.message, "update_message_metadata", sid, uuid.uuid4(), {"tag": "x"})
