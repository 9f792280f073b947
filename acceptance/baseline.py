"""Comparison with a baseline run: `--baseline PATH` (a signoff.json, or the reports dir holding one).

For each criterion of the profile that has an allowance ([regression] in the profile), the baseline's
value, today's, the change (absolute and %), and a criterion of its own, `regression.<id>`, that fails
the verdict when today's value is worse than the baseline's by more than the allowance, in that
criterion's bad direction (higher latency, lower throughput, lower cosine).

A baseline is refused when it is not comparable: another model file, another profile, another
precision, another device or provider. `--baseline-any` accepts it anyway (fp16 against fp32, a Thor
against the CPU box), and every report then says so at the top.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from acceptance.profile import Allowance, Criterion, Profile
from acceptance.verdict import CriterionResult, SignoffFileError, read_signoff


class BaselineError(Exception):  # a usage error: the plugin turns it into pytest's exit code 4
    """The baseline file is missing, unreadable, or not comparable with this run."""


@dataclass
class Baseline:
    path: str  # where it was read
    signoff: dict[str, Any]
    accepted_differences: list[str] = field(default_factory=list)  # what differs, under --baseline-any

    @property
    def run_id(self) -> str:
        return str(self.signoff.get("run", {}).get("run_id", "unrecorded"))

    def values(self) -> dict[str, dict[str, Any]]:
        return {c["id"]: c for c in self.signoff.get("criteria", [])}

    def header(self) -> dict[str, Any]:
        model, env = self.signoff.get("model", {}), self.signoff.get("environment", {})
        return {
            "path": self.path, "run_id": self.run_id, "verdict": self.signoff.get("verdict"),
            "profile": self.signoff.get("profile"), "model": model.get("id"), "onnx_sha256": model.get("onnx_sha256"),
            "precision": model.get("precision", "fp32"), "device": device_of(env),
            "ended_at": self.signoff.get("run", {}).get("ended_at"),
            "accepted_differences": self.accepted_differences,
        }


def load_baseline(path: str | Path) -> Baseline:
    """Read a baseline signoff.json (or a reports dir that holds one). Read at start-up, before this run
    moves reports/signoff.json to reports/history/, so `--baseline reports/signoff.json` works."""
    try:
        target, data = read_signoff(path)
    except SignoffFileError as exc:
        raise BaselineError(f"--baseline {exc}; point at the signoff.json of an earlier run (kept in "
                            "reports/history/<run id>/ after each run)") from None
    if data.get("run", {}).get("ended", "completed") != "completed":
        raise BaselineError(f"--baseline {target}: that run was {data['run']['ended']}; compare with a completed run")
    return Baseline(path=str(target.resolve()), signoff=data)


def device_of(environment: dict[str, Any]) -> str:
    """What 'the same device' means: the host, its CPU and GPU, and the provider that ran."""
    used = ", ".join(environment.get("providers_used", []) or [environment.get("provider_requested", "?")])
    return f"{environment.get('host')} / {environment.get('cpu')} / GPU {environment.get('gpu')} / {used}"


def differences(baseline: Baseline, *, profile: str, precision: str, onnx_sha256: str | None,
                environment: dict[str, Any]) -> list[str]:
    """What makes the baseline another deployment or another machine than this run's."""
    head = baseline.header()
    found = []
    if head["profile"] != profile:
        found.append(f"profile: baseline {head['profile']}, this run {profile}")
    if head["precision"] != precision:
        found.append(f"precision: baseline {head['precision']}, this run {precision}")
    if onnx_sha256 and head["onnx_sha256"] and head["onnx_sha256"] != onnx_sha256:
        found.append(f"model file: baseline sha256 {head['onnx_sha256'][:16]}…, this run {onnx_sha256[:16]}…")
    env = baseline.signoff.get("environment", {})
    for key, label in (("host", "host"), ("cpu", "CPU"), ("gpu", "GPU"), ("provider_requested", "provider")):
        if key in env and key in environment and env[key] != environment[key]:
            found.append(f"{label}: baseline {env[key]}, this run {environment[key]}")
    return found


@dataclass
class Comparison:
    criterion: str
    baseline: float | None
    current: float | None
    change_abs: float | None
    change_pct: float | None
    worse_by: float | None  # in the allowance's unit (% or absolute), positive = worse
    allowance: str
    regressed: bool | None  # None: not judged (a value is missing, or no allowance)
    note: str = ""


def compare(baseline: Baseline, profile: Profile,
            results: list[CriterionResult]) -> tuple[list[Comparison], list[CriterionResult]]:
    """Comparison rows for every criterion of the profile, and the regression.* criterion results."""
    before = baseline.values()
    rows, judged = [], []
    for result in results:
        crit = profile.get(result.id)
        if crit is None:
            continue
        allowance = profile.allowance(crit.id)
        old = before.get(crit.id, {}).get("measured")
        row = _row(crit, allowance, old, result.measured)
        rows.append(row)
        if allowance is None:
            continue
        reg = CriterionResult(
            id=f"regression.{crit.id}", title=f"{crit.title}: no worse than baseline run {baseline.run_id}",
            prd_ref="Release gate: no regression against the baseline run", target=_limit(allowance),
            comparator="<=", unit="%" if allowance.max_pct is not None else crit.unit, required=True,
            target_text=f"at most {allowance.text} than the baseline", status="pass", measured=row.worse_by,
            details=asdict(row), tests=list(result.tests),
        )
        if old is None:
            reg.status, reg.reason = "skipped", f"the baseline run has no value for {crit.id} ({before.get(crit.id, {}).get('status', 'absent')})"
        elif result.measured is None or result.status in ("error", "skipped", "not-run"):
            reg.status = result.status if result.status in ("error", "skipped", "not-run") else "error"
            reg.reason = f"no value today for {crit.id}: {result.reason or result.status}"
        elif row.regressed:
            reg.status = "fail"
            reg.reason = (f"{crit.id}: {row.current:.6g} against the baseline's {row.baseline:.6g} "
                          f"({row.change_pct:+.1f}%), worse by more than {allowance.text}")
        judged.append(reg)
    return rows, judged


def _limit(allowance: Allowance) -> float:
    return allowance.max_pct if allowance.max_pct is not None else allowance.max_abs


def _row(crit: Criterion, allowance: Allowance | None, old: float | None, new: float | None) -> Comparison:
    text = allowance.text if allowance else "no allowance in the profile: not judged"
    if old is None or new is None:
        return Comparison(crit.id, old, new, None, None, None, text, None,
                          "a value is missing on one side")
    change = new - old
    pct = 100 * change / abs(old) if old else None
    worse_abs = crit.badness(new) - crit.badness(old)  # badness: larger is worse, in either direction
    if allowance is None:
        return Comparison(crit.id, old, new, change, pct, None, text, None)
    if allowance.max_pct is not None:
        worse = 100 * worse_abs / abs(old) if old else (0.0 if worse_abs <= 0 else float("inf"))
    else:
        worse = worse_abs
    return Comparison(crit.id, old, new, change, pct, worse, text, worse > _limit(allowance))
