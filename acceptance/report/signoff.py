"""The sign-off report: what one acceptance run measured and concluded, as typed objects.

`SignoffReport` is written once, by the run's recorder, to reports/signoff.json (`write`), and read back
by everything that uses a run afterwards: the renderer (signoff.md, the Allure files, the plots), the
baseline comparison, the fleet, the precision ladder and the device check (`read`). The file carries its
schema version: an older file is read (and upgraded in memory), a newer one is refused with what to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acceptance.report.load import LoadRun
from acceptance.report.serial import (
    ReportFormatError,
    check_version,
    from_jsonable,
    read_json,
    to_jsonable,
    write_json,
)
from acceptance.report.vocabulary import RunEnd, Status, Verdict
from modelprep.graph_audit import GraphAudit

#: 2: typed report (statuses and verdicts as their words, `gpu` null with a reason instead of
#: "none (...)", the baseline comparison as one object). 1: the files before it (no schema_version).
SCHEMA_VERSION = 2
SIGNOFF_FILE = "signoff.json"


@dataclass
class CriterionResult:
    id: str
    title: str
    prd_ref: str
    target: float
    comparator: str
    unit: str
    required: bool
    target_text: str  # how every report shows the target, e.g. "< 30 ms"
    status: Status
    measured: float | None = None
    reason: str = ""
    tests: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def met(self) -> bool:
        return self.status.met

    def value_text(self, fmt: str = "{:.4g}") -> str:
        """The measured value with its unit, or why there is none."""
        if self.measured is None:
            return f"not measured ({self.status}: {self.reason or 'no reason recorded'})"
        return f"{fmt.format(self.measured)} {self.unit}".strip()


@dataclass
class CpuInfo:
    """The CPU, and the instruction sets that decide which precision runs fast (and where) on it."""

    vendor: str  # GenuineIntel, AuthenticAMD, ARM, ...
    model: str
    cores: int
    avx512: bool = False
    avx512_bf16: bool = False  # bf16 dot products
    vnni: bool = False  # int8 dot products (AVX512-VNNI or AVX-VNNI)
    amx: bool = False  # Intel's tile units (bf16 and int8)

    @property
    def summary(self) -> str:
        features = [name for name, has in (("AVX-512", self.avx512), ("AVX512-BF16", self.avx512_bf16),
                                           ("VNNI", self.vnni), ("AMX", self.amx)) if has]
        return f"{self.model} ({self.vendor}), {self.cores} cores; " + (", ".join(features) or "no AVX-512")


@dataclass
class Environment:
    """The machine a run ran on, and the providers its sessions really got."""

    host: str
    os: str
    cpu: CpuInfo
    memory_gb: float
    python: str
    onnxruntime: str
    providers_available: list[str]
    providers_used: list[str]  # empty when no session was created
    providers_skipped: dict[str, str] = field(default_factory=dict)  # provider -> why it was left out
    tensorrt: str | None = None  # its version; None when not installed
    gpu: str | None = None  # the GPU's name; None when there is none, with the reason in gpu_reason
    gpu_reason: str = ""
    gpu_driver: str | None = None
    cuda_driver: str | None = None
    provider_requested: str | None = None
    strict_provider: bool = False
    injected_fault: str | None = None

    @property
    def device(self) -> str:
        """The hardware that ran the deployment, in a few words."""
        return self.gpu if self.gpu is not None else f"{self.cpu.model} (no GPU)"

    @property
    def providers_text(self) -> str:
        return ", ".join(self.providers_used) or "no session was created"


@dataclass
class TestedModel:
    """The deployment's manifest facts and the files the run really loaded (hashed at load)."""

    __test__ = False

    id: str
    name: str
    dimension: int
    pooling: str
    padding_side: str
    max_length: int
    precision: str
    manifest: str
    onnx: str | None = None
    onnx_sha256: str | None = None
    tokenizer: str | None = None
    tokenizer_sha256: str | None = None
    external_data_sha256: dict[str, str] | None = None
    verified_against: list[str] = field(default_factory=list)
    verification: dict[str, str] = field(default_factory=dict)
    unverified: list[str] = field(default_factory=list)
    tested_files: str = ""  # one set of files in every worker, or what differed


@dataclass
class RunInfo:
    """Which run a report belongs to, what it selected, and how it ended."""

    run_id: str
    started_at: str
    command: str
    selection: dict[str, Any]  # -m, -k, the paths given, --inject-fault
    suite: dict[str, Any]  # the suite's git commit, and whether it had local changes
    host: str
    invocation: str | None  # shared by the runs of one `make signoff`
    ended_at: str | None = None
    exit_status: int | None = None
    ended: RunEnd = RunEnd.RUNNING
    tests: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.ended is RunEnd.COMPLETED


@dataclass
class BaselineRef:
    """The earlier run a run was compared with (--baseline), and what differs from it."""

    path: str
    run_id: str
    verdict: Verdict
    profile: str
    model: str
    onnx_sha256: str | None
    precision: str
    device: str
    ended_at: str | None
    accepted_differences: list[str] = field(default_factory=list)  # under --baseline-any


