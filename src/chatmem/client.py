"""The SDK under its former module path (``from chatmem.client import ZepClient``); it lives in
``chatmem_client``."""

from chatmem_client import APIError, AuthError, Client, NotFoundError, ServerUnreachableError, ZepClient

__all__ = ["APIError", "AuthError", "Client", "NotFoundError", "ServerUnreachableError", "ZepClient"]
