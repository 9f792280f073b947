"""signoff.md: the PRD's "Week 2 Completion Report" and "Success Metrics" table, filled in from the
typed report, and the precision ladder's table beside it. Every placeholder of the PRD's template gets a
measured value or the reason it has none; nothing is left as [INSERT] or TBD. Pure: report in, text out."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from acceptance.report.ladder import PrecisionLadder
from acceptance.report.signoff import Comparison, CriterionResult, SignoffReport
from acceptance.report.vocabulary import Status

#: The PRD's Success Metrics rows: label, criterion, how its value is shown.
SUCCESS_METRICS = (
    ("TensorRT engine build", "tensorrt.engine_build_s", "{:.1f}"),
    ("TensorRT engine load (cached)", "tensorrt.engine_load_s", "{:.2f}"),
    ("Integration tests", "integration.tests_passing", "{:.0f}"),
    ("Quality (cosine sim)", "parity.min_cosine", "{:.6f}"),
    ("Baseline latency (batch 1)", "latency.p95_ms.batch_1", "{:.1f}"),
    ("Baseline throughput", "throughput.qps.threads_1", "{:.1f}"),
    ("GPU memory", "resources.gpu_memory_mb", "{:.0f}"),
    ("CPU memory", "resources.cpu_memory_mb", "{:.0f}"),
)


def cell(text: Any) -> str:
    """Text for a Markdown table cell: a literal | (the PRD's |norm - 1.0|) would start a new column."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _value(c: CriterionResult | None, fmt: str = "{:.4g}") -> str:
    return "not in this profile" if c is None else c.value_text(fmt)


def _status(c: CriterionResult | None) -> str:
    return "not in this profile" if c is None else c.status.shown


def completion_report(report: SignoffReport, *, written_to: Path, plots: list[Path],
                      ladder: PrecisionLadder | None, ladder_plot: Path | None, date: str) -> str:
    sections = [
        header(report, date), summary(report), performance(report), quality(report), success_metrics(report),
        graph_audit(report), every_criterion(report), load_runs(report, written_to),
        comparison(report.comparison) if report.comparison else [],
        ["## Machine load during the timing measurements", "", *contention(report)],
        not_measured(report),
        ["## Plots", "", *([f"![{p.stem}]({os.path.relpath(p, written_to.parent)})" for p in plots]
                           or ["- none were drawn in this run"])],
        environment(report), next_steps(),
        precision_ladder(ladder, ladder_plot, written_to) if ladder else [],
    ]
    return "\n".join(line for section in sections if section for line in (*section, "")).rstrip("\n") + "\n"


def header(report: SignoffReport, date: str) -> list[str]:
    run, model, env = report.run, report.model, report.environment
    lines = [f"# Sign-off completion report: {model.name} ({model.id})", ""]
    if not run.complete:
        lines += [f"> **⚠️ This run was {run.ended.upper()}**: its verdict covers only what it measured before "
                  "that, and it is not a sign-off.", ""]
    if report.comparison and report.comparison.baseline.accepted_differences:
        lines += ["> **⚠️ Compared with a baseline of another deployment or device** (`--baseline-any`): "
                  f"{'; '.join(report.comparison.baseline.accepted_differences)}.", ""]
    selection, suite = run.selection, run.suite
    skipped = "".join(f"  \n**Left out:** {name}: {why}" for name, why in env.providers_skipped.items())
    return lines + [
        f"**Date:** {date}  ",
        f"**Verdict:** {report.verdict.shown}  ",
        f"**Run:** `{run.run_id}`, {run.started_at} to {run.ended_at or '?'}, ended: {run.ended}, exit status "
        f"{run.exit_status if run.exit_status is not None else '?'}; host `{run.host}`  ",
        f"**Command:** `{run.command}` (selection: -m {selection.get('markexpr') or '(all)'}, "
        f"-k {selection.get('keyword') or '(all)'}; injected fault: {selection.get('injected_fault') or 'none'})  ",
        f"**Suite commit:** `{suite.get('commit', '?')}`{' (with local changes)' if suite.get('dirty') else ''}  ",
        f"**Model file tested:** `{model.onnx}` sha256 `{model.onnx_sha256}`; tokenizer sha256 "
        f"`{model.tokenizer_sha256}`; checked against: {', '.join(model.verified_against) or 'nothing recorded'}  ",
        f"**Profile:** `{report.profile}`  ",
        f"**Device:** {env.gpu or 'no GPU'}; {env.cpu.summary}, {env.memory_gb} GB; {env.os}  ",
        f"**Providers used:** {env.providers_text} (requested: {env.provider_requested}; available: "
        f"{', '.join(env.providers_available)}){skipped}",
    ]


def summary(report: SignoffReport) -> list[str]:
    required = [c for c in report.criteria if c.required]
    counts = {s: sum(c.status is s for c in required) for s in Status}
    text = (f"{counts[Status.PASS]} of {len(required)} required criteria passed; {counts[Status.FAIL]} failed, "
            f"{counts[Status.ERROR]} broke, {counts[Status.SKIPPED]} could not be measured here and "
            f"{counts[Status.NOT_RUN]} were not run.")
    text += (" The deployment meets every required criterion of the profile." if report else
             " The deployment is not signed off: a skipped or unrun criterion counts as not met.")
    lines = ["## Executive summary", "", text]
    integration = report.criterion("integration.tests_passing")
    if integration:
        lines += ["", f"Integration tests: {_value(integration, '{:.0f}')} of {integration.target:g} passing "
                      f"({_status(integration)})."]
    return lines


def performance(report: SignoffReport) -> list[str]:
    lines = ["## Performance results", "", "**Latency (P95, LoadGen SingleStream: its early-stopping bound):**"]
    for batch in (1, 8, 32):
        crit = report.criterion(f"latency.p95_ms.batch_{batch}")
        queries = crit.details.get("queries") if crit else None
        lines.append(f"- Batch size {batch}: {_value(crit, '{:.1f}')}"
                     + (f" (target {crit.target_text}, {queries} queries)" if crit and queries else ""))
    lines += ["", "**Throughput (LoadGen Offline at batch 1; Server: Poisson arrivals):**"]
    for cid, label, fmt in (("throughput.qps.threads_1", "Single-threaded", "{:.1f}"),
                            ("throughput.qps.threads_4", "Concurrent (4 threads)", "{:.1f}"),
                            ("throughput.server_qps", "Highest Poisson rate within the P95 bound", "{:.1f}"),
                            ("throughput.offline_texts_per_s", "Bulk, texts/s at the largest batch", "{:.1f}"),
                            ("throughput.goodput", "Goodput of that Server run (on time and right)", "{:.3f}")):
        crit = report.criterion(cid)
        if crit is not None:
            lines.append(f"- {label}: {_value(crit, fmt)} (target {crit.target_text}, {_status(crit)})")
    return lines


def load_runs(report: SignoffReport, written_to: Path) -> list[str]:
    """Every MLPerf LoadGen run of the sign-off: its scenario and settings, LoadGen's verdict and figures, and
    its own logs (summary and detail)."""
    runs = report.measurements.load_runs
    if not runs:
        return []
    lines = ["## Load runs (MLPerf LoadGen)", "",
             "Each row is one LoadGen run; VALID is LoadGen's own verdict (its minimum queries and duration met). "
             "The settings of each are in signoff.json (`measurements.load_runs`).", "",
             "| Run | Scenario | Batch | Threads | Offered QPS | Queries | LoadGen | P50 / P95 / P99 (ms) "
             "| Early-stopping P95 (ms) | QPS | Texts/s | Logs |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        s, ms = run.settings, "{:.1f}"
        logs = os.path.relpath(run.log_dir, written_to.parent)
        lines.append(
            f"| {run.name} | {s.scenario} | {s.batch_size} | {s.workers} | {_num(s.target_qps, ms)} "
            f"| {run.queries} | {'VALID' if run.valid else 'INVALID'} | {_num(run.p50_ms, ms)} / "
            f"{_num(run.p95_ms, ms)} / {_num(run.p99_ms, ms)} | {_num(run.early_stopping_p95_ms, ms)} "
            f"| {run.queries_per_s:.1f} | {run.texts_per_s:.1f} "
            f"| [summary]({logs}/mlperf_log_summary.txt), [detail]({logs}/mlperf_log_detail.txt) |")
    return lines


def quality(report: SignoffReport) -> list[str]:
    parity, semantic = report.criterion("parity.min_cosine"), report.criterion("quality.semantic_pass_rate")
    mean = parity.details.get("mean") if parity else None
    return [
        "**Quality:**",
        f"- Cosine similarity vs HuggingFace PyTorch fp32: min {_value(parity, '{:.6f}')}"
        + (f", mean {mean:.6f}" if mean is not None else "") + (f" (target {parity.target_text})" if parity else ""),
        f"- Semantic similarity tests: {_status(semantic)} ({_value(semantic, '{:.2f}')})",
        "- Retrieval recall@10 (agreement with the baseline's top 10): "
        f"{_value(report.criterion('retrieval.recall_at_10'), '{:.3f}')}",
        f"- L2 normalization, max |norm - 1|: {_value(report.criterion('norm.max_deviation'), '{:.2e}')}",
    ]


def success_metrics(report: SignoffReport) -> list[str]:
    model = report.model
    lines = ["## Success metrics", "", "| Metric | Target | Measured | Status |",
             "|--------|--------|----------|--------|",
             f"| ONNX conversion | parity gate passed at export | onnx sha256 `{str(model.onnx_sha256)[:16]}…` | "
             f"{Status.PASS.shown if model.onnx_sha256 else '❌ no model file'} |"]
    for label, cid, fmt in SUCCESS_METRICS:
        crit = report.criterion(cid)
        target = crit.target_text if crit else "not in this profile"
        lines.append(f"| {label} | {cell(target)} | {cell(_value(crit, fmt))} | {_status(crit)} |")
    return lines


def graph_audit(report: SignoffReport) -> list[str]:
    """The precision the tested graph really has, read from the graph before any criterion ran."""
    audit = report.graph
    if audit is None:
        return ["## The graph tested", "", "- no model was loaded in this run"]
    lines = ["## The graph tested", "", f"- {audit.summary()}",
             f"- tensors by type: {', '.join(f'{t} {n}' for t, n in sorted(audit.tensor_types.items()))}"]
    if audit.executed_ops:
        lines.append("- after ONNX Runtime's CPU optimizations: "
                     + ", ".join(f"{op} {n}" for op, n in sorted(audit.executed_ops.items())))
    if audit.batch_variant:
        nodes = ", ".join(audit.dynamic_quantization[:5]) + (" ..." if len(audit.dynamic_quantization) > 5 else "")
        lines.append(f"- ⚠️ dynamic quantization (activation scales per batch) in {nodes}: a text's vector depends "
                     "on its batch")
    return lines


def every_criterion(report: SignoffReport) -> list[str]:
    lines = ["## Every criterion of the profile", "", "| Criterion | PRD | Target | Measured | Status |",
             "|---|---|---|---|---|"]
    for crit in report.criteria:
        info = "" if crit.required else " (informational)"
        lines.append(f"| `{crit.id}` | {cell(crit.prd_ref)} | {cell(crit.target_text)}{info} | {cell(_value(crit))} "
                     f"| {_status(crit)} |")
    return lines


def _num(x: float | None, fmt: str = "{:.6g}") -> str:
    return "n/a" if x is None else fmt.format(x)


def comparison(comp: Comparison) -> list[str]:
    """Each criterion against the baseline run: its value then and now, the change, and the judgement."""
    b = comp.baseline
    lines = [f"## Compared with baseline run `{b.run_id}`", "",
             f"Baseline: `{b.path}` ({b.verdict}, ended {b.ended_at}; model {b.model} sha256 "
             f"`{str(b.onnx_sha256)[:16]}…`, profile {b.profile}, {b.precision}, {cell(b.device)}).", "",
             "| Criterion | Baseline | Today | Change | Change % | Allowance | Regression |",
             "|---|---|---|---|---|---|---|"]
    for row in comp.rows:
        judged = {True: "❌ REGRESSED", False: "✅ within", None: "not judged"}[row.regressed]
        note = f" ({cell(row.note)})" if row.note else ""
        lines.append(f"| `{row.criterion}` | {_num(row.baseline)} | {_num(row.current)} | "
                     f"{_num(row.change_abs, '{:+.6g}')} | {_num(row.change_pct, '{:+.1f}%')} | {cell(row.allowance)} "
                     f"| {judged}{note} |")
    return lines


def contention(report: SignoffReport) -> list[str]:
    """How busy the machine was while each timing figure was taken (acceptance/contention.py)."""
    rows = [(c.id, c.details["contention"]) for c in report.criteria if c.details.get("contention")]
    if not rows:
        return ["- no timing criterion was measured in this run"]
    lines = ["| Criterion | Others' CPU share | Steal | Load average (1 min) | Attempts | Judged |",
             "|---|---|---|---|---|---|"]
    for cid, f in rows:
        load = "n/a" if f.get("load_avg_1m") is None else f"{f['load_avg_1m']:.2f} on {f['cores']} cores"
        judged = "no: machine busy" if f["contended"] else "yes"
        lines.append(f"| `{cid}` | {100 * f['others_share']:.1f}% | {100 * f['steal_share']:.1f}% | {load} "
                     f"| {f['attempts']} | {judged} |")
    return lines


def not_measured(report: SignoffReport) -> list[str]:
    unmeasured = [c for c in report.criteria if c.status in (Status.SKIPPED, Status.NOT_RUN, Status.ERROR)]
    return ["## Skipped, not run, or broken (each counts as not met)", "",
            *([f"- `{c.id}` ({c.status}): {c.reason}" for c in unmeasured] or ["- none: every criterion was measured"])]


def environment(report: SignoffReport) -> list[str]:
    env, model = report.environment, report.model
    facts = {
        "host": env.host, "os": env.os, "cpu": env.cpu.summary, "memory_gb": env.memory_gb, "python": env.python,
        "onnxruntime": env.onnxruntime, "providers_available": ", ".join(env.providers_available),
        "providers_used": env.providers_text, "providers_skipped": env.providers_skipped or "none",
        "tensorrt": env.tensorrt or "not installed", "gpu": env.gpu or f"none ({env.gpu_reason})",
        "gpu_driver": env.gpu_driver or "n/a", "cuda_driver": env.cuda_driver or "n/a",
        "provider_requested": env.provider_requested, "strict_provider": env.strict_provider,
        "injected_fault": env.injected_fault or "none",
    }
    return ["## Environment", "", *(f"- {k}: {v}" for k, v in facts.items()),
            f"- model: `{model.onnx}` ({model.dimension}-d, {model.pooling} pooling, {model.padding_side} padding, "
            f"max {model.max_length} tokens, {model.precision})"]


def next_steps() -> list[str]:
    return ["## Next steps (PRD Week 3)", "",
            "1. Performance optimization (P95 < 30 ms at batch 1, > 50 QPS: `--accept-profile thor-week3`)",
            "2. Batch size tuning", "3. TensorRT profile optimization", "4. Memory usage optimization", "",
            "Full results: `signoff.json`; dashboard: `make report` -> `reports/allure-report/index.html`."]


def precision_ladder(ladder: PrecisionLadder, plot: Path | None, written_to: Path) -> list[str]:
    lines = [
        "## Precision ladder", "",
        "Each precision is judged against the same PyTorch fp32 baseline with its own tolerance from the profile "
        "(variants: quality criteria only; `make signoff MODEL=...` judges every criterion). Speed: "
        f"{ladder.machine}, {ladder.threads} threads, each deployment in a fresh process; bulk = texts/s over the "
        "bench corpus at batch 32 (best of 2), batch 1 = short queries one at a time.", "",
        "| Model | Precision | Provider | Bulk texts/s | Batch-1 p50 / P95 (ms) | Min cosine | Mean cosine | "
        "Recall@10 | Memory (MB) | Verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in ladder.rows:
        s = r.speed
        speed = (f"{s.provider} | {s.texts_per_s:.1f} | {s.batch1_p50_ms:.2f} / {s.batch1_p95_ms:.2f}" if s
                 else f"n/a | not measured ({cell(r.speed_note)}) | n/a")
        missed = f": {', '.join(r.missed)}" if r.missed else ""
        lines.append(f"| `{r.model}` | {r.precision} | {speed} | {_num(r.min_cosine, '{:.6f}')} | "
                     f"{_num(r.mean_cosine, '{:.6f}')} | {_num(r.recall_at_10, '{:.3f}')} | "
                     f"{_num(s.memory_mb if s else None, '{:.0f}')} | {cell(r.verdict + missed)} |")
    if plot is not None:
        lines += ["", f"![speed against min cosine]({os.path.relpath(plot, written_to.parent)})"]
    return lines
