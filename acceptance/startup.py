"""Starting an acceptance run: everything checked before the first test, in the order that keeps an
old report from ever looking current. Any mistake found here is a usage error (exit 4) with one line
that says what to fix.

1. The baseline is read (before the archiving moves it, so `--baseline reports/signoff.json` works).
2. The previous signoff.json/.md leave for reports/history/ (nothing is deleted).
3. A run record starts (the controller's), then the fault, manifest, profile, provider and baseline are
   checked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from acceptance.baseline import Baseline, BaselineError, check_comparable, load_baseline
from acceptance.environment import describe_environment
from acceptance.faults import FaultError, parse_faults
from acceptance.profile import Profile, ProfileError, load_profile
from acceptance.progress import ProgressReporter
from acceptance.run_record import archive_previous, start_run
from acceptance.signoff_run import SignoffRun
from modelprep.graph_audit import audit_graph
from runtime.artifact import verified_sha256
from runtime.errors import EmbeddingError, ManifestError
from runtime.manifest import ModelManifest, cache_root, load_manifest
from runtime.session import SessionConfig, available_providers, plan_providers

ACCEPTANCE_DIR = Path(__file__).resolve().parent


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def runs_acceptance(config: pytest.Config) -> bool:
    """Whether this pytest run collects the acceptance suite (not the project's own `pytest tests`)."""
    paths = [Path(arg.split("::")[0]).resolve() for arg in config.args]
    return any(p == ACCEPTANCE_DIR or ACCEPTANCE_DIR in p.parents for p in paths)


def collects_whole_suite(config: pytest.Config) -> bool:
    """Whether the run collects every acceptance test (selection by -m/-k comes after collection)."""
    return any(Path(arg).resolve() == ACCEPTANCE_DIR for arg in config.args)


def start(config: pytest.Config) -> SignoffRun:
    """The run's state, after every start-up check; raises pytest.UsageError with the reason."""
    reports = Path(config.getoption("--reports-dir"))
    controller = not is_worker(config) and not config.option.collectonly
    baseline, baseline_error = _read_baseline(config) if controller else (None, None)
    record = None
    if controller:
        # First of all, before anything can fail: the previous verdict leaves, so a run that stops at
        # start-up never leaves an older report looking current.
        archived = archive_previous(reports)
        moved = archived is not None and baseline is not None
        if moved and Path(baseline.path) == (reports / "signoff.json").resolve():
            baseline.path = str((archived / "signoff.json").resolve())  # where the baseline now lives
        record = start_run(list(config.invocation_params.args), config.args, config.option.markexpr,
                           config.option.keyword, config.getoption("--inject-fault"))
    try:
        manifest, profile = _deployment(config)
        if baseline_error is not None:
            raise baseline_error
        if baseline is not None:
            _check_baseline(config, baseline, profile, manifest)
        elif is_worker(config) and "signoff_baseline" in config.workerinput:
            baseline = Baseline.from_workers(config.workerinput["signoff_baseline"])
    except (ProfileError, EmbeddingError, FaultError, BaselineError) as exc:
        raise pytest.UsageError(str(exc)) from None
    return SignoffRun(profile=profile, reports_dir=reports, record=record, baseline=baseline,
                      progress=ProgressReporter(config))


def _read_baseline(config: pytest.Config) -> tuple[Baseline | None, BaselineError | None]:
    path = config.getoption("--baseline")
    if not path:
        return None, None
    try:
        return load_baseline(path), None
    except BaselineError as exc:  # reported after the archiving, like every other start-up error
        return None, exc


def _deployment(config: pytest.Config) -> tuple[ModelManifest, Profile]:
    """The fault, manifest and profile named on the command line, and (strictly) the provider."""
    if config.getoption("--inject-fault"):
        parse_faults(config.getoption("--inject-fault"))
    manifest = load_manifest(config.getoption("--model"))
    if manifest.onnx_path.is_file():  # built already: its precision is checked before anything runs
        wrong = audit_graph(manifest.onnx_path).claim_error(manifest.precision)
        if wrong:
            raise ManifestError(f"{manifest.path}: {wrong}")
    computes_in = manifest.compute_precisions | ({"fp16"} if config.getoption("--trt-fp16") else set())
    profile = load_profile(config.getoption("--accept-profile")).for_deployment(manifest.precision, computes_in)
    if config.getoption("--strict-provider"):
        # One clear message at start-up (the missing library, what to install), not one error per test.
        plan_providers(SessionConfig(providers=(config.getoption("--provider"),), strict=True), available_providers())
    return manifest, profile


def _check_baseline(config: pytest.Config, baseline: Baseline, profile: Profile, manifest: ModelManifest) -> None:
    sha = verified_sha256(manifest.onnx_path, cache_root() / "verified")[0] if manifest.onnx_path.is_file() else None
    environment = describe_environment(provider_requested=config.getoption("--provider"))
    check_comparable(baseline, profile=profile.name, precision=manifest.precision, onnx_sha256=sha,
                     environment=environment, accept_any=config.getoption("--baseline-any"))


def unmeasured_criteria(profile: Profile, items: list[pytest.Item]) -> list[str]:
    """The profile's criteria no collected test measures (a typo such as `latency.p95_ms.batch1`), read
    from pytest's collection: each test's `criterion` mark, parametrized ones included."""
    measured = {marker.args[0] for item in items for marker in item.iter_markers("criterion")}
    return sorted(set(profile.criteria) - measured)


def unmeasured_message(profile: Profile, unmeasured: list[str]) -> str:
    return (f"profile {profile.path}: no acceptance test measures {', '.join(unmeasured)}; fix the id (each test "
            "names its criterion with @pytest.mark.criterion) or drop it")
