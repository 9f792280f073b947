"""Several devices, one dashboard: `python -m acceptance.fleet RUN_DIR... [--out DIR]` (`make report RUNS=...`).

Each device runs the suite where it is and keeps its reports dir (signoff.json, allure-results/).
Collected in one place (copied from each device, or written to a shared folder with --reports-dir),
the runs are merged here:

- one Allure report, each run an Allure 3 environment of its own (the `device` label on every
  result; allurerc.mjs turns ALLURE_FLEET_DEVICES into environments), with each run's environment
  (device, providers, model hash) kept apart;
- a fleet table, device x criterion -> measured and status, in fleet.md, fleet.json and the terminal;
- a fleet verdict: SIGNED OFF only if every run is, and every run completed.

A RUN_DIR may be given as LABEL=PATH to name the device (by default, the directory's name).
Nothing in a RUN_DIR is changed: the merged results are written under --out.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acceptance.report.allure_files import GLOBALS_NAME, HEADLINE_FILE, write_globals, write_headline
from acceptance.report.markdown import cell
from acceptance.report.serial import ReportFormatError, to_jsonable, write_json
from acceptance.report.signoff import CriterionResult, SignoffReport
from acceptance.report.vocabulary import Verdict

#: Marks an allure-results folder written by a merge, so the next merge may replace it (and nothing else).
MARKER = ".fleet-merge"
#: Where the dashboard generator lives (package.json, allurerc.mjs, node_modules: `make report` installs it).
ALLURE_DIR = Path(__file__).resolve().parent.parent / "tools" / "allure"


class FleetError(Exception):
    """A run dir that cannot be merged: the message says which and why."""


@dataclass
class Run:
    label: str  # the device's name in the dashboard: letters, digits, '-' and '_'
    path: Path
    report: SignoffReport
    results: Path | None  # its allure-results, where there is one

    @property
    def signed_off(self) -> bool:
        return bool(self.report) and self.report.run.complete

    def device(self) -> str:
        return f"{self.report.environment.host}: {self.report.environment.device}"


@dataclass
class Fleet:
    runs: list[Run]

    @property
    def criteria(self) -> list[str]:
        """Every criterion id of any run, in first-seen order."""
        return list(dict.fromkeys(c.id for run in self.runs for c in run.report.criteria))

    @property
    def verdict(self) -> Verdict:
        return Verdict.of(bool(self.runs) and all(r.signed_off for r in self.runs))

    @property
    def headline(self) -> str:
        signed = sum(r.signed_off for r in self.runs)
        return f"Fleet sign-off: {self.verdict.headline} ({signed} of {len(self.runs)} devices signed off)"

    def cells(self) -> dict[str, dict[str, CriterionResult]]:
        """criterion id -> device label -> that run's result."""
        table: dict[str, dict[str, CriterionResult]] = {c: {} for c in self.criteria}
        for run in self.runs:
            for c in run.report.criteria:
                table[c.id][run.label] = c
        return table

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value, "headline": self.headline,
            "devices": [{
                "label": r.label, "path": str(r.path), "device": r.device(), "verdict": r.report.verdict.value,
                "run": to_jsonable(r.report.run), "profile": r.report.profile,
                "model": {"id": r.report.model.id, "precision": r.report.model.precision,
                          "onnx_sha256": r.report.model.onnx_sha256},
                "providers_used": r.report.environment.providers_used,
                "failing": [c.id for c in r.report.unmet()],
            } for r in self.runs],
            "criteria": {cid: {label: {"measured": c.measured, "unit": c.unit, "status": c.status.value,
                                       "reason": c.reason, "target_text": c.target_text}
                               for label, c in by_device.items()} for cid, by_device in self.cells().items()},
        }


def _label(text: str) -> str:
    label = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:64]
    if not label:
        raise FleetError(f"{text!r} makes no device label: use LABEL=PATH with letters, digits, '-' or '_'")
    return label


def read_run(spec: str) -> Run:
    label, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
    try:
        report = SignoffReport.read(path)
    except ReportFormatError as exc:
        raise FleetError(f"{exc}; give each device's reports dir (see docs/fleet.md)") from None
    directory = Path(path) if Path(path).is_dir() else Path(path).parent
    results = directory / "allure-results"
    return Run(_label(label or directory.resolve().name), directory, report, results if results.is_dir() else None)


def build_fleet(specs: list[str]) -> Fleet:
    runs = [read_run(s) for s in specs]
    labels = [r.label for r in runs]
    repeated = sorted({x for x in labels if labels.count(x) > 1})
    if repeated:
        raise FleetError(f"two runs are both named {', '.join(repeated)}: name them with LABEL=PATH")
    return Fleet(runs)


def _value(entry: CriterionResult | None) -> str:
    if entry is None:
        return "not in this run's profile"
    if entry.measured is None:
        return str(entry.status)
    return f"{entry.measured:.4g} {entry.unit}".strip() + f" ({entry.status})"


