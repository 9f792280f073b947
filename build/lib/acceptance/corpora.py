"""Fixture texts the criteria use, read from fixtures/corpora (written for this project)."""

from __future__ import annotations

import csv
import random
from functools import cache
from runtime.paths import corpora_dir, read_lines

CORPORA = corpora_dir()


def _tsv(name: str) -> list[dict[str, str]]:
    with open(CORPORA / name, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


@cache
def sentences() -> tuple[str, ...]:
    """The PRD's 8 validation texts (first in probe.txt) and the varied sentence corpus, deduplicated."""
    seen: dict[str, None] = {}
    for name in ("probe.txt", "sentences.txt"):
        seen.update(dict.fromkeys(read_lines(CORPORA / name)))
    return tuple(seen)


@cache
def parity_texts(count: int = 220, seed: int = 0) -> tuple[str, ...]:
    """At least `count` texts: every sentence, then seeded paragraphs of 3-8 sentences for length."""
    base = list(sentences())
    rng = random.Random(seed)
    texts = dict.fromkeys(base)
    while len(texts) < count:
        texts[" ".join(rng.sample(base, rng.randint(3, 8)))] = None
    return tuple(texts)


@cache
def triplets() -> tuple[tuple[str, str, str], ...]:
    return tuple((r["anchor"], r["related"], r["unrelated"]) for r in _tsv("triplets.tsv"))


@cache
def retrieval_corpus(docs: int = 500, seed: int = 0) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(documents, queries) for top-10 agreement: sentences and seeded pairs of them as documents,
    the corpus's questions, the labelled queries and short sentence prefixes as queries."""
    base = list(sentences())
    rng = random.Random(seed)
    documents = dict.fromkeys(base)
    while len(documents) < docs:
        a, b = rng.sample(base, 2)
        documents[f"{a} {b}"] = None
    queries = dict.fromkeys([s for s in base if s.endswith("?")] + [r["query"] for r in _tsv("labelled.tsv")])
    for s in base:
        if len(queries) >= 60:
            break
        if len(s.split()) > 6:
            queries[" ".join(s.split()[:5])] = None
    return tuple(documents), tuple(queries)


@cache
def labelled_set() -> tuple[tuple[str, ...], tuple[str, ...], tuple[int, ...]]:
    """(documents, queries, relevant document index per query): one labelled passage per query,
    among every triplet text and sentence as distractors."""
    rows = _tsv("labelled.tsv")
    docs = dict.fromkeys(r["relevant_passage"] for r in rows)
    for row in triplets():
        docs.update(dict.fromkeys(row))
    docs.update(dict.fromkeys(sentences()))
    order = list(docs)
    return tuple(order), tuple(r["query"] for r in rows), tuple(order.index(r["relevant_passage"]) for r in rows)
