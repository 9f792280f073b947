"""The precision ladder: precision variants of the signed-off model, judged and measured side by side.

`make signoff` runs it after the main run (PRECISION_MODELS chooses the variants):

    python -m acceptance.precision_ladder --reports-dir reports --profile cpu-default --provider cpu MODEL...

For each variant, the acceptance suite's quality criteria (parity against the same PyTorch fp32
baseline, norm, retrieval, edge inputs), with the profile's tolerances for its precision, in its own
pytest run under reports/precision/MODEL/; a variant whose precision only one provider executes (bf16:
OpenVINO) runs there with --strict-provider, so it is never judged on a provider that would run it at
fp32. Then, for the main model and every variant, each in a fresh process: bulk texts/s on the bench
corpus, batch-1 short-query p50/P95 and the memory the deployment added. The table goes into signoff.md,
signoff.json ("precision_ladder") and the Allure dashboard's first screen, with a plot of speed
against min cosine (the frontier). Timing criteria are not run per variant: a variant's verdict here
is on its quality criteria; `make signoff MODEL=VARIANT` judges every criterion.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

QUALITY_SELECTION = "parity or norm or retrieval or edge"
LADDER_FILE = "ladder.json"


def measure(model: str, provider: str, threads: int, texts: int = 128, queries: int = 200) -> dict[str, Any]:
    """Speed and memory of one deployment, in this (fresh) process: bulk texts/s (best of 2 passes over
    `texts` texts of the bench corpus, batch 32), batch-1 latency over `queries` short queries, and the
    resident memory the deployment added."""
    import psutil

    from modelprep.bench import batch1_latency, best_rate
    from modelprep.texts import corpus
    from runtime.embedder import Embedder
    from runtime.manifest import load_manifest
    from runtime.session import SessionConfig

    process = psutil.Process()
    before = process.memory_info().rss
    embedder = Embedder(load_manifest(model), SessionConfig(providers=(provider,), intra_op_threads=threads))
    bulk = best_rate(embedder.encode, corpus(texts), repeat=2)
    batch1 = batch1_latency(lambda one: embedder.encode(one, kind="query"), corpus(queries, low=8, high=30, seed=3))
    return {
        "texts_per_s": bulk, "bulk_texts": texts, "batch_size": 32, "threads": threads,
        "batch1_p50_ms": batch1["p50_ms"], "batch1_p95_ms": batch1["p95_ms"],
        "batch1_queries": queries, "memory_mb": (process.memory_info().rss - before) / 2**20,
        "provider": embedder.report.primary, "provider_options": embedder.report.provider_options,
    }


def _measure_in_subprocess(model: str, provider: str, threads: int) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "acceptance.precision_ladder", "--measure", model,
                           "--provider", provider, "--threads", str(threads)], capture_output=True, text=True)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        return {"error": lines[-1][:400]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def judge_variant(model: str, profile: str, provider: str, strict: bool, out: Path,
                  threads: int = 0) -> dict[str, Any]:
    """The variant's quality criteria in a pytest run of its own; returns its signoff.json, or why none."""
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pytest", "acceptance", "-q", "-p", "no:cacheprovider", "--accept-profile", profile,
               "--model", model, "--provider", provider, "--reports-dir", str(out), "-m", QUALITY_SELECTION,
               "--intra-op-threads", str(threads), *(["--strict-provider"] if strict else [])]
    done = subprocess.run(command, capture_output=True, text=True)
    (out / "pytest.log").write_text(done.stdout + done.stderr, encoding="utf-8")
    signoff = out / "signoff.json"
    if done.returncode not in (0, 1) or not signoff.is_file():
        lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()] or ["no output"]
        errors = [line for line in lines if "error" in line.lower()]  # pytest's usage error, not its rootdir line
        return {"not_run": f"exit status {done.returncode}: {(errors or lines)[-1][:400]}"}
    return json.loads(signoff.read_text())


