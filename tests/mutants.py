"""Deliberately broken deployments ("mutants") of the embedded models, generated from the real
exports: nothing binary is committed. Each is a directory with model files and a manifest.toml whose
`baseline` names the original model, so parity is judged against the true PyTorch baseline."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from runtime.manifest import ModelManifest


@dataclass(frozen=True)
class Mutant:
    name: str
    base: str  # the embedded model it breaks
    build: str  # how: a function name below
    expect_fail: frozenset[str]  # criteria that must trip
    may_trip: frozenset[str] = frozenset()  # random faults: criteria that may trip too, depending on the draw
    args: tuple[str, ...] = ()  # extra pytest args (fault injection, provider)
    options: dict = field(default_factory=dict)
    why: str = ""


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def write_manifest(directory: Path, base: ModelManifest, onnx: str = "model.onnx", **overrides) -> Path:
    """A manifest for files in `directory`, copied from `base` with overrides; no [source]: nothing to build."""
    fields = {
        "id": overrides.pop("id"), "name": base.name, "dimension": base.dimension, "pooling": base.pooling,
        "padding_side": base.padding_side, "max_length": base.max_length, "output": base.output,
        "normalize": base.normalize, "trained": base.trained, "baseline": base.id,
    } | overrides
    lines = [f"{k} = {_toml_value(v)}" for k, v in fields.items()]
    lines += ["", "[prompts]"] + [f"{k} = {_toml_value(v)}" for k, v in base.prompts.items()]
    lines += ["", "[files]", f"dir = {_toml_value(directory)}", f"onnx = {_toml_value(onnx)}"]
    path = directory / "manifest.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _copy_files(base: ModelManifest, directory: Path, tokenizer: Path | None = None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy2(tokenizer or base.tokenizer_path, directory / "tokenizer.json")


def same_model(base: ModelManifest, directory: Path, **overrides) -> Path:
    """The unchanged model files with a manifest that says something else (pooling, normalize, ...)."""
    _copy_files(base, directory)
    (directory / "model.onnx").symlink_to(base.onnx_path)
    return write_manifest(directory, base, **overrides)


def perturbed_weights(base: ModelManifest, directory: Path, *, relative_noise: float, seed: int = 0,
                      **overrides) -> Path:
    """Every weight matrix plus Gaussian noise of `relative_noise` times its own standard deviation."""
    return _with_noise(base, directory, lambda model: None, relative_noise, seed, overrides)


def _with_noise(base: ModelManifest, directory: Path, chosen, relative_noise: float, seed: int, overrides) -> Path:
    """The base graph with Gaussian noise on its fp32 weight matrices (those in chosen(model), or all when it
    gives None), each of `relative_noise` times the matrix's own standard deviation."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(base.onnx_path))
    names = chosen(model)
    rng = np.random.default_rng(seed)
    for init in model.graph.initializer:
        w = numpy_helper.to_array(init)
        if (names is None or init.name in names) and w.dtype == np.float32 and w.ndim >= 2:
            noisy = w + rng.normal(0, relative_noise * float(w.std()), w.shape).astype(np.float32)
            init.CopyFrom(numpy_helper.from_array(noisy, init.name))
    _copy_files(base, directory)
    onnx.save(model, str(directory / "model.onnx"))
    return write_manifest(directory, base, **overrides)


def mask_ignored(base: ModelManifest, directory: Path, **overrides) -> Path:
    """The graph keeps its attention_mask input but computes with all-ones instead (a bad export)."""
    import onnx
    from onnx import helper

    model = onnx.load(str(base.onnx_path))
    graph = model.graph
    zero = helper.make_tensor("mutant_zero", onnx.TensorProto.INT64, [], [0])
    one = helper.make_tensor("mutant_one", onnx.TensorProto.INT64, [], [1])
    graph.initializer.extend([zero, one])
    nodes = [helper.make_node("Mul", ["input_ids", "mutant_zero"], ["mutant_zeros"]),
             helper.make_node("Add", ["mutant_zeros", "mutant_one"], ["mutant_ones"])]
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == "attention_mask":
                node.input[i] = "mutant_ones"
    for node in reversed(nodes):
        graph.node.insert(0, node)
    _copy_files(base, directory)
    onnx.save(model, str(directory / "model.onnx"))
    return write_manifest(directory, base, **overrides)


def foreign_tokenizer(base: ModelManifest, directory: Path, *, tokenizer_of: ModelManifest, **overrides) -> Path:
    _copy_files(base, directory, tokenizer=tokenizer_of.tokenizer_path)
    (directory / "model.onnx").symlink_to(base.onnx_path)
    return write_manifest(directory, base, **overrides)


def _sentence_transformer_onnx(base: ModelManifest, directory: Path):
    """sentence-transformers' own ONNX backend (it exports with optimum), saved to directory/st."""
    import os

    from sentence_transformers import SentenceTransformer

    from modelprep.assets import checkpoint_dir

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    checkpoint = directory / "checkpoint"
    shutil.copytree(checkpoint_dir(base), checkpoint)
    model = SentenceTransformer(str(checkpoint), backend="onnx", device="cpu", model_kwargs={"export": True})
    model.save_pretrained(str(directory / "st"))
    return model


