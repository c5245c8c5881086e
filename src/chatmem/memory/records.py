"""What the memory layer hands back: plain, immutable records (no ORM, no HTTP)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import RowMapping

JsonObject = dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: int
    uuid: uuid.UUID
    session_id: str
    user_id: str | None
    metadata: JsonObject | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row: RowMapping) -> SessionRecord:
        return cls(
            id=row["id"],
            uuid=row["uuid"],
            session_id=row["session_id"],
            user_id=row["user_id"],
            metadata=row["metadata"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True, slots=True)
class MessageRecord:
    uuid: uuid.UUID
    role: str
    content: str
    metadata: JsonObject | None
    token_count: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row: RowMapping) -> MessageRecord:
        return cls(
            uuid=row["uuid"],
            role=row["role"],
            content=row["content"],
            metadata=row["metadata"],
            token_count=row["token_count"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    uuid: uuid.UUID
    user_id: str
    email: str | None
    first_name: str | None
    last_name: str | None
    metadata: JsonObject | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row: RowMapping) -> UserRecord:
        return cls(
            id=row["id"],
            uuid=row["uuid"],
            user_id=row["user_id"],
            email=row["email"],
            first_name=row["first_name"],
            last_name=row["last_name"],
            metadata=row["metadata"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message as the caller sends it; ``uuid`` makes retries idempotent."""

    role: str
    content: str
    metadata: JsonObject | None = None
    uuid: uuid.UUID | None = None
    token_count: int = 0


@dataclass(frozen=True, slots=True)
class SummaryRecord:
    """A progressive summary; ``recent_message_uuid`` is its summary point (the newest folded message)."""

    recent_message_uuid: uuid.UUID
    uuid: uuid.UUID
    content: str
    token_count: int
    metadata: JsonObject | None
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: RowMapping) -> SummaryRecord:
        return cls(
            uuid=row["uuid"],
            content=row["content"],
            recent_message_uuid=row["recent_message_uuid"],
            token_count=row["token_count"],
            metadata=row["metadata"],
            created_at=row["created_at"],
        )


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
