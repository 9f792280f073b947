"""Prove the suite can fail, and that it does not fail good builds.

Each mutant is a broken deployment of an embedded model; the acceptance suite runs against it in
a subprocess (its own reports dir) and must trip exactly the criteria the mutant should trip. Two
known-good exports from other toolchains must pass every criterion that runs. The results are
written to docs/mutants.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.manifest import load_manifest
from tests import mutants as m

ROOT = Path(__file__).resolve().parent.parent

# Order invariance cannot catch the padding mutants: the runtime sorts every batch by length, so a
# reordered batch pads exactly as before. Batch invariance (alone vs. in a batch) is what catches them.
# Criteria a deployment of a model can fail on this CPU in the meta-run selection (see suite_args).
MEASURED = {
    "integration.tests_passing", "latency.p95_ms.batch_1", "throughput.qps.threads_1", "throughput.qps.threads_4",
    "parity.min_cosine", "retrieval.recall_at_10", "norm.max_deviation", "quality.semantic_pass_rate",
    "edge.finite_unit_norm", "edge.deterministic", "edge.batch_invariance", "edge.order_invariance",
    "edge.truncation_stable", "edge.blank_rejected",
}
EVERYTHING = frozenset(MEASURED)

MUTANTS = [
    m.Mutant("perturbed-weights", "all-minilm-l6-v2", "perturbed_weights",
             frozenset({"parity.min_cosine", "retrieval.recall_at_10"}), options={"relative_noise": 0.07},
             why="noise on every weight matrix: mean cosine to the baseline ~0.97; still unit-norm"),
    m.Mutant("perturbed-weights", "qwen3-tiny", "perturbed_weights",
             frozenset({"parity.min_cosine", "retrieval.recall_at_10"}), options={"relative_noise": 0.06},
             why="as above, on the decoder"),
    m.Mutant("cls-pooling", "all-minilm-l6-v2", "same_model", frozenset({"parity.min_cosine", "retrieval.recall_at_10"}),
             options={"pooling": "cls"}, why="CLS instead of mean pooling"),
    m.Mutant("mean-pooling", "qwen3-tiny", "same_model", frozenset({"parity.min_cosine", "retrieval.recall_at_10"}),
             options={"pooling": "mean"}, why="mean instead of last-token pooling"),
    m.Mutant("right-padding-final-position", "qwen3-tiny", "same_model",
             frozenset({"parity.min_cosine", "retrieval.recall_at_10", "edge.batch_invariance"}),
             args=("--inject-fault", "final-position-pooling"), options={"padding_side": "right"},
             why="right padding while last-token pooling reads the final position, which is padding"),
    m.Mutant("no-normalization", "all-minilm-l6-v2", "same_model",
             frozenset({"norm.max_deviation", "edge.finite_unit_norm", "integration.tests_passing",
                        "retrieval.recall_at_10"}),
             options={"normalize": False},
             why="L2 normalization left out (dot-product search then ranks by length too, so retrieval trips)"),
    m.Mutant("wrong-dimension", "all-minilm-l6-v2", "same_model", EVERYTHING, options={"dimension": 768},
             why="manifest says 768-d, the graph gives 384: a model/config error, every test errors"),
    m.Mutant("slow-session", "all-minilm-l6-v2", "same_model",
             frozenset({"latency.p95_ms.batch_1", "throughput.qps.threads_1", "throughput.qps.threads_4"}),
             args=("--inject-fault", "sleep:150"),
             why="every session.run stalls 150 ms (4 threads then peak near 27 QPS); quality untouched"),
    m.Mutant("mask-ignored", "all-minilm-l6-v2", "mask_ignored",
             frozenset({"parity.min_cosine", "retrieval.recall_at_10", "edge.batch_invariance"}),
             why="the exported graph computes with an all-ones attention mask"),
    m.Mutant("mask-ignored", "qwen3-tiny", "mask_ignored",
             frozenset({"parity.min_cosine", "retrieval.recall_at_10", "edge.batch_invariance"}),
             why="as above, on the decoder (left padding attended)"),
    m.Mutant("foreign-tokenizer", "all-minilm-l6-v2", "foreign_tokenizer",
             frozenset({"parity.min_cosine", "retrieval.recall_at_10", "quality.semantic_pass_rate",
                        "integration.tests_passing"}),
             options={"tokenizer_of": "qwen3-tiny"}, why="qwen3-tiny's tokenizer.json next to MiniLM's graph"),
    m.Mutant("nondeterministic", "all-minilm-l6-v2", "same_model", frozenset({
        "edge.deterministic", "edge.batch_invariance", "edge.order_invariance", "parity.min_cosine",
        "integration.tests_passing"}), may_trip=frozenset({"edge.truncation_stable", "retrieval.recall_at_10"}),
             args=("--inject-fault", "nondeterministic"),
             why="fresh noise in the hidden states on every call (unseeded: truncation and retrieval may trip too)"),
    m.Mutant("unordered-output", "all-minilm-l6-v2", "same_model", frozenset({
        "edge.batch_invariance", "edge.order_invariance", "integration.tests_passing", "parity.min_cosine",
        "quality.semantic_pass_rate", "retrieval.recall_at_10"}),
             args=("--inject-fault", "unordered-output"), why="rows returned in batching order, not input order"),
    m.Mutant("truncation-past-max-length", "all-minilm-l6-v2", "same_model", frozenset({"edge.truncation_stable", "integration.tests_passing"}),
             args=("--inject-fault", "truncation:512"), why="the tokenizer truncates at 512 tokens, not the manifest's 256"),
    m.Mutant("blank-accepted", "all-minilm-l6-v2", "same_model", frozenset({"edge.blank_rejected", "integration.tests_passing"}),
             args=("--inject-fault", "accept-blank"), why="empty and whitespace-only texts embedded instead of rejected"),
    m.Mutant("provider-fallback", "all-minilm-l6-v2", "same_model", EVERYTHING,
             args=("--provider", "cuda", "--strict-provider"),
             why="asked for CUDA under strict mode on a machine without it: the run fails, it does not fall back"),
]
KNOWN_GOOD = [
    m.Mutant("sentence-transformers-onnx", "all-minilm-l6-v2", "sentence_transformers_export", frozenset(),
             why="sentence-transformers' backend='onnx' export (optimum underneath)"),
    m.Mutant("optimum-O2", "all-minilm-l6-v2", "optimum_o2_export", frozenset(),
             why="optimum graph optimization level O2 (fused attention, gelu, layer norms)"),
]


def suite_args(reports: Path, manifest: Path) -> list[str]:
    # One intra-op thread per run: two xdist workers must not fight over the two cores and turn a
    # good build's latency into a false failure. Resource probes and the large latency cells are
    # covered by the acceptance runs themselves and left out to keep this under CI's budget.
    return [sys.executable, "-m", "pytest", "acceptance", "-p", "no:cacheprovider", "-q",
            "--reports-dir", str(reports), "--model", str(manifest), "--intra-op-threads", "1",
            "--accept-profile", str(ROOT / "tests" / "meta-profile.toml"),
            "-m", "not resources", "-k", "not batch_8 and not batch_32"]


ROWS = ROOT / "reports" / "mutants"


@pytest.fixture
def table(request):
    """Each run leaves a row in reports/mutants/; the table is written once every row is there
    (xdist spreads the runs over workers, so no single process sees them all)."""
    rows: list[dict] = []
    yield rows
    ROWS.mkdir(parents=True, exist_ok=True)
    for row in rows:
        case = row.pop("case")
        name = f"{case.base}-{case.name}"
        (ROWS / f"{name}.json").write_text(json.dumps(row | {"name": name}))
    names = {f"{c.base}-{c.name}" for c in MUTANTS + KNOWN_GOOD}
    done = {json.loads(p.read_text())["name"]: json.loads(p.read_text()) for p in ROWS.glob("*.json")}
    if names <= set(done):
        write_table(done, ROOT / "docs" / "mutants.md")


def run_against(case: m.Mutant, workdir: Path) -> tuple[dict, str]:
    base = load_manifest(case.base)
    builder = getattr(m, case.build)
    options = dict(case.options)
    if "tokenizer_of" in options:
        options["tokenizer_of"] = load_manifest(options["tokenizer_of"])
    manifest = builder(base, workdir / "model", id=f"{case.base}-{case.name}", **options)
    env = os.environ | {"HYPOTHESIS_PROFILE": "meta"}
    done = subprocess.run(suite_args(workdir / "reports", manifest) + list(case.args), cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    signoff = workdir / "reports" / "signoff.json"
    assert signoff.is_file(), f"no signoff.json (exit {done.returncode}): {done.stdout[-3000:]}{done.stderr[-2000:]}"
    return json.loads(signoff.read_text()), done.stdout


def tripped(signoff: dict) -> set[str]:
    return {c["id"] for c in signoff["criteria"] if c["status"] in ("fail", "error")}


@pytest.mark.parametrize("case", MUTANTS, ids=[f"{c.base}-{c.name}" for c in MUTANTS])
def test_mutant_is_caught_by_exactly_its_criteria(case, tmp_path, table):
    signoff, out = run_against(case, tmp_path)
    caught = tripped(signoff)
    table.append({"case": case, "caught": sorted(caught), "verdict": signoff["verdict"]})
    assert signoff["verdict"] == "not-signed-off", out[-3000:]
    assert set(case.expect_fail) <= caught <= set(case.expect_fail | case.may_trip), (
        f"expected to trip {sorted(case.expect_fail)} (and maybe {sorted(case.may_trip)}), tripped {sorted(caught)}"
        f"\n{out[-4000:]}")
    ran = {c["id"] for c in signoff["criteria"] if c["status"] != "not-run"}
    assert MEASURED <= ran | {"quality.semantic_pass_rate"}, f"criteria did not run: {sorted(MEASURED - ran)}"


@pytest.mark.parametrize("case", KNOWN_GOOD, ids=[c.name for c in KNOWN_GOOD])
def test_known_good_export_passes_every_criterion(case, tmp_path, table):
    signoff, out = run_against(case, tmp_path)
    table.append({"case": case, "caught": sorted(tripped(signoff)), "verdict": signoff["verdict"]})
    statuses = {c["id"]: c["status"] for c in signoff["criteria"]}
    assert {k for k in MEASURED if statuses[k] != "pass"} == set(), f"{statuses}\n{out[-4000:]}"


def write_table(done: dict[str, dict], path: Path) -> None:
    cases = {f"{c.base}-{c.name}": c for c in MUTANTS + KNOWN_GOOD}
    rows = [done[name] | {"case": case} for name, case in cases.items()]
    lines = [
        "# Mutants: broken deployments and the criteria that caught them",
        "",
        "Generated by `tests/test_mutants.py` (runs in `make test` and CI). Each row is a deployment run through",
        "the acceptance suite (profile `tests/meta-profile.toml`: cpu-default with a smaller latency grid).",
        "The meta runs leave out the resource probes and the batch 8/32 latency cells to fit CI's budget, so",
        "their verdict is never SIGNED OFF; what matters is which criteria failed. A known-good export must",
        "trip none of the criteria that ran.",
        "",
        "| deployment | base model | what is broken | criteria expected to trip | criteria that tripped | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for row in sorted(rows, key=lambda r: (bool(r["case"].expect_fail) is False, r["case"].base, r["case"].name)):
        case = row["case"]
        expected = "all (every test errors)" if case.expect_fail == EVERYTHING else (
            ", ".join(sorted(case.expect_fail)) or "none (known-good)")
        caught = "all (every test errors)" if set(row["caught"]) >= EVERYTHING else (", ".join(row["caught"]) or "none")
        lines.append(f"| {case.name} | {case.base} | {case.why} | {expected} | {caught} | {row['verdict']} |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
