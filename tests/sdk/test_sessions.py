"""client.memory session methods, each run through its sync form and its async twin."""

from __future__ import annotations

import uuid

import pytest

from chatmem import APIError, NotFoundError, Session, ZepClient
from tests.sdk.conftest import Twin


async def test_add_get_update_and_delete_a_session(
    client: ZepClient, twin: Twin, sid: str, user_id: str
) -> None:
    added = await twin(
        client.memory, "add_session", Session(session_id=sid, user_id=user_id, metadata={"a": 1})
    )
    assert (added.session_id, added.user_id, added.metadata) == (sid, user_id, {"a": 1})
    assert added.created_at is not None and added.created_at.tzinfo is not None
    assert isinstance(added.uuid, uuid.UUID)

    updated = await twin(
        client.memory, "update_session", Session(session_id=sid, metadata={"b": {"c": 2}, "a": None})
    )
    assert updated.metadata == {"b": {"c": 2}}  # merged; None removes a key
    assert updated.user_id == user_id

    fetched = await twin(client.memory, "get_session", sid)
    assert fetched.metadata == {"b": {"c": 2}}
    assert fetched.uuid == added.uuid

    assert await twin(client.memory, "delete_memory", sid) == "OK"
    with pytest.raises(NotFoundError):
        await twin(client.memory, "get_session", sid)
    with pytest.raises(NotFoundError):
        await twin(client.memory, "delete_memory", sid)


async def test_a_session_without_an_id_is_created_under_a_fresh_one(client: ZepClient, twin: Twin) -> None:
    first, second = Session(), Session()
    assert first.session_id != second.session_id
    added = await twin(client.memory, "add_session", first)
    assert added.session_id == first.session_id
    assert (await twin(client.memory, "get_session", first.session_id)).session_id == first.session_id


async def test_ids_with_slashes_percent_signs_and_spaces_reach_the_right_session(
    client: ZepClient, twin: Twin
) -> None:
    sid = f"tenant/{uuid.uuid4().hex}?x=1&y=%2F #é"
    await twin(client.memory, "add_session", Session(session_id=sid, metadata={"k": "v"}))
    assert (await twin(client.memory, "get_session", sid)).session_id == sid
    with pytest.raises(NotFoundError):
        await twin(client.memory, "get_session", sid.replace("/", "%2F"))


async def test_adding_a_live_session_twice_is_a_400_with_the_server_message(
    client: ZepClient, twin: Twin, sid: str
) -> None:
    await twin(client.memory, "add_session", Session(session_id=sid))
    with pytest.raises(APIError) as caught:
        await twin(client.memory, "add_session", Session(session_id=sid))
    assert not isinstance(caught.value, NotFoundError)
    assert caught.value.status_code == 400
    assert caught.value.message == f"bad request: session already exists with session_id: {sid}"
    assert caught.value.response_data == {"status_code": 400, "message": caught.value.message}


async def test_a_deleted_session_can_be_added_again(client: ZepClient, twin: Twin, sid: str) -> None:
    await twin(client.memory, "add_session", Session(session_id=sid, metadata={"old": True}))
    await twin(client.memory, "delete_memory", sid)
    revived = await twin(client.memory, "add_session", Session(session_id=sid, metadata={"new": True}))
    assert revived.metadata == {"new": True}


async def test_updating_an_unknown_session_creates_it(client: ZepClient, twin: Twin, sid: str) -> None:
    created = await twin(client.memory, "update_session", Session(session_id=sid, metadata={"a": 1}))
    assert (created.session_id, created.metadata, created.user_id) == (sid, {"a": 1}, None)
    assert (await twin(client.memory, "get_session", sid)).metadata == {"a": 1}


async def test_updating_a_session_of_an_unknown_user_is_refused(
    client: ZepClient, twin: Twin, sid: str
) -> None:
    with pytest.raises(APIError) as caught:
        await twin(client.memory, "update_session", Session(session_id=sid, user_id=f"nobody-{sid}"))
    assert caught.value.status_code == 400
    with pytest.raises(NotFoundError):
        await twin(client.memory, "get_session", sid)


async def test_a_session_of_an_unknown_user_is_refused(client: ZepClient, twin: Twin, sid: str) -> None:
    with pytest.raises(APIError) as caught:
        await twin(client.memory, "add_session", Session(session_id=sid, user_id=f"nobody-{sid}"))
    assert caught.value.status_code == 400
    assert "user does not exist" in caught.value.message


async def test_blank_session_ids_are_refused_before_any_request(client: ZepClient, twin: Twin) -> None:
    for blank in ("", "   "):
        with pytest.raises(ValueError, match="session_id"):
            await twin(client.memory, "get_session", blank)
        with pytest.raises(ValueError, match="session_id"):
            await twin(client.memory, "add_session", Session(session_id=blank))
