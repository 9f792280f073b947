"""pytest plugin: options, session fixtures, criterion bookkeeping and the sign-off verdict.

Every acceptance test carries @pytest.mark.criterion("<id>"). The id rides on the report's
user_properties, which pytest-xdist ships to the controller, so the verdict merges every worker.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from acceptance.allure_report import add_labels, record, write_run_files
from acceptance.criteria_index import measured_criteria
from acceptance.faults import FaultError, parse_fault
from acceptance.environment import describe_environment
from acceptance.profile import Criterion, Profile, ProfileError, load_profile
from acceptance.run_record import RunRecord, archive_previous, finish_run, start_run
from acceptance.verdict import Outcome, Verdict, build_verdict, print_verdict

PROVIDER_CHOICES = ("auto", "tensorrt", "cuda", "coreml", "cpu")
ACCEPTANCE_DIR = Path(__file__).resolve().parent


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("signoff", "embedding deployment sign-off")
    group.addoption("--accept-profile", default="cpu-default", help="criteria profile: name or path to .toml")
    group.addoption("--model", default="all-minilm-l6-v2", help="model manifest: name or path to .toml")
    group.addoption("--provider", default="cpu", choices=PROVIDER_CHOICES, help="execution provider to sign off")
    group.addoption("--strict-provider", action="store_true", help="fail instead of falling back to another provider")
    group.addoption("--reports-dir", default="reports", help="where signoff.json and other reports go")
    group.addoption("--require-signoff", action="store_true", help="exit non-zero unless the verdict is SIGNED OFF")
    group.addoption("--inject-fault", default=None, metavar="FAULT",
                    help="run against a deliberately broken deployment (acceptance/faults.py): proves criteria can fail")
    group.addoption("--trt-fp16", action="store_true", help="ask TensorRT for fp16 (check the engine's real precision)")
    group.addoption("--intra-op-threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: one per core)")


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _runs_acceptance(config: pytest.Config) -> bool:
    return any(Path(a.split("::")[0]).resolve() == ACCEPTANCE_DIR or
               ACCEPTANCE_DIR in Path(a.split("::")[0]).resolve().parents for a in config.args)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    reports = Path(config.getoption("--reports-dir"))
    runs_acceptance = _runs_acceptance(config)
    record = None
    if runs_acceptance and not _is_worker(config) and not config.option.collectonly:
        # First of all, before anything can fail: the previous verdict leaves, so a run that stops
        # at start-up never leaves an older report looking current.
        archive_previous(reports)
        record = start_run(list(config.invocation_params.args), config.args, config.option.markexpr, config.option.keyword,
                           config.getoption("--inject-fault"))
    if runs_acceptance and hasattr(config.option, "allure_report_dir") and not config.option.allure_report_dir:
        # allure-pytest on every acceptance run (before its own pytest_configure reads the option)
        config.option.allure_report_dir = str(reports / "allure-results")
        config.option.clean_alluredir = not _is_worker(config)  # only the controller clears old results
    from runtime.errors import EmbeddingError
    from runtime.manifest import load_manifest

    try:
        if config.getoption("--inject-fault"):
            parse_fault(config.getoption("--inject-fault"))
        precision = load_manifest(config.getoption("--model")).precision
        config._signoff_profile = load_profile(config.getoption("--accept-profile")).for_precision(precision)
        if runs_acceptance:
            unmeasured = sorted(set(config._signoff_profile.criteria) - measured_criteria())
            if unmeasured:
                raise ProfileError(
                    f"profile {config._signoff_profile.path}: no acceptance test measures {', '.join(unmeasured)}; "
                    "fix the id (each test names its criterion with @pytest.mark.criterion) or drop it"
                )
    except (ProfileError, EmbeddingError, FaultError) as exc:
        raise pytest.UsageError(str(exc)) from None
    config._signoff_run_dir = reports / ".run"
    if record is not None:
        config.pluginmanager.register(SignoffRecorder(config, record), "signoff-recorder")
        for stale in config._signoff_run_dir.glob("*.json"):
            stale.unlink()


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def profile(pytestconfig: pytest.Config) -> Profile:
    return pytestconfig._signoff_profile


@pytest.fixture(scope="session")
def manifest(pytestconfig: pytest.Config):
    from runtime.errors import EmbeddingError
    from runtime.manifest import load_manifest

    try:
        return load_manifest(pytestconfig.getoption("--model"))
    except EmbeddingError as exc:
        pytest.exit(f"model or config error: {exc}", returncode=4)


@pytest.fixture(scope="session")
def session_config(pytestconfig: pytest.Config, manifest):
    from runtime.manifest import cache_root
    from runtime.session import SessionConfig, TensorRTOptions
    from runtime.tensorrt import options_for

    provider = pytestconfig.getoption("--provider")
    trt = TensorRTOptions()
    if provider in ("tensorrt", "auto") and manifest.onnx_path.is_file():
        # Engine cache keyed by (model sha256, TensorRT version, precision, shape profile).
        trt = options_for(manifest, cache_root() / "trt-engines", fp16=pytestconfig.getoption("--trt-fp16"))
    return SessionConfig(
        providers=(provider,), tensorrt=trt, strict=pytestconfig.getoption("--strict-provider"),
        intra_op_threads=pytestconfig.getoption("--intra-op-threads"),
    )


@pytest.fixture(scope="session")
def embedder(manifest, session_config, pytestconfig: pytest.Config):
    """One embedder per worker; its session report is kept for the run's environment."""
    from runtime.assets import ensure_artifacts
    from runtime.embedder import Embedder

    import allure

    from acceptance.faults import inject

    with allure.step(f"load model {manifest.id}"):
        ensure_artifacts(manifest)
        emb = inject(Embedder(manifest, session_config), pytestconfig.getoption("--inject-fault"))
    run_dir: Path = pytestconfig._signoff_run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    worker = getattr(pytestconfig, "workerinput", {}).get("workerid", "main")
    (run_dir / f"session-{worker}.json").write_text(json.dumps(emb.report.as_dict()))
    # What this worker really loaded and how it was verified: the hash the report states.
    (run_dir / f"identity-{worker}.json").write_text(json.dumps(emb.identity.as_dict() if emb.identity else {}))
    return emb


