"""Whatever is accepted reads back unchanged on both databases; anything else is a 400 naming the limit
and changes nothing (docs/limits.md). The check is one (chatmem.server.guard) for the fast path and the
FastAPI routes alike."""

# ruff: noqa: UP031

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from chatmem.base.validation import MAX_JSON_DEPTH


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


# Raw JSON texts: Python's encoder cannot write NaN-free Infinity, lone surrogates or 1e400 faithfully.
BAD_VALUES = {
    "too deep": orjson.dumps(nested(MAX_JSON_DEPTH + 5)).decode(),
    "above int64": str(2**63),
    "above uint64": str(2**64 + 1),
    "below int64": str(-(2**63) - 1),
    "NaN": "NaN",
    "Infinity": "-Infinity",
    "1e400": "1e400",
    "negative zero": "-0.0",
    "float with a large exponent": "1e16",
    "lone surrogate": '"\\ud800"',
    "NUL": '"a\\u0000b"',
}
LIMIT_WORDS = {
    "too deep": "deeper",
    "above int64": "64-bit",
    "above uint64": "64-bit",
    "below int64": "64-bit",
    "NaN": "finite",
    "Infinity": "finite",
    "1e400": "finite",
    "negative zero": "-0.0",
    "float with a large exponent": "magnitude",
    "lone surrogate": "surrogate",
    "NUL": "NUL",
}


def write_requests(sid: str, user_id: str, value: str) -> list[tuple[str, str, str]]:
    # Raw JSON text with the value spliced in (%-formatting: the bodies are full of braces).
    meta = '{"x": %s}' % value
    message = '{"role": "h", "content": "c", "metadata": %s}' % meta
    return [
        ("POST", "/sessions", '{"session_id": "%s-new", "metadata": %s}' % (sid, meta)),
        ("PATCH", f"/sessions/{sid}", '{"metadata": %s}' % meta),
        # The fast path answers well-formed appends; this one must be refused before it.
        ("POST", f"/sessions/{sid}/memory", '{"messages": [%s]}' % message),
        ("POST", "/user", '{"user_id": "new-%s", "metadata": %s}' % (user_id, meta)),
        ("PATCH", f"/user/{user_id}", '{"metadata": %s}' % meta),
        ("POST", f"/sessions/{sid}/search", '{"text": "c", "metadata": {"where": %s}}' % meta),
    ]


def snapshot(api: httpx.Client, sid: str, user_id: str) -> tuple[Any, ...]:
    listed = [api.get("/sessions"), api.get("/user"), api.get(f"/user/{user_id}/sessions")]
    assert [r.status_code for r in listed] == [200, 200, 200]
    return (
        api.get(f"/sessions/{sid}").json(),
        api.get(f"/sessions/{sid}/messages").json(),
        api.get(f"/sessions/{sid}/memory").json(),
        api.get(f"/user/{user_id}").json(),
    )


@pytest.mark.parametrize("case", list(BAD_VALUES))
def test_a_value_outside_the_limits_is_a_400_naming_the_limit_and_nothing_is_written(
    api: httpx.Client, sid: str, case: str
) -> None:
    user_id = f"u-{sid}"
    api.post("/user", json={"user_id": user_id})
    api.post("/sessions", json={"session_id": sid, "user_id": user_id, "metadata": {"a": 1}})
    api.post(f"/sessions/{sid}/memory", json={"messages": [{"role": "h", "content": "first"}]})
    before = snapshot(api, sid, user_id)
    for method, path, body in write_requests(sid, user_id, BAD_VALUES[case]):
        response = api.request(method, path, content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400, (method, path, response.text)
        assert LIMIT_WORDS[case] in response.json()["message"], (method, path, response.text)
    assert snapshot(api, sid, user_id) == before
    assert api.get(f"/sessions/{sid}-new").status_code == 404
    assert api.get(f"/user/new-{user_id}").status_code == 404


def test_a_body_that_is_not_utf8_is_a_400(api: httpx.Client, sid: str) -> None:
    body = b'{"messages": [{"role": "h", "content": "\xff\xfe"}]}'
    response = api.post(f"/sessions/{sid}/memory", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "UTF-8" in response.json()["message"]
    assert api.get(f"/sessions/{sid}").status_code == 404


EDGE_METADATA: dict[str, Any] = {
    "int_max": 2**63 - 1,
    "int_min": -(2**63),
    "floats": [0.1, 1e-7, 123.456, 999999999999999.9, -2.5, 5e-324, 0.0],
    "big_int_as_int": 10**18,
    "text": 'astral 😀, line separator \u2028, quote " and backslash \\',
    "deep": nested(MAX_JSON_DEPTH - 6),
    "empty": {"list": [], "object": {}},
    "flags": [True, False, None],
}


def canonical(value: Any) -> bytes:
    """The value as the server's encoder writes it, keys sorted (PostgreSQL's jsonb orders keys)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def test_accepted_values_at_the_edges_read_back_unchanged_everywhere(api: httpx.Client, sid: str) -> None:
    user_id = f"u-{sid}"
    assert api.post("/user", json={"user_id": user_id, "metadata": EDGE_METADATA}).status_code == 201
    session = {"session_id": sid, "user_id": user_id, "metadata": EDGE_METADATA}
    assert api.post("/sessions", json=session).status_code == 201
    message = {"role": "h", "content": EDGE_METADATA["text"], "metadata": EDGE_METADATA}
    assert api.post(f"/sessions/{sid}/memory", json={"messages": [message]}).text == "OK"
    expected = canonical(EDGE_METADATA)
    assert canonical(api.get(f"/sessions/{sid}").json()["metadata"]) == expected
    assert canonical(api.get(f"/user/{user_id}").json()["metadata"]) == expected
    [stored] = api.get(f"/sessions/{sid}/memory").json()["messages"]
    assert canonical(stored["metadata"]) == expected
    assert stored["content"] == EDGE_METADATA["text"]
    listed = [s for s in api.get(f"/user/{user_id}/sessions").json() if s["session_id"] == sid]
    assert canonical(listed[0]["metadata"]) == expected


def test_ids_that_are_not_utf8_are_refused_so_they_cannot_collide(api: httpx.Client, sid: str) -> None:
    for raw in (f"{sid}%FF", f"{sid}%FE"):
        response = api.post(f"/sessions/{raw}/memory", json={"messages": [{"role": "h", "content": "c"}]})
        assert response.status_code == 400
        assert "UTF-8" in response.json()["message"]
        assert api.get(f"/sessions/{raw}").status_code == 400
    # A real non-ASCII id is fine and distinct.
    assert (
        api.post(f"/sessions/{sid}%C3%BF/memory", json={"messages": [{"role": "h", "content": "ÿ"}]}).text
        == "OK"
    )
    assert api.get(f"/sessions/{sid}ÿ").json()["session_id"] == f"{sid}ÿ"
