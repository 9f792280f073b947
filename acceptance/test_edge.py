"""Hypothesis edge inputs: arbitrary unicode, very long and repetitive texts, odd whitespace.

Each property keeps the worst value it saw across examples and reports it against the profile;
a single example past the tolerance fails the test at once (and Hypothesis shrinks it).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from acceptance.edge_texts import Worst, cos, judge, text
from acceptance.shape_sweep import ServedShapes, served_shapes, sweep
from acceptance.workload import alone_vs_batched
from runtime.errors import EmptyTextError
from runtime.tensorrt import shape_profile

pytestmark = pytest.mark.edge


@pytest.mark.criterion("edge.finite_unit_norm")
def test_finite_unit_norm_right_dim(embedder, manifest, criterion):
    worst = Worst(criterion)

    @given(st.lists(text, min_size=1, max_size=4))
    def prop(texts):
        vectors = embedder.encode(texts)
        assert vectors.shape == (len(texts), manifest.dimension)
        assert np.isfinite(vectors).all()
        worst.see(float(np.abs(np.linalg.norm(vectors.astype(np.float64), axis=1) - 1).max()))

    worst.judge(prop)


@pytest.mark.criterion("edge.deterministic")
def test_deterministic(embedder, criterion):
    worst = Worst(criterion)

    @given(text)
    def prop(t):
        worst.see(cos(embedder.encode([t])[0], embedder.encode([t])[0]))

    worst.judge(prop)


@pytest.mark.criterion("edge.batch_invariance")
def test_batch_invariance(embedder, criterion):
    worst = Worst(criterion)

    @given(text, st.lists(text, min_size=1, max_size=6), st.data())
    def prop(t, others, data):
        position = data.draw(st.integers(0, len(others)))
        batch = others[:position] + [t] + others[position:]
        worst.see(cos(embedder.encode([t])[0], embedder.encode(batch, batch_size=len(batch))[position]))

    worst.judge(prop)


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

    worst.judge(prop)


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

    worst.judge(prop)


@pytest.mark.criterion("edge.blank_rejected")
def test_blank_input_rejected(embedder, criterion):
    # Whitespace, and characters that render as nothing: NUL and other controls, zero-width space and
    # joiners, BOM, word joiner, soft hyphen, bidi marks. Each text of them alone has nothing to embed.
    blanks = st.text(st.sampled_from(" \t\n\r\x0b\x0c\u00a0\u2000\u2003\u3000\u2028\u2029\x1c\x1d\x1e\x1f"
                                     "\x00\x01\x7f\u200b\u200c\u200d\ufeff\u2060\u00ad\u200e\u202e"),
                     max_size=50)
    seen = []  # 1.0 per example rejected as it should be, 0.0 per example that was not

    @given(blanks, st.lists(text, max_size=3), st.data())
    def prop(blank, others, data):
        position = data.draw(st.integers(0, len(others)))
        seen.append(0.0)
        with pytest.raises(EmptyTextError, match=f"item {position} (is empty or whitespace-only|holds only invisible)"):
            embedder.encode(others[:position] + [blank] + others[position:])
        seen[-1] = 1.0

    judge(criterion, prop, lambda: float(np.mean(seen)) if seen else None, lambda: {"examples": len(seen)})


# ---------------------------------------------------------------- every shape the deployment serves

def deployment_shapes(profile, manifest, embedder) -> ServedShapes:
    """What this deployment serves: batch 1 up to the manifest's max_batch (or the TensorRT profile's max),
    lengths on the profile's stride plus the boundaries the deployment declares."""
    trt = (shape_profile(manifest, embedder.input_names)
           if embedder.report.primary == "TensorrtExecutionProvider" else None)
    return served_shapes(manifest, length_stride=profile.setting("shape_sweep_length_stride"),
                         grid_batch_sizes=profile.setting("grid_batch_sizes"),
                         grid_text_tokens=profile.setting("grid_text_tokens"), trt_profile=trt)


@pytest.mark.criterion("edge.shape_invariance")
def test_every_served_shape_matches_the_texts_alone(embedder, manifest, profile, criterion):
    """Every batch size from 1 to the largest served, and every padded length on the stride and at each
    declared boundary: each row gets the vector its text gets alone. Deterministic (no Hypothesis)."""
    shapes = deployment_shapes(profile, manifest, embedder)
    result = sweep(embedder, shapes)
    bad_batches, bad_lengths = result.failing(criterion.criterion.passes)
    hint = "; ".join(part for part in (
        f"wrong at batch sizes {bad_batches}" if bad_batches else "",
        f"wrong at padded lengths {bad_lengths}" if bad_lengths else "") if part)
    criterion.check(result.worst(), hint=hint, failing_batch_sizes=bad_batches, failing_lengths=bad_lengths,
                    by_batch_size=result.by_batch, by_length=result.by_length,
                    largest_batch=shapes.batch_sizes[-1], length_stride=shapes.length_stride,
                    boundaries=shapes.boundaries, rows_embedded=result.rows, seconds=round(result.seconds, 2))


@pytest.mark.criterion("edge.shape_invariance")
def test_mixed_batches_up_to_the_largest_match_the_texts_alone(embedder, manifest, profile, criterion):
    """Hypothesis: batches of 1 to the profile's largest batch size, of mixed lengths."""
    worst = Worst(criterion)
    largest = deployment_shapes(profile, manifest, embedder).batch_sizes[-1]

    @given(st.lists(text, min_size=1, max_size=largest))
    def prop(texts):
        worst.see(alone_vs_batched(embedder, texts, embedder.encode(texts, batch_size=len(texts))))

    worst.judge(prop, largest_batch=largest)
