"""The tables that have vectors: each with its per-session key column and its embeddings table (used by
search, which ranks them, and by enrichment, which fills them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from chatmem.store.tables import message_embeddings, messages, summaries, summary_embeddings


@dataclass(frozen=True)
class Embedded:
    table: sa.Table
    key: str  # the per-session sequence column: seq, or point_seq for summaries
    embeddings: sa.Table

    @property
    def key_column(self) -> sa.Column[Any]:
        return self.table.c[self.key]

    @property
    def embedding_key(self) -> sa.Column[Any]:
        return self.embeddings.c[self.key]


EMBEDDED_MESSAGES = Embedded(messages, "seq", message_embeddings)
EMBEDDED_SUMMARIES = Embedded(summaries, "point_seq", summary_embeddings)
