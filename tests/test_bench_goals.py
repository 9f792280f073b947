"""`make bench`'s goals are judged from its figures (never by a timed test): the judging itself, on
made-up figures, including figures that miss each goal, a variant the ladder did not sign off, and an FP8
variant, which is never timed on a CPU."""

from __future__ import annotations

from acceptance.bench import judge
from acceptance.environment import cpu_info
from acceptance.report.bench import BenchReport
from acceptance.report.ladder import LadderRow, PrecisionLadder
from acceptance.report.plots import bench_plot
from modelprep.bench import SYSTEM_PRECISION, BenchFigures, _variant_systems


def figures(runtime=40.0, raw=40.5, int8=53.0, int8_p50=2.5, fastembed_p50=3.5) -> BenchFigures:
    p50 = {"runtime": 3.3, "raw_session": 3.2, "sentence_transformers": 8.0, "sentence_transformers_bf16": 10.0,
           "sentence_transformers_onnx": 4.0, "optimum": 3.7, "fastembed": fastembed_p50, "runtime-int8": int8_p50}
    results = {"runtime": runtime, "raw_session": raw, "sentence_transformers": 45.0,
               "sentence_transformers_bf16": 30.0,
               "sentence_transformers_onnx": 43.0, "optimum": 30.0, "fastembed": 40.0, "runtime-int8": int8}
    return BenchFigures(model="m", texts=512, threads=2, batch_size=32, repeat=2, results=results,
                        batch1={k: {"p50_ms": v, "p95_ms": v * 1.4} for k, v in p50.items()}, batch1_queries=100,
                        precision=SYSTEM_PRECISION | {"runtime-int8": "int8"},
                        min_cosine={k: 0.9999 for k in results})


def ladder(int8_signed: bool) -> PrecisionLadder:
    return PrecisionLadder("m", "cpu-default", "inv", 2, "h", "t", [
        LadderRow("m", "fp32", True, run_id="r1", signed_off=True, judged=19),
        LadderRow("m-int8", "int8", False, run_id="r1", signed_off=int8_signed, judged=11,
                  missed=[] if int8_signed else ["edge.batch_invariance"])])


def goal(goals, name):
    return next(g for g in goals if g.name == name)


def test_each_goal_is_met_or_missed_by_the_figures():
    goals, _ = judge(figures(), ladder(int8_signed=True))
    overhead = goal(goals, "runtime_overhead")
    assert overhead.met and abs(overhead.measured - (1 - 40 / 40.5)) < 1e-12
    assert not goal(judge(figures(runtime=38.0), None)[0], "runtime_overhead").met  # 6% slower than session.run
    peers = goal(goals, "batch1_2x_same_precision_peers[runtime]")
    assert set(peers.figures["speedup_over"]) == {"sentence_transformers", "sentence_transformers_onnx", "optimum",
                                                  "fastembed"}  # fp32 peers only
    assert not peers.met  # 3.5 / 3.3 against fastembed
    assert not any(g.name.endswith("[runtime-int8]") for g in goals)  # no int8 peer to compare with
    bulk = goal(goals, "fastest_signed_off_vs_st_bf16")
    assert bulk.figures["fastest"] == "runtime-int8" and bulk.met and bulk.measured == 53.0 / 30.0
    assert goal(goals, "fastest_signed_off_batch1").met  # 2.5 <= 0.8 x 3.5
    slow, _ = judge(figures(int8=41.0, int8_p50=3.4), ladder(int8_signed=True))
    assert not goal(slow, "fastest_signed_off_vs_st_bf16").met and not goal(slow, "fastest_signed_off_batch1").met


def test_a_variant_the_ladder_did_not_sign_off_never_counts_as_fastest():
    goals, source = judge(figures(int8=500.0), ladder(int8_signed=False))
    assert goal(goals, "fastest_signed_off_vs_st_bf16").figures["fastest"] == "runtime" and "ladder" in source


def test_without_a_ladder_the_sign_off_goals_are_not_judged_and_say_why():
    goals, source = judge(figures(), None)
    for name in ("fastest_signed_off_vs_st_bf16", "fastest_signed_off_batch1"):
        assert goal(goals, name).met is None and "no precision ladder of m" in goal(goals, name).note


def test_an_fp8_variant_is_never_timed_on_a_cpu():
    systems, precision, not_timed, _ = _variant_systems(["all-minilm-l6-v2-fp8", "all-minilm-l6-v2-fp16"], 2, 32)
    assert "runtime-fp8" not in systems and "FP8's speed is TensorRT's alone" in not_timed["runtime-fp8"]
    assert precision == {"runtime-fp16": "fp16"} and set(systems) == {"runtime-fp16"}


def test_a_variant_whose_provider_cannot_run_here_is_not_available_with_its_reason(monkeypatch):
    """The bf16 variant needs OpenVINO: where it has no device (an AMD CPU) nothing is built or timed, and the
    bench says why instead of reporting a failure."""
    monkeypatch.setattr("runtime.session.unavailable_reason",
                        lambda provider, config=None: "OpenVINOExecutionProvider has no CPU device here (devices: none)"
                        if provider == "openvino" else None)
    systems, precision, _, not_available = _variant_systems(["all-minilm-l6-v2-bf16", "all-minilm-l6-v2-fp16"], 2, 32)
    assert set(systems) == {"runtime-fp16"} and "no CPU device here" in not_available["runtime-bf16"]


def test_the_report_round_trips_and_the_plot_is_drawn(tmp_path):
    goals, source = judge(figures(), ladder(True))
    report = BenchReport("m", "h", cpu_info(), "t", figures(), goals, source)
    assert BenchReport.read(report.write(tmp_path / "bench.json")) == report
    assert bench_plot(report, tmp_path).stat().st_size > 10_000
