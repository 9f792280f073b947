"""End to end on both embedded models: parity with PyTorch, batch invariance, bad input."""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pytest

from modelprep.assets import checkpoint_dir
from modelprep.reference import Reference
from runtime.embedder import Embedder, plan_batches, validate_texts
from runtime.errors import (
    EmptyBatchError,
    EmptyTextError,
    InputError,
    ManifestError,
    ModelFileError,
    TextTypeError,
)
from tests.conftest import SENTENCES


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_minilm_matches_sentence_transformers(minilm):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(checkpoint_dir(minilm.manifest)), device="cpu")
    expected = st.encode(SENTENCES, batch_size=4, normalize_embeddings=True, convert_to_numpy=True)
    got = minilm.encode(SENTENCES, batch_size=4)
    assert cosines(got, expected).min() >= 0.9999


@pytest.mark.parametrize("kind", ["document", "query"])
def test_qwen3_tiny_left_padded_batches_match_pytorch(qwen_tiny, kind):
    reference = Reference(qwen_tiny.manifest, checkpoint_dir(qwen_tiny.manifest))
    assert qwen_tiny.input_names == ["input_ids", "attention_mask", "position_ids"]
    got = qwen_tiny.encode(SENTENCES, batch_size=len(SENTENCES), kind=kind)  # one mixed-length batch
    assert cosines(got, reference.encode(SENTENCES, kind=kind, batch_size=len(SENTENCES))).min() >= 0.9999


def test_text_alone_equals_text_inside_a_mixed_batch(model):
    batch = model.encode(SENTENCES, batch_size=len(SENTENCES))
    for i, text in enumerate(SENTENCES):
        np.testing.assert_allclose(model.encode([text])[0], batch[i], atol=1e-5)


def test_output_order_is_the_input_order_whatever_the_batching(model):
    whole = model.encode(SENTENCES, batch_size=64)
    for size in (1, 2, 5):
        np.testing.assert_allclose(model.encode(SENTENCES, batch_size=size), whole, atol=1e-5)


def test_query_prompt_is_applied_from_the_manifest(model):
    text = "What is the capital of France?"
    doc, query = model.encode([text]), model.encode([text], kind="query")
    if model.manifest.prompt("query") == "{text}":
        np.testing.assert_array_equal(doc, query)
    else:
        assert cosines(doc, query)[0] < 0.9999
    with pytest.raises(ManifestError, match="unknown input kind"):
        model.encode(["x"], kind="passage")


def test_usage_reports_tokens_and_phases(model):
    result = model.embed(SENTENCES, batch_size=4)
    assert result.usage.tokens == int(result.token_counts.sum()) > len(SENTENCES)
    assert result.usage.batches == 2 and result.usage.texts == len(SENTENCES)
    assert result.usage.duration_ms >= result.usage.inference_ms > 0


def test_concurrent_calls_equal_sequential_ones(model):
    chunks = [SENTENCES[i:i + 2] for i in range(0, len(SENTENCES), 2)] * 2
    sequential = [model.encode(c) for c in chunks]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for seq, con in zip(sequential, pool.map(model.encode, chunks), strict=True):
            np.testing.assert_allclose(con, seq, atol=1e-5)


def test_matryoshka_dim_truncates_and_renormalizes(qwen_tiny):
    small = Embedder.load(qwen_tiny.manifest, dim=16)
    full = qwen_tiny.encode(SENTENCES)
    expected = full[:, :16] / np.linalg.norm(full[:, :16], axis=1, keepdims=True)
    np.testing.assert_allclose(small.encode(SENTENCES), expected, atol=1e-5)
    assert small.model_info().dimension == 16 and small.model_info().native_dimension == 64
    with pytest.raises(ValueError, match="outside 16..64"):
        Embedder.load(qwen_tiny.manifest, dim=8)


def test_token_budget_batching_caps_batch_times_width():
    lengths = np.array([100, 10, 10, 90, 10, 10])
    batches = list(plan_batches(lengths, batch_size=4, max_batch_tokens=200))
    assert [b.tolist() for b in batches] == [[0, 3], [1, 2, 4, 5]]
    assert sorted(np.concatenate(batches).tolist()) == list(range(6))


