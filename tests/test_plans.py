"""Plans: database work written once as a generator of statements, run on the sync driver and, on
PostgreSQL, on the async one, with the same results."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa

from chatmem.memory.messages import add_messages_plan
from chatmem.memory.records import NewMessage
from chatmem.store import Database
from chatmem.store.prepared import Prepared, ReadPlan, WritePlan, statement, statement_alone
from chatmem.store.tables import DEFAULT_TENANT_ID, messages, sessions
from tests.support import migrated

_session_pk = Prepared(sa.select(sessions.c.id).where(sessions.c.session_id == sa.bindparam("session_id")))
_contents = Prepared(
    sa.select(messages.c.content).where(messages.c.session_pk == sa.bindparam("pk")).order_by(messages.c.seq)
)
_rename = Prepared(
    sa.update(messages)
    .where(messages.c.session_pk == sa.bindparam("pk"))
    .values(content=sa.bindparam("text"))
)


def contents_of(session_id: str) -> ReadPlan[list[str] | None]:
    found = yield statement(_session_pk, session_id=session_id)
    if not found:
        return None
    rows = yield statement(_contents, pk=found[0][0])
    return [row[0] for row in rows]


def rename_then_fail(session_id: str) -> WritePlan[None]:
    [(pk,)] = yield statement(_session_pk, session_id=session_id)
    yield statement(_rename, pk=pk, text="renamed")
    raise ValueError("after the update")


def alone_then_more(session_id: str) -> WritePlan[None]:
    [(pk,)] = yield statement_alone(_session_pk, session_id=session_id)
    yield statement(_rename, pk=pk, text="renamed")


async def on_async_driver(db: Database, plan: ReadPlan[list[str] | None]) -> list[str] | None:
    try:
        return await db.aread_plan(plan)
    finally:
        await db.aclose()


def test_a_read_plan_gives_the_same_result_on_the_sync_and_async_drivers(
    backend: str, tmp_path: Path
) -> None:
    with migrated(backend, tmp_path) as db:
        db.write_plan(
            add_messages_plan(
                db.dialect_name,
                DEFAULT_TENANT_ID,
                "s",
                [NewMessage(role="human", content="one"), NewMessage(role="ai", content="two")],
            )
        )
        assert db.read_plan(contents_of("s")) == ["one", "two"]
        assert asyncio.run(on_async_driver(db, contents_of("s"))) == ["one", "two"]
        assert db.read_plan(contents_of("nobody")) is None  # a plan may stop after its first statement


def test_a_write_plan_that_fails_midway_changes_nothing(backend: str, tmp_path: Path) -> None:
    with migrated(backend, tmp_path) as db:
        db.write_plan(
            add_messages_plan(
                db.dialect_name, DEFAULT_TENANT_ID, "s", [NewMessage(role="human", content="one")]
            )
        )
        with pytest.raises(ValueError, match="after the update"):
            db.write_plan(rename_then_fail("s"))

        async def failing() -> None:
            try:
                await db.awrite_plan(rename_then_fail("s"))
            finally:
                await db.aclose()

        with pytest.raises(ValueError, match="after the update"):
            asyncio.run(failing())
        assert db.read_plan(contents_of("s")) == ["one"]


def test_a_statement_that_runs_alone_must_be_the_whole_plan(backend: str, tmp_path: Path) -> None:
    with migrated(backend, tmp_path) as db:
        db.write_plan(
            add_messages_plan(
                db.dialect_name, DEFAULT_TENANT_ID, "s", [NewMessage(role="human", content="one")]
            )
        )
        with pytest.raises(RuntimeError, match="runs alone"):
            db.write_plan(alone_then_more("s"))
        assert db.read_plan(contents_of("s")) == ["one"]
