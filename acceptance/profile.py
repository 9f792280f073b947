"""Criteria profiles: the PRD's success criteria as data (acceptance/criteria/*.toml).

A profile may extend another and override criteria by id. Tests read targets only from here.
"""

from __future__ import annotations

import difflib
import operator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from runtime.schema import PRECISIONS, check_choice, check_keys, check_type, read_toml

PROFILE_DIR = Path(__file__).resolve().parent / "criteria"

COMPARATORS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq}


class ProfileError(Exception):  # a usage error: the plugin turns it into pytest's exit code 4
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
    # The precisions a deployment must compute in for the criterion to apply (e.g. ["fp16"]: fp16 headroom
    # matters only where something runs in fp16); None: every deployment.
    applies_to: list[str] | None = None

    def passes(self, measured: float) -> bool:
        return bool(COMPARATORS[self.comparator](measured, self.target))

    def badness(self, measured: float) -> float:
        """The one "which direction is worse" rule: larger is worse. For an upper bound (<, <=) a larger
        value is worse, for a lower bound (>, >=, ==) a smaller one."""
        return measured if self.comparator.startswith("<") else -measured

    @property
    def target_text(self) -> str:
        """The target as every report shows it, e.g. "< 30 ms"."""
        return f"{self.comparator} {self.target:g} {self.unit}".strip()


@dataclass(frozen=True)
class Allowance:
    """How much worse than a baseline run a criterion may get before it is a regression (acceptance/baseline.py):
    a share of the baseline's value (max_pct) or an absolute amount (max_abs), in the criterion's bad direction."""

    key: str  # the criterion id or the family (the id's first part) it was given for
    max_pct: float | None = None
    max_abs: float | None = None

    @property
    def text(self) -> str:
        return f"{self.max_pct:g}% worse" if self.max_pct is not None else f"{self.max_abs:g} worse"


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    criteria: dict[str, Criterion]
    measurement: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    regression: dict[str, Allowance] = field(default_factory=dict)  # criterion id or family -> allowance

    def allowance(self, criterion_id: str) -> Allowance | None:
        """The allowance for a criterion: its own, else its family's (latency, throughput, parity, ...)."""
        return self.regression.get(criterion_id) or self.regression.get(criterion_id.split(".", 1)[0])

    def for_deployment(self, precision: str, computes_in: set[str]) -> Profile:
        """The profile as it applies to a deployment of this precision (fp32 uses the plain targets) that
        computes in `computes_in` (its precision, and e.g. fp16 for the layers a Q/DQ graph leaves unquantized
        or a TensorRT fp16 build): a criterion for other precisions (applies_to) is not part of it."""
        criteria = {
            cid: replace(c, target=c.by_precision[precision]) if c.by_precision and precision in c.by_precision else c
            for cid, c in self.criteria.items() if c.applies_to is None or set(c.applies_to) & computes_in
        }
        return replace(self, criteria=criteria)

    def get(self, criterion_id: str) -> Criterion | None:
        return self.criteria.get(criterion_id)

    def setting(self, key: str) -> Any:
        try:
            return self.measurement[key]
        except KeyError:
            raise ProfileError(f"profile {self.name!r} has no [measurement] {key!r}") from None


# The schema of a profile file. Unknown keys are errors with the closest known key as a hint.
_PROFILE_KEYS = {"name": str, "description": str, "extends": str, "drop": list}
_CRITERION_KEYS = {
    "id": str, "title": str, "prd_ref": str, "comparator": str, "target": float, "unit": str, "required": bool,
    "why": str, "aggregate": str, "by_precision": dict, "applies_to": list,
}
_CRITERION_REQUIRED = ("id", "title", "prd_ref", "comparator", "target", "unit")
AGGREGATES = ("count_passed",)
#: [measurement] settings the suite reads, and their types.
MEASUREMENT_KEYS = {
    "latency_text_tokens": int, "min_samples": dict, "min_duration_s": float,
    "grid_batch_sizes": list, "grid_text_tokens": list, "same_result_min_cosine": float, "parity_batch_sizes": list,
    "shape_sweep_length_stride": int,
    # MLPerf LoadGen (acceptance/loadgen.py): query libraries, run lengths, the Server search, goodput.
    "loadgen_queries": int, "loadgen_max_duration_ms": int, "loadgen_grid_min_queries": int,
    "loadgen_grid_min_duration_ms": int, "loadgen_grid_max_duration_ms": int, "loadgen_offline_texts": int,
    "loadgen_seed": int,
    "server_workers": int, "server_latency_bound_ms": float, "server_search_steps": int, "server_min_queries": int,
    "server_min_duration_ms": int, "goodput_sample": int, "busy_measure_every_cell": bool,
    # Contention (acceptance/contention.py): the share of this process's cores others may take during a
    # timing measurement before it is re-measured, how often, after what pause; then it is an error.
    "busy_max_others_share": float, "busy_retries": int, "busy_pause_s": float, "busy_max_gpu_others_util_pct": float,
}