@pytest.mark.parametrize(
    ("texts", "error", "message"),
    [
        ([], EmptyBatchError, "no texts to embed"),
        ([""], EmptyTextError, "item 0 is empty"),
        (["ok", " \t\n"], EmptyTextError, "item 1 is empty or whitespace-only"),
        (["ok", 3], TextTypeError, "item 1 is a int, not a str"),
        (["ok", None], TextTypeError, "item 1 is a NoneType"),
        ("just one string", TextTypeError, r"wrap it as \[text\]"),
    ],
)
def test_bad_input_gets_a_specific_error(model, texts, error, message):
    with pytest.raises(error, match=message) as info:
        model.encode(texts)
    assert isinstance(info.value, InputError)


def test_validate_texts_accepts_odd_but_real_text():
    odd = ["\x00a", "🙂", "zero\u200bwidth", "\u00adsoft hyphen", "e\u0301"]
    assert validate_texts(odd) == odd


def test_missing_model_files(minilm, tmp_path):
    with pytest.raises(ModelFileError, match="model.onnx not found"):
        Embedder.load(replace(minilm.manifest, artifact_dir=tmp_path))
    shutil.copy(minilm.manifest.onnx_path, tmp_path / "model.onnx")
    with pytest.raises(ModelFileError, match="tokenizer.json not found"):
        Embedder.load(replace(minilm.manifest, artifact_dir=tmp_path))


def test_corrupt_onnx(minilm, tmp_path):
    shutil.copy(minilm.manifest.tokenizer_path, tmp_path / "tokenizer.json")
    data = minilm.manifest.onnx_path.read_bytes()
    (tmp_path / "model.onnx").write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelFileError, match="not a loadable ONNX model"):
        Embedder.load(replace(minilm.manifest, artifact_dir=tmp_path))


def test_manifest_dimension_must_match_the_graph(minilm):
    with pytest.raises(ManifestError, match="dimension = 768 but the graph's 'last_hidden_state' has 384"):
        Embedder.load(replace(minilm.manifest, dimension=768))


def test_manifest_output_must_exist_in_the_graph(minilm):
    with pytest.raises(ManifestError, match="'sentence_embedding' is not in the graph's outputs"):
        Embedder.load(replace(minilm.manifest, output="sentence_embedding"))


def test_tokenizer_larger_than_the_embedding_table(qwen_tiny, minilm, tmp_path):
    """A record without a tokenizer hash (an older export): the embedding table's rows still catch it."""
    (tmp_path / "model.onnx").symlink_to(qwen_tiny.manifest.onnx_path)
    shutil.copy(minilm.manifest.tokenizer_path, tmp_path / "tokenizer.json")
    graph = json.loads((qwen_tiny.manifest.artifact_dir / "artifact.json").read_text())["graph"]
    (tmp_path / "artifact.json").write_text(json.dumps({"graph": graph}))
    with pytest.raises(ModelFileError, match="30522 tokens but the model's embedding table has 1024 rows"):
        Embedder.load(replace(qwen_tiny.manifest, artifact_dir=tmp_path))


def test_model_info_and_health(model):
    info = model.model_info()
    assert (info.name, info.dimension, info.max_tokens, info.pooling) == (
        model.manifest.name, model.manifest.dimension, model.manifest.max_length, model.manifest.pooling)
    assert info.providers == ["CPUExecutionProvider"]
    assert model.health_check().ok


def test_special_token_literal_in_user_text_stays_text(qwen_tiny):
    """Found by the edge suite: '<|endoftext|>' typed by a user used to become EOS tokens only."""
    ids = qwen_tiny.tokenizer.encode(["<|endoftext|>"])[0].ids
    assert len(ids) > 2, "the literal was parsed as the special token"
    vectors = qwen_tiny.encode(["<|endoftext|>", "a document that mentions <|endoftext|> in passing"])
    assert np.isfinite(vectors).all()
    reference = Reference(qwen_tiny.manifest, checkpoint_dir(qwen_tiny.manifest))
    expected = reference.encode(["<|endoftext|>", "a document that mentions <|endoftext|> in passing"])
    assert cosines(vectors, expected).min() >= 0.9999


def test_io_binding_path_gives_the_same_vectors(model):
    """The GPU providers' IO-binding path, exercised on the CPU provider (ORT binds there too)."""
    bound = Embedder.load(model.manifest, io_binding=True)
    assert bound.io_binding and not model.io_binding
    np.testing.assert_allclose(bound.encode(SENTENCES, batch_size=4), model.encode(SENTENCES, batch_size=4), atol=1e-6)
