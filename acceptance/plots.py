"""Sign-off plots (matplotlib, PNG) drawn from signoff.json's contents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: no display on CI or on the device
import matplotlib.pyplot as plt  # noqa: E402


def _criteria(signoff: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    return [c for c in signoff["criteria"] if c["id"].startswith(prefix)]


def latency_vs_batch(signoff: dict[str, Any], out: Path) -> Path | None:
    cells = signoff.get("measurements", {}).get("latency_cells")
    if not cells:
        return None
    crit = {c["details"].get("text_tokens") for c in _criteria(signoff, "latency.p95_ms") if c["details"]}
    tokens = next(iter(crit - {None}), cells[0]["text_tokens"])
    row = sorted((c for c in cells if c["text_tokens"] == tokens), key=lambda c: c["batch_size"])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot([c["batch_size"] for c in row], [c["p50_ms"] for c in row], "o-", label="P50")
    ax.plot([c["batch_size"] for c in row], [c["p95_ms"] for c in row], "s-", label="P95")
    for c in _criteria(signoff, "latency.p95_ms.batch_"):
        batch = int(c["id"].rsplit("_", 1)[1])
        ax.plot([batch], [c["target"]], "r_", markersize=24, mew=2)
        ax.annotate(f"P95 < {c['target']:g} ms", (batch, c["target"]), textcoords="offset points", xytext=(6, 4),
                    color="red", fontsize=8)
    ax.set(xscale="log", xlabel="batch size", ylabel="latency per query (ms)",
           title=f"Latency vs batch size ({tokens}-token texts), {signoff['model']['id']}")
    ax.set_xticks([c["batch_size"] for c in row], [str(c["batch_size"]) for c in row])
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, out / "latency_vs_batch.png")


def latency_vs_length(signoff: dict[str, Any], out: Path) -> Path | None:
    cells = signoff.get("measurements", {}).get("latency_cells")
    if not cells:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for batch in sorted({c["batch_size"] for c in cells}):
        row = sorted((c for c in cells if c["batch_size"] == batch), key=lambda c: c["text_tokens"])
        ax.plot([c["text_tokens"] for c in row], [c["p50_ms"] for c in row], "o-", label=f"batch {batch}")
    ax.set(xscale="log", yscale="log", xlabel="text length (tokens, before truncation)", ylabel="P50 latency (ms)",
           title=f"Latency vs text length, {signoff['model']['id']}")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return _save(fig, out / "latency_vs_length.png")


def throughput(signoff: dict[str, Any], out: Path) -> Path | None:
    crits = [c for c in _criteria(signoff, "throughput.qps") if c["measured"] is not None]
    if not crits:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    labels = [c["id"].rsplit(".", 1)[1].replace("_", " ") for c in crits]
    bars = ax.bar(labels, [c["measured"] for c in crits], color=["tab:green" if c["status"] == "pass" else "tab:red"
                                                                for c in crits])
    for bar, c in zip(bars, crits):
        ax.hlines(c["target"], bar.get_x(), bar.get_x() + bar.get_width(), colors="red", linestyles="--")
        ax.annotate(f"{c['measured']:.1f}", (bar.get_x() + bar.get_width() / 2, c["measured"]), ha="center",
                    va="bottom")
    ax.set(ylabel="queries per second", title=f"Throughput (dashed: target), {signoff['model']['id']}")
    return _save(fig, out / "throughput.png")


def parity_histogram(signoff: dict[str, Any], out: Path) -> Path | None:
    crit = next(iter(_criteria(signoff, "parity.min_cosine")), None)
    cosines = (crit or {}).get("details", {}).get("cosines")
    if not cosines:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(cosines, bins=40)
    ax.axvline(crit["target"], color="red", linestyle="--", label=f"target {crit['comparator']} {crit['target']:g}")
    ax.set(xlabel="cosine(deployed, PyTorch fp32)", ylabel="texts", title=f"Parity, {signoff['model']['id']}")
    ax.legend()
    return _save(fig, out / "parity_cosine_hist.png")


def baseline_comparison(signoff: dict[str, Any], out: Path) -> Path | None:
    """How much worse (or better) than the baseline run each judged criterion is, as a share of its
    allowance: a bar past 1 is a regression."""
    regressions = {c["id"].removeprefix("regression."): c for c in _criteria(signoff, "regression.")}
    rows = [(cid, c["measured"] / c["target"] if c["target"] else float(c["measured"] > 0), c["status"])
            for cid, c in regressions.items() if c["measured"] is not None]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.6))
    ax.barh([r[0] for r in rows], [r[1] for r in rows],
            color=["tab:red" if r[2] == "fail" else "tab:green" for r in rows])
    ax.axvline(1.0, color="red", linestyle="--", label="allowance")
    ax.axvline(0.0, color="black", linewidth=0.8)
    baseline = signoff.get("baseline") or {}
    ax.set(xlabel="worse than the baseline, as a share of the allowance (< 0: better)",
           title=f"Against baseline run {baseline.get('run_id', '?')}, {signoff['model']['id']}")
    ax.legend()
    return _save(fig, out / "baseline_comparison.png")


def precision_frontier(ladder: dict[str, Any], out: Path) -> Path | None:
    """The precision ladder's bulk texts/s against min cosine, one point per precision (green: its
    criteria met); the PRD's 0.99 as a line."""
    points = [r for r in ladder["rows"] if r.get("texts_per_s") and r.get("min_cosine") is not None]
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in points:
        ax.scatter(r["min_cosine"], r["texts_per_s"], s=60, marker="o" if r["signed_off_quality"] else "x",
                   color="tab:green" if r["signed_off_quality"] else "tab:red")
        ax.annotate(f"{r['precision']} ({r.get('provider', '').removesuffix('ExecutionProvider')})",
                    (r["min_cosine"], r["texts_per_s"]), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.axvline(0.99, color="red", linestyle="--", linewidth=1)
    ax.annotate("min cosine 0.99 (PRD)", (0.99, ax.get_ylim()[1]), textcoords="offset points", xytext=(4, -12),
                color="red", fontsize=8)
    ax.set(xlabel="min cosine vs PyTorch fp32 (parity corpus)", ylabel="bulk texts/s (higher is better)",
           title=f"Precision frontier: {ladder['base']} ({ladder['threads']} threads)")
    ax.grid(alpha=0.3)
    return _save(fig, out / "precision_frontier.png")


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def draw_all(signoff: dict[str, Any], out: Path) -> list[Path]:
    made = (f(signoff, out) for f in (latency_vs_batch, latency_vs_length, throughput, parity_histogram,
                                             baseline_comparison))
    return [p for p in made if p is not None]
