"""The one renderer: every human-facing file of a reports dir, drawn from its data files.

    render(reports_dir)

reads signoff.json (the run's SignoffReport) and, when it belongs to the same `make signoff`,
precision/ladder.json (the PrecisionLadder), and writes signoff.md, the plots, the Allure run files
(environment, categories, executor, the first screen's globals) and the dashboard's headline. Components
write only their own data file and then call this: nothing edits another component's file, and a render
can run again at any time with the same result.

    python -m acceptance.report.render [REPORTS_DIR]
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from acceptance.report.allure_files import write_headline, write_run_files
from acceptance.report.ladder import LADDER_FILE, PrecisionLadder
from acceptance.report.markdown import completion_report
from acceptance.report.plots import draw_all, precision_frontier
from acceptance.report.serial import ReportFormatError
from acceptance.report.signoff import SignoffReport

REPORT_MD = "signoff.md"


@dataclass(frozen=True)
class Rendered:
    report: SignoffReport
    ladder: PrecisionLadder | None
    markdown: Path
    plots: list[Path]
    headline: str


def ladder_of(reports_dir: Path, report: SignoffReport) -> PrecisionLadder | None:
    """The precision ladder measured beside this run, or None (none, or one of another `make signoff`)."""
    if not (reports_dir / LADDER_FILE).is_file():
        return None
    try:
        ladder = PrecisionLadder.read(reports_dir)
    except ReportFormatError:
        return None  # an older ladder than this code reads: not this run's, which is always current
    return ladder if ladder.invocation == report.run.invocation and ladder.base == report.model.id else None


def render(reports_dir: Path, allure_results: Path | None = None) -> Rendered:
    reports_dir = Path(reports_dir)
    report = SignoffReport.read(reports_dir)
    ladder = ladder_of(reports_dir, report)
    plots_dir = reports_dir / "plots"
    plots = draw_all(report, plots_dir)
    frontier = precision_frontier(ladder, plots_dir) if ladder else None
    markdown = reports_dir / REPORT_MD
    markdown.write_text(completion_report(report, written_to=markdown, plots=plots, ladder=ladder, ladder_plot=frontier,
                                          date=report.run.ended_at or report.run.started_at), encoding="utf-8")
    results = allure_results or reports_dir / "allure-results"
    if results.is_dir():
        write_run_files(results, report, [markdown, *([frontier] if frontier else [])])
    write_headline(reports_dir, report.headline)
    return Rendered(report, ladder, markdown, plots + ([frontier] if frontier else []), report.headline)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    reports = Path(args[0] if args else "reports")
    try:
        rendered = render(reports)
    except ReportFormatError as exc:
        print(f"render: {exc}", file=sys.stderr)
        return 2
    print(f"{rendered.headline}: {rendered.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
