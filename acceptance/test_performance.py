"""Latency and throughput, driven by MLPerf's LoadGen (acceptance/loadgen.py), the way production traffic
arrives:

- the latency grid (batch sizes x text lengths from the profile): one LoadGen SingleStream run per cell;
  the criterion cells (the PRD's batch sizes at the profile's query length) get the queries LoadGen's early
  stopping needs for a P95 and are judged on that bound, not on the point estimate; other cells are
  informational and may stop early;
- throughput with 1 and 4 threads: LoadGen Offline runs at batch 1, served by 1 or 4 threads;
- Offline at the largest batch: the most texts per second;
- Server: Poisson arrivals served by the profile's threads sharing the one Embedder; the highest QPS whose
  P95 meets the profile's bound, found by a bounded search; and that run's goodput: the share of its
  responses on time and right (cosine to the PyTorch baseline at or above the parity target, on a seeded
  sample).

A machine busy before or during a phase makes the rest of that phase "machine busy" without measuring it
(acceptance/contention.py). LoadGen's own logs (summary, detail, trace) are attached to Allure and kept under
reports/loadgen/. Under pytest-xdist these tests skip: other workers would share the cores.
"""

from __future__ import annotations

import csv
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from acceptance.allure_report import attach_file
from acceptance.contention import BusyLimits, Quiet, TimingPhase
from acceptance.loadgen import MISSING, ScenarioResult, ScenarioSettings, loadgen, run_scenario
from acceptance.metrics import cosines
from acceptance.report import plots
from acceptance.report.vocabulary import INVALID_MEASUREMENT
from acceptance.workload import TextFactory, alone_vs_batched
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
    # disables itself under xdist for the same reason). Skipped here counts as not met.
    workers = int(getattr(pytestconfig, "workerinput", {}).get("workercount", 1))
    if workers > 1:
        pytest.skip(f"timings under pytest-xdist ({workers} workers) share the cores with other tests; "
                    "run the latency/throughput slice without -n")


@pytest.fixture(scope="module")
def lg():
    module = loadgen()
    if module is None:
        pytest.skip(MISSING)
    return module


@dataclass
class Driver:
    """LoadGen, the deployment and its query libraries: one run per call, its logs under reports/loadgen/NAME
    and its record for signoff.json in the run's folder."""

    lg: Any
    embedder: Any
    reports_dir: Path
    run_dir: Path
    libraries: dict[tuple[int, int], list[list[str]]] = field(default_factory=dict)

    def library(self, batch_size: int, tokens: int, queries: int) -> list[list[str]]:
        """Unique texts, one query library per (batch size, text length): every query a text no cache has seen."""
        if (batch_size, tokens) not in self.libraries:
            factory = TextFactory(self.embedder, seed=batch_size * 1000 + tokens)
            self.libraries[(batch_size, tokens)] = [factory.batch(batch_size, tokens) for _ in range(queries)]
        return self.libraries[(batch_size, tokens)]

    def run(self, settings: ScenarioSettings, name: str, phase) -> ScenarioResult:
        texts = self.library(settings.batch_size, settings.text_tokens, settings.queries)
        self.embedder.encode(texts[0], batch_size=settings.batch_size)  # warm-up, outside LoadGen's clock
        # LoadGen's expected rate: SingleStream over-generates 4x for free, Offline issues all it generates.
        calls = texts[1:2] if settings.scenario == "SingleStream" else texts[1:3]
        call_ms = min(_timed_ms(self.embedder, batch) for batch in calls)
        with phase.heartbeat():  # a query may take longer than a log may stay silent
            result = run_scenario(self.lg, self.embedder, texts, settings, self.reports_dir / "loadgen" / name,
                                  call_ms, progress=phase.update)
        (self.run_dir / f"loadgen-{name}.json").write_text(json.dumps(result.as_dict()))
        return result


def _timed_ms(embedder, texts: list[str]) -> float:
    started = time.perf_counter()
    embedder.encode(texts, batch_size=len(texts))
    return (time.perf_counter() - started) * 1e3


@pytest.fixture(scope="module")
def driver(lg, embedder, reports_dir, run_dir) -> Driver:
    return Driver(lg, embedder, reports_dir, run_dir)


