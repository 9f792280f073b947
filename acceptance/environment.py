"""What the run ran on: the machine, the libraries, and the providers the sessions really got."""

from __future__ import annotations

import os
import platform
from typing import Any

from runtime.session import available_providers
from runtime.tensorrt import installed_tensorrt_version


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_info() -> dict[str, Any]:
    """GPU name, driver and CUDA version through NVML; empty where there is no NVIDIA GPU."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception as exc:  # no library, no driver, or no device: all mean "no GPU here"
        return {"gpu": f"none ({type(exc).__name__})"}
    try:
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        cuda = pynvml.nvmlSystemGetCudaDriverVersion_v2()
        return {
            "gpu": pynvml.nvmlDeviceGetName(handle),
            "gpu_driver": pynvml.nvmlSystemGetDriverVersion(),
            "cuda_driver": f"{cuda // 1000}.{cuda % 1000 // 10}",
        }
    finally:
        pynvml.nvmlShutdown()


def describe_environment(sessions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    import onnxruntime as ort
    import psutil

    used = sorted({s.get("primary", "?") for s in sessions or []})
    skipped: dict[str, str] = {}  # each provider asked for and not used, and why (runtime.session)
    for session in sessions or []:
        skipped.update(session.get("skipped", {}))
    return {
        "host": platform.node(),
        "os": platform.platform(),
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "providers_available": available_providers(),
        "providers_used": used or ["no session was created"],
        "providers_skipped": skipped,
        "tensorrt": installed_tensorrt_version(),
        **gpu_info(),
    }
