"""Logs: JSON lines that parse, one access line per request carrying its request id (echoed in the
response), and never the content, metadata values or credentials a request carried."""

from __future__ import annotations

import io
import json
import random
import re
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from chatmem.access import keys
from chatmem.access.roles import Role
from chatmem.server.access_log import BATCH_LINES, AccessLog
from chatmem.store import Database
from tests.compat.process import ChatmemProcess
from tests.support import database_url

SECRET = "sk-SECRET-7f3a9c-do-not-log"


def requests_through_every_route(session_id: str, user_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, httpx options) for every route of the API, each carrying the secret."""
    meta = {"metadata": {"note": SECRET, "nested": {"key": SECRET}}}
    search = {"json": {"text": SECRET, "metadata": {"where": {"jsonpath": f'$[*] ? (@.note == "{SECRET}")'}}}}
    return [
        ("POST", "/api/v1/user", {"json": {"user_id": user_id, "email": f"{SECRET}@x.org", **meta}}),
        ("GET", f"/api/v1/user/{user_id}", {}),
        ("PATCH", f"/api/v1/user/{user_id}", {"json": {"first_name": SECRET, **meta}}),
        ("GET", "/api/v1/user", {}),
        ("POST", "/api/v1/sessions", {"json": {"session_id": session_id, "user_id": user_id, **meta}}),
        ("PATCH", f"/api/v1/sessions/{session_id}", {"json": meta}),
        ("GET", f"/api/v1/sessions/{session_id}", {}),
        ("GET", "/api/v1/sessions", {}),
        ("GET", f"/api/v1/user/{user_id}/sessions", {}),
        (
            "POST",
            f"/api/v1/sessions/{session_id}/memory",
            {"json": {"messages": [{"role": "user", "content": f"my key is {SECRET}", **meta}]}},
        ),
        ("POST", f"/api/v1/sessions/{session_id}/memory", {"content": f'{{"messages": "{SECRET}"}}'}),
        ("GET", f"/api/v1/sessions/{session_id}/memory?lastn=5", {}),
        ("GET", f"/api/v1/sessions/{session_id}/messages", {}),
        ("POST", f"/api/v1/sessions/{session_id}/search?limit=3", search),
        ("POST", f"/api/v1/user/{user_id}/search?limit=3", search),
        ("GET", "/api/v1/enrichment/queue", {}),
        ("POST", "/api/v1/enrichment/queue/retry-dead", {}),
        ("GET", f"/api/v1/sessions/{session_id}/messages/00000000-0000-0000-0000-000000000000", {}),
        ("GET", "/healthz", {}),
        ("GET", "/readyz", {}),
        ("GET", "/metrics", {}),
        ("DELETE", f"/api/v1/sessions/{session_id}/memory", {}),
        ("DELETE", f"/api/v1/user/{user_id}", {}),
    ]


def lines(log: str) -> list[dict[str, Any]]:
    parsed = [json.loads(line) for line in log.splitlines() if line.strip()]
    for line in parsed:
        assert {"time", "level", "logger", "message"} <= line.keys()
    return parsed


def test_json_logs_carry_request_ids_and_no_content(backend: str, tmp_path: Path) -> None:
    env = {
        "CHATMEM_LOG_FORMAT": "json",
        "CHATMEM_LOG_LEVEL": "debug",
        "CHATMEM_ENRICH_WORKERS": "1",
        "CHATMEM_EMBEDDINGS": "off",
        "CHATMEM_SUMMARIZER": "extractive",
        "CHATMEM_MESSAGE_WINDOW": "2",
    }
    session_id, user_id = f"log-session-{SECRET}", f"log-user-{SECRET}"
    sent = requests_through_every_route(session_id, user_id)
    credentials = {"Authorization": f"Bearer {SECRET}"}
    with (
        database_url(backend, tmp_path) as url,
        ChatmemProcess(url, tmp_path, env) as server,
        httpx.Client(base_url=server.url, timeout=30, headers=credentials) as client,
    ):
        for number, (method, path, options) in enumerate(sent):
            response = client.request(method, path, headers={"X-Request-Id": f"req-{number}"}, **options)
            assert response.status_code < 500, (method, path, response.text)
            assert response.headers["x-request-id"] == f"req-{number}"
        generated = client.get("/healthz").headers["x-request-id"]
    # Read after the server stopped: access lines are written in batches, the last at shutdown.
    log = server.log()
    parsed = lines(log)
    # (The first lines are the start-up probes of ChatmemProcess.)
    access = [line for line in parsed if line["logger"] == "chatmem.access"][-len(sent) - 1 :]
    assert [line["request_id"] for line in access] == [f"req-{n}" for n in range(len(sent))] + [generated]
    for line, (method, _path, _options) in zip(access, sent, strict=False):
        assert line["method"] == method
        assert line["tenant"] == "default"
        assert isinstance(line["status"], int) and isinstance(line["duration_ms"], float)
        assert "log-session" not in line["route"] and "log-user" not in line["route"]
    assert SECRET not in log


def test_with_auth_on_each_access_line_names_the_callers_tenant(backend: str, tmp_path: Path) -> None:
    env = {"CHATMEM_LOG_FORMAT": "json", "CHATMEM_LOG_LEVEL": "info", "CHATMEM_AUTH": "on"}
    with database_url(backend, tmp_path) as url, ChatmemProcess(url, tmp_path, env) as server:
        db = Database(url)
        try:
            credentials = {
                tenant: {"Authorization": f"Bearer {keys.create_key(db, tenant, Role.WRITER).key}"}
                for tenant in ("acme", "globex")
            }
        finally:
            db.dispose()
        sent: list[tuple[str | None, str]] = []
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for tenant, headers in credentials.items():
                body = {"messages": [{"role": "user", "content": "hello"}]}
                requests: list[tuple[str, str, dict[str, Any] | None]] = [
                    ("POST", "/api/v1/sessions/shared/memory", body),  # the fast path
                    ("GET", "/api/v1/sessions/shared/memory", None),
                    ("GET", "/api/v1/sessions", None),  # a FastAPI route
                    ("GET", "/api/v1/enrichment/queue", None),  # refused (403) after authentication
                ]
                for method, path, json_body in requests:
                    request_id = f"{tenant}-{len(sent)}"
                    response = client.request(
                        method, path, headers={**headers, "X-Request-Id": request_id}, json=json_body
                    )
                    assert response.status_code in (200, 403), response.text
                    sent.append((tenant, request_id))
            # Refused before authentication, and a probe: no tenant.
            for request_id, headers in (("no-key", {}), ("bad-key", {"Authorization": "Bearer nope"})):
                assert (
                    client.get(
                        "/api/v1/sessions", headers={**headers, "X-Request-Id": request_id}
                    ).status_code
                    == 401
                )
                sent.append((None, request_id))
            client.get("/healthz", headers={"X-Request-Id": "probe"})
            sent.append((None, "probe"))
    tenants = {
        line["request_id"]: line["tenant"]
        for line in lines(server.log())
        if line["logger"] == "chatmem.access"
    }
    assert {request_id: tenants.get(request_id, "no line") for _, request_id in sent} == {
        request_id: tenant for tenant, request_id in sent
    }


def test_access_log_can_be_switched_off(backend: str, tmp_path: Path) -> None:
    env = {"CHATMEM_LOG_FORMAT": "json", "CHATMEM_LOG_LEVEL": "info", "CHATMEM_ACCESS_LOG": "false"}
    with database_url(backend, tmp_path) as url, ChatmemProcess(url, tmp_path, env) as server:
        assert httpx.get(f"{server.url}/api/v1/sessions").status_code == 200
    log = server.log()
    parsed = lines(log)
    assert parsed, "the server logged nothing at all"
    assert [line for line in parsed if line["logger"] == "chatmem.access"] == []


@pytest.mark.parametrize("header", ["", "x" * 200, "bad id with spaces", "a\u00e9"])
def test_unusable_request_ids_are_replaced(shared_server: Any, header: str) -> None:
    response = httpx.get(f"{shared_server.url}/healthz", headers=[(b"X-Request-Id", header.encode("utf-8"))])
    assert response.status_code == 200
    assert response.headers["x-request-id"] not in ("", header)
    assert len(response.headers["x-request-id"]) == 24


async def test_access_lines_are_written_in_batches_in_the_log_format() -> None:
    stream = io.BytesIO()
    text = AccessLog(json=False, stream=stream)
    text.write("rid-1", "GET", "/api/v1/sessions/{session_id}", 200, 0.0012, "default")
    assert stream.getvalue() == b""  # waits for more lines, or for its timer
    text.flush()
    line = stream.getvalue().decode()
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO chatmem\.access: "
        r"GET /api/v1/sessions/\{session_id\} 200 1\.20ms \[rid-1\]\n",
        line,
    )

    stream = io.BytesIO()
    json_log = AccessLog(json=True, stream=stream)
    for number in range(BATCH_LINES):
        json_log.write(f"rid-{number}", "POST", "/x", 201, 0.5, "default")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["request_id"] for line in lines] == [f"rid-{n}" for n in range(BATCH_LINES)]
    assert lines[0]["time"].endswith("+00:00") and lines[0]["duration_ms"] == 500.0


def test_access_lines_are_the_bytes_orjson_and_logging_would_write() -> None:
    """The lines are built from templates (chatmem.server.access_log): byte for byte what ``orjson.dumps``
    of the fields, and logging's text format, would write, over durations that round every way (ties
    and near-ties of the two and three decimals included), escaped routes and tenants, every second's
    edge."""
    rng = random.Random(14)
    routes = ["/api/v1/sessions/{session_id}/memory", "unmatched", '/we"ird\\rou\u00e9te\n\t']
    tenants = [None, "default", "t\u00e9nant", 'a"b\\c', "ctl\x01"]
    ids = "abcXYZ019._:/+=@-"  # what chatmem.server.observe lets a client choose
    start = time.time()
    records = []
    for _ in range(20_000):
        kind = rng.random()
        if kind < 0.3:
            seconds = rng.random() * 10 ** rng.uniform(-8, 3)
        elif kind < 0.7:  # near a tie: k/100000 s is k/100 ms
            seconds = rng.randint(0, 100_000) / 100_000 + rng.choice([0, 5e-6, -5e-6, 5e-7, -5e-7, 1e-15])
        else:
            seconds = rng.randint(0, 1_000_000) / 1_000_000
        edges = [1e9, 1e9 + 0.9999, 1.7e9 + 0.0005]
        now = start + rng.random() * 3 if rng.random() < 0.9 else rng.choice(edges)
        request_id = "".join(rng.choice(ids) for _ in range(rng.randint(1, 40)))
        method = rng.choice(["GET", "POST", "OTHER"])
        status = rng.choice([200, 404, 500])
        route, tenant = rng.choice(routes), rng.choice(tenants)
        records.append((now, request_id, method, route, status, max(seconds, 0.0), tenant))

    def reference(json_format: bool) -> bytes:
        out = []
        for now, request_id, method, route, status, seconds, tenant in records:
            second = int(now)
            millis = f"{int((now - second) * 1000):03d}"
            message = f"{method} {route} {status} {seconds * 1000:.2f}ms"
            if json_format:
                fields = {
                    "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)) + f".{millis}+00:00",
                    "level": "info",
                    "logger": "chatmem.access",
                    "message": message,
                    "request_id": request_id,
                    "route": route,
                    "method": method,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    "tenant": tenant,
                }
                out.append(orjson.dumps(fields, option=orjson.OPT_APPEND_NEWLINE))
            else:
                stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second)) + f",{millis}"
                out.append(f"{stamp} INFO chatmem.access: {message} [{request_id}]\n".encode())
        return b"".join(out)

    for json_format in (True, False):
        stream = io.BytesIO()
        log = AccessLog(json=json_format, stream=stream)
        log.records = list(records)
        log.flush()
        assert stream.getvalue() == reference(json_format)
