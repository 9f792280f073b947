"""Workloads for the performance criteria, measured like a benchmark.

Latency: warm-up excluded, a unique text for every query so no cache can serve it, a fixed seed,
and at least as many samples as the percentile needs (MLPerf LoadGen's early-stopping rule).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from acceptance.metrics import cosines
from runtime.embedder import Embedder
from runtime.paths import corpora_dir

WORDS_FILE = corpora_dir() / "sentences.txt"


def _vocabulary() -> list[str]:
    words = {w.strip(".,;:!?()\"'").lower() for w in WORDS_FILE.read_text(encoding="utf-8").split()}
    return sorted(w for w in words if w.isalpha() and w.isascii())


class TextFactory:
    """Unique English-word texts cut to an exact token count for a given tokenizer."""

    def __init__(self, embedder: Embedder, seed: int = 0):
        self.tokenizer = embedder.tokenizer
        self.rng = random.Random(seed)
        self.words = _vocabulary()
        self.counter = 0

    def make(self, tokens: int) -> str:
        self.counter += 1
        words = [f"q{self.counter}"] + self.rng.choices(self.words, k=tokens * 2 + 8)
        text = " ".join(words)
        enc = self.tokenizer.encode([text])[0]
        real = [i for i, special in enumerate(enc.special_tokens_mask) if not special]
        budget = max(1, tokens - (len(enc.ids) - len(real)))
        if len(real) > budget:
            text = text[: enc.offsets[real[budget - 1]][1]]
        return text

    def batch(self, size: int, tokens: int) -> list[str]:
        return [self.make(tokens) for _ in range(size)]


def percentile(samples: np.ndarray, q: float) -> float:
    # "higher": the sample at rank ceil(q n), never an interpolation below a real observation.
    return float(np.percentile(samples, q, method="higher"))


@dataclass(frozen=True)
class LatencyCell:
    batch_size: int
    text_tokens: int  # asked for
    effective_tokens: int  # after truncation to the model's max_length
    samples: int
    duration_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_tokenize_ms: float
    mean_inference_ms: float
    mean_pool_ms: float
    valid_p95: bool
    valid_p99: bool
    # Shape correctness: min cosine of each text of one measured batch against the same text embedded
    # alone (a kernel or engine profile wrong at this batch shape shows here, not only as a time).
    shape_min_cosine: float | None = None
    contention: dict = field(default_factory=dict)  # acceptance/contention.py figures for this cell

    def as_dict(self) -> dict:
        return asdict(self)


def measure_latency(
    embedder: Embedder, *, batch_size: int, text_tokens: int, min_samples: dict[str, int], warmup: int,
    min_duration_s: float, max_duration_s: float | None = None, seed: int = 0,
    on_sample: Callable[[list[float]], None] | None = None,
) -> tuple[LatencyCell, np.ndarray]:
    """Query latencies for one (batch size, text length) cell.

    Runs until the cell has the samples a P95 needs and min_duration_s has passed. With
    max_duration_s (informational grid cells), it may stop earlier, after the samples a P50 needs;
    such a cell's P95 is then flagged invalid rather than reported as if it meant something.
    """
    factory = TextFactory(embedder, seed=seed)
    for _ in range(warmup):
        embedder.embed(factory.batch(batch_size, text_tokens), batch_size=batch_size)
    latencies, phases = [], []
    first: tuple[list[str], np.ndarray] | None = None
    start = time.perf_counter()
    while True:
        elapsed = time.perf_counter() - start
        n = len(latencies)
        if n >= min_samples["p95"] and elapsed >= min_duration_s:
            break
        if max_duration_s is not None and elapsed >= max_duration_s and n >= min_samples["p50"]:
            break
        texts = factory.batch(batch_size, text_tokens)  # made outside the timed region
        t0 = time.perf_counter()
        result = embedder.embed(texts, batch_size=batch_size)
        latencies.append((time.perf_counter() - t0) * 1e3)
        if on_sample is not None:  # outside the timed region
            on_sample(latencies)
        usage = result.usage
        phases.append((usage.tokenize_ms, usage.inference_ms, usage.pool_ms))
        if first is None:
            first = (texts, result.vectors)
    duration_s = time.perf_counter() - start
    arr, ph = np.asarray(latencies), np.asarray(phases)
    cell = LatencyCell(
        batch_size=batch_size, text_tokens=text_tokens,
        effective_tokens=min(text_tokens, embedder.manifest.max_length), samples=len(arr),
        duration_s=duration_s,
        p50_ms=percentile(arr, 50), p95_ms=percentile(arr, 95), p99_ms=percentile(arr, 99), max_ms=float(arr.max()),
        mean_tokenize_ms=float(ph[:, 0].mean()), mean_inference_ms=float(ph[:, 1].mean()),
        mean_pool_ms=float(ph[:, 2].mean()),
        valid_p95=len(arr) >= min_samples["p95"], valid_p99=len(arr) >= min_samples["p99"],
        shape_min_cosine=alone_vs_batched(embedder, *first),
    )
    return cell, arr


def alone_vs_batched(embedder: Embedder, texts: list[str], batched: np.ndarray) -> float:
    """Min cosine of each row of a batch's output against the same text embedded alone (outside any timing)."""
    alone = np.concatenate([embedder.encode([t]) for t in texts])
    return float(cosines(alone, batched).min())


def measure_throughput(embedder: Embedder, *, threads: int, duration_s: float, text_tokens: int, seed: int = 0,
                       on_tick: Callable[[float, int], None] | None = None) -> float:
    """Queries (one text each) per second over a fixed duration, `threads` callers sharing one embedder."""
    factory = TextFactory(embedder, seed=seed)
    per_thread = [factory.batch(2048, text_tokens) for _ in range(threads)]
    counts = [0] * threads
    stop = threading.Event()

    def worker(k: int) -> None:
        texts = per_thread[k]
        while not stop.is_set():
            embedder.encode([texts[counts[k] % len(texts)]])
            counts[k] += 1

    for k in range(threads):  # warm-up, excluded
        embedder.encode(per_thread[k][:2])
    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    while (left := duration_s - (time.perf_counter() - start)) > 0:
        time.sleep(min(left, 0.5))
        if on_tick is not None:
            on_tick(max(left - 0.5, 0.0), sum(counts))  # seconds left, queries so far
    stop.set()
    for t in pool:
        t.join()
    return sum(counts) / (time.perf_counter() - start)
