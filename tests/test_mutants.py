"""Prove the suite can fail, and that it does not fail good builds.

Each mutant is a broken deployment of an embedded model; the acceptance suite runs against it in
a subprocess (its own reports dir) and must trip exactly the criteria the mutant should trip. Two
known-good exports from other toolchains must pass every criterion that runs.

Each is judged on what it is about, so that a slow or shared machine cannot fail a meta-test: quality
mutants and known-good exports run every criterion but timing (latency and throughput are deselected);
the timing mutant is judged against the healthy deployment measured in the same test, through the
regression criteria of a baseline comparison (a ratio, not an absolute threshold). Each run leaves its
row in reports/mutants/; `make mutants-doc` writes docs/mutants.md from them, and a test checks that the
committed table still describes these mutants (no test rewrites a tracked file).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelprep.assets import ensure_artifacts
from runtime.manifest import load_manifest
from tests import mutants as m

ROOT = Path(__file__).resolve().parent.parent
ROWS = ROOT / "reports" / "mutants"
DOC = ROOT / "docs" / "mutants.md"

# Order invariance cannot catch the padding mutants: the runtime sorts every batch by length, so a
# reordered batch pads exactly as before. Batch invariance (alone vs. in a batch) is what catches them.
# The criteria a quality run measures on this CPU (timing and resources are left out, see QUALITY_SELECTION).
MEASURED = {
    "integration.tests_passing", "parity.min_cosine", "parity.tokenizer_exact_match", "retrieval.recall_at_10",
    "norm.max_deviation", "quality.semantic_pass_rate", "edge.finite_unit_norm", "edge.deterministic",
    "edge.batch_invariance", "edge.order_invariance", "edge.truncation_stable", "edge.shape_invariance",
    "edge.blank_rejected",
}
EVERYTHING = frozenset(MEASURED)
TIMING = ("latency.p95_ms.batch_1", "throughput.qps.threads_1", "throughput.qps.threads_4")
QUALITY_SELECTION = ["-m", "not resources and not latency and not throughput"]
TIMING_SELECTION = ["-m", "latency or throughput", "-k", "batch_1 or threads"]

#: Swapped vocabulary entries of the remapped-tokens mutant: 21 of the 240 parity texts change, min cosine 0.9942.
REMAPPED = (("recognise", "recognize"), ("cell", "cells"), ("minutes", "minute"))

MUTANTS = [
    m.Mutant("perturbed-weights", "all-minilm-l6-v2", "perturbed_weights",
             frozenset({"parity.min_cosine", "retrieval.recall_at_10"}), options={"relative_noise": 0.07},
             why="noise on every weight matrix: mean cosine to the baseline ~0.97; still unit-norm"),
    m.Mutant("perturbed-weights", "qwen3-tiny", "perturbed_weights",
             frozenset({"parity.min_cosine", "retrieval.recall_at_10"}), options={"relative_noise": 0.06},
             why="as above, on the decoder"),
    m.Mutant("cls-pooling", "all-minilm-l6-v2", "same_model",
             frozenset({"parity.min_cosine", "retrieval.recall_at_10"}),
             options={"pooling": "cls"}, why="CLS instead of mean pooling"),
    m.Mutant("mean-pooling", "qwen3-tiny", "same_model", frozenset({"parity.min_cosine", "retrieval.recall_at_10"}),
             options={"pooling": "mean"}, why="mean instead of last-token pooling"),
    m.Mutant("right-padding-final-position", "qwen3-tiny", "same_model",
             frozenset({"parity.min_cosine", "retrieval.recall_at_10", "edge.batch_invariance",
                        "edge.shape_invariance", "parity.tokenizer_exact_match"}),
             args=("--inject-fault", "final-position-pooling"), options={"padding_side": "right"},
             why="right padding while last-token pooling reads the final position, which is padding "
                 "(the tokenizer stage sees the padding side differ from the baseline's)"),
    m.Mutant("no-normalization", "all-minilm-l6-v2", "same_model",
             frozenset({"norm.max_deviation", "edge.finite_unit_norm", "integration.tests_passing",
                        "retrieval.recall_at_10"}),
             options={"normalize": False},
             why="L2 normalization left out (dot-product search then ranks by length too, so retrieval trips)"),
    m.Mutant("wrong-dimension", "all-minilm-l6-v2", "same_model", EVERYTHING, options={"dimension": 768},
             why="manifest says 768-d, the graph gives 384: a model/config error, every test errors"),
    m.Mutant("mask-ignored", "all-minilm-l6-v2", "mask_ignored",
             frozenset({"parity.min_cosine", "retrieval.recall_at_10", "edge.batch_invariance",
                        "edge.shape_invariance"}),
             why="the exported graph computes with an all-ones attention mask"),
    m.Mutant("mask-ignored", "qwen3-tiny", "mask_ignored",
             frozenset({"parity.min_cosine", "retrieval.recall_at_10", "edge.batch_invariance",
                        "edge.shape_invariance"}),
             why="as above, on the decoder (left padding attended)"),
    m.Mutant("foreign-tokenizer", "all-minilm-l6-v2", "foreign_tokenizer",
             frozenset({"parity.min_cosine", "retrieval.recall_at_10", "quality.semantic_pass_rate",
                        "integration.tests_passing", "parity.tokenizer_exact_match"}),
             options={"tokenizer_of": "qwen3-tiny"}, why="qwen3-tiny's tokenizer.json next to MiniLM's graph"),
    m.Mutant("nondeterministic", "all-minilm-l6-v2", "same_model", frozenset({
        "edge.deterministic", "edge.batch_invariance", "edge.order_invariance", "edge.shape_invariance",
        "parity.min_cosine", "integration.tests_passing"}),
             may_trip=frozenset({"edge.truncation_stable", "retrieval.recall_at_10"}),
             args=("--inject-fault", "nondeterministic"),
             why="fresh noise in the hidden states on every call (unseeded: truncation and retrieval may trip too)"),
    m.Mutant("unordered-output", "all-minilm-l6-v2", "same_model", frozenset({
        "edge.batch_invariance", "edge.order_invariance", "edge.shape_invariance", "integration.tests_passing",
        "parity.min_cosine", "quality.semantic_pass_rate", "retrieval.recall_at_10"}),
             args=("--inject-fault", "unordered-output"), why="rows returned in batching order, not input order"),
    m.Mutant("truncation-past-max-length", "all-minilm-l6-v2", "same_model", frozenset({
        "edge.truncation_stable", "integration.tests_passing", "parity.min_cosine", "parity.tokenizer_exact_match"}),
             args=("--inject-fault", "truncation:512"),
             why="the tokenizer truncates at 512 tokens, not the manifest's 256 (the corpus's long texts show it)"),
    m.Mutant("blank-accepted", "all-minilm-l6-v2", "same_model",
             frozenset({"edge.blank_rejected", "integration.tests_passing"}), args=("--inject-fault", "accept-blank"),
             why="empty and whitespace-only texts embedded instead of rejected"),
    # Wrong at one shape outside the grid (1/4/8/16/32 x 10/50/100/256): only the exhaustive shape sweep
    # (every batch size, lengths on a stride of 7) catches them, on every run.
    m.Mutant("wrong-at-batch-5", "all-minilm-l6-v2", "wrong_at_batch_size", frozenset({"edge.shape_invariance"}),
             options={"batch_size": 5},
             why="a graph edit adds a fixed vector to every token state only when the batch holds 5 texts "
                 "(as a TensorRT profile or shape-specialised kernel can); every other shape is exact"),
    m.Mutant("wrong-at-batch-27", "all-minilm-l6-v2", "wrong_at_batch_size", frozenset({"edge.shape_invariance"}),
             options={"batch_size": 27},
             why="a fixed vector added to every token state only when the batch holds 27 texts, past the "
                 "batches edge.batch_invariance draws (up to 7)"),
    m.Mutant("wrong-at-lengths-137-143", "all-minilm-l6-v2", "wrong_at_lengths", frozenset({"edge.shape_invariance"}),
             options={"low": 137, "high": 143},
             why="a fixed vector added to every token state only when the batch is padded to 137-143 tokens "
                 "(a range of 7, the profile's stride), between the grid's 100 and 256"),
    m.Mutant("remapped-tokens", "all-minilm-l6-v2", "remapped_tokens",
             frozenset({"parity.tokenizer_exact_match", "parity.min_cosine"}), options={"pairs": REMAPPED},
             why="tokenizer.json with three pairs of near-synonym vocabulary entries swapped: min cosine 0.994, "
                 "which passes thor-week2's 0.99 (see the test below) but not the tokenizer criterion"),
]
KNOWN_GOOD = [
    m.Mutant("sentence-transformers-onnx", "all-minilm-l6-v2", "sentence_transformers_export", frozenset(),
             why="sentence-transformers' backend='onnx' export (optimum underneath)"),
    m.Mutant("optimum-O2", "all-minilm-l6-v2", "optimum_o2_export", frozenset(),
             why="optimum graph optimization level O2 (fused attention, gelu, layer norms)"),
]


SLOW_SESSION = m.Mutant(
    "slow-session", "all-minilm-l6-v2", "same_model", frozenset(f"regression.{c}" for c in TIMING),
    may_trip=frozenset(TIMING), args=("--inject-fault", "sleep:200"),
    why="every session.run stalls 200 ms; judged against the healthy deployment measured in the same test "
        "(regression criteria, a ratio), since an absolute target would also judge the machine")


#: Every call stalls a second: a batch of 32 texts can then come back at no more than 32 texts/s whatever the
#: machine, below cpu-default's 40, so one run judges it absolutely (no healthy run needed beside it).
STALLED_BULK = m.Mutant(
    "stalled-bulk", "all-minilm-l6-v2", "same_model", frozenset({"throughput.offline_texts_per_s"}),
    args=("--inject-fault", "sleep:1000"),
    why="every session.run stalls 1 s: bulk throughput at batch 32 is at most 32 texts/s by construction, under "
        "cpu-default's 40 on any machine (only the Offline run is selected)")
SERVER_SELECTION = ["-m", "latency or throughput", "-k", "batch_1 or server_qps"]
#: A simulated device: every call takes 20 ms with the CPU free, as a GPU's kernels leave it (the healthy run).
DEVICE_20_MS = ("--inject-fault", "sleep:20")
SERIALIZED = m.Mutant(
    "serialized-calls", "all-minilm-l6-v2", "same_model", frozenset({"regression.throughput.server_qps"}),
    may_trip=frozenset({"latency.p95_ms.batch_1", "throughput.server_qps"}),
    args=("--inject-fault", "sleep:20,serialize"),
    why="every session.run of a simulated 20 ms device waits for one lock (4 LoadGen threads served one at a time); "
        "judged against the same device without the lock measured in the same test. Its absolute batch-1 latency "
        "and Server rate are the simulated device's, judged against a CPU profile")


def suite_args(reports: Path, manifest: Path, profile: str = "meta-profile.toml") -> list[str]:
    # One intra-op thread per run: two xdist workers must not fight over the two cores.
    return [sys.executable, "-m", "pytest", "acceptance", "-p", "no:cacheprovider", "-q",
            "--reports-dir", str(reports), "--model", str(manifest), "--intra-op-threads", "1",
            "--accept-profile", str(ROOT / "tests" / profile)]


def build(case: m.Mutant, workdir: Path) -> Path:
    base = load_manifest(case.base)
    ensure_artifacts(base)  # a mutant is made from the built model: never rely on another test to build it first
    options = dict(case.options)
    if "tokenizer_of" in options:
        options["tokenizer_of"] = load_manifest(options["tokenizer_of"])
        ensure_artifacts(options["tokenizer_of"])
    return getattr(m, case.build)(base, workdir / "model", id=f"{case.base}-{case.name}", **options)


def run_suite(args: list[str], reports: Path) -> tuple[dict, str]:
    env = os.environ | {"HYPOTHESIS_PROFILE": "meta"}
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    signoff = reports / "signoff.json"
    assert signoff.is_file(), f"no signoff.json (exit {done.returncode}): {done.stdout[-3000:]}{done.stderr[-2000:]}"
    return json.loads(signoff.read_text()), done.stdout


def run_against(case: m.Mutant, workdir: Path) -> tuple[dict, str]:
    manifest = build(case, workdir)
    reports = workdir / "reports"
    return run_suite(suite_args(reports, manifest) + QUALITY_SELECTION + list(case.args), reports)


def tripped(signoff: dict) -> set[str]:
    return {c["id"] for c in signoff["criteria"] if c["status"] in ("fail", "error")}


def keep_row(case: m.Mutant, caught: set[str], verdict: str) -> None:
    """The run's row for docs/mutants.md (written by `make mutants-doc`, never by a test)."""
    ROWS.mkdir(parents=True, exist_ok=True)
    name = f"{case.base}-{case.name}"
    (ROWS / f"{name}.json").write_text(json.dumps({"name": name, "caught": sorted(caught), "verdict": verdict}))


