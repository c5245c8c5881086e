"""Summarizer providers: ``openai`` (any chat-completions endpoint) and the local ``extractive`` one.

A summarizer folds lines of conversation (``"role: content"``) into the previous summary and returns the
new running summary, exactly the contract of the Zep 0.27.2 server's progressive summarizer.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from chatmem.config import Settings
from chatmem.embeddings import Embedder, openai_client
from chatmem.embeddings.openai_http import OpenAIClient, OpenAIError
from chatmem.enrich import tokens


class Summarizer(Protocol):
    def summarize(self, previous: str, lines: Sequence[str]) -> str: ...


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

    def summarize(self, previous: str, lines: Sequence[str]) -> str:
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

    Centrality is the mean cosine similarity of a sentence to all the others, with the embedder's vectors
    when one is configured, otherwise with TF-IDF bags of words. The kept sentences stay in conversation
    order, so the summary reads chronologically; a line keeps its ``role:`` prefix for attribution.
    """

    def __init__(self, size: int = 6, embedder: Embedder | None = None) -> None:
        self.size = size
        self.embedder = embedder

    def summarize(self, previous: str, lines: Sequence[str]) -> str:
        candidates = sentences(previous)
        for line in lines:
            role, sep, content = line.partition(": ")
            parts = sentences(content if sep else line)
            candidates.extend(f"{role}: {part}" if sep else part for part in parts)
        candidates = list(dict.fromkeys(candidates))  # repeated sentences count once
        if len(candidates) <= self.size:
            return "\n".join(candidates)
        scores = self._centrality(candidates)
        keep = sorted(sorted(range(len(candidates)), key=lambda i: -scores[i])[: self.size])
        return "\n".join(candidates[i] for i in keep)

    def _centrality(self, texts: list[str]) -> list[float]:
        vectors: list[list[float]]
        if self.embedder is not None:
            vectors = [[float(x) for x in v] for v in self.embedder.embed(texts)]
        else:
            vectors = _tfidf(texts)
        normed = [_normalize(v) for v in vectors]
        return [
            sum(_dot(a, b) for j, b in enumerate(normed) if j != i) / (len(normed) - 1)
            for i, a in enumerate(normed)
        ]


def _tfidf(texts: list[str]) -> list[list[float]]:
    bags = [Counter(word.lower() for word in _WORD.findall(text)) for text in texts]
    df: Counter[str] = Counter()
    for bag in bags:
        df.update(bag.keys())
    vocabulary = {word: index for index, word in enumerate(df)}
    n = len(texts)
    vectors = []
    for bag in bags:
        vector = [0.0] * len(vocabulary)
        for word, count in bag.items():
            vector[vocabulary[word]] = (1 + math.log(count)) * math.log((1 + n) / (1 + df[word]))
        vectors.append(vector)
    return vectors


def _normalize(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else vector


def _dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def make_summarizer(
    settings: Settings, embedder: Callable[[], Embedder | None] = lambda: None
) -> Summarizer | None:
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
    return ExtractiveSummarizer(settings.summary_sentences, embedder())
