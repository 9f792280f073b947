"""`make bench`'s report: the figures modelprep.bench measured, the machine, and each speed goal judged
from them (met, missed, or not judged with why). Written to reports/bench.json by acceptance/bench.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acceptance.report.serial import check_version, from_jsonable, read_json, to_jsonable, write_json
from acceptance.report.signoff import CpuInfo
from modelprep.bench import BenchFigures

SCHEMA_VERSION = 2


@dataclass
class Goal:
    name: str
    goal: str  # what it asks, in words
    met: bool | None  # None: not judged here, with the reason in `note`
    measured: float | None = None
    target: float | None = None
    note: str = ""  # what was compared, or why it was not judged
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def shown(self) -> str:
        return {True: "met", False: "NOT met", None: "not judged"}[self.met]


@dataclass
class BenchReport:
    model: str
    host: str
    cpu: CpuInfo
    created_at: str
    figures: BenchFigures
    goals: list[Goal]
    signed_off_by: str  # where the variants' sign-off came from (the precision ladder's run), or why none
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        return to_jsonable(self)

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str | Path = "bench.json") -> BenchReport:
        check_version(data, Path(where), "bench report", SCHEMA_VERSION)
        return from_jsonable(cls, data, str(where))

    def write(self, path: Path) -> Path:
        return write_json(path, self.to_json())

    @classmethod
    def read(cls, path: Path) -> BenchReport:
        return cls.from_json(read_json(path, "bench report"), path)
