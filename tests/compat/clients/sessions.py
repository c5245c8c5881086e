"""client.memory sessions: add, get, update (merge), list_sessions, list_all_sessions (sync and async)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from _common import SPACE_UNICODE, arguments, emit
from zep_python import ZepClient
from zep_python.memory import Session
from zep_python.user import CreateUserRequest


def shape(session: Session) -> dict[str, Any]:
    return {
        "session_id": session.session_id,
        "user_id": session.user_id,
        "metadata": session.metadata,
        "id_is_int": isinstance(session.id, int),
        "has_uuid": bool(session.uuid),
        "has_timestamps": bool(session.created_at) and bool(session.updated_at),
        "deleted_at": session.deleted_at,
    }


def lifecycle(client: ZepClient, session_id: str, user_id: str) -> dict[str, Any]:
    added = client.memory.add_session(
        Session(session_id=session_id, user_id=user_id, metadata={"topic": "tea", "nested": {"a": 1}})
    )
    fetched = client.memory.get_session(session_id)
    updated = client.memory.update_session(
        Session(session_id=session_id, metadata={"nested": {"b": 2}, "mood": "calm"})
    )
    fetched_after_update = client.memory.get_session(session_id)
    # The read-modify-write pattern sends every field of the fetched Session back (uuid, id, times).
    refetched = client.memory.get_session(session_id)
    refetched.metadata = {"mood": "sunny"}
    updated_from_fetched = client.memory.update_session(refetched)
    return {
        "added": shape(added),
        "fetched": shape(fetched),
        "updated": shape(updated),
        "fetched_after_update": shape(fetched_after_update),
        "updated_from_fetched": shape(updated_from_fetched),
    }


def listing(client: ZepClient, prefix: str) -> dict[str, Any]:
    mine = [f"{prefix}-list-{n}" for n in range(9)]
    for session_id in mine:
        client.memory.add_session(Session(session_id=session_id))
    # Soft-deleting sessions ahead of later pages shifts every offset after them: the SDK's generator
    # (cursor = k * chunk) must still visit each live session exactly once.
    deleted = {mine[0], mine[3], mine[4], mine[7]}
    for session_id in deleted:
        client.memory.delete_memory(session_id)
    every = [s.session_id for s in client.memory.list_sessions()]
    chunks = [[s.session_id for s in chunk] for chunk in client.memory.list_all_sessions(chunk_size=2)]
    visited = [session_id for chunk in chunks for session_id in chunk]
    return {
        "live_mine": [s for s in mine if s not in deleted],
        "deleted_mine": sorted(deleted),
        "list_sessions": every,
        "all_sessions": visited,
        "chunk_sizes": [len(chunk) for chunk in chunks],
        "repeats": sorted(s for s, n in Counter(visited).items() if n > 1),
        "limit_3": [s.session_id for s in client.memory.list_sessions(limit=3)],
        "limit_3_cursor_3": [s.session_id for s in client.memory.list_sessions(limit=3, cursor=3)],
        "cursor_past_end": [s.session_id for s in client.memory.list_sessions(limit=3, cursor=100_000)],
        "created_without_metadata": client.memory.get_session(mine[1]).metadata,
        "revived_id": mine[0],
        "revived": shape(client.memory.add_session(Session(session_id=mine[0], metadata={"again": True}))),
        "revived_get": shape(client.memory.get_session(mine[0])),
    }


async def async_twins(client: ZepClient, prefix: str) -> dict[str, Any]:
    session_id = f"{prefix}-async"
    added = await client.memory.aadd_session(Session(session_id=session_id, metadata={"a": 1}))
    fetched = await client.memory.aget_session(session_id)
    updated = await client.memory.aupdate_session(Session(session_id=session_id, metadata={"b": 2}))
    listed = [s.session_id for s in await client.memory.alist_sessions()]
    visited = [s.session_id async for chunk in client.memory.alist_all_sessions(chunk_size=4) for s in chunk]
    return {
        "added": shape(added),
        "fetched": shape(fetched),
        "updated": shape(updated),
        "listed": session_id in listed,
        "all_sessions_equals_list": visited == listed,
    }


def main() -> None:
    base_url, prefix = arguments()
    with ZepClient(base_url) as client:
        owner = f"{prefix}-owner"
        client.user.add(CreateUserRequest(user_id=owner))
        result = {
            "plain": lifecycle(client, f"{prefix}-plain", owner),
            "unicode": lifecycle(client, f"{prefix} {SPACE_UNICODE}", owner),
            "listing": listing(client, prefix),
            "async": asyncio.run(async_twins(client, prefix)),
        }
    emit(result)


if __name__ == "__main__":
    main()
