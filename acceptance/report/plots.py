"""Sign-off plots (matplotlib, PNG), each from the typed figures it shows. `draw_all` draws a run's plots
from its SignoffReport (the renderer calls it); tests draw one plot mid-run to attach it to their result."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")  # headless: no display on CI or on the device
import matplotlib.pyplot as plt  # noqa: E402

from acceptance.report.ladder import PrecisionLadder  # noqa: E402
from acceptance.report.signoff import CriterionResult, SignoffReport  # noqa: E402
from acceptance.report.vocabulary import Status  # noqa: E402

if TYPE_CHECKING:
    from acceptance.report.bench import BenchReport


def latency_vs_batch(cells: list[dict[str, Any]], bounds: dict[int, float], text_tokens: int, model: str,
                     out: Path) -> Path | None:
    """P50 and P95 against batch size at the criteria's text length; `bounds`: batch size -> P95 bound."""
    row = sorted((c for c in cells if c["text_tokens"] == text_tokens), key=lambda c: c["batch_size"])
    if not row:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot([c["batch_size"] for c in row], [c["p50_ms"] for c in row], "o-", label="P50")
    ax.plot([c["batch_size"] for c in row], [c["p95_ms"] for c in row], "s-", label="P95")
    for batch, bound in bounds.items():
        ax.plot([batch], [bound], "r_", markersize=24, mew=2)
        ax.annotate(f"P95 < {bound:g} ms", (batch, bound), textcoords="offset points", xytext=(6, 4), color="red",
                    fontsize=8)
    ax.set(xscale="log", xlabel="batch size", ylabel="latency per query (ms)",
           title=f"Latency vs batch size ({text_tokens}-token texts), {model}")
    ax.set_xticks([c["batch_size"] for c in row], [str(c["batch_size"]) for c in row])
    ax.grid(alpha=0.3)
    ax.legend()
    return save(fig, out / "latency_vs_batch.png")


def latency_vs_length(cells: list[dict[str, Any]], model: str, out: Path) -> Path | None:
    if not cells:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for batch in sorted({c["batch_size"] for c in cells}):
        row = sorted((c for c in cells if c["batch_size"] == batch), key=lambda c: c["text_tokens"])
        ax.plot([c["text_tokens"] for c in row], [c["p50_ms"] for c in row], "o-", label=f"batch {batch}")
    ax.set(xscale="log", yscale="log", xlabel="text length (tokens, before truncation)", ylabel="P50 latency (ms)",
           title=f"Latency vs text length, {model}")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return save(fig, out / "latency_vs_length.png")


def throughput(criteria: Sequence[CriterionResult], model: str, out: Path) -> Path | None:
    crits = [c for c in criteria if c.id.startswith("throughput.qps") and c.measured is not None]
    if not crits:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    labels = [c.id.rsplit(".", 1)[1].replace("_", " ") for c in crits]
    bars = ax.bar(labels, [c.measured for c in crits], color=[c.status.style.plot_colour for c in crits])
    for bar, c in zip(bars, crits, strict=True):
        ax.hlines(c.target, bar.get_x(), bar.get_x() + bar.get_width(), colors="red", linestyles="--")
        ax.annotate(f"{c.measured:.1f}", (bar.get_x() + bar.get_width() / 2, c.measured), ha="center", va="bottom")
    ax.set(ylabel="queries per second", title=f"Throughput (dashed: target), {model}")
    return save(fig, out / "throughput.png")


def parity_histogram(cosines: Sequence[float], target: float, comparator: str, model: str, out: Path) -> Path | None:
    if not cosines:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(cosines, bins=40)
    ax.axvline(target, color="red", linestyle="--", label=f"target {comparator} {target:g}")
    ax.set(xlabel="cosine(deployed, PyTorch fp32)", ylabel="texts", title=f"Parity, {model}")
    ax.legend()
    return save(fig, out / "parity_cosine_hist.png")


