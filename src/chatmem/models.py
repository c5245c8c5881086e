"""The wire models, which live with the SDK in ``chatmem_client`` (installable on its own, without
the server's dependencies); the server imports them from here."""

from chatmem_client.models import (
    NIL_UUID,
    AddMemoryRequest,
    CreateSessionRequest,
    CreateUserRequest,
    JsonObject,
    Memory,
    MemorySearchPayload,
    MemorySearchResult,
    Message,
    MessageIn,
    Session,
    Summary,
    UpdateMessageRequest,
    UpdateSessionRequest,
    UpdateUserRequest,
    User,
    WireModel,
)

__all__ = [
    "NIL_UUID",
    "AddMemoryRequest",
    "CreateSessionRequest",
    "CreateUserRequest",
    "JsonObject",
    "Memory",
    "MemorySearchPayload",
    "MemorySearchResult",
    "Message",
    "MessageIn",
    "Session",
    "Summary",
    "UpdateMessageRequest",
    "UpdateSessionRequest",
    "UpdateUserRequest",
    "User",
    "WireModel",
]
