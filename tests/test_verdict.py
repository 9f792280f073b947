"""Verdict rules: only a pass meets a criterion; skipped, error and not-run never do."""

from __future__ import annotations

import pytest

from acceptance.profile import Criterion, Profile, ProfileError, load_profile
from acceptance.report.vocabulary import RunEnd, Status, TestOutcome
from acceptance.verdict import Outcome, evaluate, judge, verdict_of

LAT = Criterion("latency.p95_ms.batch_1", "P95", "PRD", "<", 100, "ms")
COUNT = Criterion("integration.tests_passing", "12", "PRD", ">=", 3, "tests", aggregate="count_passed")


def outcome(status, measured=None, criterion=LAT.id, reason=""):
    return Outcome(nodeid=f"t::{status}{measured}", criterion=criterion, outcome=TestOutcome(status), measured=measured,
                   reason=reason)


@pytest.mark.parametrize(
    ("outcomes", "status"),
    [
        ([outcome("passed", 50.0)], Status.PASS),
        ([outcome("failed", 150.0)], Status.FAIL),
        ([outcome("skipped", reason="no GPU")], Status.SKIPPED),
        ([outcome("error")], Status.ERROR),
        ([], Status.NOT_RUN),
        ([outcome("passed", 50.0), outcome("skipped")], Status.SKIPPED),
        ([outcome("error"), outcome("failed", 150.0), outcome("skipped")], Status.ERROR),  # the worst decides
        ([outcome("passed", 150.0)], Status.FAIL),  # a passing test cannot sneak a missed number through
    ],
)
def test_status_rules(outcomes, status):
    assert evaluate(LAT, outcomes).status == status


def test_worst_cell_is_reported():
    result = evaluate(LAT, [outcome("passed", 50.0), outcome("passed", 80.0)])
    assert result.measured == 80.0


def test_count_criterion_needs_every_test():
    passed = [outcome("passed", criterion=COUNT.id) for _ in range(3)]
    assert evaluate(COUNT, passed).status is Status.PASS and evaluate(COUNT, passed).measured == 3
    assert evaluate(COUNT, passed[:2]).status is Status.NOT_RUN
    assert evaluate(COUNT, passed[:2] + [outcome("failed", criterion=COUNT.id)]).status is Status.FAIL


def test_verdict_signs_off_only_when_every_required_criterion_passes_in_a_completed_run():
    info = Criterion("x.info", "info", "PRD", ">", 0, "", required=False)
    profile = Profile("p", "", {LAT.id: LAT, info.id: info})

    def signed(outcomes, ended=RunEnd.COMPLETED):
        return bool(verdict_of(judge(profile, outcomes, ended), ended) == "signed-off")

    assert signed([outcome("passed", 50.0)])
    assert not signed([outcome("skipped")]) and not signed([])
    assert not signed([outcome("passed", 50.0)], RunEnd.INTERRUPTED)
    assert "the run was interrupted" in judge(profile, [], RunEnd.INTERRUPTED)[0].reason


def test_profiles_load_and_extend():
    week2, week3, cpu = (load_profile(n) for n in ("thor-week2", "thor-week3", "cpu-default"))
    assert week2.get("latency.p95_ms.batch_1").target == 100
    assert week3.get("latency.p95_ms.batch_1").target == 30 and week3.get("latency.p95_ms.batch_8").target == 200
    assert "tensorrt.engine_build_s" in week2.criteria and "tensorrt.engine_build_s" not in cpu.criteria
    assert all(c.why for c in cpu.criteria.values() if c.id not in week2.criteria or
               c.target != week2.criteria[c.id].target), "every cpu-default threshold says how it was chosen"


def test_bad_profile(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[criteria]]\nid = "a"\ntitle = "t"\nprd_ref = "r"\ncomparator = "~"\ntarget = 1\nunit = ""\n')
    with pytest.raises(ProfileError, match="comparator is '~': use one of"):
        load_profile(bad)
    with pytest.raises(ProfileError, match="cpu-default"):
        load_profile("no-such-profile")
