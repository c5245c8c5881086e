"""No request of one tenant reaches another tenant's data.

The probe walks every operation of the OpenAPI document (a route added later is probed without editing
this file) with tenant B's reader, writer and admin keys against tenant A's ids, and checks that B
never sees A's data in any answer and that A's data is exactly as it was afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from chatmem.access import keys
from chatmem.access.roles import Role
from chatmem.memory.purge import purge
from chatmem.server.params import encode_keyset
from tests.support import LiveServer, live_server

MARK = f"tenant-a-secret-{uuid.uuid4().hex}"  # in every content and metadata value of A's


class Tenant:
    def __init__(self, server: LiveServer, name: str) -> None:
        self.name = name
        self.created = {role: keys.create_key(server.db, name, role, f"{name} {role.label}") for role in Role}
        self.clients = {
            role: server.client(
                "/api/v1",
                headers={"Authorization": f"Bearer {created.key}"},
                timeout=30,
            )
            for role, created in self.created.items()
        }

    @property
    def writer(self) -> httpx.Client:
        return self.clients[Role.WRITER]

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


@pytest.fixture(scope="module")
def server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(
        backend, tmp_path_factory.mktemp(f"tenants-{backend}"), auth="on", embeddings="off"
    ) as live:
        yield live


@pytest.fixture
def tenants(server: LiveServer) -> Iterator[tuple[Tenant, Tenant]]:
    suffix = uuid.uuid4().hex[:8]
    a, b = Tenant(server, f"a-{suffix}"), Tenant(server, f"b-{suffix}")
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def fill(tenant: Tenant, user_id: str, session_ids: list[str], marker: str) -> dict[str, str]:
    """A user owning the sessions, each with two messages; returns ids of the first session's message."""
    api = tenant.writer
    assert api.post("/user", json={"user_id": user_id, "metadata": {"m": marker}}).status_code == 201
    for session_id in session_ids:
        created = api.post(
            "/sessions", json={"session_id": session_id, "user_id": user_id, "metadata": {"m": marker}}
        )
        assert created.status_code == 201, created.text
        added = api.post(
            f"/sessions/{session_id}/memory",
            json={
                "messages": [
                    {"role": "human", "content": f"{marker} hello"},
                    {"role": "ai", "content": f"{marker} hi"},
                ]
            },
        )
        assert added.text == "OK"
    first = api.get(f"/sessions/{session_ids[0]}/messages").json()["messages"][0]
    return {"message_uuid": first["uuid"]}


def snapshot(tenant: Tenant, user_id: str, session_ids: list[str], server: LiveServer) -> dict[str, Any]:
    """Everything of A's that the API shows, plus its keys, with volatile fields kept (they must not move)."""
    api = tenant.writer
    state: dict[str, Any] = {
        "users": api.get("/user").json(),
        "user": api.get(f"/user/{user_id}").json(),
        "user_sessions": api.get(f"/user/{user_id}/sessions").json(),
        "sessions": api.get("/sessions").json(),
        "keys": [(k.id, k.role, k.revoked_at) for k in keys.list_keys(server.db, tenant.name)],
    }
    for session_id in session_ids:
        state[session_id] = {
            "session": api.get(f"/sessions/{session_id}").json(),
            "memory": api.get(f"/sessions/{session_id}/memory").json(),
            "messages": api.get(f"/sessions/{session_id}/messages").json(),
        }
    return state


def example(schema: dict[str, Any], components: dict[str, Any], name: str, ids: dict[str, str]) -> Any:
    """A value for ``schema`` that aims at A's ids wherever a field names one."""
    if "$ref" in schema:
        return example(components[schema["$ref"].rsplit("/", 1)[1]], components, name, ids)
    if name in ids:
        return ids[name]
    for option in schema.get("anyOf", []):
        if option.get("type") != "null":
            return example(option, components, name, ids)
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        if not properties:
            return {"probe": "b"}
        return {key: example(value, components, key, ids) for key, value in properties.items()}
    if kind == "array":
        return [example(schema.get("items", {}), components, name, ids)]
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    return "probe"


def probes(openapi: dict[str, Any], ids: dict[str, str]) -> list[tuple[str, str, dict[str, str], Any]]:
    found = []
    components = openapi.get("components", {}).get("schemas", {})
    for path, operations in openapi["paths"].items():
        if not path.startswith("/api/v1"):
            continue
        for method, operation in operations.items():
            params: dict[str, str] = {}
            concrete = path
            for parameter in operation.get("parameters", []):
                value = ids.get(parameter["name"])
                if parameter["in"] == "path":
                    assert value is not None, (
                        f"the probe has no id of tenant A for {parameter['name']} in {path}"
                    )
                    concrete = concrete.replace("{" + parameter["name"] + "}", value)
                elif value is not None:
                    params[parameter["name"]] = value
            body_schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            body = example(body_schema["schema"], components, "", ids) if "schema" in body_schema else None
            found.append((method.upper(), concrete.removeprefix("/api/v1"), params, body))
    return found


