"""What the SDK sends for memory search. The server route does not exist yet, so this checks only
the request (Zep's wire shape); the round trip is tested when search lands."""

from __future__ import annotations

import httpx
import pytest

from chatmem import MemorySearchPayload
from chatmem_client.endpoints import memory


def test_memory_search_posts_the_payload_with_its_nulls_as_zep_python_does() -> None:
    call = memory.search_memory("a/b", MemorySearchPayload(text="shoes"), limit=5)
    assert (call.method, call.path, dict(call.params)) == (
        "POST",
        "/api/v1/sessions/a%2Fb/search",
        {"limit": 5},
    )
    assert call.json == {
        "text": "shoes",
        "metadata": None,
        "search_scope": "messages",
        "search_type": "similarity",
        "mmr_lambda": None,
    }
    hits = call.finish(
        httpx.Response(
            200,
            json=[
                {
                    "message": {
                        "uuid": "9f0c1c1e-4a6c-4d7e-9a51-2f7c1e0b5d11",
                        "role": "human",
                        "content": "red shoes",
                    },
                    "summary": None,
                    "dist": 0.87,
                    "embedding": None,
                }
            ],
        )
    )
    assert hits[0].message is not None and hits[0].message.content == "red shoes"
    assert hits[0].dist == 0.87


def test_search_scope_and_type_are_checked_before_sending() -> None:
    with pytest.raises(ValueError):
        MemorySearchPayload(text="x", search_type="fuzzy")
    with pytest.raises(ValueError):
        MemorySearchPayload(text="x", search_scope="everything")