@pytest.mark.parametrize("case", MUTANTS, ids=[f"{c.base}-{c.name}" for c in MUTANTS])
def test_mutant_is_caught_by_exactly_its_criteria(case, tmp_path):
    signoff, out = run_against(case, tmp_path)
    caught = tripped(signoff)
    keep_row(case, caught, signoff["verdict"])
    assert signoff["verdict"] == "not-signed-off", out[-3000:]
    assert set(case.expect_fail) <= caught <= set(case.expect_fail | case.may_trip), (
        f"expected to trip {sorted(case.expect_fail)} (and maybe {sorted(case.may_trip)}), tripped {sorted(caught)}"
        f"\n{out[-4000:]}")
    ran = {c["id"] for c in signoff["criteria"] if c["status"] != "not-run"}
    assert MEASURED <= ran | {"quality.semantic_pass_rate"}, f"criteria did not run: {sorted(MEASURED - ran)}"
    unmeasured = sorted(c["id"] for c in signoff["criteria"] if c["status"] == "fail" and c["measured"] is None)
    assert not unmeasured, f"failed without saying what they measured: {unmeasured}"


@pytest.mark.parametrize("case", KNOWN_GOOD, ids=[c.name for c in KNOWN_GOOD])
def test_known_good_export_passes_every_criterion(case, tmp_path):
    signoff, out = run_against(case, tmp_path)
    keep_row(case, tripped(signoff), signoff["verdict"])
    statuses = {c["id"]: c["status"] for c in signoff["criteria"]}
    assert {k for k in MEASURED if statuses[k] != "pass"} == set(), f"{statuses}\n{out[-4000:]}"


