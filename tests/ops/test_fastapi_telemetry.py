"""FastAPI's own OpenTelemetry instrumentation is on only where OpenTelemetry is configured: otherwise every
request would ask OpenTelemetry's global providers whether anyone listens (server/app.py)."""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest

from tests.support import LiveServer

# FastAPI's native telemetry (0.165 on) brings OpenTelemetry's API with it.
trace = pytest.importorskip("opentelemetry.trace")

Server = Callable[..., AbstractContextManager[LiveServer]]


def _asks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = trace.get_tracer_provider

    def counted() -> Any:
        calls.append(1)
        return real()

    monkeypatch.setattr(trace, "get_tracer_provider", counted)
    return calls


def test_without_opentelemetry_configured_requests_do_not_consult_it(
    fresh_server: Server, sid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [key for key in os.environ if key.startswith("OTEL_")]:
        monkeypatch.delenv(key)
    calls = _asks(monkeypatch)
    with fresh_server(enrich_workers=0) as server, server.client("/api/v1") as api:
        body = {"messages": [{"role": "human", "content": "hello"}]}
        assert api.post(f"/sessions/{sid}/memory", json=body).status_code == 200
        assert api.get(f"/sessions/{sid}/memory").status_code == 200
    assert calls == []


def test_with_opentelemetry_configured_fastapi_instruments_requests(
    fresh_server: Server, sid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "chatmem-test")
    calls = _asks(monkeypatch)
    with fresh_server(enrich_workers=0) as server, server.client("/api/v1") as api:
        assert api.get(f"/sessions/{sid}/memory").status_code == 200
    assert calls, "FastAPI's telemetry should look for a tracer provider"
