"""Zep's metadata filters as SQL: ``jsonb_path_exists`` on PostgreSQL, the same test on SQLite through a
Python function registered on the connection (the path was parsed once, by ``search.jsonpath``)."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from chatmem.search import jsonpath
from chatmem.search.query import AllOf, AnyOf, Condition, Filters, JsonPathCondition

log = logging.getLogger("chatmem.search")

SQLITE_FUNCTION = "chatmem_jsonpath_exists"


def _sqlite_exists(document: str | None, path: str) -> int:
    if document is None:
        return 0
    try:
        return int(jsonpath.exists(jsonpath.parse_rendered(path), orjson.loads(document)))
    except Exception:  # an exception inside SQLite would abort the whole query as a 500
        log.exception("jsonpath evaluation failed for %r", path)
        return 0


def prepare(conn: sa.Connection) -> None:
    """Make the SQLite connection know the jsonpath function (a no-op on PostgreSQL)."""
    if conn.dialect.name != "sqlite":
        return
    raw: Any = conn.connection.dbapi_connection
    raw.create_function(SQLITE_FUNCTION, 2, _sqlite_exists, deterministic=True)


def conditions(filters: Filters, table: sa.Table, dialect: str) -> list[sa.ColumnElement[bool]]:
    found: list[sa.ColumnElement[bool]] = []
    if filters.where is not None:
        found.append(_condition(filters.where, table, dialect))
    if filters.start is not None:
        found.append(table.c.created_at >= filters.start)
    if filters.end is not None:
        found.append(table.c.created_at <= filters.end)
    return found


def _condition(node: Condition, table: sa.Table, dialect: str) -> sa.ColumnElement[bool]:
    if isinstance(node, AllOf):
        return sa.and_(*(_condition(part, table, dialect) for part in node.parts))
    if isinstance(node, AnyOf):
        return sa.or_(*(_condition(part, table, dialect) for part in node.parts))
    return _jsonpath(node, table, dialect)


def _jsonpath(node: JsonPathCondition, table: sa.Table, dialect: str) -> sa.ColumnElement[bool]:
    text = jsonpath.render(node.path)
    if dialect == "sqlite":
        return sa.func.chatmem_jsonpath_exists(table.c.metadata, sa.literal(text, sa.Text)) == 1
    path = sa.cast(sa.literal(text, sa.Text), postgresql.JSONPATH)
    return sa.func.jsonb_path_exists(table.c.metadata, path, type_=sa.Boolean)
