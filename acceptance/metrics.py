"""Metrics the quality criteria report. Definitions live here once and are quoted in the report."""

from __future__ import annotations

import numpy as np

AGREEMENT_DEFINITION = (
    "recall@10 (agreement): the share of the PyTorch fp32 baseline's top-10 documents that the deployed "
    "model also ranks in its top 10, averaged over queries"
)
LABELLED_DEFINITION = (
    "recall@10 (labelled): the share of a query's labelled relevant documents found in the top 10, averaged "
    "over queries (MTEB's definition); nDCG@10 with binary relevance"
)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def error_stats(deployed: np.ndarray, baseline: np.ndarray) -> dict[str, float]:
    """Polygraphy-style element-wise comparison of two output arrays."""
    finite = np.isfinite(deployed)
    absolute = np.abs(deployed.astype(np.float64) - baseline)
    relative = absolute / (np.abs(baseline) + 1e-12)
    stats = {"nan": int(np.isnan(deployed).sum()), "inf": int(np.isinf(deployed).sum()), "elements": deployed.size}
    for name, err in (("abs", absolute[finite]), ("rel", relative[finite])):
        stats |= {f"{name}_max": float(err.max()), f"{name}_mean": float(err.mean()),
                  f"{name}_p99": float(np.percentile(err, 99))}
    return stats


def top_k(queries: np.ndarray, docs: np.ndarray, k: int) -> np.ndarray:
    scores = queries @ docs.T
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def agreement_at_k(deployed_top: np.ndarray, baseline_top: np.ndarray) -> np.ndarray:
    k = baseline_top.shape[1]
    return np.array([len(set(d) & set(b)) / k for d, b in zip(deployed_top, baseline_top, strict=True)])


def recall_at_k(top: np.ndarray, relevant: list[set[int]]) -> float:
    return float(np.mean([len(set(row) & rel) / len(rel) for row, rel in zip(top, relevant, strict=True)]))


def ndcg_at_k(top: np.ndarray, relevant: list[set[int]]) -> float:
    scores = []
    for row, rel in zip(top, relevant, strict=True):
        dcg = sum(1 / np.log2(rank + 2) for rank, doc in enumerate(row) if doc in rel)
        ideal = sum(1 / np.log2(rank + 2) for rank in range(min(len(rel), len(row))))
        scores.append(dcg / ideal)
    return float(np.mean(scores))