def test_slow_session_regresses_against_the_healthy_run_beside_it(tmp_path):
    """The timing mutant, judged as a ratio: the same deployment measured healthy, then with every
    session.run stalled, compared through --baseline. Both runs see the same machine, busy or not."""
    case = SLOW_SESSION
    manifest = build(case, tmp_path)
    healthy_reports, slow_reports = tmp_path / "healthy", tmp_path / "slow"
    timing = "meta-timing-profile.toml"
    healthy, out = run_suite(suite_args(healthy_reports, manifest, timing) + TIMING_SELECTION, healthy_reports)
    assert {c["id"]: c["measured"] is not None for c in healthy["criteria"] if c["id"] in TIMING} == \
        dict.fromkeys(TIMING, True), out[-3000:]
    slow, out = run_suite(suite_args(slow_reports, manifest, timing) + TIMING_SELECTION + list(case.args)
                          + ["--baseline", str(healthy_reports / "signoff.json")], slow_reports)
    caught = tripped(slow)
    keep_row(case, caught, slow["verdict"])
    assert slow["verdict"] == "not-signed-off" and slow["comparison"]["baseline"]["run_id"] == healthy["run"]["run_id"]
    assert set(case.expect_fail) <= caught <= set(case.expect_fail | case.may_trip), (
        f"expected to trip {sorted(case.expect_fail)} (and maybe {sorted(case.may_trip)}), tripped {sorted(caught)}"
        f"\n{out[-4000:]}")


