"""What the run ran on: the machine, its CPU's instruction sets, the libraries, and the providers the
sessions really got."""

from __future__ import annotations

import os
import platform
from functools import cache
from typing import Any

from acceptance.nvml import nvml
from acceptance.report.signoff import CpuInfo, Environment
from runtime.session import available_providers
from runtime.tensorrt import installed_tensorrt_version


def _cpuinfo_fields() -> dict[str, str]:
    """The first processor's block of /proc/cpuinfo (Linux); empty elsewhere."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


@cache
def cpu_info() -> CpuInfo:
    """Vendor, model and the instruction sets that decide which precisions run fast here."""
    fields = _cpuinfo_fields()
    flags = set(fields.get("flags", fields.get("Features", "")).split())
    return CpuInfo(
        vendor=fields.get("vendor_id", fields.get("CPU implementer", platform.machine())),
        model=fields.get("model name", platform.processor() or platform.machine()),
        cores=os.cpu_count() or 1,
        avx512="avx512f" in flags, avx512_bf16="avx512_bf16" in flags,
        vnni=bool(flags & {"avx512_vnni", "avx_vnni"}), amx="amx_tile" in flags,
    )


def gpu_info() -> dict[str, Any]:
    """GPU name, driver and CUDA version through NVML; the reason there is none otherwise."""
    with nvml() as (lib, why):
        if lib is None:
            return {"gpu": None, "gpu_reason": f"no NVIDIA GPU here ({why})"}
        handles = lib.handles()
        if not handles:
            return {"gpu": None, "gpu_reason": "NVML lists no GPU"}
        cuda = lib.api.nvmlSystemGetCudaDriverVersion_v2()
        return {"gpu": lib.api.nvmlDeviceGetName(handles[0]), "gpu_driver": lib.api.nvmlSystemGetDriverVersion(),
                "cuda_driver": f"{cuda // 1000}.{cuda % 1000 // 10}"}


def describe_environment(sessions: list[dict[str, Any]] | None = None, **run_options: Any) -> Environment:
    """The machine, and (from the sessions' reports) the providers used and those left out, with why."""
    import onnxruntime as ort
    import psutil

    skipped: dict[str, str] = {}
    for session in sessions or []:
        skipped.update(session.get("skipped", {}))
    return Environment(
        host=platform.node(), os=platform.platform(), cpu=cpu_info(),
        memory_gb=round(psutil.virtual_memory().total / 2**30, 1), python=platform.python_version(),
        onnxruntime=ort.__version__, providers_available=available_providers(),
        providers_used=sorted({s.get("primary", "?") for s in sessions or []}), providers_skipped=skipped,
        tensorrt=installed_tensorrt_version(), **gpu_info(), **run_options,
    )
