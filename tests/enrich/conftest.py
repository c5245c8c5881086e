"""Fixtures of the enrichment tests: a fake OpenAI server, helpers to wait for the background work."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from chatmem.store import Database
from tests.enrich.fake_openai import FakeOpenAI, serve

T = TypeVar("T")

# Settings that make a test server enrich promptly; tests add the providers they exercise.
FAST: dict[str, Any] = {
    "enrich_workers": 1,
    "enrich_poll_seconds": 0.05,
    "enrich_retry_seconds": 0.05,
    "enrich_retry_max_seconds": 0.2,
    "embeddings": "off",
    "summarizer": "off",
}


@pytest.fixture
def fake_openai() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    server, url = serve(fake)
    try:
        yield fake, url
    finally:
        fake.flowing.set()
        server.shutdown()
        server.server_close()


def wait_for(probe: Callable[[], T | None], *, timeout: float = 60, what: str = "condition") -> T:
    """Poll until ``probe`` returns something truthy (no timing is asserted; the timeout only ends a hang)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def rows(db: Database, query: sa.Executable) -> list[Any]:
    with db.read() as conn:
        return list(conn.execute(query).mappings())
