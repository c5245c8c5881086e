"""Authentication and roles: API keys, Zep-style JWTs, 401/403, revocation, CORS, safe defaults."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from click.testing import CliRunner

from chatmem import AuthError, Memory, Message, ZepClient, cli
from chatmem.access import keys, tenants
from chatmem.access.roles import Role
from chatmem.config import Settings, get_settings
from chatmem.store import migrated_database
from tests.compat.process import ChatmemProcess
from tests.support import LiveServer, database_url, live_server

SECRET = "a-zep-auth-secret-of-reasonable-length-0123456789"


@pytest.fixture(scope="module")
def server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(
        backend,
        tmp_path_factory.mktemp(f"auth-{backend}"),
        auth="on",
        auth_jwt_secret=SECRET,
        embeddings="off",  # these tests search by text; no model to load
    ) as live:
        yield live


def new_key(server: LiveServer, role: Role, tenant: str = "acme") -> str:
    return keys.create_key(server.db, tenant, role, f"test {role.label}").key


def client(server: LiveServer, credential: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {credential}"} if credential else {}
    return server.client("/api/v1", headers=headers, timeout=30)


def token(**claims: object) -> str:
    return jwt.encode(claims, SECRET, algorithm="HS256")


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["message"]
    assert response.headers["X-Zep-Version"].startswith("0.27.2-")


def test_requests_without_a_credential_get_401_json_with_a_bearer_challenge(server: LiveServer) -> None:
    with client(server) as api:
        for method, path in (
            ("GET", "/sessions/s1/memory"),  # the fast path
            ("POST", "/sessions/s1/memory"),
            ("GET", "/sessions"),
            ("GET", "/user"),
            ("GET", "/admin/keys"),
            ("GET", "/no-such-route"),
        ):
            assert_unauthorized(api.request(method, path, json={"messages": [{"role": "h", "content": "x"}]}))


def test_healthz_stays_open(server: LiveServer) -> None:
    with server.client() as http:
        response = http.get("/healthz")
    assert (response.status_code, response.text) == (200, ".")


def test_bad_credentials_get_401(server: LiveServer) -> None:
    good = new_key(server, Role.WRITER)
    for credential in (
        "nonsense",
        good[:-1] + ("A" if good[-1] != "A" else "B"),  # one character off
        "cmk_000000000000_" + good.split("_", 2)[2],  # a real secret under another id
        token(role="writer")[:-2] + "xx",  # bad signature
    ):
        with client(server, credential) as api:
            assert_unauthorized(api.get("/sessions/s1/memory"))


def test_a_writer_key_reads_and_writes_its_memories(server: LiveServer, sid: str) -> None:
    with client(server, new_key(server, Role.WRITER)) as api:
        assert (
            api.post(f"/sessions/{sid}/memory", json={"messages": [{"role": "human", "content": "hi"}]}).text
            == "OK"
        )
        assert [m["content"] for m in api.get(f"/sessions/{sid}/memory").json()["messages"]] == ["hi"]
        assert api.get(f"/sessions/{sid}").status_code == 200


def test_a_reader_key_reads_and_searches_but_cannot_write(server: LiveServer, sid: str) -> None:
    with client(server, new_key(server, Role.WRITER)) as writer:
        writer.post(f"/sessions/{sid}/memory", json={"messages": [{"role": "human", "content": "hello"}]})
    with client(server, new_key(server, Role.READER)) as reader:
        assert reader.get(f"/sessions/{sid}/memory").status_code == 200
        assert (
            reader.post(f"/sessions/{sid}/search", json={"text": "hello", "search_type": "text"}).status_code
            == 200
        )
        for method, path, body in (
            ("POST", f"/sessions/{sid}/memory", {"messages": [{"role": "human", "content": "x"}]}),
            ("DELETE", f"/sessions/{sid}/memory", None),
            ("PATCH", f"/sessions/{sid}", {"metadata": {"a": 1}}),
            ("POST", "/user", {"user_id": "u-reader"}),
        ):
            response = reader.request(method, path, json=body)
            assert response.status_code == 403, (method, path, response.text)
            assert "reader" in response.json()["message"]
    with client(server, new_key(server, Role.WRITER)) as writer:
        assert len(writer.get(f"/sessions/{sid}/memory").json()["messages"]) == 1


def test_a_writer_cannot_administer(server: LiveServer) -> None:
    with client(server, new_key(server, Role.WRITER)) as writer:
        assert writer.get("/admin/keys").status_code == 403
        assert writer.post("/admin/keys", json={"role": "admin"}).status_code == 403
        assert writer.get("/enrichment/queue").status_code == 403
        assert writer.post("/admin/purge").status_code == 403


def test_an_admin_manages_its_tenants_keys_through_the_api(server: LiveServer) -> None:
    with client(server, new_key(server, Role.ADMIN, tenant="keys-api")) as admin:
        created = admin.post("/admin/keys", json={"role": "reader", "name": "dashboard"})
        assert created.status_code == 201, created.text
        body = created.json()
        assert (body["tenant"], body["role"], body["name"]) == ("keys-api", "reader", "dashboard")
        listed = admin.get("/admin/keys").json()
        assert body["id"] in [k["id"] for k in listed]
        assert all("key" not in k and k["tenant"] == "keys-api" for k in listed)
        # A tenant admin cannot reach into other tenants or manage tenants.
        assert admin.post("/admin/keys", json={"role": "admin", "tenant": "default"}).status_code == 404
        assert admin.post("/admin/tenants", json={"name": "other"}).status_code == 403
        with client(server, body["key"]) as reader:
            assert reader.get("/sessions").status_code == 200
            assert admin.delete(f"/admin/keys/{body['id']}").text == "OK"
            time.sleep(1.0)
            assert_unauthorized(reader.get("/sessions"))


def test_the_database_keeps_a_hash_never_the_key(server: LiveServer) -> None:
    key = new_key(server, Role.READER, tenant="hashes")
    with server.db.read() as conn:
        dumped = "\n".join(str(row) for row in conn.exec_driver_sql("SELECT * FROM api_keys"))
    assert key not in dumped
    assert key.split("_", 2)[2] not in dumped


def test_a_revoked_key_is_refused_within_a_second(server: LiveServer, sid: str) -> None:
    created = keys.create_key(server.db, "acme", Role.WRITER)
    with client(server, created.key) as api:
        assert api.get(f"/sessions/{sid}/memory").status_code == 200  # cached now
        keys.revoke_key(server.db, created.record.id)
        time.sleep(1.0)
        assert_unauthorized(api.get(f"/sessions/{sid}/memory"))


def test_a_key_of_a_deleted_tenant_is_refused(server: LiveServer) -> None:
    key = new_key(server, Role.ADMIN, tenant="doomed")
    with client(server, key) as api:
        assert api.get("/sessions").status_code == 200
        tenants.delete_tenant(server.db, "doomed")
        time.sleep(1.0)
        assert_unauthorized(api.get("/sessions"))


def test_last_used_is_recorded_in_batches_not_per_request(backend: str, tmp_path: Path) -> None:
    with database_url(backend, tmp_path) as url:
        settings = Settings(database_url=url, auth="on", purge_every_minutes=0, enrich_workers=0)
        with LiveServer(settings) as live:
            created = keys.create_key(live.db, "acme", Role.READER)
            with client(live, created.key) as api:
                for _ in range(3):
                    assert api.get("/sessions").status_code == 200
            [before] = [k for k in keys.list_keys(live.db, "acme") if k.id == created.record.id]
            assert before.last_used_at is None  # nothing written per request
        # The server writes what it gathered when it stops (and every minute while it runs).
        with migrated_database(url) as db:
            [after] = [k for k in keys.list_keys(db, "acme") if k.id == created.record.id]
        assert after.last_used_at is not None


# --- Zep-style JWTs -------------------------------------------------------------------------------


def test_a_claimless_zep_token_writes_in_the_default_tenant(server: LiveServer, sid: str) -> None:
    with client(server, token()) as api:
        assert (
            api.post(f"/sessions/{sid}/memory", json={"messages": [{"role": "human", "content": "z"}]}).text
            == "OK"
        )
        assert api.get("/admin/keys").status_code == 403  # writer unless a claim says otherwise
    with client(server, token(role="admin")) as admin:
        assert admin.get("/admin/tenants").status_code == 200


def test_token_claims_name_the_tenant_and_role(server: LiveServer, sid: str) -> None:
    tenants.create_tenant(server.db, "claims")
    with client(server, token(tenant="claims", role="reader")) as api:
        assert api.get(f"/sessions/{sid}/memory").status_code == 200
        assert api.post(f"/sessions/{sid}/memory", json={"messages": []}).status_code == 403
    with client(server, token(tenant="no-such-tenant")) as api:
        assert_unauthorized(api.get("/sessions"))
    with client(server, token(role="superuser")) as api:
        assert_unauthorized(api.get("/sessions"))


def test_expired_not_yet_valid_and_wrongly_signed_tokens_are_refused(server: LiveServer) -> None:
    now = int(time.time())
    for credential in (
        token(exp=now - 3600),
        token(nbf=now + 3600),
        token(iat=now + 3600),
        jwt.encode({}, "another-secret-of-reasonable-length-0123456789", algorithm="HS256"),
        jwt.encode({}, SECRET, algorithm="HS384"),
    ):
        with client(server, credential) as api:
            assert_unauthorized(api.get("/sessions"))
    with client(server, token(exp=now + 3600, iat=now, nbf=now)) as api:
        assert api.get("/sessions").status_code == 200


def test_tokens_are_refused_when_the_server_has_no_secret(backend: str, tmp_path: Path) -> None:
    with live_server(backend, tmp_path, auth="on") as live, client(live, token()) as api:
        response = api.get("/sessions")
        assert_unauthorized(response)
        assert "CHATMEM_AUTH_JWT_SECRET" in response.json()["message"]


def test_chatmem_token_create_mints_what_the_server_accepts(server: LiveServer) -> None:
    result = CliRunner().invoke(
        cli.main, ["token", "create", "--role", "reader", "--expires-in", "600", "--secret", SECRET]
    )
    assert result.exit_code == 0, result.output
    minted = result.output.strip().splitlines()[-1]
    with client(server, minted) as api:
        assert api.get("/sessions").status_code == 200
        assert api.post("/user", json={"user_id": "token-reader"}).status_code == 403


# --- modes and CORS -------------------------------------------------------------------------------


def test_with_auth_off_no_credential_is_needed(backend: str, tmp_path: Path, sid: str) -> None:
    with live_server(backend, tmp_path) as live, client(live) as api:
        assert (
            api.post(f"/sessions/{sid}/memory", json={"messages": [{"role": "human", "content": "a"}]}).text
            == "OK"
        )
        assert api.get("/admin/tenants").json()[0]["name"] == "default"


def test_cors_is_off_by_default_and_follows_the_allowed_origins(backend: str, tmp_path: Path) -> None:
    origin = "https://app.example"
    preflight = {"Origin": origin, "Access-Control-Request-Method": "POST"}
    with live_server(backend, tmp_path) as live, live.client("/api/v1") as http:
        response = http.options("/sessions", headers=preflight)
        assert "access-control-allow-origin" not in response.headers
    with (
        live_server(backend, tmp_path, auth="on", cors_origins=origin) as live,
        live.client("/api/v1") as http,
    ):
        response = http.options("/sessions", headers=preflight)
        assert response.headers["access-control-allow-origin"] == origin
        refused = http.get("/sessions", headers={"Origin": origin})
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == origin
        other = http.options("/sessions", headers={**preflight, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_serve_refuses_a_public_address_with_auth_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CHATMEM_DATABASE_URL", f"sqlite:///{tmp_path / 'public.db'}")
    monkeypatch.delenv("CHATMEM_AUTH", raising=False)
    get_settings.cache_clear()
    served: list[dict[str, object]] = []
    monkeypatch.setattr("uvicorn.run", lambda *_a, **kw: served.append(kw))
    refused = CliRunner().invoke(cli.main, ["serve", "--host", "0.0.0.0"])
    assert refused.exit_code == 2
    assert "refusing to serve 0.0.0.0 with authentication off" in refused.output
    assert served == []
    allowed = CliRunner().invoke(
        cli.main, ["serve", "--host", "0.0.0.0", "--dangerously-allow-public-without-auth"]
    )
    assert allowed.exit_code == 0, allowed.output
    assert served[0]["host"] == "0.0.0.0"
    monkeypatch.setenv("CHATMEM_AUTH", "on")
    get_settings.cache_clear()
    assert CliRunner().invoke(cli.main, ["serve", "--host", "0.0.0.0"]).exit_code == 0
    get_settings.cache_clear()


def test_keys_cli_prints_the_key_alone_on_the_last_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    created = runner.invoke(
        cli.main,
        ["keys", "create", "--tenant", "acme", "--role", "writer", "--name", "app1", "--database-url", url],
    )
    assert created.exit_code == 0, created.output
    key = created.output.strip().splitlines()[-1]
    assert key.startswith("cmk_") and " " not in key
    listed = runner.invoke(cli.main, ["keys", "list", "--tenant", "acme", "--database-url", url])
    key_id = key.split("_")[1]
    assert key_id in listed.output and key not in listed.output and "app1" in listed.output
    assert runner.invoke(cli.main, ["keys", "revoke", key_id, "--database-url", url]).exit_code == 0
    assert "revoked" in runner.invoke(cli.main, ["keys", "list", "--database-url", url]).output
    get_settings.cache_clear()


def test_revocation_reaches_every_server_process_within_a_second(backend: str, tmp_path: Path) -> None:
    with database_url(backend, tmp_path) as url:
        env = {"CHATMEM_AUTH": "on", "CHATMEM_EMBEDDINGS": "off"}
        for name in ("one", "two"):
            (tmp_path / name).mkdir()
        with (
            ChatmemProcess(url, tmp_path / "one", env) as first,
            ChatmemProcess(url, tmp_path / "two", env) as second,
            migrated_database(url) as db,
        ):
            created = keys.create_key(db, "acme", Role.READER)
            headers = {"Authorization": f"Bearer {created.key}"}
            for server in (first, second):  # both have it cached now
                assert httpx.get(f"{server.url}/api/v1/sessions", headers=headers).status_code == 200
            keys.revoke_key(db, created.record.id)
            time.sleep(1.0)
            for server in (first, second):
                assert_unauthorized(httpx.get(f"{server.url}/api/v1/sessions/s/memory", headers=headers))


def test_chatmems_sdk_works_with_a_key_and_a_token_and_raises_auth_error_otherwise(
    server: LiveServer, sid: str
) -> None:
    for credential in (new_key(server, Role.WRITER, tenant="sdk"), token(tenant="sdk")):
        with ZepClient(server.url, api_key=credential) as sdk:
            sdk.memory.add_memory(sid, Memory(messages=[Message(role="human", content="via sdk")]))
            assert [m.content for m in sdk.memory.get_memory(sid).messages][-1] == "via sdk"
    for bad in (None, "cmk_000000000000_nope", token()[:-2] + "xx"):
        with ZepClient(server.url, api_key=bad) as sdk, pytest.raises(AuthError) as refused:
            sdk.memory.get_memory(sid)
        assert refused.value.status_code == 401
    with (
        ZepClient(server.url, api_key=new_key(server, Role.READER, tenant="sdk")) as sdk,
        pytest.raises(AuthError),
    ):
        sdk.memory.add_memory(sid, Memory(messages=[Message(role="human", content="no")]))
