"""A fresh process that creates a session, serves a batch, and reports start-up and memory.

Run in a subprocess so that neither in-memory caches nor the test runner's own memory (torch,
pytest) flatter or spoil the figures:

    python -m acceptance.probe --model all-minilm-l6-v2 --provider cpu --batch 32
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

from acceptance.nvml import nvml
from runtime.errors import EmbeddingError


def peak_rss_mib() -> float:
    """VmHWM: the process's peak resident set."""
    try:
        with open("/proc/self/status", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def gpu_memory_mib(pid: int) -> float | None:
    """This process's GPU memory through NVML, or None where NVML sees no GPU.

    On Jetson (unified memory) NVML may not list per-process usage; read it with jtop there.
    """
    with nvml() as (lib, _):
        if lib is None:
            return None
        used = sum(proc.usedGpuMemory or 0 for handle in lib.handles()
                   for proc in lib.api.nvmlDeviceGetComputeRunningProcesses(handle) if proc.pid == pid)
        return used / 2**20


def engine_precisions(cache_dir: Path) -> dict[str, Any]:
    """The precisions the built engine really uses, layer by layer, read with TensorRT's engine
    inspector. A builder flag is not evidence: TensorRT 11 ignores precision flags (strongly typed
    networks), so an "fp16" request can silently build an fp32 engine."""
    try:
        import tensorrt as trt
    except ImportError:
        return {"status": "unknown", "reason": "the tensorrt Python package is not installed here"}
    engines = sorted(Path(cache_dir).glob("*.engine"))
    if not engines:
        return {"status": "unknown", "reason": f"no .engine file in {cache_dir}"}
    runtime = trt.Runtime(trt.Logger(trt.Logger.ERROR))
    engine = runtime.deserialize_cuda_engine(engines[-1].read_bytes())
    info = json.loads(engine.create_engine_inspector().get_engine_information(trt.LayerInformationFormat.JSON))
    counts: dict[str, int] = {}
    for layer in info.get("Layers", []):
        if isinstance(layer, dict):
            for out in layer.get("Outputs", []):
                fmt = str(out.get("Format/Datatype", "unknown"))
                kind = next((p for p in ("FP8", "Int8", "Half", "BFloat16", "Float") if p.lower() in fmt.lower()), fmt)
                counts[kind] = counts.get(kind, 0) + 1
    if not counts:
        return {"status": "unknown", "reason": "the engine was not built with detailed profiling verbosity; "
                                                 "layer precisions are not recorded"}
    return {"status": "measured", "layer_output_types": counts, "engine": engines[-1].name}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--provider", default="cpu")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--words", type=int, default=40)
    parser.add_argument("--trt-cache", help="root of the TensorRT engine/timing caches (keyed inside)")
    parser.add_argument("--trt-fp16", action="store_true")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    # Imported here on purpose: import_and_create_s times what a device pays to start serving.
    from runtime.embedder import Embedder
    from runtime.manifest import load_manifest
    from runtime.session import SessionConfig, TensorRTOptions

    try:
        manifest = load_manifest(args.model)
        trt = TensorRTOptions()
        if args.trt_cache:
            from runtime.tensorrt import options_for

            trt = options_for(manifest, Path(args.trt_cache), fp16=args.trt_fp16)
        embedder = Embedder.load(manifest, SessionConfig(providers=(args.provider,), tensorrt=trt))
        texts = [f"probe text number {i} " + "word " * args.words for i in range(args.batch)]
        t1 = time.perf_counter()
        embedder.encode(texts, batch_size=args.batch)
        first_s = time.perf_counter() - t1
    except EmbeddingError as exc:
        print(json.dumps({"error": str(exc)}))
        return 2
    print(json.dumps({
        "import_and_create_s": t1 - t0 - 0.0,
        "create_s": embedder.report.create_s,
        "first_batch_s": first_s,
        "peak_rss_mib": peak_rss_mib(),
        "gpu_memory_mib": gpu_memory_mib(os.getpid()),
        "providers": embedder.report.got,
        "placement": embedder.report.placement,
        "engine_precisions": engine_precisions(Path(trt.engine_cache_path)) if args.trt_cache else None,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