def _criterion(run: dict[str, Any], cid: str) -> dict[str, Any] | None:
    return next((c for c in run.get("criteria", []) if c["id"] == cid), None)


def row(model: str, precision: str, run: dict[str, Any], speed: dict[str, Any], *, main: bool) -> dict[str, Any]:
    """One line of the ladder: the figures, and a verdict that says what it covers."""
    parity = _criterion(run, "parity.min_cosine") or {}
    recall = _criterion(run, "retrieval.recall_at_10") or {}
    if "not_run" in run:
        verdict, missed = f"NOT RUN ({run['not_run']})", []
    elif main:
        missed = [c["id"] for c in run["criteria"] if c["required"] and c["status"] != "pass"]
        verdict = "SIGNED OFF" if run["verdict"] == "signed-off" else "NOT SIGNED OFF"
    else:
        judged = [c for c in run["criteria"] if c["required"] and c["status"] not in ("not-run",)]
        missed = [c["id"] for c in judged if c["status"] != "pass"]
        verdict = (f"quality criteria met ({len(judged)})" if judged and not missed
                   else "NOT SIGNED OFF" if judged else "NOT SIGNED OFF (no criterion judged)")
    return {
        "model": model, "precision": precision, "main": main, "verdict": verdict, "missed": missed,
        "signed_off_quality": not missed and "not_run" not in run and bool(run.get("criteria")),
        "min_cosine": parity.get("measured"), "mean_cosine": (parity.get("details") or {}).get("mean"),
        "parity_target": parity.get("target_text"), "recall_at_10": recall.get("measured"),
        "run_id": run.get("run", {}).get("run_id"), **{k: v for k, v in speed.items() if k != "provider_options"},
        "provider_options": speed.get("provider_options"),
    }


