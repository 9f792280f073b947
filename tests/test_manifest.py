from __future__ import annotations

import pytest

from runtime.errors import ManifestError
from runtime.manifest import load_manifest, parse_manifest


@pytest.mark.parametrize(("name", "dim"), [("qwen3-embedding-0.6b", 1024), ("qwen3-embedding-4b", 2560),
                                           ("qwen3-embedding-8b", 4096)])
def test_qwen3_embedding_manifests_carry_the_real_facts(name, dim):
    m = load_manifest(name)
    assert (m.dimension, m.pooling, m.padding_side) == (dim, "last_token", "left")
    assert m.prompt("query") == (
        "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:{text}")
    assert m.prompt("document") == "{text}" and m.matryoshka_min_dim == 32


def test_default_model_manifest():
    m = load_manifest("all-minilm-l6-v2")
    assert (m.dimension, m.pooling, m.padding_side, m.trained) == (384, "mean", "right", True)
    assert m.source.kind == "python-package"


def test_artifact_dir_takes_an_environment_override(monkeypatch, tmp_path):
    monkeypatch.setenv("QWEN3_EMBEDDING_DIR", str(tmp_path))
    assert load_manifest("qwen3-embedding-4b").onnx_path == tmp_path / "model.onnx"
    monkeypatch.delenv("QWEN3_EMBEDDING_DIR")
    monkeypatch.setenv("EMBED_SIGNOFF_CACHE", str(tmp_path / "c"))
    assert load_manifest("qwen3-embedding-4b").artifact_dir == tmp_path / "c" / "qwen3-embedding-4b"


BASE = {"id": "m", "name": "n", "dimension": 8, "pooling": "mean", "padding_side": "right", "max_length": 16}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pooling": "max"}, "pooling is 'max': use one of mean, last_token, cls"),
        ({"padding_side": "up"}, "padding_side is 'up'"),
        ({"dimension": "8"}, "'dimension' must be an integer"),
        ({"dimension": 0}, "must be positive"),
        ({"prompts": {"query": "no placeholder"}}, "must contain '{text}'"),
        ({"source": {"package": "x"}}, r"\[source\] kind must be a string"),
    ],
)
def test_bad_manifests_name_the_key(tmp_path, change, message):
    with pytest.raises(ManifestError, match=message):
        parse_manifest(BASE | change, tmp_path / "m.toml")


def test_missing_key_and_unknown_name(tmp_path):
    with pytest.raises(ManifestError, match="missing required key 'pooling'"):
        parse_manifest({k: v for k, v in BASE.items() if k != "pooling"}, tmp_path / "m.toml")
    with pytest.raises(ManifestError, match="qwen3-embedding-4b"):
        load_manifest("Qwen/Qwen2.5-4B")
    bad = tmp_path / "bad.toml"
    bad.write_text("id = ")
    with pytest.raises(ManifestError, match="not valid TOML"):
        load_manifest(bad)
