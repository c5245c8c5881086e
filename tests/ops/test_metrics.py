"""GET /metrics: counters and histograms move as requests, jobs and purges happen; one view whichever
server process answers; no label carries an id or text."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from chatmem.access import keys
from chatmem.access.roles import Role
from chatmem.config import Settings
from chatmem.memory.messages import add_messages_plan
from chatmem.memory.records import NewMessage
from chatmem.server import create_app
from chatmem.store.tables import DEFAULT_TENANT_ID
from tests.compat.process import ChatmemProcess, chatmem_command
from tests.ops.scrape import Sample, scrape, total, wait_for_metric
from tests.support import LiveServer, database_url, free_port, migrated

MEMORY = "/api/v1/sessions/{session_id}/memory"
REQUESTS = "chatmem_http_request_duration_seconds_count"


def append(url: str, session_id: str, content: str) -> None:
    # A new connection per request: with several server processes, any of them may take it.
    response = httpx.post(
        f"{url}/api/v1/sessions/{session_id}/memory",
        json={"messages": [{"role": "user", "content": content}]},
        timeout=30,
    )
    assert response.status_code == 200, response.text


def assert_no_data_in_labels(samples: list[Sample], *secrets: str) -> None:
    values = {value for s in samples for value in s.labels.values()}
    leaked = [value for value in values if any(secret in value for secret in secrets)]
    assert leaked == []


@pytest.mark.parametrize("workers", [1, 2])
def test_every_server_process_reports_the_same_counts(backend: str, tmp_path: Path, workers: int) -> None:
    env = {
        "CHATMEM_WORKERS": str(workers),
        "CHATMEM_ENRICH_WORKERS": "1",
        "CHATMEM_ENRICH_POLL_SECONDS": "0.05",
        "CHATMEM_EMBEDDINGS": "off",
        "CHATMEM_PURGE_EVERY_MINUTES": "0.005",
    }
    appends = 12
    with database_url(backend, tmp_path) as url, ChatmemProcess(url, tmp_path, env) as server:
        # /healthz answers as soon as one process listens; the others may still be starting.
        wait_for_metric(
            server.url,
            lambda samples: total(samples, "chatmem_server_processes") == workers,
            what="every server process",
        )
        for i in range(appends):
            append(server.url, f"metrics-session-{i % 3}", f"private words {i}")
        assert httpx.get(f"{server.url}/api/v1/sessions/metrics-session-0/memory").status_code == 200
        assert httpx.get(f"{server.url}/api/v1/sessions/metrics-session-0").status_code == 200
        wait_for_metric(
            server.url,
            lambda samples: (
                total(samples, "chatmem_enrich_jobs_total", kind="ingest", outcome="done") >= appends
            ),
            what="the ingest jobs",
        )
        assert httpx.delete(f"{server.url}/api/v1/sessions/metrics-session-2/memory").status_code == 200
        samples = wait_for_metric(
            server.url,
            lambda samples: total(samples, "chatmem_purge_removed_total", what="sessions") >= 1,
            what="the purge",
        )
        assert total(samples, "chatmem_enrich_jobs_total", kind="ingest", outcome="done") == appends
        assert total(samples, "chatmem_server_processes") == workers
        assert total(samples, "chatmem_purge_runs_total", outcome="ok") >= 1
        assert total(samples, "chatmem_purge_removed_total", what="messages") == appends // 3
        assert total(samples, "chatmem_enrich_run_duration_seconds_count", kind="ingest") >= 1
        assert total(samples, "chatmem_enrich_queue_depth") == 0
        assert total(samples, "chatmem_enrich_dead_jobs") == 0
        assert total(samples, "process_resident_memory_bytes") > 0
        assert total(samples, "chatmem_db_pool_max_connections") > 0

        def request_counts(samples: list[Sample]) -> tuple[float, ...]:
            return (
                total(samples, REQUESTS, route=MEMORY, method="POST", status="200"),
                total(samples, REQUESTS, route=MEMORY, method="GET", status="200"),
                total(samples, REQUESTS, route=MEMORY, method="DELETE", status="200"),
                total(samples, REQUESTS, route="/api/v1/sessions/{session_id}", method="GET"),
            )

        # Each process folds its requests into the histogram within a second (and before a scrape it
        # answers itself); once all have, whichever process answers a scrape, the counts are the same.
        expected = (appends, 1, 1, 1)
        wait_for_metric(
            server.url, lambda samples: request_counts(samples) == expected, what="every request counted"
        )
        for _ in range(4):
            samples = scrape(server.url)
            assert request_counts(samples) == expected
        histogram = [
            s
            for s in samples
            if s.name == "chatmem_http_request_duration_seconds_bucket" and s.labels["route"] == MEMORY
        ]
        assert max(s.value for s in histogram if s.labels["method"] == "POST") == appends  # le="+Inf"
        assert_no_data_in_labels(samples, "metrics-session", "private words")


def test_requests_the_app_refuses_are_counted_under_their_route(
    fresh_server: Callable[..., AbstractContextManager[LiveServer]], sid: str
) -> None:
    with fresh_server() as server:
        before = scrape(server.url)
        refused = httpx.post(
            f"{server.url}/api/v1/sessions/{sid}/memory",
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        )
        assert refused.status_code == 400
        assert httpx.get(f"{server.url}/api/v1/sessions/{sid}").status_code == 404
        assert httpx.get(f"{server.url}/no/such/{sid}").status_code == 404
        wrong_method = httpx.put(f"{server.url}/api/v1/sessions", json={})
        assert wrong_method.status_code == 405
        after = scrape(server.url)

        def moved(**labels: str) -> float:
            return total(after, REQUESTS, **labels) - total(before, REQUESTS, **labels)

        assert moved(route=MEMORY, method="POST", status="400") == 1
        assert moved(route="/api/v1/sessions/{session_id}", method="GET", status="404") == 1
        assert moved(route="unmatched", method="GET", status="404") == 1
        assert moved(route="/api/v1/sessions", method="PUT", status="405") == 1
        assert_no_data_in_labels(after, sid)


def test_metrics_can_be_switched_off(fresh_server: Callable[..., AbstractContextManager[LiveServer]]) -> None:
    with fresh_server(metrics=False) as server:
        assert httpx.get(f"{server.url}/metrics").status_code == 404


def test_with_auth_on_metrics_need_an_admin_key_unless_they_are_public(tmp_path: Path) -> None:
    with migrated("sqlite", tmp_path) as db:
        admin = keys.create_key(db, "default", Role.ADMIN).key
        reader = keys.create_key(db, "default", Role.READER).key
        for public, anonymous, as_reader in ((False, 401, 403), (True, 200, 200)):
            app = create_app(Settings(auth="on", metrics_public=public, allowed_hosts="*"), db)
            client = TestClient(app)
            assert client.get("/metrics").status_code == anonymous
            assert (
                client.get("/metrics", headers={"Authorization": f"Bearer {reader}"}).status_code == as_reader
            )
            answer = client.get("/metrics", headers={"Authorization": f"Bearer {admin}"})
            assert answer.status_code == 200 and "chatmem_http_request_duration_seconds" in answer.text


def test_a_separate_worker_serves_its_own_metrics_and_stops_on_sigterm(backend: str, tmp_path: Path) -> None:
    port = free_port()
    with migrated(backend, tmp_path) as db:
        db.write_plan(
            add_messages_plan(
                db.dialect_name,
                DEFAULT_TENANT_ID,
                "worker-session",
                [NewMessage(role="user", content="private words")],
            )
        )
        url = db.url.render_as_string(hide_password=False)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHATMEM_")} | {
            "CHATMEM_DATA_DIR": str(tmp_path),
            "CHATMEM_EMBEDDINGS": "off",
            "CHATMEM_SUMMARIZER": "off",
            "CHATMEM_ENRICH_POLL_SECONDS": "0.05",
        }
        command = [str(chatmem_command()), "worker", "--database-url", url, "--metrics-port", str(port)]
        worker = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            metrics_url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    samples = scrape(metrics_url)
                except httpx.TransportError:
                    samples = []
                if total(samples, "chatmem_enrich_jobs_total", kind="ingest", outcome="done") >= 1:
                    break
                assert worker.poll() is None and time.monotonic() < deadline, (
                    "the worker did not report the job"
                )
                time.sleep(0.1)
            assert total(samples, "chatmem_enrich_run_duration_seconds_count", kind="ingest") >= 1
            assert total(samples, "process_cpu_seconds_total") > 0
            assert_no_data_in_labels(samples, "worker-session", "private words")
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=60) == 0
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
