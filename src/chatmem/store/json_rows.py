"""Rows read from one JSON array parameter, so that one statement writes many rows.

An ``executemany`` is one execution per row: on SQLite each is a call into the library that releases
Python's GIL and takes it back, on PostgreSQL a row of the pipeline, and on both the parameters of every
row go through Python one by one. ``INSERT ... SELECT ... FROM`` a JSON array bound as one text value
is one execution whatever the number of rows: the database unpacks the array (``json_each`` on SQLite,
``jsonb_array_elements`` on PostgreSQL). Each row is a JSON array; ``item(i, type)`` is its element
``i`` as an SQL value of ``type``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


class JsonRows:
    """The rows of the JSON array bound as ``param``, as the FROM item ``name``."""

    def __init__(self, dialect_name: str, param: str, name: str) -> None:
        self.dialect_name = dialect_name
        text = sa.bindparam(param, type_=sa.Text)
        if dialect_name == "sqlite":
            # json_each has more columns than ``value`` (key, type, ...): an alias, not a column list.
            self.table: Any = sa.func.json_each(text).table_valued("value").alias(name)
        else:
            self.table = (
                sa.func.jsonb_array_elements(sa.cast(text, postgresql.JSONB))
                .table_valued(sa.column("value", postgresql.JSONB))
                .render_derived(name=name)
            )

    def item(
        self, index: int, type_: sa.types.TypeEngine[Any] | type[sa.types.TypeEngine[Any]]
    ) -> sa.ColumnElement[Any]:
        """Element ``index`` of a row (a JSON string or number), as ``type_``; JSON null is NULL."""
        value = self.table.c.value
        if self.dialect_name == "sqlite":
            # The path rendered into the SQL: a bound one would be one more parameter per element.
            return sa.func.json_extract(value, sa.literal_column(f"'$[{index}]'"), type_=type_)
        return sa.cast(value.op("->>")(sa.literal_column(str(index))), type_)
