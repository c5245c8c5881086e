"""A search request, checked: Zep's ``MemorySearchPayload`` plus chatmem's ``text`` and ``hybrid`` types.

Every malformed request is a ``BadRequestError`` here, before any database or model work, so a bad
payload is always a 400 and never a 500.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any

from chatmem.base.errors import BadRequestError
from chatmem.search import jsonpath


class Scope(enum.StrEnum):
    MESSAGES = "messages"
    SUMMARY = "summary"


class SearchType(enum.StrEnum):
    SIMILARITY = "similarity"
    MMR = "mmr"
    TEXT = "text"
    HYBRID = "hybrid"


@dataclass(frozen=True, slots=True)
class JsonPathCondition:
    path: jsonpath.Path


@dataclass(frozen=True, slots=True)
class AllOf:
    parts: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    parts: tuple[Condition, ...]


Condition = JsonPathCondition | AllOf | AnyOf


@dataclass(frozen=True, slots=True)
class Filters:
    where: Condition | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    @property
    def empty(self) -> bool:
        return self.where is None and self.start is None and self.end is None


@dataclass(frozen=True, slots=True)
class SearchQuery:
    text: str
    scope: Scope
    type: SearchType
    mmr_lambda: float
    filters: Filters
    limit: int


DEFAULT_LIMIT = 10
DEFAULT_MMR_LAMBDA = 0.5


def build_query(
    *,
    text: str | None,
    metadata: Any,
    search_scope: str | None,
    search_type: str | None,
    mmr_lambda: float | None,
    limit: int | None,
    default_type: str = "similarity",
    max_limit: int = 1000,
) -> SearchQuery:
    """Check a payload. ``limit`` None or 0 means 10, as in Zep; ``mmr_lambda`` None or 0 means 0.5."""
    text = (text or "").strip()
    scope = _choice(Scope, "search_scope", search_scope or Scope.MESSAGES.value)
    kind = _choice(SearchType, "search_type", search_type or default_type)
    filters = parse_filters(metadata)
    if not text and filters.empty:
        raise BadRequestError(
            "empty query: give text, a metadata filter (where, start_date, end_date) or both"
        )
    if kind is SearchType.MMR and not text:
        raise BadRequestError("mmr search needs text")
    if mmr_lambda is None or mmr_lambda == 0:
        mmr_lambda = DEFAULT_MMR_LAMBDA
    if not 0 <= mmr_lambda <= 1:
        raise BadRequestError(f"mmr_lambda must be between 0 and 1, got {mmr_lambda}")
    if limit is None or limit == 0:
        limit = DEFAULT_LIMIT
    if limit < 0 or limit > max_limit:
        raise BadRequestError(f"limit must be between 1 and {max_limit}, got {limit}")
    return SearchQuery(text, scope, kind, float(mmr_lambda), filters, limit)


def _choice(kind: type[Scope] | type[SearchType], name: str, value: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise BadRequestError(f"{name} must be one of {allowed}; got {value!r}") from None


def parse_filters(metadata: Any) -> Filters:
    """Zep's ``metadata`` filter: ``where`` (jsonpath / and / or, all ANDed) and ``start_date`` /
    ``end_date``. Keys match case-insensitively, as Go's JSON decoder matched them; other keys are
    ignored, as Zep ignored them."""
    if metadata is None:
        return Filters()
    if not isinstance(metadata, dict):
        raise BadRequestError("metadata must be an object")
    keys = {str(key).lower(): value for key, value in metadata.items()}
    budget = [MAX_CONDITIONS]
    where = _condition(keys["where"], budget) if keys.get("where") is not None else None
    return Filters(
        where, _date("start_date", keys.get("start_date")), _date("end_date", keys.get("end_date"))
    )


# Conditions (jsonpath, and, or) one filter may hold: each becomes SQL for the database to plan.
MAX_CONDITIONS = 100


def _condition(node: Any, budget: list[int]) -> Condition | None:
    budget[0] -= 1
    if budget[0] < 0:
        raise BadRequestError(f"where holds more than {MAX_CONDITIONS} conditions")
    if not isinstance(node, dict):
        raise BadRequestError("where must be an object with jsonpath, and, or")
    keys = {str(key).lower(): value for key, value in node.items()}
    unknown = set(keys) - {"jsonpath", "and", "or"}
    if unknown:
        raise BadRequestError(f"where takes jsonpath, and, or; got {sorted(unknown)}")
    parts: list[Condition] = []
    if keys.get("jsonpath") is not None:
        path = keys["jsonpath"]
        if not isinstance(path, str):
            raise BadRequestError("jsonpath must be a string")
        parts.append(JsonPathCondition(jsonpath.parse(path)))
    for key, group in (("and", AllOf), ("or", AnyOf)):
        if keys.get(key) is None:
            continue
        if not isinstance(keys[key], list):
            raise BadRequestError(f"where.{key} must be a list")
        children = [child for child in (_condition(item, budget) for item in keys[key]) if child is not None]
        if children:
            parts.append(group(tuple(children)))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else AllOf(tuple(parts))


def _date(name: str, value: Any) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadRequestError(f"{name} must be an ISO-8601 date or time")
    try:
        parsed = dt.datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        # Both databases compare in UTC; a date whose UTC time is outside years 1..9999 has none.
        parsed.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise BadRequestError(f"{name} must be an ISO-8601 date or time in years 1 to 9999") from None
    return parsed
