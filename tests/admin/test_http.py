"""The admin page's security and input rules, over plain HTTP: forms without a CSRF token, other sites,
keys that are not admin keys, secrets in pages, tenants, bad input, and auth off."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import pytest

from chatmem.access import keys
from chatmem.access.roles import Role
from tests.admin.conftest import Site, csrf_of, signed_in_client
from tests.support import live_server

PAGES = (
    "/admin",
    "/admin/users",
    "/admin/sessions?state=all",
    "/admin/queue",
    "/admin/settings",
    "/admin/keys",
)


def _pages(site: Site) -> list[str]:
    return [
        *PAGES,
        f"/admin/user?id={site.user}",
        f"/admin/session?id={site.chat}",
        f"/admin/session?id={site.long}&before=0",
        f"/admin/search?session={site.chat}&text=weather&type=text",
        f"/admin/search?user={site.user}&text=weather&type=text",
    ]


def test_a_form_without_the_csrf_token_is_refused_and_changes_nothing(site: Site) -> None:
    with signed_in_client(site) as client, site.api() as api:
        before = api.get(f"/sessions/{site.chat}").json()["metadata"]
        for form in ({}, {"csrf": "forged"}, {"csrf": ""}):
            response = client.post(
                "/admin/session/metadata", data={**form, "id": site.chat, "metadata": '{"csrf": "missing"}'}
            )
            assert response.status_code == 403
            assert "CSRF" in response.text
        assert client.post("/admin/session/delete", data={"id": site.chat}).status_code == 403
        assert api.get(f"/sessions/{site.chat}").json()["metadata"] == before


def test_another_sessions_csrf_token_is_refused(site: Site) -> None:
    with signed_in_client(site) as mine, signed_in_client(site) as theirs:
        token = csrf_of(theirs.get("/admin").text)
        response = mine.post(
            "/admin/session/metadata", data={"csrf": token, "id": site.chat, "metadata": "{}"}
        )
        assert response.status_code == 403


def test_a_form_sent_from_another_site_is_refused(site: Site) -> None:
    with signed_in_client(site) as client:
        token = csrf_of(client.get("/admin").text)
        response = client.post(
            "/admin/session/metadata",
            data={"csrf": token, "id": site.chat, "metadata": "{}"},
            headers={"Origin": "https://evil.example"},
        )
        assert response.status_code == 403


def test_a_json_post_is_refused(site: Site) -> None:
    with signed_in_client(site) as client:
        token = csrf_of(client.get("/admin").text)
        response = client.post("/admin/queue/retry", json={"csrf": token})
        assert response.status_code == 415


@pytest.mark.parametrize("role", ["reader", "writer"])
def test_a_reader_or_writer_key_cannot_sign_in(site: Site, role: str) -> None:
    with httpx.Client(base_url=site.url) as client:
        token = csrf_of(client.get("/admin/sign-in").text)
        response = client.post(
            "/admin/sign-in", data={"csrf": token, "key": site.keys[role], "next": "/admin"}
        )
        assert response.status_code == 403
        assert "needs an admin key" in response.text
        assert client.get("/admin/users").status_code == 303


def test_a_wrong_key_cannot_sign_in_and_pages_need_a_sign_in(site: Site) -> None:
    with httpx.Client(base_url=site.url) as client:
        for path in _pages(site):
            response = client.get(path)
            assert response.status_code == 303 and "/admin/sign-in" in response.headers["location"], path
        token = csrf_of(client.get("/admin/sign-in").text)
        response = client.post("/admin/sign-in", data={"csrf": token, "key": "cmk_000000000000_nope"})
        assert response.status_code == 401
        assert client.post("/admin/queue/retry", data={"csrf": token}).status_code == 401
        # An API credential is not a page session.
        headers = {"Authorization": f"Bearer {site.keys['admin']}"}
        assert client.get("/admin/users", headers=headers).status_code == 303


def test_no_page_shows_a_secret(site: Site) -> None:
    with signed_in_client(site) as client:
        for path in _pages(site):
            response = client.get(path)
            assert response.status_code == 200, (path, response.text[:500])
            for secret in site.secrets:
                assert secret not in response.text, (path, "shows a secret")
            assert "Content-Security-Policy" in response.headers
            assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
            assert "<script>" not in response.text and " style=" not in response.text
        with httpx.Client(base_url=site.url) as fresh:
            assert not any(secret in fresh.get("/admin/sign-in").text for secret in site.secrets)
        settings = client.get("/admin/settings").text
        assert "CHATMEM_AUTH_JWT_SECRET" in settings and "(set, redacted)" in settings


def test_a_revoked_key_ends_its_page_sessions(site: Site) -> None:
    created = keys.create_key(site.server.db, "default", Role.ADMIN, "short-lived")
    site.keys["short"] = created.key
    with signed_in_client(site, "short") as client:
        assert client.get("/admin/users").status_code == 200
        keys.revoke_key(site.server.db, created.record.id)
        assert client.get("/admin/users").status_code == 303


def test_bad_input_gets_a_clear_4xx_page(site: Site) -> None:
    with signed_in_client(site) as client:
        token = csrf_of(client.get("/admin").text)
        cases = {
            "/admin/sessions?before=x": 400,
            "/admin/sessions?before=99999999999999999999": 400,
            "/admin/sessions?state=zombie": 400,
            "/admin/users?before=-1": 400,
            f"/admin/users?q={'x' * 500}": 400,
            "/admin/session": 400,
            "/admin/session?id=no-such-session": 404,
            f"/admin/session?id={site.chat}&after=1&before=5": 400,
            f"/admin/session?id={site.chat}&message=not-a-uuid": 400,
            f"/admin/session?id={site.chat}&message={uuid.uuid4()}": 404,
            "/admin/user?id=nobody-here": 404,
            "/admin/user/delete?id=nobody-here": 404,
            "/admin/search?text=x": 400,
            f"/admin/search?session={site.chat}&text=x&type=psychic": 400,
            f"/admin/search?session={site.chat}&text=x&limit=abc": 400,
            f"/admin/search?session={site.chat}&text=x&metadata=%7Bbad": 400,
            "/admin/user?id=a%00b": 400,
            "/admin/session?id=%00": 400,
            "/admin/search?session=a%00b&text=x": 400,
            "/admin/sessions?prefix=%00": 400,
            f"/admin/search?session={site.chat}&text=a%00b&type=text": 400,
            f"/admin/user?id={'x' * 3000}": 400,
            "/admin/no-such-page": 404,
            "/admin/static/..%2F..%2Fetc%2Fpasswd": 404,
            "/admin/static/admin.css%00": 404,
        }
        for path, status in cases.items():
            response = client.get(path)
            assert response.status_code == status, (path, response.status_code, response.text[:300])
            assert "text/html" in response.headers["content-type"] or status == 404
        posts: list[tuple[str, dict[str, str], int]] = [
            ("/admin/session/metadata", {"id": "no-such-session", "metadata": "{}"}, 404),
            ("/admin/session/delete", {"id": "no-such-session"}, 404),
            ("/admin/user/delete", {"id": "nobody-here"}, 404),
            ("/admin/keys/revoke", {"id": "ffffffffffff"}, 404),
            ("/admin/keys/create", {"role": "emperor"}, 400),
            ("/admin/tenant", {"tenant": "no-such-tenant"}, 404),
            ("/admin/sessions", {}, 405),
            ("/admin/user/metadata", {"id": "a\x00b", "metadata": "{}"}, 400),
            ("/admin/session/metadata", {"id": site.chat, "metadata": '{"a": "\\u0000"}'}, 400),
        ]
        for path, form, status in posts:
            response = client.post(path, data={"csrf": token, **form})
            assert response.status_code == status, (path, response.status_code, response.text[:300])
        big = client.post(
            "/admin/session/metadata", data={"csrf": token, "id": site.chat, "metadata": "x" * 2_000_000}
        )
        assert big.status_code == 413


def test_a_tenant_admin_sees_only_its_tenant(site: Site) -> None:
    """An admin of another tenant signs in to its own tenant: the default tenant's users, sessions,
    messages and search are not there for it, and it cannot switch tenants; the operator can."""
    with signed_in_client(site, "admin_b") as client:
        assert site.user_b in client.get("/admin/users").text
        for path in (
            f"/admin/session?id={site.chat}",
            f"/admin/user?id={site.user}",
            f"/admin/session/delete?id={site.chat}",
        ):
            assert client.get(path).status_code == 404, path
        for listing in ("/admin/users", "/admin/sessions?state=all", f"/admin/sessions?user={site.user}"):
            text = client.get(listing).text
            assert f"user?id={site.user}" not in text and site.chat not in text, listing
        search = client.get(f"/admin/search?session={site.chat}&text=zebra&type=text").text
        assert "0 results" in search and "quarterly invoice" not in search
        token = csrf_of(client.get("/admin").text)
        assert client.post("/admin/tenant", data={"csrf": token, "tenant": "default"}).status_code == 403
        assert client.post("/admin/queue/purge", data={"csrf": token}).status_code == 403
        with site.api() as api:
            before = api.get(f"/sessions/{site.chat}").json()
        client.post("/admin/session/metadata", data={"csrf": token, "id": site.chat, "metadata": '{"b": 1}'})
        client.post("/admin/session/delete", data={"csrf": token, "id": site.chat})
        with site.api() as api:
            assert api.get(f"/sessions/{site.chat}").json() == before
        keys_page = client.get("/admin/keys").text
        assert "test admin_b" in keys_page and "test reader" not in keys_page


def test_the_operator_purges_and_sees_the_count(site: Site) -> None:
    with signed_in_client(site) as client:
        token = csrf_of(client.get("/admin/queue").text)
        response = client.post("/admin/queue/purge", data={"csrf": token})
        assert response.status_code == 200
        assert "Purge removed" in response.text


def test_with_auth_off_the_page_opens_without_a_sign_in(tmp_path: Path) -> None:
    with (
        live_server("sqlite", tmp_path, embeddings="off") as server,
        httpx.Client(base_url=server.url) as client,
    ):
        httpx.post(f"{server.url}/api/v1/sessions", json={"session_id": "open"}).raise_for_status()
        listing = client.get("/admin/sessions")
        assert listing.status_code == 200 and "open" in listing.text and "auth off" in listing.text
        assert "Sign out" not in listing.text
        page = client.get("/admin/queue")
        # Still no form without its token: a page on another site cannot post into a local server.
        assert client.post("/admin/session/delete", data={"id": "open"}).status_code == 403
        token = csrf_of(page.text)
        assert client.post("/admin/session/delete", data={"csrf": token, "id": "open"}).status_code == 303
        assert httpx.get(f"{server.url}/api/v1/sessions/open").status_code == 404
        # The Host allow-list holds here too (DNS rebinding).
        assert client.get("/admin", headers={"Host": "evil.example"}).status_code == 400


def test_sign_in_goes_back_only_to_a_page_of_the_admin_site(site: Site) -> None:
    for target, landing in (
        ("/admin/queue", "/admin/queue"),
        ("https://evil.example/admin", "/admin"),
        ("//evil.example/admin", "/admin"),
        ("/admin//evil.example", "/admin"),
        ("/administrator", "/admin"),
    ):
        with httpx.Client(base_url=site.url) as client:
            token = csrf_of(client.get("/admin/sign-in").text)
            response = client.post(
                "/admin/sign-in", data={"csrf": token, "key": site.keys["admin"], "next": target}
            )
            assert response.headers["location"] == landing, target


def test_the_page_works_under_a_root_path(tmp_path: Path) -> None:
    """Behind a proxy that serves chatmem under a prefix (and strips it, uvicorn's --root-path), links,
    forms and the cookie carry the prefix."""
    with (
        live_server("sqlite", tmp_path, root_path="/memory", embeddings="off") as server,
        httpx.Client(base_url=server.url) as client,
    ):
        client.post("/api/v1/sessions", json={"session_id": "rooted"}).raise_for_status()
        page = client.get("/admin/sessions")
        assert page.status_code == 200
        assert 'href="/memory/admin/session?id=rooted"' in page.text
        assert 'href="/memory/admin/static/admin.css"' in page.text
        assert "path=/memory/admin;" in page.headers["set-cookie"].lower()
        assert client.get("/admin/static/admin.css").status_code == 200


def test_every_search_type_gives_scored_results_that_link_to_their_message(tmp_path: Path) -> None:
    """With the packaged local embedding model: similarity, mmr, text and hybrid, messages and summaries."""
    with (
        live_server("sqlite", tmp_path, embeddings="local", embeddings_preload=False) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        turns = ["I adore hiking in the Alps", "my cat sleeps all day", "the invoice is overdue", "ok"]
        messages = [{"role": "user", "content": text} for text in turns]
        httpx.post(f"{server.url}/api/v1/sessions/s/memory", json={"messages": messages}).raise_for_status()
        for kind in ("similarity", "mmr", "text", "hybrid"):
            page = client.get(
                "/admin/search", params={"session": "s", "text": "mountain walks", "type": kind}
            )
            assert page.status_code == 200, (kind, page.text[:300])
            if kind == "text":
                continue  # no word in common
            first = re.search(
                r'class="score"[^>]*>([01]\.\d{3})</span>\s*<a class="hit" href="([^"]+)"', page.text
            )
            assert first, kind
            assert "Alps" in page.text.split('class="hit"')[1].split("</a>")[0], kind
            opened = client.get(first.group(2).replace("&amp;", "&"))
            assert opened.status_code == 200 and "msg role-user focus" in opened.text
        text = client.get("/admin/search", params={"session": "s", "text": "invoice", "type": "text"})
        assert "the invoice is overdue" in text.text
        summaries = client.get("/admin/search", params={"session": "s", "text": "x", "scope": "summary"})
        assert summaries.status_code == 200 and "0 results" in summaries.text
