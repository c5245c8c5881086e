"""Rows as the layers above read them: one immutable record per table, and the columns that fill it.

Each record's columns are derived from its fields, so a query selects ``*MESSAGE_COLUMNS`` and builds
``MessageRecord(*row)`` by position, and the two can never disagree on the order.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from chatmem.base.json import JsonObject
from chatmem.store.tables import messages, sessions, summaries, users


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: int
    uuid: uuid.UUID
    session_id: str
    user_id: str | None
    metadata: JsonObject | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class MessageRecord:
    uuid: uuid.UUID
    role: str
    content: str
    metadata: JsonObject | None
    token_count: int
    created_at: dt.datetime
    updated_at: dt.datetime


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


@dataclass(frozen=True, slots=True)
class SummaryRecord:
    """A progressive summary; ``recent_message_uuid`` is its summary point (the newest folded message)."""

    recent_message_uuid: uuid.UUID
    uuid: uuid.UUID
    content: str
    token_count: int
    metadata: JsonObject | None
    created_at: dt.datetime


def _columns(record: type, table: sa.Table) -> tuple[sa.Column[Any], ...]:
    return tuple(table.c[field.name] for field in dataclasses.fields(record))


SESSION_COLUMNS = _columns(SessionRecord, sessions)
MESSAGE_COLUMNS = _columns(MessageRecord, messages)
USER_COLUMNS = _columns(UserRecord, users)
SUMMARY_COLUMNS = _columns(SummaryRecord, summaries)