@pytest.fixture(scope="session")
def reference(manifest):
    """The HuggingFace PyTorch fp32 baseline of the original model (the manifest's `baseline`)."""
    from runtime.assets import checkpoint_dir
    from runtime.manifest import baseline_manifest
    from runtime.reference import Reference

    base = baseline_manifest(manifest)
    return Reference(base, checkpoint_dir(base))


@pytest.fixture(scope="session")
def trained(manifest) -> None:
    """Skips tests that need trained semantics when the model has random weights."""
    if not manifest.trained:
        pytest.skip(f"{manifest.id} has random weights (trained = false): semantic similarity is meaningless on it")


@dataclass
class CriterionCheck:
    criterion: Criterion
    item: pytest.Item

    @property
    def target(self) -> float:
        return self.criterion.target

    def check(self, measured: float, **details: Any) -> None:
        """Record the measured value for the verdict, then assert it meets the target."""
        self.item.user_properties.append(("criterion_measured", {"value": float(measured), "details": details}))
        record(self.criterion, float(measured), details)
        assert self.criterion.passes(measured), (
            f"{self.criterion.id}: measured {measured:.6g} {self.criterion.unit} misses the target "
            f"{self.criterion.target_text} (profile {self.item.config._signoff_profile.name})"
        )


@pytest.fixture
def criterion(request: pytest.FixtureRequest, profile: Profile) -> CriterionCheck:
    marker = request.node.get_closest_marker("criterion")
    crit = profile.get(marker.args[0])
    if crit is None:
        pytest.skip(f"criterion {marker.args[0]} is not part of profile {profile.name}")
    return CriterionCheck(crit, request.node)


def target(profile: Profile, criterion_id: str) -> float:
    """A threshold other tests borrow (e.g. the norm tolerance), read from the profile."""
    crit = profile.get(criterion_id)
    if crit is None:
        pytest.skip(f"profile {profile.name} has no criterion {criterion_id} to take the tolerance from")
    return crit.target


# ---------------------------------------------------------------- collection and reports

