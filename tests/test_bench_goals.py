"""`make bench`'s goals are judged from its figures (never by a timed test): the judging itself, on
made-up figures, including figures that miss each goal."""

from __future__ import annotations

from modelprep.bench import SYSTEM_PRECISION, goals, plot


def _report(runtime=40.0, raw=40.5, p50=None, bf16_rate=160.0):
    p50 = p50 or {"runtime": 3.3, "raw_session": 3.2, "sentence_transformers": 8.0, "sentence_transformers_bf16": 10.0,
                  "sentence_transformers_onnx": 4.0, "optimum": 3.7, "fastembed": 3.5, "runtime-bf16": 3.1,
                  "runtime-int8": 3.0}
    results = {"runtime": runtime, "raw_session": raw, "sentence_transformers": 45.0, "sentence_transformers_bf16": 130.0,
               "sentence_transformers_onnx": 43.0, "optimum": 30.0, "fastembed": 40.0, "runtime-bf16": bf16_rate,
               "runtime-int8": 53.0}
    precision = SYSTEM_PRECISION | {"runtime-bf16": "bf16", "runtime-int8": "int8"}
    return {"results": results, "precision": precision, "batch1": {k: {"p50_ms": v, "p95_ms": v * 1.4} for k, v in p50.items()},
            "min_cosine": {k: 0.9999 for k in results} | {"runtime-int8": 0.996}, "model": "m", "texts": 512,
            "batch_size": 32, "threads": 2, "machine": "test"}


def _ladder(int8_signed: bool):
    return {"rows": [
        {"main": True, "precision": "fp32", "signed_off_quality": True, "min_cosine": 1.0, "run_id": "r1"},
        {"main": False, "precision": "bf16", "signed_off_quality": True, "min_cosine": 0.9999, "run_id": "r1"},
        {"main": False, "precision": "int8", "signed_off_quality": int8_signed, "min_cosine": 0.994, "run_id": "r1"}]}


def test_each_goal_is_met_or_missed_by_the_figures():
    g = goals(_report(), _ladder(int8_signed=False))
    assert g["runtime_overhead"]["met"] and abs(g["runtime_overhead"]["value"] - (1 - 40 / 40.5)) < 1e-12
    assert not goals(_report(runtime=38.0), None)["runtime_overhead"]["met"]  # 6% slower than session.run
    latency = g["batch1_2x_every_peer_same_precision"]
    assert set(latency["runtime"]["speedup_over_peers"]) == {"sentence_transformers", "sentence_transformers_onnx",
                                                             "optimum", "fastembed"}  # fp32 peers only
    assert not latency["runtime"]["met"]  # 3.5 / 3.3 against fastembed
    assert latency["runtime-bf16"]["met"] and "runtime-int8" not in latency  # no int8 peer to compare with
    fastest = g["fastest_signed_off_vs_st_bf16"]
    assert fastest["fastest"] == "runtime-bf16" and fastest["met"] and "ladder" in fastest["signed_off_by"]
    slow = goals(_report(bf16_rate=100.0), _ladder(int8_signed=False))["fastest_signed_off_vs_st_bf16"]
    assert slow["fastest"] == "runtime-bf16" and not slow["met"]  # 100 < 130


def test_a_variant_the_ladder_did_not_sign_off_never_counts_as_fastest():
    report = _report(bf16_rate=20.0)
    report["results"]["runtime-int8"] = 500.0
    g = goals(report, _ladder(int8_signed=False))["fastest_signed_off_vs_st_bf16"]
    assert g["fastest"] == "runtime" and not g["met"]
    assert goals(report, _ladder(int8_signed=True))["fastest_signed_off_vs_st_bf16"]["fastest"] == "runtime-int8"


def test_the_plot_is_drawn(tmp_path):
    assert plot(_report(), tmp_path / "bench.png").stat().st_size > 10_000