def baseline_comparison(criteria: Sequence[CriterionResult], baseline_run: str, model: str, out: Path) -> Path | None:
    """How much worse (or better) than the baseline run each judged criterion is, as a share of its
    allowance: a bar past 1 is a regression."""
    rows = [(c.id.removeprefix("regression."), c.measured / c.target if c.target else float(c.measured > 0), c.status)
            for c in criteria if c.id.startswith("regression.") and c.measured is not None]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.6))
    ax.barh([r[0] for r in rows], [r[1] for r in rows],
            color=[(Status.FAIL if r[2] is Status.FAIL else Status.PASS).style.plot_colour for r in rows])
    ax.axvline(1.0, color="red", linestyle="--", label="allowance")
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set(xlabel="worse than the baseline, as a share of the allowance (< 0: better)",
           title=f"Against baseline run {baseline_run}, {model}")
    ax.legend()
    return save(fig, out / "baseline_comparison.png")


def precision_frontier(ladder: PrecisionLadder, out: Path) -> Path | None:
    """The precision ladder's bulk texts/s against min cosine, one point per precision (green: its
    criteria met); the PRD's 0.99 as a line."""
    points = [r for r in ladder.rows if r.speed and r.min_cosine is not None]
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in points:
        status = Status.PASS if r.signed_off else Status.FAIL
        ax.scatter(r.min_cosine, r.speed.texts_per_s, s=60, marker="o" if r.signed_off else "x",
                   color=status.style.plot_colour)
        ax.annotate(f"{r.precision} ({r.speed.provider.removesuffix('ExecutionProvider')})",
                    (r.min_cosine, r.speed.texts_per_s), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.axvline(0.99, color="red", linestyle="--", linewidth=1)
    ax.annotate("min cosine 0.99 (PRD)", (0.99, ax.get_ylim()[1]), textcoords="offset points", xytext=(4, -12),
                color="red", fontsize=8)
    ax.set(xlabel="min cosine vs PyTorch fp32 (parity corpus)", ylabel="bulk texts/s (higher is better)",
           title=f"Precision frontier: {ladder.base} ({ladder.threads} threads)")
    ax.grid(alpha=0.3)
    return save(fig, out / "precision_frontier.png")


def server_latency(runs: list[dict], bound_ms: float, model: str, out: Path) -> Path | None:
    """The Server search: P50 and P95 against the offered (Poisson) rate, the bound drawn."""
    runs = sorted(runs, key=lambda r: r["target_qps"])
    if not runs:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    rates = [r["target_qps"] for r in runs]
    ax.plot(rates, [r["p50_ms"] for r in runs], "o-", label="P50")
    ax.plot(rates, [r["p95_ms"] for r in runs], "s-", label="P95")
    for r in runs:
        ax.scatter([r["target_qps"]], [r["p95_ms"]], s=70, facecolors="none",
                   edgecolors=(Status.PASS if r["held"] else Status.FAIL).style.plot_colour)
    ax.axhline(bound_ms, color="red", linestyle="--", label=f"P95 bound {bound_ms:g} ms")
    ax.set(xlabel="offered load (queries/s, Poisson arrivals)", ylabel="latency (ms)", yscale="log",
           title=f"Latency under load (LoadGen Server), {model}")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return save(fig, out / "server_latency.png")


def layerwise(report, model: str, out: Path) -> Path | None:
    """The layer-wise parity: min cosine per layer (and where the deployed graph's values overflowed)."""
    layers = [layer for layer in report.layers if layer.min_cosine is not None]
    if not layers:
        return None
    fig, ax = plt.subplots(figsize=(max(7.0, 0.28 * len(layers) + 3), 4.5))
    values = [layer.min_cosine for layer in layers]
    colours = [Status.PASS.style.plot_colour if v >= report.target else Status.FAIL.style.plot_colour for v in values]
    ax.bar(range(len(layers)), values, color=colours)
    ax.axhline(report.target, color="red", linestyle="--", linewidth=1, label=f"parity target {report.target:g}")
    for position, layer in enumerate(layers):
        if not layer.finite:
            ax.annotate("inf", (position, values[position]), ha="center", va="bottom", color="red", fontsize=7)
    ax.set_xticks(range(len(layers)), [layer.module for layer in layers], rotation=75, ha="right", fontsize=7)
    first = report.first_divergent_layer
    ax.set(ylabel="min cosine per token vs PyTorch fp32", ylim=(min(0.0, min(values)), 1.01),
           title=f"Layer by layer, {model}" + (f": first divergent {first['module']}" if first else ""))
    ax.legend()
    return save(fig, out / "layerwise_parity.png")


def bench_plot(report: BenchReport, out: Path) -> Path:
    """`make bench`: two panels per system, bulk texts/s, and batch-1 p50 with its p95 as the whisker."""
    f = report.figures
    names = list(f.results)
    colors = ["tab:blue" if n.startswith(("runtime", "raw_session")) else "tab:gray" for n in names]
    labels = [f"{n}\n({f.precision.get(n)})" for n in names]
    fig, (bulk, single) = plt.subplots(1, 2, figsize=(13, 5))
    bulk.barh(labels, [f.results[n] for n in names], color=colors)
    bulk.set(xlabel="texts/s (higher is better)", title=f"bulk: {f.texts} texts, batch {f.batch_size}")
    p50 = [f.batch1[n]["p50_ms"] for n in names]
    p95 = [f.batch1[n]["p95_ms"] for n in names]
    whiskers = [b - a for a, b in zip(p50, p95, strict=True)]
    single.barh(labels, p50, color=colors, xerr=[[0] * len(names), whiskers], capsize=3)
    single.set(xlabel="ms (lower is better; bar p50, whisker p95)", title="batch 1: one short query at a time")
    single.set_yticklabels([])
    for ax in (bulk, single):
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"{f.model}, {f.threads} threads, {report.host}: {report.cpu.summary}", fontsize=10)
    return save(fig, out / "bench.png")


