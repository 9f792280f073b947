"""FP8 and INT8 the way TensorRT takes them (Q/DQ by NVIDIA ModelOpt), the graph audit that says what
precision a graph really has, and the bisection that finds the layers to keep in fp32.

The bisection is tested on made-up judges (how many builds it needs); the builds on qwen3-tiny with the real
ModelOpt in .venv-quant (make test installs it), through the precision ladder."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from acceptance.report.ladder import PrecisionLadder
from acceptance.report.render import render
from modelprep.assets import build_variant, ensure_artifacts
from modelprep.graph_audit import audit_graph, with_executed_kernels
from modelprep.layer_bisect import Judgement, bisect_fp32_layers
from modelprep.precision import Recipe, quant_python
from runtime.errors import ExportError, ManifestError
from runtime.manifest import load_manifest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = [f"L{i}" for i in range(64)]


def judge_passing_when(needed: set[str]):
    def judge(kept: tuple[str, ...]) -> Judgement:
        ok = needed <= set(kept)
        return Judgement(kept, 1.0 if ok else 0.5, 1.0 if ok else 0.5, ok)
    return judge


def test_bisection_finds_one_breaking_layer_in_about_two_log2_n_builds():
    found = bisect_fp32_layers(LAYERS, judge_passing_when({"L37"}))
    assert found.passed and found.kept == ["L37"]
    assert len(found.steps) <= 2 * math.log2(len(LAYERS)) + 2, len(found.steps)


def test_bisection_keeps_layers_that_only_pass_together_and_reports_an_unfixable_variant():
    found = bisect_fp32_layers(LAYERS, judge_passing_when({"L3", "L60"}))
    assert found.passed and found.kept == ["L3", "L60"]
    assert bisect_fp32_layers(LAYERS, judge_passing_when(set())).kept == []
    never = bisect_fp32_layers(LAYERS, lambda kept: Judgement(kept, 0.1, 0.1, False))
    assert not never.passed and never.kept == LAYERS and len(never.steps) == 1


def test_the_audit_reads_the_precision_from_the_graph_and_refuses_a_false_claim(qwen_tiny):
    audit = audit_graph(qwen_tiny.manifest.onnx_path)
    assert audit.precision == "fp32" and audit.qdq_pairs == 0 and not audit.batch_variant
    assert audit.claim_error("fp32") is None and audit.claim_error("bf16") is None  # bf16: OpenVINO runs fp32
    wrong = audit.claim_error("fp8")
    assert "precision = 'fp8'" in wrong and "is fp32" in wrong and str(qwen_tiny.manifest.onnx_path) in wrong


def test_a_manifest_claiming_fp8_over_an_fp32_graph_stops_the_run_naming_both(qwen_tiny, tmp_path):
    source = qwen_tiny.manifest.path.read_text(encoding="utf-8").split("[source]")[0]
    lie = tmp_path / "fp8-lie.toml"
    lie.write_text(source.replace('id = "qwen3-tiny"', 'id = "qwen3-tiny-lie"').replace(
        'dir = "{cache}/qwen3-tiny"', f'dir = "{qwen_tiny.manifest.artifact_dir}"')
        .replace('matryoshka_min_dim = 16', 'matryoshka_min_dim = 16\nprecision = "fp8"'), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "pytest", "acceptance", "-p", "no:cacheprovider", "-m", "norm",
                           "--model", str(lie), "--reports-dir", str(tmp_path / "r")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    assert "precision = 'fp8'" in done.stderr and "is fp32" in done.stderr and "Traceback" not in done.stderr


def test_a_dynamic_int8_graph_is_flagged_as_batch_variant(qwen_tiny, tmp_path):
    recipe = Recipe(tool="ort-dynamic", target_min_cosine=0.0, target_recall_at_10=0.0, dev_texts=8, fp32_layers=())
    record = build_variant(qwen_tiny.manifest, "int8", recipe, tmp_path / "model.onnx")
    audit = with_executed_kernels(audit_graph(tmp_path / "model.onnx"))
    assert record["tool"]["tool"] == "onnxruntime.quantization.quantize_dynamic"
    assert audit.precision == "int8" and audit.batch_variant and "DYNAMIC quantization" in audit.summary()


def test_a_recorded_keep_list_builds_once_and_a_name_the_graph_lacks_is_a_manifest_error(qwen_tiny, tmp_path):
    recipe = Recipe(tool="ort-dynamic", target_min_cosine=0.0, target_recall_at_10=0.0, dev_texts=8,
                    fp32_layers=("/no/such/MatMul",))
    with pytest.raises(ManifestError, match="fp32_layers names '/no/such/MatMul'.*remove fp32_layers to bisect again"):
        build_variant(qwen_tiny.manifest, "int8", recipe, tmp_path / "model.onnx")
    assert list(tmp_path.iterdir()) == []  # neither the output nor a work dir is left
    once = build_variant(qwen_tiny.manifest, "int8", Recipe(tool="ort-dynamic", target_min_cosine=0.0,
                                                            target_recall_at_10=0.0, dev_texts=8, fp32_layers=()),
                         tmp_path / "model.onnx")
    assert [h.get("from") for h in once["history"]] == ["the recipe's fp32_layers"] and "bisection" not in once


def test_without_the_quant_venv_the_build_says_how_to_make_it(monkeypatch, tmp_path):
    monkeypatch.setenv("EMBED_SIGNOFF_QUANT_PYTHON", str(tmp_path / "no-python"))
    with pytest.raises(ExportError, match="make quant-venv"):
        quant_python()


@pytest.fixture(scope="module")
def modelopt():
    try:
        return quant_python()
    except ExportError as exc:
        pytest.skip(str(exc))


def test_modelopt_int8_and_fp8_go_through_the_ladder_on_qwen3_tiny(modelopt, qwen_tiny, tmp_path):
    """Built by ModelOpt (Q/DQ), audited, judged on the quality criteria beside the fp32 run; the fp8 row has
    no speed figure (TensorRT's alone), the int8 row has one; the table and the frontier plot carry both."""
    for name in ("qwen3-tiny-int8", "qwen3-tiny-fp8"):
        manifest = load_manifest(name)
        ensure_artifacts(manifest)
        audit = audit_graph(manifest.onnx_path)
        assert audit.precision == name.rsplit("-", 1)[1] and audit.qdq_pairs > 0 and not audit.batch_variant
    reports = tmp_path / "reports"
    env = os.environ | {"HYPOTHESIS_PROFILE": "meta", "EMBED_SIGNOFF_INVOCATION": "ladder-test"}
    meta = ("--accept-profile", str(ROOT / "tests" / "meta-profile.toml"))
    subprocess.run([sys.executable, "-m", "pytest", "acceptance", "-p", "no:cacheprovider", "-q", "-m", "parity",
                    "--model", "qwen3-tiny", "--reports-dir", str(reports), *meta], cwd=ROOT, env=env,
                   capture_output=True, text=True, timeout=600)
    done = subprocess.run([sys.executable, "-m", "acceptance.precision_ladder", "--reports-dir", str(reports),
                           "--profile", meta[1], "qwen3-tiny-int8", "qwen3-tiny-fp8"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    rows = {r.model: r for r in PrecisionLadder.read(reports).rows}
    assert rows["qwen3-tiny-int8"].speed is not None and rows["qwen3-tiny-int8"].graph.precision == "int8"
    fp8 = rows["qwen3-tiny-fp8"]
    assert fp8.speed is None and "FP8's speed is TensorRT's alone" in fp8.speed_note
    assert fp8.min_cosine is not None and fp8.graph.precision == "fp8"
    table = render(reports).markdown.read_text()
    assert "| `qwen3-tiny-fp8` | fp8 | n/a | not measured (FP8's speed is TensorRT's alone" in table
    assert "| `qwen3-tiny-int8` | int8 | CPUExecutionProvider |" in table
    assert (reports / "plots" / "precision_frontier.png").is_file()


def test_an_unknown_recipe_option_or_tool_is_a_manifest_error():
    with pytest.raises(ManifestError, match="unknown int8 recipe option 'per_chanel'"):
        Recipe.from_options("int8", {"per_chanel": True})
    with pytest.raises(ManifestError, match="fp8 recipe: tool 'ort-dynamic': use modelopt"):
        Recipe.from_options("fp8", {"tool": "ort-dynamic"})
    with pytest.raises(ManifestError, match="fp32_layers is a list of node names"):
        Recipe.from_options("int8", {"fp32_layers": "/encoder/layer.0/output/dense/MatMul"})