def write_fleet_md(fleet: Fleet, path: Path) -> Path:
    lines = [f"# Fleet sign-off: {fleet.verdict.shown}", "",
             "Signed off only if every device's run is signed off and completed.", "",
             "| device | where | verdict | run | profile | model sha256 | providers | failing |",
             "|---|---|---|---|---|---|---|---|"]
    for r in fleet.runs:
        run, model = r.report.run, r.report.model
        lines.append("| " + " | ".join(cell(x) for x in (
            r.label, r.device(), r.report.verdict, f"{run.run_id} ({run.ended})", r.report.profile,
            str(model.onnx_sha256 or "?")[:16], r.report.environment.providers_text,
            ", ".join(c.id for c in r.report.unmet()) or "none")) + " |")
    lines += ["", "## Device x criterion", "",
              "| criterion | " + " | ".join(cell(r.label) for r in fleet.runs) + " |",
              "|---" * (len(fleet.runs) + 1) + "|"]
    for criterion, by_device in fleet.cells().items():
        values = " | ".join(cell(_value(by_device.get(r.label))) for r in fleet.runs)
        lines.append(f"| {cell(criterion)} | {values} |")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def merge_allure_results(fleet: Fleet, out: Path) -> Path:
    """Every run's allure-results in one folder, each test result labelled with its device; each run's
    environment.properties kept as an attachment of that device, its globals dropped for the fleet's."""
    merged = out / "allure-results"
    if merged.exists():
        if not (merged / MARKER).is_file():
            raise FleetError(f"{merged} exists and was not written by a fleet merge: choose another --out "
                             "(a run's own reports dir is never overwritten)")
        shutil.rmtree(merged)  # ours: written by an earlier merge into the same --out
    merged.mkdir(parents=True)
    (merged / MARKER).write_text("written by python -m acceptance.fleet; replaced by the next merge\n")
    for run in fleet.runs:
        if run.results is None:
            continue
        for source in run.results.iterdir():
            if not source.is_file() or source.name.endswith(GLOBALS_NAME) or source.name in (
                    "environment.properties", "executor.json"):
                continue
            if source.name == "categories.json":
                shutil.copy2(source, merged / source.name)  # the same for every run
            elif source.name.endswith("-result.json"):
                result = json.loads(source.read_text(encoding="utf-8"))
                result.setdefault("labels", []).append({"name": "device", "value": run.label})
                (merged / source.name).write_text(json.dumps(result), encoding="utf-8")
            else:
                shutil.copy2(source, merged / source.name)  # attachments and containers: uuid-named already
    return merged


def generate_report(fleet: Fleet, out: Path, merged: Path, single_file: bool = False) -> Path | None:
    """The merged results rendered by Allure 3, one environment per device; None (with the reason
    printed) where the generator is not installed."""
    if not (ALLURE_DIR / "node_modules" / ".bin" / "allure").exists():
        print(f"fleet: the Allure generator is not installed here (make report installs it); results are in {merged}",
              file=sys.stderr)
        return None
    report = (out / ("allure-report-single" if single_file else "allure-report")).resolve()
    env = os.environ | {
        "ALLURE_FLEET_DEVICES": json.dumps([r.label for r in fleet.runs]),
        "ALLURE_HEADLINE_FILE": str((out / HEADLINE_FILE).resolve()), "ALLURE_OUTPUT": str(report),
        "ALLURE_HISTORY_PATH": str((out / "allure-history.jsonl").resolve()),
        "ALLURE_SINGLE_FILE": "1" if single_file else "0",
    }
    done = subprocess.run(["npx", "allure", "generate", str(merged.resolve())], cwd=ALLURE_DIR, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0 or not (report / "index.html").is_file():
        raise FleetError(f"allure generate failed (exit {done.returncode}): {(done.stderr or done.stdout)[-1500:]}")
    return report


def print_fleet(fleet: Fleet) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Fleet: device x criterion", show_lines=False)
    table.add_column("criterion")
    for run in fleet.runs:
        table.add_column(f"{run.label}\n{run.report.verdict}")
    for criterion, by_device in fleet.cells().items():
        row = []
        for run in fleet.runs:
            entry = by_device.get(run.label)
            row.append(f"[{entry.status.style.colour}]{_value(entry)}[/]" if entry else "-")
        table.add_row(criterion, *row)
    console = Console(width=max(120, 30 + 28 * len(fleet.runs)))
    console.print(table)
    console.print(f"[bold {fleet.verdict.colour}]FLEET VERDICT: {fleet.verdict.headline}[/] "
                  f"({sum(r.signed_off for r in fleet.runs)} of {len(fleet.runs)} devices signed off)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m acceptance.fleet", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="[LABEL=]RUN_DIR", help="a device's reports dir (with signoff.json)")
    parser.add_argument("--out", default="reports/fleet", help="where the merged results go (default: reports/fleet)")
    parser.add_argument("--single-file", action="store_true", help="the dashboard as one self-contained HTML file")
    args = parser.parse_args(argv)
    try:
        fleet = build_fleet(args.runs)
    except FleetError as exc:
        print(f"fleet: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        merged = merge_allure_results(fleet, out)
        write_json(out / "fleet.json", fleet.to_json())
        md = write_fleet_md(fleet, out / "fleet.md")
        write_headline(out, fleet.headline)
        errors = [(f"{r.label}: {c.id} ({c.status})", r.label) for r in fleet.runs for c in r.report.unmet()]
        write_globals(merged, f"Fleet {fleet.verdict.headline}", [md], errors)
        report = generate_report(fleet, out, merged, args.single_file)
    except FleetError as exc:
        print(f"fleet: {exc}", file=sys.stderr)
        return 2
    print_fleet(fleet)
    print(f"fleet table: {md}   merged Allure results: {merged}"
          + (f"   dashboard: {report}/index.html" if report else ""))
    return 0 if fleet.verdict is Verdict.SIGNED_OFF else 1


if __name__ == "__main__":
    sys.exit(main())
