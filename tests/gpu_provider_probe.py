"""Device check for the serving runtime on a real NVIDIA GPU with the onnxruntime-gpu wheel (run by
hand where a GPU is lent; not collected by pytest: CI has no GPU).

    PYTHONPATH=<onnxruntime-gpu site>:. EMBED_SIGNOFF_CACHE=<built models> python -m tests.gpu_provider_probe

Prints JSON: what each provider request got and why (the session factory's report), and the decoder
path (qwen3-tiny: left padding, position_ids, last-token pooling) on the CUDA provider against the CPU
provider of the same build, at several batch sizes, through the runtime's CUDA IO binding.
"""

from __future__ import annotations

import base64
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from runtime.embedder import Embedder
from runtime.errors import EmbeddingError
from runtime.manifest import load_manifest
from runtime.session import SessionConfig, create_session

#: y = x + x on a [1, 4] float input (as in tests/test_gpu_build.py).
TINY_ONNX = base64.b64decode(
    "CAg6QAoOCgF4CgF4EgF5IgNBZGQSBHRpbnlaEwoBeBIOCgwIARIICgIIAQoCCARiEwoBeRIOCgwIARIICgIIAQoCCARCBAoAEBE=")
TEXTS = ["Hi.", "The cat sits on the mat.", "机器学习是人工智能的一个分支。",
         "To reset the router, hold the button on the back for ten seconds until the light blinks orange. " * 6,
         "What is the capital of France?", "🙂", "a " * 200, "Short one."] * 4


def providers_report() -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "tiny.onnx"
        model.write_bytes(TINY_ONNX)
        for request, strict in ((("cuda",), True), (("tensorrt",), False), (("tensorrt",), True), (("auto",), False)):
            key = f"{'+'.join(request)}{' strict' if strict else ''}"
            try:
                _, report = create_session(model, SessionConfig(providers=request, strict=strict))
                out[key] = {"primary": report.primary, "skipped": report.skipped, "placement": report.placement,
                            "create_s": round(report.create_s, 3)}
            except EmbeddingError as exc:
                out[key] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def p50_ms(embedder: Embedder, texts: list[str], batch: int, runs: int = 30) -> float:
    embedder.encode(texts[:batch], batch_size=batch)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        embedder.encode(texts[:batch], batch_size=batch)
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.percentile(times, 50))


def decoder_on_cuda() -> dict:
    manifest = load_manifest("qwen3-tiny")
    gpu = Embedder.load(manifest, SessionConfig(providers=("cuda",), strict=True))
    cpu = Embedder.load(manifest, SessionConfig(providers=("cpu",)))
    result = {"session": gpu.report.as_dict(), "cosine_cuda_vs_cpu": {}, "p50_ms": {}}
    alone = cpu.encode(TEXTS, batch_size=1)
    for batch in (1, 4, 8, 32):
        ours = gpu.encode(TEXTS, batch_size=batch)
        cos = np.sum(ours * alone, axis=1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(alone, axis=1))
        result["cosine_cuda_vs_cpu"][f"batch_{batch}"] = float(cos.min())
        result["p50_ms"][f"batch_{batch}"] = {"cuda": p50_ms(gpu, TEXTS, batch), "cpu": p50_ms(cpu, TEXTS, batch)}
    return result


def main() -> int:
    report = {"onnxruntime": ort.__version__, "available": ort.get_available_providers(),
              "providers": providers_report()}
    try:
        report["qwen3_tiny"] = decoder_on_cuda()
    except EmbeddingError as exc:
        report["qwen3_tiny"] = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(report, indent=2, default=str))
    ok = report["providers"]["cuda strict"].get("primary") == "CUDAExecutionProvider" and \
        min(report.get("qwen3_tiny", {}).get("cosine_cuda_vs_cpu", {"x": 0}).values()) > 0.9999
    print("CUDA provider through the runtime:", "ok" if ok else "NOT OK")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
