"""Re-ranking: maximal marginal relevance (Zep's MMR, LangChain's algorithm) and reciprocal rank fusion."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

Key = tuple[int, int]
Ranked = list[tuple[Key, float]]


def _normalized(matrix: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return np.asarray(matrix / np.where(norms == 0, 1, norms))


def mmr(
    query: np.ndarray[Any, Any], candidates: np.ndarray[Any, Any], *, lambda_mult: float, k: int
) -> list[int]:
    """Indices of ``k`` candidates chosen one at a time, each maximizing
    ``lambda * sim(query, c) - (1 - lambda) * max(sim(c, already chosen))`` (cosine similarities)."""
    if len(candidates) == 0 or k <= 0:
        return []
    vectors = _normalized(np.asarray(candidates, dtype=np.float64))
    to_query = vectors @ _normalized(np.asarray(query, dtype=np.float64))
    chosen = [int(np.argmax(to_query))]
    # Highest similarity of each candidate to anything chosen so far, updated as we go.
    redundancy = vectors @ vectors[chosen[0]]
    while len(chosen) < min(k, len(vectors)):
        scores = lambda_mult * to_query - (1 - lambda_mult) * redundancy
        scores[chosen] = -np.inf
        best = int(np.argmax(scores))
        chosen.append(best)
        redundancy = np.maximum(redundancy, vectors @ vectors[best])
    return chosen


def reciprocal_rank_fusion(lists: Sequence[Ranked], *, k: int, limit: int) -> Ranked:
    """Fuse ranked lists: score(d) = sum of 1 / (k + rank of d) over the lists that hold d.

    Scores are scaled so that a row ranked first in every list scores 1.0; ties keep the order of
    the first list that ranked the rows (the vector list in hybrid search).
    """
    fused: dict[Key, float] = {}
    for ranked in lists:
        for rank, (key, _score) in enumerate(ranked, start=1):
            fused[key] = fused.get(key, 0.0) + 1.0 / (k + rank)
    best = len(lists) / (k + 1) if lists else 1.0
    ordered = sorted(fused.items(), key=lambda item: -item[1])
    return [(key, score / best) for key, score in ordered[:limit]]


def convex_fusion(
    vector: Ranked, text: Ranked, *, alpha: float, limit: int, vector_depth: int | None = None
) -> Ranked:
    """Fuse by score: ``alpha * v + (1 - alpha) * t``, 0 for a row missing from a list. Unlike rank
    fusion this keeps *how much* better a row scored, so a keyword hit far ahead of the rest stays
    ahead (Bruch et al., "An Analysis of Fusion Functions for Hybrid Retrieval", 2023, found it more
    accurate than RRF).

    The vector list (cosine similarities, the same scale on every backend, best first) is min-max
    scaled to [0, 1] by its best ``vector_depth`` rows (all by default); rows further down (hybrid
    also scores the keyword hits by their cosine) are scaled alike and count 0 below that range, so a
    keyword hit unrelated in meaning does not stretch the scale of the real vector candidates.
    The text list is divided by its best score: BM25 (SQLite) and ``ts_rank_cd`` (PostgreSQL) differ
    in scale by orders of magnitude but both are ratio scales from 0 (no match), so ``s / best`` means
    the same on both databases: the best keyword hit scores 1 and a hit half as good 0.5. Min-max
    scaling gave the *worst* keyword hit 0 whatever its score, so with two keyword hits of nearly
    equal score the second one counted for nothing; on PostgreSQL, whose scores of two one-word
    matches differ only by document length, that let a neighbour of the first outrank the second."""
    fused: dict[Key, float] = {}
    if vector:
        scores = [score for _key, score in vector[:vector_depth]]
        low, high = min(scores), max(scores)
        span = high - low
        for key, score in vector:
            fused[key] = alpha * (min(max((score - low) / span, 0.0), 1.0) if span > 0 else 1.0)
    if text:
        best = max(score for _key, score in text)
        for key, score in text:
            scaled = max(score, 0.0) / best if best > 0 else 1.0
            fused[key] = fused.get(key, 0.0) + (1 - alpha) * scaled
    if not vector or not text:
        # One list only (no embedder, or no keyword left): its own scaled scores.
        total = alpha if vector else 1 - alpha
        fused = {key: score / total for key, score in fused.items()} if total > 0 else fused
    ordered = sorted(fused.items(), key=lambda item: -item[1])
    return ordered[:limit]


# --- dist: one meaning for every search type, a similarity in [0, 1], higher is closer -------------


def similarity_dist(ranked: Ranked) -> Ranked:
    """Cosine similarity as Zep reported it, with the (rare, meaningless) negative values as 0."""
    return [(key, min(max(score, 0.0), 1.0)) for key, score in ranked]


def text_dist(ranked: Ranked) -> Ranked:
    """A full-text relevance score s >= 0 (BM25 on SQLite, ts_rank_cd on PostgreSQL) as s / (1 + s):
    in [0, 1), in the engine's order, 0.5 where the engine scores 1."""
    return [(key, max(score, 0.0) / (1.0 + max(score, 0.0))) for key, score in ranked]


def merge_by_dist(first: Ranked, second: Ranked, *, limit: int) -> Ranked:
    """Both lists in one, higher ``dist`` first, each list keeping its own order (MMR's is not sorted)."""
    merged: Ranked = []
    i = j = 0
    while len(merged) < limit and (i < len(first) or j < len(second)):
        if j >= len(second) or (i < len(first) and first[i][1] >= second[j][1]):
            merged.append(first[i])
            i += 1
        else:
            merged.append(second[j])
            j += 1
    return merged


def with_neighbours(ranked: Ranked, *, weight: float, depth: int) -> Ranked:
    """Adjacent-turn expansion: each of the best ``depth`` rows lends ``weight`` times its score to the
    turns just before and after it in its session, which join the list if they were not in it (or
    rise if their own score was lower). A chat turn often only makes sense with its neighbour: the
    answer follows the question that matched ("yes, the red one"), and the reply that matched points
    back at what it answered. Keys of turns that do not exist (a blank or deleted message, the end of
    the session) are dropped by the caller when it reads the rows."""
    if weight <= 0:
        return ranked
    scores = dict(ranked)
    for (pk, seq), score in ranked[:depth]:
        for neighbour in ((pk, seq - 1), (pk, seq + 1)):
            if neighbour[1] > 0 and scores.get(neighbour, -1.0) < weight * score:
                scores[neighbour] = weight * score
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))
