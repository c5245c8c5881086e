"""chatmem: long-term memory for LLM chat applications, speaking the Zep 0.x REST API.

``from chatmem import ZepClient, Session`` is the SDK (the ``chatmem_client`` package, re-exported);
the server lives in ``chatmem.server``.
"""

from chatmem_client import (
    APIError,
    AuthError,
    Client,
    CreateUserRequest,
    Memory,
    MemorySearchPayload,
    MemorySearchResult,
    Message,
    NotFoundError,
    ServerUnreachableError,
    Session,
    Summary,
    UpdateUserRequest,
    User,
    ZepClient,
    __version__,
)

__all__ = [
    "APIError",
    "AuthError",
    "Client",
    "CreateUserRequest",
    "Memory",
    "MemorySearchPayload",
    "MemorySearchResult",
    "Message",
    "NotFoundError",
    "ServerUnreachableError",
    "Session",
    "Summary",
    "UpdateUserRequest",
    "User",
    "ZepClient",
    "__version__",
]
