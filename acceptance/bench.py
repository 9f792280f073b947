"""`make bench`: measure this runtime, its precision variants and every peer (modelprep.bench), then judge
the speed goals from those figures, never from a timed test. Which variants count as signed off comes from
the precision ladder of the same model (reports/precision/ladder.json, `make signoff` writes it), read
through its typed model; without one, the goals that need it are not judged, and say so.

    python -m acceptance.bench --model all-minilm-l6-v2 --out reports/bench.json

Goals, each met, missed or not judged, with the figures:
  runtime_overhead               the runtime costs at most 3% of raw session.run's bulk throughput
  batch1_2x_same_precision_peers each runtime system's batch-1 p50 is at least 2x faster than every peer of
                                 its precision
  fastest_signed_off_vs_st_bf16  the fastest variant that signs off reaches >= 1.5x sentence-transformers'
                                 bf16 autocast in bulk texts/s (same run)
  fastest_signed_off_batch1      its batch-1 p50 is <= 0.8x fastembed's
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from acceptance.environment import cpu_info
from acceptance.report.bench import BenchReport, Goal
from acceptance.report.ladder import LADDER_FILE, PrecisionLadder
from acceptance.report.plots import bench_plot
from acceptance.report.serial import ReportFormatError
from modelprep.bench import PEERS, BenchFigures, measure
from modelprep.progress import StepLog

OVERHEAD_MAX = 0.03
BATCH1_PEER_SPEEDUP = 2.0
BULK_OVER_ST_BF16 = 1.5
BATCH1_VS_FASTEMBED = 0.8


def overhead_goal(f: BenchFigures) -> Goal:
    overhead = 1 - f.runtime_vs_raw_session
    return Goal("runtime_overhead", f"the runtime costs at most {OVERHEAD_MAX:.0%} of raw session.run's throughput",
                overhead <= OVERHEAD_MAX, overhead, OVERHEAD_MAX,
                f"runtime {f.results['runtime']:.1f} vs session.run {f.results['raw_session']:.1f} texts/s")


def batch1_peer_goals(f: BenchFigures) -> list[Goal]:
    goals = []
    for name in (n for n in f.batch1 if n.startswith("runtime")):
        speedups = {peer: f.batch1[peer]["p50_ms"] / f.batch1[name]["p50_ms"] for peer in PEERS
                    if peer in f.batch1 and f.precision.get(peer) == f.precision[name]}
        if speedups:
            worst = min(speedups, key=speedups.get)
            goals.append(Goal(f"batch1_2x_same_precision_peers[{name}]",
                              f"{name}'s batch-1 p50 is at least {BATCH1_PEER_SPEEDUP:g}x faster than every "
                              f"{f.precision[name]} peer", speedups[worst] >= BATCH1_PEER_SPEEDUP, speedups[worst],
                              BATCH1_PEER_SPEEDUP, f"slowest margin: against {worst}", {"speedup_over": speedups}))
    return goals


def signed_off_systems(f: BenchFigures, ladder: PrecisionLadder | None) -> tuple[list[str], str]:
    """The bench's systems whose deployment signed off in the precision ladder, and where that was read."""
    if ladder is None:
        return [], (f"no precision ladder of {f.model} in reports/{LADDER_FILE} (make signoff writes it): "
                    "which variants "
                    "sign off is unknown here")
    names = ["runtime" if r.main else f"runtime-{r.precision}" for r in ladder.signed_off_rows()]
    return [n for n in names if n in f.results], f"the precision ladder of run {ladder.rows[0].run_id} ({LADDER_FILE})"


