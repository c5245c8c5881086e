"""With embeddings off (or not there yet), keyword search still finds messages; vector-only search
types say why they cannot run."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from tests.search.conftest import add, client, contents, search
from tests.support import LiveServer


def test_messages_are_found_by_text_before_or_without_embeddings(
    fresh_server: Callable[..., AbstractContextManager[LiveServer]], sid: str
) -> None:
    with fresh_server(embeddings="off") as server, client(server) as api:
        add(api, sid, ("human", "The quarterly report is due on Friday."), ("ai", "I will draft it."))
        assert contents(search(api, f"/sessions/{sid}", text="report friday", search_type="text")) == [
            "The quarterly report is due on Friday."
        ]
        # Hybrid falls back to its keyword half, and adds the turn after its best hit (neighbour expansion).
        assert contents(search(api, f"/sessions/{sid}", text="quarterly report", search_type="hybrid")) == [
            "The quarterly report is due on Friday.",
            "I will draft it.",
        ]
        response = api.post(f"/sessions/{sid}/search", json={"text": "report", "search_type": "similarity"})
        assert response.status_code == 400
        assert "embeddings" in response.json()["message"]
