"""Which criterion ids the acceptance tests measure, read from their @pytest.mark.criterion marks.

Read at start-up, before any selection, so that a profile naming a criterion no test measures (a
typo such as `latency.p95_ms.batch1`) is a usage error instead of a criterion that is quietly
"not-run" forever.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path

import pytest

ACCEPTANCE_DIR = Path(__file__).resolve().parent


def _marks(obj) -> Iterable[pytest.Mark]:
    marks = getattr(obj, "pytestmark", [])
    return marks if isinstance(marks, list) else [marks]


def _criterion_ids(marks: Iterable[pytest.Mark]) -> set[str]:
    ids: set[str] = set()
    for mark in marks:
        if mark.name == "criterion" and mark.args:
            ids.add(str(mark.args[0]))
        elif mark.name == "parametrize" and len(mark.args) > 1:
            for value in mark.args[1]:
                ids |= _criterion_ids(getattr(value, "marks", ()))
    return ids


def measured_criteria(directory: Path = ACCEPTANCE_DIR) -> set[str]:
    ids: set[str] = set()
    for path in sorted(directory.glob("test_*.py")):
        module = importlib.import_module(f"acceptance.{path.stem}")
        ids |= _criterion_ids(_marks(module))
        for name in dir(module):
            if name.startswith("test"):
                ids |= _criterion_ids(_marks(getattr(module, name)))
    return ids
