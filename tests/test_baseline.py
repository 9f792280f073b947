"""--baseline refuses a baseline of another deployment or machine with the list of what differs,
unless --baseline-any says it is meant; then every report says so. (The regression criteria failing
the verdict on a real slow run: tests/test_mutants.py, the slow-session meta-test.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
META = ("--accept-profile", str(ROOT / "tests" / "meta-profile.toml"))


def run(reports: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "acceptance", "-p", "no:cacheprovider", "--reports-dir", str(reports),
         "-m", "norm", "-k", "deviation", *META, *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=os.environ | {"HYPOTHESIS_PROFILE": "meta"})


@pytest.fixture(scope="module")
def other_profile_baseline(tmp_path_factory) -> Path:
    """A real run's signoff.json, edited to come from another profile and another host."""
    work = tmp_path_factory.mktemp("baseline")
    done = run(work / "first")
    signoff = json.loads((work / "first" / "signoff.json").read_text())
    signoff["profile"] = "thor-week3"
    signoff["environment"]["host"] = "thor-01"
    path = work / "other.json"
    path.write_text(json.dumps(signoff))
    assert done.returncode in (0, 1), done.stdout[-2000:]
    return path


def test_a_baseline_of_another_profile_and_host_is_refused_with_what_differs(other_profile_baseline, tmp_path):
    done = run(tmp_path / "r", "--baseline", str(other_profile_baseline))
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    assert "is not comparable with this run" in done.stderr
    assert "profile: baseline thor-week3, this run cpu-default-meta" in done.stderr
    assert "host: baseline thor-01" in done.stderr and "--baseline-any" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_baseline_any_compares_anyway_and_every_report_says_so(other_profile_baseline, tmp_path):
    reports = tmp_path / "r"
    done = run(reports, "--baseline", str(other_profile_baseline), "--baseline-any")
    signoff = json.loads((reports / "signoff.json").read_text())
    differences = signoff["comparison"]["baseline"]["accepted_differences"]
    assert any(d.startswith("profile:") for d in differences) and any(d.startswith("host:") for d in differences)
    assert "Compared with a baseline of another deployment or device" in (reports / "signoff.md").read_text()
    assert "Compared with a baseline that differs (--baseline-any)" in done.stdout
    row = next(r for r in signoff["comparison"]["rows"] if r["criterion"] == "norm.max_deviation")
    assert row["baseline"] is not None and row["current"] is not None


@pytest.mark.parametrize("content", [None, "{not json", '{"verdict": "signed-off"}'])
def test_a_missing_or_broken_baseline_is_a_usage_error(tmp_path, content):
    path = tmp_path / "signoff.json"
    if content is not None:
        path.write_text(content)
    done = run(tmp_path / "r", "--baseline", str(path if content is not None else tmp_path / "nowhere.json"))
    assert done.returncode == 4 and "--baseline" in done.stderr and "Traceback" not in done.stderr, done.stderr
