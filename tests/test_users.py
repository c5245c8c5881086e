"""Users: creation, profile updates, metadata merge, their sessions, deletion."""

from __future__ import annotations

import uuid

import httpx


def test_create_user_returns_201_and_the_zep_user_shape(api: httpx.Client, sid: str) -> None:
    user_id = f"u-{sid}"
    response = api.post(
        "/user",
        json={
            "user_id": user_id,
            "email": "a@example.com",
            "first_name": "Ada",
            "metadata": {"tier": "gold"},
        },
    )
    assert response.status_code == 201
    body = response.json()
    uuid.UUID(body["uuid"])
    assert body["user_id"] == user_id and body["email"] == "a@example.com" and body["first_name"] == "Ada"
    assert "last_name" not in body
    assert body["metadata"] == {"tier": "gold"}
    assert body["deleted_at"] is None and isinstance(body["id"], int)
    assert api.get(f"/user/{user_id}").json() == body


def test_duplicate_or_empty_user_id_is_400(api: httpx.Client, sid: str) -> None:
    api.post("/user", json={"user_id": f"u-{sid}"})
    duplicate = api.post("/user", json={"user_id": f"u-{sid}"})
    assert duplicate.status_code == 400
    assert "user already exists with user_id" in duplicate.json()["message"]
    assert api.post("/user", json={"user_id": ""}).status_code == 400
    assert api.post("/user", json={"email": "x@y"}).status_code == 400


def test_unknown_user_is_404(api: httpx.Client, sid: str) -> None:
    assert api.get(f"/user/nobody-{sid}").status_code == 404
    assert api.patch(f"/user/nobody-{sid}", json={"email": "x"}).status_code == 404
    assert api.delete(f"/user/nobody-{sid}").status_code == 404


def test_update_user_sets_given_fields_and_merges_metadata_including_system(
    api: httpx.Client, sid: str
) -> None:
    user_id = f"u-{sid}"
    api.post(
        "/user",
        json={"user_id": user_id, "email": "old@x", "last_name": "L", "metadata": {"a": 1, "n": {"x": 1}}},
    )
    body = api.patch(
        f"/user/{user_id}",
        json={"email": "new@x", "last_name": "", "metadata": {"n": {"y": 2}, "a": None, "system": {"s": 1}}},
    ).json()
    assert body["email"] == "new@x"
    assert body["last_name"] == "L"
    assert body["metadata"] == {"n": {"x": 1, "y": 2}, "system": {"s": 1}}


def test_user_sessions_lists_the_users_live_sessions_in_creation_order(api: httpx.Client, sid: str) -> None:
    user_id = f"u-{sid}"
    api.post("/user", json={"user_id": user_id})
    for index in range(3):
        api.post("/sessions", json={"session_id": f"{sid}-{index}", "user_id": user_id})
    api.post("/sessions", json={"session_id": f"{sid}-not-mine"})
    api.delete(f"/sessions/{sid}-1/memory")
    listed = api.get(f"/user/{user_id}/sessions").json()
    assert [s["session_id"] for s in listed] == [f"{sid}-0", f"{sid}-2"]
    assert all(s["user_id"] == user_id for s in listed)
    assert api.get(f"/user/nobody-{sid}/sessions").json() == []


def test_deleting_a_user_removes_the_user_and_its_sessions(api: httpx.Client, sid: str) -> None:
    user_id = f"u-{sid}"
    api.post("/user", json={"user_id": user_id})
    api.post("/sessions", json={"session_id": sid, "user_id": user_id})
    api.post(f"/sessions/{sid}/memory", json={"messages": [{"role": "human", "content": "private"}]})
    assert api.delete(f"/user/{user_id}").text == "OK"
    assert api.get(f"/user/{user_id}").status_code == 404
    assert api.get(f"/sessions/{sid}").status_code == 404
    assert api.get(f"/sessions/{sid}/memory").json()["messages"] == []
    assert api.delete(f"/user/{user_id}").status_code == 404
    # the id can be reused, and the new user starts without the old sessions
    assert api.post("/user", json={"user_id": user_id}).status_code == 201
    assert api.get(f"/user/{user_id}/sessions").json() == []


def test_user_ids_with_slashes_and_unicode_work_in_paths(api: httpx.Client, sid: str) -> None:
    user_id = f"org/team ü {sid}"
    api.post("/user", json={"user_id": user_id})
    from urllib.parse import quote

    assert api.get(f"/user/{quote(user_id, safe='')}").json()["user_id"] == user_id
