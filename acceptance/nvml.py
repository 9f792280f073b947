"""NVIDIA's management library (nvidia-ml-py), opened once per use and always closed: the one place the
suite initialises NVML. Where there is no library, no driver or no GPU, `nvml()` yields None and the
reason, and the caller reports that instead of a figure."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Nvml:
    """An initialised NVML: the module, for its calls, while the `with` block lasts."""

    api: Any

    def handles(self) -> list[Any]:
        return [self.api.nvmlDeviceGetHandleByIndex(i) for i in range(self.api.nvmlDeviceGetCount())]


@contextmanager
def nvml() -> Iterator[tuple[Nvml | None, str]]:
    """(Nvml, "") while NVML is up, or (None, why there is none)."""
    try:
        import pynvml
    except ImportError:
        yield None, "nvidia-ml-py is not installed"
        return
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # no library, no driver, or no device: all mean "no GPU here"
        yield None, f"NVML: {type(exc).__name__}: {str(exc) or 'no NVIDIA driver or GPU'}"
        return
    try:
        yield Nvml(pynvml), ""
    finally:
        pynvml.nvmlShutdown()
