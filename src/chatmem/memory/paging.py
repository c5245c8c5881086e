"""Pagination over rows in creation order: offset (Zep's ``cursor``) and keyset (``after``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa

from chatmem.base.errors import BadRequestError
from chatmem.memory.records import Page
from chatmem.store.prepared import Prepared, ReadPlan, Reads, statement

# "No limit" as a bound value: both databases take a number here, neither takes NULL the same way.
NO_LIMIT = 2**62


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


class _HasId(Protocol):
    @property
    def id(self) -> int: ...


R = TypeVar("R", bound=_HasId)


def creation_ordered(columns: tuple[Any, ...], id_column: Any, *conditions: Any) -> Prepared[Reads]:
    """One prepared listing that serves both cursors: ``id > :after`` (0 for the offset cursor)
    ordered by ``id``, then ``OFFSET :offset LIMIT :limit``; the index on ``id`` makes it O(page)."""
    return Prepared(
        sa.select(*columns)
        .where(*conditions, id_column > sa.bindparam("after"))
        .order_by(id_column)
        .limit(sa.bindparam("limit"))
        .offset(sa.bindparam("offset"))
    )


def page_plan(
    query: Prepared[Reads], page: PageRequest, make: Callable[..., R], **params: Any
) -> ReadPlan[Page[R]]:
    """One page of ``query`` (a ``creation_ordered`` listing), each row made into a record by ``make``."""
    rows = yield statement(
        query, after=page.after or 0, limit=page.limit or NO_LIMIT, offset=page.offset, **params
    )
    items = [make(*row) for row in rows]
    full = bool(page.limit) and len(items) == page.limit
    return Page(items=items, next_after=items[-1].id if full else None)
