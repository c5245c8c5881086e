"""Wire models: the JSON bodies of the Zep 0.x REST API, as pydantic v2 models.

Request models are what the server accepts. Unknown keys are ignored and field names match
case-insensitively, as Zep's Go decoder did (``"Role"`` is accepted for ``role``).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

JsonObject = dict[str, Any]


class WireModel(BaseModel):
    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _case_insensitive_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        fields = {name.lower(): name for name in cls.model_fields}
        if all(key in cls.model_fields or key.lower() not in fields for key in data):
            return data
        return {
            fields.get(key.lower(), key) if isinstance(key, str) else key: value
            for key, value in data.items()
        }


class CreateSessionRequest(WireModel):
    session_id: str
    user_id: str | None = None
    metadata: JsonObject | None = None


class UpdateSessionRequest(WireModel):
    """``session_id`` comes from the URL; ``user_id`` cannot be changed after creation."""

    metadata: JsonObject | None = None


class MessageIn(WireModel):
    role: str
    content: str
    uuid: UUID | None = Field(
        default=None, description="client-chosen id; a retry with it is not stored twice"
    )
    metadata: JsonObject | None = None
    token_count: int | None = Field(default=None, ge=0)


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
    """``user_id`` comes from the URL; empty strings leave a field unchanged, as in Zep."""

    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    metadata: JsonObject | None = None
