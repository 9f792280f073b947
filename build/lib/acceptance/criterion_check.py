"""The criterion fixture: a test measures a value, the fixture records it for the verdict and
asserts it against the profile's target. No threshold lives in test code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from acceptance.allure_report import record
from acceptance.profile import Criterion, Profile


@dataclass
class CriterionCheck:
    criterion: Criterion
    item: pytest.Item
    profile_name: str

    @property
    def target(self) -> float:
        return self.criterion.target

    def check(self, measured: float, **details: Any) -> None:
        """Record the measured value for the verdict, then assert it meets the target."""
        self.item.user_properties.append(("criterion_measured", {"value": float(measured), "details": details}))
        record(self.criterion, float(measured), details)
        assert self.criterion.passes(measured), (
            f"{self.criterion.id}: measured {measured:.6g} {self.criterion.unit} misses the target "
            f"{self.criterion.target_text} (profile {self.profile_name})"
        )


@pytest.fixture
def criterion(request: pytest.FixtureRequest, profile: Profile) -> CriterionCheck:
    marker = request.node.get_closest_marker("criterion")
    crit = profile.get(marker.args[0])
    if crit is None:
        pytest.skip(f"criterion {marker.args[0]} is not part of profile {profile.name}")
    return CriterionCheck(crit, request.node, profile.name)


def target(profile: Profile, criterion_id: str) -> float:
    """A threshold other tests borrow (e.g. the norm tolerance), read from the profile."""
    crit = profile.get(criterion_id)
    if crit is None:
        pytest.skip(f"profile {profile.name} has no criterion {criterion_id} to take the tolerance from")
    return crit.target
