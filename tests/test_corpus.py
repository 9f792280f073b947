"""docs/corpus.md describes the parity corpus as it is: every class, with its count."""

import re
from pathlib import Path

from acceptance.corpora import parity_classes, parity_texts

DOC = Path(__file__).resolve().parent.parent / "docs" / "corpus.md"


def test_corpus_doc_lists_every_class_with_its_count():
    rows = dict(re.findall(r"^\| (\w+) \| (\d+) \|", DOC.read_text(encoding="utf-8"), flags=re.M))
    assert {name: len(texts) for name, texts in parity_classes().items()} == {k: int(v) for k, v in rows.items()}


def test_every_class_has_enough_texts_and_none_repeats():
    assert all(len(texts) >= 10 for texts in parity_classes().values())
    assert len(parity_texts()) == sum(len(t) for t in parity_classes().values()) == 240
