"""Precision headroom: whether the model's activations fit where a deployment computes in fp16, measured on
the CPU before any engine exists, from the PyTorch fp32 baseline's own pass (no extra run when its vectors
are cached)."""

from __future__ import annotations

import pytest

from acceptance.corpora import headroom_texts, parity_texts, retrieval_corpus

#: fp16's largest finite value.
FP16_MAX = 65504.0

pytestmark = [pytest.mark.precision, pytest.mark.parity]


def largest_activations(reference) -> dict[str, float]:
    """Per module of the baseline model, the largest |value| it outputs over the parity and retrieval corpora
    and the targeted texts, as documents and queries."""
    docs, queries = retrieval_corpus()
    sets = [(parity_texts(), "document"), (parity_texts(), "query"), (docs, "document"), (queries, "query"),
            (headroom_texts(), "document"), (headroom_texts(), "query")]
    maxima: dict[str, float] = {}
    for texts, kind in sets:
        for module, value in reference.activation_maxima_cached(list(texts), kind).items():
            maxima[module] = max(maxima.get(module, 0.0), value)
    return maxima


@pytest.mark.criterion("precision.fp16_headroom")
def test_fp16_headroom(reference, criterion):
    maxima = largest_activations(reference)
    largest = max(maxima.values())
    headroom = FP16_MAX / largest if largest else float("inf")
    # Named by the innermost module that reaches it (a projection, not the layer block around it).
    leaves = [name for name in maxima if not any(other.startswith(name + ".") for other in maxima)]
    tightest = max(leaves, key=maxima.get)
    top = dict(sorted(maxima.items(), key=lambda kv: kv[1], reverse=True)[:10])
    criterion.check(headroom, hint=f"tightest layer {tightest}: |activation| up to {maxima[tightest]:.6g} against "
                                   f"fp16's {FP16_MAX:g}; keep it in fp32 (the fp16 recipe's fp32_layers)",
                    tightest_layer=tightest, largest_activation=largest, largest_by_layer=top,
                    layers=len(maxima), fp16_max=FP16_MAX)
