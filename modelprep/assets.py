"""Builds a manifest's artifacts (model.onnx + tokenizer.json) when they are missing.

Nothing here reaches a model hub: the default model's checkpoint ships inside a PyPI package,
and qwen3-tiny is built from a seed. Builds run under a file lock and land by rename, so parallel
pytest workers never see a half-written model.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import tempfile
from contextlib import nullcontext
from pathlib import Path

from filelock import FileLock

from modelprep.graph_audit import audit_graph
from modelprep.onnx_export import export_and_gate, gate_and_record
from modelprep.precision import (
    Recipe,
    VariantBuild,
    build_with_recipe,
    compute_nodes,
    fp16_overflows,
    modelopt_quantize,
    ort_dynamic_quantize,
    save_calibration,
    to_fp16,
)
from modelprep.progress import StepLog
from modelprep.staging import build_into
from runtime.artifact import RECORD_VERSION, is_cache_entry, read_record, sha256_file
from runtime.errors import (
    DegenerateOutputError,
    EmbeddingError,
    ExportError,
    ManifestError,
    ModelFileError,
    first_line,
)
from runtime.manifest import ModelManifest, Source, cache_root, load_manifest
from runtime.paths import corpora_dir, read_lines


def checkpoint_dir(manifest: ModelManifest) -> Path | str:
    """Where the HF checkpoint behind a manifest lives, building it if the source says how."""
    source = _source(manifest)
    if source.kind == "python-package":
        spec = importlib.util.find_spec(source.options["package"])
        if spec is None or not spec.submodule_search_locations:
            raise ModelFileError(
                f"{manifest.id}: the package {source.options['package']!r} that ships its checkpoint is not "
                f"installed; pip install {source.options.get('pip', source.options['package'])}"
            )
        path = Path(list(spec.submodule_search_locations)[0]) / source.options.get("subdir", "")
        _verify_weights(manifest, path, source)
        return path
    if source.kind == "random-qwen3":
        # In the cache root, never beside a user's own artifact directory. Keyed by the recipe, so a
        # changed recipe gets a new checkpoint instead of deleting the old one.
        key = hashlib.sha256(json.dumps(manifest.recipe(), sort_keys=True).encode()).hexdigest()[:12]
        path = cache_root() / "checkpoints" / f"{manifest.id}-{key}"
        if not (path / "config.json").is_file():
            _build_locked(path, lambda tmp: build_random_qwen3(source, tmp))
        return path
    if source.kind == "hf":
        return source.options["checkpoint"]
    if source.kind == "precision-of":
        return checkpoint_dir(base_of(manifest))
    raise ManifestError(f"{manifest.path}: unknown [source] kind {source.kind!r}")


def _source(manifest: ModelManifest) -> Source:
    if manifest.source is None:
        raise ModelFileError(
            f"{manifest.id}: {manifest.onnx_path} is missing and the manifest has no [source] to build it "
            "from; export it with python -m modelprep.export --model ... --checkpoint ..."
        )
    return manifest.source


def _verify_weights(manifest: ModelManifest, path: Path, source: Source) -> None:
    expected = source.options.get("weights_sha256")
    weights = path / source.options.get("weights", "model.safetensors")
    if not weights.is_file():
        raise ModelFileError(f"{manifest.id}: weights missing at {weights}; reinstall the package")
    if expected and sha256_file(weights) != expected:
        raise ModelFileError(
            f"{manifest.id}: {weights} does not match the manifest's weights_sha256; "
            "the package was modified or is another version"
        )


def _build_locked(target: Path, build, *, may_replace=lambda: False) -> bool:
    """Run build(tmp) under a lock and move the result to target (modelprep.staging). The target is replaced
    only after the build succeeded, and only if may_replace() says (under the lock) that it is a cache
    entry: a failed rebuild leaves the old directory as it was. Returns whether it built."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        replacing = target.exists()
        if replacing and not may_replace():
            return False
        build_into(target, build, replace=replacing)
    return True


