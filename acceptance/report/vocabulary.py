"""The words every report uses, in one place: a criterion's status, a test's outcome, the verdict, how a
run ended, and what kind of failure a test reports. Each has its one icon, label and colour here; the
terminal table, signoff.md, the plots, the Allure files and the fleet all take them from here."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class Style:
    icon: str
    label: str  # how signoff.md and fleet.md show it
    colour: str  # rich's colour name (terminal)
    plot_colour: str  # matplotlib's


class Status(StrEnum):
    """A criterion's status. Only PASS meets it: the others count as not met."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"  # the test broke, or the machine was too busy to judge a timing
    SKIPPED = "skipped"  # cannot be measured on this machine
    NOT_RUN = "not-run"  # outside the selected slice, or the run stopped first

    @property
    def met(self) -> bool:
        return self is Status.PASS

    @property
    def style(self) -> Style:
        return _STATUS_STYLES[self]

    @property
    def shown(self) -> str:
        """Icon and label, as the reports show it ("❌ FAIL")."""
        return f"{self.style.icon} {self.style.label}"


_STATUS_STYLES = {
    Status.PASS: Style("✅", "PASS", "green", "tab:green"),
    Status.FAIL: Style("❌", "FAIL", "red", "tab:red"),
    Status.ERROR: Style("❌", "ERROR", "red", "tab:red"),
    Status.SKIPPED: Style("⚠️", "SKIPPED (not met)", "yellow", "tab:orange"),
    Status.NOT_RUN: Style("⏸", "NOT RUN (not met)", "yellow", "tab:gray"),
}


class TestOutcome(StrEnum):
    """What pytest says of one test (one criterion may have several tests)."""

    __test__ = False  # not a test class, whatever pytest's name pattern says

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    ERROR = "error"


class Verdict(StrEnum):
    SIGNED_OFF = "signed-off"
    NOT_SIGNED_OFF = "not-signed-off"

    @property
    def headline(self) -> str:
        return "SIGNED OFF" if self is Verdict.SIGNED_OFF else "NOT SIGNED OFF"

    @property
    def shown(self) -> str:
        return f"{'✅' if self is Verdict.SIGNED_OFF else '❌'} {self.headline}"

    @property
    def colour(self) -> str:
        return "green" if self is Verdict.SIGNED_OFF else "red"

    @classmethod
    def of(cls, signed_off: bool) -> Verdict:
        return cls.SIGNED_OFF if signed_off else cls.NOT_SIGNED_OFF


class RunEnd(StrEnum):
    """How a run ended. Only a completed run can sign off."""

    RUNNING = "running"
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"
    STOPPED_EARLY = "stopped early"
    INTERNAL_ERROR = "internal error"
    USAGE_ERROR = "usage error"


@dataclass(frozen=True)
class FailureKind:
    """A kind of test failure, as the Allure dashboard groups them (categories.json). `marker` is the
    text the message of that kind carries: the code that raises it and the category that matches it both
    read it from here, so the two cannot drift apart."""

    category: str
    statuses: tuple[str, ...]  # Allure's: failed, broken, skipped
    marker: str | None = None  # None: every message of those statuses (the catch-all, last)

    def message(self, text: str) -> str:
        """`text`, prefixed by the marker when it does not already say it."""
        return text if self.marker is None or self.marker in text else f"{self.marker} {text}"


PROVIDER_FELL_BACK = FailureKind("Provider fell back", ("failed", "broken"), "provider fell back:")
MODEL_OR_CONFIG = FailureKind("Model or config error", ("broken",), "model or config error:")
THRESHOLD_MISSED = FailureKind("Threshold missed", ("failed",), "misses the target")
INVALID_MEASUREMENT = FailureKind("Measurement invalid", ("failed",), "INVALID:")
MACHINE_BUSY = FailureKind("Machine busy: not judged (counts as not met)", ("broken",), "machine busy:")
NOT_MEASURABLE = FailureKind("Cannot be measured here (counts as not met)", ("skipped",))
TEST_DEFECT = FailureKind("Test defect", ("broken",))
#: In the order Allure tries them: the first that matches names a failure's category.
FAILURE_KINDS = (PROVIDER_FELL_BACK, MODEL_OR_CONFIG, THRESHOLD_MISSED, INVALID_MEASUREMENT, MACHINE_BUSY,
                 NOT_MEASURABLE, TEST_DEFECT)
