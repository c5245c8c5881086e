"""The in-process test client answers as the server does over HTTP: the same statuses, bodies and headers
for the same requests, the fast path's included (tests/in_process.py; the tiers in docs/architecture.md)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from chatmem.server import fast_routes
from tests.support import BOTH_PATHS, LiveServer

pytestmark = BOTH_PATHS

# Differ from one response to the next whatever the transport.
VARYING = {"date", "x-request-id"}
UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ROW_ID = re.compile(rb'"id":\d+')
TIME = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def exchange(client: httpx.Client, sid: str) -> list[tuple[int, bytes, dict[str, str]]]:
    """A conversation touching the fast path, FastAPI routes, refusals and a HEAD: what came back."""
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", f"/api/v1/sessions/{sid}/memory", {"json": {"messages": [{"role": "h", "content": "é"}]}}),
        ("GET", f"/api/v1/sessions/{sid}/memory", {"params": {"lastn": 5}}),
        ("GET", f"/api/v1/sessions/{sid}/memory", {"params": {"lastn": "x"}}),
        ("GET", f"/api/v1/sessions/{sid}", {}),
        ("GET", f"/api/v1/sessions/{sid}%FF", {}),
        (
            "POST",
            f"/api/v1/sessions/{sid}/memory",
            {"content": b"{", "headers": {"content-type": "application/json"}},
        ),
        (
            "POST",
            f"/api/v1/sessions/{sid}/memory",
            {"content": b"{}", "headers": {"content-type": "text/plain"}},
        ),
        ("GET", "/api/v1/sessions", {"headers": {"host": "evil.example"}}),
        ("DELETE", f"/api/v1/sessions/{sid}/memory", {}),
        ("GET", f"/api/v1/sessions/{sid}/memory", {}),
        ("HEAD", "/healthz", {}),
        ("GET", "/no/such/route", {}),
    ]
    answers = []
    for method, path, options in requests:
        response = client.request(method, path, **options)
        headers = {name: value for name, value in response.headers.items() if name not in VARYING}
        content = response.content.replace(sid.encode(), b"<sid>")
        for varying, stand_in in ((UUID, b"<uuid>"), (TIME, b"<time>"), (ROW_ID, b'"id":<id>')):
            content = varying.sub(stand_in, content)
        answers.append((response.status_code, content, headers))
    return answers


def test_in_process_answers_equal_the_answers_over_http(shared_server: LiveServer, sid: str) -> None:
    with shared_server.client() as in_process:
        inside = exchange(in_process, f"{sid}-a")
    with httpx.Client(base_url=shared_server.url) as http:
        over_http = exchange(http, f"{sid}-b")
    assert over_http == inside
    assert [status for status, _, _ in inside] == [200, 200, 400, 200, 400, 400, 415, 400, 200, 200, 200, 404]


def test_the_fast_path_answers_in_process_when_it_is_on(
    fresh_server: Callable[..., AbstractContextManager[LiveServer]],
    fast_path: bool,
    monkeypatch: pytest.MonkeyPatch,
    sid: str,
) -> None:
    answered: list[str] = []
    call = fast_routes.FastRoutes.__call__

    async def spy(self: fast_routes.FastRoutes, scope: Any, body: bytes, send: Any) -> bool:
        handled = await call(self, scope, body, send)
        if handled:
            answered.append(scope["method"])
        return handled

    monkeypatch.setattr(fast_routes.FastRoutes, "__call__", spy)
    with fresh_server() as server, server.client("/api/v1") as api:
        assert (
            api.post(f"/sessions/{sid}/memory", json={"messages": [{"role": "h", "content": "a"}]}).text
            == "OK"
        )
        assert api.get(f"/sessions/{sid}/memory").json()["messages"][0]["content"] == "a"
    assert answered == (["POST", "GET"] if fast_path else [])


def test_the_async_client_and_a_root_path_reach_the_app(
    fresh_server: Callable[..., AbstractContextManager[LiveServer]], sid: str
) -> None:
    async def converse(server: LiveServer) -> tuple[int, str]:
        async with server.async_client("/api/v1") as api:
            await api.post(f"/sessions/{sid}/memory", json={"messages": [{"role": "h", "content": "a"}]})
            response = await api.get(f"/sessions/{sid}/memory")
            return response.status_code, response.json()["messages"][0]["content"]

    with fresh_server(root_path="/chat") as server:
        assert asyncio.run(converse(server)) == (200, "a")
