"""Fixture texts the criteria use, read from fixtures/corpora (written for this project)."""

from __future__ import annotations

import csv
import random
from functools import cache

from runtime.paths import corpora_dir, read_lines

CORPORA = corpora_dir()


def _tsv(name: str) -> list[dict[str, str]]:
    # QUOTE_NONE: a " inside a text (code, quotations) is text, not CSV quoting.
    with open(CORPORA / name, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


@cache
def sentences() -> tuple[str, ...]:
    """The PRD's 8 validation texts (first in probe.txt) and the varied sentence corpus, deduplicated."""
    seen: dict[str, None] = {}
    for name in ("probe.txt", "sentences.txt"):
        seen.update(dict.fromkeys(read_lines(CORPORA / name)))
    return tuple(seen)


#: Long texts: each joins this many corpus sentences, well past any manifest's max_length (512 tokens).
LONG_TEXT_SENTENCES = 60


@cache
def parity_classes(count: int = 240, seed: int = 0) -> dict[str, tuple[str, ...]]:
    """The parity corpus by what it covers (docs/corpus.md): the sentence corpus (the PRD's texts first),
    the classes of coverage.tsv (languages, numbers, code, punctuation, emoji, very short texts), long
    texts past max_length, and seeded paragraphs of 3-8 sentences up to `count` texts in all."""
    rng = random.Random(seed)
    base = list(sentences())
    classes: dict[str, dict[str, None]] = {"sentences": dict.fromkeys(base)}
    for row in _tsv("coverage.tsv"):
        classes.setdefault(row["class"], {})[row["text"]] = None
    classes["long"] = dict.fromkeys(" ".join(rng.sample(base, LONG_TEXT_SENTENCES)) for _ in range(10))
    seen = {t for texts in classes.values() for t in texts}
    paragraphs: dict[str, None] = {}
    while len(seen) + len(paragraphs) < count:
        text = " ".join(rng.sample(base, rng.randint(3, 8)))
        if text not in seen:
            paragraphs[text] = None
    classes["paragraphs"] = paragraphs
    return {name: tuple(texts) for name, texts in classes.items()}


@cache
def parity_texts(count: int = 240, seed: int = 0) -> tuple[str, ...]:
    """At least `count` texts of every class of parity_classes(), each once."""
    return tuple(dict.fromkeys(t for texts in parity_classes(count, seed).values() for t in texts))


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


@cache
def headroom_texts() -> tuple[str, ...]:
    """Texts that drive activations to their largest values (fixtures/corpora/headroom.txt): single words,
    64+ token inputs, long repetitive ones."""
    return tuple(line for line in read_lines(corpora_dir() / "headroom.txt") if not line.startswith("# "))
