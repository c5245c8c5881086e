"""Messages: paging by page number, single message reads, metadata updates."""

from __future__ import annotations

import uuid

import httpx


def seed(api: httpx.Client, sid: str, count: int) -> list[dict[str, object]]:
    api.post(
        f"/sessions/{sid}/memory",
        json={"messages": [{"role": "human", "content": f"m{i}"} for i in range(count)]},
    )
    return list(api.get(f"/sessions/{sid}/messages").json()["messages"])


def test_message_list_pages_by_one_based_page_number(api: httpx.Client, sid: str) -> None:
    seed(api, sid, 25)
    first = api.get(f"/sessions/{sid}/messages?limit=10&cursor=1").json()
    third = api.get(f"/sessions/{sid}/messages?limit=10&cursor=3").json()
    beyond = api.get(f"/sessions/{sid}/messages?limit=10&cursor=4").json()
    assert [m["content"] for m in first["messages"]] == [f"m{i}" for i in range(10)]
    assert (first["total_count"], first["row_count"]) == (25, 10)
    assert [m["content"] for m in third["messages"]] == [f"m{i}" for i in range(20, 25)]
    assert third["row_count"] == 5
    assert beyond["messages"] == [] and beyond["row_count"] == 0


def test_message_list_without_limit_returns_all(api: httpx.Client, sid: str) -> None:
    assert len(seed(api, sid, 120)) == 120
    assert api.get(f"/sessions/{sid}/messages?cursor=0").json()["row_count"] == 120


def test_message_list_of_unknown_session_is_empty(api: httpx.Client, sid: str) -> None:
    assert api.get(f"/sessions/{sid}/messages").json() == {"messages": [], "total_count": 0, "row_count": 0}


def test_get_one_message(api: httpx.Client, sid: str) -> None:
    message = seed(api, sid, 3)[1]
    assert api.get(f"/sessions/{sid}/messages/{message['uuid']}").json() == message


def test_unknown_message_is_404_and_malformed_uuid_400(api: httpx.Client, sid: str) -> None:
    seed(api, sid, 1)
    assert api.get(f"/sessions/{sid}/messages/{uuid.uuid4()}").status_code == 404
    assert (
        api.patch(f"/sessions/{sid}/messages/{uuid.uuid4()}", json={"metadata": {"a": 1}}).status_code == 404
    )
    assert api.patch(f"/sessions/{sid}/messages/{uuid.uuid4()}", json={}).status_code == 404
    response = api.get(f"/sessions/{sid}/messages/not-a-uuid")
    assert response.status_code == 400
    assert "not a valid UUID" in response.json()["message"]


def test_a_message_is_only_reachable_through_its_own_session(api: httpx.Client, sid: str) -> None:
    message = seed(api, sid, 1)[0]
    seed(api, f"{sid}-b", 1)
    assert api.get(f"/sessions/{sid}-b/messages/{message['uuid']}").status_code == 404


def test_patch_merges_message_metadata_and_changes_nothing_else(api: httpx.Client, sid: str) -> None:
    api.post(
        f"/sessions/{sid}/memory",
        json={
            "messages": [
                {"role": "human", "content": "c", "token_count": 9, "metadata": {"a": {"x": 1}, "b": 1}}
            ]
        },
    )
    [message] = api.get(f"/sessions/{sid}/messages").json()["messages"]
    url = f"/sessions/{sid}/messages/{message['uuid']}"
    body = {
        "metadata": {"a": {"y": 2}, "b": None, "system": {"no": 1}},
        "role": "ai",
        "content": "changed",
        "token_count": 0,
    }
    updated = api.patch(url, json=body).json()
    assert updated["metadata"] == {"a": {"x": 1, "y": 2}}
    assert (updated["role"], updated["content"], updated["token_count"]) == ("human", "c", 9)
    assert updated["created_at"] == message["created_at"]
    assert updated["updated_at"] > message["updated_at"]
    assert api.get(url).json() == updated


def test_patch_message_with_empty_metadata_is_400(api: httpx.Client, sid: str) -> None:
    message = seed(api, sid, 1)[0]
    assert api.patch(f"/sessions/{sid}/messages/{message['uuid']}", json={"metadata": {}}).status_code == 400
