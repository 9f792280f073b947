"""Device check for acceptance/contention.py on a real NVIDIA GPU (run by hand where one is lent).

    python -m tests.gpu_contention_probe            # needs torch with CUDA, psutil, nvidia-ml-py

Measures one quiet window and one window while another process keeps the GPU busy with matmuls,
and prints what watch() saw in each as JSON. The busy window must show another process's GPU
utilisation above the profiles' busy_max_gpu_others_util_pct; the quiet one must not. Not collected
by pytest: this machine has no GPU, and CI never has one.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import sys
import time

from acceptance.contention import BusyLimits, watch

LIMITS = BusyLimits(max_others_share=0.25, retries=0, pause_s=0.0, max_gpu_others_util_pct=10.0)


def burn_gpu(seconds: float, ready) -> None:
    import torch

    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    ready.set()
    end = time.time() + seconds
    while time.time() < end:
        (a @ a).sum().item()


def window(seconds: float) -> dict:
    with watch() as seen:
        time.sleep(seconds)  # this process leaves the GPU alone: whatever NVML sees is someone else's
    return seen.as_dict() | {"too_busy": seen.too_busy(LIMITS), "reason": seen.describe()}


def main() -> int:
    quiet = window(3.0)
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    burner = ctx.Process(target=burn_gpu, args=(12.0, ready))
    burner.start()
    ready.wait(120)
    time.sleep(1.0)
    busy = window(5.0)
    burner.join()
    print(json.dumps({"quiet": quiet, "gpu_burner": busy}, indent=2))
    ok = busy["too_busy"] and not quiet["too_busy"]
    print("GPU contention detected while another process used the GPU:", "yes" if ok else "NO")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
