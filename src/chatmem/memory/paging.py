"""Pagination over rows in creation order: offset (Zep's ``cursor``) and keyset (``after``)."""

from __future__ import annotations

from dataclasses import dataclass

from chatmem.memory.errors import BadRequestError


@dataclass(frozen=True, slots=True)
class PageRequest:
    """``limit`` None means every row; ``offset`` skips live rows; ``after`` is an exclusive id."""

    limit: int | None = None
    offset: int = 0
    after: int | None = None

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 0:
            raise BadRequestError("limit must not be negative")
        if self.offset < 0:
            raise BadRequestError("cursor must not be negative")
        if self.after is not None and self.offset:
            raise BadRequestError("give either cursor (an offset) or after (a keyset cursor), not both")
