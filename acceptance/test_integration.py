"""The PRD's 12 integration tests (section "Integration Testing"), against the runtime."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from acceptance.corpora import parity_texts, triplets
from acceptance.criterion_check import target
from acceptance.report.vocabulary import PROVIDER_FELL_BACK
from runtime.errors import EmptyBatchError, EmptyTextError

pytestmark = [pytest.mark.integration, pytest.mark.criterion("integration.tests_passing")]

CAT, FELINE, DOG = triplets()[0]


def _unit(vectors: np.ndarray, tolerance: float) -> bool:
    return bool(np.all(np.abs(np.linalg.norm(vectors, axis=1) - 1) < tolerance))


@pytest.mark.init
def test_provider_initialization(embedder, session_config):
    report = embedder.report
    assert report.got, "the session reports no execution provider"
    if "auto" not in session_config.providers:
        assert not report.fell_back, PROVIDER_FELL_BACK.message(
            f"asked for {report.requested[0]}, the session runs on {report.primary} (skipped: {report.skipped})")


@pytest.mark.init
def test_model_info(embedder, manifest):
    info = embedder.model_info()
    assert (info.name, info.dimension, info.max_tokens) == (manifest.name, manifest.dimension, manifest.max_length)
    assert info.providers == embedder.report.got


@pytest.mark.functional
def test_single_embedding(embedder, manifest, profile):
    vectors = embedder.encode([CAT])
    assert vectors.shape == (1, manifest.dimension) and vectors.dtype == np.float32
    assert np.isfinite(vectors).all()
    assert _unit(vectors, target(profile, "norm.max_deviation"))


@pytest.mark.functional
def test_batch_embeddings(embedder, manifest, profile):
    texts = list(parity_texts()[:4])
    vectors = embedder.encode(texts)
    assert vectors.shape == (4, manifest.dimension)
    assert _unit(vectors, target(profile, "norm.max_deviation"))
    assert len({v.tobytes() for v in vectors}) == 4, "different texts gave identical embeddings"


@pytest.mark.functional
def test_long_text_truncated(embedder, manifest):
    long_text = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 100
    result = embedder.embed([long_text])
    assert result.vectors.shape == (1, manifest.dimension) and np.isfinite(result.vectors).all()
    assert int(result.token_counts[0]) == manifest.max_length, (
        f"a ~1000-token text reported {result.token_counts[0]} tokens; expected truncation to {manifest.max_length}"
    )
    assert result.usage.tokens == manifest.max_length


@pytest.mark.functional
def test_semantic_similarity_validation(embedder, trained):
    rows = triplets()
    anchors = embedder.encode([a for a, _, _ in rows])
    related = embedder.encode([r for _, r, _ in rows])
    unrelated = embedder.encode([u for _, _, u in rows])
    wins = np.sum(anchors * related, axis=1) > np.sum(anchors * unrelated, axis=1)
    losers = [rows[i][0] for i in np.flatnonzero(~wins)]
    assert wins.all(), f"related pairs scored below unrelated ones for: {losers}"


@pytest.mark.errors
def test_empty_input_rejected(embedder):
    with pytest.raises(EmptyBatchError, match="no texts"):
        embedder.encode([])
    with pytest.raises(EmptyTextError, match="empty or whitespace-only"):
        embedder.encode([""])


@pytest.mark.errors
def test_whitespace_input_rejected(embedder):
    for blank in ("   ", "\t\n", "\u3000 \u00a0"):
        with pytest.raises(EmptyTextError, match="item 1 is empty or whitespace-only"):
            embedder.encode([CAT, blank])


@pytest.mark.performance
def test_large_batch(embedder, manifest, profile):
    texts = [f"{s} (variant {i})" for i, s in enumerate(parity_texts()[:32])]
    result = embedder.embed(texts, batch_size=32)
    assert result.vectors.shape == (32, manifest.dimension)
    assert result.usage.batches == 1
    assert _unit(result.vectors, target(profile, "norm.max_deviation"))


@pytest.mark.performance
def test_concurrent_requests(embedder, profile):
    batches = [list(parity_texts()[i * 8:(i + 1) * 8]) for i in range(4)]
    sequential = [embedder.encode(b) for b in batches]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(embedder.encode, batches))
    floor = profile.setting("same_result_min_cosine")
    for seq, con in zip(sequential, concurrent, strict=True):
        assert float(np.min(np.sum(seq * con, axis=1))) >= floor


@pytest.mark.performance
def test_health_check(embedder):
    health = embedder.health_check()
    assert health.ok and health.provider == embedder.report.primary


@pytest.mark.quality
def test_cat_feline_beats_cat_dog(embedder, trained):
    cat, feline, dog = embedder.encode([CAT, FELINE, DOG])
    assert float(cat @ feline) > float(cat @ dog), f"cat/feline {cat @ feline:.4f} <= cat/dog {cat @ dog:.4f}"
