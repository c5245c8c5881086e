"""Sessions: arbitrary ids, explicit creation, users, metadata merge, revival."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import httpx
import pytest

from tests.support import LiveServer

ODD_IDS = [
    "with spaces and  double  spaces",
    "slash/inside/the/id",
    "percent%2Fencoded-looking%",
    "question?mark#hash&amp=1",
    "unicodé 会话 🙂",
    "plus+sign;semi:colon,comma",
    "x" * 1500,
]


def path(session_id: str) -> str:
    return f"/sessions/{quote(session_id, safe='')}"


@pytest.mark.parametrize("odd", ODD_IDS, ids=range(len(ODD_IDS)))
def test_arbitrary_session_ids_round_trip_exactly(api: httpx.Client, odd: str) -> None:
    session_id = f"{odd}-{uuid.uuid4().hex[:6]}"
    assert (
        api.post(f"{path(session_id)}/memory", json={"messages": [{"role": "human", "content": "hi"}]}).text
        == "OK"
    )
    assert api.get(path(session_id)).json()["session_id"] == session_id
    memory = api.get(f"{path(session_id)}/memory").json()
    assert [m["content"] for m in memory["messages"]] == ["hi"]
    patched = api.patch(path(session_id), json={"metadata": {"k": 1}})
    assert patched.json()["session_id"] == session_id
    assert api.delete(f"{path(session_id)}/memory").text == "OK"
    assert api.get(path(session_id)).status_code == 404


def test_session_ids_longer_than_the_limit_are_refused(api: httpx.Client) -> None:
    response = api.post("/sessions", json={"session_id": "y" * 3000})
    assert response.status_code == 400
    assert "longer than" in response.json()["message"]


def test_create_session_returns_201_and_the_zep_session_shape(api: httpx.Client, sid: str) -> None:
    response = api.post("/sessions", json={"session_id": sid, "metadata": {"a": {"b": 1}}})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "uuid",
        "id",
        "created_at",
        "updated_at",
        "deleted_at",
        "session_id",
        "metadata",
        "user_id",
    }
    assert body["session_id"] == sid
    assert body["metadata"] == {"a": {"b": 1}}
    assert body["deleted_at"] is None and body["user_id"] is None
    assert isinstance(body["id"], int)
    assert body["created_at"].endswith("Z")
    uuid.UUID(body["uuid"])
    assert api.get(path(sid)).json() == body


def test_creating_an_existing_session_is_400(api: httpx.Client, sid: str) -> None:
    api.post("/sessions", json={"session_id": sid, "metadata": {"v": 1}})
    response = api.post("/sessions", json={"session_id": sid, "metadata": {"v": 2}})
    assert response.status_code == 400
    assert "already exists" in response.json()["message"]
    assert api.get(path(sid)).json()["metadata"] == {"v": 1}


def test_empty_session_id_is_400(api: httpx.Client) -> None:
    for body in ({"session_id": ""}, {"session_id": "   "}, {}, {"session_id": None}, {"session_id": 5}):
        assert api.post("/sessions", json=body).status_code == 400, body


def test_session_with_unknown_user_is_400_and_not_created(api: httpx.Client, sid: str) -> None:
    response = api.post("/sessions", json={"session_id": sid, "user_id": f"ghost-{sid}"})
    assert response.status_code == 400
    assert "user does not exist" in response.json()["message"]
    assert api.get(path(sid)).status_code == 404


def test_session_belongs_to_the_user_given_at_creation(api: httpx.Client, sid: str) -> None:
    user_id = f"u-{sid}"
    api.post("/user", json={"user_id": user_id})
    created = api.post("/sessions", json={"session_id": sid, "user_id": user_id}).json()
    assert created["user_id"] == user_id
    # user_id in a PATCH body is ignored: owners are fixed at creation
    api.post("/user", json={"user_id": f"other-{sid}"})
    patched = api.patch(path(sid), json={"user_id": f"other-{sid}", "metadata": {"x": 1}}).json()
    assert patched["user_id"] == user_id


def test_get_unknown_session_is_404(api: httpx.Client, sid: str) -> None:
    response = api.get(path(sid))
    assert response.status_code == 404
    assert response.json() == {"message": "session not found"}


def test_patch_merges_metadata_deeply_and_null_removes_a_key(api: httpx.Client, sid: str) -> None:
    api.post(
        "/sessions",
        json={"session_id": sid, "metadata": {"a": 1, "nested": {"x": 1, "y": 2}, "list": [1, 2]}},
    )
    body = api.patch(
        path(sid), json={"metadata": {"b": 2, "nested": {"y": None, "z": 3}, "list": [3]}}
    ).json()
    assert body["metadata"] == {"a": 1, "b": 2, "nested": {"x": 1, "z": 3}, "list": [3]}
    body = api.patch(path(sid), json={"metadata": {"a": None}}).json()
    assert body["metadata"] == {"b": 2, "nested": {"x": 1, "z": 3}, "list": [3]}
    assert api.get(path(sid)).json()["metadata"] == body["metadata"]


def test_patch_bumps_updated_at_only(api: httpx.Client, sid: str) -> None:
    created = api.post("/sessions", json={"session_id": sid, "metadata": {"a": 1}}).json()
    patched = api.patch(path(sid), json={}).json()
    assert patched["metadata"] == {"a": 1}
    assert patched["created_at"] == created["created_at"]
    assert patched["updated_at"] > created["updated_at"]


def test_patch_cannot_write_the_reserved_system_key(api: httpx.Client, sid: str) -> None:
    api.post("/sessions", json={"session_id": sid, "metadata": {"system": {"kept": True}}})
    body = api.patch(path(sid), json={"metadata": {"system": {"evil": 1}, "ok": 1}}).json()
    assert body["metadata"] == {"system": {"kept": True}, "ok": 1}
    body = api.patch(path(sid), json={"metadata": {"system": None}}).json()
    assert body["metadata"]["system"] == {"kept": True}


def test_patch_with_empty_metadata_object_is_400_and_changes_nothing(api: httpx.Client, sid: str) -> None:
    created = api.post("/sessions", json={"session_id": sid, "metadata": {"a": 1}}).json()
    response = api.patch(path(sid), json={"metadata": {}})
    assert response.status_code == 400
    assert api.get(path(sid)).json() == created


def test_patch_unknown_or_deleted_session_is_404(api: httpx.Client, sid: str) -> None:
    assert api.patch(path(sid), json={"metadata": {"a": 1}}).status_code == 404
    api.post("/sessions", json={"session_id": sid})
    api.delete(f"{path(sid)}/memory")
    assert api.patch(path(sid), json={"metadata": {"a": 1}}).status_code == 404
    assert api.get(path(sid)).status_code == 404


def test_fifty_concurrent_patches_with_different_keys_all_survive(
    shared_server: LiveServer, sid: str
) -> None:
    with shared_server.client("/api/v1", timeout=60) as client:
        client.post("/sessions", json={"session_id": sid, "metadata": {"start": True}})

        def patch(index: int) -> int:
            return client.patch(
                path(sid), json={"metadata": {f"k{index}": index, "deep": {f"d{index}": index}}}
            ).status_code

        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(patch, range(50)))
        assert statuses == [200] * 50
        metadata = client.get(path(sid)).json()["metadata"]
    assert metadata["start"] is True
    assert {k: v for k, v in metadata.items() if k.startswith("k")} == {f"k{i}": i for i in range(50)}
    assert metadata["deep"] == {f"d{i}": i for i in range(50)}


def test_creating_a_soft_deleted_session_revives_it_with_new_user_and_metadata(
    api: httpx.Client, sid: str
) -> None:
    user_id = f"u-{sid}"
    api.post("/user", json={"user_id": user_id})
    first = api.post("/sessions", json={"session_id": sid, "metadata": {"old": 1}}).json()
    api.post(f"{path(sid)}/memory", json={"messages": [{"role": "human", "content": "old message"}]})
    api.delete(f"{path(sid)}/memory")
    response = api.post("/sessions", json={"session_id": sid, "user_id": user_id, "metadata": {"new": 2}})
    assert response.status_code == 201
    revived = response.json()
    assert revived["metadata"] == {"new": 2}
    assert revived["user_id"] == user_id
    assert revived["id"] == first["id"]
    assert api.get(f"{path(sid)}/memory").json()["messages"] == []
    assert [s["session_id"] for s in api.get(f"/user/{user_id}/sessions").json()] == [sid]


def test_metadata_numbers_and_unicode_round_trip(api: httpx.Client, sid: str) -> None:
    metadata = {
        "int": 12345678901234,
        "float": 0.1,
        "neg": -2.5e-8,
        "text": "ünïcødé 🙂",
        "t": True,
        "n": [None],
    }
    assert (
        api.post("/sessions", json={"session_id": sid, "metadata": metadata}).json()["metadata"] == metadata
    )
    assert api.get(path(sid)).json()["metadata"] == metadata


def test_patch_with_upsert_creates_a_missing_session_with_the_given_user(api: httpx.Client, sid: str) -> None:
    user_id = f"u-{sid}"
    api.post("/user", json={"user_id": user_id})
    body = {"metadata": {"a": 1, "gone": None, "system": {"x": 1}}, "user_id": user_id}
    created = api.patch(f"{path(sid)}?upsert=true", json=body)
    assert created.status_code == 200
    assert created.json()["metadata"] == {"a": 1}
    assert created.json()["user_id"] == user_id
    merged = api.patch(f"{path(sid)}?upsert=true", json={"metadata": {"b": 2}, "user_id": "ignored"}).json()
    assert merged["metadata"] == {"a": 1, "b": 2}
    assert merged["user_id"] == user_id
    assert api.patch(f"{path(sid)}-other?upsert=false", json={"metadata": {"a": 1}}).status_code == 404
    assert api.patch(f"{path(sid)}-other?upsert=maybe", json={"metadata": {"a": 1}}).status_code == 400


def test_patch_with_upsert_revives_a_deleted_session_empty(api: httpx.Client, sid: str) -> None:
    api.post(f"{path(sid)}/memory", json={"messages": [{"role": "h", "content": "old"}]})
    api.patch(path(sid), json={"metadata": {"old": 1}})
    api.delete(f"{path(sid)}/memory")
    revived = api.patch(f"{path(sid)}?upsert=true", json={"metadata": {"new": 1}}).json()
    assert revived["metadata"] == {"new": 1}
    assert api.get(f"{path(sid)}/memory").json()["messages"] == []
