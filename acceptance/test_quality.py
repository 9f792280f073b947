"""Parity with the PyTorch baseline, normalization, semantics and retrieval."""

from __future__ import annotations

import numpy as np
import pytest

from acceptance.allure_report import attach_file, attach_json
from acceptance.corpora import labelled_set, parity_classes, parity_texts, retrieval_corpus, triplets
from acceptance.layerwise import layerwise_parity
from acceptance.metrics import (
    AGREEMENT_DEFINITION,
    LABELLED_DEFINITION,
    agreement_at_k,
    cosines,
    error_stats,
    ndcg_at_k,
    recall_at_k,
    top_k,
)
from acceptance.report import plots
from acceptance.report.serial import to_jsonable
from acceptance.stages import compare_hidden_states, compare_tokenizers, first_divergence
from acceptance.stages import sample as stage_sample
from runtime.errors import DegenerateOutputError
from runtime.manifest import baseline_manifest

KINDS = ("document", "query")
DIAGNOSED_TEXTS = 3  # the worst documents the layer-wise diagnosis compares


@pytest.fixture(scope="module")
def parity(embedder, reference, profile, progress):
    """The parity corpus embedded by the deployment at every batch size the profile serves
    (parity_batch_sizes: a kernel or engine profile wrong at one batch shape shows here), and by the
    PyTorch baseline (cached)."""
    texts = list(parity_texts())
    with progress.phase(f"PyTorch baseline: {len(texts)} texts x {len(KINDS)} kinds (cached after the first run)"):
        baseline = {kind: reference.encode_cached(texts, kind=kind) for kind in KINDS}
    # Without a query prompt a query is the same token ids as a document: the graph gets the same
    # inputs, so it is embedded once and compared with both baselines (edge.deterministic judges reruns).
    same = embedder.manifest.prompt("query") == embedder.manifest.prompt("document")
    with progress.phase("deployment: the parity corpus at each batch size") as phase:
        deployed = {}
        for size in profile.setting("parity_batch_sizes"):
            phase.update(f"batch size {size}")
            for kind in KINDS:
                deployed[(kind, size)] = deployed[("document", size)] if same and kind == "query" else \
                    encode_or_nan(embedder, texts, kind, size)
    return texts, deployed, baseline


def encode_or_nan(embedder, texts: list[str], kind: str, batch_size: int) -> np.ndarray:
    """The deployment's vectors; a text whose vector is not finite (an fp16 overflow) gets a NaN row, which the
    parity criterion counts as a cosine of -1, instead of stopping the measurement."""
    try:
        return embedder.encode(texts, kind=kind, batch_size=batch_size)
    except DegenerateOutputError:
        rows = []
        for text in texts:
            try:
                rows.append(embedder.encode([text], kind=kind)[0])
            except DegenerateOutputError:
                rows.append(np.full(embedder.dim, np.nan, dtype=np.float32))
        return np.stack(rows)


@pytest.mark.parity
@pytest.mark.criterion("parity.min_cosine")
def test_parity_min_cosine(parity, embedder, reference, criterion, session_config, reports_dir):
    texts, deployed, baseline = parity
    by_size = {}
    for (kind, size), ours in deployed.items():
        by_size.setdefault(size, []).append(cosines(ours, baseline[kind]))
    worst_size = min(by_size, key=lambda s: float(np.nan_to_num(np.concatenate(by_size[s]), nan=-1.0).min()))
    cos = np.concatenate(by_size[worst_size])
    stack = np.concatenate([deployed[(kind, worst_size)] for kind in KINDS])
    base = np.concatenate([baseline[kind] for kind in KINDS])
    measured = float(np.nan_to_num(cos, nan=-1.0).min())
    # Where it diverges, stage by stage: tokens, the graph's token states, the pooled vectors.
    tokens = compare_tokenizers(embedder, reference, texts, "document").add(
        compare_tokenizers(embedder, reference, texts, "query"))
    hidden = compare_hidden_states(embedder, reference, stage_sample(parity_classes()), "document")
    stages = {"tokenizer": tokens.as_dict(), "hidden_states": hidden.as_dict(),
              "pooled": {"min_cosine": measured, "batch_size": worst_size}}
    diverges = first_divergence(tokens, hidden, measured, criterion.target)
    stages["first_divergence"] = diverges
    layers = diagnose_layers(embedder, reference, criterion, session_config, texts, by_size[worst_size][0], measured)
    if layers is not None:
        attach_file(plots.layerwise(layers, embedder.manifest.id, reports_dir / "plots"))
        diverges = f"{layers.summary()}; {diverges}" if diverges else layers.summary()
    attach_file(plots.parity_histogram(cos.tolist(), criterion.target, criterion.criterion.comparator,
                                       embedder.manifest.id, reports_dir / "plots"))
    attach_json("parity-stages.json", stages)
    criterion.check(
        measured, hint=f"first divergence: {diverges}" if diverges else "", mean=float(np.nanmean(cos)),
        p1=float(np.nanpercentile(cos, 1)), texts=len(cos), kinds=list(KINDS), worst_batch_size=worst_size,
        min_cosine_by_batch_size={s: float(np.nan_to_num(np.concatenate(c), nan=-1.0).min())
                                  for s, c in by_size.items()},
        error_stats=error_stats(stack, base), stages=stages, cosines=[round(float(c), 7) for c in cos],
        layerwise=to_jsonable(layers) if layers else None,
        first_divergent_layer=layers.first_divergent_layer if layers else None,
    )