def save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def latency_bounds(criteria: Sequence[CriterionResult]) -> dict[int, float]:
    """Batch size -> the P95 bound of its latency criterion."""
    return {int(c.id.rsplit("_", 1)[1]): c.target for c in criteria if c.id.startswith("latency.p95_ms.batch_")}


def _server_of(server: CriterionResult | None, model: str, out: Path) -> Path | None:
    runs = server.details.get("runs") if server else None
    return server_latency(runs, server.details["bound_ms"], model, out) if runs else None


def _layerwise_of(parity: CriterionResult, model: str, out: Path) -> Path | None:
    from acceptance.layerwise import LayerwiseReport
    from acceptance.report.serial import from_jsonable

    data = parity.details.get("layerwise")
    return layerwise(from_jsonable(LayerwiseReport, data, "parity details"), model, out) if data else None


def draw_all(report: SignoffReport, out: Path) -> list[Path]:
    """Every plot the run's figures allow, as the renderer puts them in signoff.md."""
    cells, model = report.measurements.latency_cells, report.model.id
    tokens = next((c.details.get("text_tokens") for c in report.criteria
                   if c.id.startswith("latency.p95_ms.") and c.details.get("text_tokens")),
                  cells[0]["text_tokens"] if cells else 0)
    parity = report.criterion("parity.min_cosine")
    baseline_run = report.comparison.baseline.run_id if report.comparison else "?"
    made = (latency_vs_batch(cells, latency_bounds(report.criteria), tokens, model, out),
            latency_vs_length(cells, model, out), throughput(report.criteria, model, out),
            parity_histogram(parity.details.get("cosines", []), parity.target, parity.comparator, model, out)
            if parity else None,
            baseline_comparison(report.criteria, baseline_run, model, out),
            _server_of(report.criterion("throughput.server_qps"), model, out),
            _layerwise_of(parity, model, out) if parity else None)
    return [p for p in made if p is not None]
