"""Server time of every admin page: ``python -m bench.admin_pages --db postgres --sessions 1000000``

A fresh database is filled with the benchmark loader (``bench/loader.py``, chitchat conversations of 2-4
turns per session: the issue names a session count, not a length), 10,000 users owning the newest 20,000
sessions, 1% of the sessions soft-deleted, one session of 10,000 messages with a summary every 125
messages, and 5,000 ingest jobs queued over the sessions, 20 of them dead. The whole ASGI app (auth on,
signed in with an admin key, as a browser would be) is called in-process through httpx's ASGI
transport, one request at a time: no network, no load generator competing for the cores. Each page is
requested ``--requests`` times after a warm-up; the figures are the median and p95 wall time and the
median CPU time of this process per request. The baseline, measured in the same run the same way, is
the API's hot read: GET memory of the long session with a bearer key.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bench.corpus import conversation, session_of_length
from bench.dbs import fresh_database
from bench.loader import ChatmemLoader, SessionSpec
from bench.stats import percentile
from chatmem.access import keys
from chatmem.access.roles import Role
from chatmem.config import Settings
from chatmem.server import create_app
from chatmem.store import Database, migrated_database
from chatmem.store.jobs import Kind, State, job_row
from chatmem.store.tables import DEFAULT_TENANT_ID, enrich_jobs, messages, sessions, summaries, users

LONG = "bench-long-session"
USERS = 10_000
OWNED = 20_000
LONG_LENGTH = 10_000
SUMMARY_EVERY = 125
QUEUED_JOBS = 5_000
DEAD_JOBS = 20


def _background(start: int, stop: int) -> Iterator[SessionSpec]:
    for index in range(start, stop):
        yield f"bench-{index:07d}", conversation(index, min_len=2, max_len=4)


def populate(db: Database, session_count: int, log: Callable[[str], None]) -> None:
    loader = ChatmemLoader(db)
    step = max(1, session_count // 10)
    for start in range(0, session_count, step):
        loader.load(_background(start, min(session_count, start + step)), rows_per_batch=50_000)
        log(f"loaded {min(session_count, start + step):,} sessions ({loader.rows_loaded:,} messages)")
    loader.load([(LONG, session_of_length(0, LONG_LENGTH))])
    now = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    with db.write() as conn:
        conn.execute(
            sa.insert(users),
            [
                {
                    "tenant_id": DEFAULT_TENANT_ID,
                    "user_id": f"user-{index}",
                    "uuid": uuid.uuid4(),
                    "email": f"user{index}@example.org",
                    "first_name": "Bench",
                    "last_name": f"User{index}",
                    "metadata": {"plan": "free"},
                    "created_at": now,
                    "updated_at": now,
                }
                for index in range(USERS)
            ],
        )
        top = int(conn.execute(sa.select(sa.func.max(sessions.c.id))).scalar_one())
        conn.execute(
            sa.update(sessions)
            .where(sessions.c.id > top - OWNED)
            .values(user_id=sa.literal("user-") + sa.cast(sessions.c.id % USERS, sa.Text))
        )
        conn.execute(
            sa.update(sessions)
            .where(sessions.c.id % 100 == 7, sessions.c.session_id != LONG)
            .values(deleted_at=now, floor_seq=sessions.c.last_seq, message_count=0)
        )
        long_pk = int(
            conn.execute(sa.select(sessions.c.id).where(sessions.c.session_id == LONG)).scalar_one()
        )
        points = conn.execute(
            sa.select(messages.c.seq, messages.c.uuid).where(
                messages.c.session_pk == long_pk, messages.c.seq % SUMMARY_EVERY == 0
            )
        ).all()
        conn.execute(
            sa.insert(summaries),
            [
                {
                    "session_pk": long_pk,
                    "point_seq": seq,
                    "uuid": uuid.uuid4(),
                    "recent_message_uuid": message_uuid,
                    "content": f"Summary of the conversation up to message {seq}.",
                    "token_count": 12,
                    "metadata": None,
                    "created_at": now,
                }
                for seq, message_uuid in points
            ],
        )
        # A queue with work in it: queued jobs spread over the sessions and a few dead ones.
        step_pk = max(1, top // QUEUED_JOBS)
        jobs = [job_row(DEFAULT_TENANT_ID, pk, Kind.INGEST, 1, 2, now) for pk in range(1, top + 1, step_pk)][
            :QUEUED_JOBS
        ]
        for job in jobs:
            job["last_error"] = None
        for job in jobs[:DEAD_JOBS]:
            job.update(state=State.DEAD.value, attempts=5, last_error="ProviderError: the model timed out")
        conn.execute(sa.insert(enrich_jobs), jobs)
    with db.write() as conn:
        conn.exec_driver_sql("ANALYZE")


async def measure(app: Any, pages: dict[str, str], key: str, requests: int) -> dict[str, tuple[float, ...]]:
    transport = httpx.ASGITransport(app=app)
    results: dict[str, tuple[float, ...]] = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", timeout=120) as client:
        form = (await client.get("/admin/sign-in")).text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf is not None
        signed = await client.post(
            "/admin/sign-in", data={"csrf": csrf.group(1), "key": key, "next": "/admin"}
        )
        assert signed.status_code == 303, signed.text
        bearer = {"Authorization": f"Bearer {key}"}
        for name, path in pages.items():
            headers = bearer if path.startswith("/api/") else {}
            for _ in range(3):
                response = await client.get(path, headers=headers)
                assert response.status_code == 200, (name, response.status_code, response.text[:500])
            walls: list[float] = []
            cpus: list[float] = []
            for _ in range(requests):
                cpu, wall = time.process_time(), time.perf_counter()
                response = await client.get(path, headers=headers)
                walls.append((time.perf_counter() - wall) * 1000)
                cpus.append((time.process_time() - cpu) * 1000)
                assert response.status_code == 200, (name, response.status_code)
            walls.sort()
            results[name] = (statistics.median(walls), percentile(walls, 0.95), statistics.median(cpus))
    return results


def pages(db: Database) -> dict[str, str]:
    with db.read() as conn:
        long_pk = int(
            conn.execute(sa.select(sessions.c.id).where(sessions.c.session_id == LONG)).scalar_one()
        )
        middle = int(conn.execute(sa.select(sa.func.max(sessions.c.id))).scalar_one()) // 2
        at = conn.execute(
            sa.select(messages.c.uuid).where(messages.c.session_pk == long_pk, messages.c.seq == 7_000)
        ).scalar_one()
        word = conn.execute(
            sa.select(messages.c.content).where(messages.c.session_pk == long_pk, messages.c.seq == 4_321)
        ).scalar_one()
    term = max(re.findall(r"[A-Za-z]{4,}", word) or ["hello"], key=len)
    return {
        "baseline: API GET memory": f"/api/v1/sessions/{LONG}/memory",
        "dashboard": "/admin",
        "users": "/admin/users",
        "users, filtered": "/admin/users?q=user-4242",
        "user page": "/admin/user?id=user-42",
        "sessions (live)": "/admin/sessions",
        "sessions (deleted)": "/admin/sessions?state=deleted",
        "sessions (all)": "/admin/sessions?state=all",
        "sessions, deep page": f"/admin/sessions?before={middle}",
        "sessions of a user": "/admin/sessions?user=user-42",
        "sessions, id prefix (1 match)": "/admin/sessions?prefix=bench-long",
        "sessions, id prefix (1M matches)": "/admin/sessions?prefix=bench-",
        "chat: first page": f"/admin/session?id={LONG}",
        "chat: middle page": f"/admin/session?id={LONG}&after=5000",
        "chat: newest page": f"/admin/session?id={LONG}&before=0",
        "chat: at a message": f"/admin/session?id={LONG}&message={at}",
        "search (text) in the long session": f"/admin/search?session={LONG}&text={term}&type=text",
        "queue": "/admin/queue",
        "settings": "/admin/settings",
        "keys": "/admin/keys",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.admin_pages", description=__doc__)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args(argv)
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:7.1f}s] {message}", file=sys.stderr, flush=True)

    with (
        tempfile.TemporaryDirectory() as work,
        fresh_database(args.db, Path(work)) as url,
        migrated_database(url) as db,
    ):
        populate(db, args.sessions, log)
        key = keys.create_key(db, "default", Role.ADMIN, "bench").key
        log(f"loaded in {time.monotonic() - started:.0f} s; measuring")
        settings = Settings(
            database_url=url, auth="on", embeddings="off", enrich_workers=0, purge_every_minutes=0
        )
        app = create_app(settings, db)
        found = asyncio.run(measure(app, pages(db), key, args.requests))
    load = os.getloadavg()
    print(
        f"\n{args.db}, {args.sessions:,} sessions + one of {LONG_LENGTH:,} messages, "
        f"{args.requests} requests per page, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}\n"
    )
    baseline = found["baseline: API GET memory"][0]
    print("| page | median ms | p95 ms | CPU ms | median / baseline |")
    print("|---|---:|---:|---:|---:|")
    for name, (median, p95, cpu) in found.items():
        print(f"| {name} | {median:.1f} | {p95:.1f} | {cpu:.1f} | {median / baseline:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
