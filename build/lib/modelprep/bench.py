"""`make bench`: this runtime against its peers, on one fixed mixed-length corpus, in one process.

Systems, same model, same thread count, best of --repeat passes each:
  runtime                the Embedder (tokenize + length-sorted batches + pool + normalize)
  raw_session            session.run alone on pre-tokenized, length-sorted batches (the floor)
  sentence_transformers  SentenceTransformer.encode on PyTorch
  optimum                ORTModelForFeatureExtraction + its tokenizer + the same pooling, in input order
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np

from runtime.embedder import Embedder, plan_batches
from runtime.manifest import load_manifest
from runtime.paths import corpora_dir
from runtime.session import SessionConfig

WORDS = corpora_dir() / "sentences.txt"


def corpus(n: int = 512, low: int = 5, high: int = 300, seed: int = 0) -> list[str]:
    """n texts of low..high words, drawn with a fixed seed from the fixture vocabulary."""
    words = WORDS.read_text(encoding="utf-8").split()
    rng = random.Random(seed)
    return [" ".join(rng.choices(words, k=rng.randint(low, high))) for _ in range(n)]


def best_rate(fn, texts: list[str], repeat: int) -> float:
    fn(texts[:16])  # warm-up
    best = min(_timed(fn, texts) for _ in range(repeat))
    return len(texts) / best


def _timed(fn, texts) -> float:
    start = time.perf_counter()
    fn(texts)
    return time.perf_counter() - start


def raw_session_fn(embedder: Embedder, texts: list[str], batch_size: int):
    """Everything but session.run is done up front; the closure times session.run alone."""
    encodings = embedder.tokenizer.encode(texts)
    lengths = np.array([len(e.ids) for e in encodings])
    feeds = [embedder.tokenizer.pad([encodings[i] for i in idx]).feeds(embedder.input_names)
             for idx in plan_batches(lengths, batch_size)]
    output = embedder.manifest.output

    def run(_texts):
        for feed in feeds:
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
        for i in range(0, len(texts), batch_size):
            enc = tokenizer(texts[i:i + batch_size], padding=True, truncation=True,
                            max_length=embedder.manifest.max_length, return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1)
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="all-minilm-l6-v2")
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default="reports/bench.json")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from rich.console import Console
    from rich.table import Table

    from modelprep.assets import checkpoint_dir, ensure_artifacts

    console = Console(stderr=True)
    manifest = load_manifest(args.model)
    ensure_artifacts(manifest)
    embedder = Embedder(manifest, SessionConfig(intra_op_threads=args.threads), batch_size=args.batch_size)
    texts = corpus(args.texts)
    systems = {
        "runtime": lambda: lambda t: embedder.encode(t),
        "raw_session": lambda: raw_session_fn(embedder, texts, args.batch_size),
        "sentence_transformers": lambda: sentence_transformers_fn(checkpoint_dir(manifest), args.threads, args.batch_size),
        "optimum": lambda: optimum_fn(embedder, args.threads, args.batch_size),
    }
    results: dict[str, float] = {}
    with console.status("benchmarking") as status:
        for name, make in systems.items():
            status.update(f"benchmarking {name}")
            results[name] = best_rate(make(), texts, args.repeat)
        status.update("batch-size and length sweeps (runtime)")
        sweep_texts = texts[:128]
        batch_sweep = {b: best_rate(lambda t, b=b: embedder.encode(t, batch_size=b), sweep_texts, 1)
                       for b in (1, 2, 4, 8, 16, 32)}
        length_sweep = {w: best_rate(embedder.encode, corpus(128, w, w, seed=1), 1) for w in (10, 50, 100, 256)}
    ratios = {k: v / results["runtime"] for k, v in results.items()}
    report = {
        "model": manifest.id, "texts": len(texts), "threads": args.threads, "batch_size": args.batch_size,
        "machine": f"{platform.node()}: {platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "unit": "texts/s", "results": results, "ratio_to_runtime": ratios,
        "runtime_vs_raw_session": results["runtime"] / results["raw_session"],
        "batch_sweep": batch_sweep, "length_sweep_words": length_sweep,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    table = Table(title=f"{manifest.id}: {len(texts)} mixed-length texts, {args.threads} threads, batch {args.batch_size}")
    for col in ("system", "texts/s", "x runtime"):
        table.add_column(col, justify="right")
    for name, rate in results.items():
        table.add_row(name, f"{rate:.1f}", f"{ratios[name]:.2f}")
    Console().print(table)
    print(f"runtime / raw session.run: {report['runtime_vs_raw_session']:.3f}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
