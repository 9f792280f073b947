"""L2 normalization and Matryoshka (MRL) truncation."""

from __future__ import annotations

import numpy as np

from runtime.errors import ConfigError, DegenerateOutputError

EPS = 1e-12


def l2_normalize(vectors: np.ndarray, eps: float = EPS) -> np.ndarray:
    """Scale rows to unit length. A zero or non-finite row is an error, never a zero vector."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    bad = ~np.isfinite(norms[:, 0]) | (norms[:, 0] < eps)
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        raise DegenerateOutputError(
            f"the model produced zero or non-finite vectors for rows {rows}: "
            "check the export (precision overflow in fp16 is a common cause)"
        )
    return vectors / norms


def check_dim(dim: int, native: int, min_dim: int | None = None) -> None:
    low = min_dim or 1
    if isinstance(dim, bool) or not isinstance(dim, int) or not low <= dim <= native:
        raise ConfigError(f"Matryoshka dim {dim!r} is outside {low}..{native} for this model: pick a whole number "
                          "in that range")


def truncate(vectors: np.ndarray, dim: int, min_dim: int | None = None) -> np.ndarray:
    """Keep the first `dim` components (Matryoshka), then re-normalize."""
    native = vectors.shape[1]
    check_dim(dim, native, min_dim)
    return l2_normalize(np.ascontiguousarray(vectors[:, :dim])) if dim < native else vectors
