"""From test outcomes to criterion statuses to a sign-off verdict.

Honesty rules: a criterion is met only when its tests ran and passed. Skipped (cannot be
measured here), error (the test broke) and not-run (outside the selected slice) all count as
not met for a required criterion.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from acceptance.profile import Criterion, Profile

SIGNED_OFF, NOT_SIGNED_OFF = "signed-off", "not-signed-off"


@dataclass
class Outcome:
    nodeid: str
    criterion: str
    outcome: str  # passed | failed | skipped | error
    measured: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


@dataclass
class CriterionResult:
    id: str
    title: str
    prd_ref: str
    target: float
    comparator: str
    unit: str
    required: bool
    target_text: str  # Criterion.target_text: how every report shows the target
    status: str  # pass | fail | skipped | error | not-run
    measured: float | None = None
    reason: str = ""
    tests: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def evaluate(criterion: Criterion, outcomes: list[Outcome]) -> CriterionResult:
    result = CriterionResult(
        id=criterion.id, title=criterion.title, prd_ref=criterion.prd_ref, target=criterion.target,
        comparator=criterion.comparator, unit=criterion.unit, required=criterion.required,
        target_text=criterion.target_text, status="not-run",
        tests=[o.nodeid for o in outcomes],
    )
    if not outcomes:
        result.reason = "no test for this criterion ran (outside the selected slice, or deselected)"
        return result
    by = {k: [o for o in outcomes if o.outcome == k] for k in ("passed", "failed", "skipped", "error")}
    measured = [o for o in outcomes if o.measured is not None]
    if criterion.aggregate == "count_passed":
        result.measured = float(len(by["passed"]))
    elif measured:
        # Several cells for one criterion: report the one closest to failing.
        worst = max(measured, key=lambda o: criterion.badness(o.measured))
        result.measured, result.details = worst.measured, worst.details
    if by["error"]:
        result.status, result.reason = "error", by["error"][0].reason
        if result.measured is None:  # e.g. a busy machine: what it saw is in the details
            result.details = by["error"][0].details
    elif by["failed"]:
        result.status, result.reason = "fail", by["failed"][0].reason
    elif by["skipped"]:
        result.status, result.reason = "skipped", by["skipped"][0].reason
    elif criterion.aggregate == "count_passed" and not criterion.passes(result.measured):
        result.status = "not-run"
        result.reason = f"only {len(by['passed'])} of its tests ran in this selection; the target is {criterion.target_text}"
    elif result.measured is not None and not criterion.passes(result.measured):
        result.status, result.reason = "fail", f"measured {result.measured:g} misses {criterion.target_text}"
    else:
        result.status = "pass"
    return result


@dataclass
class Verdict:
    verdict: str
    profile: str
    model: dict[str, Any]
    environment: dict[str, Any]
    criteria: list[CriterionResult]
    measurements: dict[str, Any] = field(default_factory=dict)  # run-level figures beyond the criteria
    run: dict[str, Any] = field(default_factory=dict)  # which run: id, times, command, selection, how it ended
    baseline: dict[str, Any] | None = None  # the run compared with (--baseline), and what differs from it
    comparison: list[dict[str, Any]] = field(default_factory=list)  # per criterion: baseline, today, change

    @property
    def signed_off(self) -> bool:
        return self.verdict == SIGNED_OFF

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_dict(), indent=2, default=str), encoding="utf-8")


def unmet(signoff: dict[str, Any]) -> list[dict[str, Any]]:
    """The required criteria of a signoff.json that did not pass: what keeps it from signing off."""
    return [c for c in signoff.get("criteria", []) if c.get("required", True) and c["status"] != "pass"]


class SignoffFileError(Exception):
    """A signoff.json that is missing, unreadable or not one; the message says which."""


def read_signoff(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """An earlier run's signoff.json (or the reports dir that holds one), checked to be one."""
    target = Path(path)
    if target.is_dir():
        target = target / "signoff.json"
    if not target.is_file():
        raise SignoffFileError(f"{path}: no signoff.json there")
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SignoffFileError(f"{target}: not a readable signoff.json ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("criteria"), list):
        raise SignoffFileError(f"{target}: not a signoff.json (it has no criteria list)")
    return target, data


#: Compares this run's results with a baseline run: (comparison rows, regression.* criteria).
Comparator = Callable[[list[CriterionResult]], tuple[list[Any], list[CriterionResult]]]


def build_verdict(
    profile: Profile, outcomes: list[Outcome], model: dict[str, Any], environment: dict[str, Any],
    run: dict[str, Any] | None = None, *, baseline: dict[str, Any] | None = None,
    compare_with_baseline: Comparator | None = None,
) -> Verdict:
    """A run that did not complete (interrupted, stopped early, internal error) never signs off, and
    the criteria it did not reach say why. With a baseline, its regression.* criteria count like any other."""
    run = run or {}
    results = [evaluate(c, [o for o in outcomes if o.criterion == c.id]) for c in profile.criteria.values()]
    ended = run.get("ended", "completed")
    if ended != "completed":
        for r in results:
            if r.status == "not-run":
                r.reason = f"the run was {ended} before this criterion was measured"
    rows: list[Any] = []
    if compare_with_baseline is not None:
        rows, regressions = compare_with_baseline(results)
        results += regressions
    ok = ended == "completed" and all(r.status == "pass" for r in results if r.required) \
        and any(r.required for r in results)
    return Verdict(SIGNED_OFF if ok else NOT_SIGNED_OFF, profile.name, model, environment, results, run=run,
                   baseline=baseline, comparison=[asdict(r) for r in rows])


def print_verdict(verdict: Verdict, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    colours = {"pass": "green", "fail": "red", "error": "red", "skipped": "yellow", "not-run": "dim"}
    table = Table(title=f"Sign-off criteria: profile {verdict.profile}, model {verdict.model.get('id', '?')}")
    for column in ("criterion", "target", "measured", "status", "reason"):
        table.add_column(column, overflow="fold")
    for r in verdict.criteria:
        measured = "" if r.measured is None else f"{r.measured:.6g} {r.unit}".strip()
        target = r.target_text + ("" if r.required else " (info)")
        table.add_row(r.id, target, measured, f"[{colours[r.status]}]{r.status}[/]", r.reason[:160])
    console.print(table)
    if verdict.baseline and verdict.baseline.get("accepted_differences"):
        console.print(f"[yellow]Compared with a baseline that differs (--baseline-any): "
                      f"{'; '.join(verdict.baseline['accepted_differences'])}[/]")
    colour = "green" if verdict.signed_off else "red"
    ended = verdict.run.get("ended", "completed")
    suffix = "" if ended == "completed" else f" (the run was {ended.upper()})"
    console.print(f"[bold {colour}]VERDICT: {'SIGNED OFF' if verdict.signed_off else 'NOT SIGNED OFF'}{suffix}[/]")
