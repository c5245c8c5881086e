"""chatmem: long-term memory for LLM chat applications, speaking the Zep 0.x REST API.

``from chatmem import ZepClient, Session`` is the SDK; the server lives in ``chatmem.server``.
"""

from chatmem.client import APIError, AuthError, Client, NotFoundError, ServerUnreachableError, ZepClient
from chatmem.models import (
    CreateUserRequest,
    Memory,
    MemorySearchPayload,
    MemorySearchResult,
    Message,
    Session,
    Summary,
    UpdateUserRequest,
    User,
)
from chatmem.version import __version__

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
