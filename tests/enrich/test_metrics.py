"""Enrichment metrics: embeddings, summaries and job run times are counted as the worker produces them."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx

from tests.enrich.fake_openai import FakeOpenAI
from tests.ops.scrape import Sample, scrape, total, wait_for_metric
from tests.ops.test_metrics import assert_no_data_in_labels
from tests.support import LiveServer


def test_summaries_and_embeddings_are_counted(
    fresh_server: Callable[..., AbstractContextManager[LiveServer]],
    fake_openai: tuple[FakeOpenAI, str],
    sid: str,
) -> None:
    _fake, openai_url = fake_openai
    settings: dict[str, Any] = {
        "enrich_workers": 1,
        "enrich_poll_seconds": 0.05,
        "embeddings": "openai",
        "openai_base_url": openai_url,
        "openai_api_key": "test-key",
        "summarizer": "extractive",
        "message_window": 4,
        "embeddings_preload": False,
    }
    with fresh_server(**settings) as server:
        before = scrape(server.url)
        messages = [{"role": "user", "content": f"a sentence about topic {i}."} for i in range(10)]
        response = httpx.post(f"{server.url}/api/v1/sessions/{sid}/memory", json={"messages": messages})
        assert response.status_code == 200

        def enriched(samples: list[Sample]) -> bool:
            return (
                total(samples, "chatmem_embeddings_total", target="message")
                - total(before, "chatmem_embeddings_total", target="message")
                >= 10
                and total(samples, "chatmem_summaries_total") > total(before, "chatmem_summaries_total")
                and total(samples, "chatmem_embeddings_total", target="summary")
                > total(before, "chatmem_embeddings_total", target="summary")
            )

        after = wait_for_metric(server.url, enriched, what="embeddings and a summary")
        for kind in ("embed_messages", "summarize", "embed_summary"):
            assert total(after, "chatmem_enrich_run_duration_seconds_count", kind=kind) > total(
                before, "chatmem_enrich_run_duration_seconds_count", kind=kind
            )
        assert_no_data_in_labels(after, sid, "topic")
