"""Hot-path reads: a Core SELECT compiled once per dialect and run on the raw DB-API cursor.

SQLAlchemy's per-execution work (building the statement, computing its cache key, the execution
context, Row objects, the explicit BEGIN/COMMIT of a transaction) costs several times the query itself
on the requests chatmem serves most (profiled on a session lookup on SQLite).
A ``Prepared`` query keeps the SQL defined by the Core tables, but executes it as a single autocommit
statement and applies only the column types' own bind and result processors.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class RawTransaction:
    """A transaction on a pooled DB-API connection (see ``Database.write_raw``)."""

    dialect: sa.Dialect
    dbapi_connection: Any


# Where prepared statements can run: a SQLAlchemy connection in a transaction, or a raw one.
Executor = sa.Connection | RawTransaction


def _cursor(conn: Executor) -> Any:
    if isinstance(conn, RawTransaction):
        return conn.dbapi_connection.cursor()
    return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    positional: tuple[str, ...] | None  # parameter order for qmark drivers; None for named ones
    binds: Mapping[str, Processor]
    # Values the compiler bound itself (e.g. SQLite renders a bare LIMIT as "LIMIT ? OFFSET ?").
    defaults: Mapping[str, Any]
    # (column index, processor) of the result columns that have one: most have none, and converting
    # only those is a large part of the CPU of reading a page of rows.
    results: tuple[tuple[int, Callable[[Any], Any]], ...]


Statement = sa.Select[Any] | sa.Insert | sa.Update | sa.Delete
Write = sa.Insert | sa.Update | sa.Delete


def upsert(dialect_name: str, table: sa.Table) -> sqlite.Insert | postgresql.Insert:
    """The dialect's INSERT, which knows ``on_conflict_do_update`` / ``on_conflict_do_nothing``: for
    the ``Prepared(lambda dialect_name: ...)`` form of a statement."""
    return sqlite.insert(table) if dialect_name == "sqlite" else postgresql.insert(table)


class Reads:
    """Type marker: a statement that only reads (a SELECT)."""


class Writes:
    """Type marker: a statement that writes (INSERT, UPDATE, DELETE)."""


K = TypeVar("K", Reads, Writes)


class Prepared(Generic[K]):
    """One statement with named ``sa.bindparam`` parameters. ``statement`` is either the statement or,
    for dialect-specific constructs (``INSERT ... ON CONFLICT``), a function of the dialect's name.
    A SELECT is a ``Prepared[Reads]``, anything else a ``Prepared[Writes]``: only the first may go into
    a ``ReadPlan``."""

    @overload
    def __init__(self: Prepared[Reads], statement: sa.Select[Any]) -> None: ...

    @overload
    def __init__(self: Prepared[Writes], statement: Write | Callable[[str], Write]) -> None: ...

    def __init__(self, statement: Statement | Callable[[str], Statement]) -> None:
        self._statement = statement
        self._by_dialect: dict[str, _Compiled] = {}

    @property
    def statement(self) -> Statement:
        """The statement as written for PostgreSQL (for a dialect-specific one)."""
        return self._statement_for("postgresql")

    def _statement_for(self, dialect_name: str) -> Statement:
        return self._statement(dialect_name) if callable(self._statement) else self._statement

    def compiled(self, dialect: sa.Dialect) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            found = self._compile(dialect)
            self._by_dialect[dialect.name] = found
        return found

    def _compile(self, dialect: sa.Dialect) -> _Compiled:
        statement = self._statement_for(dialect.name)
        compiled = statement.compile(dialect=dialect)
        # bind_names maps every parameter, anonymous ones included, to its name in the SQL.
        binds = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect)
            for bind, name in compiled.bind_names.items()
        }
        columns = (
            statement.selected_columns if isinstance(statement, sa.Select) else statement.exported_columns
        )
        processors = (column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns)
        results = tuple((index, process) for index, process in enumerate(processors) if process is not None)
        positional = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
        defaults = {name: bind.value for bind, name in compiled.bind_names.items() if not bind.required}
        return _Compiled(str(compiled), positional, binds, defaults, results)

    def arguments(self, compiled: _Compiled, params: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        processed = dict(compiled.defaults)
        for name, value in params.items():
            process = compiled.binds.get(name)
            processed[name] = process(value) if process is not None and value is not None else value
        if compiled.positional is not None:
            return [processed[name] for name in compiled.positional]
        return processed

    def convert(self, compiled: _Compiled, rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        processors = compiled.results
        if not processors:
            return [tuple(row) for row in rows]
        converted = []
        for row in rows:
            values = list(row)
            for index, process in processors:
                value = values[index]
                if value is not None:
                    values[index] = process(value)
            converted.append(tuple(values))
        return converted


Rows = list[tuple[Any, ...]]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Step(Generic[K]):
    """One statement of a plan: ``query`` once with ``params``, or once per parameter set of ``many``."""

    query: Prepared[K]
    params: Mapping[str, Any]
    many: Sequence[Mapping[str, Any]] | None = None
    # The plan's only statement, atomic by itself: a write plan runs it without BEGIN and COMMIT,
    # which on PostgreSQL are a round trip each.
    alone: bool = False


# Database work written once for both drivers: a generator that yields each statement it needs as a
# ``Step``, is sent that statement's rows (``[]`` for ``many``), and returns its result. This is the
# memory layer's one way to the database: ``Database.read_plan`` / ``write_plan`` run a plan on the sync
# driver, ``aread_plan`` / ``awrite_plan`` from the event loop (see ``Database``).
#
# A ``ReadPlan`` yields only reads and runs without a transaction, each statement a snapshot of its
# own; a ``WritePlan`` may yield both and runs in one transaction. Their step types differ, so mypy
# refuses a write plan handed to ``read_plan`` (tests/test_plan_types.py); a read plan is also a
# write plan.
ReadPlan = Generator[Step[Reads], Rows, T]
WritePlan = Generator[Step[Reads] | Step[Writes], Rows, T]
Plan = Generator[Step[Any], Rows, T]


Item = TypeVar("Item")


@dataclass(frozen=True, slots=True)
class Batchable(Generic[Item]):
    """A write that may be made together with others of its kind (group commit).

    ``single(item)`` is the plan that makes it alone; ``batch(items)`` one plan that makes several, in
    their order, with the same effect as their single plans run one after the other (the append: three
    statements for the sessions, messages and jobs of many appends, instead of three each). Both
    return nothing. The item is kept, not a plan, because a generator runs only once: when a
    batch fails, each item is made again alone (``chatmem.store.group_commit``), and fails alone.
    """

    item: Item
    single: Callable[[Item], WritePlan[None]]
    batch: Callable[[Sequence[Item]], WritePlan[None]]


def statement(query: Prepared[K], **params: Any) -> Step[K]:
    """``rows = yield statement(query, name=value)``."""
    return Step(query, params)


def statement_alone(query: Prepared[K], **params: Any) -> Step[K]:
    """``yield statement_alone(query, ...)``: the whole of a write plan, in one atomic statement."""
    return Step(query, params, alone=True)


def statement_many(query: Prepared[Writes], params: Sequence[Mapping[str, Any]]) -> Step[Writes]:
    """``yield statement_many(query, [row, ...])``: an executemany (a multi-row INSERT)."""
    return Step(query, {}, params)


def drive(plan: Plan[T], execute: Callable[[Step[Any]], Rows], first: Step[Any]) -> T:
    """Run ``plan`` to its result from its ``first`` step (already taken from it), executing each step
    with ``execute``."""
    step = first
    try:
        while True:
            step = advance(plan, first, execute(step))
    except StopIteration as done:
        result: T = done.value
        return result


def advance(plan: Plan[T], first: Step[Any], rows: Rows) -> Step[Any]:
    """Send a step's ``rows`` to the plan and take its next step (``StopIteration`` carries the result)."""
    step = plan.send(rows)
    if first.alone:
        raise RuntimeError("a plan whose statement runs alone must have no other statement")
    return step


