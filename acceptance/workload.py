"""Texts for the performance criteria: a unique text of an exact token count for every query (so no cache can
serve it), from a fixed seed. LoadGen (acceptance/loadgen.py) decides when and how many to send."""

from __future__ import annotations

import random

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


def alone_vs_batched(embedder: Embedder, texts: list[str], batched: np.ndarray) -> float:
    """Min cosine of each row of a batch's output against the same text embedded alone (outside any timing)."""
    alone = np.concatenate([embedder.encode([t]) for t in texts])
    return float(cosines(alone, batched).min())
