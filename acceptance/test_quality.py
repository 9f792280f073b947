"""Parity with the PyTorch baseline, normalization, semantics and retrieval agreement."""

from __future__ import annotations

import numpy as np
import pytest

from acceptance.corpora import parity_texts, retrieval_corpus, triplets


@pytest.fixture(scope="module")
def parity(embedder, reference):
    texts = list(parity_texts())
    return {
        kind: (embedder.encode(texts, kind=kind), reference.encode(texts, kind=kind))
        for kind in ("document", "query")
    }


@pytest.mark.parity
@pytest.mark.criterion("parity.min_cosine")
def test_parity_min_cosine(parity, criterion):
    cosines = np.concatenate([np.sum(ours * base, axis=1) for ours, base in parity.values()])
    criterion.check(
        float(cosines.min()), mean=float(cosines.mean()), p1=float(np.percentile(cosines, 1)), texts=len(cosines),
        cosines=[round(float(c), 7) for c in cosines],
    )


@pytest.mark.norm
@pytest.mark.criterion("norm.max_deviation")
def test_norm_max_deviation(parity, embedder, criterion):
    vectors = np.concatenate([ours for ours, _ in parity.values()] + [embedder.encode(["x " * 2000, "Hi."])])
    deviation = np.abs(np.linalg.norm(vectors.astype(np.float64), axis=1) - 1)
    criterion.check(float(deviation.max()), embeddings=len(vectors))


@pytest.mark.quality
@pytest.mark.criterion("quality.semantic_pass_rate")
def test_semantic_pass_rate(embedder, trained, criterion):
    rows = triplets()
    a, r, u = (embedder.encode([row[i] for row in rows]) for i in range(3))
    wins = np.sum(a * r, axis=1) > np.sum(a * u, axis=1)
    criterion.check(float(wins.mean()), triplets=len(rows), failed=[rows[i][0] for i in np.flatnonzero(~wins)])


def top_k(queries: np.ndarray, docs: np.ndarray, k: int) -> np.ndarray:
    scores = queries @ docs.T
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


@pytest.mark.retrieval
@pytest.mark.slow
@pytest.mark.criterion("retrieval.recall_at_10")
def test_recall_at_10_agreement(embedder, reference, criterion):
    """recall@10 here = the share of the PyTorch baseline's top-10 documents that the deployed
    model also ranks in its top 10, averaged over queries (did conversion hurt retrieval?)."""
    docs, queries = (list(x) for x in retrieval_corpus())
    ours = top_k(embedder.encode(queries, kind="query"), embedder.encode(docs), 10)
    base = top_k(reference.encode(queries, kind="query"), reference.encode(docs), 10)
    overlap = [len(set(o) & set(b)) / 10 for o, b in zip(ours, base)]
    criterion.check(
        float(np.mean(overlap)), definition="mean |top10(deployed) & top10(baseline)| / 10 over queries",
        documents=len(docs), queries=len(queries), worst_query=float(np.min(overlap)),
    )