def _due(directory: Path, manifest: ModelManifest, rebuild: bool) -> bool:
    """Whether a directory of this cache must be (re)built: asked to, a file is missing, or its
    recipe or record version is older than the manifest's. Anyone else's directory never is."""
    record = read_record(directory)
    if not is_cache_entry(record):
        return False
    files = manifest.onnx_path.is_file() and manifest.tokenizer_path.is_file()
    return (rebuild or not files or (manifest.source is not None and record.get("recipe") != manifest.recipe())
            or record.get("record_version", 1) < RECORD_VERSION)


def ensure_artifacts(manifest: ModelManifest, *, rebuild: bool = False, log: StepLog | None = None) -> None:
    """Build model.onnx + tokenizer.json if missing, or rebuild a cache entry whose [source] changed.

    Only a directory this cache created (artifact.json says `cache_entry`) is ever rebuilt or
    replaced. Anything else, an export from the command line or a directory the user filled by
    hand, is used as it is, or refused with a message when files are missing: never deleted.
    """
    directory = manifest.artifact_dir
    present = manifest.onnx_path.is_file() and manifest.tokenizer_path.is_file()
    empty = not directory.exists() or (directory.is_dir() and not any(directory.iterdir()))
    if present and not _due(directory, manifest, rebuild):
        if rebuild and not is_cache_entry(read_record(directory)):
            raise ModelFileError(
                f"{directory} was not made by this suite's model cache (its artifact.json does not mark it as a "
                "cache entry), so it is never rebuilt or replaced here: export into a new directory with "
                "python -m modelprep.export --out NEW_DIR, or point the manifest's [files] dir elsewhere"
            )
        return
    if not empty and not is_cache_entry(read_record(directory)):
        missing = [p.name for p in (manifest.onnx_path, manifest.tokenizer_path) if not p.is_file()]
        raise ModelFileError(
            f"{directory} lacks {', '.join(missing)} and was not made by this suite's model cache, so nothing "
            "is built into it: copy the missing files there, or export with python -m modelprep.export --out DIR"
        )
    checkpoint = checkpoint_dir(manifest)

    def build(tmp: Path) -> None:
        record = {"recipe": manifest.recipe(), "cache_entry": True}
        with nullcontext(log) if log is not None else StepLog(f"model {manifest.id}") as steps:
            if manifest.source and manifest.source.kind == "precision-of":
                build_precision_variant(manifest, checkpoint, tmp, record, steps)
            else:
                export_and_gate(manifest, checkpoint, tmp, record=record, log=steps)

    def may_replace() -> bool:  # re-checked under the lock: another process may have rebuilt it meanwhile
        return (directory.is_dir() and not any(directory.iterdir())) or _due(directory, manifest, rebuild)

    try:
        _build_locked(directory, build, may_replace=may_replace)
    except EmbeddingError:
        raise
    except Exception as exc:  # optimum, torch, I/O: one message, and the old artifacts are untouched
        raise ExportError(f"building {manifest.id} into {directory} failed ({first_line(exc)}); any earlier "
                          "artifacts there are kept as they were") from exc


PRECISION_BUILDS = ("fp16", "int8", "fp8", "bf16")


def build_precision_variant(manifest: ModelManifest, checkpoint: Path | str, out: Path, record: dict,
                            log: StepLog) -> None:
    """Convert the base model's export to another precision with the manifest's recipe, then gate it
    against PyTorch fp32."""
    base = base_of(manifest)
    ensure_artifacts(base, log=log)
    precision = manifest.source.options["precision"]
    if precision not in PRECISION_BUILDS:
        raise ManifestError(f"{manifest.path}: precision-of builds {', '.join(PRECISION_BUILDS)}, not {precision!r}")
    made: dict = {}
    if precision == "bf16":  # how OpenVINO executes the fp32 graph (runtime.embedder.EXECUTED_PRECISIONS)
        shutil.copy2(base.onnx_path, out / "model.onnx")
        made["executed_as"] = "the fp32 graph, run by OpenVINO with INFERENCE_PRECISION_HINT=bf16"
    else:
        recipe = Recipe.from_options(precision, manifest.source.options.get("recipe", {}))
        made["recipe_result"] = build_variant(base, precision, recipe, out / "model.onnx", log)
    audit = audit_graph(out / "model.onnx")
    made["graph"] = {"precision": audit.precision, "qdq_pairs": audit.qdq_pairs, "quantized_to": audit.quantized_to,
                     "quantized_nodes": audit.quantized_nodes, "dynamic_quantization": audit.dynamic_quantization}
    wrong = audit.claim_error(manifest.precision)
    if wrong:
        raise ManifestError(f"{manifest.path}: {wrong}")
    shutil.copy2(base.tokenizer_path, out / "tokenizer.json")
    log.step(f"parity gate for {manifest.id} vs PyTorch fp32")
    gate_and_record(manifest, checkpoint, out, {"converted_from": base.id, "precision": precision, **made, **record})


