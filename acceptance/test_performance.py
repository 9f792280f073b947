"""Latency percentiles per batch size and throughput with 1 and 4 threads."""

from __future__ import annotations

import pytest

from acceptance.workload import measure_latency, measure_throughput

LATENCY_BATCHES = (1, 8, 32)


@pytest.mark.latency
@pytest.mark.slow
@pytest.mark.parametrize(
    "batch_size",
    [pytest.param(b, marks=pytest.mark.criterion(f"latency.p95_ms.batch_{b}"), id=f"batch_{b}") for b in LATENCY_BATCHES],
)
def test_latency_p95(embedder, profile, criterion, batch_size):
    min_samples = profile.setting("min_samples")
    cell, _ = measure_latency(
        embedder, batch_size=batch_size, text_tokens=profile.setting("latency_text_tokens"),
        samples=min_samples["p95"], warmup=profile.setting("warmup_queries"),
        min_duration_s=profile.setting("min_duration_s"), min_samples=min_samples,
    )
    assert cell.valid_p95, f"INVALID: {cell.samples} samples, a P95 needs {min_samples['p95']}"
    criterion.check(cell.p95_ms, **cell.as_dict())


@pytest.mark.throughput
@pytest.mark.slow
@pytest.mark.parametrize(
    "threads",
    [pytest.param(t, marks=pytest.mark.criterion(f"throughput.qps.threads_{t}"), id=f"threads_{t}") for t in (1, 4)],
)
def test_throughput(embedder, profile, criterion, threads):
    qps = measure_throughput(
        embedder, threads=threads, duration_s=profile.setting("throughput_duration_s"),
        text_tokens=profile.setting("latency_text_tokens"),
    )
    criterion.check(qps, threads=threads)
