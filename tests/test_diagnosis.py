"""Where it breaks, not only that it broke: the known-bad models that each part of the diagnosis must name.

- MiniLM with one middle layer's weights perturbed: the layer-wise parity names that layer, not an earlier one.
- qwen3-tiny with its last FFN's down-projection scaled past fp16's range (tests/models/qwen3-tiny-hot.toml):
  precision.fp16_headroom fails naming that projection; in an all-fp16 build, the layer-wise report finds
  its output non-finite and names that layer, and the fp16 build's overflow check names it first.

ONNX Runtime's CPU provider computes most fp16 ops in fp32 (it casts around every op it has no fp16 kernel
for, and drops the casts between two such ops), so the all-fp16 graph's final vectors stay finite here and
its parity passes: only its stored tensors overflow, as every tensor would in an fp16 engine. That is why
the headroom criterion exists, and why the layer-wise report and the bisection mark the fp16 tensors as
outputs (then ORT must store them in fp16).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from acceptance.layerwise import scope_of
from modelprep.assets import build_variant, ensure_artifacts
from modelprep.precision import Recipe
from runtime.manifest import load_manifest
from tests import mutants as m

ROOT = Path(__file__).resolve().parent.parent
HOT = ROOT / "tests" / "models" / "qwen3-tiny-hot.toml"
PROFILE = ("--accept-profile", str(ROOT / "tests" / "meta-profile.toml"))


def run_parity(manifest: Path, reports: Path, *selection: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "pytest", "acceptance", "-p", "no:cacheprovider", "-q",
                           "--model", str(manifest), "--reports-dir", str(reports), *PROFILE, *selection],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=os.environ | {"HYPOTHESIS_PROFILE": "meta"})
    signoff = reports / "signoff.json"
    assert signoff.is_file(), done.stdout[-3000:] + done.stderr[-2000:]
    return {c["id"]: c for c in json.loads(signoff.read_text())["criteria"]}


def test_a_perturbed_middle_layer_is_named_not_an_earlier_one(minilm, tmp_path):
    manifest = m.perturbed_layer(minilm.manifest, tmp_path / "model", scope="/encoder/layer.3/", relative_noise=0.3,
                                 id="all-minilm-l6-v2-layer3-perturbed")
    parity = run_parity(manifest, tmp_path / "r", "-m", "parity", "-k", "min_cosine")["parity.min_cosine"]
    assert parity["status"] == "fail"
    first = parity["details"]["first_divergent_layer"]
    assert first["module"].startswith("encoder.layer.3."), first
    layers = {layer["module"]: layer["min_cosine"] for layer in parity["details"]["layerwise"]["layers"]}
    assert min(layers[f"encoder.layer.{i}.output"] for i in range(3)) > 0.9999  # the layers before it agree
    assert "first divergent layer: #" in parity["reason"]


@pytest.fixture(scope="module")
def hot():
    manifest = load_manifest(HOT)
    ensure_artifacts(manifest)  # correct in fp32: its export passes the parity gate
    return manifest


def test_an_fp16_overflow_is_named_by_headroom_parity_layerwise_and_bisection(hot, tmp_path):
    broken = m.all_fp16(hot, tmp_path / "model", id="qwen3-tiny-hot-all-fp16")
    criteria = run_parity(broken, tmp_path / "r", "-m", "parity or precision", "-k", "min_cosine or headroom",
                          "--diagnose", "parity")
    headroom, parity = criteria["precision.fp16_headroom"], criteria["parity.min_cosine"]
    assert headroom["status"] == "fail" and headroom["measured"] < 1
    assert headroom["details"]["tightest_layer"] == "layers.1.mlp.down_proj"
    first = parity["details"]["first_divergent_layer"]
    assert first["module"] == "layers.1.mlp" and first["finite"] is False  # the down-projection overflowed
    record = build_variant(hot, "fp16", Recipe.from_options("fp16", {"target_min_cosine": 0.99}),
                           tmp_path / "fixed.onnx")
    assert record["fp16_overflows"][0].startswith(scope_of("layers.1.mlp.down_proj")), record["fp16_overflows"]
    # ONNX Runtime's float16 converter casts every kept node's output back to fp16 for the next one, so no
    # choice of fp32 layers stores this model's residual stream in fp32: the bisection says it cannot pass
    # (a TensorRT build with per-layer precision constraints can; docs/thor.md).
    assert record["bisection"]["passed"] is False and record["target_met"] is False
