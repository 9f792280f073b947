"""Pooling and normalization against explicit per-row loops (the independent reference)."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.errors import DegenerateOutputError, InputError
from runtime.normalize import l2_normalize, truncate
from runtime.pool import cls_pool, last_token_pool, mean_pool, pool

RNG = np.random.default_rng(0)
LENGTHS = [5, 1, 3, 7]
WIDTH = 7


def padded(side: str):
    hidden = RNG.normal(size=(len(LENGTHS), WIDTH, 6)).astype(np.float32)
    mask = np.zeros((len(LENGTHS), WIDTH), dtype=np.int64)
    for row, n in enumerate(LENGTHS):
        if side == "right":
            mask[row, :n] = 1
        else:
            mask[row, WIDTH - n:] = 1
    return hidden, mask


def real_positions(mask_row) -> list[int]:
    return [t for t in range(len(mask_row)) if mask_row[t] == 1]


@pytest.mark.parametrize("side", ["left", "right"])
def test_mean_pool_matches_loop(side):
    hidden, mask = padded(side)
    expected = np.stack([np.mean([hidden[b, t] for t in real_positions(mask[b])], axis=0) for b in range(len(mask))])
    np.testing.assert_allclose(mean_pool(hidden, mask), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("side", ["left", "right"])
def test_last_token_pool_matches_loop(side):
    hidden, mask = padded(side)
    expected = np.stack([hidden[b, real_positions(mask[b])[-1]] for b in range(len(mask))])
    np.testing.assert_array_equal(last_token_pool(hidden, mask), expected)


def test_last_token_left_padding_is_last_column_and_right_is_not():
    hidden, mask = padded("left")
    np.testing.assert_array_equal(last_token_pool(hidden, mask), hidden[:, -1])
    hidden, mask = padded("right")
    assert not np.array_equal(last_token_pool(hidden, mask), hidden[:, -1])


@pytest.mark.parametrize("side", ["left", "right"])
def test_cls_pool_matches_loop(side):
    hidden, mask = padded(side)
    expected = np.stack([hidden[b, real_positions(mask[b])[0]] for b in range(len(mask))])
    np.testing.assert_array_equal(cls_pool(hidden, mask), expected)


def test_pool_rejects_a_row_without_tokens_and_unknown_strategy():
    hidden, mask = padded("right")
    mask[1] = 0
    with pytest.raises(InputError, match="no real tokens"):
        mean_pool(hidden, mask)
    with pytest.raises(ValueError, match="unknown pooling 'max'"):
        pool("max", hidden, mask)


def test_l2_normalize_matches_loop_and_refuses_zero_vectors():
    x = RNG.normal(size=(5, 8)).astype(np.float32)
    expected = np.stack([row / np.sqrt(sum(v * v for v in row)) for row in x])
    np.testing.assert_allclose(l2_normalize(x), expected, rtol=1e-6)
    x[2] = 0
    with pytest.raises(DegenerateOutputError, match=r"rows \[2\]"):
        l2_normalize(x)
    x[2] = np.nan
    with pytest.raises(DegenerateOutputError):
        l2_normalize(x)


def test_matryoshka_truncation_renormalizes():
    x = l2_normalize(RNG.normal(size=(3, 64)).astype(np.float32))
    short = truncate(x, 16, min_dim=16)
    assert short.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(short, axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(short, x[:, :16] / np.linalg.norm(x[:, :16], axis=1, keepdims=True), rtol=1e-6)
    assert truncate(x, 64) is x
    with pytest.raises(ValueError, match="outside 16..64"):
        truncate(x, 8, min_dim=16)