def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        marker = item.get_closest_marker("criterion")
        in_suite = ACCEPTANCE_DIR in Path(str(item.fspath)).resolve().parents
        if marker is None:
            if in_suite:
                raise pytest.UsageError(f"{item.nodeid}: every acceptance test must name its criterion")
            continue
        item.user_properties.append(("criterion_id", marker.args[0]))
        crit = config._signoff_profile.get(marker.args[0])
        add_labels(item, marker.args[0], crit.required if crit else None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if call.excinfo is not None and not call.excinfo.errisinstance((AssertionError, pytest.skip.Exception)):
        report.user_properties.append(("criterion_error", f"{call.excinfo.typename}: {call.excinfo.value}"))
    return report


class SignoffRecorder:
    """Collects criterion outcomes from test reports (in the controller under xdist) and, at the end of
    the session, builds the verdict and writes the reports. One instance per pytest run."""

    def __init__(self, config: pytest.Config, run: RunRecord):
        self.config = config
        self.run = run
        self.outcomes: dict[str, Outcome] = {}
        self.verdict: Verdict | None = None
        self.interrupted = False

    def pytest_keyboard_interrupt(self, excinfo) -> None:
        self.interrupted = True

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
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
        from acceptance.completion_report import write_completion_report
        from acceptance.plots import draw_all

        config = self.config
        interrupted = self.interrupted or int(exitstatus) == pytest.ExitCode.INTERRUPTED
        if not self.outcomes and not interrupted:
            return  # nothing measured (an empty selection): no report, and the old one is in history/
        ran = len({o.nodeid for o in self.outcomes.values() if o.outcome != "skipped"})
        finish_run(self.run, session.exitstatus, interrupted=interrupted,
                   stopped_early=bool(session.shouldstop or session.shouldfail),
                   collected=session.testscollected, ran=ran)
        verdict = self.verdict = _build(config, list(self.outcomes.values()), self.run)
        if config.getoption("--require-signoff") and not verdict.signed_off and session.exitstatus == 0:
            session.exitstatus = 1
        self.run.exit_status = verdict.run["exit_status"] = int(session.exitstatus)
        reports = Path(config.getoption("--reports-dir"))
        verdict.measurements["plots"] = [str(p) for p in draw_all(verdict.as_dict(), reports / "plots")]
        verdict.write(reports / "signoff.json")
        write_completion_report(verdict.as_dict(), reports / "signoff.md")
        if getattr(config.option, "allure_report_dir", None):
            write_run_files(Path(config.option.allure_report_dir), verdict.as_dict(), verdict.profile)

    def pytest_terminal_summary(self, terminalreporter, exitstatus: int, config: pytest.Config) -> None:
        if self.verdict is None:
            return
        from rich.console import Console

        width = max(terminalreporter._tw.fullwidth, 140)
        print_verdict(self.verdict, Console(file=terminalreporter._tw._file, width=width))
        model, run = self.verdict.model, self.verdict.run
        terminalreporter.write_line(
            f"run {run.get('run_id')} ({run.get('ended')}); tested {model.get('onnx') or 'no model file'}"
            + (f" sha256 {model['onnx_sha256'][:16]}…, checked against "
               f"{', '.join(model.get('verified_against') or []) or 'no recorded hash'}" if model.get("onnx_sha256") else ""))
        terminalreporter.write_line(f"signoff.json: {Path(config.getoption('--reports-dir')) / 'signoff.json'}")


def _reason(report: pytest.TestReport, props: dict[str, Any]) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    if "criterion_error" in props:
        return str(props["criterion_error"])[:300]
    if report.failed:
        crash = getattr(report.longrepr, "reprcrash", None)
        return (crash.message if crash else str(report.longrepr)).splitlines()[0][:300]
    return ""


def _build(config: pytest.Config, outcomes: list[Outcome], run: RunRecord) -> Verdict:
    from runtime.manifest import load_manifest

    manifest = load_manifest(config.getoption("--model"))
    sessions = [json.loads(p.read_text()) for p in sorted(config._signoff_run_dir.glob("session-*.json"))]
    environment = describe_environment(sessions) | {
        "provider_requested": config.getoption("--provider"),
        "injected_fault": config.getoption("--inject-fault"),
        "strict_provider": config.getoption("--strict-provider"),
    }
    model = {
        "id": manifest.id, "name": manifest.name, "dimension": manifest.dimension, "pooling": manifest.pooling,
        "padding_side": manifest.padding_side, "max_length": manifest.max_length, "precision": manifest.precision,
        "manifest": str(manifest.path), **_tested_files(config._signoff_run_dir),
    }
    verdict = build_verdict(config._signoff_profile, outcomes, model, environment, run=run.as_dict())
    grid = config._signoff_run_dir / "latency-grid.json"
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
