"""Hybrid's fusion of the vector and keyword lists gives the same ranking whatever the keyword engine's
scale (BM25 on SQLite, ts_rank_cd on PostgreSQL), and a weak vector row does not stretch the scale."""

from __future__ import annotations

import pytest

from chatmem.search import ranking

VECTOR = [((1, 3), 0.62), ((1, 4), 0.58), ((1, 1), 0.31), ((1, 2), 0.30)]
KEYWORD = [((1, 3), 7.1), ((1, 4), 6.9)]


@pytest.mark.parametrize("scale", [1.0, 0.01, 40.0])
def test_the_keyword_engines_scale_does_not_change_the_fused_ranking(scale: float) -> None:
    text = [(key, score * scale) for key, score in KEYWORD]
    fused = ranking.convex_fusion(VECTOR, text, alpha=0.5, limit=10)
    reference = ranking.convex_fusion(VECTOR, KEYWORD, alpha=0.5, limit=10)
    assert [key for key, _ in fused] == [key for key, _ in reference]
    assert [score for _, score in fused] == pytest.approx([score for _, score in reference])


def test_the_weaker_of_two_close_keyword_hits_keeps_nearly_its_full_keyword_score() -> None:
    fused = dict(ranking.convex_fusion([], KEYWORD, alpha=0.5, limit=10))
    assert fused[(1, 3)] == pytest.approx(1.0)
    assert fused[(1, 4)] == pytest.approx(6.9 / 7.1)
    # A neighbour lent 0.8 of the best hit's score stays below the second hit.
    expanded = ranking.with_neighbours(list(fused.items()), weight=0.8, depth=2)
    assert [key for key, _ in expanded][:2] == [(1, 3), (1, 4)]


def test_vector_rows_below_the_candidates_count_zero_instead_of_stretching_the_scale() -> None:
    # (1, 9) is a keyword hit scored by its cosine, far below the vector candidates.
    vector = [*VECTOR[:2], ((1, 9), -0.2)]
    fused = dict(ranking.convex_fusion(vector, [((1, 9), 1.0)], alpha=0.5, limit=10, vector_depth=2))
    assert fused[(1, 3)] == pytest.approx(0.5)  # the best vector candidate: alpha * 1
    assert fused[(1, 4)] == pytest.approx(0.0)  # the last candidate of the scale
    assert fused[(1, 9)] == pytest.approx(0.5)  # keyword only: (1 - alpha) * 1, its cosine counts 0
    assert all(0 <= score <= 1 for score in fused.values())