def fastest_signed_off_goals(f: BenchFigures, signed: list[str], source: str) -> list[Goal]:
    bulk_goal = (f"the fastest variant that signs off reaches >= {BULK_OVER_ST_BF16:g}x sentence-transformers "
                 "bf16 autocast")
    latency_goal = f"its batch-1 p50 is <= {BATCH1_VS_FASTEMBED:g}x fastembed's"
    missing = [p for p in ("sentence_transformers_bf16", "fastembed") if p not in f.results]
    if not signed or missing:
        why = source if not signed else f"{', '.join(missing)} did not run here: {f.failed.get(missing[0], '?')}"
        return [Goal("fastest_signed_off_vs_st_bf16", bulk_goal, None, note=why),
                Goal("fastest_signed_off_batch1", latency_goal, None, note=why)]
    fastest = max(signed, key=lambda n: f.results[n])
    bulk = f.results[fastest] / f.results["sentence_transformers_bf16"]
    latency = f.batch1[fastest]["p50_ms"] / f.batch1["fastembed"]["p50_ms"]
    figures = {"fastest": fastest, "signed_off": signed, "signed_off_by": source}
    return [
        Goal("fastest_signed_off_vs_st_bf16", bulk_goal, bulk >= BULK_OVER_ST_BF16, bulk, BULK_OVER_ST_BF16,
             f"{fastest} {f.results[fastest]:.1f} vs sentence-transformers bf16 "
             f"{f.results['sentence_transformers_bf16']:.1f} texts/s", figures),
        Goal("fastest_signed_off_batch1", latency_goal, latency <= BATCH1_VS_FASTEMBED, latency, BATCH1_VS_FASTEMBED,
             f"{fastest} {f.batch1[fastest]['p50_ms']:.2f} vs fastembed {f.batch1['fastembed']['p50_ms']:.2f} ms",
             figures),
    ]


def judge(f: BenchFigures, ladder: PrecisionLadder | None) -> tuple[list[Goal], str]:
    signed, source = signed_off_systems(f, ladder)
    return [overhead_goal(f), *batch1_peer_goals(f), *fastest_signed_off_goals(f, signed, source)], source


def ladder_for(reports: Path, model: str) -> PrecisionLadder | None:
    try:
        ladder = PrecisionLadder.read(reports)
    except ReportFormatError:
        return None
    return ladder if ladder.base == model else None


def print_report(report: BenchReport) -> None:
    from rich.console import Console
    from rich.table import Table

    f = report.figures
    table = Table(title=f"{f.model}: {f.texts} mixed-length texts, {f.threads} threads, batch {f.batch_size}; "
                        f"{report.cpu.summary}")
    for col in ("system", "precision", "texts/s", "x runtime", "batch-1 p50 ms", "batch-1 p95 ms", "min cosine"):
        table.add_column(col, justify="right")
    for name, rate in f.results.items():
        c = f.min_cosine.get(name)
        table.add_row(name, str(f.precision.get(name)), f"{rate:.1f}", f"{rate / f.results['runtime']:.2f}",
                      f"{f.batch1[name]['p50_ms']:.2f}", f"{f.batch1[name]['p95_ms']:.2f}",
                      "n/a" if c is None else f"{c:.4f}")
    for label, systems in (("failed", f.failed), ("not timed", f.not_timed), ("not available", f.not_available)):
        for name, why in systems.items():
            table.add_row(name, "", label, "", "", "", why[:60])
    Console(width=None if sys.stdout.isatty() else 160).print(table)
    for goal in report.goals:
        value = "" if goal.measured is None else f" {goal.measured:.3g} (target {goal.target:g})"
        print(f"{goal.name}: {goal.shown}{value}: {goal.goal}; {goal.note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="all-minilm-l6-v2")
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--variants", nargs="*", default=None,
                        help="precision variants to bench beside the runtime (default: the model's in fixtures/models)")
    parser.add_argument("--queries", type=int, default=100, help="short queries for the batch-1 latency")
    parser.add_argument("--out", default="reports/bench.json", type=Path)
    args = parser.parse_args(argv)
    with StepLog("bench") as log:
        figures = measure(args.model, texts=args.texts, batch_size=args.batch_size, threads=args.threads,
                          repeat=args.repeat, queries=args.queries, variants=args.variants, log=log)
    goals, source = judge(figures, ladder_for(args.out.parent, figures.model))
    report = BenchReport(model=figures.model, host=platform.node(), cpu=cpu_info(),
                         created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), figures=figures, goals=goals,
                         signed_off_by=source)
    report.write(args.out)
    print_report(report)
    print(f"wrote {args.out} and {bench_plot(report, args.out.parent / 'plots')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
