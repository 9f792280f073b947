"""The state of one acceptance run: one object in pytest's config.stash, reached by tests through
fixtures (`signoff_run`, `profile`, `reports_dir`, `run_dir`), never through private attributes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from acceptance.baseline import Baseline
from acceptance.profile import Profile
from acceptance.progress import ProgressReporter
from acceptance.report.signoff import RunInfo


@dataclass
class SignoffRun:
    profile: Profile  # as it applies to the deployment's precision
    reports_dir: Path  # signoff.json, signoff.md, plots/, latency_raw.csv, allure-results/
    record: RunInfo | None  # None in xdist workers and --collect-only: the controller keeps it
    baseline: Baseline | None = None  # --baseline: the earlier run this one is compared with
    progress: ProgressReporter = field(default_factory=lambda: ProgressReporter(None))  # long phases, live

    @property
    def run_dir(self) -> Path:
        """Files the workers hand to the controller (session reports, loaded-file hashes, the grid)."""
        return self.reports_dir / ".run"


SIGNOFF_RUN = pytest.StashKey[SignoffRun]()


def signoff_run(config: pytest.Config) -> SignoffRun:
    try:
        return config.stash[SIGNOFF_RUN]
    except KeyError:
        raise pytest.UsageError("the sign-off fixtures work in acceptance runs only: pytest acceptance ...") from None