def diagnose_layers(embedder, reference, criterion, session_config, texts, document_cosines, measured):
    """Layer by layer against the baseline, on the worst documents: when parity missed its target, or on
    request (--diagnose parity). A passing run pays nothing for it."""
    asked = "parity" in (criterion.item.config.getoption("--diagnose") or [])
    if criterion.criterion.passes(measured) and not asked:
        return None
    worst = [texts[i] for i in np.argsort(np.nan_to_num(document_cosines, nan=-2.0))[:DIAGNOSED_TEXTS]]
    layers = baseline_manifest(embedder.manifest).layers
    if not layers:
        return None  # the manifest names no layers to compare ([layers])
    return layerwise_parity(embedder, reference, worst, "document", criterion.target, layers, session_config)


@pytest.mark.norm
@pytest.mark.criterion("norm.max_deviation")
def test_norm_max_deviation(parity, embedder, criterion):
    extremes = ["x " * 2000, "Hi.", "🙂", "\x00 null byte", "ا" * 50]
    vectors = np.concatenate(list(parity[1].values()) + [embedder.encode(extremes)])
    deviation = np.abs(np.linalg.norm(vectors.astype(np.float64), axis=1) - 1)
    criterion.check(float(np.nan_to_num(deviation, nan=np.inf).max()), embeddings=len(vectors))


@pytest.mark.quality
@pytest.mark.criterion("quality.semantic_pass_rate")
def test_semantic_pass_rate(embedder, trained, criterion):
    rows = triplets()
    a, r, u = (embedder.encode([row[i] for row in rows]) for i in range(3))
    wins = np.sum(a * r, axis=1) > np.sum(a * u, axis=1)
    criterion.check(float(wins.mean()), triplets=len(rows), failed=[rows[i][0] for i in np.flatnonzero(~wins)])


def _labelled(encode_docs, encode_queries) -> dict[str, float]:
    docs, queries, relevant = labelled_set()
    top = top_k(encode_queries(list(queries)), encode_docs(list(docs)), 10)
    rel = [{i} for i in relevant]
    return {"recall_at_10": recall_at_k(top, rel), "ndcg_at_10": ndcg_at_k(top, rel)}


@pytest.mark.retrieval
@pytest.mark.slow
@pytest.mark.criterion("retrieval.recall_at_10")
def test_recall_at_10(embedder, reference, criterion):
    docs, queries = (list(x) for x in retrieval_corpus())
    ours = top_k(embedder.encode(queries, kind="query"), embedder.encode(docs), 10)
    base = top_k(reference.encode_cached(queries, kind="query"), reference.encode_cached(docs), 10)
    overlap = agreement_at_k(ours, base)
    labelled = {
        "deployed": _labelled(embedder.encode, lambda q: embedder.encode(q, kind="query")),
        "baseline": _labelled(reference.encode_cached, lambda q: reference.encode_cached(q, kind="query")),
    }
    criterion.check(
        float(overlap.mean()), definition=AGREEMENT_DEFINITION, documents=len(docs), queries=len(queries),
        worst_query=float(overlap.min()), labelled=labelled, labelled_definition=LABELLED_DEFINITION,
    )
