"""The durable queue: retries with backoff, the dead state, deleted data skipped, the purge, several
workers on one PostgreSQL queue, and a worker killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from chatmem.cli import main as cli
from chatmem.config import Settings
from chatmem.enrich.queue import Job
from chatmem.enrich.worker import Worker
from chatmem.memory.purge import purge
from chatmem.store import Database
from chatmem.store.tables import enrich_jobs, message_embeddings, summaries
from tests.enrich.conftest import FAST, rows, wait_for
from tests.enrich.fake_openai import FakeOpenAI
from tests.support import LiveServer, backends

Server = Callable[..., AbstractContextManager[LiveServer]]


def post(api: httpx.Client, sid: str, *contents: str) -> None:
    body = {"messages": [{"role": "human", "content": c} for c in contents]}
    assert api.post(f"/sessions/{sid}/memory", json=body).status_code == 200


def embedded(server: LiveServer) -> int:
    return len(rows(server.db, sa.select(message_embeddings.c.seq)))


def openai_settings(url: str, **extra: object) -> dict[str, object]:
    return {**FAST, "embeddings": "openai", "openai_base_url": url, **extra}


def test_a_failing_provider_is_retried_until_it_answers(
    fresh_server: Server, sid: str, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    fake, url = fake_openai
    fake.failures = 2
    with (
        fresh_server(**openai_settings(url)) as server,
        server.client("/api/v1", timeout=30) as api,
    ):
        post(api, sid, "hello")
        wait_for(lambda: embedded(server) == 1, what="the embedding after two failures")
        assert len(fake.calls("/embeddings")) == 3
        assert api.get("/enrichment/queue").json()["depth"] == 0


def test_a_job_that_keeps_failing_ends_dead_visible_in_api_and_cli_and_can_be_retried(
    fresh_server: Server, sid: str, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    fake, url = fake_openai
    fake.failures = -1
    with (
        fresh_server(**openai_settings(url, enrich_max_attempts=3)) as server,
        server.client("/api/v1", timeout=30) as api,
    ):
        post(api, sid, "hello")
        status = wait_for(lambda: (s := api.get("/enrichment/queue").json())["dead"] and s, what="dead")
        assert len(fake.calls("/embeddings")) == 3
        assert status["kinds"]["embed_messages"] == {"queued": 0, "running": 0, "dead": 1}
        [dead] = status["dead_jobs"]
        assert (dead["session_id"], dead["kind"], dead["attempts"]) == (sid, "embed_messages", 3)
        # The unauthenticated route names the error's type; its text (what the upstream said) is for
        # the operator's terminal only.
        assert dead["last_error"] == "OpenAIError"

        shown = CliRunner().invoke(cli, ["queue", "status", "--database-url", server.settings.database_url])
        assert shown.exit_code == 0, shown.output
        assert "dead 1" in shown.output and f"session={sid}" in shown.output
        assert "HTTP 500" in shown.output

        fake.failures = 0
        assert api.post("/enrichment/queue/retry-dead", json={}).json() == {"retried": 1}
        wait_for(lambda: embedded(server) == 1, what="the embedding after the retry")
        assert api.get("/enrichment/queue").json() == {
            "depth": 0,
            "dead": 0,
            "lag_seconds": 0.0,
            "kinds": {
                k: {"queued": 0, "running": 0, "dead": 0}
                for k in ("ingest", "embed_messages", "summarize", "embed_summary")
            },
            "dead_jobs": [],
        }


def test_jobs_of_deleted_messages_are_skipped(
    fresh_server: Server, sid: str, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    fake, url = fake_openai
    settings = openai_settings(url, summarizer="extractive", message_window=2, enrich_workers=0)
    with fresh_server(**settings) as server, server.client("/api/v1", timeout=30) as api:
        post(api, sid, "one", "two", "three")
        assert api.get("/enrichment/queue").json()["depth"] == 1  # queued with the append
        assert api.delete(f"/sessions/{sid}/memory").status_code == 200
        worker = Worker(server.db, server.settings)
        while worker.run_once():
            pass
        assert fake.requests == []
        assert rows(server.db, sa.select(summaries)) == []
        assert api.get("/enrichment/queue").json()["depth"] == 0


def test_the_purge_removes_summaries_embeddings_and_jobs_of_deleted_data(
    fresh_server: Server, sid: str, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    _fake, url = fake_openai
    settings = openai_settings(url, summarizer="extractive", message_window=2, enrich_workers=0)
    with fresh_server(**settings) as server:
        worker = Worker(server.db, server.settings)

        def count(table: sa.Table) -> int:
            return len(rows(server.db, sa.select(table.c.session_pk)))

        with server.client("/api/v1", timeout=30) as api:
            for session in (sid, f"{sid}-kept"):
                post(api, session, "one", "two", "three")
            while worker.run_once():
                pass
            assert (count(summaries), count(message_embeddings)) == (2, 6)
            api.delete(f"/sessions/{sid}/memory")
            post(api, sid, "revived")  # the session lives again; its old history stays deleted
        purge(server.db)
        assert (count(summaries), count(message_embeddings)) == (1, 3)
        assert count(enrich_jobs) == 1  # the revival's ingest job is live work and stays
        while worker.run_once():
            pass
        assert (count(summaries), count(message_embeddings)) == (1, 4)


@pytest.mark.parametrize("backend", backends("postgres"), indirect=True)
def test_two_workers_share_one_postgres_queue_without_double_work(
    fresh_server: Server, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    _fake, url = fake_openai
    settings = openai_settings(
        url, enrich_workers=0, enrich_batch_size=3, summarizer="extractive", message_window=2
    )
    with fresh_server(**settings) as server, server.client("/api/v1", timeout=30) as api:
        for i in range(30):
            post(api, f"s-{uuid.uuid4().hex}-{i % 10}", "a", "b", "c")
        done: list[tuple[str, uuid.UUID]] = []
        lock = threading.Lock()

        def observe(job: Job, outcome: str) -> None:
            with lock:
                done.append((outcome, job.id))

        dbs = [Database(server.settings.database_url) for _ in range(2)]
        stop = threading.Event()
        workers = [Worker(db, server.settings, observer=observe) for db in dbs]
        threads = [threading.Thread(target=w.run, args=(stop,)) for w in workers]
        for thread in threads:
            thread.start()
        try:
            wait_for(lambda: not rows(server.db, sa.select(enrich_jobs.c.id)), what="an empty queue")
        finally:
            stop.set()
            for thread in threads:
                thread.join()
            for db in dbs:
                db.dispose()
        assert len(rows(server.db, sa.select(message_embeddings.c.seq))) == 90
    ids = [job_id for outcome, job_id in done]
    assert {outcome for outcome, _ in done} == {"done"}
    assert len(ids) == len(set(ids))  # no job ran twice
    # 30 ingest jobs fanned out into 30 embedding and 30 summary jobs, each summary into its embedding.
    assert len(ids) == 30 + 30 + 30 + 30


def test_a_worker_killed_with_sigkill_loses_no_job(
    fresh_server: Server, sid: str, fake_openai: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    fake, url = fake_openai
    with (
        fresh_server(**openai_settings(url, enrich_workers=0)) as server,
        server.client("/api/v1", timeout=30) as api,
    ):
        post(api, sid, "survive me")
        env = {
            **os.environ,
            "CHATMEM_DATABASE_URL": server.settings.database_url,
            "CHATMEM_EMBEDDINGS": "openai",
            "CHATMEM_OPENAI_BASE_URL": url,
            "CHATMEM_SUMMARIZER": "off",
            "CHATMEM_ENRICH_POLL_SECONDS": "0.05",
            "CHATMEM_ENRICH_LEASE_SECONDS": "2",
        }
        command = [sys.executable, "-m", "chatmem.cli", "worker", "--threads", "1"]
        fake.flowing.clear()  # the provider hangs: the first worker holds the job when it dies
        first = subprocess.Popen(
            command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            wait_for(lambda: fake.calls("/embeddings"), what="the first worker to call the provider")
            running = rows(server.db, sa.select(enrich_jobs.c.state))
            assert [r["state"] for r in running] == ["running"]
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        assert first.returncode == -signal.SIGKILL
        fake.flowing.set()
        second = subprocess.Popen(
            command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            wait_for(lambda: embedded(server) == 1, what="the second worker to finish the job")
            wait_for(lambda: not rows(server.db, sa.select(enrich_jobs.c.id)), what="an empty queue")
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)
        assert second.returncode == 0, second.stderr.read() if second.stderr else ""


def test_settings_default_to_offline_enrichment_for_real_users() -> None:
    settings = Settings(database_url="sqlite:///unused.db")
    assert settings.enrich_workers >= 1 and settings.token_counts
    assert (settings.embeddings, settings.summarizer) == ("auto", "extractive")