def test_every_route_with_tenant_b_keys_leaves_tenant_a_unseen_and_unchanged(
    server: LiveServer, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    user_id, session_ids = "alice", ["chat-1", "chat-2"]
    first = fill(a, user_id, session_ids, MARK)
    page = a.writer.get("/sessions", params={"limit": 1})
    before = snapshot(a, user_id, session_ids, server)
    ids = {
        "session_id": session_ids[0],
        "user_id": user_id,
        "message_uuid": first["message_uuid"],
        "key_id": a.created[Role.ADMIN].record.id,
        "name": a.name,
        "tenant": a.name,
        "after": page.headers["X-Next-Cursor"],  # a cursor copied from A's response
        "text": "hello",
        "content": MARK.replace("tenant-a", "tenant-b"),
        "search_type": "text",
        "search_scope": "messages",
        "role": "admin",
    }
    with server.client() as http:
        openapi = http.get("/openapi.json").json()
    walked = probes(openapi, ids)
    assert len(walked) >= 20
    answers = []
    for role in (Role.READER, Role.WRITER, Role.ADMIN):
        for method, path, params, body in walked:
            response = b.clients[role].request(method, path, params=params, json=body)
            answers.append((role.label, method, path, response.status_code))
            assert response.status_code < 500, (role, method, path, response.text)
            assert response.status_code != 401, (role, method, path, response.text)
            assert MARK not in response.text, (role, method, path, response.text)
            assert a.created[Role.ADMIN].key not in response.text
    assert snapshot(a, user_id, session_ids, server) == before, answers


def test_the_same_ids_in_two_tenants_name_different_rows(tenants: tuple[Tenant, Tenant]) -> None:
    a, b = tenants
    fill(a, "u", ["s"], "from-a")
    fill(b, "u", ["s"], "from-b")
    for tenant, marker in ((a, "from-a"), (b, "from-b")):
        memory = tenant.writer.get("/sessions/s/memory").json()
        assert [m["content"] for m in memory["messages"]] == [f"{marker} hello", f"{marker} hi"]
        assert tenant.writer.get("/user/u").json()["metadata"] == {"m": marker}
        assert [s["session_id"] for s in tenant.writer.get("/user/u/sessions").json()] == ["s"]
    assert b.writer.delete("/sessions/s/memory").text == "OK"
    assert len(a.writer.get("/sessions/s/memory").json()["messages"]) == 2


def test_search_never_crosses_tenants(tenants: tuple[Tenant, Tenant]) -> None:
    a, b = tenants
    fill(a, "u", ["s"], f"{MARK} zebra")
    fill(b, "u", ["s"], "zebra of b")
    for scope in ("/sessions/s", "/user/u"):
        for search_type in ("text", "hybrid"):
            hits = b.clients[Role.READER].post(
                f"{scope}/search", json={"text": "zebra", "search_type": search_type}
            )
            assert hits.status_code == 200, hits.text
            contents = [hit["message"]["content"] for hit in hits.json()]
            assert contents and all(content.startswith("zebra of b") for content in contents)
    assert b.writer.post("/user/nobody/search", json={"text": "zebra", "search_type": "text"}).json() == []


def test_lists_and_cursors_show_only_the_callers_tenant(tenants: tuple[Tenant, Tenant]) -> None:
    a, b = tenants
    fill(a, "ua", [f"a{i}" for i in range(4)], MARK)
    fill(b, "ub", ["b0", "b1"], "b")
    copied = a.writer.get("/sessions", params={"limit": 1}).headers["X-Next-Cursor"]
    pages: list[dict[str, str | int]] = [
        {},
        {"limit": 1},
        {"cursor": 1},
        {"after": copied},
        {"after": encode_keyset(0)},
        {"limit": 100, "after": encode_keyset(0)},
    ]
    for params in pages:
        for path in ("/sessions", "/user", "/user/ua/sessions"):
            listed = b.writer.get(path, params=params)
            assert listed.status_code == 200, listed.text
            assert MARK not in listed.text
    assert [s["session_id"] for s in b.writer.get("/sessions").json()] == ["b0", "b1"]
    assert [u["user_id"] for u in b.writer.get("/user").json()] == ["ub"]


def test_purge_and_queue_administration_stay_in_their_tenant(
    server: LiveServer, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    fill(a, "u", ["s", "t"], MARK)
    fill(b, "u", ["s"], "b")
    assert a.writer.delete("/sessions/t/memory").text == "OK"
    assert b.clients[Role.ADMIN].get("/enrichment/queue").json()["dead_jobs"] == []
    assert MARK not in b.clients[Role.ADMIN].get("/enrichment/queue").text
    assert b.writer.delete("/sessions/s/memory").text == "OK"
    purge(server.db)
    assert [m["content"] for m in a.writer.get("/sessions/s/memory").json()["messages"]] == [
        f"{MARK} hello",
        f"{MARK} hi",
    ]
    assert a.writer.get("/sessions/t").status_code == 404
    assert b.writer.get("/sessions/s").status_code == 404
