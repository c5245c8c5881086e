"""client.user: add, get, update, list, list_chunked, get_sessions, delete (sync and async twins)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from _common import SPACE_UNICODE, arguments, emit, error_of
from zep_python import ZepClient
from zep_python.memory import Memory, Message, Session
from zep_python.user import CreateUserRequest, UpdateUserRequest, User


def shape(user: User) -> dict[str, Any]:
    return {
        "user_id": user.user_id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "metadata": user.metadata,
        "uuid": str(user.uuid) if user.uuid else None,
        "has_timestamps": user.created_at is not None and user.updated_at is not None,
        "id_is_int": isinstance(user.id, int),
    }


def lifecycle(client: ZepClient, user_id: str) -> dict[str, Any]:
    added = client.user.add(
        CreateUserRequest(
            user_id=user_id,
            email="ada@example.com",
            first_name="Ada",
            last_name="Lovelace",
            metadata={"plan": "free", "prefs": {"lang": "en"}},
        )
    )
    fetched = client.user.get(user_id)
    updated = client.user.update(
        UpdateUserRequest(user_id=user_id, first_name="Augusta", metadata={"prefs": {"tz": "UTC"}})
    )
    client.memory.add_session(Session(session_id=f"{user_id}-a", user_id=user_id))
    client.memory.add_session(Session(session_id=f"{user_id}-b", user_id=user_id))
    client.memory.add_memory(f"{user_id}-b", Memory(messages=[Message(role="human", content="hello")]))
    client.memory.add_session(Session(session_id=f"{user_id}-c", user_id=user_id))
    client.memory.delete_memory(f"{user_id}-c")
    user_sessions = client.user.get_sessions(user_id)
    client.user.delete(user_id)
    return {
        "added": shape(added),
        "fetched": shape(fetched),
        "updated": shape(updated),
        "sessions": [(s.session_id, s.user_id) for s in user_sessions],
        "after_delete_get": error_of(lambda: client.user.get(user_id)),
        "after_delete_sessions": [s.session_id for s in client.user.get_sessions(user_id)],
        "after_delete_session_get": error_of(lambda: client.memory.get_session(f"{user_id}-a")),
        "after_delete_memory": [m.content for m in client.memory.get_memory(f"{user_id}-b").messages],
        "second_delete": error_of(lambda: client.user.delete(user_id)),
    }


def paging(client: ZepClient, prefix: str) -> dict[str, Any]:
    mine = [f"{prefix}-page-{n}" for n in range(7)]
    for user_id in mine:
        client.user.add(CreateUserRequest(user_id=user_id))
    # Deleting rows in the middle shifts every later offset; the generator must still see each live
    # user exactly once (Zep 0.27's `id > cursor` rule repeats rows here).
    deleted = {mine[1], mine[4]}
    for user_id in deleted:
        client.user.delete(user_id)
    chunked = [user.user_id for chunk in client.user.list_chunked(chunk_size=2) for user in chunk]
    everyone = [user.user_id for user in client.user.list()]
    first_two = [user.user_id for user in client.user.list(limit=2)]
    return {
        "live_mine": [u for u in mine if u not in deleted],
        "chunked": chunked,
        "chunked_repeats": sorted(u for u, n in Counter(chunked).items() if n > 1),
        "list_all": everyone,
        "list_limit_2": first_two,
        "list_limit_2_cursor_2": [user.user_id for user in client.user.list(limit=2, cursor=2)],
        "list_cursor_past_end": [user.user_id for user in client.user.list(limit=2, cursor=10_000)],
    }


async def async_twins(client: ZepClient, prefix: str) -> dict[str, Any]:
    user_id = f"{prefix}-async"
    added = await client.user.aadd(CreateUserRequest(user_id=user_id, metadata={"a": 1}))
    fetched = await client.user.aget(user_id)
    updated = await client.user.aupdate(UpdateUserRequest(user_id=user_id, metadata={"b": 2}))
    await client.memory.aadd_session(Session(session_id=f"{user_id}-s", user_id=user_id))
    sessions = await client.user.aget_sessions(user_id)
    listed = [user.user_id for user in await client.user.alist()]
    chunked = [user.user_id async for chunk in client.user.alist_chunked(chunk_size=3) for user in chunk]
    await client.user.adelete(user_id)
    return {
        "added": shape(added),
        "fetched": shape(fetched),
        "updated": shape(updated),
        "sessions": [s.session_id for s in sessions],
        "listed": user_id in listed,
        "chunked_equals_list": chunked == listed,
        "after_delete_get": error_of(lambda: client.user.get(user_id)),
    }


def main() -> None:
    base_url, prefix = arguments()
    with ZepClient(base_url) as client:
        result = {
            "plain": lifecycle(client, f"{prefix}-ada"),
            "unicode": lifecycle(client, f"{prefix} {SPACE_UNICODE}"),
            "paging": paging(client, prefix),
            "unknown_user_sessions": [s.session_id for s in client.user.get_sessions(f"{prefix}-nobody")],
            "async": asyncio.run(async_twins(client, prefix)),
        }
    emit(result)


if __name__ == "__main__":
    main()
