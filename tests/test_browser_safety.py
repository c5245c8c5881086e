"""What a web page in the user's browser cannot do to a local chatmem: write with a non-JSON
Content-Type, read through a rebound DNS name, get its Host echoed, load /docs from a CDN."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import httpx
import pytest

from tests.support import LiveServer

ServerFactory = Callable[..., AbstractContextManager[LiveServer]]


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_write_without_json_content_type_is_415_and_writes_nothing(
    api: httpx.Client, sid: str, content_type: str | None
) -> None:
    body = b'{"messages": [{"role": "h", "content": "cross-site"}]}'
    headers = {"content-type": content_type} if content_type else {}
    response = api.post(f"/sessions/{sid}/memory", content=body, headers=headers)
    assert response.status_code == 415
    assert "application/json" in response.json()["message"]
    assert api.get(f"/sessions/{sid}").status_code == 404


def test_json_with_a_charset_is_a_json_write(api: httpx.Client, sid: str) -> None:
    body = b'{"messages": [{"role": "h", "content": "ok"}]}'
    headers = {"content-type": "application/json; charset=utf-8"}
    assert api.post(f"/sessions/{sid}/memory", content=body, headers=headers).text == "OK"


def test_a_foreign_host_is_refused_and_loopback_names_are_not(shared_server: LiveServer, sid: str) -> None:
    with shared_server.client("", timeout=30) as client:
        refused = client.get("/api/v1/sessions", headers={"host": "evil.example"})
        assert refused.status_code == 400
        assert "CHATMEM_ALLOWED_HOSTS" in refused.json()["message"]
        for host in ("localhost", f"localhost:{shared_server.port}", "127.0.0.1", "[::1]:8000"):
            assert client.get("/api/v1/sessions", headers={"host": host}).status_code == 200


def test_allowed_hosts_names_the_hosts_a_deployment_answers(fresh_server: ServerFactory) -> None:
    with (
        fresh_server(allowed_hosts="chat.example.com, *.internal") as server,
        server.client("", timeout=30) as client,
    ):
        assert client.get("/healthz", headers={"host": "chat.example.com"}).status_code == 200
        assert client.get("/healthz", headers={"host": "a.b.internal:8000"}).status_code == 200
        assert client.get("/healthz", headers={"host": "127.0.0.1"}).status_code == 400


def test_the_next_page_link_does_not_echo_the_host(api: httpx.Client, sid: str) -> None:
    for n in range(2):
        api.post(f"/sessions/{sid}-{n}/memory", json={"messages": [{"role": "h", "content": "c"}]})
    response = api.get("/sessions", params={"limit": 1}, headers={"host": "localhost"})
    assert response.headers["Link"].startswith("</api/v1/sessions?limit=1&after=")
    assert "localhost" not in response.headers["Link"]


def test_docs_come_from_the_server_itself(shared_server: LiveServer) -> None:
    with shared_server.client("", timeout=30) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        assert "https://" not in page.text and "cdn" not in page.text.lower()
        script = client.get("/docs/assets/swagger-ui-bundle.js")
        assert script.status_code == 200 and len(script.content) > 100_000
        assert client.get("/redoc").status_code == 404


def test_docs_can_be_switched_off(fresh_server: ServerFactory) -> None:
    with fresh_server(api_docs=False) as server, server.client("", timeout=30) as client:
        assert client.get("/docs").status_code == 404
        assert client.get("/openapi.json").status_code == 200