def base_of(manifest: ModelManifest) -> ModelManifest:
    """The manifest a precision-of variant converts: a built-in name, or a .toml path beside this manifest."""
    base = manifest.source.options["base"]
    if base.endswith(".toml") and manifest.path is not None and not Path(base).is_absolute():
        return load_manifest(manifest.path.parent / base)
    return load_manifest(base)


def build_variant(base: ModelManifest, precision: str, recipe: Recipe, dst: Path, log: StepLog | None = None) -> dict:
    """The base graph in `precision` by the recipe's tool; the layers kept in fp32 are the recipe's, checked
    on the dev set, or bisected against it (synthetic texts of the fixture vocabulary, never a corpus a
    criterion uses)."""
    from modelprep.texts import corpus
    from runtime.embedder import Embedder

    embedder = Embedder.load(base)
    dev = corpus(recipe.dev_texts, low=1, high=160, seed=2)
    fp16_nodes = compute_nodes(base.onnx_path, recipe.op_types, weights_only=False) if precision == "fp16" else []
    record: dict = {"dev_set": f"{recipe.dev_texts} synthetic texts (seed 2), min cosine and top-10 agreement "
                               "against the fp32 ONNX graph"}
    with tempfile.TemporaryDirectory(prefix=f".{precision}-build.", dir=dst.parent) as tmp:
        make = _maker(base, precision, recipe, embedder, Path(tmp), record)
        judge = dev_set_judge(embedder, dev, fp16_nodes=fp16_nodes)
        if fp16_nodes:  # which layers overflow fp16 with none kept in fp32: what the bisection must fix
            make(Path(tmp) / "all-fp16.onnx", ())
            feeds = [embedder.tokenizer.pad(embedder.tokenizer.encode(dev)[i:i + 16]).feeds(embedder.input_names)
                     for i in range(0, len(dev), 16)]
            record["fp16_overflows"] = fp16_overflows(Path(tmp) / "all-fp16.onnx", base.onnx_path, fp16_nodes, feeds)
        record |= build_with_recipe(base.onnx_path, dst, precision, recipe, VariantBuild(make, judge),
                                    log.step if log is not None else (lambda text: None))
    return record


def _maker(base: ModelManifest, precision: str, recipe: Recipe, embedder, work: Path, record: dict):
    """How the recipe's tool makes the variant with some layers kept in fp32: (destination, kept) -> its record.
    ModelOpt calibrates on synthetic texts (seed 1), one text per feed; their hash goes into `record`."""
    from modelprep.texts import corpus

    if recipe.tool == "modelopt":
        calibration = work / "calibration.npz"
        feeds = [embedder.tokenizer.pad([e]).feeds(embedder.input_names)
                 for e in embedder.tokenizer.encode(corpus(recipe.calibration_texts, low=1, high=240, seed=1))]
        record["calibration_set"] = {
            "texts": recipe.calibration_texts, "sha256": save_calibration(feeds, calibration),
            "what": "synthetic texts (seed 1, 1-240 words of fixtures/corpora/sentences.txt's vocabulary), one text "
                    "per feed, unpadded"}
        return lambda path, kept: modelopt_quantize(base.onnx_path, path, precision, recipe, calibration, kept)
    if recipe.tool == "ort-dynamic":
        return lambda path, kept: ort_dynamic_quantize(base.onnx_path, path, recipe, kept)

    def fp16(path: Path, kept: tuple[str, ...]) -> dict:
        to_fp16(base.onnx_path, path, kept)
        return {"tool": "onnxruntime.transformers.float16.convert_float_to_float16"}
    return fp16


