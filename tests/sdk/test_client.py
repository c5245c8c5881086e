"""The client object: configuration, lifecycle, transport errors, and the mapping of error statuses."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psutil
import pytest

import chatmem
from chatmem import APIError, AuthError, NotFoundError, ServerUnreachableError, Session, ZepClient
from chatmem_client import operation, resources
from chatmem_client.client import DEFAULT_URL
from tests.sdk.conftest import Twin
from tests.support import LiveServer, free_port


class StubServer:
    """A real HTTP server that is not chatmem: it records requests and answers as configured."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.healthz_body = b"."
        self.api_status = 401
        self.api_body = b"invalid token\n"
        self.release = threading.Event()  # a "/slow" request hangs until this is set
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stub.requests.append(("GET", self.path, dict(self.headers.items())))
                if self.path.endswith("/slow"):
                    stub.release.wait(30)
                body, status = (
                    (stub.healthz_body, 200)
                    if self.path.endswith("/healthz")
                    else (stub.api_body, stub.api_status)
                )
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (the timeout test)

            def log_message(self, *_args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def stub() -> Iterator[StubServer]:
    server = StubServer()
    yield server
    server.stop()


# -- configuration -----------------------------------------------------------------------------


def test_the_base_url_comes_from_the_argument_then_chatmem_url_then_localhost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CHATMEM_URL", raising=False)
    assert ZepClient().base_url == DEFAULT_URL == "http://localhost:8000"
    monkeypatch.setenv("CHATMEM_URL", "http://memory.internal:9000/")
    assert ZepClient().base_url == "http://memory.internal:9000"
    assert ZepClient("http://other:1").base_url == "http://other:1"


def test_the_package_exports_the_sdk_under_both_names() -> None:
    assert chatmem.Client is chatmem.ZepClient
    for name in (
        "Session",
        "Memory",
        "Message",
        "Summary",
        "User",
        "MemorySearchPayload",
        "MemorySearchResult",
    ):
        assert hasattr(chatmem, name)


async def test_requests_carry_the_api_key_keep_the_path_prefix_and_encode_ids(
    stub: StubServer, twin: Twin
) -> None:
    client = ZepClient(f"{stub.url}/memory/", api_key="secret-key")
    with pytest.raises(AuthError):
        await twin(client.memory, "get_session", "a/b c?d")
    await client.aclose()
    method, path, headers = stub.requests[-1]
    assert (method, path) == ("GET", "/memory/api/v1/sessions/a%2Fb%20c%3Fd")
    assert headers["Authorization"] == "Bearer secret-key"


def test_no_authorization_header_is_sent_without_an_api_key(stub: StubServer) -> None:
    with ZepClient(stub.url) as client, pytest.raises(AuthError):
        client.user.get("someone")
    assert all("Authorization" not in headers for _, _, headers in stub.requests)


# -- health and transport errors ------------------------------------------------------------------


async def test_the_health_check_reports_the_server_version(shared_server: LiveServer, twin: Twin) -> None:
    client = ZepClient(shared_server.url)
    version = await twin(client, "check_health")
    assert version.startswith("0.27.2-chatmem")
    await client.aclose()


async def test_a_clear_error_when_nothing_answers(twin: Twin) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = ZepClient(url)
    for resource, name, args in ((client, "check_health", ()), (client.memory, "get_session", ("s",))):
        with pytest.raises(ServerUnreachableError) as caught:
            await twin(resource, name, *args)
        assert f"could not connect to the chatmem server at {url}" in str(caught.value)
        assert "CHATMEM_URL" in str(caught.value)
        assert isinstance(caught.value, ConnectionError) and isinstance(caught.value, APIError)
        assert caught.value.status_code is None
    await client.aclose()


def test_entering_the_client_fails_fast_when_nothing_answers() -> None:
    with pytest.raises(ServerUnreachableError), ZepClient(f"http://127.0.0.1:{free_port()}"):
        pass

    async def enter() -> None:
        async with ZepClient(f"http://127.0.0.1:{free_port()}"):
            pass

    with pytest.raises(ServerUnreachableError):
        asyncio.run(enter())


def test_entering_the_client_fails_when_something_else_answers(stub: StubServer) -> None:
    stub.healthz_body = b'{"status": "ok"}'
    with pytest.raises(APIError, match="is this a chatmem server"), ZepClient(stub.url):
        pass


async def test_a_server_that_does_not_answer_in_time_is_reported_as_such(
    stub: StubServer, twin: Twin
) -> None:
    client = ZepClient(stub.url, timeout=0.2)
    with pytest.raises(
        ServerUnreachableError, match=re.escape("did not answer GET /api/v1/sessions/slow within 0.2s")
    ):
        await twin(client.memory, "get_session", "slow")
    stub.release.set()
    await client.aclose()


# -- error statuses ---------------------------------------------------------------------------------


async def test_error_statuses_map_to_exceptions_with_the_server_message(
    client: ZepClient, twin: Twin, sid: str
) -> None:
    with pytest.raises(NotFoundError) as not_found:
        await twin(client.memory, "get_session", sid)
    assert (not_found.value.status_code, not_found.value.message) == (404, "session not found")
    assert isinstance(not_found.value, APIError)

    with pytest.raises(APIError) as bad:
        await twin(client.memory, "get_memory", sid, lastn=-1)
    assert (bad.value.status_code, bad.value.message) == (
        400,
        "bad request: lastn must be at least 0, got -1",
    )
    assert str(bad.value) == "400: bad request: lastn must be at least 0, got -1"


async def test_plain_text_error_bodies_become_the_message(stub: StubServer, twin: Twin) -> None:
    client = ZepClient(stub.url)
    with pytest.raises(AuthError) as auth:
        await twin(client.user, "list")
    assert (auth.value.status_code, auth.value.message) == (401, "invalid token")

    stub.api_status, stub.api_body = 500, b""
    with pytest.raises(APIError) as server_error:
        await twin(client.user, "list")
    assert type(server_error.value) is APIError
    assert (server_error.value.status_code, server_error.value.message) == (500, "Internal Server Error")

    stub.api_status, stub.api_body = 200, b"not json"
    with pytest.raises(APIError, match="unexpected response to GET /api/v1/user"):
        await twin(client.user, "list")
    await client.aclose()


# -- lifecycle ----------------------------------------------------------------------------------------


async def test_the_client_works_again_after_its_context_closed_it(
    shared_server: LiveServer, sid: str
) -> None:
    with ZepClient(shared_server.url) as client:
        client.memory.add_session(Session(session_id=sid))
    assert client.memory.get_session(sid).session_id == sid
    async with client:
        await client.memory.aget_session(sid)
    assert (await client.memory.aget_session(sid)).session_id == sid
    assert client.memory.get_session(sid).session_id == sid
    await client.aclose()


def test_one_client_serves_several_event_loops(shared_server: LiveServer, sid: str) -> None:
    client = ZepClient(shared_server.url)
    client.memory.add_session(Session(session_id=sid))
    for _ in range(2):  # each asyncio.run has a new loop; the first loop's pool is unusable in it
        assert asyncio.run(client.memory.aget_session(sid)).session_id == sid
    client.close()


def open_connections(server: LiveServer) -> set[tuple[str, int]]:
    """The local ends of this process's established TCP connections to ``server``."""
    return {
        (conn.laddr.ip, conn.laddr.port)
        for conn in psutil.Process().net_connections("tcp")
        if conn.raddr and conn.raddr.port == server.port and conn.status == psutil.CONN_ESTABLISHED
    }


async def test_aclose_releases_the_sync_and_the_async_pool(shared_server: LiveServer, sid: str) -> None:
    before = open_connections(shared_server)
    client = ZepClient(shared_server.url)
    client.memory.add_session(Session(session_id=sid))
    await client.memory.aget_session(sid)
    assert len(open_connections(shared_server) - before) == 2
    await client.aclose()
    assert open_connections(shared_server) - before == set()


def test_close_releases_the_sync_and_the_async_pool(shared_server: LiveServer, sid: str) -> None:
    before = open_connections(shared_server)
    client = ZepClient(shared_server.url)
    client.memory.add_session(Session(session_id=sid))
    loop = asyncio.new_event_loop()  # an idle loop, as a caller running its own loop leaves it
    try:
        loop.run_until_complete(client.memory.aget_session(sid))
        assert len(open_connections(shared_server) - before) == 2
        client.close()
        assert open_connections(shared_server) - before == set()
    finally:
        loop.close()


async def test_close_from_async_code_releases_the_async_pool_by_aclose(
    shared_server: LiveServer, sid: str
) -> None:
    before = open_connections(shared_server)
    client = ZepClient(shared_server.url)
    await client.memory.aadd_session(Session(session_id=sid))
    client.close()
    await client.aclose()
    assert open_connections(shared_server) - before == set()


def test_the_async_pool_is_released_when_its_event_loop_ends(shared_server: LiveServer, sid: str) -> None:
    before = open_connections(shared_server)
    client = ZepClient(shared_server.url)
    client.memory.add_session(Session(session_id=sid))
    for _ in range(2):
        asyncio.run(client.memory.aget_session(sid))
        # asyncio.run closed its loop, and with it the pool that loop owned; the sync pool stays.
        assert len(open_connections(shared_server) - before) == 1
    client.close()
    assert open_connections(shared_server) - before == set()


# -- one definition -----------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", [resources.MemoryClient, resources.MessageClient, resources.UserClient])
def test_every_operation_has_an_async_twin_built_from_the_same_endpoint(
    resource: type[operation.Resource],
) -> None:
    ops = {name: value for name, value in vars(resource).items() if isinstance(value, operation._Operation)}
    sync_ops = {n: op for n, op in ops.items() if isinstance(op, operation.sync | operation.sync_pages)}
    assert sync_ops and len(ops) == 2 * len(sync_ops)
    for name, op in sync_ops.items():
        twin_op = ops["a" + name]
        assert isinstance(twin_op, operation.asynchronous | operation.async_pages)
        assert twin_op._endpoint is op._endpoint
