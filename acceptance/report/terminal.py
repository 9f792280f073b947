"""The criteria table and the verdict on the terminal (rich), from the typed report."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from acceptance.report.signoff import SignoffReport


def print_report(report: SignoffReport, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"Sign-off criteria: profile {report.profile}, model {report.model.id}")
    for column in ("criterion", "target", "measured", "status", "reason"):
        table.add_column(column, overflow="fold")
    for c in report.criteria:
        measured = "" if c.measured is None else f"{c.measured:.6g} {c.unit}".strip()
        target = c.target_text + ("" if c.required else " (info)")
        table.add_row(c.id, target, measured, f"[{c.status.style.colour}]{c.status}[/]", c.reason[:160])
    console.print(table)
    if report.comparison and report.comparison.baseline.accepted_differences:
        console.print("[yellow]Compared with a baseline that differs (--baseline-any): "
                      f"{'; '.join(report.comparison.baseline.accepted_differences)}[/]")
    suffix = "" if report.run.complete else f" (the run was {report.run.ended.upper()})"
    console.print(f"[bold {report.verdict.colour}]VERDICT: {report.verdict.headline}{suffix}[/]")


def tested_line(report: SignoffReport) -> str:
    """Which run, and which file it really tested (hashed at load)."""
    model, run = report.model, report.run
    tested = f"run {run.run_id} ({run.ended}); tested {model.onnx or 'no model file'}"
    if model.onnx_sha256:
        tested += (f" sha256 {model.onnx_sha256[:16]}…, checked against "
                   f"{', '.join(model.verified_against) or 'no recorded hash'}")
    return tested
