"""Latency percentiles per batch size and text length, and throughput with 1 and 4 threads.

The whole grid (batch sizes x text lengths from the profile) is measured once per module; the
criterion cells (the PRD's batch sizes at the profile's query length) always get the samples a P95
needs, the other cells are informational and may stop early with their P95 flagged INVALID.
Under pytest-xdist the performance tests stay on one worker (xdist_group) so they don't share cores
with each other; use --dist loadgroup.
"""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import allure
import numpy as np
import pytest

from acceptance.allure_report import attach_file
from acceptance.contention import BusyLimits, Quiet, measure_when_quiet
from acceptance.report import plots
from acceptance.report.vocabulary import INVALID_MEASUREMENT
from acceptance.workload import measure_latency, measure_throughput
from modelprep.precision import SPEED_ONLY_ON_TENSORRT

CRITERION_BATCHES = (1, 8, 32)
pytestmark = [pytest.mark.xdist_group("performance"), pytest.mark.slow]


@pytest.fixture(autouse=True)
def _a_speed_this_machine_can_measure(manifest, session_config):
    """A precision whose speed only TensorRT gives (FP8: simulated on a CPU) is not timed elsewhere: skipped
    with that reason, which counts as not met."""
    why = SPEED_ONLY_ON_TENSORRT.get(manifest.precision)
    if why and session_config.providers[0] != "tensorrt":
        pytest.skip(why)


@pytest.fixture(autouse=True)
def _alone_on_the_machine(pytestconfig):
    # Another xdist worker computing on the same cores would inflate every figure (pytest-benchmark
    # disables itself under xdist for the same reason). Skipped here counts as not met. (This run's
    # own workers, not an environment variable a parent pytest may have left behind.)
    workers = int(getattr(pytestconfig, "workerinput", {}).get("workercount", 1))
    if workers > 1:
        pytest.skip(f"timings under pytest-xdist ({workers} workers) share the cores with other tests; "
                    "run the latency/throughput slice without -n")


@pytest.fixture(scope="module")
def latency_grid(embedder, profile, reports_dir, run_dir, progress) -> dict[tuple[int, int], Quiet]:
    """Every cell measured when the machine is quiet (re-measured while others use the cores): the
    value of each Quiet is its LatencyCell, with the contention figures inside."""
    query_tokens = profile.setting("latency_text_tokens")
    with progress.phase("latency grid") as phase:
        cells, raw_rows = _measure_grid(embedder, profile, phase)
    reports = reports_dir
    with open(reports / "latency_raw.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["batch_size", "text_tokens", "sample", "latency_ms"])
        writer.writerows(raw_rows)
    grid = [q.value.as_dict() for q in cells.values()]
    (run_dir / "latency-grid.json").write_text(json.dumps(grid))
    bounds = {int(c.id.rsplit("_", 1)[1]): c.target for c in profile.criteria.values()
              if c.id.startswith("latency.p95_ms.batch_")}
    plots.latency_vs_batch(grid, bounds, query_tokens, embedder.manifest.id, reports / "plots")
    plots.latency_vs_length(grid, embedder.manifest.id, reports / "plots")
    return cells


def _measure_cell(embedder, profile, phase, limits: BusyLimits, batch_size: int, tokens: int,
                  criterion_cell: bool) -> Quiet:
    """One cell, measured when the machine is quiet; its value is (LatencyCell, samples)."""
    min_samples = profile.setting("min_samples")

    def shown(samples: list[float]) -> None:
        if len(samples) % 10 == 0:
            phase.update(f"batch {batch_size} x {tokens} tokens: {len(samples)}/{min_samples['p95']} samples, "
                         f"p95 so far {np.percentile(samples, 95):.1f} ms")

    with allure.step(f"measure batch {batch_size} x {tokens} tokens (warm-up excluded)"):
        return measure_when_quiet(lambda: measure_latency(
            embedder, batch_size=batch_size, text_tokens=tokens, min_samples=min_samples,
            warmup=profile.setting("warmup_queries" if criterion_cell else "grid_warmup_queries"),
            min_duration_s=profile.setting("min_duration_s"),
            max_duration_s=None if criterion_cell else profile.setting("grid_cell_max_s"),
            seed=batch_size * 1000 + tokens, on_sample=shown,
        ), limits, on_retry=lambda seen, attempt: phase.update(
            f"machine busy ({seen.describe()}): measuring again, attempt {attempt + 1}"))


def _measure_grid(embedder, profile, phase) -> tuple[dict[tuple[int, int], Quiet], list[tuple]]:
    query_tokens = profile.setting("latency_text_tokens")
    limits = BusyLimits.from_profile(profile)
    cells: dict[tuple[int, int], Quiet] = {}
    raw_rows: list[tuple] = []
    for batch_size in profile.setting("grid_batch_sizes"):
        for tokens in sorted(set(profile.setting("grid_text_tokens")) | {query_tokens}):
            effective = min(tokens, embedder.manifest.max_length)
            if (batch_size, effective) in cells:  # past max_length the model sees the same input
                same = cells[(batch_size, effective)]
                cells[(batch_size, tokens)] = replace(same, value=replace(same.value, text_tokens=tokens))
                continue
            criterion_cell = batch_size in CRITERION_BATCHES and tokens == query_tokens
            quiet = _measure_cell(embedder, profile, phase, limits, batch_size, tokens, criterion_cell)
            cell, samples = quiet.value
            quiet.value = replace(cell, contention=quiet.figures())
            cells[(batch_size, tokens)] = quiet
            raw_rows += [(batch_size, tokens, i, f"{ms:.4f}") for i, ms in enumerate(samples)]
            phase.update(f"batch {batch_size} x {tokens} tokens: p95 {cell.p95_ms:.1f} ms ({cell.samples} samples)")
    return cells, raw_rows


@pytest.mark.latency
@pytest.mark.parametrize(
    "batch_size",
    [pytest.param(b, marks=pytest.mark.criterion(f"latency.p95_ms.batch_{b}"), id=f"batch_{b}")
     for b in CRITERION_BATCHES],
)
def test_latency_p95(latency_grid, profile, criterion, batch_size, reports_dir):
    quiet = latency_grid[(batch_size, profile.setting("latency_text_tokens"))]
    cell = quiet.value
    min_p95 = profile.setting("min_samples")["p95"]
    reports = reports_dir
    for path in (reports / "latency_raw.csv", reports / "plots" / "latency_vs_batch.png",
                 reports / "plots" / "latency_vs_length.png"):
        attach_file(path)
    assert cell.valid_p95, INVALID_MEASUREMENT.message(f"{cell.samples} samples; a P95 needs at least {min_p95}")
    criterion.check_timing(quiet, cell.p95_ms, **cell.as_dict())


@pytest.mark.throughput
@pytest.mark.parametrize(
    "threads",
    [pytest.param(t, marks=pytest.mark.criterion(f"throughput.qps.threads_{t}"), id=f"threads_{t}") for t in (1, 4)],
)
def test_throughput(embedder, profile, criterion, threads, progress):
    with progress.phase(f"throughput, {threads} thread{'s' if threads > 1 else ''}") as phase:
        quiet = measure_when_quiet(lambda: measure_throughput(
            embedder, threads=threads, duration_s=profile.setting("throughput_duration_s"),
            text_tokens=profile.setting("latency_text_tokens"),
            on_tick=lambda left, done: phase.update(f"{done} queries, {left:.0f} s left"),
        ), BusyLimits.from_profile(profile))
        phase.update(f"{quiet.value:.1f} QPS")
    criterion.check_timing(quiet, quiet.value, threads=threads, duration_s=profile.setting("throughput_duration_s"))
