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

from dataclasses import dataclass, field
from pathlib import Path

from acceptance.profile import Allowance, Criterion, Profile
from acceptance.report.serial import ReportFormatError, to_jsonable
from acceptance.report.signoff import BaselineRef, ComparisonRow, CriterionResult, Environment, SignoffReport
from acceptance.report.vocabulary import RunEnd, Status


class BaselineError(Exception):  # a usage error: the plugin turns it into pytest's exit code 4
    """The baseline file is missing, unreadable, or not comparable with this run."""


@dataclass
class Baseline:
    path: str  # where it was read
    report: SignoffReport
    accepted_differences: list[str] = field(default_factory=list)  # what differs, under --baseline-any

    @property
    def run_id(self) -> str:
        return self.report.run.run_id

    def measured(self, criterion_id: str) -> float | None:
        found = self.report.criterion(criterion_id)
        return found.measured if found else None

    def ref(self) -> BaselineRef:
        r = self.report
        return BaselineRef(path=self.path, run_id=self.run_id, verdict=r.verdict, profile=r.profile, model=r.model.id,
                           onnx_sha256=r.model.onnx_sha256, precision=r.model.precision,
                           device=device_of(r.environment), ended_at=r.run.ended_at,
                           accepted_differences=list(self.accepted_differences))

    def for_workers(self) -> dict:
        """What xdist workers get (they cannot read a file the controller may have moved)."""
        return {"path": self.path, "report": self.report.to_json(), "accepted_differences": self.accepted_differences}

    @classmethod
    def from_workers(cls, data: dict) -> Baseline:
        return cls(data["path"], SignoffReport.from_json(data["report"], data["path"]), data["accepted_differences"])


def load_baseline(path: str | Path) -> Baseline:
    """Read a baseline signoff.json (or a reports dir that holds one). Read at start-up, before this run
    moves reports/signoff.json to reports/history/, so `--baseline reports/signoff.json` works."""
    try:
        report = SignoffReport.read(path)
    except ReportFormatError as exc:
        raise BaselineError(f"--baseline {exc}; point at the signoff.json of an earlier run (kept in "
                            "reports/history/<run id>/ after each run)") from None
    if report.run.ended is not RunEnd.COMPLETED:
        raise BaselineError(f"--baseline {path}: that run was {report.run.ended}; compare with a completed run")
    target = Path(path) / "signoff.json" if Path(path).is_dir() else Path(path)
    return Baseline(path=str(target.resolve()), report=report)


def device_of(environment: Environment) -> str:
    """What 'the same device' means: the host, its CPU and GPU, and the provider that ran."""
    used = ", ".join(environment.providers_used) or str(environment.provider_requested)
    return f"{environment.host} / {environment.cpu.model} / GPU {environment.gpu or 'none'} / {used}"


def differences(baseline: Baseline, *, profile: str, precision: str, onnx_sha256: str | None,
                environment: Environment) -> list[str]:
    """What makes the baseline another deployment or another machine than this run's."""
    then = baseline.report
    found = []
    if then.profile != profile:
        found.append(f"profile: baseline {then.profile}, this run {profile}")
    if then.model.precision != precision:
        found.append(f"precision: baseline {then.model.precision}, this run {precision}")
    if onnx_sha256 and then.model.onnx_sha256 and then.model.onnx_sha256 != onnx_sha256:
        found.append(f"model file: baseline sha256 {then.model.onnx_sha256[:16]}…, this run {onnx_sha256[:16]}…")
    env = then.environment
    for label, old, new in (("host", env.host, environment.host), ("CPU", env.cpu.model, environment.cpu.model),
                            ("GPU", env.gpu, environment.gpu),
                            ("provider", env.provider_requested, environment.provider_requested)):
        if old != new:
            found.append(f"{label}: baseline {old}, this run {new}")
    return found


def check_comparable(baseline: Baseline, *, profile: str, precision: str, onnx_sha256: str | None,
                     environment: Environment, accept_any: bool) -> None:
    """Refuse a baseline of another deployment or machine, unless --baseline-any says it is meant; what
    differs is kept, so every report can say so."""
    found = differences(baseline, profile=profile, precision=precision, onnx_sha256=onnx_sha256,
                        environment=environment)
    if found and not accept_any:
        raise BaselineError(
            f"--baseline {baseline.path} is not comparable with this run: " + "; ".join(found)
            + ". Compare like with like, or pass --baseline-any if you mean it (e.g. fp16 against fp32)")
    baseline.accepted_differences = found


def compare(baseline: Baseline, profile: Profile,
            results: list[CriterionResult]) -> tuple[list[ComparisonRow], list[CriterionResult]]:
    """Comparison rows for every criterion of the profile, and the regression.* criterion results."""
    rows, judged = [], []
    for result in results:
        crit = profile.get(result.id)
        if crit is None:
            continue
        allowance = profile.allowance(crit.id)
        old = baseline.measured(crit.id)
        row = _row(crit, allowance, old, result.measured)
        rows.append(row)
        if allowance is not None:
            judged.append(_regression(baseline, crit, allowance, row, result))
    return rows, judged


def _regression(baseline: Baseline, crit: Criterion, allowance: Allowance, row: ComparisonRow,
                result: CriterionResult) -> CriterionResult:
    reg = CriterionResult(
        id=f"regression.{crit.id}", title=f"{crit.title}: no worse than baseline run {baseline.run_id}",
        prd_ref="Release gate: no regression against the baseline run", target=_limit(allowance), comparator="<=",
        unit="%" if allowance.max_pct is not None else crit.unit, required=True,
        target_text=f"at most {allowance.text} than the baseline", status=Status.PASS, measured=row.worse_by,
        details=to_jsonable(row), tests=list(result.tests),
    )
    unmeasured = (Status.ERROR, Status.SKIPPED, Status.NOT_RUN)
    if row.baseline is None:
        then = baseline.report.criterion(crit.id)
        reg.status = Status.SKIPPED
        reg.reason = f"the baseline run has no value for {crit.id} ({then.status if then else 'absent'})"
    elif result.measured is None or result.status in unmeasured:
        reg.status = result.status if result.status in unmeasured else Status.ERROR
        reg.reason = f"no value today for {crit.id}: {result.reason or result.status}"
    elif row.regressed:
        reg.status = Status.FAIL
        reg.reason = (f"{crit.id}: {row.current:.6g} against the baseline's {row.baseline:.6g} "
                      f"({row.change_pct:+.1f}%), worse by more than {allowance.text}")
    return reg


def _limit(allowance: Allowance) -> float:
    return allowance.max_pct if allowance.max_pct is not None else allowance.max_abs


def _row(crit: Criterion, allowance: Allowance | None, old: float | None, new: float | None) -> ComparisonRow:
    text = allowance.text if allowance else "no allowance in the profile: not judged"
    if old is None or new is None:
        return ComparisonRow(crit.id, old, new, None, None, None, text, None, "a value is missing on one side")
    change = new - old
    pct = 100 * change / abs(old) if old else None
    worse_abs = crit.badness(new) - crit.badness(old)  # badness: larger is worse, in either direction
    if allowance is None:
        return ComparisonRow(crit.id, old, new, change, pct, None, text, None)
    if allowance.max_pct is not None:
        worse = 100 * worse_abs / abs(old) if old else (0.0 if worse_abs <= 0 else float("inf"))
    else:
        worse = worse_abs
    return ComparisonRow(crit.id, old, new, change, pct, worse, text, worse > _limit(allowance))
