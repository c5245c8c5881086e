"""What the SDK raises. Every error carries the HTTP status (None when no answer came) and the
server's own message (chatmem sends ``{"message": ...}``; other servers plain text)."""

from __future__ import annotations


class APIError(Exception):
    """The server answered with an error status, or with a body the SDK cannot read.

    ``NotFoundError`` and ``AuthError`` are subclasses, so ``except APIError`` catches every
    server-side failure.
    """

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message if status_code is None else f"{status_code}: {message}")
        self.message = message
        self.status_code = status_code

    @property
    def response_data(self) -> dict[str, object]:
        """The shape zep-python's errors expose, for code written against it."""
        return {"status_code": self.status_code, "message": self.message}


class NotFoundError(APIError):
    """404: the session, message or user does not exist (or was deleted)."""


class AuthError(APIError):
    """401/403: the API key is missing or not accepted."""


class ServerUnreachableError(APIError, ConnectionError):
    """No usable answer: nothing listens at the URL, the connection broke, or the server timed out.

    Also a ``ConnectionError``, which is what zep-python raised for network failures.
    """
