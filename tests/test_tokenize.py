from __future__ import annotations

import numpy as np
import pytest

from runtime.errors import ModelFileError
from runtime.tokenize import Batch, TextTokenizer


@pytest.fixture(scope="module")
def tok_path(minilm):
    return minilm.manifest.tokenizer_path


@pytest.mark.parametrize("side", ["left", "right"])
def test_padding_side_and_mask(tok_path, side):
    tok = TextTokenizer(tok_path, max_length=32, padding_side=side)
    batch = tok(["a cat", "a much longer sentence about a cat"])
    short = int(batch.attention_mask[0].sum())
    assert batch.input_ids.dtype == np.int64 and batch.attention_mask.dtype == np.int64
    real = batch.input_ids[0, -short:] if side == "left" else batch.input_ids[0, :short]
    assert real.tolist() == tok.encode(["a cat"])[0].ids
    pads = batch.attention_mask[0, :-short] if side == "left" else batch.attention_mask[0, short:]
    assert not pads.any()


def test_truncation_and_fixed_length(tok_path):
    tok = TextTokenizer(tok_path, max_length=8, padding_side="right")
    batch = tok(["word " * 50, "hi"], pad_to=16)
    assert batch.input_ids.shape == (2, 16)
    assert batch.attention_mask.sum(axis=1).tolist() == [8, 3]
    with pytest.raises(ValueError, match="shorter than the longest"):
        tok(["word " * 50], pad_to=4)


def test_position_ids_count_real_tokens_only():
    mask = np.array([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    batch = Batch(input_ids=np.zeros_like(mask), attention_mask=mask)
    assert batch.position_ids().tolist() == [[0, 0, 0, 1, 2], [0, 1, 2, 3, 4]]


def test_feeds_follow_graph_input_names():
    mask = np.ones((1, 3), dtype=np.int64)
    batch = Batch(input_ids=mask * 7, attention_mask=mask)
    assert set(batch.feeds(["input_ids", "attention_mask", "token_type_ids"])) == {
        "input_ids", "attention_mask", "token_type_ids"}
    assert not batch.feeds(["token_type_ids"])["token_type_ids"].any()
    with pytest.raises(ModelFileError, match="past_key_values"):
        batch.feeds(["input_ids", "past_key_values.0.key"])


def test_missing_or_corrupt_tokenizer(tmp_path):
    with pytest.raises(ModelFileError, match="tokenizer not found"):
        TextTokenizer(tmp_path / "nope.json", max_length=8, padding_side="right")
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json")
    with pytest.raises(ModelFileError, match="not a valid tokenizer.json"):
        TextTokenizer(bad, max_length=8, padding_side="right")
