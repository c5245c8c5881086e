"""chatmem's Python SDK: ``ZepClient`` with sync methods and their ``a``-prefixed async twins."""

from chatmem.client.client import Client, ZepClient
from chatmem.client.errors import APIError, AuthError, NotFoundError, ServerUnreachableError

__all__ = ["APIError", "AuthError", "Client", "NotFoundError", "ServerUnreachableError", "ZepClient"]
