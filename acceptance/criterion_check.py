"""The criterion fixture: a test measures a value, the fixture records it for the verdict and
asserts it against the profile's target. No threshold lives in test code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

import pytest

from acceptance.allure_report import record, record_contention
from acceptance.contention import MachineBusy, Quiet
from acceptance.profile import Criterion, Profile
from acceptance.report.vocabulary import THRESHOLD_MISSED


@dataclass
class CriterionCheck:
    criterion: Criterion
    item: pytest.Item
    profile_name: str
    baseline_value: float | None = None  # --baseline: this criterion's value in the baseline run

    @property
    def target(self) -> float:
        return self.criterion.target

    def check(self, measured: float, hint: str = "", **details: Any) -> None:
        """Record the measured value for the verdict, then assert it meets the target. `hint` says where
        to look when it misses (e.g. the first stage that diverges)."""
        self.note(measured, **details)
        if not self.criterion.passes(measured):
            # Raised, not asserted: pytest's assertion rewriting would append reprs of every object
            # in the expression to a message that already says everything.
            raise AssertionError(
                f"{self.criterion.id}: measured {measured:.6g} {self.criterion.unit} {THRESHOLD_MISSED.marker} "
                f"{self.criterion.target_text} (profile {self.profile_name})" + (f"; {hint}" if hint else ""))

    def note(self, measured: float, **details: Any) -> None:
        """Record the measured value for the verdict without judging it (a property test that fails
        inside Hypothesis still reports the worst value it saw)."""
        self.item.user_properties.append(("criterion_measured", {"value": float(measured), "details": details}))
        record(self.criterion, float(measured), details, baseline=self.baseline_value)

    def check_timing(self, quiet: Quiet, measured: float | None, **details: Any) -> None:
        """A timing figure: judged only when the machine was quiet while it was measured; a figure that
        stayed contended makes the criterion an error (MachineBusy), with the contention in the report."""
        details = details | {"contention": quiet.figures()}
        record_contention(quiet.figures())
        if quiet.contended:
            self.machine_busy(quiet.busy_reason(), contended_value=None if measured is None else float(measured),
                              **details)
        self.check(measured, **details)

    def machine_busy(self, reason: str, **details: Any) -> NoReturn:
        self.item.user_properties.append(("criterion_measured", {"value": None, "details": details}))
        raise MachineBusy(reason)


@pytest.fixture
def criterion(request: pytest.FixtureRequest, profile: Profile, signoff_run) -> CriterionCheck:
    marker = request.node.get_closest_marker("criterion")
    crit = profile.get(marker.args[0])
    if crit is None:
        pytest.skip(f"criterion {marker.args[0]} is not part of profile {profile.name}")
    before = signoff_run.baseline.measured(crit.id) if signoff_run.baseline else None
    return CriterionCheck(crit, request.node, profile.name, before)


def target(profile: Profile, criterion_id: str) -> float:
    """A threshold other tests borrow (e.g. the norm tolerance), read from the profile."""
    crit = profile.get(criterion_id)
    if crit is None:
        pytest.skip(f"profile {profile.name} has no criterion {criterion_id} to take the tolerance from")
    return crit.target