def test_serialized_calls_trip_the_server_criterion_but_not_single_stream(tmp_path):
    """Concurrency, judged as a ratio: one query at a time (SingleStream) is as fast behind a lock as
    without it, but Poisson arrivals served by 4 threads queue behind it, so the highest rate that holds
    the bound falls; both runs are the same simulated device on the same machine."""
    case = SERIALIZED
    manifest = build(case, tmp_path)
    healthy_reports, serialized_reports = tmp_path / "healthy", tmp_path / "serialized"
    profile = "meta-server-profile.toml"
    healthy, out = run_suite(suite_args(healthy_reports, manifest, profile) + SERVER_SELECTION + list(DEVICE_20_MS),
                             healthy_reports)
    measured = {c["id"]: c["measured"] for c in healthy["criteria"]}
    assert measured["throughput.server_qps"] and measured["latency.p95_ms.batch_1"], out[-3000:]
    serialized, out = run_suite(suite_args(serialized_reports, manifest, profile) + SERVER_SELECTION
                                + list(case.args) + ["--baseline", str(healthy_reports / "signoff.json")],
                                serialized_reports)
    caught = tripped(serialized)
    keep_row(case, caught, serialized["verdict"])
    statuses = {c["id"]: c["status"] for c in serialized["criteria"]}
    assert statuses["regression.latency.p95_ms.batch_1"] == "pass", out[-3000:]
    assert set(case.expect_fail) <= caught <= set(case.expect_fail | case.may_trip), (
        f"expected to trip {sorted(case.expect_fail)} (and maybe {sorted(case.may_trip)}), tripped {sorted(caught)}"
        f"\n{out[-4000:]}")


