"""Reading ``GET /metrics`` in tests: the Prometheus text parser of prometheus-client."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def scrape(url: str, **kwargs: object) -> list[Sample]:
    """One scrape, on a fresh connection (so that with several server processes any may answer)."""
    response = httpx.get(f"{url}/metrics", timeout=30, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return [
        Sample(s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    ]


def total(samples: list[Sample], name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels``."""
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


def wait_for_metric(
    url: str, check: Callable[[list[Sample]], bool], *, timeout: float = 60, what: str = "metric"
) -> list[Sample]:
    """Scrape until ``check`` holds (the timeout only ends a hang; no timing is asserted)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(url)
        if check(samples):
            return samples
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