def table_markdown(ladder: dict[str, Any]) -> str:
    from acceptance.completion_report import cell

    def num(x: Any, fmt: str) -> str:
        return "n/a" if x is None else fmt.format(x)

    lines = [
        "## Precision ladder", "",
        f"Each precision is judged against the same PyTorch fp32 baseline with its own tolerance from the profile "
        f"(variants: quality criteria only, `-m \"{QUALITY_SELECTION}\"`; `make signoff MODEL=...` judges every "
        f"criterion). Speed: {ladder['machine']}, {ladder['threads']} threads, each deployment in a fresh process; "
        "bulk = texts/s over the bench corpus at batch 32 (best of 2), batch 1 = short queries one at a time.", "",
        "| Model | Precision | Provider | Bulk texts/s | Batch-1 p50 / P95 (ms) | Min cosine | Mean cosine | "
        "Recall@10 | Memory (MB) | Verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in ladder["rows"]:
        speed = (f"{num(r.get('texts_per_s'), '{:.1f}')} | {num(r.get('batch1_p50_ms'), '{:.2f}')} / "
                 f"{num(r.get('batch1_p95_ms'), '{:.2f}')} | " if "error" not in r
                 else f"not measured ({cell(r['error'])}) | n/a | ")
        missed = f": {', '.join(r['missed'])}" if r["missed"] else ""
        lines.append(
            f"| `{r['model']}` | {r['precision']} | {r.get('provider', 'n/a')} | {speed}"
            f"{num(r['min_cosine'], '{:.6f}')} | {num(r['mean_cosine'], '{:.6f}')} | {num(r['recall_at_10'], '{:.3f}')} "
            f"| {num(r.get('memory_mb'), '{:.0f}')} | {cell(r['verdict'] + missed)} |")
    if ladder.get("plot"):
        lines += ["", f"![speed against min cosine]({ladder['plot_relative']})"]
    return "\n".join(lines) + "\n"


def build_ladder(reports: Path, profile: str, provider: str, variants: list[str], threads: int,
                 say=lambda text: print(text, file=sys.stderr, flush=True)) -> dict[str, Any]:
    """Judge and measure every variant beside the main run in reports/signoff.json; write the ladder."""
    main_run = json.loads((reports / "signoff.json").read_text())
    invocation = main_run.get("run", {}).get("invocation")
    base = main_run["model"]["id"]
    from runtime.embedder import executing_provider
    from runtime.manifest import load_manifest

    precisions = {model: load_manifest(model).precision for model in variants}
    placed = {model: executing_provider(precision, provider) for model, precision in precisions.items()}
    # The quality runs judge no timing, so they run side by side (one intra-op thread each); the speed
    # and memory figures come after, one deployment at a time, on a machine they have to themselves.
    say(f"precision ladder: quality criteria of {', '.join(variants) or 'no variant'}, side by side")
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        futures = {model: pool.submit(judge_variant, model, profile, on, strict, reports / "precision" / model, 1)
                   for model, (on, strict) in placed.items()}
        runs = {model: future.result() for model, future in futures.items()}
    say(f"precision ladder: speed and memory of {base}")
    rows = [row(base, main_run["model"].get("precision", "fp32"), main_run,
                _measure_in_subprocess(base, provider, threads), main=True)]
    for model, run in runs.items():
        if "not_run" not in run and run.get("run", {}).get("invocation") != invocation:
            run = {"not_run": "its report is not from this make signoff (another invocation)"}
        say(f"precision ladder: speed and memory of {model}")
        speed = _measure_in_subprocess(model, placed[model][0], threads) if "not_run" not in run else {
            "error": "its quality run did not run"}
        rows.append(row(model, precisions[model], run, speed, main=False))
    ladder = {
        "base": base, "profile": profile, "invocation": invocation, "threads": threads,
        "machine": f"{platform.node()}: {platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": rows,
    }
    from acceptance.plots import precision_frontier

    plot = precision_frontier(ladder, reports / "plots")
    if plot:
        ladder["plot"] = str(plot)
        ladder["plot_relative"] = os.path.relpath(plot, reports)
    return ladder


def publish(reports: Path, ladder: dict[str, Any]) -> None:
    """Into the main run's reports: ladder.json, the table in signoff.md, signoff.json's
    "precision_ladder", and the dashboard's first screen (the updated report and the plot)."""
    (reports / "precision").mkdir(parents=True, exist_ok=True)
    (reports / "precision" / LADDER_FILE).write_text(json.dumps(ladder, indent=2), encoding="utf-8")
    report = (reports / "signoff.md").read_text(encoding="utf-8")
    report = report.split("\n## Precision ladder\n")[0].rstrip("\n") + "\n"  # a re-run replaces its own table
    (reports / "signoff.md").write_text(report + "\n" + table_markdown(ladder), encoding="utf-8")
    signoff = json.loads((reports / "signoff.json").read_text())
    signoff["precision_ladder"] = ladder
    (reports / "signoff.json").write_text(json.dumps(signoff, indent=2), encoding="utf-8")
    results = reports / "allure-results"
    if results.is_dir():
        from acceptance.allure_report import write_run_files

        write_run_files(results, signoff, signoff["profile"], reports / "signoff.md",
                        extra_attachments=[Path(ladder["plot"])] if ladder.get("plot") else [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="*", help="variant manifests (names or paths)")
    parser.add_argument("--reports-dir", default="reports", type=Path)
    parser.add_argument("--profile", default="cpu-default")
    parser.add_argument("--provider", default="cpu")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--measure", metavar="MODEL", help=argparse.SUPPRESS)  # one deployment, in this process
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.provider, args.threads)))
        return 0
    signoff = args.reports_dir / "signoff.json"
    if not signoff.is_file():
        print(f"no precision ladder: {signoff} is missing (the sign-off run wrote no verdict)", file=sys.stderr)
        return 2
    from runtime.errors import EmbeddingError

    try:
        ladder = build_ladder(args.reports_dir, args.profile, args.provider, args.variants, args.threads)
    except EmbeddingError as exc:  # a bad manifest name: one line, not a traceback
        print(f"precision ladder: {exc}", file=sys.stderr)
        return 2
    publish(args.reports_dir, ladder)
    print(table_markdown(ladder))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
