"""The LoadGen driver (acceptance/loadgen.py) against a real embedder: LoadGen's own figures read back from
its detail log, and the shared Embedder's vectors under concurrent callers equal to the vectors computed
alone. Nothing here is judged on a time: only on what LoadGen counted and what the vectors are."""

from __future__ import annotations

import json

import numpy as np
import pytest

from acceptance.loadgen import ScenarioSettings, loadgen, read_detail_log, run_scenario
from acceptance.workload import TextFactory

lg = loadgen()
pytestmark = pytest.mark.skipif(lg is None, reason="mlcommons-loadgen is not installed")


def _library(embedder, queries: int) -> list[list[str]]:
    """Queries of 1 to 4 texts of differing lengths: concurrency with every shape there is to mix up."""
    factory = TextFactory(embedder, seed=7)
    return [factory.batch(1 + i % 4, (10, 30, 60)[i % 3]) for i in range(queries)]


def _settings(scenario: str, **chosen) -> ScenarioSettings:
    return ScenarioSettings(**{"scenario": scenario, "batch_size": 1, "text_tokens": 30, "queries": 24,
                               "min_query_count": 48, "min_duration_ms": 300, "max_duration_ms": 60_000} | chosen)


def test_vectors_under_four_concurrent_callers_equal_the_vectors_computed_alone(minilm, tmp_path):
    library = _library(minilm, 24)
    result = run_scenario(lg, minilm, library, _settings("Offline", workers=4), tmp_path / "offline", 5.0)
    assert len(result.responses) == result.run.queries >= 48, "LoadGen issued fewer queries than the settings ask"
    served = {index for index, _, _, _ in result.responses}
    assert len(served) == len(library), "every query of the library was served at least once"
    alone = {i: minilm.encode(texts, batch_size=len(texts)) for i, texts in enumerate(library)}
    for index, _, texts, vectors in result.responses:
        assert texts == library[index]
        np.testing.assert_array_equal(vectors, alone[index], err_msg=f"query {index} differs under concurrency")


def test_figures_come_from_loadgen_s_detail_log(minilm, tmp_path):
    result = run_scenario(lg, minilm, _library(minilm, 24), _settings("SingleStream"), tmp_path / "ss", 5.0)
    log = read_detail_log(tmp_path / "ss" / "mlperf_log_detail.txt")
    assert log["effective_scenario"] == "SingleStream" and log["result_query_count"] == result.run.queries >= 48
    assert result.run.p95_ms == log["result_95.00_percentile_latency_ns"] / 1e6
    assert 0 < result.run.p50_ms <= result.run.p95_ms <= result.run.p99_ms
    assert (tmp_path / "ss" / "mlperf_log_summary.txt").is_file()
    assert len(result.response_ms) == len(result.responses) == result.run.queries
    kept = json.loads(json.dumps(result.as_dict()))  # what signoff.json keeps: plain data, no vectors
    assert kept["settings"]["scenario"] == "SingleStream" and kept["queries"] == result.run.queries
    assert "responses" not in kept


def test_a_run_short_of_its_query_count_is_invalid_not_judged(minilm, tmp_path):
    """max_duration cuts the run before min_query_count: LoadGen's own verdict says INVALID."""
    settings = _settings("SingleStream", min_query_count=100_000, min_duration_ms=0, max_duration_ms=300)
    result = run_scenario(lg, minilm, _library(minilm, 24), settings, tmp_path / "short", 5.0)
    assert not result.run.valid and not result.run.min_queries_met and result.run.queries < 100_000
    assert result.run.invalid_reason, "LoadGen says why"


def test_a_failing_deployment_fails_the_run_with_its_error(minilm, tmp_path):
    class Broken:
        manifest = minilm.manifest

        def encode(self, texts, batch_size=None):
            raise RuntimeError("the device went away")

    with pytest.raises(RuntimeError, match="failed .* queries under LoadGen: RuntimeError: the device went away"):
        run_scenario(lg, Broken(), _library(minilm, 4), _settings("SingleStream", min_query_count=4, queries=4),
                     tmp_path / "broken", 5.0)
