"""Domain errors; the HTTP layer maps each to a status code."""

from __future__ import annotations


class ChatmemError(Exception):
    """Base class: ``message`` is safe to show to the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(ChatmemError):
    """The session, message or user does not exist (or is soft-deleted)."""


class BadRequestError(ChatmemError):
    """The request cannot be applied as asked; nothing was changed."""


class AlreadyExistsError(BadRequestError):
    """A session or user with that id is already live (a 400, as in Zep)."""


class ForbiddenError(ChatmemError):
    """The caller's role may not do this (a 403); never used for another tenant's ids, which are 404."""
