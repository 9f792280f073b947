"""The precision ladder: precision variants of the signed-off model, judged and measured side by side.

`make signoff` runs it after the main run (PRECISION_MODELS chooses the variants):

    python -m acceptance.precision_ladder --reports-dir reports --profile cpu-default --provider cpu MODEL...

For each variant, the acceptance suite's quality criteria (parity against the same PyTorch fp32
baseline, norm, retrieval, edge inputs), with the profile's tolerances for its precision, in its own
pytest run under reports/precision/MODEL/; a variant whose precision only one provider executes (bf16:
OpenVINO) runs there with --strict-provider, so it is never judged on a provider that would run it at
fp32, and a variant whose provider cannot run on this machine is reported as not available, with why.
Then, for the main model and every variant, each in a fresh process: bulk texts/s on the bench corpus,
batch-1 short-query p50/P95 and the memory the deployment added. The ladder is written to
reports/precision/ladder.json (its own data), and the renderer puts it into signoff.md and on the
dashboard's first screen, with a plot of speed against min cosine (the frontier). Timing criteria are not
run per variant: a variant's verdict here is on its quality criteria; `make signoff MODEL=VARIANT` judges
every criterion.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from acceptance.environment import cpu_info
from acceptance.report.ladder import LadderRow, PrecisionLadder, Speed
from acceptance.report.render import render
from acceptance.report.serial import ReportFormatError, from_jsonable, read_json, to_jsonable, write_json
from acceptance.report.signoff import SignoffReport
from acceptance.report.vocabulary import Status
from modelprep.precision import SPEED_ONLY_ON_TENSORRT
from modelprep.progress import StepLog

QUALITY_SELECTION = "parity or norm or retrieval or edge or precision"


@dataclass(frozen=True)
class Variant:
    model: str
    precision: str
    provider: str  # short name: where its precision runs
    strict: bool


@dataclass(frozen=True)
class QualityRun:
    """A variant's quality run: its report, or why there is none."""

    report: SignoffReport | None
    not_run: str | None = None


def measure(model: str, provider: str, threads: int, texts: int = 128, queries: int = 200) -> Speed:
    """Speed and memory of one deployment, in this (fresh) process: bulk texts/s (best of 2 passes over
    `texts` texts of the bench corpus, batch 32), batch-1 latency over `queries` short queries, and the
    resident memory the deployment added."""
    import psutil

    from modelprep.bench import batch1_latency, best_rate
    from modelprep.texts import corpus
    from runtime.embedder import Embedder
    from runtime.session import SessionConfig

    process = psutil.Process()
    before = process.memory_info().rss
    embedder = Embedder.load(model, SessionConfig(providers=(provider,), intra_op_threads=threads))
    bulk = best_rate(embedder.encode, corpus(texts), repeat=2)
    batch1 = batch1_latency(lambda one: embedder.encode(one, kind="query"), corpus(queries, low=8, high=30, seed=3))
    return Speed(texts_per_s=bulk, bulk_texts=texts, batch_size=32, threads=threads, batch1_p50_ms=batch1["p50_ms"],
                 batch1_p95_ms=batch1["p95_ms"], batch1_queries=queries,
                 memory_mb=(process.memory_info().rss - before) / 2**20, provider=embedder.report.primary,
                 provider_options=embedder.report.provider_options)


def measure_in_subprocess(model: str, provider: str, threads: int, work: Path) -> Speed | str:
    """`measure` in a fresh process; the Speed, or why there is none (the child's log is kept)."""
    work.mkdir(parents=True, exist_ok=True)
    out, log = work / "speed.json", work / "speed.log"
    with log.open("w", encoding="utf-8") as sink:
        done = subprocess.run([sys.executable, "-m", "acceptance.precision_ladder", "--measure", model, "--provider",
                               provider, "--threads", str(threads), "--out", str(out)], stdout=sink, stderr=sink)
    if done.returncode != 0 or not out.is_file():
        return f"its speed run ended with exit status {done.returncode} (log: {log})"
    return from_jsonable(Speed, read_json(out, "speed figures"), str(out))


def judge_variant(variant: Variant, profile: str, out: Path, threads: int = 0) -> QualityRun:
    """The variant's quality criteria in a pytest run of its own (its output in out/pytest.log)."""
    from runtime.session import unavailable_reason

    why = unavailable_reason(variant.provider)
    if why is not None:
        return QualityRun(None, f"not available on this machine: {why}")
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pytest", "acceptance", "-q", "-p", "no:cacheprovider",
               "--accept-profile", profile,
               "--model", variant.model, "--provider", variant.provider, "--reports-dir", str(out),
               "-m", QUALITY_SELECTION, "--intra-op-threads", str(threads),
               *(["--strict-provider"] if variant.strict else [])]
    with (out / "pytest.log").open("w", encoding="utf-8") as log:
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        return QualityRun(SignoffReport.read(out))
    except ReportFormatError:
        return QualityRun(None, f"its quality run ended with exit status {done.returncode} before a verdict "
                                f"(log: {out / 'pytest.log'})")


