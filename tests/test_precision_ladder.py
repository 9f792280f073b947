"""The precision ladder (acceptance/precision_ladder.py) and the int8 sensitivity sweep behind its int8
variant (modelprep/precision.py). The sweep runs on qwen3-tiny (seconds); the ladder's plumbing with
its subprocesses replaced; `make signoff` runs the real ladder on the default model."""

from __future__ import annotations

import pytest

from acceptance import precision_ladder
from acceptance.report.ladder import PrecisionLadder, Speed
from acceptance.report.render import render
from acceptance.report.signoff import SignoffReport
from acceptance.report.vocabulary import Status, Verdict
from modelprep.assets import build_int8
from modelprep.precision import Int8Recipe, quantizable_nodes
from runtime.errors import ManifestError
from tests.test_report_model import criterion, sample_report


@pytest.fixture(scope="module")
def tiny(qwen_tiny):
    return qwen_tiny.manifest


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_the_sweep_keeps_the_costliest_layers_in_fp32_until_the_target_or_its_limit(tiny, tmp_path, mode):
    nodes = quantizable_nodes(tiny.onnx_path, weights_only=True)
    # A target no int8 graph meets: the sweep keeps layers in fp32 up to its limit and says it missed.
    record = build_int8(tiny, tmp_path / "model.onnx", Int8Recipe(
        mode=mode, target_min_cosine=1.0, dev_texts=12, calibration_texts=8, max_fp32_layers=3))
    assert set(record["layer_cost"]) == set(nodes) and len(nodes) > 3
    ranked = list(record["layer_cost"])  # costliest first
    assert record["fp32_layers"] == ranked[:3] and record["quantized_layers"] == len(nodes) - 3
    assert [s["fp32_layers"] for s in record["sweep"]] == [0, 1, 2, 3]
    assert record["target_met"] is False and record["dev_min_cosine"] < 1.0
    assert (tmp_path / "model.onnx").is_file()
    # A target the fully quantized graph meets: nothing is kept in fp32.
    easy = build_int8(tiny, tmp_path / "easy.onnx", Int8Recipe(mode=mode, target_min_cosine=0.0, dev_texts=12,
                                                               calibration_texts=8))
    assert easy["fp32_layers"] == [] and easy["target_met"] is True and easy["quantized_layers"] == len(nodes)


def test_a_recorded_keep_list_quantizes_once_and_a_stale_one_is_swept_again(tiny, tmp_path):
    """The manifest's fp32_layers (an earlier sweep's choice) replace the sweep while they clear the
    target; when they miss it, the build sweeps again and says so in its record."""
    nodes = quantizable_nodes(tiny.onnx_path, weights_only=True)
    recipe = dict(mode="dynamic", dev_texts=12)
    kept = build_int8(tiny, tmp_path / "kept.onnx",
                      Int8Recipe(**recipe, target_min_cosine=0.0, fp32_layers=tuple(nodes[:2])))
    assert kept["fp32_layers"] == nodes[:2] and kept["quantized_layers"] == len(nodes) - 2
    assert kept["layer_cost"] is None and kept["target_met"] is True  # no sweep ran
    assert [s["from"] for s in kept["sweep"]] == ["the recipe's fp32_layers"]
    stale = build_int8(tiny, tmp_path / "stale.onnx", Int8Recipe(**recipe, target_min_cosine=1.0, fp32_layers=(),
                                                                max_fp32_layers=1))
    assert stale["sweep"][0] == {"fp32_layers": 0, "from": "the recipe's fp32_layers",
                                 "dev_min_cosine": stale["sweep"][1]["dev_min_cosine"]}
    assert set(stale["layer_cost"]) == set(nodes) and len(stale["fp32_layers"]) == 1 and stale["target_met"] is False


def test_a_keep_list_naming_no_layer_of_the_graph_is_a_manifest_error(tiny, tmp_path):
    with pytest.raises(ManifestError, match="fp32_layers names '/no/such/MatMul'.*remove fp32_layers to sweep again"):
        build_int8(tiny, tmp_path / "model.onnx",
                   Int8Recipe(mode="dynamic", dev_texts=4, fp32_layers=("/no/such/MatMul",)))
    assert list(tmp_path.iterdir()) == []  # neither the output nor the sweep's work dir is left
    with pytest.raises(ManifestError, match="fp32_layers is a list of node names"):
        Int8Recipe.from_options({"fp32_layers": "/encoder/layer.0/output/dense/MatMul"})


def test_an_unknown_recipe_option_is_a_manifest_error():
    with pytest.raises(ManifestError, match="unknown int8 recipe option 'per_chanel'"):
        Int8Recipe.from_options({"per_chanel": True})


