"""The admin page in a real browser (Debian's Chromium through Playwright) against a live server with auth
on, on SQLite and PostgreSQL: what an operator does, step by step."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.admin.conftest import LONG_SESSION_MESSAGES, Site, screenshots_dir


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    # Every console error (a CSP violation among them) fails the test that caused it.
    errors: list[str] = []
    opened = context.new_page()
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    yield opened
    context.close()
    assert not [e for e in errors if "Failed to load resource" not in e], errors


def sign_in(page: Page, site: Site, key: str = "admin", target: str = "/admin") -> None:
    page.goto(site.url + target)
    expect(page).to_have_url(re.compile(r"/admin/sign-in"))
    page.get_by_label("Admin API key").fill(site.keys[key])
    page.get_by_role("button", name="Sign in").click()


def test_an_admin_key_signs_in_and_sees_the_dashboard(page: Page, site: Site) -> None:
    sign_in(page, site)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    kind = "SQLite" if site.server.db.is_sqlite else "PostgreSQL"
    expect(page.locator("#db-kind")).to_have_text(kind)
    expect(page.locator('[data-table="messages"]')).to_contain_text(re.compile(r"\d"))
    # The session is a cookie the page's scripts cannot read.
    [cookie] = [c for c in page.context.cookies() if c["name"] == "chatmem_admin"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert "admin" not in page.evaluate("document.cookie")


@pytest.mark.parametrize("role", ["reader", "writer"])
def test_a_reader_or_writer_key_cannot_sign_in(page: Page, site: Site, role: str) -> None:
    sign_in(page, site, role)
    expect(page.get_by_role("alert")).to_contain_text("needs an admin key")
    page.goto(site.url + "/admin/sessions")
    expect(page).to_have_url(re.compile(r"/admin/sign-in"))


def test_find_a_user_open_a_session_and_read_its_messages_and_summary(page: Page, site: Site) -> None:
    sign_in(page, site, target="/admin/users")
    page.get_by_label("Filter by id, email or name").fill(f"alice-{site.suffix}@example")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("link", name=site.user).click()
    expect(page.get_by_role("heading", name=f"User {site.user}")).to_be_visible()
    expect(page.locator("#stored-metadata")).to_contain_text('"plan": "free"')
    page.get_by_role("link", name=site.chat).click()
    expect(page.get_by_role("heading", name=f"Session {site.chat}")).to_be_visible()
    messages = page.locator("li.msg")
    expect(messages).to_have_count(40)
    seqs = [int(s) for s in messages.evaluate_all("els => els.map(e => e.dataset.seq)")]
    assert seqs == list(range(1, 41))
    expect(messages.first).to_contain_text("turn 1: we talk about topic number 1")
    expect(messages.first.locator(".role")).to_have_text("user")
    expect(messages.nth(1).locator(".role")).to_have_text("assistant")
    expect(messages.first.locator(".meta")).to_contain_text(re.compile(r"[1-9]\d* tokens"))
    # Each summary sits right after the newest message it folded.
    summary = page.locator("li.summary").first
    expect(summary).to_contain_text("Summary of messages up to")
    point = int(summary.get_attribute("data-point") or 0)
    before = summary.locator("xpath=preceding-sibling::li[1]")
    assert int(before.get_attribute("data-seq") or -1) == point


def test_page_through_a_10000_message_session(page: Page, site: Site) -> None:
    sign_in(page, site, target=f"/admin/session?id={site.long}")
    messages = page.locator("li.msg")
    expect(messages).to_have_count(100)
    expect(messages.first).to_have_attribute("data-seq", "1")
    # htmx appends the next page below this one.
    page.get_by_role("link", name="Newer messages →").click()
    expect(messages).to_have_count(200)
    expect(messages.last).to_have_attribute("data-seq", "200")
    expect(messages.last).to_contain_text("long message 200")
    page.get_by_role("link", name="Newest messages").click()
    expect(messages.last).to_have_attribute("data-seq", str(LONG_SESSION_MESSAGES))
    expect(messages.first).to_have_attribute("data-seq", str(LONG_SESSION_MESSAGES - 99))
    page.get_by_role("link", name="← Older messages").click()
    expect(messages.last).to_have_attribute("data-seq", str(LONG_SESSION_MESSAGES - 100))
    expect(messages).to_have_count(100)


def test_search_a_session_and_follow_a_result_to_the_message(page: Page, site: Site) -> None:
    sign_in(page, site, target=f"/admin/session?id={site.chat}")
    page.get_by_label("Search this session").fill("zebra invoice")
    page.get_by_label("Type").select_option("text")
    page.get_by_role("button", name="Search").click()
    hit = page.locator("a.hit").first
    expect(hit).to_contain_text("quarterly invoice for the zebra account")
    expect(page.locator(".score").first).to_have_text(re.compile(r"^[01]\.\d{3}$"))
    hit.click()
    focused = page.locator("li.msg.focus")
    expect(focused).to_contain_text("quarterly invoice for the zebra account")
    expect(focused).to_be_in_viewport()


def test_a_similarity_search_without_embeddings_is_refused_with_a_message(page: Page, site: Site) -> None:
    sign_in(page, site, target=f"/admin/search?session={site.chat}&text=zebra&type=similarity")
    expect(page.get_by_role("alert")).to_contain_text("needs embeddings")


def test_edit_metadata_and_see_bad_json_refused(page: Page, site: Site) -> None:
    sign_in(page, site, target=f"/admin/session?id={site.chat}")
    editor = page.get_by_label("Edit metadata (JSON)")
    editor.fill('{"tier": "gold",')
    page.get_by_role("button", name="Save metadata").click()
    expect(page.locator("#metadata-error")).to_contain_text("not valid JSON")
    expect(page.locator("#stored-metadata")).not_to_contain_text("gold")
    editor = page.get_by_label("Edit metadata (JSON)")
    expect(editor).to_have_value('{"tier": "gold",')  # what was typed is kept for fixing
    editor.fill("[1, 2]")
    page.get_by_role("button", name="Save metadata").click()
    expect(page.locator("#metadata-error")).to_contain_text("must be a JSON object")
    page.get_by_label("Edit metadata (JSON)").fill('{"tier": "gold", "channel": null}')
    page.get_by_role("button", name="Save metadata").click()
    expect(page.get_by_role("status")).to_have_text("Metadata saved.")
    expect(page.locator("#stored-metadata")).to_contain_text('"tier": "gold"')
    expect(page.locator("#stored-metadata")).not_to_contain_text("channel")
    with site.api() as api:
        assert api.get(f"/sessions/{site.chat}").json()["metadata"] == {"tier": "gold"}


def test_delete_a_session_and_see_it_gone_from_the_list_and_from_search(page: Page, site: Site) -> None:
    doomed = f"doomed-{uuid.uuid4().hex[:8]}"
    with site.api() as api:
        api.post("/sessions", json={"session_id": doomed, "user_id": site.user}).raise_for_status()
        api.post(
            f"/sessions/{doomed}/memory",
            json={"messages": [{"role": "user", "content": "an ephemeral walrus appears"}]},
        ).raise_for_status()
    user_search = f"/admin/search?user={site.user}&text=walrus&type=text"
    sign_in(page, site, target=user_search)
    expect(page.locator("a.hit")).to_have_count(1)
    page.goto(f"{site.url}/admin/session?id={doomed}")
    page.get_by_role("link", name="Delete this session…").click()
    page.get_by_role("button", name="Yes, delete session").click()
    expect(page.get_by_role("status")).to_have_text("Session deleted.")
    expect(page.get_by_role("link", name=doomed)).to_have_count(0)
    page.goto(f"{site.url}/admin/sessions?state=deleted&user={site.user}")
    row = page.locator("tr", has=page.get_by_role("link", name=doomed))
    expect(row).to_contain_text("deleted")
    row.get_by_role("link", name=doomed).click()
    expect(page.locator(".badge.deleted")).to_be_visible()
    expect(page.locator("#session-state")).to_contain_text("1 messages await the purge")
    page.goto(site.url + user_search)
    expect(page.locator("a.hit")).to_have_count(0)
    with site.api() as api:
        assert api.get(f"/sessions/{doomed}").status_code == 404


def test_retry_a_dead_job_from_the_queue_page(page: Page, site: Site) -> None:
    sign_in(page, site, target="/admin/queue")
    dead = page.locator("tr.dead-job", has=page.get_by_role("link", name=site.stuck))
    expect(dead).to_contain_text("summarizer exploded")
    page.get_by_role("button", name="Retry dead jobs").click()
    expect(page.locator("#retried")).to_contain_text(re.compile(r"[1-9]\d* dead jobs? queued again"))
    expect(page.locator("tr.dead-job")).to_have_count(0)
    with site.api() as api:
        assert api.get("/enrichment/queue").json()["dead"] == 0


def test_sign_out_and_be_refused(page: Page, site: Site) -> None:
    sign_in(page, site)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("Signed out.")
    page.goto(f"{site.url}/admin/session?id={site.chat}")
    expect(page).to_have_url(re.compile(r"/admin/sign-in"))
    expect(page.locator("li.msg")).to_have_count(0)


def test_the_operator_switches_to_another_tenant(page: Page, site: Site) -> None:
    sign_in(page, site)
    page.get_by_label("View tenant").select_option(site.tenant_b)
    page.get_by_role("button", name="Switch").click()
    expect(page.locator("#current-tenant")).to_have_text(site.tenant_b)
    page.goto(f"{site.url}/admin/sessions")
    expect(page.get_by_role("link", name=site.session_b)).to_be_visible()
    expect(page.get_by_role("link", name=site.chat)).to_have_count(0)


def test_create_a_key_shown_once_and_revoke_it(page: Page, site: Site) -> None:
    sign_in(page, site, target="/admin/keys")
    page.get_by_label("Role").select_option("reader")
    page.get_by_label("Name").fill("made in the browser")
    page.get_by_role("button", name="Create key").click()
    key = page.get_by_label("Key", exact=True).input_value()
    assert key.startswith("cmk_")
    with httpx_client(site, key) as api:
        assert api.get("/sessions").status_code == 200
    page.goto(f"{site.url}/admin/keys")
    assert key not in page.content()
    key_id = key.split("_")[1]
    page.get_by_role("button", name=f"Revoke key {key_id}").click()
    expect(page.get_by_role("status")).to_have_text("Key revoked.")
    # Every server refuses a revoked key within a second (its credential cache refreshes).
    deadline = time.monotonic() + 10
    with httpx_client(site, key) as api:
        while api.get("/sessions").status_code != 401:
            assert time.monotonic() < deadline, "the revoked key still works"
            time.sleep(0.1)


def test_main_pages_render_and_are_captured(page: Page, site: Site) -> None:
    """Every main page renders in the browser; with CHATMEM_ADMIN_SCREENSHOTS set, each is saved there
    (docs/img/ holds the README's)."""
    sign_in(page, site)
    target = screenshots_dir()
    pages = {
        "dashboard": "/admin",
        "users": "/admin/users",
        "user": f"/admin/user?id={site.user}",
        "sessions": "/admin/sessions?state=all",
        "chat": f"/admin/session?id={site.chat}",
        "search": f"/admin/search?session={site.chat}&text=invoice+weather&type=text",
        "queue": "/admin/queue",
        "settings": "/admin/settings",
    }
    for name, path in pages.items():
        page.goto(site.url + path)
        expect(page.locator("main h1")).to_be_visible()
        if target is not None and site.server.db.is_sqlite:
            target.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(target / f"admin-{name}.png"), full_page=name != "settings")


