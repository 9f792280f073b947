"""Criteria profiles: the PRD's success criteria as data (acceptance/criteria/*.toml).

A profile may extend another and override criteria by id. Tests read targets only from here.
"""

from __future__ import annotations

import operator
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

PROFILE_DIR = Path(__file__).resolve().parent / "criteria"

COMPARATORS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq}


class ProfileError(Exception):
    """A criteria profile is missing or malformed."""


@dataclass(frozen=True)
class Criterion:
    id: str
    title: str
    prd_ref: str
    comparator: str
    target: float
    unit: str
    required: bool = True
    why: str = ""  # how the target was chosen
    aggregate: str | None = None  # "count_passed": measured = number of its tests that passed
    by_precision: dict[str, float] | None = None  # targets for non-fp32 deployments, e.g. {fp16 = 0.995}

    def passes(self, measured: float) -> bool:
        return bool(COMPARATORS[self.comparator](measured, self.target))

    @property
    def target_text(self) -> str:
        return f"{self.comparator} {self.target:g} {self.unit}".strip()


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    criteria: dict[str, Criterion]
    measurement: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def for_precision(self, precision: str) -> "Profile":
        """The profile as it applies to a deployment of this precision (fp32 uses the plain targets)."""
        criteria = {
            cid: replace(c, target=c.by_precision[precision]) if c.by_precision and precision in c.by_precision else c
            for cid, c in self.criteria.items()
        }
        return replace(self, criteria=criteria)

    def get(self, criterion_id: str) -> Criterion | None:
        return self.criteria.get(criterion_id)

    def setting(self, key: str) -> Any:
        try:
            return self.measurement[key]
        except KeyError:
            raise ProfileError(f"profile {self.name!r} has no [measurement] {key!r}") from None


def _criterion(table: dict[str, Any], where: Path) -> Criterion:
    missing = [k for k in ("id", "title", "prd_ref", "comparator", "target", "unit") if k not in table]
    if missing:
        raise ProfileError(f"{where}: criterion {table.get('id', '?')} lacks {', '.join(missing)}")
    if table["comparator"] not in COMPARATORS:
        raise ProfileError(f"{where}: criterion {table['id']}: comparator must be one of {', '.join(COMPARATORS)}")
    known = set(Criterion.__dataclass_fields__)
    unknown = set(table) - known
    if unknown:
        raise ProfileError(f"{where}: criterion {table['id']}: unknown keys {sorted(unknown)}")
    return Criterion(**table)


def resolve_profile_path(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = PROFILE_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PROFILE_DIR.glob("*.toml")))
        raise ProfileError(f"no criteria profile at {path}: use a .toml path or one of: {known}")
    return path


def load_profile(name_or_path: str | Path) -> Profile:
    path = resolve_profile_path(name_or_path)
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    head = data.get("profile", {})
    criteria: dict[str, Criterion] = {}
    measurement: dict[str, Any] = {}
    if "extends" in head:
        base = load_profile(head["extends"])
        criteria.update(base.criteria)
        measurement.update(base.measurement)
    for table in data.get("criteria", []):
        criteria[table["id"]] = _criterion(table, path)
    for dropped in head.get("drop", []):
        criteria.pop(dropped, None)
    measurement.update(data.get("measurement", {}))
    return Profile(
        name=head.get("name", path.stem), description=head.get("description", ""),
        criteria=criteria, measurement=measurement, path=path,
    )
