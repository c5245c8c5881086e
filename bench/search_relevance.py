"""Relevance of similarity, text and hybrid search on real conversations (chitchat-dataset, MIT).

Corpus: the first ``--conversations`` chats, one session each, all owned by one user; every turn is
a message embedded with the packaged all-MiniLM-L6-v2. Queries run as user-wide searches (the whole
corpus is the haystack) and each query has exactly one relevant message.

The query set (built from the corpus, deterministic with ``--seed``), two kinds in equal numbers,
because a chat app's search box gets both:
- keyword queries: three of the target message's rarest content words (by document frequency in the
  corpus), in shuffled order. What someone types who remembers a few words ("sourdough starter
  weekend"). Lexical search should excel; the vector of three bare words is a weak sentence embedding.
- reply queries: the turn that answers the target message, whose relevant message is the one it
  answers ("find what they said that I replied this to"). Related in meaning, rarely in words:
  vector search should excel and keyword overlap is incidental.
Targets are messages with at least 8 words (short turns like "lol" are not findable by anyone).

Reported: recall@5 and MRR (reciprocal rank of the target, 0 beyond rank ``--depth``) per kind and over
all queries, for similarity, text and hybrid. Run:
``python -m bench.search_relevance --db sqlite --conversations 300 --queries 200``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import re
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.search_data import conversations, database, load
from chatmem.config import Settings
from chatmem.embeddings import LocalEmbedder
from chatmem.search.fulltext import STOP_WORDS
from chatmem.search.query import build_query
from chatmem.search.service import Searcher
from chatmem.store.tables import DEFAULT_TENANT_ID

_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class Query:
    kind: str
    text: str
    target: tuple[int, str]  # conversation index, the relevant turn's text


def build_queries(chats: list[list[str]], count: int, seed: int) -> tuple[list[Query], list[list[str]]]:
    """The queries, and the corpus to search: the chats without the turns used as reply queries (a
    query is something said *now*, not a turn already in memory: leaving it in would let a search
    find the query itself and its neighbour, the target, for free)."""
    rng = random.Random(seed)
    df: Counter[str] = Counter()
    for chat in chats:
        for turn in chat:
            df.update(set(_WORD.findall(turn.lower())))
    candidates = [
        (c, i)
        for c, chat in enumerate(chats)
        for i, turn in enumerate(chat)
        if len(turn.split()) >= 8 and i + 1 < len(chat)
    ]
    rng.shuffle(candidates)
    queries: list[Query] = []
    targets: set[tuple[int, int]] = set()
    held_out: set[tuple[int, int]] = set()
    for c, i in candidates:
        if len(queries) >= count:
            break
        if (c, i) in held_out or (c, i) in targets:
            continue
        if len(queries) % 2 == 0:
            words = [
                w
                for w in dict.fromkeys(_WORD.findall(chats[c][i].lower()))
                if w not in STOP_WORDS and len(w) > 2
            ]
            if len(words) < 3:
                continue
            rare = sorted(words, key=lambda w: (df[w], w))[:3]
            rng.shuffle(rare)
            queries.append(Query("keyword", " ".join(rare), (c, chats[c][i])))
        else:
            if (c, i + 1) in targets or (c, i + 1) in held_out:
                continue
            held_out.add((c, i + 1))
            queries.append(Query("reply", chats[c][i + 1], (c, chats[c][i])))
        targets.add((c, i))
    corpus = [[turn for i, turn in enumerate(chat) if (c, i) not in held_out] for c, chat in enumerate(chats)]
    return queries, corpus


def evaluate(
    searcher: Searcher,
    user_id: str,
    queries: list[Query],
    session_ids: list[str],
    kind: str,
    depth: int,
) -> dict[str, dict[str, float]]:
    reciprocal: dict[str, list[float]] = {"keyword": [], "reply": [], "all": []}
    found5: dict[str, list[float]] = {"keyword": [], "reply": [], "all": []}
    for query in queries:
        request = build_query(
            text=query.text,
            metadata=None,
            search_scope="messages",
            search_type=kind,
            mmr_lambda=None,
            limit=depth,
        )
        hits = searcher.search_user(DEFAULT_TENANT_ID, user_id, request).hits
        session_id, wanted = session_ids[query.target[0]], query.target[1]
        rank = next(
            (
                position
                for position, hit in enumerate(hits, start=1)
                if hit.session_id == session_id and hit.message is not None and hit.message.content == wanted
            ),
            0,
        )
        for group in (query.kind, "all"):
            reciprocal[group].append(1 / rank if rank else 0.0)
            found5[group].append(1.0 if 0 < rank <= 5 else 0.0)
    return {
        group: {
            "recall@5": float(np.mean(found5[group])),
            "mrr": float(np.mean(reciprocal[group])),
            "n": len(found5[group]),
        }
        for group in reciprocal
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "pgvector"], default="sqlite")
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--sweep", action="store_true", help="also run hybrid over a grid of its settings")
    parser.add_argument(
        "--split",
        choices=["tune", "test"],
        default="test",
        help="tune: conversations [0, N) with seed+1000, sweeping the settings; test: conversations "
        "[N, 2N) with --seed, the reported figures (never tuned on)",
    )
    args = parser.parse_args()

    n = args.conversations
    all_chats = conversations(2 * n)
    chats = all_chats[:n] if args.split == "tune" else all_chats[n : 2 * n]
    seed = args.seed + 1000 if args.split == "tune" else args.seed
    queries, corpus = build_queries(chats, args.queries, seed)
    embedder = LocalEmbedder()
    texts = [turn for chat in corpus for turn in chat]
    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / f"chatmem-relevance-{digest}.npy"
    if cache.exists():
        matrix = np.load(cache)
    else:
        matrix = np.asarray(embedder.embed(texts), dtype=np.float32)
        np.save(cache, matrix)
    user_id = "bench-user"
    base = Settings(database_url="sqlite://", embeddings="local")
    with database(args.db) as db:
        session_ids = load(db, user_id, corpus, matrix, embedder.model)
        searcher = Searcher(db, base, embedder_factory=lambda _s: embedder)

        def run(name: str, kind: str, **update: float) -> dict[str, dict[str, float]]:
            searcher.settings = base.model_copy(update=update)
            result = evaluate(searcher, user_id, queries, session_ids, kind, args.depth)
            print(f"{name:<46}", json.dumps(result["all"]), flush=True)
            return result

        # The two baselines and hybrid with its defaults, then each of hybrid's steps left out.
        results = {
            "similarity (model)": run("similarity (model)", "similarity"),
            "text (BM25)": run("text (BM25)", "text"),
            "hybrid": run("hybrid", "hybrid"),
            "hybrid, no context vectors": run(
                "hybrid, no context vectors", "hybrid", search_context_weight=0
            ),
            "hybrid, no adjacent turns": run(
                "hybrid, no adjacent turns", "hybrid", search_neighbour_weight=0
            ),
            "hybrid, fusion only": run(
                "hybrid, fusion only", "hybrid", search_context_weight=0, search_neighbour_weight=0
            ),
        }
        if args.sweep:  # the settings the defaults were chosen from (on the tune split only)
            grid = [
                (alpha, candidates, context, neighbour)
                for alpha in (0.4, 0.5, 0.6)
                for candidates in (50, 100)
                for context in (0.0, 0.9, 1.0)
                for neighbour in (0.5, 0.8, 0.9)
            ]
            for alpha, candidates, context, neighbour in grid:
                name = f"hybrid a={alpha} n={candidates} context={context} neighbours={neighbour}"
                results[name] = run(
                    name,
                    "hybrid",
                    search_hybrid_alpha=alpha,
                    search_candidates=candidates,
                    search_context_weight=context,
                    search_neighbour_weight=neighbour,
                )
    report = {
        "db": args.db,
        "split": args.split,
        "conversations": len(chats),
        "messages": len(texts),
        "queries": len(queries),
        "examples": [{"kind": q.kind, "text": q.text[:80]} for q in queries[:4]],
        "results": results,
    }
    print(f"\n{'type':<46}{'recall@5':>10}{'MRR':>8}   (keyword / reply: recall@5, MRR)")
    for kind, result in results.items():
        print(
            f"{kind:<46}{result['all']['recall@5']:>10.3f}{result['all']['mrr']:>8.3f}   "
            f"{result['keyword']['recall@5']:.3f}/{result['keyword']['mrr']:.3f}  "
            f"{result['reply']['recall@5']:.3f}/{result['reply']['mrr']:.3f}"
        )
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
    assert not math.isnan(results["hybrid"]["all"]["mrr"])


if __name__ == "__main__":
    main()
