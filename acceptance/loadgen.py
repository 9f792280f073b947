"""Load the way production traffic arrives, driven by MLPerf's LoadGen (`mlcommons-loadgen`), not by a loop
written here.

- SingleStream: one query at a time (a query = one batch of `batch_size` texts); LoadGen reports the
  percentiles and its early-stopping estimate of the P95, and says INVALID below the queries that bound needs.
- Server: queries arrive on a Poisson schedule at a target QPS and are served by `workers` threads sharing
  the one Embedder; the highest QPS whose P95 meets the bound is found by a bounded search.
- Offline: every query at once; the most texts per second.

Each run keeps LoadGen's own logs (summary, detail, trace) in its folder; the figures are read from the
detail log's structured records (`:::MLLOG {json}`). The SUT also keeps, per response, its latency and its
vectors, so the Server run's goodput (in time and right) can be checked on a seeded sample.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from acceptance.report.load import LoadRun, ScenarioSettings
from acceptance.report.serial import to_jsonable

#: Why the LoadGen criteria cannot run where its Python bindings are missing (a skip: not met, never a loop).
MISSING = ("MLPerf LoadGen (pip install mlcommons-loadgen) is not installed for this Python; on a Jetson it "
           "builds from source (docs/thor.md), and the latency and throughput criteria need it")


def loadgen():
    """The LoadGen module, or None where it is not installed."""
    try:
        import mlperf_loadgen
    except ImportError:
        return None
    return mlperf_loadgen


@dataclass
class ScenarioResult:
    """A LoadGen run: what the report keeps of it, and what the SUT saw (never written to a report)."""

    run: LoadRun
    response_ms: list[float] = field(default_factory=list)  # per response, issue to completion (the SUT's clock)
    # Per response: (query library index, ms, its texts, its vectors), for goodput.
    responses: list[tuple[int, float, list[str], np.ndarray]] = field(default_factory=list, repr=False)

    @property
    def settings(self) -> ScenarioSettings:
        return self.run.settings

    def as_dict(self) -> dict[str, Any]:
        """The run as criterion details and signoff.json keep it."""
        return to_jsonable(self.run)


def read_detail_log(path: Path) -> dict[str, Any]:
    """LoadGen's detail log as key -> value (its structured `:::MLLOG` records; the last one of a key wins)."""
    values: dict[str, Any] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith(":::MLLOG "):
            record = json.loads(line[len(":::MLLOG "):])
            values[record["key"]] = record["value"]
    return values


class EmbedderSUT:
    """The system under test as LoadGen drives it: each query's batch of texts through the shared Embedder on
    one of `workers` threads, completed back to LoadGen; each response's latency and vectors kept."""

    def __init__(self, lg, embedder, library: list[list[str]], workers: int,
                 on_done: Callable[[int], None] = lambda n: None):
        self.lg, self.embedder, self.library = lg, embedder, library
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sut")
        self.lock = threading.Lock()
        self.responses: list[tuple[int, float, list[str], np.ndarray]] = []  # (index, ms, texts, vectors)
        self.errors: list[str] = []
        self.on_done = on_done

    def issue(self, samples) -> None:
        issued = time.perf_counter()
        for sample in samples:
            self.pool.submit(self._serve, sample.id, sample.index, issued)

    def _serve(self, query_id: int, index: int, issued: float) -> None:
        try:
            vectors = self.embedder.encode(self.library[index], batch_size=len(self.library[index]))
        except Exception as exc:  # a broken deployment: LoadGen still gets its completion, the run its error
            vectors = None
            with self.lock:
                self.errors.append(f"{type(exc).__name__}: {exc}")
        elapsed_ms = (time.perf_counter() - issued) * 1e3
        self.lg.QuerySamplesComplete([self.lg.QuerySampleResponse(query_id, 0, 0)])
        with self.lock:
            if vectors is not None:
                self.responses.append((index, elapsed_ms, self.library[index], vectors))
            done = len(self.responses) + len(self.errors)
        self.on_done(done)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def _test_settings(lg, s: ScenarioSettings, call_ms: float):
    """LoadGen's settings for `s`; `call_ms` is one query's time measured just before (LoadGen pre-generates
    its queries from an expected rate, and a run that outpaces it is INVALID)."""
    settings = lg.TestSettings()
    settings.scenario = getattr(lg.TestScenario, s.scenario)
    settings.mode = lg.TestMode.PerformanceOnly
    settings.min_query_count, settings.min_duration_ms = s.min_query_count, s.min_duration_ms
    settings.max_duration_ms = s.max_duration_ms
    settings.qsl_rng_seed = settings.sample_index_rng_seed = settings.schedule_rng_seed = s.seed
    if s.scenario == "SingleStream":
        # It stops issuing once the minimum queries and duration are met: generating 4x too many costs nothing.
        settings.single_stream_expected_latency_ns = max(1, int(call_ms * 1e6 / 4))
        settings.single_stream_target_latency_percentile = s.percentile
    elif s.scenario == "Server":
        settings.server_target_qps = float(s.target_qps)
        settings.server_target_latency_ns = int(s.latency_bound_ms * 1e6)
        settings.server_target_latency_percentile = s.percentile
    else:  # Offline issues every sample it generates: 1.5x what `workers` calls at once could serve (a device
        # that waits, as a GPU does, serves them side by side; a CPU's cores may not, and the run is then longer)
        settings.offline_expected_qps = 1.5 * 1e3 / call_ms * s.workers
    return settings


