"""Fixtures for the deployment under test: its manifest, session options, the embedder (built on
first use, with the fault injected when asked), the PyTorch baseline, and the run's state."""

from __future__ import annotations

import json
from pathlib import Path

import allure
import pytest

from acceptance.faults import inject
from acceptance.profile import Profile
from acceptance.progress import ProgressReporter
from acceptance.report.serial import to_jsonable
from acceptance.report.vocabulary import MODEL_OR_CONFIG, PROVIDER_FELL_BACK
from acceptance.signoff_run import SignoffRun
from acceptance.signoff_run import signoff_run as _signoff_run
from modelprep.assets import checkpoint_dir, ensure_artifacts
from modelprep.graph_audit import GraphAudit, audit_graph, with_executed_kernels
from modelprep.reference import Reference
from runtime.embedder import Embedder
from runtime.errors import EmbeddingError, ProviderError
from runtime.manifest import ModelManifest, baseline_manifest, cache_root, load_manifest
from runtime.session import SessionConfig, TensorRTOptions
from runtime.tensorrt import options_for


@pytest.fixture(scope="session")
def signoff_run(pytestconfig: pytest.Config) -> SignoffRun:
    return _signoff_run(pytestconfig)


@pytest.fixture(scope="session")
def profile(signoff_run: SignoffRun) -> Profile:
    return signoff_run.profile


@pytest.fixture(scope="session")
def reports_dir(signoff_run: SignoffRun) -> Path:
    signoff_run.reports_dir.mkdir(parents=True, exist_ok=True)
    return signoff_run.reports_dir


@pytest.fixture(scope="session")
def run_dir(signoff_run: SignoffRun) -> Path:
    signoff_run.run_dir.mkdir(parents=True, exist_ok=True)
    return signoff_run.run_dir


@pytest.fixture(scope="session")
def manifest(pytestconfig: pytest.Config) -> ModelManifest:
    try:
        return load_manifest(pytestconfig.getoption("--model"))
    except EmbeddingError as exc:
        pytest.exit(f"model or config error: {exc}", returncode=4)


@pytest.fixture(scope="session")
def session_config(pytestconfig: pytest.Config, manifest) -> SessionConfig:
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
def embedder(manifest, session_config, pytestconfig: pytest.Config, run_dir: Path, progress) -> Embedder:
    """One embedder per worker; its session report and the hashes of the files it loaded are kept
    for the run's environment."""
    with allure.step(f"load model {manifest.id}"):
        files = f"model {manifest.id}: files (built on first use: export, checker, parity gate)"
        with progress.phase(files) as phase, phase.steps() as steps:
            ensure_artifacts(manifest, log=steps)
        audit = _audited(manifest, session_config)
        # With TensorRT the session builds (or loads) its engine here: minutes for a 4B model, and the
        # builder gives no percentage, so the phase shows the time it took.
        with progress.phase(f"session on {session_config.providers[0]}"
                            + (" (TensorRT engine build or load)" if session_config.providers[0] in ("tensorrt", "auto")
                               else "")) as phase:
            with phase.heartbeat():  # in a log, a line at least every 30 s of an engine build
                emb = inject(_deployed(manifest, session_config), pytestconfig.getoption("--inject-fault"))
            phase.update(f"runs on {emb.report.primary}")
    worker = getattr(pytestconfig, "workerinput", {}).get("workerid", "main")
    (run_dir / f"session-{worker}.json").write_text(json.dumps(emb.report.as_dict()))
    # What this worker really loaded and how it was verified: the hash the report states.
    (run_dir / f"identity-{worker}.json").write_text(json.dumps(emb.identity.as_dict() if emb.identity else {}))
    (run_dir / f"graph-{worker}.json").write_text(json.dumps(to_jsonable(audit)))
    return emb


def _audited(manifest: ModelManifest, session_config: SessionConfig) -> GraphAudit:
    """The precision the graph really has, before any criterion runs; a manifest that claims another is an
    error naming both. On the CPU provider, which quantized layers its integer kernels run."""
    audit = audit_graph(manifest.onnx_path)
    wrong = audit.claim_error(manifest.precision)
    if wrong:
        raise DeploymentError(MODEL_OR_CONFIG.message(wrong))
    if audit.qdq_pairs and session_config.providers[0] == "cpu":
        audit = with_executed_kernels(audit)
    return audit


def _deployed(manifest: ModelManifest, session_config: SessionConfig) -> Embedder:
    """The deployment's embedder; what keeps it from loading is said with its failure kind's marker (the
    dashboard groups by it): a provider that cannot run, or a model or config error."""
    try:
        return Embedder.load(manifest, session_config)
    except ProviderError as exc:
        raise DeploymentError(PROVIDER_FELL_BACK.message(str(exc))) from None
    except EmbeddingError as exc:
        raise DeploymentError(MODEL_OR_CONFIG.message(f"{type(exc).__name__}: {exc}")) from None


class DeploymentError(Exception):
    """The deployment under test cannot be loaded: every test that needs it errors with this reason."""


@pytest.fixture(scope="session")
def progress(signoff_run: SignoffRun) -> ProgressReporter:
    """Live progress for long phases (acceptance/progress.py)."""
    return signoff_run.progress


@pytest.fixture(scope="session")
def reference(manifest) -> Reference:
    """The HuggingFace PyTorch fp32 baseline of the original model (the manifest's `baseline`)."""
    base = baseline_manifest(manifest)
    return Reference(base, checkpoint_dir(base))


@pytest.fixture(scope="session")
def trained(manifest) -> None:
    """Skips tests that need trained semantics when the model has random weights."""
    if not manifest.trained:
        pytest.skip(f"{manifest.id} has random weights (trained = false): semantic similarity is meaningless on it")
