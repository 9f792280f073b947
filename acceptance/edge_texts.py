"""Texts and helpers for the Hypothesis properties (test_edge.py, test_tokenizer.py): arbitrary unicode,
very long and repetitive texts, odd whitespace, and the worst value seen across examples."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from runtime.embedder import has_visible_character

SPECIAL = [
    "🙂🎉🚀 emoji only", "👩‍👩‍👧‍👦 family ZWJ", "机器学习是人工智能的一个分支", "猫はマットの上に座っています",
    "مرحبا بالعالم", "שלום עולם", "e\u0301\u0301\u0301 combining marks", "zero\u200bwidth\u200djoiner\ufeff",
    "control \x01\x02\x1b[31m chars", "nul \x00 byte", "\ud7ff\ue000 private use", "A", "??!!..,,",
    "   leading and trailing whitespace   ", "\n\nnewlines\n\n", "tab\tseparated\tvalues",
]
text = st.one_of(
    st.sampled_from(SPECIAL),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=300),
    st.builds(lambda w, n: (w + " ") * n, st.sampled_from(["the", "a", "🙂", "数据", "token"]), st.integers(50, 800)),
    st.text(st.characters(codec="utf-8"), min_size=1000, max_size=3000),
).filter(has_visible_character)  # what the runtime rejects is edge.blank_rejected's


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


class Worst:
    """The worst value seen across Hypothesis examples, checked per example too."""

    def __init__(self, criterion):
        self.criterion, self.value = criterion, None

    def see(self, value: float) -> None:
        crit = self.criterion.criterion
        if self.value is None or crit.badness(value) > crit.badness(self.value):
            self.value = value
        assert crit.passes(value), \
            f"an example gave {value:.6g}, which misses {crit.target_text} (worst seen {self.value:.6g})"

    def judge(self, prop, **details) -> None:
        """Run the property, then check the worst value seen against the target."""
        judge(self.criterion, prop, lambda: self.value, lambda: details)


def judge(criterion, prop, value, details=dict) -> None:
    """Run a Hypothesis property, then check `value()` (and `details()`) against the criterion. When an
    example fails inside Hypothesis, the value so far is still recorded, so the verdict shows a number."""
    try:
        prop()
    except BaseException:
        if value() is not None:
            criterion.note(value(), **details())
        raise
    criterion.check(value(), **details())
