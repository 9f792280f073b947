"""pytest plugin: the sign-off options and hooks. Hook glue only: start-up checks are in
acceptance/startup.py, the run's state is one SignoffRun in config.stash (acceptance/signoff_run.py), the
deployment fixtures are in acceptance/deployment.py, the criterion fixture in acceptance/criterion_check.py,
and the verdict and its reports come from acceptance/recorder.py.

Every acceptance test carries @pytest.mark.criterion("<id>"). The id rides on the report's
user_properties, which pytest-xdist ships to the controller, so the verdict merges every worker.
Nothing here acts on a run that does not collect acceptance/ (the project's own `pytest tests`).
"""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort
import pytest

from acceptance import startup
from acceptance.allure_report import add_labels
from acceptance.contention import MachineBusy
from acceptance.recorder import SignoffRecorder
from acceptance.signoff_run import SIGNOFF_RUN
from runtime.session import PROVIDER_NAMES

pytest_plugins = ["acceptance.deployment", "acceptance.criterion_check"]

PROVIDER_CHOICES = ("auto", *PROVIDER_NAMES)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("signoff", "embedding deployment sign-off")
    group.addoption("--accept-profile", default="cpu-default", help="criteria profile: name or path to .toml")
    group.addoption("--model", default="all-minilm-l6-v2", help="model manifest: name or path to .toml")
    group.addoption("--provider", default="cpu", choices=PROVIDER_CHOICES, help="execution provider to sign off")
    group.addoption("--strict-provider", action="store_true", help="fail instead of falling back to another provider")
    group.addoption("--reports-dir", default="reports", help="where signoff.json and other reports go")
    group.addoption("--require-signoff", action="store_true", help="exit non-zero unless the verdict is SIGNED OFF")
    group.addoption("--inject-fault", default=None, metavar="FAULT",
                    help="run against a deliberately broken deployment (acceptance/faults.py): proves criteria "
                         "can fail; several compose, comma-separated (sleep:20,serialize)")
    group.addoption("--trt-fp16", action="store_true", help="ask TensorRT for fp16 (check the engine's real precision)")
    group.addoption("--intra-op-threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: one per core)")
    group.addoption("--baseline", default=None, metavar="SIGNOFF_JSON",
                    help="compare with an earlier run's signoff.json: regression.* criteria fail on regressions "
                         "beyond the profile's [regression] allowances")
    group.addoption("--diagnose", action="append", choices=("parity",), default=[],
                    help="parity: compare the graph with the PyTorch baseline layer by layer even when parity passes "
                         "(it runs by itself when parity fails)")
    group.addoption("--baseline-any", action="store_true",
                    help="compare even with a baseline of another model file, profile, precision or device")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if not startup.runs_acceptance(config):
        return
    reports = Path(config.getoption("--reports-dir"))
    if config.option.tbstyle == "auto":
        # The criteria table says what failed and why; pytest's long tracebacks (fixture reprs and all)
        # would bury it. One line per failure unless --tb asks for more; the full text goes to
        # reports/failures.log (acceptance/recorder.py) and to Allure.
        config.option.tbstyle = "line"
    # ORT's own warnings and errors stay out of a sign-off's terminal: what matters of them (a provider
    # that did not load) is in each session's report.
    ort.set_default_logger_severity(3)
    if hasattr(config.option, "allure_report_dir") and not config.option.allure_report_dir:
        # allure-pytest on every acceptance run (before its own pytest_configure reads the option)
        config.option.allure_report_dir = str(reports / "allure-results")
        config.option.clean_alluredir = not startup.is_worker(config)  # only the controller clears old results
    state = config.stash[SIGNOFF_RUN] = startup.start(config)
    if state.record is not None:
        config.pluginmanager.register(SignoffRecorder(config, state), "signoff-recorder")
        for stale in state.run_dir.glob("*.json"):
            stale.unlink()  # the previous run's hand-over files, never a report


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """pytest-xdist: workers get the baseline the controller read (it may have moved to reports/history/)."""
    state = node.config.stash.get(SIGNOFF_RUN, None)
    if state is not None and state.baseline is not None:
        node.workerinput["signoff_baseline"] = state.baseline.for_workers()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SIGNOFF_RUN not in config.stash:
        return  # not an acceptance run: the project's own tests run as plain pytest
    profile = config.stash[SIGNOFF_RUN].profile
    if startup.collects_whole_suite(config):  # before -m/-k deselect: every test of the suite is here
        unmeasured = startup.unmeasured_criteria(profile, items)
        if unmeasured and startup.is_worker(config):
            config.workeroutput["signoff_unmeasured"] = unmeasured  # the controller's recorder says it
        elif unmeasured:
            raise pytest.UsageError(startup.unmeasured_message(profile, unmeasured))
    for item in items:
        marker = item.get_closest_marker("criterion")
        if marker is None:
            if startup.ACCEPTANCE_DIR in Path(str(item.fspath)).resolve().parents:
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
