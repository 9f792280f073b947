"""Pooling token states (batch, seq, hidden) into one vector per text.

Every strategy reads positions from the attention mask, never from token ids: Qwen3's pad
token is also its EOS token, so comparing ids to the pad id would pick the wrong position.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from runtime.errors import ConfigError, InputError


def _check(mask: np.ndarray) -> None:
    if not mask.any(axis=1).all():
        raise InputError("a row of the batch has no real tokens: every text must tokenize to something")


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Average of the real tokens' states."""
    _check(mask)
    weights = mask.astype(hidden.dtype)
    summed = np.einsum("bth,bt->bh", hidden, weights)
    return summed / weights.sum(axis=1, keepdims=True)


def last_token_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """State of each row's last real token; correct under left and right padding."""
    _check(mask)
    last = mask.shape[1] - 1 - np.argmax(mask[:, ::-1] > 0, axis=1)
    return hidden[np.arange(hidden.shape[0]), last]


def cls_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """State of each row's first real token (the [CLS] of BERT-style encoders)."""
    _check(mask)
    first = np.argmax(mask > 0, axis=1)
    return hidden[np.arange(hidden.shape[0]), first]


POOLERS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "mean": mean_pool,
    "last_token": last_token_pool,
    "cls": cls_pool,
}


def pool(strategy: str, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    try:
        pooler = POOLERS[strategy]
    except KeyError:
        raise ConfigError(f"unknown pooling {strategy!r}: use one of {', '.join(POOLERS)}") from None
    return pooler(hidden, mask)
