"""Malformed input gets a clear 4xx JSON error and changes nothing, on both databases, with the fast path
of GET/POST memory on and off."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.support import BOTH_PATHS

pytestmark = BOTH_PATHS

NUL = "a\u0000b"


def snapshot(api: httpx.Client, sid: str, user_id: str) -> tuple[Any, ...]:
    return (
        api.get(f"/sessions/{sid}").json(),
        api.get(f"/sessions/{sid}/messages").json(),
        api.get(f"/user/{user_id}").json(),
        api.get(f"/user/{user_id}/sessions").json(),
    )


BAD_REQUESTS: list[tuple[str, str, Any]] = [
    ("POST", "/sessions", {"session_id": ["list"]}),
    ("POST", "/sessions", {"session_id": "{sid}", "metadata": "not an object"}),
    ("POST", "/sessions", {"session_id": "{sid}", "metadata": [1, 2]}),
    ("POST", "/sessions", {"session_id": "{sid}-new", "metadata": {"k": NUL}}),
    ("POST", "/sessions", {"session_id": NUL}),
    ("POST", "/sessions", "just a string"),
    ("POST", "/sessions", None),
    ("PATCH", "/sessions/{sid}", {"metadata": {}}),
    ("PATCH", "/sessions/{sid}", {"metadata": 5}),
    ("PATCH", "/sessions/{sid}", {"metadata": {"k": NUL}}),
    ("PATCH", "/sessions/{sid}", {"metadata": {NUL: 1}}),
    ("POST", "/sessions/{sid}/memory", {"messages": "nope"}),
    ("POST", "/sessions/{sid}/memory", {"messages": [{"role": "h"}]}),
    ("POST", "/sessions/{sid}/memory", {"messages": [{"content": "c"}]}),
    ("POST", "/sessions/{sid}/memory", {"messages": [{"role": None, "content": "c"}]}),
    ("POST", "/sessions/{sid}/memory", {"messages": [{"role": 1, "content": "c"}]}),
    (
        "POST",
        "/sessions/{sid}/memory",
        {"messages": [{"role": "h", "content": "ok"}, {"role": "h", "content": NUL}]},
    ),
    ("POST", "/sessions/{sid}/memory", {"messages": [{"role": "h", "content": "c", "metadata": {"x": NUL}}]}),
    ("POST", "/sessions/{sid}/memory", {"messages": [{"role": "h", "content": "c", "uuid": "not-a-uuid"}]}),
    ("POST", "/sessions/{sid}/memory", {"messages": [{"role": "h", "content": "c", "token_count": -1}]}),
    ("POST", "/sessions/{sid}/memory", {"messages": [{"role": "h", "content": "c", "metadata": "x"}]}),
    ("POST", "/sessions/%00/memory", {"messages": [{"role": "h", "content": "c"}]}),
    ("POST", "/user", {"user_id": "{user}"}),
    ("POST", "/user", {"user_id": "new-{user}", "email": 5}),
    ("POST", "/user", {"user_id": "new-{user}", "first_name": NUL}),
    ("PATCH", "/user/{user}", {"metadata": {}}),
    ("PATCH", "/user/{user}", {"email": NUL}),
    ("PATCH", "/user/{user}", {"metadata": ["x"]}),
]


@pytest.mark.parametrize(("method", "template", "body"), BAD_REQUESTS, ids=range(len(BAD_REQUESTS)))
def test_bad_request_is_400_with_a_message_and_changes_nothing(
    api: httpx.Client, sid: str, method: str, template: str, body: Any
) -> None:
    user_id = f"u-{sid}"
    api.post("/user", json={"user_id": user_id, "metadata": {"u": 1}})
    api.post("/sessions", json={"session_id": sid, "user_id": user_id, "metadata": {"a": 1}})
    api.post(f"/sessions/{sid}/memory", json={"messages": [{"role": "h", "content": "first"}]})
    before = snapshot(api, sid, user_id)

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("{sid}", sid).replace("{user}", user_id)
        if isinstance(value, dict):
            return {fill(k): fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value

    content = b"" if body is None else httpx.Request("POST", "/", json=fill(body)).content
    response = api.request(
        method, fill(template), content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["message"]
    assert snapshot(api, sid, user_id) == before
    assert api.get(f"/sessions/{sid}-new").status_code == 404
    assert api.get(f"/user/new-{user_id}").status_code == 404


def test_nul_in_content_is_refused_the_same_way_on_both_databases(api: httpx.Client, sid: str) -> None:
    response = api.post(f"/sessions/{sid}/memory", json={"messages": [{"role": "h", "content": "x\u0000y"}]})
    assert response.status_code == 400
    assert "NUL" in response.json()["message"]
    assert api.get(f"/sessions/{sid}").status_code == 404


def test_field_names_match_case_insensitively_like_zep(api: httpx.Client, sid: str) -> None:
    api.post(f"/sessions/{sid}/memory", json={"Messages": [{"Role": "human", "Content": "hi"}]})
    [message] = api.get(f"/sessions/{sid}/memory").json()["messages"]
    assert (message["role"], message["content"]) == ("human", "hi")


def test_unknown_fields_are_ignored(api: httpx.Client, sid: str) -> None:
    body = {"session_id": sid, "surprise": 1, "metadata": {"a": 1}}
    assert api.post("/sessions", json=body).status_code == 201
    memory = {
        "messages": [{"role": "h", "content": "c", "created_at": "1999-01-01T00:00:00Z", "x": 1}],
        "summary": {},
    }
    assert api.post(f"/sessions/{sid}/memory", json=memory).text == "OK"


def test_null_values_mean_not_given(api: httpx.Client, sid: str) -> None:
    assert (
        api.post("/sessions", json={"session_id": sid, "user_id": None, "metadata": None}).status_code == 201
    )
    assert api.patch(f"/sessions/{sid}", json={"metadata": None}).status_code == 200
    body = {"messages": [{"role": "h", "content": "c", "uuid": None, "metadata": None, "token_count": None}]}
    assert api.post(f"/sessions/{sid}/memory", json=body).text == "OK"
    assert api.post(f"/sessions/{uuid.uuid4()}/memory", json={"messages": None}).text == "OK"
