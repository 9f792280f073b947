"""`make bench`'s measurements: this runtime and its precision variants against every peer a user would pick
instead, on one fixed mixed-length corpus, same threads, in one process. (The goals are judged from these
figures, against the precision ladder's verdicts, by acceptance/bench.py.)

Systems, same model, best of --repeat passes each:
  runtime[-PRECISION]         the Embedder (tokenize + length-sorted batches + pool + normalize), and each
                              precision variant (bf16 runs on OpenVINO, the rest on the CPU provider; an FP8
                              variant is never timed on a CPU: its Q/DQ graph only simulates FP8 there)
  raw_session                 session.run alone on pre-tokenized, length-sorted batches (the floor)
  sentence_transformers       SentenceTransformer.encode on PyTorch fp32
  sentence_transformers_bf16  the same inside torch.autocast("cpu", dtype=torch.bfloat16)
  sentence_transformers_onnx  SentenceTransformer(backend="onnx") on this project's fp32 export
  optimum                     ORTModelForFeatureExtraction + its tokenizer + the same pooling, in input order
  fastembed                   TextEmbedding on this project's export through its custom-model API (no hub)

Per system: bulk texts/s, batch-1 short-query p50/p95, and min cosine against sentence-transformers fp32
on the corpus.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from modelprep.precision import SPEED_ONLY_ON_TENSORRT
from modelprep.progress import StepLog
from modelprep.texts import corpus
from runtime.embedder import Embedder, plan_batches
from runtime.errors import first_line
from runtime.manifest import load_manifest
from runtime.session import SessionConfig


def best_rate(fn, texts: list[str], repeat: int) -> float:
    return paired_best_rates({"fn": fn}, texts, repeat)["fn"]


def paired_best_rates(fns: dict, texts: list[str], repeat: int) -> dict[str, float]:
    """Best rate of each function over `repeat` rounds, each round running every function once in turn."""
    for fn in fns.values():
        fn(texts[:16])  # warm-up
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for name, fn in fns.items():
            best[name] = min(best[name], _timed(fn, texts))
    return {name: len(texts) / seconds for name, seconds in best.items()}


def _timed(fn, texts) -> float:
    start = time.perf_counter()
    fn(texts)
    return time.perf_counter() - start


def raw_session_fn(embedder: Embedder, inputs: list[list[str]], batch_size: int):
    """Everything but session.run is done up front, for each list of texts it will be given (the
    corpus, and each one-query list of the batch-1 figure); the closure times session.run alone."""
    prepared = {}
    for texts in inputs:
        encodings = embedder.tokenizer.encode(texts)
        lengths = np.array([len(e.ids) for e in encodings])
        prepared[tuple(texts)] = [embedder.tokenizer.pad([encodings[i] for i in idx]).feeds(embedder.input_names)
                                  for idx in plan_batches(lengths, batch_size)]
    output = embedder.manifest.output

    def run(texts):
        for feed in prepared[tuple(texts)]:
            embedder.session.run([output], feed)
    return run


def sentence_transformers_fn(checkpoint, threads: int, batch_size: int):
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    model = SentenceTransformer(str(checkpoint), device="cpu")
    return lambda texts: model.encode(texts, batch_size=batch_size, normalize_embeddings=True)


def optimum_fn(embedder: Embedder, threads: int, batch_size: int):
    import onnxruntime as ort
    import torch
    from optimum.onnxruntime import ORTModelForFeatureExtraction
    from transformers import AutoTokenizer

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    directory = embedder.manifest.artifact_dir
    model = ORTModelForFeatureExtraction.from_pretrained(directory, session_options=options, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    tokenizer.padding_side = embedder.manifest.padding_side

    def run(texts):
        out = []
        for i in range(0, len(texts), batch_size):
            enc = tokenizer(texts[i:i + batch_size], padding=True, truncation=True,
                            max_length=embedder.manifest.max_length, return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            out.append(torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1).numpy())
        return np.concatenate(out)
    return run


def _variants_of(model: str) -> list[str]:
    """The precision variants of a model among the built-in manifests (their baseline is the model)."""
    from runtime.paths import manifests_dir

    names = []
    for path in sorted(manifests_dir().glob("*.toml")):
        candidate = load_manifest(path)
        if candidate.baseline == model and candidate.source and candidate.source.kind == "precision-of":
            names.append(candidate.id)
    return names


def _variant_fn(manifest, threads: int, batch_size: int):
    """A precision variant through the runtime, built on first use, on the provider its precision needs."""
    from modelprep.assets import ensure_artifacts
    from runtime.embedder import executing_provider

    ensure_artifacts(manifest)
    placed = executing_provider(manifest.precision)
    variant = Embedder.load(manifest, SessionConfig(providers=(placed.provider,), intra_op_threads=threads),
                            batch_size=batch_size)
    return lambda texts: variant.encode(texts)


def sentence_transformers_bf16_fn(checkpoint, threads: int, batch_size: int):
    import torch

    fp32 = sentence_transformers_fn(checkpoint, threads, batch_size)

    def run(texts):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return fp32(texts)
    return run


def _linked_dir(files: dict[str, Path]) -> Path:
    """A temporary directory of symlinks, for peers that want one model directory (never a copy)."""
    import atexit
    import shutil
    import tempfile

    directory = Path(tempfile.mkdtemp(prefix="embed-bench-"))
    atexit.register(shutil.rmtree, directory, True)  # our own links, gone when the bench ends
    for name, target in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).symlink_to(Path(target).resolve())
    return directory


def _checkpoint_files(checkpoint: Path) -> dict[str, Path]:
    return {p.name: p for p in Path(checkpoint).iterdir() if p.is_file() and p.suffix in (".json", ".txt")}


def sentence_transformers_onnx_fn(embedder: Embedder, checkpoint, threads: int, batch_size: int):
    from sentence_transformers import SentenceTransformer

    files = _checkpoint_files(checkpoint) | {"onnx/model.onnx": embedder.manifest.onnx_path}
    if (Path(checkpoint) / "1_Pooling" / "config.json").is_file():
        files["1_Pooling/config.json"] = Path(checkpoint) / "1_Pooling" / "config.json"
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    model = SentenceTransformer(str(_linked_dir(files)), device="cpu", backend="onnx", local_files_only=True,
                                model_kwargs={"file_name": "onnx/model.onnx", "provider": "CPUExecutionProvider",
                                              "session_options": options})
    return lambda texts: model.encode(texts, batch_size=batch_size, normalize_embeddings=True)


def fastembed_fn(embedder: Embedder, checkpoint, threads: int, batch_size: int):
    from fastembed import TextEmbedding
    from fastembed.common.model_description import ModelSource, PoolingType

    m = embedder.manifest
    name = f"local/{m.id}"
    pooling = {"mean": PoolingType.MEAN, "cls": PoolingType.CLS, "last_token": PoolingType.LAST_TOKEN}[m.pooling]
    if name not in {d["model"] for d in TextEmbedding.list_supported_models()}:
        TextEmbedding.add_custom_model(model=name, pooling=pooling, normalization=m.normalize,
                                       sources=ModelSource(hf=m.name), dim=m.dimension, model_file="model.onnx")
    directory = _linked_dir(_checkpoint_files(checkpoint)
                            | {"model.onnx": m.onnx_path, "tokenizer.json": m.tokenizer_path})
    # fastembed truncates at tokenizer_config's model_max_length (512 for MiniLM); sentence-transformers
    # and this runtime at the manifest's 256. The same cut for all, or the vectors of long texts differ.
    config_file = directory / "tokenizer_config.json"
    config = json.loads(config_file.read_text()) if config_file.exists() else {}
    config_file.unlink(missing_ok=True)  # a link into the checkpoint: replaced by our own file, never edited
    config_file.write_text(json.dumps(config | {"model_max_length": m.max_length}))
    model = TextEmbedding(model_name=name, specific_model_path=str(directory), threads=threads,
                          providers=["CPUExecutionProvider"])
    return lambda texts: np.stack(list(model.embed(texts, batch_size=batch_size)))


def batch1_latency(fn, queries: list[str]) -> dict[str, float]:
    """p50/p95 of embedding one short query at a time (the PRD's batch-1 latency), after a warm-up."""
    for q in queries[:5]:
        fn([q])
    times = []
    for q in queries:
        start = time.perf_counter()
        fn([q])
        times.append((time.perf_counter() - start) * 1e3)
    return {"p50_ms": float(np.percentile(times, 50)), "p95_ms": float(np.percentile(times, 95))}


#: The precision each system computes at, for the "2x faster than every peer at the same precision" goal.
SYSTEM_PRECISION = {"runtime": "fp32", "raw_session": "fp32", "sentence_transformers": "fp32",
                    "sentence_transformers_bf16": "bf16", "sentence_transformers_onnx": "fp32", "optimum": "fp32",
                    "fastembed": "fp32"}
PEERS = ("sentence_transformers", "sentence_transformers_bf16", "sentence_transformers_onnx", "optimum", "fastembed")


@dataclass
class BenchFigures:
    """What one `make bench` measured."""

    model: str
    texts: int
    threads: int
    batch_size: int
    repeat: int
    results: dict[str, float]  # system -> bulk texts/s (best of `repeat` passes)
    batch1: dict[str, dict[str, float]]  # system -> p50_ms, p95_ms over `batch1_queries` short queries
    batch1_queries: int
    precision: dict[str, str]  # system -> the precision it computes at
    min_cosine: dict[str, float | None]  # system -> min cosine against sentence-transformers fp32 on the corpus
    failed: dict[str, str] = field(default_factory=dict)  # system -> why it could not run here
    not_timed: dict[str, str] = field(default_factory=dict)  # variant -> why its time would mean nothing here
    not_available: dict[str, str] = field(default_factory=dict)  # variant -> why its provider cannot run here
    batch_sweep: dict[str, float] = field(default_factory=dict)  # batch size -> runtime texts/s
    length_sweep_words: dict[str, float] = field(default_factory=dict)  # words per text -> runtime texts/s

    @property
    def runtime_vs_raw_session(self) -> float:
        return self.results["runtime"] / self.results["raw_session"]


def _variant_systems(variants: list[str], threads: int,
                     batch_size: int) -> tuple[dict, dict[str, str], dict[str, str], dict[str, str]]:
    """Each variant's system (built on first use), its precision, the variants not timed here, and those whose
    provider cannot run on this machine (found before anything is built: the OpenVINO plugin on an AMD CPU)."""
    from runtime.embedder import executing_provider
    from runtime.session import unavailable_reason

    systems, precision, not_timed, not_available = {}, {}, {}, {}
    for variant in variants:
        vm = load_manifest(variant)
        name = f"runtime-{vm.precision}"
        if vm.precision in SPEED_ONLY_ON_TENSORRT:
            not_timed[name] = SPEED_ONLY_ON_TENSORRT[vm.precision]
            continue
        why = unavailable_reason(executing_provider(vm.precision).provider)
        if why is not None:
            not_available[name] = why
            continue
        precision[name] = vm.precision
        systems[name] = lambda vm=vm: _variant_fn(vm, threads, batch_size)
    return systems, precision, not_timed, not_available


def _time_system(name: str, make, texts: list[str], queries: list[str], repeat: int) -> tuple[float, dict, np.ndarray]:
    fn = make()
    rate = best_rate(fn, texts, repeat)
    latency = batch1_latency(fn, queries)
    vectors = np.asarray(fn(texts), dtype=np.float32) if name != "raw_session" else None
    return rate, latency, vectors


def measure(model: str, *, texts: int = 512, batch_size: int = 32, threads: int = 2, repeat: int = 2,
            queries: int = 100, variants: list[str] | None = None, log: StepLog | None = None) -> BenchFigures:
    """Every system on the same corpus, one after another in this process; `log` says which is running."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from modelprep.assets import checkpoint_dir, ensure_artifacts

    say = log.step if log is not None else (lambda text: None)
    manifest = load_manifest(model)
    ensure_artifacts(manifest, log=log)
    embedder = Embedder.load(manifest, SessionConfig(intra_op_threads=threads), batch_size=batch_size)
    corpus_texts, short = corpus(texts), corpus(queries, 8, 30, seed=3)
    checkpoint = checkpoint_dir(manifest)
    systems = {
        "sentence_transformers": lambda: sentence_transformers_fn(checkpoint, threads, batch_size),
        "sentence_transformers_bf16": lambda: sentence_transformers_bf16_fn(checkpoint, threads, batch_size),
        "sentence_transformers_onnx": lambda: sentence_transformers_onnx_fn(embedder, checkpoint, threads, batch_size),
        "optimum": lambda: optimum_fn(embedder, threads, batch_size),
        "fastembed": lambda: fastembed_fn(embedder, checkpoint, threads, batch_size),
    }
    chosen = variants if variants is not None else _variants_of(manifest.id)
    more, precision, not_timed, not_available = _variant_systems(chosen, threads, batch_size)
    systems |= more
    precision = SYSTEM_PRECISION | precision
    # The overhead goal compares two close figures: their passes alternate (runtime, session.run, runtime,
    # ...) so a drift of the machine's speed hits both, and each keeps its best of more passes.
    say("runtime against raw session.run (alternating passes)")
    paired = {"runtime": lambda t: embedder.encode(t),
              "raw_session": raw_session_fn(embedder, [corpus_texts, corpus_texts[:16], *([q] for q in short)],
                                            batch_size)}
    results = paired_best_rates(paired, corpus_texts, max(repeat, 4))
    batch1 = {name: batch1_latency(fn, short) for name, fn in paired.items()}
    vectors = {"runtime": np.asarray(paired["runtime"](corpus_texts), dtype=np.float32)}
    failed: dict[str, str] = {}
    for name, make in systems.items():
        say(name)
        try:
            results[name], batch1[name], vectors[name] = _time_system(name, make, corpus_texts, short, repeat)
        except Exception as exc:  # a peer that cannot run here is reported, not fatal
            failed[name] = first_line(exc)
    say("batch-size and length sweeps (runtime)")
    batch_sweep = {str(b): best_rate(lambda t, b=b: embedder.encode(t, batch_size=b), corpus_texts[:128], 1)
                   for b in (1, 2, 4, 8, 16, 32)}
    length_sweep = {str(w): best_rate(embedder.encode, corpus(128, w, w, seed=1), 1) for w in (10, 50, 100, 256)}
    reference = vectors.get("sentence_transformers")
    cosine = {name: None if reference is None else float(np.min(np.sum(v * reference, axis=1)))
              for name, v in vectors.items() if v is not None}
    return BenchFigures(
        model=manifest.id, texts=len(corpus_texts), threads=threads, batch_size=batch_size, repeat=repeat,
        results=results, batch1=batch1, batch1_queries=len(short), precision={k: precision[k] for k in results},
        min_cosine=cosine, failed=failed, not_timed=not_timed, not_available=not_available, batch_sweep=batch_sweep,
        length_sweep_words=length_sweep)
