"""client.user, sync and async."""

from __future__ import annotations

import uuid

import pytest

from chatmem import APIError, CreateUserRequest, NotFoundError, Session, UpdateUserRequest, ZepClient
from tests.sdk.conftest import Twin


@pytest.fixture
def uid() -> str:
    return f"user/{uuid.uuid4().hex}"


async def test_a_user_is_added_read_updated_and_deleted(client: ZepClient, twin: Twin, uid: str) -> None:
    added = await twin(
        client.user, "add", CreateUserRequest(user_id=uid, email="a@example.com", metadata={"plan": "free"})
    )
    assert (added.user_id, added.email, added.metadata) == (uid, "a@example.com", {"plan": "free"})
    assert isinstance(added.uuid, uuid.UUID)

    updated = await twin(
        client.user, "update", UpdateUserRequest(user_id=uid, first_name="Ada", metadata={"seats": 3})
    )
    assert (updated.first_name, updated.email) == ("Ada", "a@example.com")
    assert updated.metadata == {"plan": "free", "seats": 3}
    assert await twin(client.user, "get", uid) == updated

    assert await twin(client.user, "delete", uid) is None
    with pytest.raises(NotFoundError):
        await twin(client.user, "get", uid)
    with pytest.raises(NotFoundError):
        await twin(client.user, "delete", uid)


async def test_a_users_sessions_are_listed_and_deleted_with_the_user(
    client: ZepClient, twin: Twin, uid: str
) -> None:
    await twin(client.user, "add", CreateUserRequest(user_id=uid))
    mine = [f"{uid}-s{i}" for i in range(3)]
    for sid in mine:
        await twin(client.memory, "add_session", Session(session_id=sid, user_id=uid))
    await twin(client.memory, "add_session", Session(session_id=f"{uid}-other"))

    assert [s.session_id for s in await twin(client.user, "get_sessions", uid)] == mine
    assert [s.session_id for s in await twin(client.user, "get_sessions", uid, limit=1, cursor=1)] == mine[
        1:2
    ]

    await twin(client.user, "delete", uid)
    with pytest.raises(NotFoundError):
        await twin(client.memory, "get_session", mine[0])
    assert await twin(client.user, "get_sessions", uid) == []


async def test_adding_an_existing_user_is_a_400(client: ZepClient, twin: Twin, uid: str) -> None:
    await twin(client.user, "add", CreateUserRequest(user_id=uid))
    with pytest.raises(APIError) as caught:
        await twin(client.user, "add", CreateUserRequest(user_id=uid))
    assert caught.value.status_code == 400
    assert "already exists" in caught.value.message


async def test_an_update_needs_the_user_id(client: ZepClient, twin: Twin) -> None:
    with pytest.raises(ValueError, match="user_id"):
        await twin(client.user, "update", UpdateUserRequest(email="x@example.com"))
