"""The recorder: collects criterion outcomes from test reports (in the controller under xdist), and
at the end of the session builds the verdict and writes signoff.json, signoff.md, the plots and
Allure's run files."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from acceptance.allure_report import write_run_files
from acceptance.baseline import compare, differences
from acceptance.completion_report import write_completion_report
from acceptance.environment import describe_environment
from acceptance.plots import draw_all
from acceptance.run_record import RunRecord, finish_run
from acceptance.signoff_run import SignoffRun
from acceptance.verdict import Outcome, Verdict, build_verdict, print_verdict
from runtime.manifest import load_manifest


class SignoffRecorder:
    """Collects criterion outcomes from test reports (in the controller under xdist) and, at the end of
    the session, builds the verdict and writes the reports. One instance per pytest run."""

    def __init__(self, config: pytest.Config, state: SignoffRun):
        self.config = config
        self.state = state
        self.run: RunRecord = state.record
        self.outcomes: dict[str, Outcome] = {}
        self.verdict: Verdict | None = None
        self.interrupted = False
        self.tracebacks: list[str] = []
        self.full_log: Path | None = None

    def pytest_keyboard_interrupt(self, excinfo) -> None:
        self.interrupted = True

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        if report.failed:  # the whole traceback, whatever --tb shows (failures.log, and Allure has it too)
            self.tracebacks.append(f"{report.nodeid} ({report.when})\n{props.get('full_traceback', report.longreprtext)}\n")
        criterion_id = props.get("criterion_id")
        if criterion_id is None:
            return
        current = self.outcomes.get(report.nodeid)
        measured = props.get("criterion_measured") or {}
        if report.when == "setup" and not report.passed:
            outcome = "skipped" if report.skipped else "error"
        elif report.when == "call":
            outcome = "error" if report.failed and "criterion_error" in props else report.outcome
        elif report.when == "teardown" and report.failed:
            outcome = "error"
        else:
            return
        if current is not None and current.outcome in ("error", "failed") and outcome == "passed":
            return
        self.outcomes[report.nodeid] = Outcome(
            nodeid=report.nodeid, criterion=criterion_id, outcome=outcome,
            measured=measured.get("value", current.measured if current else None),
            details=measured.get("details", {}), reason=_reason(report, props),
        )

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        config = self.config
        interrupted = self.interrupted or int(exitstatus) == pytest.ExitCode.INTERRUPTED
        if not self.outcomes and not interrupted:
            return  # nothing measured (an empty selection): no report, and the old one is in history/
        ran = len({o.nodeid for o in self.outcomes.values() if o.outcome != "skipped"})
        finish_run(self.run, session.exitstatus, interrupted=interrupted,
                   stopped_early=bool(session.shouldstop or session.shouldfail),
                   collected=session.testscollected, ran=ran)
        verdict = self.verdict = _build(config, self.state, list(self.outcomes.values()))
        if config.getoption("--require-signoff") and not verdict.signed_off and session.exitstatus == 0:
            session.exitstatus = 1
        self.run.exit_status = verdict.run["exit_status"] = int(session.exitstatus)
        reports = self.state.reports_dir
        verdict.measurements["plots"] = [str(p) for p in draw_all(verdict.as_dict(), reports / "plots")]
        verdict.write(reports / "signoff.json")
        self.full_log = reports / "failures.log"
        self.full_log.write_text("".join(self.tracebacks) or "no test failed\n", encoding="utf-8")
        write_completion_report(verdict.as_dict(), reports / "signoff.md")
        if getattr(config.option, "allure_report_dir", None):
            write_run_files(Path(config.option.allure_report_dir), verdict.as_dict(), verdict.profile,
                            reports / "signoff.md")

    def pytest_terminal_summary(self, terminalreporter, exitstatus: int, config: pytest.Config) -> None:
        if self.verdict is None:
            return
        # Rendered by rich into a string, then written through pytest's public terminal API.
        buffer = io.StringIO()
        width = max(shutil.get_terminal_size((140, 24)).columns, 140)
        print_verdict(self.verdict, Console(file=buffer, width=width, force_terminal=config.get_terminal_writer().hasmarkup))
        terminalreporter.write(buffer.getvalue())
        model, run = self.verdict.model, self.verdict.run
        terminalreporter.write_line(
            f"run {run.get('run_id')} ({run.get('ended')}); tested {model.get('onnx') or 'no model file'}"
            + (f" sha256 {model['onnx_sha256'][:16]}…, checked against "
               f"{', '.join(model.get('verified_against') or []) or 'no recorded hash'}" if model.get("onnx_sha256") else ""))
        for name, why in (self.verdict.environment.get("providers_skipped") or {}).items():
            terminalreporter.write_line(f"provider {name} not used: {why}")
        terminalreporter.write_line(f"signoff.json: {self.state.reports_dir / 'signoff.json'}")
        if self.tracebacks and self.full_log is not None and config.option.tbstyle in ("line", "no"):
            terminalreporter.write_line(f"full tracebacks: {self.full_log} (or run with --tb=long)")


def _reason(report: pytest.TestReport, props: dict[str, Any]) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    if "criterion_error" in props:
        return str(props["criterion_error"])[:300]
    if report.failed:
        crash = getattr(report.longrepr, "reprcrash", None)
        return (crash.message if crash else str(report.longrepr)).splitlines()[0][:300]
    return ""


def _build(config: pytest.Config, state: SignoffRun, outcomes: list[Outcome]) -> Verdict:
    manifest = load_manifest(config.getoption("--model"))
    sessions = [json.loads(p.read_text()) for p in sorted(state.run_dir.glob("session-*.json"))]
    environment = describe_environment(sessions) | {
        "provider_requested": config.getoption("--provider"),
        "injected_fault": config.getoption("--inject-fault"),
        "strict_provider": config.getoption("--strict-provider"),
    }
    model = {
        "id": manifest.id, "name": manifest.name, "dimension": manifest.dimension, "pooling": manifest.pooling,
        "padding_side": manifest.padding_side, "max_length": manifest.max_length, "precision": manifest.precision,
        "manifest": str(manifest.path), **_tested_files(state.run_dir),
    }
    baseline, compare_fn = state.baseline, None
    if baseline is not None:
        late = differences(baseline, profile=state.profile.name, precision=manifest.precision,
                           onnx_sha256=model.get("onnx_sha256"), environment=environment)
        unaccepted = [d for d in late if d not in baseline.accepted_differences]
        if unaccepted and config.getoption("--baseline-any"):
            baseline.accepted_differences += unaccepted
            unaccepted = []

        def compare_fn(results):
            rows, regressions = compare(baseline, state.profile, results)
            for reg in regressions if unaccepted else []:  # found only once the model file was loaded
                reg.status, reg.reason = "error", f"the baseline is not comparable: {'; '.join(unaccepted)}"
            return rows, regressions
    verdict = build_verdict(state.profile, outcomes, model, environment, run=state.record.as_dict(),
                            baseline=baseline.header() if baseline else None, compare_with_baseline=compare_fn)
    grid = state.run_dir / "latency-grid.json"
    if grid.is_file():
        verdict.measurements["latency_cells"] = json.loads(grid.read_text())
    return verdict


def _tested_files(run_dir: Path) -> dict[str, Any]:
    """The files the sessions of this run really loaded, hashed at load (never a recorded hash alone)."""
    identities = [json.loads(p.read_text()) for p in sorted(run_dir.glob("identity-*.json"))]
    identities = [i for i in identities if i]
    if not identities:
        return {"onnx": None, "onnx_sha256": None,
                "tested_files": "no model was loaded in this run: nothing it measured depends on a model file"}
    distinct = {json.dumps({k: i[k] for k in ("onnx_sha256", "tokenizer_sha256", "external_data")}, sort_keys=True)
                for i in identities}
    first = identities[0]
    return {
        "onnx": first["onnx_path"], "onnx_sha256": first["onnx_sha256"], "tokenizer": first["tokenizer_path"],
        "tokenizer_sha256": first["tokenizer_sha256"], "external_data_sha256": first["external_data"],
        "verified_against": first["checked_against"], "verification": first["verification"],
        "unverified": first["unchecked"],
        "tested_files": "one set of files in every worker" if len(distinct) == 1 else
                        f"WORKERS LOADED DIFFERENT FILES: {sorted(distinct)}",
    }