def test_a_stalled_deployment_fails_bulk_throughput(tmp_path):
    case = STALLED_BULK
    reports = tmp_path / "reports"
    signoff, out = run_suite(suite_args(reports, build(case, tmp_path), "meta-timing-profile.toml")
                             + ["-m", "throughput", "-k", "offline"] + list(case.args), reports)
    caught = tripped(signoff)
    keep_row(case, caught, signoff["verdict"])
    offline = next(c for c in signoff["criteria"] if c["id"] == "throughput.offline_texts_per_s")
    assert offline["status"] == "fail" and offline["measured"] <= 32, out[-3000:]
    assert caught == set(case.expect_fail), caught


def test_wrong_vectors_under_load_fail_goodput(tmp_path):
    """Goodput can fail: a deployment as fast as a healthy one whose vectors are wrong (perturbed weights,
    cosine ~0.97 to the baseline) holds its Server rate, and none of its sampled responses is right."""
    case = next(c for c in MUTANTS if c.name == "perturbed-weights" and c.base == "all-minilm-l6-v2")
    reports = tmp_path / "reports"
    signoff, out = run_suite(suite_args(reports, build(case, tmp_path), "meta-timing-profile.toml")
                             + ["-m", "throughput", "-k", "goodput"], reports)
    goodput = next(c for c in signoff["criteria"] if c["id"] == "throughput.goodput")
    assert goodput["status"] == "fail" and goodput["measured"] < 0.5, out[-3000:]
    assert goodput["details"]["right"] < 0.5 and goodput["details"]["on_time"] > 0.5, goodput["details"]