def run_scenario(lg, embedder, library: list[list[str]], settings: ScenarioSettings, out_dir: Path,
                 call_ms: float, progress: Callable[[str], None] = lambda text: None) -> ScenarioResult:
    """One LoadGen run of `settings` against the embedder (one query: `call_ms`, measured just before);
    LoadGen's logs land in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    last = [time.perf_counter()]

    def on_done(done: int) -> None:
        if time.perf_counter() - last[0] >= 1.0:
            last[0] = time.perf_counter()
            progress(f"{settings.scenario} batch {settings.batch_size}"
                     + (f" at {settings.target_qps:.1f} QPS" if settings.target_qps else "") + f": {done} queries")

    sut_impl = EmbedderSUT(lg, embedder, library, settings.workers, on_done)
    sut = lg.ConstructSUT(sut_impl.issue, sut_impl.flush)
    qsl = lg.ConstructQSL(len(library), len(library), lambda samples: None, lambda samples: None)
    log = lg.LogSettings()
    log.log_output.outdir = str(out_dir)
    log.log_output.copy_summary_to_stdout = False
    try:
        lg.StartTestWithLogSettings(sut, qsl, _test_settings(lg, settings, call_ms), log)
    finally:
        sut_impl.close()
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    if sut_impl.errors:
        raise RuntimeError(f"the deployment failed {len(sut_impl.errors)} queries under LoadGen: {sut_impl.errors[0]}")
    return _result(settings, read_detail_log(out_dir / "mlperf_log_detail.txt"), out_dir, sut_impl)


def _why_invalid(log: dict[str, Any]) -> str:
    """LoadGen's reason; where it gives none, its early-stopping verdict (the percentile not bounded)."""
    reason = str(log.get("result_invalid_reason") or "").strip()
    if reason:
        return reason
    if log.get("early_stopping_met") is False:
        return "early stopping: " + " ".join(str(log.get("early_stopping_result", "")).split())
    return "LoadGen judged the run INVALID"


#: The detail log's rate per scenario: queries per second (SingleStream, Server: completed), samples (Offline).
_RATE_KEY = {"SingleStream": "result_qps_with_loadgen_overhead", "Server": "result_completed_samples_per_sec",
             "Offline": "result_samples_per_second"}


def _result(settings: ScenarioSettings, log: dict[str, Any], out_dir: Path, sut: EmbedderSUT) -> ScenarioResult:
    offline = settings.scenario == "Offline"  # one query of every sample: per-sample latencies mean nothing

    def ms(key: str) -> float | None:
        return float(log[key]) / 1e6 if key in log and not offline else None

    qps = float(log.get(_RATE_KEY[settings.scenario], 0.0))
    early = log.get("early_stopping_latency_ss") if settings.scenario == "SingleStream" else None
    run = LoadRun(
        name=out_dir.name, settings=settings, valid=log.get("result_validity") == "VALID",
        invalid_reason=None if log.get("result_validity") == "VALID" else _why_invalid(log),
        min_queries_met=bool(log.get("result_min_queries_met", False)),
        early_stopping_met=log.get("early_stopping_met"),
        queries=len(sut.responses) if offline else int(log.get("result_query_count", len(sut.responses))),
        p50_ms=ms("result_50.00_percentile_latency_ns"), p90_ms=ms("result_90.00_percentile_latency_ns"),
        p95_ms=ms("result_95.00_percentile_latency_ns"), p99_ms=ms("result_99.00_percentile_latency_ns"),
        early_stopping_p95_ms=float(early) / 1e6 if early else None, queries_per_s=qps,
        texts_per_s=qps * settings.batch_size, log_dir=str(out_dir))
    return ScenarioResult(run=run, response_ms=[ms_ for _, ms_, _, _ in sut.responses], responses=sut.responses)