def first_step(plan: Plan[T]) -> Step[Any] | Done[T]:
    """The plan's first statement, or its result when it needs none."""
    try:
        return next(plan)
    except StopIteration as done:
        return Done(done.value)


@dataclass(frozen=True, slots=True)
class Done(Generic[T]):
    value: T


def run_step(conn: Executor, step: Step[Any]) -> Rows:
    if step.many is not None:
        run_many(conn, step.query, step.many)
        return []
    return run(conn, step.query, **step.params)


async def arun_step(conn: Any, dialect: sa.Dialect, step: Step[Any]) -> Rows:
    """``run_step`` on a psycopg ``AsyncConnection``."""
    compiled = step.query.compiled(dialect)
    async with conn.cursor() as cursor:
        if step.many is not None:
            await cursor.executemany(compiled.sql, [step.query.arguments(compiled, one) for one in step.many])
            return []
        await cursor.execute(compiled.sql, step.query.arguments(compiled, step.params))
        # rownumber is None when the statement returned no rows to fetch; ``description`` would tell
        # the same but builds a Column object per result column on every call.
        rows = await cursor.fetchall() if cursor.rownumber is not None else []
    return step.query.convert(compiled, rows)


def run(conn: Executor, query: Prepared[Any], **params: Any) -> list[tuple[Any, ...]]:
    """Execute ``query`` inside ``conn``'s transaction, on its DB-API connection; rows it returns."""
    compiled = query.compiled(conn.dialect)
    cursor = _cursor(conn)
    try:
        cursor.execute(compiled.sql, query.arguments(compiled, params))
        rows = cursor.fetchall() if cursor.description else []
    finally:
        cursor.close()
    return query.convert(compiled, rows)


def run_many(conn: Executor, query: Prepared[Any], params: Sequence[Mapping[str, Any]]) -> None:
    """Execute ``query`` once per parameter set (a multi-row INSERT), inside ``conn``'s transaction."""
    if not params:
        return
    compiled = query.compiled(conn.dialect)
    cursor = _cursor(conn)
    try:
        arguments: Any = [query.arguments(compiled, one) for one in params]
        cursor.executemany(compiled.sql, arguments)
    finally:
        cursor.close()
