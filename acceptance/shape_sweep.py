"""Every shape a deployment serves, not a sample of them: each batch size from 1 to the largest it serves,
and padded lengths on a stride plus every boundary it declares. Each row of a batch is compared with the
same text embedded alone (edge.shape_invariance).

A server batches whatever arrives, so every batch size up to the largest is a shape users hit; a kernel
or a TensorRT optimization profile wrong at one of them (batch 12, say) is invisible to a grid of
1/4/8/16/32 and to whatever sizes Hypothesis happens to draw. The sweep is deterministic: fixed texts,
fixed shapes, the same verdict on every run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from acceptance.metrics import cosines
from acceptance.workload import TextFactory
from runtime.embedder import Embedder
from runtime.manifest import ModelManifest
from runtime.tensorrt import ShapeProfile

#: Token counts the batch sweep's texts cycle through: query-sized and mixed, so every batch is padded.
BATCH_TEXT_TOKENS = (6, 23, 11, 48, 17, 64, 9, 35)


@dataclass(frozen=True)
class ServedShapes:
    """The batch sizes and padded lengths a deployment serves, and where each length came from."""

    batch_sizes: list[int]
    lengths: list[int]
    boundaries: list[int]  # declared by the deployment: TensorRT profile min/opt/max and max_length, each +-1
    length_stride: int


def served_shapes(manifest: ModelManifest, *, length_stride: int, grid_batch_sizes: list[int],
                  grid_text_tokens: list[int], trt_profile: ShapeProfile | None = None) -> ServedShapes:
    """Every batch size 1..largest (the manifest's max_batch, the TensorRT profile's max, or the grid's), and
    the lengths stride, 2*stride, ... up to max_length with every declared boundary and the grid's lengths."""
    largest = max([manifest.max_batch, *grid_batch_sizes])
    declared = [manifest.max_length]
    if trt_profile is not None:
        for batch, seq in (trt_profile.batch_and_seq(s) for s in (trt_profile.min, trt_profile.opt, trt_profile.max)):
            largest = max(largest, batch)
            declared.append(seq)
    boundaries = sorted({b + d for b in declared for d in (-1, 0, 1) if b + d >= 1})
    # A length past max_length is truncated to it; it stays in the sweep, as the boundary a user hits.
    stride = list(range(length_stride, manifest.max_length + 1, length_stride))
    lengths = sorted({1, *stride, *boundaries, *(t for t in grid_text_tokens if t <= manifest.max_length)})
    return ServedShapes(list(range(1, largest + 1)), lengths, boundaries, length_stride)


@dataclass
class ShapeSweep:
    """Min cosine (batched row vs the same text alone) per batch size and per padded length."""

    by_batch: dict[int, float] = field(default_factory=dict)
    by_length: dict[int, float] = field(default_factory=dict)
    rows: int = 0  # row embeddings computed, alone and batched
    seconds: float = 0.0

    def worst(self) -> float:
        return min([*self.by_batch.values(), *self.by_length.values()])

    def failing(self, passes) -> tuple[list[int], list[int]]:
        return ([b for b, v in self.by_batch.items() if not passes(v)],
                [n for n, v in self.by_length.items() if not passes(v)])


def _min_cosine(alone: np.ndarray, batched: np.ndarray) -> float:
    return float(np.nan_to_num(cosines(alone, batched), nan=-1.0).min())


def sweep(embedder: Embedder, shapes: ServedShapes, *, seed: int = 7) -> ShapeSweep:
    """Batch sizes: the first n of one list of mixed-length texts, for every n, against those texts alone
    (embedded once). Lengths: a text of exactly that many tokens batched with a shorter one, so the batch is
    padded to that length, against both alone."""
    factory = TextFactory(embedder, seed=seed)
    result = ShapeSweep()
    start = time.perf_counter()
    largest = shapes.batch_sizes[-1]
    texts = [factory.make(BATCH_TEXT_TOKENS[i % len(BATCH_TEXT_TOKENS)]) for i in range(largest)]
    alone = np.concatenate([embedder.encode([t]) for t in texts])
    result.rows += largest
    for size in shapes.batch_sizes:
        result.by_batch[size] = _min_cosine(alone[:size], embedder.encode(texts[:size], batch_size=size))
        result.rows += size
    for tokens in shapes.lengths:
        pair = [factory.make(tokens), factory.make(max(1, tokens // 3))]
        pair_alone = np.concatenate([embedder.encode([t]) for t in pair])
        together = embedder.embed(pair, batch_size=2)
        # Keyed by the length the batch was really padded to (after special tokens and truncation).
        padded = int(together.token_counts.max())
        value = _min_cosine(pair_alone, together.vectors)
        result.by_length[padded] = min(value, result.by_length.get(padded, value))
        result.rows += 4
    result.seconds = time.perf_counter() - start
    return result
