"""pytest plugin: the sign-off options and hooks. Hook glue only: the run's state is one SignoffRun
in config.stash (acceptance/signoff_run.py), the deployment fixtures are in acceptance/deployment.py,
the criterion fixture in acceptance/criterion_check.py, and the verdict is assembled by
acceptance/recorder.py.

Every acceptance test carries @pytest.mark.criterion("<id>"). The id rides on the report's
user_properties, which pytest-xdist ships to the controller, so the verdict merges every worker.
Nothing here acts on a run that does not collect acceptance/ (the project's own `pytest tests`).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import onnxruntime as ort
import pytest

from acceptance.allure_report import add_labels
from acceptance.baseline import Baseline, BaselineError, differences, load_baseline
from acceptance.contention import MachineBusy
from acceptance.criteria_index import measured_criteria
from acceptance.environment import describe_environment
from acceptance.faults import FaultError, parse_fault
from acceptance.profile import ProfileError, load_profile
from acceptance.progress import ProgressReporter
from acceptance.recorder import SignoffRecorder
from acceptance.run_record import archive_previous, start_run
from acceptance.signoff_run import SIGNOFF_RUN, SignoffRun
from runtime.artifact import verified_sha256
from runtime.errors import EmbeddingError
from runtime.manifest import cache_root, load_manifest
from runtime.session import PROVIDER_NAMES, SessionConfig, available_providers, plan_providers

pytest_plugins = ["acceptance.deployment", "acceptance.criterion_check"]

PROVIDER_CHOICES = ("auto", *PROVIDER_NAMES)
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
    group.addoption("--baseline", default=None, metavar="SIGNOFF_JSON",
                    help="compare with an earlier run's signoff.json: regression.* criteria fail on regressions "
                         "beyond the profile's [regression] allowances")
    group.addoption("--baseline-any", action="store_true",
                    help="compare even with a baseline of another model file, profile, precision or device")


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _runs_acceptance(config: pytest.Config) -> bool:
    return any(Path(a.split("::")[0]).resolve() == ACCEPTANCE_DIR or
               ACCEPTANCE_DIR in Path(a.split("::")[0]).resolve().parents for a in config.args)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if not _runs_acceptance(config):
        return
    reports = Path(config.getoption("--reports-dir"))
    if config.option.tbstyle == "auto":
        # The criteria table says what failed and why; pytest's long tracebacks (fixture reprs and all)
        # would bury it. One line per failure unless --tb asks for more; the full text goes to
        # reports/failures.log (acceptance/recorder.py) and to Allure.
        config.option.tbstyle = "line"
    # ORT's own warnings and errors (red lines on the console) stay out of a sign-off's terminal: what
    # matters of them (a provider that did not load) is in each session's report.
    ort.set_default_logger_severity(3)
    controller = not _is_worker(config) and not config.option.collectonly
    record = None
    baseline = None
    if controller:
        try:  # read before the archiving below moves it, so --baseline reports/signoff.json works
            baseline = load_baseline(config.getoption("--baseline")) if config.getoption("--baseline") else None
        except BaselineError as exc:
            baseline_error: BaselineError | None = exc
        else:
            baseline_error = None
        # First of all, before anything can fail: the previous verdict leaves, so a run that stops
        # at start-up never leaves an older report looking current.
        archived = archive_previous(reports)
        if baseline is not None and archived is not None and Path(baseline.path) == (reports / "signoff.json").resolve():
            baseline.path = str((archived / "signoff.json").resolve())  # where the baseline now lives
        record = start_run(list(config.invocation_params.args), config.args, config.option.markexpr,
                           config.option.keyword, config.getoption("--inject-fault"))
    if hasattr(config.option, "allure_report_dir") and not config.option.allure_report_dir:
        # allure-pytest on every acceptance run (before its own pytest_configure reads the option)
        config.option.allure_report_dir = str(reports / "allure-results")
        config.option.clean_alluredir = not _is_worker(config)  # only the controller clears old results
    try:
        if config.getoption("--inject-fault"):
            parse_fault(config.getoption("--inject-fault"))
        manifest = load_manifest(config.getoption("--model"))
        profile = load_profile(config.getoption("--accept-profile")).for_precision(manifest.precision)
        unmeasured = sorted(set(profile.criteria) - measured_criteria())
        if unmeasured:
            raise ProfileError(
                f"profile {profile.path}: no acceptance test measures {', '.join(unmeasured)}; "
                "fix the id (each test names its criterion with @pytest.mark.criterion) or drop it"
            )
        if controller and baseline_error is not None:
            raise baseline_error
        if config.getoption("--strict-provider"):
            # One clear message at start-up (the missing library, what to install), not one error per test.
            plan_providers(SessionConfig(providers=(config.getoption("--provider"),), strict=True),
                           available_providers())
        if baseline is not None:
            _check_baseline(config, baseline, profile, manifest)
        elif _is_worker(config) and "signoff_baseline" in config.workerinput:
            baseline = Baseline(**config.workerinput["signoff_baseline"])
    except (ProfileError, EmbeddingError, FaultError, BaselineError) as exc:
        raise pytest.UsageError(str(exc)) from None
    state = config.stash[SIGNOFF_RUN] = SignoffRun(profile=profile, reports_dir=reports, record=record,
                                                   baseline=baseline, progress=ProgressReporter(config))
    if record is not None:
        config.pluginmanager.register(SignoffRecorder(config, state), "signoff-recorder")
        for stale in state.run_dir.glob("*.json"):
            stale.unlink()


def _check_baseline(config: pytest.Config, baseline: Baseline, profile, manifest) -> None:
    """Refuse a baseline of another deployment or machine, unless --baseline-any says it is meant."""
    sha = verified_sha256(manifest.onnx_path, cache_root() / "verified")[0] if manifest.onnx_path.is_file() else None
    environment = describe_environment() | {"provider_requested": config.getoption("--provider")}
    found = differences(baseline, profile=profile.name, precision=manifest.precision, onnx_sha256=sha,
                        environment=environment)
    if found and not config.getoption("--baseline-any"):
        raise BaselineError(
            f"--baseline {baseline.path} is not comparable with this run: " + "; ".join(found)
            + ". Compare like with like, or pass --baseline-any if you mean it (e.g. fp16 against fp32)")
    baseline.accepted_differences = found


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """pytest-xdist: workers get the baseline the controller read (it may have moved to reports/history/)."""
    state = node.config.stash.get(SIGNOFF_RUN, None)
    if state is not None and state.baseline is not None:
        node.workerinput["signoff_baseline"] = asdict(state.baseline)


# ---------------------------------------------------------------- collection and reports

def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SIGNOFF_RUN not in config.stash:
        return  # not an acceptance run: the project's own tests run as plain pytest
    profile = config.stash[SIGNOFF_RUN].profile
    for item in items:
        marker = item.get_closest_marker("criterion")
        in_suite = ACCEPTANCE_DIR in Path(str(item.fspath)).resolve().parents
        if marker is None:
            if in_suite:
                raise pytest.UsageError(f"{item.nodeid}: every acceptance test must name its criterion")
            continue
        item.user_properties.append(("criterion_id", marker.args[0]))
        crit = profile.get(marker.args[0])
        add_labels(item, marker.args[0], crit.required if crit else None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if SIGNOFF_RUN not in item.config.stash:
        return report
    if report.failed and call.excinfo is not None:
        # The whole traceback for reports/failures.log, whatever --tb the terminal shows.
        # From the test function on (pytest's own frames before it say nothing about the deployment).
        call.excinfo.traceback = call.excinfo.traceback.cut(path=item.path)
        report.user_properties.append(("full_traceback", str(call.excinfo.getrepr(style="long"))))
    if call.excinfo is not None and not call.excinfo.errisinstance((AssertionError, pytest.skip.Exception)):
        # A busy machine is a reason of its own, not a defect: its message is the whole reason.
        error = str(call.excinfo.value) if call.excinfo.errisinstance(MachineBusy) else \
            f"{call.excinfo.typename}: {call.excinfo.value}"
        report.user_properties.append(("criterion_error", error))
    return report
