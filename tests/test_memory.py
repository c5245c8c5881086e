"""Memory: appending messages, the recent window, soft delete and revival, retries, ordering.

Every test runs twice: GET/POST memory answered by the fast path, and by the FastAPI routes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager

import httpx

from tests.support import BOTH_PATHS, LiveServer

pytestmark = BOTH_PATHS


def msgs(*contents: str, role: str = "human") -> dict[str, object]:
    return {"messages": [{"role": role, "content": c} for c in contents]}


def contents(api: httpx.Client, sid: str, query: str = "") -> list[str]:
    response = api.get(f"/sessions/{sid}/memory{query}")
    assert response.status_code == 200
    return [m["content"] for m in response.json()["messages"]]


def test_adding_memory_to_an_unknown_session_creates_it(api: httpx.Client, sid: str) -> None:
    response = api.post(f"/sessions/{sid}/memory", json=msgs("hello"))
    assert response.status_code == 200
    assert response.text == "OK"
    session = api.get(f"/sessions/{sid}").json()
    assert session["session_id"] == sid and session["user_id"] is None
    assert contents(api, sid) == ["hello"]


def test_adding_memory_appends_in_order_and_bumps_updated_at(api: httpx.Client, sid: str) -> None:
    api.post(f"/sessions/{sid}/memory", json=msgs("one", "two"))
    before = api.get(f"/sessions/{sid}").json()
    api.post(f"/sessions/{sid}/memory", json=msgs("three"))
    after = api.get(f"/sessions/{sid}").json()
    assert contents(api, sid) == ["one", "two", "three"]
    assert after["updated_at"] > before["updated_at"]
    assert after["created_at"] == before["created_at"]


def test_empty_message_list_still_creates_the_session(api: httpx.Client, sid: str) -> None:
    assert api.post(f"/sessions/{sid}/memory", json={"messages": []}).text == "OK"
    assert api.get(f"/sessions/{sid}").status_code == 200
    assert api.post(f"/sessions/{sid}-2/memory", json={}).text == "OK"


def test_message_fields_round_trip_with_real_timestamps(api: httpx.Client, sid: str) -> None:
    mine = str(uuid.uuid4())
    start = dt.datetime.now(dt.UTC)
    api.post(
        f"/sessions/{sid}/memory",
        json={
            "messages": [
                {"uuid": mine, "role": "ai", "content": "hi", "metadata": {"m": [1]}, "token_count": 7}
            ]
        },
    )
    [message] = api.get(f"/sessions/{sid}/memory").json()["messages"]
    assert message["uuid"] == mine
    assert message["role"] == "ai" and message["content"] == "hi"
    assert message["metadata"] == {"m": [1]}
    assert message["token_count"] == 7
    created = dt.datetime.fromisoformat(message["created_at"])
    assert start - dt.timedelta(seconds=5) < created < dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    assert message["updated_at"] == message["created_at"]


def test_message_fields_round_trip_when_the_server_assigns_the_uuids(api: httpx.Client, sid: str) -> None:
    # Without client uuids PostgreSQL appends in one statement that reads the batch as JSON.
    tricky = "quote \" backslash \\ newline \n tab \t emoji \U0001f600 accents éà 中文 'single'"
    sent = [
        {"role": "user", "content": tricky, "metadata": {"nested": {"list": [1, 2.5, None, "x"]}}},
        {"role": "ai", "content": "plain", "metadata": None, "token_count": 9},
        {"role": "system", "content": "", "metadata": {}},
    ]
    assert api.post(f"/sessions/{sid}/memory", json={"messages": sent}).text == "OK"
    stored = api.get(f"/sessions/{sid}/memory").json()["messages"]
    assert [(m["role"], m["content"], m.get("metadata")) for m in stored] == [
        ("user", tricky, {"nested": {"list": [1, 2.5, None, "x"]}}),
        ("ai", "plain", None),
        ("system", "", None),  # empty metadata is omitted on the wire, as Zep does
    ]
    assert [m["token_count"] for m in stored][1] == 9
    uuids = [uuid.UUID(m["uuid"]) for m in stored]
    assert len(set(uuids)) == 3 and all(u.version == 4 for u in uuids)


def test_get_memory_returns_the_newest_window_of_twelve_by_default(api: httpx.Client, sid: str) -> None:
    api.post(f"/sessions/{sid}/memory", json=msgs(*[f"m{i}" for i in range(20)]))
    assert contents(api, sid) == [f"m{i}" for i in range(8, 20)]


def test_lastn_returns_the_last_n_oldest_first(api: httpx.Client, sid: str) -> None:
    api.post(f"/sessions/{sid}/memory", json=msgs(*[f"m{i}" for i in range(20)]))
    assert contents(api, sid, "?lastn=3") == ["m17", "m18", "m19"]
    assert contents(api, sid, "?lastn=50") == [f"m{i}" for i in range(20)]
    assert contents(api, sid, "?lastn=0") == [f"m{i}" for i in range(8, 20)]
    assert contents(api, sid, "?lastn=") == [f"m{i}" for i in range(8, 20)]
    assert contents(api, sid, "?lastn=9&lastn=1&other=x") == ["m19"]  # the last value wins


def test_a_bad_lastn_is_400_with_a_message(api: httpx.Client, sid: str) -> None:
    api.post(f"/sessions/{sid}/memory", json=msgs("m"))
    for lastn in ("-1", "two", "1.5"):
        response = api.get(f"/sessions/{sid}/memory", params={"lastn": lastn})
        assert response.status_code == 400, lastn
        assert response.json()["message"]


def test_an_encoded_slash_and_percent_stay_inside_the_session_id(api: httpx.Client, sid: str) -> None:
    encoded = f"{sid}%2Fa%25b"
    assert api.post(f"/sessions/{encoded}/memory", json=msgs("hi")).text == "OK"
    assert contents(api, encoded) == ["hi"]
    assert api.get(f"/sessions/{encoded}").json()["session_id"] == f"{sid}/a%b"
    assert api.get(f"/sessions/{sid}").status_code == 404


def test_message_window_is_configurable(
    fresh_server: Callable[..., AbstractContextManager[LiveServer]],
) -> None:
    with fresh_server(message_window=4) as server, server.client("/api/v1") as api:
        api.post("/sessions/s/memory", json=msgs(*[f"m{i}" for i in range(10)]))
        assert contents(api, "s") == ["m6", "m7", "m8", "m9"]


def test_unknown_session_memory_is_200_with_no_messages_and_zero_summary(api: httpx.Client, sid: str) -> None:
    body = api.get(f"/sessions/{sid}/memory").json()
    assert body["messages"] == []
    assert body["summary"] == {
        "uuid": "00000000-0000-0000-0000-000000000000",
        "created_at": "0001-01-01T00:00:00Z",
        "content": "",
        "recent_message_uuid": "00000000-0000-0000-0000-000000000000",
        "token_count": 0,
    }


def test_delete_memory_soft_deletes_the_session_and_its_messages(api: httpx.Client, sid: str) -> None:
    api.post(f"/sessions/{sid}/memory", json=msgs("secret"))
    [message] = api.get(f"/sessions/{sid}/memory").json()["messages"]
    assert api.delete(f"/sessions/{sid}/memory").text == "OK"
    assert api.get(f"/sessions/{sid}").status_code == 404
    assert api.get(f"/sessions/{sid}/memory").json()["messages"] == []
    assert api.get(f"/sessions/{sid}/messages").json() == {"messages": [], "total_count": 0, "row_count": 0}
    assert api.get(f"/sessions/{sid}/messages/{message['uuid']}").status_code == 404
    assert sid not in [s["session_id"] for s in api.get("/sessions").json()]


def test_second_delete_and_delete_of_unknown_session_are_404(api: httpx.Client, sid: str) -> None:
    assert api.delete(f"/sessions/{sid}/memory").status_code == 404
    api.post(f"/sessions/{sid}/memory", json=msgs("x"))
    assert api.delete(f"/sessions/{sid}/memory").status_code == 200
    assert api.delete(f"/sessions/{sid}/memory").status_code == 404


def test_new_message_revives_a_deleted_session_but_old_messages_stay_deleted(
    api: httpx.Client, sid: str
) -> None:
    api.post(f"/sessions/{sid}/memory", json=msgs("old-1", "old-2"))
    api.delete(f"/sessions/{sid}/memory")
    api.post(f"/sessions/{sid}/memory", json=msgs("new-1"))
    assert api.get(f"/sessions/{sid}").status_code == 200
    assert contents(api, sid) == ["new-1"]
    assert contents(api, sid, "?lastn=10") == ["new-1"]
    page = api.get(f"/sessions/{sid}/messages").json()
    assert [m["content"] for m in page["messages"]] == ["new-1"]
    assert page["total_count"] == 1


def test_a_retried_message_uuid_is_not_stored_twice(api: httpx.Client, sid: str) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    batch = {
        "messages": [
            {"uuid": first, "role": "human", "content": "a"},
            {"uuid": second, "role": "ai", "content": "b"},
        ]
    }
    assert api.post(f"/sessions/{sid}/memory", json=batch).text == "OK"
    assert api.post(f"/sessions/{sid}/memory", json=batch).text == "OK"
    retry_with_new = {
        "messages": [{"uuid": second, "role": "ai", "content": "b"}, {"role": "human", "content": "c"}]
    }
    api.post(f"/sessions/{sid}/memory", json=retry_with_new)
    assert contents(api, sid) == ["a", "b", "c"]
    assert api.get(f"/sessions/{sid}/messages").json()["total_count"] == 3


def test_duplicate_uuid_inside_one_batch_is_stored_once(api: httpx.Client, sid: str) -> None:
    same = str(uuid.uuid4())
    api.post(f"/sessions/{sid}/memory", json={"messages": [{"uuid": same, "role": "h", "content": "x"}] * 3})
    assert contents(api, sid) == ["x"]


def test_the_same_message_uuid_may_exist_in_two_sessions(api: httpx.Client, sid: str) -> None:
    same = str(uuid.uuid4())
    for session in (sid, f"{sid}-other"):
        api.post(
            f"/sessions/{session}/memory",
            json={"messages": [{"uuid": same, "role": "h", "content": session}]},
        )
        assert api.get(f"/sessions/{session}/messages/{same}").json()["content"] == session


def test_concurrent_appends_to_one_session_keep_a_strict_order(shared_server: LiveServer, sid: str) -> None:
    writers, per_writer = 8, 15
    with shared_server.client("/api/v1", timeout=60) as client:

        def write(writer: int) -> None:
            for index in range(per_writer):
                body = msgs(f"{writer}:{index}:a", f"{writer}:{index}:b")
                assert client.post(f"/sessions/{sid}/memory", json=body).status_code == 200

        with ThreadPoolExecutor(max_workers=writers) as pool:
            list(pool.map(write, range(writers)))
        stored = [m["content"] for m in client.get(f"/sessions/{sid}/messages").json()["messages"]]
        assert contents(client, sid, "?lastn=1000") == stored
    assert len(stored) == writers * per_writer * 2
    assert len(set(stored)) == len(stored)
    # each batch stays contiguous, and each writer's batches keep their order
    for position in range(0, len(stored), 2):
        assert stored[position].endswith(":a") and stored[position + 1] == stored[position][:-1] + "b"
    for writer in range(writers):
        mine = [int(c.split(":")[1]) for c in stored if c.startswith(f"{writer}:") and c.endswith(":a")]
        assert mine == list(range(per_writer))


def test_concurrent_writers_to_many_sessions_lose_nothing(shared_server: LiveServer, sid: str) -> None:
    with shared_server.client("/api/v1", timeout=60) as client:

        def write(index: int) -> int:
            return client.post(f"/sessions/{sid}-{index % 10}/memory", json=msgs(f"m{index}")).status_code

        with ThreadPoolExecutor(max_workers=16) as pool:
            assert set(pool.map(write, range(200))) == {200}
        total = sum(client.get(f"/sessions/{sid}-{i}/messages").json()["total_count"] for i in range(10))
    assert total == 200
