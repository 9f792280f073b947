"""Fixture texts the criteria use, read from fixtures/corpora (written for this project)."""

from __future__ import annotations

import csv
import random
from functools import cache
from pathlib import Path

from runtime.export import read_lines

CORPORA = Path(__file__).resolve().parent.parent / "fixtures" / "corpora"


@cache
def parity_texts() -> tuple[str, ...]:
    """The PRD's 8 validation texts (first in probe.txt) plus the varied sentence corpus."""
    seen: dict[str, None] = {}
    for name in ("probe.txt", "sentences.txt"):
        seen.update(dict.fromkeys(read_lines(CORPORA / name)))
    return tuple(seen)


@cache
def triplets() -> tuple[tuple[str, str, str], ...]:
    with open(CORPORA / "triplets.tsv", encoding="utf-8", newline="") as fh:
        return tuple((r["anchor"], r["related"], r["unrelated"]) for r in csv.DictReader(fh, delimiter="\t"))


@cache
def retrieval_corpus(docs: int = 500, seed: int = 0) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(documents, queries) for top-10 agreement: sentences and seeded pairs of them as documents,
    the corpus's questions and short sentence prefixes as queries."""
    sentences = list(parity_texts())
    rng = random.Random(seed)
    documents = list(sentences)
    while len(documents) < docs:
        a, b = rng.sample(sentences, 2)
        documents.append(f"{a} {b}")
    queries = [s for s in sentences if s.endswith("?")]
    queries += [" ".join(s.split()[:5]) for s in sentences if len(s.split()) > 6][: 60 - len(queries)]
    return tuple(dict.fromkeys(documents)), tuple(dict.fromkeys(queries))
