"""The docs speak of files that exist: every repository path a README, doc or module names (a doc under
docs/, a test under tests/, a module, a manifest) and every relative Markdown link resolves in this
checkout."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATH = re.compile(r"\b(?:docs|tests|acceptance|modelprep|runtime|fixtures|tools|\.ci)/[\w./-]+"
                  r"\.(?:md|py|toml|sh|txt|mjs|json|tsv)\b")
LINK = re.compile(r"\]\((?!https?://|#)([^)#\s]+)")
PLACEHOLDERS = ("NAME", "MODEL", "RUN_DIR")  # e.g. fixtures/models/NAME.toml: a pattern, not a file


def sources() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
            *(p for d in ("acceptance", "modelprep", "runtime", "tests") for p in sorted((ROOT / d).rglob("*.py")))]


def test_every_path_the_docs_and_modules_name_exists():
    missing = []
    for source in sources():
        text = source.read_text(encoding="utf-8")
        for path in set(PATH.findall(text)):
            if not any(p in path for p in PLACEHOLDERS) and not (ROOT / path).exists():
                missing.append(f"{source.relative_to(ROOT)} names {path}")
        if source.suffix == ".md":
            for link in set(LINK.findall(text)):
                if not (source.parent / link).exists():
                    missing.append(f"{source.relative_to(ROOT)} links {link}")
    assert not missing, "\n".join(missing)
