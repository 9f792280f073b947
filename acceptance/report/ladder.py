"""The precision ladder's data: each precision variant of a model, judged on the quality criteria against
the same PyTorch fp32 baseline and measured for speed and memory. Written by acceptance/precision_ladder.py
to reports/precision/ladder.json, read by the renderer (signoff.md, the frontier plot) and by `make bench`
(which variants signed off)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acceptance.report.serial import (
    ReportFormatError,
    check_version,
    from_jsonable,
    read_json,
    to_jsonable,
    write_json,
)
from modelprep.graph_audit import GraphAudit

SCHEMA_VERSION = 2  # 1: the untyped ladder of earlier runs, which the renderer no longer reads
LADDER_FILE = Path("precision") / "ladder.json"  # under the reports dir


@dataclass
class Speed:
    """One deployment measured alone in a fresh process."""

    texts_per_s: float  # bulk: the bench corpus at batch 32, best of 2 passes
    bulk_texts: int
    batch_size: int
    threads: int
    batch1_p50_ms: float
    batch1_p95_ms: float
    batch1_queries: int
    memory_mb: float  # resident memory the deployment added
    provider: str
    provider_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class LadderRow:
    model: str
    precision: str
    main: bool  # the run the ladder stands beside (judged on every criterion)
    run_id: str | None = None
    not_run: str | None = None  # why its quality run did not happen (not available on this machine, ...)
    judged: int = 0  # required criteria its run judged (not "not-run")
    missed: list[str] = field(default_factory=list)  # required criteria judged and not met
    broke: str = ""  # when every missed criterion broke for one reason (a build that failed), that reason
    signed_off: bool = False  # the main run: its verdict; a variant: every judged quality criterion met
    min_cosine: float | None = None
    mean_cosine: float | None = None
    parity_target: str | None = None
    recall_at_10: float | None = None
    speed: Speed | None = None
    speed_note: str = ""  # why there is no speed figure (its run did not run, or only TensorRT's counts)
    graph: GraphAudit | None = None  # the precision its graph really has

    @property
    def verdict(self) -> str:
        """What the row's verdict covers, in words."""
        if self.not_run is not None:
            return f"NOT RUN ({self.not_run})"
        if self.main:
            return "SIGNED OFF" if self.signed_off else "NOT SIGNED OFF"
        if not self.judged:
            return "NOT SIGNED OFF (no criterion judged)"
        if self.broke:
            return f"NOT SIGNED OFF (every criterion broke: {self.broke})"
        return f"quality criteria met ({self.judged})" if self.signed_off else "NOT SIGNED OFF"


@dataclass
class PrecisionLadder:
    base: str  # the main run's model
    profile: str
    invocation: str | None  # the `make signoff` it belongs to: never merged into another's report
    threads: int
    machine: str
    created_at: str
    rows: list[LadderRow]
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        return to_jsonable(self)

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str | Path = LADDER_FILE) -> PrecisionLadder:
        version = check_version(data, Path(where), "precision ladder", SCHEMA_VERSION)
        if version < SCHEMA_VERSION:
            raise ReportFormatError(f"{where}: a precision ladder of schema version {version}, from before typed "
                                    "reports; run make signoff again to measure a new one")
        return from_jsonable(cls, data, str(where))

    def write(self, reports_dir: Path) -> Path:
        return write_json(reports_dir / LADDER_FILE, self.to_json())

    @classmethod
    def read(cls, reports_dir: Path) -> PrecisionLadder:
        path = reports_dir / LADDER_FILE
        return cls.from_json(read_json(path, "precision ladder"), path)

    def signed_off_rows(self) -> list[LadderRow]:
        return [r for r in self.rows if r.signed_off and r.not_run is None]
