"""Memory search through zep-python 1.5.0 (``search_memory`` / ``asearch_memory``) and LangChain's
``ZepRetriever``: messages, summary scope, MMR and JSONPath metadata filters.

The server embeds and summarizes in the background, so the script first waits (bounded) until the
messages are searchable and a summary exists.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from typing import Any

import httpx
from _common import arguments, emit
from zep_python import ZepClient
from zep_python.memory import Memory, MemorySearchPayload, Message

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from langchain_community.retrievers import ZepRetriever
    from langchain_community.retrievers.zep import SearchScope, SearchType

CHAT = [
    ("human", "I adopted a puppy last week, a small terrier named Rex.", {"topic": "pets"}),
    ("ai", "Congratulations on Rex! Terriers are full of energy.", {"topic": "pets"}),
    ("human", "The stock market fell sharply today.", {"topic": "money"}),
    ("ai", "Markets are volatile; diversification helps.", {"topic": "money"}),
    ("human", "Can you recommend a pasta recipe with tomatoes?", {"topic": "food"}),
    ("ai", "Spaghetti al pomodoro: tomatoes, garlic, olive oil and basil.", {"topic": "food"}),
    ("human", "Rex chewed my running shoes this morning.", {"topic": "pets"}),
    ("ai", "Puppies chew when teething; try a chew toy.", {"topic": "pets"}),
    ("human", "Should I buy index funds or single stocks?", {"topic": "money"}),
    ("ai", "Index funds spread the risk across many companies.", {"topic": "money"}),
    ("human", "I also bake sourdough bread on weekends.", {"topic": "food"}),
    ("ai", "Sourdough needs a lively starter and patience.", {"topic": "food"}),
    ("human", "Rex learned to sit and stay today!", {"topic": "pets"}),
    ("ai", "Great progress; keep the training sessions short.", {"topic": "pets"}),
]


def contents(results: list[Any]) -> list[str]:
    return [result.message["content"] for result in results if result.message]


def wait_until_searchable(base_url: str, session_id: str, deadline: float) -> bool:
    """Until every message is embedded and a summary is. Polls with keyword searches over plain HTTP
    (zep-python only sends similarity/mmr), which need no model and so never stall the server's
    embedding worker; the first vector search (which loads the model) is made once everything is in."""
    url = f"{base_url}/api/v1/sessions/{session_id}/search"
    with httpx.Client(timeout=60) as http:
        while time.monotonic() < deadline:
            summary = http.post(url, json={"text": "Rex", "search_scope": "summary", "search_type": "text"})
            queue = http.get(f"{base_url}/api/v1/enrichment/queue").json()
            if summary.json() and queue["depth"] == 0:
                return True
            time.sleep(0.5)
    return False


def main() -> None:
    base_url, prefix = arguments()
    session_id = f"{prefix}-search"
    client = ZepClient(base_url=base_url)
    client.memory.add_memory(
        session_id, Memory(messages=[Message(role=r, content=c, metadata=m) for r, c, m in CHAT])
    )
    summary_ready = wait_until_searchable(base_url, session_id, time.monotonic() + 60)

    similarity = client.memory.search_memory(session_id, MemorySearchPayload(text="my dog Rex"), limit=3)
    summary = client.memory.search_memory(
        session_id, MemorySearchPayload(text="puppy training", search_scope="summary"), limit=1
    )
    mmr = client.memory.search_memory(
        session_id, MemorySearchPayload(text="puppy", search_type="mmr", mmr_lambda=0.5), limit=3
    )
    filtered = client.memory.search_memory(
        session_id,
        MemorySearchPayload(text="risk", metadata={"where": {"jsonpath": "$[*] ? (@.topic == 'money')"}}),
        limit=10,
    )
    metadata_only = client.memory.search_memory(
        session_id, MemorySearchPayload(metadata={"where": {"jsonpath": '$[*] ? (@.topic == "food")'}})
    )
    asynchronous = asyncio.run(
        client.memory.asearch_memory(session_id, MemorySearchPayload(text="pasta tomatoes"), limit=1)
    )
    unknown = client.memory.search_memory(f"{prefix}-nobody", MemorySearchPayload(text="Rex"))

    retrieved = ZepRetriever(session_id=session_id, url=base_url, top_k=2).invoke("stock market")
    retrieved_mmr = ZepRetriever(
        session_id=session_id, url=base_url, top_k=3, search_type=SearchType.mmr, mmr_lambda=0.5
    ).invoke("puppy")
    retrieved_summary = ZepRetriever(
        session_id=session_id, url=base_url, top_k=1, search_scope=SearchScope.summary
    ).invoke("Rex")
    emit(
        {
            "summary_ready": summary_ready,
            "similarity": contents(similarity),
            "similarity_dists": [r.dist for r in similarity],
            "summary": [r.summary.content for r in summary if r.summary],
            "summary_message": [r.message for r in summary],
            "mmr": contents(mmr),
            "filtered_topics": sorted({r.message["metadata"]["topic"] for r in filtered if r.message}),
            "filtered_count": len(filtered),
            "metadata_only": contents(metadata_only),
            "async": contents(asynchronous),
            "unknown": unknown,
            "retriever": [(d.page_content, sorted(d.metadata)) for d in retrieved],
            "retriever_scores": [d.metadata["score"] for d in retrieved],
            "retriever_mmr": [d.page_content for d in retrieved_mmr],
            "retriever_summary": [d.page_content for d in retrieved_summary],
        }
    )


if __name__ == "__main__":
    main()
