"""The recorder: collects criterion outcomes from test reports (in the controller under xdist), and at the
end of the session builds the typed SignoffReport, writes it to signoff.json (its one data file) and
renders the reports from it (acceptance/report/render.py). The terminal shows the criteria table."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from acceptance.baseline import compare, differences
from acceptance.environment import describe_environment
from acceptance.report.load import LoadRun
from acceptance.report.render import render
from acceptance.report.serial import from_jsonable
from acceptance.report.signoff import (
    Comparison,
    CriterionResult,
    Measurements,
    SignoffReport,
    TestedModel,
)
from acceptance.report.terminal import print_report, tested_line
from acceptance.report.vocabulary import Status, TestOutcome
from acceptance.run_record import finish_run
from acceptance.signoff_run import SignoffRun
from acceptance.verdict import Outcome, judge, verdict_of
from modelprep.graph_audit import GraphAudit
from runtime.errors import first_line
from runtime.manifest import load_manifest


class SignoffRecorder:
    """Collects criterion outcomes from test reports and, at the end of the session, writes the report.
    One instance per pytest run (the controller's)."""

    def __init__(self, config: pytest.Config, state: SignoffRun):
        self.config = config
        self.state = state
        self.outcomes: dict[str, Outcome] = {}
        self.report: SignoffReport | None = None
        self.interrupted = False
        self.tracebacks: list[str] = []
        self.full_log: Path | None = None
        self.unmeasured: set[str] = set()  # profile criteria no collected test measures (xdist workers say)

    def pytest_keyboard_interrupt(self, excinfo) -> None:
        self.interrupted = True

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        self.unmeasured |= set(getattr(node, "workeroutput", {}).get("signoff_unmeasured", []))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        if report.failed:  # the whole traceback, whatever --tb shows (failures.log, and Allure has it too)
            trace = props.get("full_traceback", report.longreprtext)
            self.tracebacks.append(f"{report.nodeid} ({report.when})\n{trace}\n")
        criterion_id = props.get("criterion_id")
        outcome = _outcome_of(report, props)
        if criterion_id is None or outcome is None:
            return
        current = self.outcomes.get(report.nodeid)
        if current is not None and current.outcome in (TestOutcome.ERROR, TestOutcome.FAILED) \
                and outcome is TestOutcome.PASSED:
            return  # a teardown that passed does not undo the call that failed
        measured = props.get("criterion_measured") or {}
        self.outcomes[report.nodeid] = Outcome(
            nodeid=report.nodeid, criterion=criterion_id, outcome=outcome,
            measured=measured.get("value", current.measured if current else None),
            details=measured.get("details", {}), reason=_reason(report, props),
        )

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        interrupted = self.interrupted or int(exitstatus) == pytest.ExitCode.INTERRUPTED
        if not self.outcomes and not interrupted:
            return  # nothing measured (an empty selection): no report, and the old one is in history/
        ran = len({o.nodeid for o in self.outcomes.values() if o.outcome is not TestOutcome.SKIPPED})
        finish_run(self.state.record, session.exitstatus, interrupted=interrupted,
                   stopped_early=bool(session.shouldstop or session.shouldfail),
                   collected=session.testscollected, ran=ran)
        report = self.report = self._build()
        if self.config.getoption("--require-signoff") and not report and session.exitstatus == 0:
            session.exitstatus = 1
        report.run.exit_status = int(session.exitstatus)
        reports = self.state.reports_dir
        report.write(reports / "signoff.json")
        self.full_log = reports / "failures.log"
        self.full_log.write_text("".join(self.tracebacks) or "no test failed\n", encoding="utf-8")
        allure = getattr(self.config.option, "allure_report_dir", None)
        render(reports, Path(allure) if allure else None)

    def pytest_terminal_summary(self, terminalreporter, exitstatus: int, config: pytest.Config) -> None:
        if self.report is None:
            return
        # Rendered by rich into a string, then written through pytest's public terminal API.
        buffer = io.StringIO()
        width = max(shutil.get_terminal_size((140, 24)).columns, 140)
        markup = config.get_terminal_writer().hasmarkup
        print_report(self.report, Console(file=buffer, width=width, force_terminal=markup))
        terminalreporter.write(buffer.getvalue())
        terminalreporter.write_line(tested_line(self.report))
        for name, why in self.report.environment.providers_skipped.items():
            terminalreporter.write_line(f"provider {name} not used: {why}")
        terminalreporter.write_line(f"signoff.json: {self.state.reports_dir / 'signoff.json'}")
        if self.tracebacks and self.full_log is not None and config.option.tbstyle in ("line", "no"):
            terminalreporter.write_line(f"full tracebacks: {self.full_log} (or run with --tb=long)")

    def _build(self) -> SignoffReport:
        config, state, run = self.config, self.state, self.state.record
        sessions = [json.loads(p.read_text()) for p in sorted(state.run_dir.glob("session-*.json"))]
        environment = describe_environment(
            sessions, provider_requested=config.getoption("--provider"),
            injected_fault=config.getoption("--inject-fault"), strict_provider=config.getoption("--strict-provider"))
        model = _tested_model(config.getoption("--model"), state.run_dir)
        results = judge(state.profile, list(self.outcomes.values()), run.ended)
        for result in results:
            if result.id in self.unmeasured:
                result.status = Status.ERROR
                result.reason = "no acceptance test measures this id: a typo in the profile?"
        comparison = self._compare(results, model, environment)
        grid = state.run_dir / "latency-grid.json"
        audits = sorted(state.run_dir.glob("graph-*.json"))
        return SignoffReport(
            verdict=verdict_of(results, run.ended), profile=state.profile.name, model=model, environment=environment,
            criteria=results, run=run, comparison=comparison,
            graph=from_jsonable(GraphAudit, json.loads(audits[0].read_text()), str(audits[0])) if audits else None,
            measurements=Measurements(latency_cells=json.loads(grid.read_text()) if grid.is_file() else [],
                                      load_runs=_load_runs(state.run_dir)))

    def _compare(self, results: list[CriterionResult], model: TestedModel, environment) -> Comparison | None:
        """With --baseline: the comparison rows, and the regression.* criteria appended to `results`. What
        differs only shows once the model file was loaded (its hash) is an error, unless --baseline-any."""
        baseline = self.state.baseline
        if baseline is None:
            return None
        late = differences(baseline, profile=self.state.profile.name, precision=model.precision,
                           onnx_sha256=model.onnx_sha256, environment=environment)
        unaccepted = [d for d in late if d not in baseline.accepted_differences]
        if unaccepted and self.config.getoption("--baseline-any"):
            baseline.accepted_differences += unaccepted
            unaccepted = []
        rows, regressions = compare(baseline, self.state.profile, results)
        for reg in regressions if unaccepted else []:
            reg.status, reg.reason = Status.ERROR, f"the baseline is not comparable: {'; '.join(unaccepted)}"
        results += regressions
        return Comparison(baseline=baseline.ref(), rows=rows)


def _outcome_of(report: pytest.TestReport, props: dict[str, Any]) -> TestOutcome | None:
    """What one phase's report says of its test, or None when the phase says nothing new."""
    if report.when == "setup" and not report.passed:
        return TestOutcome.SKIPPED if report.skipped else TestOutcome.ERROR
    if report.when == "call":
        return TestOutcome.ERROR if report.failed and "criterion_error" in props else TestOutcome(report.outcome)
    if report.when == "teardown" and report.failed:
        return TestOutcome.ERROR
    return None


def _reason(report: pytest.TestReport, props: dict[str, Any]) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    if "criterion_error" in props:
        return str(props["criterion_error"])[:300]
    if report.failed:
        crash = getattr(report.longrepr, "reprcrash", None)
        return first_line(crash.message if crash else str(report.longrepr))
    return ""


def _tested_model(model: str, run_dir: Path) -> TestedModel:
    """The manifest's facts and the files the sessions of this run really loaded (hashed at load, never a
    recorded hash alone)."""
    manifest = load_manifest(model)
    facts = {"id": manifest.id, "name": manifest.name, "dimension": manifest.dimension, "pooling": manifest.pooling,
             "padding_side": manifest.padding_side, "max_length": manifest.max_length,
             "precision": manifest.precision, "manifest": str(manifest.path)}
    identities = [i for i in (json.loads(p.read_text()) for p in sorted(run_dir.glob("identity-*.json"))) if i]
    if not identities:
        return TestedModel(**facts, tested_files="no model was loaded in this run: nothing it measured depends on a "
                                                 "model file")
    distinct = {json.dumps({k: i[k] for k in ("onnx_sha256", "tokenizer_sha256", "external_data")}, sort_keys=True)
                for i in identities}
    first = identities[0]
    return TestedModel(
        **facts, onnx=first["onnx_path"], onnx_sha256=first["onnx_sha256"], tokenizer=first["tokenizer_path"],
        tokenizer_sha256=first["tokenizer_sha256"], external_data_sha256=first["external_data"],
        verified_against=first["checked_against"], verification=first["verification"], unverified=first["unchecked"],
        tested_files="one set of files in every worker" if len(distinct) == 1 else
                     f"WORKERS LOADED DIFFERENT FILES: {sorted(distinct)}")


def _load_runs(run_dir: Path) -> list[LoadRun]:
    """The LoadGen runs the timing tests recorded (acceptance/test_performance.py), in the order they ran."""
    files = sorted(run_dir.glob("loadgen-*.json"), key=lambda p: p.stat().st_mtime_ns)
    return [from_jsonable(LoadRun, json.loads(p.read_text()), str(p)) for p in files]