def httpx_client(site: Site, key: str) -> httpx.Client:
    return httpx.Client(base_url=f"{site.url}/api/v1", headers={"Authorization": f"Bearer {key}"})


def test_edit_a_users_metadata_then_delete_the_user_with_confirmation(page: Page, site: Site) -> None:
    user = f"carol-{uuid.uuid4().hex[:8]}"
    with site.api() as api:
        api.post(
            "/user", json={"user_id": user, "metadata": {"plan": "free", "team": "red"}}
        ).raise_for_status()
        api.post("/sessions", json={"session_id": f"{user}-s", "user_id": user}).raise_for_status()
    sign_in(page, site, target=f"/admin/user?id={user}")
    page.get_by_label("Edit metadata (JSON)").fill('{"plan": "pro", "team": null}')
    page.get_by_role("button", name="Save metadata").click()
    expect(page.get_by_role("status")).to_have_text("Metadata saved.")
    with site.api() as api:
        assert api.get(f"/user/{user}").json()["metadata"] == {"plan": "pro"}
    page.get_by_role("link", name="Delete this user…").click()
    expect(page.get_by_role("heading", name=f"Delete user {user}?")).to_be_visible()
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("heading", name=f"User {user}")).to_be_visible()
    page.get_by_role("link", name="Delete this user…").click()
    page.get_by_role("button", name="Yes, delete user").click()
    expect(page.get_by_role("status")).to_have_text("User deleted, and its sessions with it.")
    with site.api() as api:
        assert api.get(f"/user/{user}").status_code == 404
        assert api.get(f"/sessions/{user}-s").status_code == 404
