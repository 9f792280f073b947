"""What the report keeps of each MLPerf LoadGen run (acceptance/loadgen.py drives them): the scenario's
settings as the run used them, LoadGen's own figures and verdict, and where its logs are."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScenarioSettings:
    """One LoadGen run: what the profile's [measurement] says, and what the test chooses."""

    scenario: str  # SingleStream, Server, Offline
    batch_size: int  # texts per query
    text_tokens: int
    queries: int  # the query library's size (unique texts)
    min_query_count: int
    min_duration_ms: int
    max_duration_ms: int
    workers: int = 1  # threads serving queries (Server, Offline)
    target_qps: float | None = None  # Server
    latency_bound_ms: float | None = None  # Server: the P95 it is judged on
    percentile: float = 0.95
    seed: int = 0


@dataclass
class LoadRun:
    """One LoadGen run as signoff.json keeps it."""

    name: str  # its folder under reports/loadgen/
    settings: ScenarioSettings
    valid: bool  # LoadGen's own verdict (enough queries and duration; Server: the latency bound held)
    invalid_reason: str | None  # LoadGen's, when it is not
    min_queries_met: bool
    early_stopping_met: bool | None
    queries: int  # Offline: samples (LoadGen issues them as one query)
    p50_ms: float | None
    p90_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    early_stopping_p95_ms: float | None  # the bound LoadGen's early stopping puts on the P95 (SingleStream)
    queries_per_s: float  # LoadGen's: SingleStream with its overhead, Server completed, Offline samples
    texts_per_s: float
    log_dir: str
