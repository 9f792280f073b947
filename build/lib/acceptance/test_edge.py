"""Hypothesis edge inputs: arbitrary unicode, very long and repetitive texts, odd whitespace.

Each property keeps the worst value it saw across examples and reports it against the profile;
a single example past the tolerance fails the test at once (and Hypothesis shrinks it).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from runtime.embedder import has_visible_character
from runtime.errors import EmptyTextError

pytestmark = pytest.mark.edge

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
        assert self.criterion.criterion.passes(value), f"{value:.6g} misses {self.criterion.criterion.target_text}"


@pytest.mark.criterion("edge.finite_unit_norm")
def test_finite_unit_norm_right_dim(embedder, manifest, criterion):
    worst = Worst(criterion)

    @given(st.lists(text, min_size=1, max_size=4))
    def prop(texts):
        vectors = embedder.encode(texts)
        assert vectors.shape == (len(texts), manifest.dimension)
        assert np.isfinite(vectors).all()
        worst.see(float(np.abs(np.linalg.norm(vectors.astype(np.float64), axis=1) - 1).max()))

    prop()
    criterion.check(worst.value)


@pytest.mark.criterion("edge.deterministic")
def test_deterministic(embedder, criterion):
    worst = Worst(criterion)

    @given(text)
    def prop(t):
        worst.see(cos(embedder.encode([t])[0], embedder.encode([t])[0]))

    prop()
    criterion.check(worst.value)


@pytest.mark.criterion("edge.batch_invariance")
def test_batch_invariance(embedder, criterion):
    worst = Worst(criterion)

    @given(text, st.lists(text, min_size=1, max_size=6), st.data())
    def prop(t, others, data):
        position = data.draw(st.integers(0, len(others)))
        batch = others[:position] + [t] + others[position:]
        worst.see(cos(embedder.encode([t])[0], embedder.encode(batch, batch_size=len(batch))[position]))

    prop()
    criterion.check(worst.value)


@pytest.mark.criterion("edge.order_invariance")
def test_order_invariance(embedder, criterion):
    worst = Worst(criterion)

    @given(st.lists(text, min_size=2, max_size=6), st.randoms(use_true_random=False))
    def prop(texts, rng):
        order = list(range(len(texts)))
        rng.shuffle(order)
        forward = embedder.encode(texts, batch_size=len(texts))
        shuffled = embedder.encode([texts[i] for i in order], batch_size=len(texts))
        worst.see(min(cos(forward[i], shuffled[k]) for k, i in enumerate(order)))

    prop()
    criterion.check(worst.value)


@pytest.mark.criterion("edge.truncation_stable")
def test_truncation_stable(embedder, manifest, criterion):
    worst = Worst(criterion)
    words = st.lists(st.sampled_from(["alpha", "beta", "数据", "🙂", "token", "ocean", "x"]), min_size=1, max_size=20)

    @given(words, words)
    def prop(head, tail):
        base = " ".join(head)
        long_text = " ".join([base] * (manifest.max_length // max(1, len(head)) + 2))
        counts = embedder.embed([long_text]).token_counts
        assume(counts[0] == manifest.max_length)  # past max_length
        worst.see(cos(embedder.encode([long_text])[0], embedder.encode([long_text + " " + " ".join(tail)])[0]))

    prop()
    criterion.check(worst.value)


@pytest.mark.criterion("edge.blank_rejected")
def test_blank_input_rejected(embedder, criterion):
    # Whitespace, and characters that render as nothing: NUL and other controls, zero-width space and
    # joiners, BOM, word joiner, soft hyphen, bidi marks. Each text of them alone has nothing to embed.
    blanks = st.text(st.sampled_from(" \t\n\r\x0b\x0c\u00a0\u2000\u2003\u3000\u2028\u2029\x1c\x1d\x1e\x1f"
                                     "\x00\x01\x7f\u200b\u200c\u200d\ufeff\u2060\u00ad\u200e\u202e"),
                     max_size=50)
    seen = []

    @given(blanks, st.lists(text, max_size=3), st.data())
    def prop(blank, others, data):
        position = data.draw(st.integers(0, len(others)))
        with pytest.raises(EmptyTextError, match=f"item {position} (is empty or whitespace-only|holds only invisible)"):
            embedder.encode(others[:position] + [blank] + others[position:])
        seen.append(1.0)

    prop()
    criterion.check(float(np.mean(seen)), examples=len(seen))
