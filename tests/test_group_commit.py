"""Group commit (store/group_commit.py): appends that arrive together share one transaction (SQLite: every
write; PostgreSQL: the batchable appends), yet each is atomic and alone in its effect, keeps its order,
and is stored once however often it is retried; and an acknowledged append survives ``kill -9`` of the
server under 32 concurrent clients (both databases).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from chatmem.access import tenants
from chatmem.memory import messages, sessions
from chatmem.memory.records import NewMessage
from chatmem.store import Database
from chatmem.store.prepared import Batchable, Prepared, WritePlan, statement
from chatmem.store.tables import DEFAULT_TENANT_ID
from chatmem.store.tables import enrich_jobs as jobs
from chatmem.store.tables import sessions as sessions_table
from tests.support import database_url, free_port, migrated

CHATMEM = str(Path(sys.executable).parent / "chatmem")
TENANT = DEFAULT_TENANT_ID


def _append(db: Database, session_id: str, *new: NewMessage) -> WritePlan[None]:
    return messages.add_messages_plan(db.dialect_name, TENANT, session_id, list(new))


def _stored(db: Database, session_id: str) -> list[str]:
    page = db.read_plan(messages.list_messages_plan(TENANT, session_id, limit=1000, page=1))
    return [message.content for message in page.messages]


async def _together(db: Database, plans: list[WritePlan[Any]]) -> list[Any]:
    return await asyncio.gather(*(db.awrite_plan(plan) for plan in plans), return_exceptions=True)


def test_appends_arriving_together_share_commits_and_all_are_stored(tmp_path: Path) -> None:
    with migrated("sqlite", tmp_path) as db:
        assert db.group_commit is not None
        plans = [_append(db, f"s-{n % 8}", NewMessage(role="human", content=f"m{n}")) for n in range(200)]
        assert all(result is None for result in asyncio.run(_together(db, plans)))
        # Fewer commits than appends: they were grouped.
        assert db.group_commit.plans == 200
        assert db.group_commit.groups < 200
        for session in range(8):
            # Each session holds its appends in the order they were submitted.
            assert _stored(db, f"s-{session}") == [f"m{n}" for n in range(session, 200, 8)]


_boom_insert = Prepared(sa.update(sessions_table).values(metadata=sa.bindparam("m", type_=sa.JSON)))


def _fails_after_writing() -> WritePlan[None]:
    # Writes first (to every session, which would be visible if the savepoint did not undo it), then fails.
    yield statement(_boom_insert, m={"poisoned": True})
    raise ValueError("this append fails after it wrote")


def test_one_failing_write_in_a_group_fails_alone_and_leaves_no_trace(tmp_path: Path) -> None:
    with migrated("sqlite", tmp_path) as db:
        assert db.group_commit is not None
        plans: list[WritePlan[Any]] = [
            _append(db, f"g-{n}", NewMessage(role="human", content=f"m{n}")) for n in range(40)
        ]
        plans.insert(20, _fails_after_writing())
        results = asyncio.run(_together(db, plans))
        assert isinstance(results[20], ValueError)
        assert [r for i, r in enumerate(results) if i != 20] == [None] * 40
        assert db.group_commit.groups < 41  # the failure really shared a group with others
        for n in range(40):
            assert _stored(db, f"g-{n}") == [f"m{n}"]
        with db.read() as conn:
            metadata = conn.execute(sa.select(sessions_table.c.metadata)).scalars().all()
        assert all(not (m or {}).get("poisoned") for m in metadata)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_retried_uuid_is_stored_once_within_a_group_and_across_groups(backend: str, tmp_path: Path) -> None:
    if backend == "postgres":
        from tests.support import SELECTED_BACKENDS

        if "postgres" not in SELECTED_BACKENDS:
            pytest.skip("CHATMEM_TEST_BACKENDS leaves out postgres")
    with migrated(backend, tmp_path) as db:
        retried = NewMessage(role="human", content="once", uuid=uuid.uuid4())
        others = [_append(db, "r", NewMessage(role="ai", content=f"other {n}")) for n in range(10)]
        # Ten copies of one retried append submitted together (one or a few groups), then again later.
        asyncio.run(
            _together(db, [*others[:5], *(_append(db, "r", retried) for _ in range(10)), *others[5:]])
        )
        asyncio.run(_together(db, [_append(db, "r", retried) for _ in range(5)]))
        stored = _stored(db, "r")
        assert stored.count("once") == 1
        assert sorted(stored) == sorted(["once", *(f"other {n}" for n in range(10))])


# --- batched appends (the fast path's form of an append) -------------------------------------------------


def _work(db: Database, session_id: str, content: str) -> WritePlan[None] | Batchable[Any]:
    return messages.add_messages_work(
        db.dialect_name, TENANT, session_id, [NewMessage(role="human", content=content)]
    )


def _jobs(db: Database) -> list[tuple[int, int, int]]:
    with db.read() as conn:
        return [
            tuple(row) for row in conn.execute(sa.select(jobs.c.session_pk, jobs.c.seq_lo, jobs.c.seq_hi))
        ]


@pytest.fixture(params=["sqlite", "postgres"])
def each_backend(request: pytest.FixtureRequest) -> str:
    from tests.support import SELECTED_BACKENDS

    if request.param not in SELECTED_BACKENDS:
        pytest.skip(f"CHATMEM_TEST_BACKENDS leaves out {request.param}")
    return str(request.param)


def test_appends_written_together_store_every_message_in_order_with_one_job_per_session(
    each_backend: str, tmp_path: Path
) -> None:
    with migrated(each_backend, tmp_path) as db:
        assert db.group_commit is not None
        works = [_work(db, f"b-{n % 8}", f"m{n}") for n in range(400)]
        assert all(isinstance(work, Batchable) for work in works)

        async def together() -> list[Any]:
            return await asyncio.gather(*(db.awrite(work) for work in works), return_exceptions=True)

        assert asyncio.run(together()) == [None] * 400
        assert db.group_commit.plans == 400
        groups = db.group_commit.groups
        assert groups < 400
        for session in range(8):
            assert _stored(db, f"b-{session}") == [f"m{n}" for n in range(session, 400, 8)]
        # Every stored message is covered by exactly one ingest job, and a group queued one job per
        # session it appended to, not one per append.
        stored_jobs = _jobs(db)
        assert len(stored_jobs) < 400
        covered = sorted((pk, seq) for pk, lo, hi in stored_jobs for seq in range(lo, hi + 1))
        assert len(covered) == len(set(covered)) == 400
        assert {seq for _, seq in covered} == set(range(1, 51))


def _write_together(db: Database, works: Sequence[WritePlan[None] | Batchable[Any]]) -> None:
    """Hand every write to the group-commit writer at once (so that they share groups); wait for all."""

    async def together() -> None:
        await asyncio.gather(*(db.awrite(work) for work in works))

    asyncio.run(together())


# What a chat application may send: the batch carries it to the database as JSON text, the single
# append as bound parameters; both must store the same.
_VARIED = [
    NewMessage(
        role="human", content='quotes " and \\ backslash, tab\t newline\n, \x01 control', token_count=3
    ),
    NewMessage(
        role="ai", content="émoji 🧠, CJK 記憶, RTL שלום", metadata={"nested": {"list": [1, 2.5, None]}}
    ),
    NewMessage(
        role="system", content=" ", metadata={"big": 2**62, "small": -(2**62), "float": -12.5, "t": True}
    ),
    NewMessage(role="user", content="[1, 2]", metadata={}, token_count=2**31 - 1),
]


def _records(db: Database, session_id: str) -> list[tuple[Any, ...]]:
    page = db.read_plan(messages.list_messages_plan(TENANT, session_id, limit=1000, page=1))
    return [(m.role, m.content, m.metadata, m.token_count) for m in page.messages]


def test_appends_written_together_store_what_appends_written_alone_store(
    each_backend: str, tmp_path: Path
) -> None:
    with migrated(each_backend, tmp_path) as db:
        assert db.group_commit is not None
        for message in _VARIED:
            db.write_plan(messages.add_messages_plan(db.dialect_name, TENANT, "alone", [message]))
        works = [messages.add_messages_work(db.dialect_name, TENANT, "together", [m]) for m in _VARIED]

        groups = db.group_commit.groups
        _write_together(db, works)
        assert db.group_commit.groups - groups < len(_VARIED)  # some were written together
        assert _records(db, "together") == _records(db, "alone")
        assert [r[1] for r in _records(db, "alone")] == [m.content for m in _VARIED]


def test_appends_written_together_revive_a_deleted_session_with_only_the_new_messages(
    each_backend: str, tmp_path: Path
) -> None:
    with migrated(each_backend, tmp_path) as db:
        db.write_plan(_append(db, "gone", NewMessage(role="human", content="old")))
        db.write_plan(sessions.delete_session_plan(TENANT, "gone"))
        works = [_work(db, "gone", f"new {n}") for n in range(5)]

        _write_together(db, works)
        assert _stored(db, "gone") == [f"new {n}" for n in range(5)]
        with db.read() as conn:
            count = conn.execute(
                sa.select(sessions_table.c.message_count).where(sessions_table.c.session_id == "gone")
            ).scalar_one()
        assert count == 5


def test_appends_written_together_keep_each_tenants_session_apart(each_backend: str, tmp_path: Path) -> None:
    with migrated(each_backend, tmp_path) as db:
        other = tenants.create_tenant(db, "other").id
        works = [
            messages.add_messages_work(
                db.dialect_name, tenant, "same-id", [NewMessage(role="human", content=f"{tenant}:{n}")]
            )
            for n in range(6)
            for tenant in (TENANT, other)
        ]

        _write_together(db, works)
        for tenant in (TENANT, other):
            page = db.read_plan(messages.list_messages_plan(tenant, "same-id", limit=100, page=1))
            assert [m.content for m in page.messages] == [f"{tenant}:{n}" for n in range(6)]


def test_appends_written_together_find_sessions_whatever_their_ids_hold(
    each_backend: str, tmp_path: Path
) -> None:
    ids = ['quo"te', "back\\slash", "ünï 🧠 記憶", "tab\tand\x01", "50% off/%2F", "[0]"]
    with migrated(each_backend, tmp_path) as db:
        works = [_work(db, session_id, f"{n}") for n in range(3) for session_id in ids]

        _write_together(db, works)
        for session_id in ids:
            assert _stored(db, session_id) == ["0", "1", "2"]


def test_a_group_of_large_appends_is_written_in_parts_with_the_same_effect(
    each_backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Parts of about 30 characters: every session (of 8) a part of its own, or two or three together.
    monkeypatch.setattr(messages, "PART_CHARS", 30)
    parts: list[int] = []
    write_part = messages._write_part

    def counted(*args: Any) -> WritePlan[None]:
        parts.append(len(args[0]))  # sessions in the part
        return write_part(*args)

    monkeypatch.setattr(messages, "_write_part", counted)
    with migrated(each_backend, tmp_path) as db:
        assert db.group_commit is not None
        works = [_work(db, f"p-{n % 8}", f"message {n}") for n in range(96)]
        groups = db.group_commit.groups

        _write_together(db, works)
        assert db.group_commit.groups - groups < 96
        assert len(parts) > db.group_commit.groups - groups  # some group was cut
        for session in range(8):
            assert _stored(db, f"p-{session}") == [f"message {n}" for n in range(session, 96, 8)]
        covered = sorted((pk, seq) for pk, lo, hi in _jobs(db) for seq in range(lo, hi + 1))
        assert len(covered) == len(set(covered)) == 96


def _tag(item: str) -> WritePlan[None]:
    if item == "bad":
        yield statement(_boom_insert, m={"poisoned": True})  # written, then undone by the savepoint
        raise ValueError("this one fails")
    yield from messages.add_messages_plan("sqlite", TENANT, item, [NewMessage(role="human", content=item)])


def _tags_together(items: Sequence[str]) -> WritePlan[None]:
    for item in items:
        yield from _tag(item)


def test_a_failing_batch_is_made_again_one_by_one_and_only_the_bad_write_fails(
    each_backend: str, tmp_path: Path
) -> None:
    with migrated(each_backend, tmp_path) as db:
        assert db.group_commit is not None
        items = [f"t-{n}" for n in range(30)]
        items.insert(15, "bad")

        async def together() -> list[Any]:
            return await asyncio.gather(
                *(db.awrite(Batchable(item, _tag, _tags_together)) for item in items), return_exceptions=True
            )

        results = asyncio.run(together())
        assert isinstance(results[15], ValueError)
        assert [r for i, r in enumerate(results) if i != 15] == [None] * 30
        assert db.group_commit.groups < 31  # they did share groups, so the batch path was taken
        for item in items:
            if item != "bad":
                assert _stored(db, item) == [item]
        with db.read() as conn:
            metadata = conn.execute(sa.select(sessions_table.c.metadata)).scalars().all()
        assert all(not (m or {}).get("poisoned") for m in metadata)


# --- kill -9 under load ----------------------------------------------------------------------------------

CLIENTS = 32


@pytest.fixture(params=["sqlite", "postgres"])
def served_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    from tests.support import SELECTED_BACKENDS

    if request.param not in SELECTED_BACKENDS:
        pytest.skip(f"CHATMEM_TEST_BACKENDS leaves out {request.param}")
    with database_url(request.param, tmp_path) as url:
        yield url


def _start(url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "CHATMEM_DATABASE_URL": url,
        "CHATMEM_EMBEDDINGS": "off",
        "CHATMEM_PURGE_EVERY_MINUTES": "0",
    }
    process = subprocess.Popen(
        [CHATMEM, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        assert process.poll() is None, "chatmem serve exited"
        try:
            if httpx.get(f"{base}/healthz", timeout=1).text == ".":
                return process, base
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "chatmem serve did not answer"
        time.sleep(0.1)


def test_every_acknowledged_append_survives_kill_9_under_32_clients_once_and_in_order(
    served_url: str,
) -> None:
    process, base = _start(served_url)
    acknowledged: dict[int, list[str]] = {client: [] for client in range(CLIENTS)}
    stop = threading.Event()

    def client(number: int) -> None:
        with httpx.Client(base_url=f"{base}/api/v1", timeout=30) as api:
            turn = 0
            while not stop.is_set():
                content = f"client {number} turn {turn}"
                body = {"messages": [{"role": "human", "content": content}]}
                try:
                    response = api.post(f"/sessions/kill-{number}/memory", json=body)
                except httpx.TransportError:
                    return  # the server is gone: this append was never acknowledged
                if response.status_code == 200:
                    acknowledged[number].append(content)
                turn += 1

    threads = [threading.Thread(target=client, args=(number,)) for number in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 60
        while sum(map(len, acknowledged.values())) < 600 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        if process.poll() is None:
            process.kill()
    assert sum(map(len, acknowledged.values())) >= 600, "the load hardly ran"

    db = Database(served_url)
    try:
        for number, acked in acknowledged.items():
            stored = _stored(db, f"kill-{number}") if acked else []
            # Every acknowledged append is there, once, in the order it was acknowledged; at most the
            # one append in flight at the kill may be stored without having been acknowledged.
            assert stored[: len(acked)] == acked, number
            assert len(stored) - len(acked) <= 1, (number, stored[len(acked) :])
    finally:
        db.dispose()