def dev_set_judge(embedder, texts: list[str], batch: int = 16, fp16_nodes: tuple[str, ...] | list[str] = ()):
    """(min cosine, top-10 agreement) of a graph's vectors against the base embedder's on `texts`. With
    `fp16_nodes`, a graph any of whose fp16 outputs overflows on them scores a min cosine of -1: ONNX Runtime's
    CPU provider computes most fp16 ops in fp32, so only the stored tensors show what an fp16 engine would
    hit (modelprep.precision.fp16_overflows)."""
    import numpy as np

    from runtime.session import SessionConfig, create_session

    encodings = embedder.tokenizer.encode(texts)
    batches = [embedder.tokenizer.pad(encodings[i:i + batch]) for i in range(0, len(encodings), batch)]
    feeds = [b.feeds(embedder.input_names) for b in batches]

    def vectors(session) -> np.ndarray:
        out = embedder.manifest.output
        return np.concatenate([embedder.postprocess(session.run([out], f)[0], b.attention_mask)
                               for f, b in zip(feeds, batches, strict=True)])

    reference = vectors(embedder.session)
    top_ref = np.argsort(-(reference @ reference.T), axis=1)[:, :10]

    def judge(path: Path) -> tuple[float, float]:
        if fp16_nodes and fp16_overflows(path, embedder.manifest.onnx_path, list(fp16_nodes), feeds):
            return -1.0, 0.0
        session, _ = create_session(path, SessionConfig(record_placement=False))
        try:
            ours = vectors(session)
        except DegenerateOutputError:  # non-finite vectors: as wrong as a variant gets
            return -1.0, 0.0
        top = np.argsort(-(ours @ ours.T), axis=1)[:, :10]
        recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top, top_ref, strict=True)]))
        return float(np.min(np.sum(ours * reference, axis=1))), recall

    return judge


def build_random_qwen3(source: Source, out: Path) -> None:
    """A random-weight Qwen3 with a byte-level BPE tokenizer whose pad token is its EOS token.

    It has no trained semantics: it exists so that left padding, position_ids and last-token
    pooling run end to end through a real decoder graph.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3Model

    eos = "<|endoftext|>"
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=source.options.get("tokenizer_vocab", 1000), special_tokens=[eos],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(read_lines(corpora_dir() / source.options["tokenizer_corpus"]), trainer)
    eos_id = tok.token_to_id(eos)
    # Like Qwen3-Embedding's tokenizer: EOS appended to every text, and EOS doubles as padding.
    tok.post_processor = processors.TemplateProcessing(single=f"$A {eos}", special_tokens=[(eos, eos_id)])
    tok.enable_padding(pad_id=eos_id, pad_token=eos, direction="left")
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=eos, pad_token=eos, padding_side="left",
        model_input_names=["input_ids", "attention_mask"],
    )
    fast.save_pretrained(out)
    # pad_token_id stays unset: it would make the EOS embedding row an all-zero padding_idx row, which a
    # trained Qwen3 does not have (its EOS embedding is what last-token pooling reads).
    config = Qwen3Config(**source.options["config"], eos_token_id=eos_id, bos_token_id=eos_id)
    if config.vocab_size < tok.get_vocab_size():
        raise ManifestError(f"qwen3 config vocab_size {config.vocab_size} < tokenizer's {tok.get_vocab_size()}")
    torch.manual_seed(source.options.get("seed", 0))
    model = Qwen3Model(config).eval()
    modules = dict(model.named_modules())
    for name, factor in source.options.get("scale_modules", {}).items():
        # A known-bad model: one module's weights scaled so its activations pass fp16's range (a test's input).
        if name not in modules:
            raise ManifestError(f"[source] scale_modules names {name!r}, which the model does not have")
        with torch.no_grad():
            modules[name].weight.mul_(float(factor))
    model.save_pretrained(out)
