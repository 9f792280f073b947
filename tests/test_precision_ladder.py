"""The precision ladder (acceptance/precision_ladder.py) and the int8 sensitivity sweep behind its int8
variant (modelprep/precision.py). The sweep runs on qwen3-tiny (seconds); the ladder's plumbing with
its subprocesses replaced; `make signoff` runs the real ladder on the default model."""

from __future__ import annotations

import json

import pytest

from acceptance import precision_ladder
from modelprep.assets import build_int8
from modelprep.precision import Int8Recipe, quantizable_nodes
from runtime.errors import ManifestError


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
    kept = build_int8(tiny, tmp_path / "kept.onnx", Int8Recipe(**recipe, target_min_cosine=0.0, fp32_layers=tuple(nodes[:2])))
    assert kept["fp32_layers"] == nodes[:2] and kept["quantized_layers"] == len(nodes) - 2
    assert kept["layer_cost"] is None and kept["target_met"] is True  # no sweep ran
    assert [s["from"] for s in kept["sweep"]] == ["the recipe's fp32_layers"]
    stale = build_int8(tiny, tmp_path / "stale.onnx", Int8Recipe(**recipe, target_min_cosine=1.0, fp32_layers=(),
                                                                max_fp32_layers=1))
    assert stale["sweep"][0] == {"fp32_layers": 0, "from": "the recipe's fp32_layers", "dev_min_cosine": stale["sweep"][1]["dev_min_cosine"]}
    assert set(stale["layer_cost"]) == set(nodes) and len(stale["fp32_layers"]) == 1 and stale["target_met"] is False


def test_a_keep_list_naming_no_layer_of_the_graph_is_a_manifest_error(tiny, tmp_path):
    with pytest.raises(ManifestError, match="fp32_layers names '/no/such/MatMul'.*remove fp32_layers to sweep again"):
        build_int8(tiny, tmp_path / "model.onnx", Int8Recipe(mode="dynamic", dev_texts=4, fp32_layers=("/no/such/MatMul",)))
    assert list(tmp_path.iterdir()) == []  # neither the output nor the sweep's work dir is left
    with pytest.raises(ManifestError, match="fp32_layers is a list of node names"):
        Int8Recipe.from_options({"fp32_layers": "/encoder/layer.0/output/dense/MatMul"})


def test_an_unknown_recipe_option_is_a_manifest_error():
    with pytest.raises(ManifestError, match="unknown int8 recipe option 'per_chanel'"):
        Int8Recipe.from_options({"per_chanel": True})


def _run(invocation, parity, status="pass", verdict="not-signed-off"):
    return {"run": {"invocation": invocation, "run_id": "r"}, "model": {"id": "m", "precision": "fp32"},
            "verdict": verdict, "profile": "p",
            "criteria": [{"id": "parity.min_cosine", "required": True, "status": status, "measured": parity,
                          "target_text": ">= 0.99", "details": {"mean": parity}},
                         {"id": "latency.p95_ms.batch_1", "required": True, "status": "not-run", "measured": None}]}


def test_a_variant_is_judged_on_its_quality_criteria_and_a_miss_is_not_signed_off(tmp_path, monkeypatch):
    """And a variant's report from another `make signoff` is never merged (robustness row 46)."""
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "signoff.json").write_text(json.dumps(_run("inv-1", 1.0, verdict="signed-off")))
    (reports / "signoff.md").write_text("# report\n")
    runs = {"all-minilm-l6-v2-fp16": _run("inv-1", 0.9999), "all-minilm-l6-v2-int8": _run("inv-1", 0.976, "fail"),
            "all-minilm-l6-v2-bf16": _run("inv-0", 0.9999)}
    monkeypatch.setattr(precision_ladder, "judge_variant", lambda model, *a: runs[model])
    speed = {"m": 40.0, "all-minilm-l6-v2-fp16": 20.0, "all-minilm-l6-v2-int8": 60.0}
    monkeypatch.setattr(precision_ladder, "_measure_in_subprocess", lambda model, provider, threads: {
        "texts_per_s": speed[model], "batch1_p50_ms": 4.0, "batch1_p95_ms": 5.0, "memory_mb": 90.0,
        "provider": "CPUExecutionProvider"})
    ladder = precision_ladder.build_ladder(reports, "p", "cpu", list(runs), threads=2, say=lambda text: None)
    rows = {r["model"]: r for r in ladder["rows"]}
    assert rows["m"]["verdict"] == "SIGNED OFF" and rows["m"]["main"]
    assert rows["all-minilm-l6-v2-fp16"]["verdict"] == "quality criteria met (1)"
    assert rows["all-minilm-l6-v2-int8"]["verdict"] == "NOT SIGNED OFF"
    assert rows["all-minilm-l6-v2-int8"]["missed"] == ["parity.min_cosine"]
    assert rows["all-minilm-l6-v2-bf16"]["verdict"].startswith("NOT RUN (its report is not from this make signoff")
    assert "texts_per_s" not in rows["all-minilm-l6-v2-bf16"]
    assert ladder["plot"] and (tmp_path / "reports" / "plots" / "precision_frontier.png").is_file()
    precision_ladder.publish(reports, ladder)
    table = (reports / "signoff.md").read_text()
    assert "## Precision ladder" in table and "| 60.0 | 4.00 / 5.00 | 0.976000 |" in table
    assert "NOT SIGNED OFF: parity.min_cosine" in table and "precision_frontier.png" in table
    assert json.loads((reports / "signoff.json").read_text())["precision_ladder"]["rows"][2]["min_cosine"] == 0.976
    assert json.loads((reports / "precision" / "ladder.json").read_text())["base"] == "m"


def test_without_a_main_verdict_there_is_no_ladder(tmp_path, capsys):
    assert precision_ladder.main(["--reports-dir", str(tmp_path), "all-minilm-l6-v2-fp16"]) == 2
    assert "signoff.json is missing" in capsys.readouterr().err


def test_an_unknown_variant_is_one_line_not_a_traceback(tmp_path, capsys):
    (tmp_path / "signoff.json").write_text(json.dumps(_run("inv-1", 1.0, verdict="signed-off")))
    assert precision_ladder.main(["--reports-dir", str(tmp_path), "all-minilm-l6-v2-int4"]) == 2
    err = capsys.readouterr().err
    assert "precision ladder: no model manifest at" in err and "all-minilm-l6-v2-int8" in err  # the known ones
    assert "Traceback" not in err


def test_a_variant_that_cannot_start_says_why_on_one_line(tmp_path):
    """Its quality run stops at start-up (strict mode, a provider this machine lacks): the row's reason
    is pytest's usage error, not the last line of its output."""
    run = precision_ladder.judge_variant("all-minilm-l6-v2-fp16", "cpu-default", "tensorrt", True, tmp_path)
    assert run["not_run"].startswith("exit status 4: ") and "strict mode: TensorrtExecutionProvider" in run["not_run"]
    assert (tmp_path / "pytest.log").is_file()
