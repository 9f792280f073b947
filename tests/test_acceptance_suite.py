"""The acceptance suite itself, run as an engineer would: slices, profiles, xdist."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_suite(tmp_path: Path, *args: str, env: dict | None = None) -> tuple[subprocess.CompletedProcess, dict | None]:
    reports = tmp_path / "reports"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "acceptance", "-p", "no:cacheprovider", "--reports-dir", str(reports), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=env,
    )
    signoff = reports / "signoff.json"
    return done, json.loads(signoff.read_text()) if signoff.exists() else None


def statuses(signoff: dict) -> dict[str, str]:
    return {c["id"]: c["status"] for c in signoff["criteria"]}


def test_integration_slice_collects_exactly_twelve(tmp_path):
    done, _ = run_suite(tmp_path, "--collect-only", "-q", "-m", "integration")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sum(line.startswith("acceptance/") for line in done.stdout.splitlines()) == 12


def test_a_slice_is_not_a_sign_off(tmp_path):
    done, signoff = run_suite(tmp_path, "-m", "integration", "--require-signoff")
    assert done.returncode == 1, "a slice passed but must not sign off"
    status = statuses(signoff)
    assert status["integration.tests_passing"] == "pass"
    assert status["latency.p95_ms.batch_1"] == "not-run"
    assert signoff["verdict"] == "not-signed-off"
    assert "NOT SIGNED OFF" in done.stdout


def test_thor_profile_on_a_cpu_machine_skips_gpu_criteria_and_does_not_sign_off(tmp_path):
    done, signoff = run_suite(tmp_path, "--accept-profile", "thor-week2", "-m", "resources")
    assert done.returncode == 0, done.stdout[-2000:]
    by_id = {c["id"]: c for c in signoff["criteria"]}
    for gpu_criterion in ("resources.gpu_memory_mb", "tensorrt.engine_build_s", "tensorrt.engine_load_s"):
        assert by_id[gpu_criterion]["status"] == "skipped" and by_id[gpu_criterion]["reason"]
    assert by_id["resources.cpu_memory_mb"]["status"] == "pass"
    assert signoff["verdict"] == "not-signed-off"
    assert signoff["environment"]["providers_used"] == ["CPUExecutionProvider"]


@pytest.mark.parametrize("model", ["qwen3-tiny"])
def test_random_weight_model_skips_semantics_with_a_reason(tmp_path, model):
    _, signoff = run_suite(tmp_path, "--model", model, "-m", "quality")
    crit = {c["id"]: c for c in signoff["criteria"]}["quality.semantic_pass_rate"]
    assert crit["status"] == "skipped" and "random weights" in crit["reason"]


def test_xdist_gives_the_same_verdict_as_a_serial_run(tmp_path):
    # The meta-tests' profile (parity at one batch size) and Hypothesis profile: what is compared here
    # is how the verdict is assembled from several workers, not the thresholds.
    args = ("-m", "quality or parity or norm", "--accept-profile", str(ROOT / "tests" / "meta-profile.toml"))
    env = os.environ | {"HYPOTHESIS_PROFILE": "meta"}
    _, serial = run_suite(tmp_path / "serial", *args, env=env)
    _, parallel = run_suite(tmp_path / "xdist", *args, "-n", "2", env=env)
    assert statuses(serial) == statuses(parallel)
    assert statuses(parallel)["parity.min_cosine"] == "pass"
    assert statuses(parallel)["integration.tests_passing"] == "not-run"


def test_cpu_memory_criterion_can_fail(tmp_path):
    """A deployment that needs more memory than the profile allows trips resources.cpu_memory_mb: here
    the profile's limit is set below what a fresh process serving batch 32 really peaks at."""
    profile = tmp_path / "tight.toml"
    profile.write_text(
        '[profile]\nname = "tight"\nextends = "cpu-default"\n\n[[criteria]]\nid = "resources.cpu_memory_mb"\n'
        'title = "Peak RSS"\nprd_ref = "Resource Usage"\ncomparator = "<"\ntarget = 64\nunit = "MiB"\n')
    done, signoff = run_suite(tmp_path, "--accept-profile", str(profile), "-m", "resources")
    crit = {c["id"]: c for c in signoff["criteria"]}["resources.cpu_memory_mb"]
    assert crit["status"] == "fail" and crit["measured"] > 64, done.stdout[-2000:]
    assert crit["details"]["cold_create_s"] > 0 and crit["details"]["warm_create_s"] > 0
