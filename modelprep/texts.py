"""Synthetic texts of the fixture vocabulary, with a fixed seed: the bench corpus, and the int8
build's calibration and dev sets (each its own seed, none of them the corpora the criteria judge on)."""

from __future__ import annotations

import random

from runtime.paths import corpora_dir

WORDS = corpora_dir() / "sentences.txt"


def corpus(n: int = 512, low: int = 5, high: int = 300, seed: int = 0) -> list[str]:
    """n texts of low..high words, drawn with a fixed seed from the fixture vocabulary."""
    words = WORDS.read_text(encoding="utf-8").split()
    rng = random.Random(seed)
    return [" ".join(rng.choices(words, k=rng.randint(low, high))) for _ in range(n)]
