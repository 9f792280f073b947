"""Tokenizer parity: the deployed tokenizer.json against the baseline checkpoint's own tokenizer.

Tokenization is exact or wrong. A tokenizer that maps a handful of common tokens differently can still
reach 0.99x cosine over a corpus, so it is judged alone (parity.tokenizer_exact_match, target 1.0 in
every profile), on the parity corpus, the retrieval corpus and arbitrary (Hypothesis) text, with the
prompts, truncation and padding side each side uses.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acceptance.allure_report import attach_json
from acceptance.corpora import parity_texts, retrieval_corpus
from acceptance.edge_texts import text
from acceptance.stages import TokenizerParity, compare_tokenizers

pytestmark = [pytest.mark.parity, pytest.mark.criterion("parity.tokenizer_exact_match")]


def test_tokenizer_matches_the_baseline_on_the_corpora(embedder, reference, criterion):
    docs, queries = retrieval_corpus()
    result = TokenizerParity()
    for texts, kinds in ((list(parity_texts()), ("document", "query")), (list(docs), ("document",)),
                         (list(queries), ("query",))):
        for kind in kinds:
            result = result.add(compare_tokenizers(embedder, reference, texts, kind))
    attach_json("tokenizer-parity.json", result.as_dict())
    criterion.check(result.share, hint=result.summary() if result.differing else "", **result.as_dict())


def test_tokenizer_matches_the_baseline_on_arbitrary_text(embedder, reference, criterion):
    seen = TokenizerParity()

    @given(st.lists(text, min_size=1, max_size=8), st.sampled_from(["document", "query"]))
    def prop(texts, kind):
        nonlocal seen
        result = compare_tokenizers(embedder, reference, texts, kind)
        seen = seen.add(result)
        assert not result.differing, result.summary()

    prop()
    criterion.check(seen.share, hint=seen.summary() if seen.differing else "", **seen.as_dict())