def _settings(profile, scenario: str, batch_size: int, tokens: int, *, criterion_cell: bool = True,
              **chosen) -> ScenarioSettings:
    """A LoadGen run as the profile sets it (`chosen` overrides: workers, the Server's rate and bound, ...)."""
    setting = profile.setting
    return ScenarioSettings(**{
        "scenario": scenario, "batch_size": batch_size, "text_tokens": tokens, "queries": setting("loadgen_queries"),
        "min_query_count": setting("min_samples")["p95"] if criterion_cell else setting("loadgen_grid_min_queries"),
        "min_duration_ms": int(1e3 * setting("min_duration_s")) if criterion_cell
        else setting("loadgen_grid_min_duration_ms"),
        "max_duration_ms": setting("loadgen_max_duration_ms" if criterion_cell else "loadgen_grid_max_duration_ms"),
        "seed": setting("loadgen_seed"), **chosen})


def _timing_phase(profile) -> TimingPhase:
    return TimingPhase(BusyLimits.from_profile(profile), profile.setting("busy_measure_every_cell"))


@pytest.fixture(scope="module")
def latency_grid(driver, embedder, profile, reports_dir, run_dir, progress) -> dict[tuple[int, int], Quiet]:
    """Every cell of the grid, a LoadGen SingleStream run each, measured when the machine is quiet."""
    query_tokens = profile.setting("latency_text_tokens")
    cells: dict[tuple[int, int], Quiet] = {}
    with progress.phase("latency grid (LoadGen SingleStream)") as phase:
        timing = _timing_phase(profile)
        for batch_size in profile.setting("grid_batch_sizes"):
            for tokens in sorted(set(profile.setting("grid_text_tokens")) | {query_tokens}):
                settings = _settings(profile, "SingleStream", batch_size, tokens,
                                     criterion_cell=batch_size in CRITERION_BATCHES and tokens == query_tokens)
                name = f"singlestream-b{batch_size}-t{tokens}"
                cells[(batch_size, tokens)] = timing.measure(
                    lambda s=settings, n=name: driver.run(s, n, phase),
                    on_retry=lambda seen, attempt: phase.update(f"machine busy ({seen.describe()}): again, "
                                                                f"attempt {attempt + 1}"))
                result = cells[(batch_size, tokens)].value
                if result is not None:
                    phase.update(f"batch {batch_size} x {tokens} tokens: P95 {result.run.p95_ms:.1f} ms, "
                                 f"{result.run.queries} queries")
    grid = [_cell(embedder, driver.library, key, quiet) for key, quiet in cells.items()]
    (run_dir / "latency-grid.json").write_text(json.dumps(grid))
    _write_raw(reports_dir / "latency_raw.csv", cells)
    bounds = {int(c.id.rsplit("_", 1)[1]): c.target for c in profile.criteria.values()
              if c.id.startswith("latency.p95_ms.batch_")}
    plots.latency_vs_batch([g for g in grid if g["p95_ms"] is not None], bounds, query_tokens, embedder.manifest.id,
                           reports_dir / "plots")
    plots.latency_vs_length([g for g in grid if g["p50_ms"] is not None], embedder.manifest.id, reports_dir / "plots")
    return cells


def _cell(embedder, library, key: tuple[int, int], quiet: Quiet) -> dict:
    """One cell as the report keeps it; the shape check (informational: edge.shape_invariance judges) on
    the cell's first query."""
    batch_size, tokens = key
    result: ScenarioResult | None = quiet.value
    base = {"batch_size": batch_size, "text_tokens": tokens,
            "effective_tokens": min(tokens, embedder.manifest.max_length), "contention": quiet.figures()}
    if result is None:
        return base | {"samples": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "valid_p95": False,
                       "machine_busy": True}
    run = result.run
    first = library(batch_size, tokens, run.settings.queries)[0]
    return base | {"samples": run.queries, "p50_ms": run.p50_ms, "p95_ms": run.p95_ms, "p99_ms": run.p99_ms,
                   "early_stopping_p95_ms": run.early_stopping_p95_ms,
                   "valid_p95": run.valid and bool(run.early_stopping_met), "loadgen_log": run.log_dir,
                   "shape_min_cosine": alone_vs_batched(embedder, first, embedder.encode(first, batch_size=batch_size))}


def _write_raw(path: Path, cells: dict[tuple[int, int], Quiet]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["batch_size", "text_tokens", "response", "latency_ms"])
        for (batch_size, tokens), quiet in cells.items():
            if quiet.value is not None:
                writer.writerows((batch_size, tokens, i, f"{ms:.4f}") for i, ms in enumerate(quiet.value.response_ms))


