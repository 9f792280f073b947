"""TensorRT settings without TensorRT: shape profiles from the manifest, cache keys, and the options
that reach ONNX Runtime, checked against a fake provider list."""

from __future__ import annotations

import pytest

from acceptance.probe import engine_precisions
from runtime.manifest import load_manifest
from runtime.session import SessionConfig, plan_providers
from runtime.tensorrt import engine_cache_dir, shape_profile, tensorrt_options

QWEN_INPUTS = ["input_ids", "attention_mask", "position_ids"]


def test_shape_profile_covers_batch_1_to_32_and_seq_1_to_max_length():
    manifest = load_manifest("qwen3-embedding-4b")
    profile = shape_profile(manifest, QWEN_INPUTS)
    assert profile.min == "input_ids:1x1,attention_mask:1x1,position_ids:1x1"
    assert profile.opt == "input_ids:8x128,attention_mask:8x128,position_ids:8x128"
    assert profile.max == "input_ids:32x512,attention_mask:32x512,position_ids:32x512"
    with pytest.raises(ValueError, match="past_key_values"):
        shape_profile(manifest, ["input_ids", "past_key_values.0.key"])


def test_cache_key_changes_with_model_tensorrt_precision_and_profile(tmp_path):
    manifest = load_manifest("qwen3-embedding-4b")
    base = shape_profile(manifest, QWEN_INPUTS)
    other = shape_profile(manifest, QWEN_INPUTS, max_batch=64)
    keys = {
        engine_cache_dir(tmp_path, "a" * 64, "10.13", "fp16", base),
        engine_cache_dir(tmp_path, "b" * 64, "10.13", "fp16", base),
        engine_cache_dir(tmp_path, "a" * 64, "10.14", "fp16", base),
        engine_cache_dir(tmp_path, "a" * 64, "10.13", "fp32", base),
        engine_cache_dir(tmp_path, "a" * 64, "10.13", "fp16", other),
    }
    assert len(keys) == 5, "a stale engine must never be reused"
    assert engine_cache_dir(tmp_path, "a" * 64, "10.13", "fp16", base) == \
        engine_cache_dir(tmp_path, "a" * 64, "10.13", "fp16", shape_profile(manifest, QWEN_INPUTS))


def test_tensorrt_options_reach_the_provider_plan(tmp_path):
    manifest = load_manifest("qwen3-embedding-4b")
    opts = tensorrt_options(manifest, QWEN_INPUTS, onnx_sha256="c" * 64, trt_version="10.13", cache_root=tmp_path,
                            fp16=True)
    plan, requested, skipped = plan_providers(
        SessionConfig(providers=("tensorrt", "cuda"), tensorrt=opts, strict=True),
        ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
        load_problem=lambda provider: None,  # a GPU build whose libraries load
    )
    # The CPU stays listed even in strict mode: ORT puts shape computations there by design.
    assert [p for p, _ in plan] == ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    trt = plan[0][1]
    assert trt["trt_fp16_enable"] == "1" and trt["trt_engine_cache_enable"] == "1"
    assert trt["trt_engine_cache_path"].startswith(str(tmp_path)) and "-trt10.13-fp16-" in trt["trt_engine_cache_path"]
    assert trt["trt_profile_max_shapes"].endswith("position_ids:32x512")
    assert (tmp_path / trt["trt_engine_cache_path"].rsplit("/", 1)[1] / "key.json").is_file()


def test_engine_precision_is_unknown_rather_than_assumed_without_tensorrt(tmp_path):
    result = engine_precisions(tmp_path)
    assert result["status"] == "unknown" and result["reason"]
