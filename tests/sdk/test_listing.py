"""Listing sessions and users: offset pages, and the chunked generators that follow the keyset
cursor (every live row exactly once, whatever is deleted before or during the iteration)."""

from __future__ import annotations

import pytest

from chatmem import CreateUserRequest, Session, ZepClient
from tests.sdk.conftest import Twin


def ids(items: list[Session]) -> list[str]:
    return [s.session_id for s in items]


def make_sessions(client: ZepClient, count: int, user_id: str | None = None) -> list[str]:
    return [
        client.memory.add_session(Session(session_id=f"s{i:03d}", user_id=user_id)).session_id
        for i in range(count)
    ]


async def test_list_sessions_pages_by_offset_into_live_sessions(fresh_client: ZepClient, twin: Twin) -> None:
    created = make_sessions(fresh_client, 7)
    for gone in ("s001", "s004"):
        fresh_client.memory.delete_memory(gone)
    live = [s for s in created if s not in ("s001", "s004")]

    assert ids(await twin(fresh_client.memory, "list_sessions")) == live
    assert ids(await twin(fresh_client.memory, "list_sessions", limit=2, cursor=0)) == live[:2]
    assert ids(await twin(fresh_client.memory, "list_sessions", limit=2, cursor=2)) == live[2:4]
    assert ids(await twin(fresh_client.memory, "list_sessions", limit=10, cursor=4)) == live[4:]
    assert await twin(fresh_client.memory, "list_sessions", limit=2, cursor=50) == []


async def test_list_all_sessions_yields_every_live_session_once_after_deletions(
    fresh_client: ZepClient, twin: Twin
) -> None:
    created = make_sessions(fresh_client, 11)
    for gone in ("s000", "s003", "s004", "s010"):
        fresh_client.memory.delete_memory(gone)
    live = [s for s in created if s not in ("s000", "s003", "s004", "s010")]

    chunks = await twin.chunks(fresh_client.memory, "list_all_sessions", chunk_size=3)
    assert [ids(chunk) for chunk in chunks] == [live[0:3], live[3:6], live[6:7]]
    chunks = await twin.chunks(fresh_client.memory, "list_all_sessions", chunk_size=7)
    assert [ids(chunk) for chunk in chunks] == [live]  # a full last page ends the iteration too


async def test_sessions_deleted_during_iteration_do_not_make_it_skip_others(fresh_client: ZepClient) -> None:
    """With offset paging, deleting rows already seen shifts the offsets and skips rows not yet seen."""
    created = make_sessions(fresh_client, 9)
    seen: list[str] = []
    for chunk in fresh_client.memory.list_all_sessions(chunk_size=3):
        seen.extend(ids(chunk))
        for session in chunk:
            fresh_client.memory.delete_memory(session.session_id)
    assert seen == created

    created = [fresh_client.memory.add_session(Session(session_id=f"t{i}")).session_id for i in range(9)]
    seen = []
    async for chunk in fresh_client.memory.alist_all_sessions(chunk_size=3):
        seen.extend(ids(chunk))
        for session in chunk:
            await fresh_client.memory.adelete_memory(session.session_id)
    assert seen == created


async def test_iterating_an_empty_server_yields_nothing(fresh_client: ZepClient, twin: Twin) -> None:
    assert await twin.chunks(fresh_client.memory, "list_all_sessions") == []
    assert await twin.chunks(fresh_client.user, "list_chunked") == []


async def test_chunk_size_must_be_positive(client: ZepClient, twin: Twin) -> None:
    for bad in (0, -1):
        with pytest.raises(ValueError, match="chunk_size"):
            await twin.chunks(client.memory, "list_all_sessions", chunk_size=bad)
        with pytest.raises(ValueError, match="chunk_size"):
            await twin.chunks(client.user, "list_chunked", chunk_size=bad)


async def test_users_are_listed_by_offset_and_chunked_once_each(fresh_client: ZepClient, twin: Twin) -> None:
    users = [fresh_client.user.add(CreateUserRequest(user_id=f"u{i}")).user_id for i in range(5)]
    fresh_client.user.delete("u1")
    live = [u for u in users if u != "u1"]

    assert [u.user_id for u in await twin(fresh_client.user, "list")] == live
    assert [u.user_id for u in await twin(fresh_client.user, "list", limit=2, cursor=1)] == live[1:3]
    chunks = await twin.chunks(fresh_client.user, "list_chunked", chunk_size=3)
    assert [[u.user_id for u in chunk] for chunk in chunks] == [live[:3], live[3:]]