def sentence_transformers_export(base: ModelManifest, directory: Path, **overrides) -> Path:
    _sentence_transformer_onnx(base, directory)
    return write_manifest(directory / "st", base, onnx="onnx/model.onnx", **overrides)


def optimum_o2_export(base: ModelManifest, directory: Path, **overrides) -> Path:
    """optimum's graph optimization level O2 (fusions), through sentence-transformers' helper."""
    from sentence_transformers.backend import export_optimized_onnx_model

    model = _sentence_transformer_onnx(base, directory)
    export_optimized_onnx_model(model, "O2", str(directory / "st"))
    return write_manifest(directory / "st", base, onnx="onnx/model_O2.onnx", **overrides)


def _wrong_when(base: ModelManifest, directory: Path, *, axis: int, low: int, high: int, scale: float = 0.5,
                **overrides) -> Path:
    """The graph is right at every shape but some: when dimension `axis` of its output (0: the batch, 1: the
    padded length) is within low..high, a fixed vector is added to every token state (the kind of bug a
    TensorRT optimization profile or a shape-specialised kernel makes). Every other shape gives exactly the
    original output."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(base.onnx_path))
    graph = model.graph
    output = base.output
    for node in graph.node:
        node.output[:] = ["mutant_hidden" if name == output else name for name in node.output]
    offset = np.random.default_rng(0).normal(0, scale, base.dimension).astype(np.float32)
    graph.initializer.extend([
        numpy_helper.from_array(offset, "mutant_offset"),
        numpy_helper.from_array(np.array(axis, np.int64), "mutant_axis"),
        numpy_helper.from_array(np.array(low, np.int64), "mutant_low"),
        numpy_helper.from_array(np.array(high, np.int64), "mutant_high"),
    ])
    graph.node.extend([
        helper.make_node("Shape", ["mutant_hidden"], ["mutant_shape"]),
        helper.make_node("Gather", ["mutant_shape", "mutant_axis"], ["mutant_size"], axis=0),
        helper.make_node("GreaterOrEqual", ["mutant_size", "mutant_low"], ["mutant_above"]),
        helper.make_node("LessOrEqual", ["mutant_size", "mutant_high"], ["mutant_below"]),
        helper.make_node("And", ["mutant_above", "mutant_below"], ["mutant_is_bad"]),
        helper.make_node("Add", ["mutant_hidden", "mutant_offset"], ["mutant_shifted"]),
        helper.make_node("Where", ["mutant_is_bad", "mutant_shifted", "mutant_hidden"], [output]),
    ])
    _copy_files(base, directory)
    onnx.save(model, str(directory / "model.onnx"))
    return write_manifest(directory, base, **overrides)


def wrong_at_batch_size(base: ModelManifest, directory: Path, *, batch_size: int, **overrides) -> Path:
    """Wrong only when the batch holds exactly `batch_size` texts."""
    return _wrong_when(base, directory, axis=0, low=batch_size, high=batch_size, **overrides)


def wrong_at_lengths(base: ModelManifest, directory: Path, *, low: int, high: int, **overrides) -> Path:
    """Wrong only when the batch is padded to a length within low..high tokens."""
    return _wrong_when(base, directory, axis=1, low=low, high=high, **overrides)


def remapped_tokens(base: ModelManifest, directory: Path, *, pairs: tuple[tuple[str, str], ...], **overrides) -> Path:
    """tokenizer.json with a handful of vocabulary entries swapped pairwise (near-synonyms, so the
    vectors barely move): the graph then reads one word's embedding row for the other."""
    tok = json.loads(base.tokenizer_path.read_text(encoding="utf-8"))
    vocab = tok["model"]["vocab"]
    for a, b in pairs:
        vocab[a], vocab[b] = vocab[b], vocab[a]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False), encoding="utf-8")
    (directory / "model.onnx").symlink_to(base.onnx_path)
    return write_manifest(directory, base, **overrides)


def perturbed_layer(base: ModelManifest, directory: Path, *, scope: str, relative_noise: float, seed: int = 0,
                    **overrides) -> Path:
    """Gaussian noise on the weight matrices of one layer only (the nodes named under `scope`, e.g.
    "/encoder/layer.3/"): everything before it is exact, so a layer-wise comparison must name it."""
    def of_the_layer(model) -> set[str]:
        return {name for node in model.graph.node if node.name.startswith(scope) for name in node.input}

    return _with_noise(base, directory, of_the_layer, relative_noise, seed, overrides)


def all_fp16(base: ModelManifest, directory: Path, **overrides) -> Path:
    """Every op of the graph in fp16, whatever its values (ONNX Runtime's converter, no layer kept in fp32)."""
    from modelprep.precision import to_fp16

    _copy_files(base, directory)
    to_fp16(base.onnx_path, directory / "model.onnx")
    return write_manifest(directory, base, precision="fp16", baseline=str(base.path), **overrides)
