"""What the memory layer hands back beyond single rows (``chatmem.store.records``): plain, immutable
records (no ORM, no HTTP)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Generic, TypeVar

from chatmem.base.json import JsonObject
from chatmem.store.records import MessageRecord, SummaryRecord

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message as the caller sends it; ``uuid`` makes retries idempotent."""

    role: str
    content: str
    metadata: JsonObject | None = None
    uuid: uuid.UUID | None = None
    token_count: int = 0


@dataclass(frozen=True, slots=True)
class MemoryRecord:
    """What GET memory returns: the latest summary (if any) and the recent messages (oldest first)."""

    messages: list[MessageRecord]
    summary: SummaryRecord | None = None


@dataclass(frozen=True, slots=True)
class MessagePage:
    messages: list[MessageRecord]
    total_count: int


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """A page of a list in creation order; ``next_after`` is the keyset position to continue from."""

    items: list[T]
    next_after: int | None