def _run(invocation, parity, status=Status.PASS, verdict=Verdict.NOT_SIGNED_OFF) -> SignoffReport:
    report = sample_report(Status.PASS, invocation=invocation)
    report.verdict = verdict
    parity_result = criterion("parity.min_cosine", status, parity)
    parity_result.details = {"mean": parity}
    report.criteria = [parity_result, criterion("latency.p95_ms.batch_1", Status.NOT_RUN, None)]
    return report


def test_a_variant_is_judged_on_its_quality_criteria_and_a_miss_is_not_signed_off(tmp_path, monkeypatch):
    """And a variant's report from another `make signoff` is never merged (robustness row 46). The ladder
    writes its own file only: signoff.json is left as the run wrote it, and the renderer draws the table."""
    reports = tmp_path / "reports"
    main_run = _run("inv-1", 1.0, verdict=Verdict.SIGNED_OFF)
    main_run.write(reports / "signoff.json")
    before = (reports / "signoff.json").read_bytes()
    runs = {"all-minilm-l6-v2-fp16": _run("inv-1", 0.9999), "all-minilm-l6-v2-int8": _run("inv-1", 0.976, Status.FAIL),
            "all-minilm-l6-v2-bf16": _run("inv-0", 0.9999)}
    monkeypatch.setattr(precision_ladder, "judge_variant",
                        lambda variant, *a: precision_ladder.QualityRun(runs[variant.model]))
    monkeypatch.setattr(precision_ladder, "unavailable_reason", lambda provider: None, raising=False)
    speed = {"m": 40.0, "all-minilm-l6-v2-fp16": 20.0, "all-minilm-l6-v2-int8": 60.0}
    monkeypatch.setattr(precision_ladder, "measure_in_subprocess", lambda model, provider, threads, work: Speed(
        speed[model], 128, 32, 2, 4.0, 5.0, 200, 90.0, "CPUExecutionProvider"))
    ladder = precision_ladder.build_ladder(reports, "p", "cpu", list(runs), threads=2, say=lambda text: None)
    rows = {r.model: r for r in ladder.rows}
    assert rows["m"].verdict == "SIGNED OFF" and rows["m"].main
    assert rows["all-minilm-l6-v2-fp16"].verdict == "quality criteria met (1)"
    assert rows["all-minilm-l6-v2-int8"].verdict == "NOT SIGNED OFF"
    assert rows["all-minilm-l6-v2-int8"].missed == ["parity.min_cosine"]
    assert rows["all-minilm-l6-v2-bf16"].verdict.startswith("NOT RUN (its report is not from this make signoff")
    assert rows["all-minilm-l6-v2-bf16"].speed is None
    ladder.write(reports)
    table = render(reports).markdown.read_text()
    assert "## Precision ladder" in table and "| 60.0 | 4.00 / 5.00 | 0.976000 |" in table
    assert "NOT SIGNED OFF: parity.min_cosine" in table and "precision_frontier.png" in table
    assert (reports / "plots" / "precision_frontier.png").is_file()
    assert (reports / "signoff.json").read_bytes() == before
    assert PrecisionLadder.read(reports).rows[2].min_cosine == 0.976 and PrecisionLadder.read(reports).base == "m"


def test_without_a_main_verdict_there_is_no_ladder(tmp_path, capsys):
    assert precision_ladder.main(["--reports-dir", str(tmp_path), "all-minilm-l6-v2-fp16"]) == 2
    assert "signoff.json is missing" in capsys.readouterr().err


def test_an_unknown_variant_is_one_line_not_a_traceback(tmp_path, capsys):
    _run("inv-1", 1.0, verdict=Verdict.SIGNED_OFF).write(tmp_path / "signoff.json")
    assert precision_ladder.main(["--reports-dir", str(tmp_path), "all-minilm-l6-v2-int4"]) == 2
    err = capsys.readouterr().err
    assert "precision ladder: no model manifest at" in err and "all-minilm-l6-v2-int8" in err  # the known ones
    assert "Traceback" not in err


def test_a_variant_that_cannot_run_here_says_why_without_starting_a_run(tmp_path):
    """Its provider cannot run on this machine (strict: TensorRT, which this CPU has not): the row says so
    with the provider's own reason, and no pytest run is started."""
    variant = precision_ladder.Variant("all-minilm-l6-v2-fp16", "fp16", "tensorrt", strict=True)
    run = precision_ladder.judge_variant(variant, "cpu-default", tmp_path)
    assert run.report is None and run.not_run.startswith("not available on this machine: ")
    assert "not in onnxruntime.get_available_providers() of this build" in run.not_run
    assert not (tmp_path / "pytest.log").exists()
