"""Memory and start-up limits, each measured in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run_probe(manifest, provider: str, batch: int, *extra: str) -> dict:
    cmd = [sys.executable, "-m", "acceptance.probe", "--model", str(manifest.path), "--provider", provider,
           "--batch", str(batch), *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"probe printed no result (exit {done.returncode}): {done.stderr[-800:]}"
    result = json.loads(lines[-1])
    assert "error" not in result, result.get("error")
    return result


@pytest.mark.resources
@pytest.mark.criterion("resources.cpu_memory_mb")
def test_cpu_memory(manifest, session_config, embedder, criterion, progress):
    """Peak RSS of a fresh process serving batch 32; its cold and warm session creation times ride along
    (on CPU there is no engine cache, so 'warm' is the second fresh process, with the file in page cache)."""
    with progress.phase("resource probe: two fresh processes serving batch 32") as phase:
        cold = run_probe(manifest, session_config.providers[0], 32)
        phase.update(f"cold: peak RSS {cold['peak_rss_mib']:.0f} MiB")
        warm = run_probe(manifest, session_config.providers[0], 32)
        phase.update(f"peak RSS {cold['peak_rss_mib']:.0f} / {warm['peak_rss_mib']:.0f} MiB (cold / warm)")
    criterion.check(max(cold["peak_rss_mib"], warm["peak_rss_mib"]), cold_create_s=cold["create_s"],
                    warm_create_s=warm["create_s"], cold=cold, warm=warm)


@pytest.mark.resources
@pytest.mark.gpu
@pytest.mark.criterion("resources.gpu_memory_mb")
def test_gpu_memory(manifest, session_config, embedder, criterion):
    if embedder.report.primary not in ("CUDAExecutionProvider", "TensorrtExecutionProvider"):
        pytest.skip(f"no GPU session: the session runs on {embedder.report.primary}, so GPU memory cannot be measured")
    result = run_probe(manifest, session_config.providers[0], 32)
    if result["gpu_memory_mib"] is None:
        pytest.skip("NVML lists no per-process GPU memory here (on Jetson's unified memory read it with jtop)")
    criterion.check(result["gpu_memory_mib"], **result)


@pytest.fixture(scope="module")
def trt_cache_runs(manifest, embedder, tmp_path_factory):
    if "TensorrtExecutionProvider" not in embedder.report.available:
        pytest.skip("onnxruntime here has no TensorrtExecutionProvider: engine build and load cannot be measured")
    cache = tmp_path_factory.mktemp("trt-cache")
    cold = run_probe(manifest, "tensorrt", 1, "--trt-cache", str(cache))
    warm = run_probe(manifest, "tensorrt", 1, "--trt-cache", str(cache))
    for run in (cold, warm):
        if run["providers"][0] != "TensorrtExecutionProvider":
            pytest.fail(f"provider fell back: the probe session ran on {run['providers'][0]}")
    return cold, warm


@pytest.mark.resources
@pytest.mark.tensorrt
@pytest.mark.gpu
@pytest.mark.criterion("tensorrt.engine_build_s")
def test_tensorrt_engine_build(trt_cache_runs, criterion):
    cold, _ = trt_cache_runs
    criterion.check(cold["create_s"] + cold["first_batch_s"], **cold)


@pytest.mark.resources
@pytest.mark.tensorrt
@pytest.mark.gpu
@pytest.mark.criterion("tensorrt.engine_load_s")
def test_tensorrt_engine_load(trt_cache_runs, criterion):
    _, warm = trt_cache_runs
    criterion.check(warm["create_s"], **warm)


#: The engine inspector's name for each deployment precision (acceptance/probe.py's engine_precisions).
ENGINE_TYPES = {"fp8": "FP8", "int8": "Int8", "fp16": "Half"}


@pytest.mark.resources
@pytest.mark.tensorrt
@pytest.mark.gpu
@pytest.mark.criterion("tensorrt.engine_precision")
def test_tensorrt_engine_runs_in_the_deployment_precision(trt_cache_runs, manifest, pytestconfig, criterion):
    """The engine's layers, read with TensorRT's engine inspector, run in the precision the deployment claims:
    a flag is not evidence (TensorRT 11 builds strongly typed networks and ignores precision flags), and a
    Q/DQ graph TensorRT could not fuse runs its MatMuls in fp32/fp16 around the Q/DQ pairs."""
    cold, _ = trt_cache_runs
    precision = "fp16" if manifest.precision == "fp32" and pytestconfig.getoption("--trt-fp16") else manifest.precision
    layers = (cold.get("engine_precisions") or {})
    if layers.get("status") != "measured":
        pytest.skip(f"the engine's layer precisions are unknown: {layers.get('reason', 'no engine inspected')}")
    counts = layers["layer_output_types"]
    share = counts.get(ENGINE_TYPES[precision], 0) / max(1, sum(counts.values()))
    criterion.check(share, precision=precision, layer_output_types=counts, engine=layers.get("engine"))
