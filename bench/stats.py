"""Measurements: what one bounded run of one operation against one target produced."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


@dataclass(slots=True)
class Measurement:
    """Latencies in milliseconds; CPU in milliseconds per request (None where not measured)."""

    target: str
    op: str
    concurrency: int
    requests: int
    errors: int
    wall_s: float
    throughput: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    server_cpu_ms: float | None = None
    client_cpu_ms: float | None = None
    client_cpu_share: float | None = None
    first_error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Measurement:
        return cls(**data)


def summarize(
    target: str,
    op: str,
    concurrency: int,
    latencies_s: list[float],
    wall_s: float,
    errors: int,
    *,
    server_cpu_s: float | None = None,
    client_cpu_s: float | None = None,
    first_error: str | None = None,
) -> Measurement:
    ms = sorted(value * 1000 for value in latencies_s)
    count = len(ms)

    def per_request(cpu_s: float | None) -> float | None:
        return None if cpu_s is None or not count else cpu_s * 1000 / count

    return Measurement(
        target=target,
        op=op,
        concurrency=concurrency,
        requests=count,
        errors=errors,
        wall_s=round(wall_s, 4),
        throughput=count / wall_s if wall_s > 0 else 0.0,
        p50_ms=percentile(ms, 0.50),
        p90_ms=percentile(ms, 0.90),
        p99_ms=percentile(ms, 0.99),
        mean_ms=sum(ms) / count if count else 0.0,
        server_cpu_ms=per_request(server_cpu_s),
        client_cpu_ms=per_request(client_cpu_s),
        client_cpu_share=None if client_cpu_s is None or wall_s <= 0 else client_cpu_s / wall_s,
        first_error=first_error,
    )