def row(model: str, precision: str, run: QualityRun, speed: Speed | str, *, main: bool) -> LadderRow:
    """One line of the ladder: the figures, and what its verdict covers."""
    line = LadderRow(model=model, precision=precision, main=main, not_run=run.not_run)
    if isinstance(speed, Speed):
        line.speed = speed
    else:
        line.speed_note = speed
    report = run.report
    if report is None:
        return line
    judged = [c for c in report.criteria if c.required and (main or c.status is not Status.NOT_RUN)]
    missed = [c for c in judged if not c.met]
    line.judged, line.missed = len(judged), [c.id for c in missed]
    line.signed_off = bool(report) if main else bool(judged) and not missed
    if missed and all(c.status is Status.ERROR for c in missed) and len({c.reason for c in missed}) == 1:
        line.broke, line.missed = missed[0].reason, []  # one cause (a build that failed), said once
    parity, recall = report.criterion("parity.min_cosine"), report.criterion("retrieval.recall_at_10")
    line.run_id, line.graph = report.run.run_id, report.graph
    line.min_cosine = parity.measured if parity else None
    line.mean_cosine = parity.details.get("mean") if parity else None
    line.parity_target = parity.target_text if parity else None
    line.recall_at_10 = recall.measured if recall else None
    return line


def _quality_line(run: QualityRun) -> str:
    if run.report is None:
        return run.not_run or "no report"
    missed = [c.id for c in run.report.criteria if c.required and c.status is not Status.NOT_RUN and not c.met]
    return f"quality {'missed ' + ', '.join(missed) if missed else 'met'}"


def speed_of(variant: Variant, run: QualityRun, threads: int, work: Path) -> Speed | str:
    """A variant's speed, or why there is none: its quality run did not run, or its precision's speed is
    TensorRT's alone (a simulated FP8 graph's CPU time is never shown as FP8 speed)."""
    if run.not_run is not None:
        return "its quality run did not run"
    if variant.precision in SPEED_ONLY_ON_TENSORRT and variant.provider != "tensorrt":
        return SPEED_ONLY_ON_TENSORRT[variant.precision]
    return measure_in_subprocess(variant.model, variant.provider, threads, work)


def variants_of(models: list[str], provider: str) -> list[Variant]:
    from runtime.embedder import executing_provider
    from runtime.manifest import load_manifest

    variants = []
    for model in models:
        precision = load_manifest(model).precision
        placed = executing_provider(precision, provider)
        variants.append(Variant(model, precision, placed.provider, placed.strict))
    return variants


def build_ladder(reports: Path, profile: str, provider: str, models: list[str], threads: int,
                 log: StepLog | None = None) -> PrecisionLadder:
    """Judge and measure every variant beside the main run in reports/signoff.json."""
    main_run = SignoffReport.read(reports)
    invocation, base = main_run.run.invocation, main_run.model.id
    variants = variants_of(models, provider)
    with log or StepLog("precision ladder") as log:
        # The quality runs judge no timing, so they run side by side (one intra-op thread each); the speed
        # and memory figures come after, one deployment at a time, on a machine they have to themselves.
        log.step(f"quality criteria of {', '.join(models) or 'no variant'}, side by side")
        with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
            futures = {pool.submit(judge_variant, v, profile, reports / "precision" / v.model, 1): v
                       for v in variants}
            runs = {}
            for future in as_completed(futures):
                runs[futures[future]] = run = future.result()
                log.note(f"{futures[future].model}: {_quality_line(run)}")
        log.step(f"speed and memory of {base}")
        rows = [row(base, main_run.model.precision, QualityRun(main_run),
                    measure_in_subprocess(base, provider, threads, reports / "precision" / base), main=True)]
        for variant in variants:
            run = runs[variant]
            if run.report is not None and run.report.run.invocation != invocation:
                run = QualityRun(None, "its report is not from this make signoff (another invocation)")
            log.step(f"speed and memory of {variant.model}")
            speed = speed_of(variant, run, threads, reports / "precision" / variant.model)
            rows.append(row(variant.model, variant.precision, run, speed, main=False))
    return PrecisionLadder(
        base=base, profile=profile, invocation=invocation, threads=threads,
        machine=f"{platform.node()}: {cpu_info().summary}",
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), rows=rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="*", help="variant manifests (names or paths)")
    parser.add_argument("--reports-dir", default="reports", type=Path)
    parser.add_argument("--profile", default="cpu-default")
    parser.add_argument("--provider", default="cpu")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--measure", metavar="MODEL", help=argparse.SUPPRESS)  # one deployment, in this process
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)  # where --measure writes its figures
    args = parser.parse_args(argv)
    if args.measure:
        write_json(args.out, to_jsonable(measure(args.measure, args.provider, args.threads)))
        return 0
    if not (args.reports_dir / "signoff.json").is_file():
        print(f"no precision ladder: {args.reports_dir / 'signoff.json'} is missing "
              "(the sign-off run wrote no verdict)",
              file=sys.stderr)
        return 2
    from runtime.errors import EmbeddingError

    try:
        ladder = build_ladder(args.reports_dir, args.profile, args.provider, args.variants, args.threads)
    except (EmbeddingError, ReportFormatError) as exc:  # a bad manifest name: one line, not a traceback
        print(f"precision ladder: {exc}", file=sys.stderr)
        return 2
    ladder.write(args.reports_dir)
    rendered = render(args.reports_dir)
    for r in ladder.rows:
        speed = f"{r.speed.texts_per_s:.1f} texts/s" if r.speed else "no speed figure"
        print(f"{r.model} ({r.precision}): {r.verdict}; {speed}")
    print(f"precision ladder: {args.reports_dir / 'precision' / 'ladder.json'}, table in {rendered.markdown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
