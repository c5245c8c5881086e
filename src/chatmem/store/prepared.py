"""Hot-path reads: a Core SELECT compiled once per dialect and run on the raw DB-API cursor.

SQLAlchemy's per-execution work (building the statement, computing its cache key, the execution
context, Row objects, the explicit BEGIN/COMMIT of a transaction) costs several times the query itself
on the requests chatmem serves most (profiled: ~120 us of ~140 us for a session lookup on SQLite).
A ``Prepared`` query keeps the SQL defined by the Core tables, but executes it as a single autocommit
statement and applies only the column types' own bind and result processors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    positional: tuple[str, ...] | None  # parameter order for qmark drivers; None for named ones
    binds: Mapping[str, Processor]
    results: tuple[Processor, ...]


class Prepared:
    """One SELECT (or DML with RETURNING) with named ``sa.bindparam`` parameters."""

    def __init__(self, statement: sa.Select[Any]) -> None:
        self.statement = statement
        self._by_dialect: dict[str, _Compiled] = {}

    def compiled(self, dialect: sa.Dialect) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            found = self._compile(dialect)
            self._by_dialect[dialect.name] = found
        return found

    def _compile(self, dialect: sa.Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect)
        binds = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect)
            for name, bind in compiled.binds.items()
        }
        results = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in self.statement.selected_columns
        )
        positional = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
        return _Compiled(str(compiled), positional, binds, results)

    def arguments(self, compiled: _Compiled, params: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        processed = {}
        for name, value in params.items():
            process = compiled.binds.get(name)
            processed[name] = process(value) if process is not None and value is not None else value
        if compiled.positional is not None:
            return [processed[name] for name in compiled.positional]
        return processed

    def convert(self, compiled: _Compiled, rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        processors = compiled.results
        if not any(processors):
            return [tuple(row) for row in rows]
        return [
            tuple(
                value if process is None or value is None else process(value)
                for process, value in zip(processors, row, strict=True)
            )
            for row in rows
        ]
