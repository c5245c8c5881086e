"""The request histogram, folded in batches (chatmem.server.request_metrics), holds exactly what one
``observe`` per request would have: the same count in every bucket, the same count, the same sum."""

from __future__ import annotations

import asyncio
import random

import pytest
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.samples import Sample

from chatmem.base.metrics import REQUEST_SECONDS
from chatmem.server import request_metrics
from chatmem.server.request_metrics import RequestMetrics

LABELS = ["route", "method", "status"]


def histograms() -> tuple[Histogram, Histogram]:
    """Two histograms like the request histogram, each in a registry of its own."""
    bounds = REQUEST_SECONDS._upper_bounds[:-1]  # without +Inf, which Histogram adds
    return tuple(  # type: ignore[return-value]
        Histogram("requests", "", LABELS, buckets=bounds, registry=CollectorRegistry()) for _ in range(2)
    )


def samples(histogram: Histogram) -> list[Sample]:
    return sorted(
        (s for family in histogram.collect() for s in family.samples if not s.name.endswith("_created")),
        key=lambda s: (s.name, sorted(s.labels.items())),
    )


def durations(count: int) -> list[float]:
    rng = random.Random(14)
    bounds = REQUEST_SECONDS._upper_bounds[:-1]
    values = [rng.lognormvariate(-7, 2) for _ in range(count)]
    # Each bound itself (it belongs in its own bucket), and just above it (in the next).
    values += bounds + [b * (1 + 1e-12) for b in bounds] + [0.0, 100.0]
    rng.shuffle(values)
    return values


def test_folding_in_batches_equals_one_observe_per_request() -> None:
    folded_into, observed = histograms()
    metrics = RequestMetrics(folded_into)
    keys = [("/a/{id}", "GET", 200), ("/a/{id}", "GET", 404), ("unmatched", "POST", 500)]
    rng = random.Random(11)
    for number, seconds in enumerate(durations(5000)):
        route, method, status = rng.choice(keys)
        metrics.pending.append((route, method, status, seconds))
        observed.labels(route, method, str(status)).observe(seconds)
        if number % 777 == 0:  # folds of many sizes, onto sums that are not zero
            metrics.fold()
    metrics.fold()
    assert metrics.pending == []
    got, want = samples(folded_into), samples(observed)
    assert [(s.name, s.labels) for s in got] == [(s.name, s.labels) for s in want]
    for mine, theirs in zip(got, want, strict=True):
        assert mine.value == theirs.value, mine  # exactly: the sums too, bit for bit
    assert sum(s.value for s in got if s.name == "requests_count") == 5000 + 2 * 15 + 2


def test_observations_are_folded_a_while_after_the_first_of_a_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    folded_into, _ = histograms()
    metrics = RequestMetrics(folded_into)
    monkeypatch.setattr(request_metrics, "FOLD_SECONDS", 0.05)

    async def run() -> None:
        metrics.observe("/r", "GET", 200, 0.001)
        metrics.observe("/r", "GET", 200, 0.002)
        assert metrics.scheduled and len(metrics.pending) == 2
        await asyncio.sleep(0.2)

    asyncio.run(run())
    assert metrics.pending == [] and not metrics.scheduled
    count = [s.value for s in samples(folded_into) if s.name == "requests_count"]
    assert count == [2.0]


def test_observations_are_folded_when_many_are_pending() -> None:
    folded_into, _ = histograms()
    metrics = RequestMetrics(folded_into)

    async def run() -> None:
        for _ in range(request_metrics.FOLD_RECORDS - 1):
            metrics.observe("/r", "GET", 200, 0.001)
        assert len(metrics.pending) == request_metrics.FOLD_RECORDS - 1
        metrics.observe("/r", "GET", 200, 0.001)
        assert metrics.pending == [] and metrics.scheduled  # the timer stays, for what comes next
        metrics.close()  # as the server does at shutdown
        assert not metrics.scheduled

    asyncio.run(run())
    count = [s.value for s in samples(folded_into) if s.name == "requests_count"]
    assert count == [request_metrics.FOLD_RECORDS]


def test_without_an_event_loop_an_observation_is_folded_at_once() -> None:
    folded_into, _ = histograms()
    metrics = RequestMetrics(folded_into)
    metrics.observe("/r", "GET", 200, 0.001)
    assert metrics.pending == []
    assert [s.value for s in samples(folded_into) if s.name == "requests_sum"] == [0.001]
