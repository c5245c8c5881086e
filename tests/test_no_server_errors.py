"""Client input never gets a 5xx, on either database: out-of-range integers in queries and bodies,
forged cursors, odd query keys, NUL in path ids, hostile search filters. And an error answered by a
FastAPI route keeps the client's keep-alive connection."""

from __future__ import annotations

import base64
import socket
from pathlib import Path

import httpx
import pytest

from chatmem.config import Settings
from tests.support import LiveServer, database_url


def forged(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


BAD_QUERIES = [
    "/sessions/{sid}/memory?lastn=99999999999999999999",
    "/sessions/{sid}/memory?lastn=1001",
    "/sessions/{sid}/memory?lastn=1e3",
    "/sessions/{sid}/messages?limit=9223372036854775808",
    "/sessions/{sid}/messages?limit=1001",
    "/sessions/{sid}/messages?limit=10&cursor=9223372036854775807",
    "/sessions?limit=-1",
    "/sessions?cursor=9223372036854775808",
    "/sessions?after=" + forged("k99999999999999999999999"),
    "/sessions?after=" + forged("k-5"),
    "/sessions?after=%FF%FE",
    "/user?limit=%2B5",
    "/sessions/a%00b",
    "/sessions/a%00b/memory",
    "/user/a%00b/sessions",
    "/sessions/{sid}/messages/00000000-0000-0000-0000-00000000000%00",
]


@pytest.mark.parametrize("template", BAD_QUERIES)
def test_bad_query_values_are_400s(api: httpx.Client, sid: str, template: str) -> None:
    api.post(f"/sessions/{sid}/memory", json={"messages": [{"role": "h", "content": "c"}]})
    response = api.get(template.replace("{sid}", sid))
    assert response.status_code == 400, response.text
    assert response.json()["message"]


def test_odd_query_keys_on_a_list_with_a_next_page_are_fine(api: httpx.Client, sid: str) -> None:
    for n in range(3):
        api.post(f"/sessions/{sid}-{n}/memory", json={"messages": [{"role": "h", "content": "c"}]})
    response = api.get("/sessions", params={"limit": 1, "self": "x", "request": "y", "cls": "z"})
    assert response.status_code == 200, response.text
    assert response.headers["Link"].startswith("</api/v1/sessions?")
    assert "self=x" in response.headers["Link"]


def test_a_token_count_beyond_the_column_is_a_400(api: httpx.Client, sid: str) -> None:
    body = {"messages": [{"role": "h", "content": "c", "token_count": 2**40}]}
    assert api.post(f"/sessions/{sid}/memory", json=body).status_code == 400
    assert api.get(f"/sessions/{sid}").status_code == 404


def deep_where(depth: int) -> dict[str, object]:
    node: dict[str, object] = {"jsonpath": "$.a"}
    for _ in range(depth):
        node = {"and": [node]}
    return node


BAD_FILTERS: list[object] = [
    {"where": deep_where(40)},
    {"where": {"jsonpath": "$ ? (@.a == 1e999)"}},
    {"where": {"jsonpath": "$ ? (@.a == 99999999999999999999999)"}},
    {"where": {"jsonpath": '$ ? (@.a == "\\ud800")'}},
    {"where": {"jsonpath": '$ ? (@.a == "a\\u0000b")'}},
    {"where": {"jsonpath": "$.a[3000000000]"}},
    {"where": {"jsonpath": "$" + "?(" * 200 + "@.a == 1" + ")" * 200}},
    {"where": {"jsonpath": "$.a" * 5000}},
    {"where": {"and": [{"jsonpath": f"$.k{n}"} for n in range(3000)]}},
    {"start_date": "0001-01-01T00:00:00+05:00"},
    {"end_date": "9999-12-31T23:59:59-05:00"},
    {"start_date": "-0001-01-01"},
]


@pytest.mark.parametrize("metadata", BAD_FILTERS, ids=range(len(BAD_FILTERS)))
@pytest.mark.parametrize("scope", ["session", "user"])
def test_hostile_search_filters_are_400s_never_5xx(
    api: httpx.Client, sid: str, metadata: object, scope: str
) -> None:
    api.post("/user", json={"user_id": f"u-{sid}"})
    api.post("/sessions", json={"session_id": sid, "user_id": f"u-{sid}"})
    api.post(
        f"/sessions/{sid}/memory", json={"messages": [{"role": "h", "content": "c", "metadata": {"a": 1}}]}
    )
    path = f"/sessions/{sid}/search" if scope == "session" else f"/user/u-{sid}/search"
    response = api.post(path, json={"text": "c", "search_type": "text", "metadata": metadata})
    assert response.status_code == 400, response.text[:500]


def exchange(sock: socket.socket, request: bytes) -> bytes:
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(rest) < length:
        rest += sock.recv(65536)
    return head


def test_an_error_in_a_route_answers_500_and_keeps_the_connection(backend: str, tmp_path: Path) -> None:
    with database_url(backend, tmp_path) as url:
        server = LiveServer(Settings(database_url=url, purge_every_minutes=0, enrich_workers=0))

        def boom() -> None:
            raise RuntimeError("a bug")

        server.app.add_api_route("/boom", boom)
        with server, socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            host = f"Host: 127.0.0.1:{server.port}\r\n".encode()
            assert exchange(sock, b"GET /boom HTTP/1.1\r\n" + host + b"\r\n").startswith(b"HTTP/1.1 500")
            assert exchange(sock, b"GET /healthz HTTP/1.1\r\n" + host + b"\r\n").startswith(b"HTTP/1.1 200")
