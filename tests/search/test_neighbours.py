"""Hybrid search with adjacent-turn expansion: the turn next to a hit joins the results (an answer
rarely repeats the words of the question it answers)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from tests.search.conftest import EMBEDDING, add, client, contents, search, settle
from tests.support import LiveServer

Server = Callable[..., AbstractContextManager[LiveServer]]

QUESTION = "Can you recommend a pasta recipe for tonight?"
ANSWER = "Sure: spaghetti with tomatoes, garlic and olive oil."
OTHERS = [
    "The train to Porto leaves at nine tomorrow.",
    "I finished the quarterly report, finally.",
    "My knee still hurts after the run on Sunday.",
    "We should repaint the kitchen in spring.",
]


def test_the_answer_next_to_a_matching_question_is_returned_with_it(fresh_server: Server, sid: str) -> None:
    with fresh_server(**EMBEDDING, search_neighbour_weight=0.8) as server, client(server) as api:
        add(api, sid, ("human", OTHERS[0]), ("ai", OTHERS[1]), ("ai", "  "), ("human", QUESTION))
        add(api, sid, ("ai", ANSWER), ("human", OTHERS[2]), ("ai", OTHERS[3]))
        settle(api)
        hits = search(
            api,
            f"/sessions/{sid}",
            limit=3,
            text="which pasta recipe did you recommend",
            search_type="hybrid",
        )
        found = contents(hits)
        assert found[:2] == [QUESTION, ANSWER]
        # The blank turn right before the question is skipped, never returned.
        assert all(text.strip() for text in found)
        assert len(hits) == 3
        assert all(0 <= hit["dist"] <= 1 for hit in hits)
        # Deleted turns are never brought back as neighbours.
        assert api.delete(f"/sessions/{sid}/memory").status_code == 200
        add(api, sid, ("human", "Something new about pasta recipes."))
        settle(api)
        again = search(api, f"/sessions/{sid}", text="pasta recipe", search_type="hybrid")
        assert contents(again) == ["Something new about pasta recipes."]


# An answer that means little without the question before it.
VAGUE_ANSWER = "Sure, the one my grandmother always made; you will love it."
DISTRACTORS = [
    "I read a recipe book about baking sourdough bread.",
    "Dinner tonight was at my friend's place downtown.",
    "Can you recommend a good film for the weekend?",
]


def test_a_turn_is_scored_in_its_context_before_the_fusion(fresh_server: Server, sid: str) -> None:
    # Expansion after the fusion is off: only the context score can lift the answer, whose own words
    # and meaning are further from the query than the distractors'.
    turns = [("human", DISTRACTORS[0]), ("ai", OTHERS[0]), ("human", QUESTION), ("ai", VAGUE_ANSWER)]
    turns += [("human", OTHERS[1]), ("ai", DISTRACTORS[1]), ("human", OTHERS[2]), ("ai", DISTRACTORS[2])]
    query = {"text": "which pasta recipe did you recommend", "search_type": "hybrid"}
    found = {}
    for weight in (0.0, 0.9):
        settings = {**EMBEDDING, "search_neighbour_weight": 0, "search_context_weight": weight}
        with fresh_server(**settings) as server, client(server) as api:
            add(api, sid, *turns)
            settle(api)
            found[weight] = contents(search(api, f"/sessions/{sid}", limit=2, **query))
    assert found[0.9] == [QUESTION, VAGUE_ANSWER]
    assert found[0.0][0] == QUESTION and VAGUE_ANSWER not in found[0.0]