def test_strict_provider_without_the_provider_stops_the_run_at_start_up(tmp_path):
    """Asked for CUDA under strict mode on a machine without it: the run does not fall back, and it
    stops before the first test with one message (pytest's usage-error exit 4), not an error per test."""
    reports = tmp_path / "reports"
    done = subprocess.run(suite_args(reports, ROOT / "fixtures" / "models" / "all-minilm-l6-v2.toml")
                          + ["-m", "norm", "--provider", "cuda", "--strict-provider"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    assert "strict mode: CUDAExecutionProvider was asked for and cannot run here" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert not (reports / "signoff.json").exists(), "a run that never started leaves no verdict"


def test_remapped_tokens_are_caught_by_the_tokenizer_criterion_under_thor_week2(tmp_path):
    """At the PRD's 0.99 the remapped tokenizer passes parity.min_cosine; only the tokenizer criterion,
    target 1.0 in every profile, catches it, and the parity stages name the tokenizer."""
    case = next(c for c in MUTANTS if c.name == "remapped-tokens")
    reports = tmp_path / "reports"
    signoff, out = run_suite(suite_args(reports, build(case, tmp_path), "meta-thor-week2.toml") + ["-m", "parity"],
                             reports)
    by_id = {c["id"]: c for c in signoff["criteria"]}
    assert by_id["parity.min_cosine"]["status"] == "pass", out[-3000:]
    assert 0.99 < by_id["parity.min_cosine"]["measured"] < 0.999
    tokenizer = by_id["parity.tokenizer_exact_match"]
    assert tokenizer["status"] == "fail" and tokenizer["measured"] < 1.0, out[-3000:]
    assert "tokenize differently" in tokenizer["reason"]
    assert by_id["parity.min_cosine"]["details"]["stages"]["first_divergence"].startswith("tokenizer")


ALL_CASES = MUTANTS + [SLOW_SESSION, SERIALIZED, STALLED_BULK] + KNOWN_GOOD


def render_table(rows: dict[str, dict]) -> str:
    """docs/mutants.md from the meta-test rows in reports/mutants/ (`make mutants-doc`)."""
    lines = [
        "# Mutants: broken deployments and the criteria that caught them",
        "",
        "Written by `make mutants-doc` from the rows the meta-tests (`tests/test_mutants.py`, run by `make test` and",
        "CI) leave in reports/mutants/. Each row is a deployment run through the acceptance suite (profile",
        "`tests/meta-profile.toml`: cpu-default for a shared machine). Quality mutants and known-good exports",
        "are judged on every criterion but timing (their runs deselect latency, throughput and the resource",
        "probes, so their verdict is never SIGNED OFF; what matters is which criteria failed). The timing",
        "mutants are judged against the healthy deployment measured in the same test, through `--baseline`",
        "and its `regression.*` criteria, except stalled-bulk, whose stall caps its figure below the target on any",
        "machine by construction. A known-good export must trip none of the criteria that ran.",
        "",
        "| deployment | base model | what is broken | criteria expected to trip | may also trip "
        "| criteria that tripped | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for case in sorted(ALL_CASES, key=lambda c: (not c.expect_fail, c.base, c.name)):
        name = f"{case.base}-{case.name}"
        row = rows.get(name)
        expected = "all (every test errors)" if case.expect_fail == EVERYTHING else (
            ", ".join(sorted(case.expect_fail)) or "none (known-good)")
        if row is None:
            caught, verdict = "not run yet", "not run yet"
        else:
            everything = set(row["caught"]) >= EVERYTHING
            caught = "all (every test errors)" if everything else (", ".join(row["caught"]) or "none")
            verdict = row["verdict"]
        may = ", ".join(sorted(case.may_trip)) or "-"
        lines.append(f"| {case.name} | {case.base} | {case.why} | {expected} | {may} | {caught} | {verdict} |")
    return "\n".join(lines) + "\n"


def read_rows(directory: Path = ROWS) -> dict[str, dict]:
    return {json.loads(p.read_text())["name"]: json.loads(p.read_text()) for p in directory.glob("*.json")}


def parse_doc(text: str) -> dict[str, dict[str, str]]:
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[0] not in ("deployment", "---"):
            columns = ("why", "expected", "may", "caught", "verdict")
            rows[f"{cells[1]}-{cells[0]}"] = dict(zip(columns, cells[2:], strict=False))
    return rows


def test_mutants_doc_describes_these_mutants():
    """docs/mutants.md is current: one row per mutant and known-good export, with the expectations the
    meta-tests assert, and results within them (regenerate with `make mutants-doc` after make test)."""
    doc = parse_doc(DOC.read_text(encoding="utf-8"))
    cases = {f"{c.base}-{c.name}": c for c in ALL_CASES}
    assert set(doc) == set(cases), f"docs/mutants.md is stale: run make test, then make mutants-doc " \
                                   f"(missing {sorted(set(cases) - set(doc))}, extra {sorted(set(doc) - set(cases))})"
    rendered = parse_doc(render_table({}))
    for name, case in cases.items():
        for key in ("why", "expected", "may"):
            assert doc[name][key] == rendered[name][key], \
                f"{name}: docs/mutants.md is stale ({key}); run make mutants-doc"
        if doc[name]["caught"] in ("not run yet", "all (every test errors)"):
            continue
        caught = set(doc[name]["caught"].split(", ")) - {"none"}
        assert set(case.expect_fail) <= caught <= set(case.expect_fail | case.may_trip), name


def main() -> int:
    """python -m tests.test_mutants: write docs/mutants.md from reports/mutants/ (make mutants-doc)."""
    rows = read_rows()
    missing = sorted({f"{c.base}-{c.name}" for c in ALL_CASES} - set(rows))
    if missing:
        print(f"no meta-test results for {', '.join(missing)} in {ROWS}: run make test first", file=sys.stderr)
        return 2
    DOC.write_text(render_table(rows), encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)} from {len(rows)} meta-test results")
    return 0


if __name__ == "__main__":
    sys.exit(main())
