"""Summarizer providers: ``openai`` (any chat-completions endpoint) and the local ``extractive`` one.

A summarizer folds lines of conversation (``"role: content"``) into the previous summary and returns the
new running summary, exactly the contract of the Zep 0.27.2 server's progressive summarizer.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from chatmem.config import Settings
from chatmem.enrich import tokens
from chatmem.enrich.embedders import openai_client
from chatmem.enrich.openai_http import OpenAIClient, OpenAIError


class Summarizer(Protocol):
    def summarize(
        self, previous: str, lines: Sequence[str], vectors: Sequence[Sequence[float] | None] = ()
    ) -> str:
        """The new running summary; ``vectors`` are the lines' stored message vectors where known."""
        ...


DEFAULT_PROMPT = """Review the current summary and the new lines of conversation. Write a new, concise \
summary that keeps the important facts of the current summary and adds what the new lines contribute: \
who said what, decisions, preferences, names, dates and open questions. Answer with the summary only.

Current summary:
{prev_summary}

New lines of conversation:
{messages}

New summary:"""

# Tokens the prompt template itself takes, kept free in every call (Zep kept 250).
_PROMPT_RESERVE = 250


class OpenAISummarizer:
    """Chat completions, one system message holding the prompt, temperature 0.

    Lines that do not fit one call (the model's context less the output and the prompt) are folded in
    several calls, each one's summary becoming the previous summary of the next, as Zep did.
    """

    def __init__(
        self,
        client: OpenAIClient,
        *,
        model: str,
        prompt: str = "",
        max_tokens: int = 1024,
        context_tokens: int = 128_000,
    ) -> None:
        prompt = prompt or DEFAULT_PROMPT
        if "{prev_summary}" not in prompt or "{messages}" not in prompt:
            raise ValueError("the summarizer prompt must contain {prev_summary} and {messages}")
        self._client = client
        self.model = model
        self.prompt = prompt
        self.max_tokens = max_tokens
        self.budget = max(256, context_tokens - max_tokens - _PROMPT_RESERVE)

    def _batches(self, previous: str, lines: Sequence[str]) -> list[list[str]]:
        batches: list[list[str]] = [[]]
        used = tokens.count_text(previous)
        for line, cost in zip(lines, (tokens.count_text(line) + 1 for line in lines), strict=True):
            # A summary from the previous call is at most max_tokens long.
            if batches[-1] and used + cost > self.budget:
                batches.append([])
                used = self.max_tokens
            batches[-1].append(line)
            used += cost
        return batches

    def summarize(
        self, previous: str, lines: Sequence[str], vectors: Sequence[Sequence[float] | None] = ()
    ) -> str:
        summary = previous
        for batch in self._batches(previous, lines):
            prompt = self.prompt.replace("{prev_summary}", summary).replace("{messages}", "\n".join(batch))
            body = self._client.post(
                "chat/completions",
                {
                    "model": self.model,
                    "messages": [{"role": "system", "content": prompt}],
                    "temperature": 0,
                    "max_tokens": self.max_tokens,
                },
            )
            summary = _completion_text(body).strip()
        return summary


def _completion_text(body: dict[str, Any]) -> str:
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as exc:
        raise OpenAIError(f"chat/completions: malformed response ({exc!r})") from exc
    if not isinstance(content, str) or not content.strip():
        raise OpenAIError("chat/completions: empty summary")
    return content


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def sentences(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_END.split(text) if part.strip()]


class ExtractiveSummarizer:
    """No LLM: keeps the ``size`` most central sentences of the previous summary and the new lines.

    A sentence's centrality is its mean cosine similarity to all the other sentences, over TF-IDF bags
    of words; when the caller has the lines' message vectors (the embeddings job stored them), the
    centrality of the sentence's message among the messages is added. No text is embedded here: the
    vectors are the ones already in the database. Both means come from one sum of all the vectors
    (``v_i . sum_j v_j``), so the cost is linear in the words and vectors read, not quadratic (or, with
    dense TF-IDF rows as wide as the vocabulary, cubic) in the number of sentences.
    The kept sentences stay in conversation order, so the summary reads chronologically; a line keeps
    its ``role:`` prefix for attribution.
    """

    def __init__(self, size: int = 6) -> None:
        self.size = size

    def summarize(
        self, previous: str, lines: Sequence[str], vectors: Sequence[Sequence[float] | None] = ()
    ) -> str:
        candidates = {part: -1 for part in sentences(previous)}
        for index, line in enumerate(lines):
            role, sep, content = line.partition(": ")
            for part in sentences(content if sep else line):
                # A repeated sentence counts once, under its first line.
                candidates.setdefault(f"{role}: {part}" if sep else part, index)
        texts = list(candidates)
        if len(texts) <= self.size:
            return "\n".join(texts)
        scores = _centrality([_bag(text) for text in texts])
        by_line = _line_centrality(vectors)
        if by_line:
            neutral = sum(by_line.values()) / len(by_line)
            scores = [
                score + by_line.get(line, neutral)
                for score, line in zip(scores, candidates.values(), strict=True)
            ]
        keep = sorted(sorted(range(len(texts)), key=lambda i: -scores[i])[: self.size])
        return "\n".join(texts[i] for i in keep)


def _bag(text: str) -> Counter[str]:
    return Counter(word.lower() for word in _WORD.findall(text))


def _centrality(bags: list[Counter[str]]) -> list[float]:
    """Mean cosine similarity of each TF-IDF vector to the others, in O(total words)."""
    n = len(bags)
    df: Counter[str] = Counter()
    for bag in bags:
        df.update(bag.keys())
    rows: list[dict[str, float]] = []
    total: dict[str, float] = {}
    for bag in bags:
        row = {w: (1 + math.log(c)) * math.log((1 + n) / (1 + df[w])) for w, c in bag.items()}
        norm = math.sqrt(sum(x * x for x in row.values()))
        if norm:
            row = {w: x / norm for w, x in row.items()}
        rows.append(row)
        for w, x in row.items():
            total[w] = total.get(w, 0.0) + x
    return [
        (sum(x * total[w] for w, x in row.items()) - sum(x * x for x in row.values())) / (n - 1)
        for row in rows
    ]


def _line_centrality(vectors: Sequence[Sequence[float] | None]) -> dict[int, float]:
    """Mean cosine similarity of each line's vector to the other lines' (lines without one are left
    out), in O(lines x dimensions)."""
    present = {i: v for i, v in enumerate(vectors) if v is not None and len(v)}
    widths = {len(v) for v in present.values()}
    if len(present) < 2 or len(widths) != 1:
        return {}
    matrix = np.asarray(list(present.values()), dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix = matrix / np.where(norms == 0, 1, norms)
    means = (matrix @ matrix.sum(axis=0) - (matrix * matrix).sum(axis=1)) / (len(present) - 1)
    return dict(zip(present, (float(x) for x in means), strict=True))


def make_summarizer(settings: Settings) -> Summarizer | None:
    if settings.summarizer == "off":
        return None
    if settings.summarizer == "openai":
        return OpenAISummarizer(
            openai_client(settings),
            model=settings.summarizer_model,
            prompt=settings.summarizer_prompt,
            max_tokens=settings.summarizer_max_tokens,
            context_tokens=settings.summarizer_context_tokens,
        )
    return ExtractiveSummarizer(settings.summary_sentences)
