"""The workload's text: real human conversations from the MIT-licensed ``chitchat-dataset``.

Each conversation is a list of turns (a turn joins one speaker's consecutive utterances); the corpus is
replicated round-robin to reach any number of sessions and any session length.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True, slots=True)
class Turn:
    role: str
    content: str


@cache
def conversations() -> tuple[tuple[str, ...], ...]:
    import chitchat_dataset

    loaded = tuple(
        tuple(turn for turn in conversation if turn.strip())
        for conversation in chitchat_dataset.ConversationDataset()
    )
    return tuple(conversation for conversation in loaded if conversation)


def _turns(texts: tuple[str, ...]) -> Iterator[Turn]:
    for index, text in enumerate(texts):
        yield Turn("human" if index % 2 == 0 else "ai", text)


def conversation(index: int, *, min_len: int, max_len: int) -> list[Turn]:
    """Session ``index`` of the background: one conversation, padded by the next ones to ``min_len``."""
    corpus = conversations()
    turns: list[Turn] = []
    offset = index
    while len(turns) < min_len:
        turns.extend(_turns(corpus[offset % len(corpus)]))
        offset += 1
    return turns[:max_len]


def session_of_length(index: int, length: int) -> list[Turn]:
    """Exactly ``length`` turns: consecutive conversations of the corpus, starting at ``index``."""
    return conversation(index, min_len=length, max_len=length)


def texts(start: int = 0) -> Iterator[str]:
    """An endless stream of real messages (for the appends of the load generator)."""
    corpus = conversations()
    index = start
    while True:
        yield from corpus[index % len(corpus)]
        index += 1