def _attach_logs(result: ScenarioResult | None) -> None:
    if result is not None:
        for name in ("mlperf_log_summary.txt", "mlperf_log_detail.txt"):
            attach_file(Path(result.run.log_dir) / name, name=f"{Path(result.run.log_dir).name}/{name}")


@pytest.mark.latency
@pytest.mark.parametrize(
    "batch_size",
    [pytest.param(b, marks=pytest.mark.criterion(f"latency.p95_ms.batch_{b}"), id=f"batch_{b}")
     for b in CRITERION_BATCHES],
)
def test_latency_p95(latency_grid, profile, criterion, batch_size, reports_dir):
    cell = (batch_size, profile.setting("latency_text_tokens"))
    if cell not in latency_grid:
        pytest.skip(f"batch {batch_size} is not in this profile's grid_batch_sizes "
                    f"{profile.setting('grid_batch_sizes')}")
    quiet = latency_grid[cell]
    for path in (reports_dir / "latency_raw.csv", reports_dir / "plots" / "latency_vs_batch.png",
                 reports_dir / "plots" / "latency_vs_length.png"):
        attach_file(path)
    result: ScenarioResult | None = quiet.value
    _attach_logs(result)
    if result is None:
        criterion.machine_busy(quiet.busy_reason(), contention=quiet.figures())
    run = result.run
    details = result.as_dict() | {"p95_point_estimate_ms": run.p95_ms}
    if not (run.valid and run.early_stopping_met and run.early_stopping_p95_ms):
        criterion.note(run.p95_ms, **details)
        raise AssertionError(INVALID_MEASUREMENT.message(
            f"LoadGen judged the run {'VALID' if run.valid else 'INVALID'} with {run.queries} queries; its "
            f"early-stopping bound on the P95 needs at least {profile.setting('min_samples')['p95']}"))
    criterion.check_timing(quiet, run.early_stopping_p95_ms, **details)


@pytest.fixture(scope="module")
def throughput_phase(profile) -> TimingPhase:
    return _timing_phase(profile)


