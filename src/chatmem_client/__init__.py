"""chatmem's Python SDK: ``ZepClient`` with sync methods and their ``a``-prefixed async twins.

Installable on its own (``pip install ./clients/python``: httpx and pydantic only); the server's
``chatmem`` package ships it too and re-exports it (``from chatmem import ZepClient``).
"""

from chatmem_client.client import Client, ZepClient
from chatmem_client.errors import APIError, AuthError, NotFoundError, ServerUnreachableError
from chatmem_client.models import (
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
from chatmem_client.version import __version__

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
