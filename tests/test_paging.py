"""Listing sessions and users: offset cursors (what the Zep SDK generators assume) and keyset cursors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import httpx
import pytest

from tests.support import LiveServer

Fresh = Callable[..., AbstractContextManager[LiveServer]]


@pytest.fixture
def empty_api(fresh_server: Fresh) -> Iterator[httpx.Client]:
    with fresh_server() as server, server.client("/api/v1") as client:
        yield client


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200
    return [item.get("session_id") or item["user_id"] for item in response.json()]


def zep_sdk_generator(api: httpx.Client, path: str, chunk: int) -> list[str]:
    """What zep-python's list_all_sessions / list_chunked do: cursor += chunk until an empty page."""
    seen = ids(api.get(path, params={"limit": chunk}))
    cursor = 0
    while True:
        cursor += chunk
        page = ids(api.get(path, params={"limit": chunk, "cursor": cursor}))
        if not page:
            return seen
        seen += page


def keyset_walk(api: httpx.Client, path: str, chunk: int) -> list[str]:
    seen: list[str] = []
    params: dict[str, str | int] = {"limit": chunk}
    while True:
        response = api.get(path, params=params)
        seen += ids(response)
        token = response.headers.get("x-next-cursor")
        if token is None:
            return seen
        params = {"limit": chunk, "after": token}


def test_sessions_list_in_creation_order_with_offset_cursor(empty_api: httpx.Client) -> None:
    for index in range(7):
        empty_api.post("/sessions", json={"session_id": f"s{index}"})
    assert ids(empty_api.get("/sessions")) == [f"s{i}" for i in range(7)]
    assert ids(empty_api.get("/sessions?limit=3")) == ["s0", "s1", "s2"]
    assert ids(empty_api.get("/sessions?limit=3&cursor=3")) == ["s3", "s4", "s5"]
    assert ids(empty_api.get("/sessions?limit=3&cursor=6")) == ["s6"]
    assert ids(empty_api.get("/sessions?limit=3&cursor=7")) == []
    assert ids(empty_api.get("/sessions?cursor=1000")) == []
    assert ids(empty_api.get("/sessions?limit=0")) == [f"s{i}" for i in range(7)]
    assert ids(empty_api.get("/sessions?cursor=5")) == ["s5", "s6"]


def test_sdk_style_generator_sees_every_live_session_once_after_deletions(empty_api: httpx.Client) -> None:
    for index in range(23):
        empty_api.post(f"/sessions/s{index:02}/memory", json={"messages": []})
    for index in (0, 4, 5, 11, 22):
        empty_api.delete(f"/sessions/s{index:02}/memory")
    expected = [f"s{i:02}" for i in range(23) if i not in (0, 4, 5, 11, 22)]
    for chunk in (1, 3, 5, 100):
        assert zep_sdk_generator(empty_api, "/sessions", chunk) == expected
        assert keyset_walk(empty_api, "/sessions", chunk) == expected


def test_keyset_cursor_continues_where_the_last_page_ended(empty_api: httpx.Client) -> None:
    for index in range(5):
        empty_api.post("/sessions", json={"session_id": f"s{index}"})
    first = empty_api.get("/sessions?limit=2")
    assert ids(first) == ["s0", "s1"]
    token = first.headers["x-next-cursor"]
    assert f"after={token}" in first.headers["link"] and 'rel="next"' in first.headers["link"]
    # rows deleted or added meanwhile do not shift a keyset cursor
    empty_api.delete("/sessions/s0/memory")
    empty_api.post("/sessions", json={"session_id": "s5"})
    assert ids(empty_api.get(f"/sessions?limit=2&after={token}")) == ["s2", "s3"]
    assert ids(empty_api.get(f"/sessions?after={token}")) == ["s2", "s3", "s4", "s5"]
    assert "x-next-cursor" not in empty_api.get(f"/sessions?after={token}").headers


def test_offset_and_keyset_cursor_together_is_400(empty_api: httpx.Client) -> None:
    empty_api.post("/sessions", json={"session_id": "a"})
    token = empty_api.get("/sessions?limit=1").headers["x-next-cursor"]
    assert empty_api.get(f"/sessions?cursor=1&after={token}").status_code == 400


def test_users_page_like_sessions(empty_api: httpx.Client) -> None:
    for index in range(9):
        empty_api.post("/user", json={"user_id": f"u{index}"})
    empty_api.delete("/user/u3")
    expected = [f"u{i}" for i in range(9) if i != 3]
    assert ids(empty_api.get("/user?limit=&cursor=")) == expected
    assert zep_sdk_generator(empty_api, "/user", 2) == expected
    assert keyset_walk(empty_api, "/user", 4) == expected


def test_a_users_sessions_page_with_both_cursors(empty_api: httpx.Client) -> None:
    empty_api.post("/user", json={"user_id": "u"})
    for index in range(5):
        empty_api.post("/sessions", json={"session_id": f"s{index}", "user_id": "u"})
    assert ids(empty_api.get("/user/u/sessions?limit=2&cursor=2")) == ["s2", "s3"]
    assert keyset_walk(empty_api, "/user/u/sessions", 2) == [f"s{i}" for i in range(5)]