def _checked(table: Any, schema: dict[str, type], where: str) -> dict[str, Any]:
    check_type(table, dict, where, ProfileError)
    check_keys(table, schema, where, ProfileError)
    for key, value in table.items():
        check_type(value, schema[key], f"{where}: {key!r}", ProfileError)
    return table


def _criterion(table: dict[str, Any], where: Path) -> Criterion:
    label = f"{where}: criterion {table.get('id', '?') if isinstance(table, dict) else '?'}"
    _checked(table, _CRITERION_KEYS, label)
    missing = [k for k in _CRITERION_REQUIRED if k not in table]
    if missing:
        raise ProfileError(f"{label} lacks {', '.join(missing)}")
    check_choice(table["comparator"], COMPARATORS, f"{label}: comparator", ProfileError)
    if "aggregate" in table:
        check_choice(table["aggregate"], AGGREGATES, f"{label}: aggregate", ProfileError)
    for precision in table.get("applies_to", []):
        check_choice(precision, PRECISIONS, f"{label}: applies_to", ProfileError)
    for precision, value in table.get("by_precision", {}).items():
        check_choice(precision, PRECISIONS, f"{label}: by_precision key", ProfileError)
        check_type(value, float, f"{label}: by_precision.{precision}", ProfileError)
    return Criterion(**table)


def resolve_profile_path(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = PROFILE_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PROFILE_DIR.glob("*.toml")))
        raise ProfileError(f"no criteria profile at {path}: use a .toml path or one of: {known}")
    return path


def load_profile(name_or_path: str | Path, _chain: tuple[Path, ...] = ()) -> Profile:
    """Load a profile, strictly: unknown keys, wrong types, a `drop` of an unknown criterion and an
    `extends` cycle are ProfileErrors that name the file and the key."""
    path = resolve_profile_path(name_or_path).resolve()
    if path in _chain:
        cycle = " -> ".join(p.stem for p in (*_chain, path))
        raise ProfileError(f"{path}: 'extends' forms a cycle ({cycle}); one profile must stand alone")
    data = read_toml(path, ProfileError)
    check_keys(data, ("profile", "criteria", "measurement", "regression"), str(path), ProfileError)
    head = _checked(data.get("profile", {}), _PROFILE_KEYS, f"{path} [profile]")
    criteria: dict[str, Criterion] = {}
    measurement: dict[str, Any] = {}
    regression: dict[str, Allowance] = {}
    if "extends" in head:
        parent = head["extends"]  # a built-in name, or a .toml path relative to this file
        base = load_profile(path.parent / parent if parent.endswith(".toml") else parent, (*_chain, path))
        criteria.update(base.criteria)
        measurement.update(base.measurement)
        regression.update(base.regression)
    tables = data.get("criteria", [])
    check_type(tables, list, f"{path}: criteria", ProfileError)
    for table in tables:
        crit = _criterion(table, path)
        criteria[crit.id] = crit
    for dropped in head.get("drop", []):
        if dropped not in criteria:
            close = difflib.get_close_matches(str(dropped), list(criteria), n=1)
            raise ProfileError(f"{path}: drop names {dropped!r}, which no criterion has"
                               + (f"; did you mean {close[0]!r}?" if close else ""))
        criteria.pop(dropped)
    measurement.update(_checked(data.get("measurement", {}), MEASUREMENT_KEYS, f"{path} [measurement]"))
    regression.update(_allowances(data.get("regression", {}), criteria, path))
    return Profile(
        name=head.get("name", path.stem), description=head.get("description", ""),
        criteria=criteria, measurement=measurement, path=path, regression=regression,
    )


def _allowances(table: Any, criteria: dict[str, Criterion], path: Path) -> dict[str, Allowance]:
    """[regression] KEY = { max_pct = N } or { max_abs = N }, KEY a criterion id or a family of them."""
    check_type(table, dict, f"{path} [regression]", ProfileError)
    families = {cid.split(".", 1)[0] for cid in criteria}
    out = {}
    for key, value in table.items():
        where = f"{path} [regression] {key!r}"
        if key not in criteria and key not in families:
            close = difflib.get_close_matches(key, sorted(set(criteria) | families), n=1)
            raise ProfileError(f"{where}: names no criterion or family of this profile"
                               + (f"; did you mean {close[0]!r}?" if close else ""))
        _checked(value, {"max_pct": float, "max_abs": float}, where)
        if len(value) != 1 or next(iter(value.values())) < 0:
            raise ProfileError(f"{where} needs exactly one of max_pct or max_abs, not negative")
        out[key] = Allowance(key=key, **{k: float(v) for k, v in value.items()})
    return out
