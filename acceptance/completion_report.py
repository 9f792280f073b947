"""reports/signoff.md: the PRD's "Week 2 Completion Report" and "Success Metrics" table, filled in
from signoff.json. Every placeholder of the PRD's template gets a measured value or the reason it
has none; nothing is left as [INSERT] or TBD."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

ICONS = {"pass": "✅ PASS", "fail": "❌ FAIL", "error": "❌ ERROR", "skipped": "⚠️ SKIPPED (not met)",
         "not-run": "⏸ NOT RUN (not met)"}


def cell(text: Any) -> str:
    """Text for a Markdown table cell: a literal | (the PRD's |norm - 1.0|) would start a new column."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _by_id(verdict: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in verdict["criteria"]}


def value(c: dict[str, Any] | None, fmt: str = "{:.4g}") -> str:
    if c is None:
        return "not in this profile"
    if c["measured"] is None:
        return f"not measured ({c['status']}: {c['reason'] or 'no reason recorded'})"
    return f"{fmt.format(c['measured'])} {c['unit']}".strip()


def status(c: dict[str, Any] | None) -> str:
    return "not in this profile" if c is None else ICONS[c["status"]]


def write_completion_report(verdict: dict[str, Any], path: Path) -> Path:
    c = _by_id(verdict)
    env, model = verdict["environment"], verdict["model"]
    signed = verdict["verdict"] == "signed-off"
    plots = [Path(p) for p in verdict.get("measurements", {}).get("plots", [])]
    parity = c.get("parity.min_cosine") or {}
    parity_mean = parity.get("details", {}).get("mean")
    integration = c.get("integration.tests_passing")
    run = verdict.get("run", {})
    ended = run.get("ended", "completed")
    lines = [
        f"# Sign-off completion report: {model['name']} ({model['id']})",
        "",
    ]
    if ended != "completed":
        lines += [f"> **⚠️ This run was {ended.upper()}**: its verdict covers only what it measured before that, "
                  "and it is not a sign-off.", ""]
    baseline = verdict.get("baseline") or {}
    if baseline.get("accepted_differences"):
        lines += [f"> **⚠️ Compared with a baseline of another deployment or device** (`--baseline-any`): "
                  f"{'; '.join(baseline['accepted_differences'])}.", ""]
    selection = run.get("selection", {})
    suite = run.get("suite", {})
    lines += [
        f"**Date:** {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC}  ",
        f"**Verdict:** {'✅ SIGNED OFF' if signed else '❌ NOT SIGNED OFF'}  ",
        f"**Run:** `{run.get('run_id', 'unrecorded')}`, {run.get('started_at', '?')} to {run.get('ended_at', '?')}, "
        f"ended: {ended}, exit status {run.get('exit_status', '?')}; host `{run.get('host', '?')}`  ",
        f"**Command:** `{run.get('command', '?')}` (selection: -m {selection.get('markexpr') or '(all)'}, "
        f"-k {selection.get('keyword') or '(all)'}; injected fault: {selection.get('injected_fault') or 'none'})  ",
        f"**Suite commit:** `{suite.get('commit', '?')}`" + (" (with local changes)" if suite.get("dirty") else "") + "  ",
        f"**Model file tested:** `{model.get('onnx')}` sha256 `{model.get('onnx_sha256')}`; tokenizer sha256 "
        f"`{model.get('tokenizer_sha256')}`; checked against: {', '.join(model.get('verified_against') or []) or 'nothing recorded'}  ",
        f"**Profile:** `{verdict['profile']}`  ",
        f"**Device:** {env.get('gpu') if not str(env.get('gpu', 'none')).startswith('none') else 'no GPU'}; "
        f"{env.get('cpu')} x{env.get('cpu_cores')}, {env.get('memory_gb')} GB; {env.get('os')}  ",
        f"**Providers used:** {', '.join(env.get('providers_used', []))} "
        f"(requested: {env.get('provider_requested')}; available: {', '.join(env.get('providers_available', []))})"
        + "".join(f"  \n**Left out:** {name}: {why}" for name, why in (env.get("providers_skipped") or {}).items()),
        "",
        "## Executive summary",
        "",
        _summary(verdict, c),
        "",
        "## Performance results",
        "",
        "**Latency (P95):**",
    ]
    for batch in (1, 8, 32):
        crit = c.get(f"latency.p95_ms.batch_{batch}")
        samples = (crit or {}).get("details", {}).get("samples")
        lines.append(f"- Batch size {batch}: {value(crit, '{:.1f}')}"
                     + (f" (target {crit['target_text']}, {samples} samples)" if crit and samples else ""))
    lines += ["", "**Throughput:**"]
    for threads, label in ((1, "Single-threaded"), (4, "Concurrent (4 threads)")):
        crit = c.get(f"throughput.qps.threads_{threads}")
        lines.append(f"- {label}: {value(crit, '{:.1f}')}" + (f" (target {crit['target_text']})" if crit else ""))
    semantic = c.get("quality.semantic_pass_rate")
    lines += [
        "", "**Quality:**",
        f"- Cosine similarity vs HuggingFace PyTorch fp32: min {value(c.get('parity.min_cosine'), '{:.6f}')}"
        + (f", mean {parity_mean:.6f}" if parity_mean is not None else "")
        + (f" (target {parity['target_text']})" if parity else ""),
        f"- Semantic similarity tests: {status(semantic)} ({value(semantic, '{:.2f}')})",
        f"- Retrieval recall@10 (agreement with the baseline's top 10): {value(c.get('retrieval.recall_at_10'), '{:.3f}')}",
        f"- L2 normalization, max |norm - 1|: {value(c.get('norm.max_deviation'), '{:.2e}')}",
        "",
        "## Success metrics",
        "",
        "| Metric | Target | Measured | Status |",
        "|--------|--------|----------|--------|",
        f"| ONNX conversion | parity gate passed at export | onnx sha256 `{str(model.get('onnx_sha256'))[:16]}…` | "
        f"{'✅ PASS' if model.get('onnx_sha256') else '❌ no model file'} |",
    ]
    rows = [
        ("TensorRT engine build", "tensorrt.engine_build_s", "{:.1f}"),
        ("TensorRT engine load (cached)", "tensorrt.engine_load_s", "{:.2f}"),
        ("Integration tests", "integration.tests_passing", "{:.0f}"), ("Quality (cosine sim)", "parity.min_cosine", "{:.6f}"),
        ("Baseline latency (batch 1)", "latency.p95_ms.batch_1", "{:.1f}"),
        ("Baseline throughput", "throughput.qps.threads_1", "{:.1f}"),
        ("GPU memory", "resources.gpu_memory_mb", "{:.0f}"), ("CPU memory", "resources.cpu_memory_mb", "{:.0f}"),
    ]
    for label, cid, fmt in rows:
        crit = c.get(cid)
        target = crit["target_text"] if crit else "not in this profile"
        lines.append(f"| {label} | {cell(target)} | {cell(value(crit, fmt))} | {status(crit)} |")
    lines += ["", "## Every criterion of the profile", "", "| Criterion | PRD | Target | Measured | Status |",
              "|---|---|---|---|---|"]
    for crit in verdict["criteria"]:
        req = "" if crit["required"] else " (informational)"
        lines.append(f"| `{crit['id']}` | {cell(crit['prd_ref'])} | {cell(crit['target_text'])}{req} "
                     f"| {cell(value(crit))} | {status(crit)} |")
    if baseline:
        lines += ["", f"## Compared with baseline run `{baseline['run_id']}`", ""] + comparison_lines(verdict)
    lines += ["", "## Machine load during the timing measurements", ""] + contention_lines(verdict)
    unmet = [x for x in verdict["criteria"] if x["status"] in ("skipped", "not-run", "error")]
    lines += ["", "## Skipped, not run, or broken (each counts as not met)", ""]
    lines += [f"- `{x['id']}` ({x['status']}): {x['reason']}" for x in unmet] or ["- none: every criterion was measured"]
    lines += ["", "## Plots", ""]
    lines += [f"![{p.stem}]({os.path.relpath(p, path.parent)})" for p in plots] or ["- none were drawn in this run"]
    lines += [
        "", "## Environment", "",
        *(f"- {k}: {v}" for k, v in env.items()),
        f"- model: `{model.get('onnx')}` ({model.get('dimension')}-d, {model.get('pooling')} pooling, "
        f"{model.get('padding_side')} padding, max {model.get('max_length')} tokens)",
        "", "## Next steps (PRD Week 3)", "",
        "1. Performance optimization (P95 < 30 ms at batch 1, > 50 QPS: `--accept-profile thor-week3`)",
        "2. Batch size tuning", "3. TensorRT profile optimization", "4. Memory usage optimization", "",
        "Full results: `signoff.json`; dashboard: `make report` -> `reports/allure-report/index.html`.",
    ]
    if integration:
        lines.insert(lines.index("## Performance results") - 1,
                     f"\nIntegration tests: {value(integration, '{:.0f}')} of {integration['target']:g} passing "
                     f"({status(integration)}).")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def comparison_lines(verdict: dict[str, Any]) -> list[str]:
    """Each criterion against the baseline run: its value then and now, the change, and the judgement."""
    b = verdict["baseline"]
    lines = [f"Baseline: `{b['path']}` ({b.get('verdict')}, ended {b.get('ended_at')}; model {b.get('model')} "
             f"sha256 `{str(b.get('onnx_sha256'))[:16]}…`, profile {b.get('profile')}, {b.get('precision')}, "
             f"{cell(b.get('device'))}).", "",
             "| Criterion | Baseline | Today | Change | Change % | Allowance | Regression |", "|---|---|---|---|---|---|---|"]

    def num(x: Any, fmt: str = "{:.6g}") -> str:
        return "n/a" if x is None else fmt.format(x)

    for row in verdict.get("comparison", []):
        judged = {True: "❌ REGRESSED", False: "✅ within", None: "not judged"}[row["regressed"]]
        lines.append(f"| `{row['criterion']}` | {num(row['baseline'])} | {num(row['current'])} | "
                     f"{num(row['change_abs'], '{:+.6g}')} | {num(row['change_pct'], '{:+.1f}%')} | {cell(row['allowance'])} "
                     f"| {judged}{' (' + cell(row['note']) + ')' if row['note'] else ''} |")
    return lines


def contention_lines(verdict: dict[str, Any]) -> list[str]:
    """How busy the machine was while each timing figure was taken (acceptance/contention.py): a figure
    taken while others used the cores is re-measured, and never judged if it stays contended."""
    rows = [(c["id"], c["details"]["contention"]) for c in verdict["criteria"] if c.get("details", {}).get("contention")]
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


def _summary(verdict: dict[str, Any], c: dict[str, dict[str, Any]]) -> str:
    counts = {s: sum(x["status"] == s for x in verdict["criteria"] if x["required"])
              for s in ("pass", "fail", "error", "skipped", "not-run")}
    total = sum(counts.values())
    text = (f"{counts['pass']} of {total} required criteria passed; {counts['fail']} failed, {counts['error']} broke, "
            f"{counts['skipped']} could not be measured here and {counts['not-run']} were not run.")
    if verdict["verdict"] == "signed-off":
        return text + " The deployment meets every required criterion of the profile."
    return text + " The deployment is not signed off: a skipped or unrun criterion counts as not met."
