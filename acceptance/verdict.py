"""From test outcomes to criterion statuses to a sign-off verdict.

Honesty rules: a criterion is met only when its tests ran and passed. Skipped (cannot be measured
here), error (the test broke) and not-run (outside the selected slice) all count as not met for a
required criterion, and a run that did not complete never signs off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from acceptance.profile import Criterion, Profile
from acceptance.report.signoff import CriterionResult
from acceptance.report.vocabulary import RunEnd, Status, TestOutcome, Verdict


@dataclass
class Outcome:
    """One test's result for its criterion (a criterion may have several tests)."""

    nodeid: str
    criterion: str
    outcome: TestOutcome
    measured: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


#: A test outcome and the status it gives its criterion, worst first: the first found among a criterion's
#: tests decides (an error outranks a failure, which outranks a skip).
_DECIDING = ((TestOutcome.ERROR, Status.ERROR), (TestOutcome.FAILED, Status.FAIL),
             (TestOutcome.SKIPPED, Status.SKIPPED))


def evaluate(criterion: Criterion, outcomes: list[Outcome]) -> CriterionResult:
    result = CriterionResult(
        id=criterion.id, title=criterion.title, prd_ref=criterion.prd_ref, target=criterion.target,
        comparator=criterion.comparator, unit=criterion.unit, required=criterion.required,
        target_text=criterion.target_text, status=Status.NOT_RUN, tests=[o.nodeid for o in outcomes],
    )
    if not outcomes:
        result.reason = "no test for this criterion ran (outside the selected slice, or deselected)"
        return result
    measured = [o for o in outcomes if o.measured is not None]
    passed = [o for o in outcomes if o.outcome is TestOutcome.PASSED]
    if criterion.aggregate == "count_passed":
        result.measured = float(len(passed))
    elif measured:  # several cells for one criterion: report the one closest to failing
        worst = max(measured, key=lambda o: criterion.badness(o.measured))
        result.measured, result.details = worst.measured, worst.details
    for outcome, status in _DECIDING:
        first = next((o for o in outcomes if o.outcome is outcome), None)
        if first is not None:
            result.status, result.reason = status, first.reason
            if status is Status.ERROR and result.measured is None:  # e.g. a busy machine: what it saw
                result.details = first.details
            return result
    if criterion.aggregate == "count_passed" and not criterion.passes(result.measured):
        result.reason = f"only {len(passed)} of its tests ran in this selection; the target is {criterion.target_text}"
    elif result.measured is not None and not criterion.passes(result.measured):
        result.status, result.reason = Status.FAIL, f"measured {result.measured:g} misses {criterion.target_text}"
    else:
        result.status = Status.PASS
    return result


def judge(profile: Profile, outcomes: list[Outcome], ended: RunEnd) -> list[CriterionResult]:
    """Every criterion of the profile, judged from its tests' outcomes; what a run that did not complete
    never reached says why."""
    results = [evaluate(c, [o for o in outcomes if o.criterion == c.id]) for c in profile.criteria.values()]
    if ended is not RunEnd.COMPLETED:
        for r in results:
            if r.status is Status.NOT_RUN:
                r.reason = f"the run was {ended} before this criterion was measured"
    return results


def verdict_of(results: list[CriterionResult], ended: RunEnd) -> Verdict:
    """Signed off only when the run completed and every required criterion (there must be one) passed."""
    required = [r for r in results if r.required]
    return Verdict.of(ended is RunEnd.COMPLETED and bool(required) and all(r.met for r in required))
