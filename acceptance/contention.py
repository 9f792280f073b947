"""Is the machine busy? Contention detected during a measurement, instead of measured into it.

A latency or throughput figure taken while other processes use the cores (or, in a VM, while the
hypervisor steals them) says as much about the neighbours as about the deployment. `watch()` records,
over the measurement window, the CPU time every other process used on the cores this process may run
on (system-wide busy time minus this process's own), the steal time, the load average and, where NVML
sees a GPU, other processes' GPU utilisation. `measure_when_quiet()` re-measures a bounded number of
times, with a pause, while the share is above the profile's limit; a figure that stays contended is
never judged: its criterion reports `error` with the reason (`MachineBusy`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import psutil

from acceptance.nvml import nvml
from acceptance.report.vocabulary import MACHINE_BUSY

T = TypeVar("T")


class MachineBusy(Exception):
    """A measurement stayed contended after every retry: its criterion is an error, never a pass or fail."""


@dataclass(frozen=True)
class BusyLimits:
    """The profile's [measurement] busy_* settings."""

    max_others_share: float  # of the cores this process may use, 0..1; 1.0 turns detection off
    retries: int
    pause_s: float
    max_gpu_others_util_pct: float

    @classmethod
    def from_profile(cls, profile) -> BusyLimits:
        return cls(
            max_others_share=float(profile.setting("busy_max_others_share")),
            retries=int(profile.setting("busy_retries")),
            pause_s=float(profile.setting("busy_pause_s")),
            max_gpu_others_util_pct=float(profile.setting("busy_max_gpu_others_util_pct")),
        )


@dataclass
class Contention:
    """What others took from the machine during one measurement window."""

    wall_s: float = 0.0
    cores: int = 0  # the cores this process may run on, whose time is counted
    others_cpu_s: float = 0.0  # CPU seconds other processes used on those cores
    others_share: float = 0.0  # others_cpu_s / (wall_s x cores)
    steal_share: float = 0.0  # time the hypervisor gave to other guests, same unit (Linux)
    load_avg_1m: float | None = None
    gpu_others_util_pct: float | None = None  # highest utilisation of the GPU by another process (NVML)
    notes: list[str] = field(default_factory=list)

    @property
    def busy_share(self) -> float:
        return max(0.0, self.others_share) + max(0.0, self.steal_share)

    def too_busy(self, limits: BusyLimits) -> bool:
        gpu = self.gpu_others_util_pct is not None and self.gpu_others_util_pct > limits.max_gpu_others_util_pct
        return self.busy_share > limits.max_others_share or gpu

    def describe(self) -> str:
        parts = [f"others used {100 * self.others_share:.0f}% of the CPU during the measurement"]
        if self.steal_share >= 0.005:
            parts.append(f"the hypervisor stole {100 * self.steal_share:.0f}%")
        if self.gpu_others_util_pct:
            parts.append(f"other processes kept the GPU {self.gpu_others_util_pct:.0f}% busy")
        if self.load_avg_1m is not None:
            parts.append(f"load average {self.load_avg_1m:.1f} on {self.cores} cores")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"busy_share": self.busy_share}


def _our_cores() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows: every core
        return list(range(psutil.cpu_count() or 1))


def _busy_and_steal(cores: list[int]) -> tuple[float, float]:
    """Busy and steal CPU seconds so far, summed over `cores` (guest time is already inside user)."""
    per_cpu = psutil.cpu_times(percpu=True)
    busy = steal = 0.0
    for index in cores:
        if index >= len(per_cpu):
            continue
        t = per_cpu[index]
        busy += t.user + t.system + getattr(t, "nice", 0.0) + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)
        steal += getattr(t, "steal", 0.0)
    return busy, steal


def _own_cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _gpu_others_util(pid: int, since_us: int) -> tuple[float | None, str | None]:
    """The highest SM utilisation by a process other than `pid` since `since_us`, or None without a GPU."""
    with nvml() as (lib, _):
        if lib is None:
            return None, None  # no GPU to share
        highest = 0.0
        for handle in lib.handles():
            try:
                samples = lib.api.nvmlDeviceGetProcessUtilization(handle, since_us)
            except lib.api.NVMLError as exc:  # NOT_FOUND: no process used the GPU in the window
                if "Not Found" in str(exc):
                    continue
                return None, f"NVML gives no per-process GPU utilisation here ({exc})"
            highest = max([highest, *(float(s.smUtil) for s in samples if s.pid != pid)])
        return highest, None


