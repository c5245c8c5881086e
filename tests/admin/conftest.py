"""The admin page's test site: a live server with auth on, keys of every role, data with summaries, a dead
job and a 10,000-message session, and one Chromium (Debian's, driven by Playwright) per module."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, sync_playwright

from chatmem.access import keys
from chatmem.access.roles import Role
from chatmem.config import Settings
from chatmem.enrich.jobs import Enricher
from chatmem.enrich.queue import Job
from chatmem.enrich.worker import Worker
from chatmem.store.jobs import Kind
from chatmem.store.tables import summaries
from tests.support import LiveServer, database_url

CHROMIUM = "/usr/bin/chromium"
LONG_SESSION_MESSAGES = 10_000


@dataclass
class Site:
    server: LiveServer
    suffix: str
    keys: dict[str, str] = field(default_factory=dict)  # "admin", "reader", "writer", "admin_b" -> key
    secrets: list[str] = field(default_factory=list)  # every secret no page may show
    user: str = ""
    chat: str = ""  # a session with summaries
    stuck: str = ""  # a session whose ingest job is dead
    long: str = ""  # 10,000 messages
    user_b: str = ""
    session_b: str = ""
    tenant_b: str = ""

    @property
    def url(self) -> str:
        return self.server.url

    def api(self, key: str = "admin") -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.url}/api/v1", headers={"Authorization": f"Bearer {self.keys[key]}"}, timeout=60
        )


class _Failing(Enricher):
    def handle(self, kind: Kind, jobs: Sequence[Job]) -> None:
        raise RuntimeError("summarizer exploded (the test's failing provider)")


def _run_worker(worker: Worker) -> None:
    while worker.run_once():
        pass


def _fill(site: Site, settings: Settings) -> None:
    s = site.suffix
    site.user, site.chat, site.stuck, site.long = f"alice-{s}", f"chat-{s}", f"stuck-{s}", f"long-{s}"
    with site.api() as api:
        api.post(
            "/user",
            json={
                "user_id": site.user,
                "email": f"alice-{s}@example.org",
                "first_name": "Alice",
                "last_name": "Liddell",
                "metadata": {"plan": "free"},
            },
        ).raise_for_status()
        api.post(
            "/sessions", json={"session_id": site.chat, "user_id": site.user, "metadata": {"channel": "web"}}
        ).raise_for_status()
        turns = [
            {
                "role": "user" if i % 2 == 1 else "assistant",
                "content": f"turn {i}: we talk about topic number {i} and the weather in town",
                "metadata": {"turn": i},
            }
            for i in range(1, 41)
        ]
        turns[20]["content"] = "please send the quarterly invoice for the zebra account again"
        api.post(f"/sessions/{site.chat}/memory", json={"messages": turns}).raise_for_status()
    # Token counts and summaries, by a worker run here (the server's own workers are off).
    enrich = settings.model_copy(
        update={"summarizer": "extractive", "embeddings": "off", "message_window": 8}
    )
    _run_worker(Worker(site.server.db, enrich))
    with site.server.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(summaries)).scalar(), "no summary made"
    with site.api() as api:
        api.post(
            f"/sessions/{site.stuck}/memory",
            json={"messages": [{"role": "user", "content": "this one will not be enriched"}]},
        ).raise_for_status()
    failing = settings.model_copy(update={"enrich_max_attempts": 1})
    _run_worker(Worker(site.server.db, failing, enricher=_Failing(site.server.db, failing)))
    with site.api() as api:
        for start in range(0, LONG_SESSION_MESSAGES, 1000):
            batch = [
                {"role": "user" if i % 2 == 0 else "assistant", "content": f"long message {i + 1}"}
                for i in range(start, start + 1000)
            ]
            api.post(f"/sessions/{site.long}/memory", json={"messages": batch}).raise_for_status()
    site.user_b, site.session_b = f"bob-{s}", f"b-session-{s}"
    with site.api("admin_b") as api:
        api.post("/user", json={"user_id": site.user_b, "metadata": {"tenant": "b"}}).raise_for_status()
        api.post(
            f"/sessions/{site.session_b}/memory",
            json={"messages": [{"role": "user", "content": "tenant b's private otter note"}]},
        ).raise_for_status()
        api.patch(f"/sessions/{site.session_b}", json={"metadata": {"x": 1}})


@pytest.fixture(scope="module")
def site(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    suffix = uuid.uuid4().hex[:8]
    jwt_secret = f"jwt-secret-{uuid.uuid4().hex}"
    openai_key = f"sk-test-{uuid.uuid4().hex}"
    db_password = f"db-password-{uuid.uuid4().hex}"
    with database_url(backend, tmp_path_factory.mktemp(f"admin-{backend}")) as url:
        # PostgreSQL trusts the test connections, so a password in the URL is accepted and never used.
        if backend != "sqlite":
            url = sa.make_url(url).set(password=db_password).render_as_string(hide_password=False)
        settings = Settings(
            database_url=url,
            auth="on",
            auth_jwt_secret=jwt_secret,
            openai_api_key=openai_key,
            embeddings="off",
            summarizer="extractive",
            purge_every_minutes=0,
            enrich_workers=0,
        )
        with LiveServer(settings) as server:
            site = Site(server, suffix)
            site.tenant_b = f"tenant-b-{suffix}"
            for name, tenant, role in (
                ("admin", "default", Role.ADMIN),
                ("reader", "default", Role.READER),
                ("writer", "default", Role.WRITER),
                ("admin_b", site.tenant_b, Role.ADMIN),
            ):
                site.keys[name] = keys.create_key(server.db, tenant, role, f"test {name}").key
            site.secrets = [*site.keys.values(), jwt_secret, openai_key]
            if backend != "sqlite":
                site.secrets.append(db_password)
            _fill(site, settings)
            yield site


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


@contextmanager
def signed_in_client(site: Site, key: str = "admin") -> Iterator[httpx.Client]:
    """An HTTP client holding a signed-in admin page session (as a browser would)."""
    with httpx.Client(base_url=site.url, timeout=60, follow_redirects=False) as client:
        page = client.get("/admin/sign-in")
        response = client.post(
            "/admin/sign-in", data={"csrf": csrf_of(page.text), "key": site.keys[key], "next": "/admin"}
        )
        assert response.status_code == 303, response.text
        yield client


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for the module (Debian's /usr/bin/chromium; Playwright never downloads one)."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: scripts/test.sh installs Debian's chromium package")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def screenshots_dir() -> Path | None:
    """Where to save screenshots of the main pages (``CHATMEM_ADMIN_SCREENSHOTS``), if anywhere."""
    value = os.environ.get("CHATMEM_ADMIN_SCREENSHOTS")
    return Path(value) if value else None