def _offline(driver, profile, progress, timing, *, batch_size: int, workers: int) -> Quiet:
    settings = _settings(profile, "Offline", batch_size, profile.setting("latency_text_tokens"), workers=workers,
                         min_query_count=-(-profile.setting("loadgen_offline_texts") // batch_size))
    threads = f"{workers} thread{'s' if workers > 1 else ''}"
    with progress.phase(f"Offline, batch {batch_size}, {threads} (LoadGen)") as phase:
        quiet = timing.measure(lambda: driver.run(settings, f"offline-b{batch_size}-w{workers}", phase))
        if quiet.value is not None:
            phase.update(f"{quiet.value.run.queries_per_s:.1f} queries/s, {quiet.value.run.texts_per_s:.1f} texts/s")
    return quiet


@pytest.mark.throughput
@pytest.mark.parametrize(
    "threads",
    [pytest.param(t, marks=pytest.mark.criterion(f"throughput.qps.threads_{t}"), id=f"threads_{t}") for t in (1, 4)],
)
def test_throughput(driver, profile, criterion, threads, progress, throughput_phase):
    quiet = _offline(driver, profile, progress, throughput_phase, batch_size=1, workers=threads)
    _attach_logs(quiet.value)
    if quiet.value is None:
        criterion.machine_busy(quiet.busy_reason(), contention=quiet.figures())
    criterion.check_timing(quiet, quiet.value.run.queries_per_s, threads=threads, **quiet.value.as_dict())


@pytest.mark.throughput
@pytest.mark.criterion("throughput.offline_texts_per_s")
def test_offline_texts_per_s(driver, embedder, profile, criterion, progress, throughput_phase):
    quiet = _offline(driver, profile, progress, throughput_phase, batch_size=embedder.manifest.max_batch, workers=1)
    _attach_logs(quiet.value)
    if quiet.value is None:
        criterion.machine_busy(quiet.busy_reason(), contention=quiet.figures())
    criterion.check_timing(quiet, quiet.value.run.texts_per_s, **quiet.value.as_dict())


@dataclass
class ServerSearch:
    """The bounded search for the highest Poisson rate whose P95 meets the bound: every rate tried."""

    bound_ms: float
    workers: int
    runs: list[dict] = field(default_factory=list)  # per rate tried: its P50/P95, whether it held, its log
    best: Quiet | None = None  # the highest rate that held
    busy: Quiet | None = None  # the measurement that stayed busy, which ended the search
    capacity_qps: float | None = None  # what LoadGen Offline says the deployment serves at all


@pytest.fixture(scope="module")
def server_search(driver, profile, progress, throughput_phase) -> ServerSearch:
    """A bisection between a rate the deployment surely holds (none) and what the Offline run says it can
    serve at all, in server_search_steps LoadGen Server runs."""
    search = ServerSearch(profile.setting("server_latency_bound_ms"), profile.setting("server_workers"))
    tokens = profile.setting("latency_text_tokens")
    with progress.phase(f"Server search (LoadGen, Poisson arrivals, P95 <= {search.bound_ms:g} ms)") as phase:
        capacity = throughput_phase.measure(lambda: driver.run(
            _settings(profile, "Offline", 1, tokens, workers=search.workers), "server-capacity", phase))
        if capacity.value is None:
            search.busy = capacity
            return search
        search.capacity_qps = capacity.value.run.queries_per_s
        low, high = 0.0, search.capacity_qps
        for step in range(profile.setting("server_search_steps")):
            qps = (low + high) / 2
            settings = _settings(profile, "Server", 1, tokens, workers=search.workers, target_qps=qps,
                                 latency_bound_ms=search.bound_ms,
                                 # LoadGen's early stopping bounds a P95 from no fewer queries
                                 min_query_count=max(profile.setting("server_min_queries"),
                                                     profile.setting("min_samples")["p95"]),
                                 min_duration_ms=profile.setting("server_min_duration_ms"))
            quiet = throughput_phase.measure(lambda s=settings, k=step: driver.run(
                s, f"server-{k}-{s.target_qps:.0f}qps", phase))
            if quiet.value is None:
                search.busy = quiet
                return search
            run = quiet.value.run
            held = run.valid and run.p95_ms is not None and run.p95_ms <= search.bound_ms
            search.runs.append({"target_qps": qps, "p95_ms": run.p95_ms, "p50_ms": run.p50_ms, "valid": run.valid,
                                "held": held, "log": run.log_dir, "contention": quiet.figures()})
            phase.update(f"{qps:.1f} QPS: P95 {run.p95_ms:.1f} ms, {'held' if held else 'missed'} the bound")
            if held:
                low, search.best = qps, quiet
            else:
                high = qps
    return search


@pytest.mark.throughput
@pytest.mark.criterion("throughput.server_qps")
def test_server_qps(server_search: ServerSearch, criterion, reports_dir, embedder):
    search = server_search
    details = {"runs": search.runs, "bound_ms": search.bound_ms, "capacity_qps": search.capacity_qps,
               "workers": search.workers}
    if search.busy is not None:
        criterion.machine_busy(search.busy.busy_reason(), **details)
    attach_file(plots.server_latency(search.runs, search.bound_ms, embedder.manifest.id, reports_dir / "plots"))
    if search.best is None:
        criterion.check(0.0, hint=f"no offered rate held P95 <= {search.bound_ms:g} ms", **details)
    _attach_logs(search.best.value)
    criterion.check_timing(search.best, search.best.value.settings.target_qps, **details)


@pytest.mark.throughput
@pytest.mark.criterion("throughput.goodput")
def test_goodput(server_search, reference, profile, criterion, embedder):
    """Of the best Server run's responses, the share on time and right, on a seeded sample: a deployment
    fast because it returns wrong vectors is not fast."""
    if server_search.busy is not None:
        criterion.machine_busy(server_search.busy.busy_reason())
    best = server_search.best
    if best is None:
        pytest.fail("no Server rate held the latency bound, so there is no run to take the goodput of")
    responses = best.value.responses
    sample = random.Random(profile.setting("loadgen_seed")).sample(responses, min(len(responses),
                                                                                  profile.setting("goodput_sample")))
    parity = profile.get("parity.min_cosine")
    threshold = parity.target if parity else profile.setting("same_result_min_cosine")
    right = np.array([bool((cosines(vectors, reference.encode(texts)) >= threshold).all())
                      for _, _, texts, vectors in sample])
    on_time = np.array([ms <= server_search.bound_ms for _, ms, _, _ in sample])
    good = on_time & right
    criterion.check(float(good.mean()), sampled=len(sample), on_time=float(on_time.mean()), right=float(right.mean()),
                    cosine_threshold=threshold, bound_ms=server_search.bound_ms,
                    target_qps=best.value.settings.target_qps)
