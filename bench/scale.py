"""How big a run is: the full scale of the issue, or a quick one that finishes in minutes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Scale:
    name: str
    # Background population, grown step by step: get-memory latency is measured at each step.
    session_counts: tuple[int, ...]
    # Messages per background session: a chitchat conversation, cut to this range.
    background_min: int
    background_max: int
    # Probe sessions: get-memory latency against session length (the peers are measured here too).
    session_lengths: tuple[int, ...]
    probes_per_length: int
    # The main table: operations run on probe sessions of this length.
    main_length: int
    concurrency: int
    concurrency_sweep: tuple[int, ...]
    # Bounds of one measurement (whichever comes first), and the latency-only measurements.
    max_requests: int
    max_seconds: float
    latency_requests: int
    warmup_requests: int
    page_size: int = 100
    lastn: int = 10
    message_page: int = 50


QUICK = Scale(
    name="quick",
    session_counts=(1_000, 10_000),
    background_min=10,
    background_max=20,
    session_lengths=(10, 100, 1_000, 10_000),
    probes_per_length=3,
    main_length=100,
    concurrency=8,
    concurrency_sweep=(1, 4, 16),
    max_requests=1_500,
    max_seconds=3.0,
    latency_requests=150,
    warmup_requests=50,
)

FULL = Scale(
    name="full",
    session_counts=(1_000, 10_000, 100_000, 1_000_000),
    background_min=10,
    background_max=20,
    session_lengths=(10, 100, 1_000, 10_000),
    probes_per_length=5,
    main_length=100,
    concurrency=8,
    concurrency_sweep=(1, 2, 4, 8, 16, 32, 64),
    # Loading 1M sessions (15M messages) into chatmem and the peers takes most of an hour on the
    # 2-core machine; 6 s per measurement keeps the whole run near that, with thousands of samples each.
    max_requests=10_000,
    max_seconds=6.0,
    latency_requests=500,
    warmup_requests=200,
)

SCALES = {scale.name: scale for scale in (QUICK, FULL)}