@contextmanager
def watch() -> Iterator[Contention]:
    """Record contention over the `with` block; the yielded object is filled in when the block ends."""
    result = Contention()
    cores = _our_cores()
    process = psutil.Process()
    busy0, steal0 = _busy_and_steal(cores)
    own0, wall0, since_us = _own_cpu_s(process), time.perf_counter(), int(time.time() * 1e6)
    try:
        yield result
    finally:
        busy1, steal1 = _busy_and_steal(cores)
        own1, wall1 = _own_cpu_s(process), time.perf_counter()
        result.wall_s, result.cores = wall1 - wall0, len(cores)
        capacity = max(result.wall_s * len(cores), 1e-9)
        result.others_cpu_s = max(0.0, (busy1 - busy0) - (own1 - own0))
        result.others_share = result.others_cpu_s / capacity
        result.steal_share = max(0.0, steal1 - steal0) / capacity
        try:
            result.load_avg_1m = os.getloadavg()[0]
        except (AttributeError, OSError):
            result.notes.append("no load average on this OS")
        result.gpu_others_util_pct, note = _gpu_others_util(os.getpid(), since_us)
        if note:
            result.notes.append(note)


@dataclass
class Quiet:
    """A measurement taken when the machine was quiet enough, or the last one tried."""

    value: Any
    contention: Contention
    attempts: int  # 0: not measured, since the phase was already found busy (`unmeasured` says how)
    contended: bool  # still above the limits after every retry
    unmeasured: str = ""

    def figures(self) -> dict[str, Any]:
        """What reports show: the last window's figures and how many tries it took."""
        return self.contention.as_dict() | {"attempts": self.attempts, "contended": self.contended}

    def busy_reason(self) -> str:
        tried = f"after {self.attempts} attempts" if self.attempts else f"not measured: {self.unmeasured}"
        return MACHINE_BUSY.message(f"{self.contention.describe()} ({tried}); the figure was not judged: run "
                                    "again on a quiet machine")


def measure_when_quiet(measure: Callable[[], T], limits: BusyLimits,
                       on_retry: Callable[[Contention, int], None] | None = None) -> Quiet:
    """Run measure() under watch(); while others took more than the limit, pause and run it again,
    at most limits.retries more times."""
    attempt = 0
    while True:
        attempt += 1
        with watch() as contention:
            value = measure()
        busy = contention.too_busy(limits)
        if not busy or attempt > limits.retries:
            return Quiet(value=value, contention=contention, attempts=attempt, contended=busy)
        if on_retry is not None:
            on_retry(contention, attempt)
        time.sleep(limits.pause_s)


def probe(limits: BusyLimits, seconds: float = 0.5) -> Quiet:
    """A cheap look before a timing phase: what others take from the cores while this process idles for
    `seconds`, re-looked at after a pause while it is above the limits (no measurement is spent on it)."""
    return measure_when_quiet(lambda: time.sleep(seconds), limits)


class TimingPhase:
    """A phase of timing measurements (the latency grid, the throughput runs) on a machine that may be busy.

    It probes the machine first; once the probe or a measurement stays busy through its retries, the rest of
    the phase is reported busy without being measured (a busy machine is named in seconds, not after every
    cell was tried three times), unless the profile asks for every cell anyway (busy_measure_every_cell)."""

    def __init__(self, limits: BusyLimits, measure_every_cell: bool = False):
        self.limits, self.measure_every_cell = limits, measure_every_cell
        first = probe(limits)
        self.busy: Quiet | None = first if first.contended else None
        self.unmeasured = (f"the probe before this phase found the machine busy {first.attempts} times"
                           if first.contended else "")

    def measure(self, measure: Callable[[], T],
                on_retry: Callable[[Contention, int], None] | None = None) -> Quiet:
        """measure() when the machine is quiet enough; a Quiet with value None when the phase is already busy."""
        if self.busy is not None and not self.measure_every_cell:
            return Quiet(value=None, contention=self.busy.contention, attempts=0, contended=True,
                         unmeasured=self.unmeasured)
        quiet = measure_when_quiet(measure, self.limits, on_retry)
        if quiet.contended and self.busy is None:
            self.busy = quiet
            self.unmeasured = f"an earlier measurement of this phase stayed busy through {quiet.attempts} attempts"
        return quiet