@dataclass
class ComparisonRow:
    """One criterion against the baseline run."""

    criterion: str
    baseline: float | None
    current: float | None
    change_abs: float | None
    change_pct: float | None
    worse_by: float | None  # in the allowance's unit (% or absolute), positive = worse
    allowance: str
    regressed: bool | None  # None: not judged (a value is missing, or no allowance)
    note: str = ""


@dataclass
class Comparison:
    baseline: BaselineRef
    rows: list[ComparisonRow] = field(default_factory=list)


@dataclass
class Measurements:
    """Run-level figures beyond the criteria."""

    latency_cells: list[dict[str, Any]] = field(default_factory=list)  # the latency grid, every cell
    load_runs: list[LoadRun] = field(default_factory=list)  # every MLPerf LoadGen run, in the order they ran


@dataclass
class SignoffReport:
    verdict: Verdict
    profile: str
    model: TestedModel
    environment: Environment
    criteria: list[CriterionResult]
    run: RunInfo
    measurements: Measurements = field(default_factory=Measurements)
    graph: GraphAudit | None = None  # the precision the tested graph really has (None: no model was loaded)
    comparison: Comparison | None = None  # --baseline
    schema_version: int = SCHEMA_VERSION

    def __bool__(self) -> bool:
        """True when signed off: a report can be tested like Polygraphy's comparison results."""
        return self.verdict is Verdict.SIGNED_OFF

    @property
    def signed_off(self) -> bool:
        return bool(self)

    def unmet(self) -> list[CriterionResult]:
        """The required criteria that did not pass: what keeps this run from signing off."""
        return [c for c in self.criteria if c.required and not c.met]

    def criterion(self, criterion_id: str) -> CriterionResult | None:
        return next((c for c in self.criteria if c.id == criterion_id), None)

    @property
    def headline(self) -> str:
        """The verdict in one line, as the dashboard's title and the terminal show it."""
        unmet = len(self.unmet())
        ended = "" if self.run.complete else f", run {self.run.ended.upper()}"
        detail = f" ({unmet} criteria not met{ended})" if unmet else (f" ({ended[2:]})" if ended else "")
        return f"Sign-off {self.model.id} / {self.profile}: {self.verdict.headline}{detail}"

    def to_json(self) -> dict[str, Any]:
        return to_jsonable(self)

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str | Path = SIGNOFF_FILE) -> SignoffReport:
        version = check_version(data, Path(where), "signoff.json", SCHEMA_VERSION)
        if version == 1:
            data = _upgrade_from_1(data)
        return from_jsonable(cls, data, str(where))

    def write(self, path: Path) -> Path:
        return write_json(path, self.to_json())

    @classmethod
    def read(cls, path: str | Path) -> SignoffReport:
        """A run's signoff.json, or the reports dir that holds one."""
        target = Path(path)
        if target.is_dir():
            target = target / SIGNOFF_FILE
        data = read_json(target, "signoff.json")
        if not isinstance(data.get("criteria"), list):
            raise ReportFormatError(f"{target}: not a signoff.json (it has no criteria list)")
        return cls.from_json(data, target)


def _upgrade_from_1(data: dict[str, Any]) -> dict[str, Any]:
    """A signoff.json written before schema versions, in today's shape: its GPU sentinel ("none (...)")
    becomes null with the reason, its CPU fields one CpuInfo, its baseline header and comparison rows one
    Comparison; what no version-2 run writes (plots drawn into the data, a precision ladder pasted in) is
    dropped, since the renderer draws and reads those itself."""
    env = dict(data.get("environment", {}))
    gpu = env.get("gpu")
    if isinstance(gpu, str) and gpu.startswith("none"):
        env["gpu"], env["gpu_reason"] = None, gpu.removeprefix("none").strip(" ()") or "no GPU"
    if env.get("tensorrt") == "not installed":
        env["tensorrt"] = None
    env["cpu"] = {"vendor": "unknown", "model": str(env.get("cpu", "unknown")),
                  "cores": int(env.pop("cpu_cores", 0) or 0)}
    env["providers_used"] = [p for p in env.get("providers_used", []) if p != "no session was created"]
    known = {"host", "os", "cpu", "memory_gb", "python", "onnxruntime", "providers_available", "providers_used",
             "providers_skipped", "tensorrt", "gpu", "gpu_reason", "gpu_driver", "cuda_driver", "provider_requested",
             "strict_provider", "injected_fault"}
    dropped = ("baseline", "comparison", "precision_ladder", "measurements")
    upgraded = {k: v for k, v in data.items() if k not in dropped}
    upgraded["environment"] = {k: v for k, v in env.items() if k in known}
    upgraded["measurements"] = {"latency_cells": data.get("measurements", {}).get("latency_cells", [])}
    upgraded["model"] = {k: v for k, v in data.get("model", {}).items() if k != "external_data"}
    if data.get("baseline"):
        header = {k: v for k, v in data["baseline"].items()}
        upgraded["comparison"] = {"baseline": header, "rows": data.get("comparison", [])}
    upgraded["schema_version"] = SCHEMA_VERSION
    return upgraded
