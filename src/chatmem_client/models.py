"""Wire models: the JSON bodies of the Zep 0.x REST API, as pydantic v2 models.

Request models are what the server accepts. Unknown keys are ignored and field names match
case-insensitively, as Zep's Go decoder did (``"Role"`` is accepted for ``role``).
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, Literal
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

JsonObject = dict[str, Any]


class WireModel(BaseModel):
    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _case_insensitive_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        names, fields = _field_names(cls)
        if all(key in names or (isinstance(key, str) and key.lower() not in fields) for key in data):
            return data
        return {
            fields.get(key.lower(), key) if isinstance(key, str) else key: value
            for key, value in data.items()
        }


@functools.cache
def _field_names(model: type[BaseModel]) -> tuple[frozenset[str], dict[str, str]]:
    """A model's field names, and each by its lower-case form. Once per model: pydantic's
    ``model_fields`` costs a descriptor call per access, and this runs for every message of a request."""
    names = frozenset(model.model_fields)
    return names, {name.lower(): name for name in names}


class CreateSessionRequest(WireModel):
    session_id: str
    user_id: str | None = None
    metadata: JsonObject | None = None


class UpdateSessionRequest(WireModel):
    """``session_id`` comes from the URL. ``user_id`` cannot be changed after creation: it is only
    used when ``?upsert=true`` creates the session."""

    metadata: JsonObject | None = None
    user_id: str | None = None


class MessageIn(WireModel):
    role: str
    content: str
    uuid: UUID | None = Field(
        default=None, description="client-chosen id; a retry with it is not stored twice"
    )
    metadata: JsonObject | None = None
    # The column is a 32-bit integer on both databases.
    token_count: int | None = Field(default=None, ge=0, le=2**31 - 1)


class AddMemoryRequest(WireModel):
    """``summary`` and ``metadata`` of a Memory are ignored on write, as in Zep."""

    messages: list[MessageIn] | None = None


class UpdateMessageRequest(WireModel):
    """Only ``metadata`` of a message can change; role and content are ignored."""

    metadata: JsonObject | None = None


class CreateUserRequest(WireModel):
    user_id: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    metadata: JsonObject | None = None


class UpdateUserRequest(WireModel):
    """The server takes ``user_id`` from the URL (a body ``user_id`` is ignored); the SDK builds that
    URL from this field. Empty strings leave a field unchanged, as in Zep."""

    user_id: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    metadata: JsonObject | None = None


# Resources: what the server returns and the SDK reads (and, for Session and Message, what callers
# build to send). Timestamps are timezone-aware datetimes; unknown keys are ignored.

NIL_UUID = UUID(int=0)


def _new_session_id() -> str:
    return uuid4().hex


class Session(WireModel):
    """A conversation. ``session_id`` is the caller's id: a fresh ``uuid4().hex`` when not given."""

    session_id: str = Field(default_factory=_new_session_id)
    user_id: str | None = None
    metadata: JsonObject | None = None
    uuid: UUID | None = None
    id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None


class Message(WireModel):
    role: str
    content: str
    uuid: UUID | None = None
    metadata: JsonObject | None = None
    token_count: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class Summary(WireModel):
    uuid: UUID | None = None
    created_at: datetime | None = None
    content: str = ""
    recent_message_uuid: UUID | None = None
    token_count: int = 0
    metadata: JsonObject | None = None


def _real_summary(value: Any) -> Any:
    """Zep's API sends an all-zero summary when a session has none; to the SDK that is no summary."""
    if isinstance(value, dict) and value.get("uuid") in (str(NIL_UUID), NIL_UUID):
        return None
    return value


class Memory(WireModel):
    """The recent messages of a session, oldest first, and its running summary (None if none yet)."""

    messages: list[Message] = Field(default_factory=list)
    summary: Summary | None = None
    metadata: JsonObject | None = None
    uuid: UUID | None = None
    created_at: datetime | None = None
    token_count: int | None = None

    @field_validator("summary", mode="before")
    @classmethod
    def _no_zero_summary(cls, value: Any) -> Any:
        return _real_summary(value)


class User(WireModel):
    user_id: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    metadata: JsonObject | None = None
    uuid: UUID | None = None
    id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None


class MemorySearchPayload(WireModel):
    """``POST /sessions/{id}/search``: ``text`` and/or a ``metadata`` filter (Zep's ``where`` syntax)."""

    text: str | None = None
    metadata: JsonObject | None = None
    search_scope: Literal["messages", "summary"] = "messages"
    search_type: Literal["similarity", "mmr", "text", "hybrid"] = "similarity"
    mmr_lambda: float | None = None


class MemorySearchResult(WireModel):
    """One hit: a message or a summary (by ``search_scope``); ``dist`` is a similarity, higher is closer."""

    message: Message | None = None
    summary: Summary | None = None
    metadata: JsonObject | None = None
    dist: float | None = None
    embedding: list[float] | None = None
    # Set by user-wide search (``client.user.search``): the session the hit belongs to.
    session_id: str | None = None
