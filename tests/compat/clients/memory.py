"""client.memory add/get/delete memory and client.message list/get/update_message_metadata."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from _common import SPACE_UNICODE, arguments, emit, error_of
from zep_python import ZepClient
from zep_python.memory import Memory, Message


def turns(start: int, stop: int) -> Memory:
    return Memory(
        messages=[
            Message(role="human" if n % 2 == 0 else "ai", content=f"turn {n}", metadata={"n": n})
            for n in range(start, stop)
        ]
    )


def message_shape(message: Message) -> dict[str, Any]:
    return {
        "role": message.role,
        "content": message.content,
        "metadata": message.metadata,
        "has_uuid": bool(message.uuid),
        "has_created_at": bool(message.created_at),
        "token_count_is_int": isinstance(message.token_count, int),
    }


def memory_rules(client: ZepClient, session_id: str) -> dict[str, Any]:
    unknown_before = client.memory.get_memory(session_id)
    added = client.memory.add_memory(session_id, turns(0, 15))
    window = client.memory.get_memory(session_id)
    last3 = client.memory.get_memory(session_id, lastn=3)
    summary = window.summary
    client.memory.add_memory(session_id, turns(15, 17))
    after_append = client.memory.get_memory(session_id, lastn=4)
    session = client.memory.get_session(session_id)
    deleted = client.memory.delete_memory(session_id)
    after_delete = client.memory.get_memory(session_id)
    second_delete = error_of(lambda: client.memory.delete_memory(session_id))
    session_after_delete = error_of(lambda: client.memory.get_session(session_id))
    # Appending to a deleted session revives it, but what was deleted stays deleted.
    client.memory.add_memory(session_id, Memory(messages=[Message(role="human", content="back again")]))
    revived = client.memory.get_memory(session_id)
    return {
        "unknown_before": [m.content for m in unknown_before.messages],
        "add_memory_returns": added,
        "window": [m.content for m in window.messages],
        "window_first": message_shape(window.messages[0]),
        "lastn_3": [m.content for m in last3.messages],
        "summary": None if summary is None else summary.dict(),
        "after_append_lastn_4": [m.content for m in after_append.messages],
        "auto_created_session": session.session_id,
        "delete_memory_returns": deleted,
        "after_delete": [m.content for m in after_delete.messages],
        "second_delete": second_delete,
        "session_after_delete": session_after_delete,
        "revived": [m.content for m in revived.messages],
        "revived_session": client.memory.get_session(session_id).session_id,
    }


def message_api(client: ZepClient, session_id: str) -> dict[str, Any]:
    client.memory.add_memory(session_id, turns(0, 5))
    page_1 = client.message.get_session_messages(session_id, limit=2, cursor=1)
    page_3 = client.message.get_session_messages(session_id, limit=2, cursor=3)
    every = client.message.get_session_messages(session_id)
    target = every[1]
    assert target.uuid is not None
    fetched = client.message.get_session_message(session_id, target.uuid)
    updated = client.message.update_message_metadata(
        session_id, target.uuid, {"metadata": {"flag": True, "n": None}}
    )
    refetched = client.message.get_session_message(session_id, target.uuid)
    return {
        "page_1": [m.content for m in page_1],
        "page_3": [m.content for m in page_3],
        "all": [m.content for m in every],
        "fetched": message_shape(fetched),
        "fetched_same_uuid": fetched.uuid == target.uuid,
        "updated": message_shape(updated),
        "refetched": message_shape(refetched),
        "memory_sees_update": next(
            m.metadata for m in client.memory.get_memory(session_id).messages if m.uuid == target.uuid
        ),
        "other_session": error_of(
            lambda: client.message.get_session_message(f"{session_id}-other", str(target.uuid))
        ),
    }


def retries(client: ZepClient, session_id: str) -> dict[str, Any]:
    """A message sent again with the uuid it was stored under is not stored twice."""
    message_uuid = str(uuid.uuid4())
    first = Memory(messages=[Message(role="human", content="only once", uuid=message_uuid)])
    client.memory.add_memory(session_id, first)
    client.memory.add_memory(session_id, first)
    stored = client.memory.get_memory(session_id).messages
    # Messages read back from one session carry uuid, created_at and token_count; sending them to
    # another session (copying a conversation) must store them there too.
    client.memory.add_memory(f"{session_id}-copy", Memory(messages=stored))
    copied = client.memory.get_memory(f"{session_id}-copy").messages
    return {
        "contents": [m.content for m in stored],
        "uuids": [m.uuid for m in stored],
        "sent": message_uuid,
        "copied": [m.content for m in copied],
        "original_after_copy": [m.content for m in client.memory.get_memory(session_id).messages],
    }


async def async_twins(client: ZepClient, session_id: str) -> dict[str, Any]:
    await client.memory.aadd_memory(session_id, turns(0, 4))
    memory = await client.memory.aget_memory(session_id, lastn=2)
    messages = await client.message.aget_session_messages(session_id, limit=10, cursor=1)
    first = messages[0]
    assert first.uuid is not None
    fetched = await client.message.aget_session_message(session_id, first.uuid)
    updated = await client.message.aupdate_message_metadata(session_id, first.uuid, {"metadata": {"x": 1}})
    deleted = await client.memory.adelete_memory(session_id)
    return {
        "lastn_2": [m.content for m in memory.messages],
        "messages": [m.content for m in messages],
        "fetched": fetched.content,
        "updated_metadata": updated.metadata,
        "delete_returns": deleted,
        "after_delete": [m.content for m in (await client.memory.aget_memory(session_id)).messages],
    }


def main() -> None:
    base_url, prefix = arguments()
    with ZepClient(base_url) as client:
        result = {
            "plain": memory_rules(client, f"{prefix}-memory"),
            "unicode": memory_rules(client, f"{prefix} {SPACE_UNICODE}"),
            "messages": message_api(client, f"{prefix}-messages"),
            "messages_unicode": message_api(client, f"{prefix}-msg {SPACE_UNICODE}"),
            "retries": retries(client, f"{prefix}-retries"),
            "async": asyncio.run(async_twins(client, f"{prefix}-async")),
        }
    emit(result)


if __name__ == "__main__":
    main()
