"""Where the project's data lives: the one place that computes the path to fixtures/.

In a source checkout it is the fixtures/ folder beside runtime/; in a non-editable install it is
the package data installed as `embed_signoff_fixtures`.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent / "fixtures"


def fixtures_dir() -> Path:
    if (_CHECKOUT / "models").is_dir():
        return _CHECKOUT
    return Path(str(importlib.resources.files("embed_signoff_fixtures")))


def manifests_dir() -> Path:
    return fixtures_dir() / "models"


def corpora_dir() -> Path:
    return fixtures_dir() / "corpora"


def read_lines(path: str | Path) -> list[str]:
    """The non-blank lines of a UTF-8 text file (a corpus)."""
    return [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
