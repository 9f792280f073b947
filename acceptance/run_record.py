"""Which run a report belongs to: the run record every signoff.json carries, and the rule that an
older report never survives a new run looking current.

At the start of an acceptance run the previous signoff.json and signoff.md move to
reports/history/<their run id>/ (nothing is deleted), so a run that stops before its first test
(usage error, empty selection, Ctrl-C at start-up) leaves no verdict behind rather than an old one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

from acceptance.report.signoff import RunInfo
from acceptance.report.vocabulary import RunEnd

REPORT_FILES = ("signoff.json", "signoff.md", "headline.txt")
#: Set by `make signoff` for all the pytest runs of one invocation, so reports are only ever merged
#: with reports of the same invocation.
INVOCATION_ENV = "EMBED_SIGNOFF_INVOCATION"
SUITE_ROOT = Path(__file__).resolve().parent.parent


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def git_commit(root: Path = SUITE_ROOT) -> dict[str, Any]:
    """The suite's own commit, and whether its tracked files differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return {"commit": "not a git checkout", "dirty": None}
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)
        return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "not a git checkout (git is not installed)", "dirty": None}


def start_run(invocation_args: list[str], args: list[str], markexpr: str, keyword: str,
              fault: str | None) -> RunInfo:
    stamp = dt.datetime.now(dt.UTC)
    return RunInfo(
        run_id=f"{stamp:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}",
        started_at=stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
        command=shlex.join(["pytest", *invocation_args]),
        selection={"args": list(args), "markexpr": markexpr or None, "keyword": keyword or None,
                   "injected_fault": fault},
        suite=git_commit(), host=platform.node(), invocation=os.environ.get(INVOCATION_ENV),
    )


def finish_run(record: RunInfo, exit_status: int, *, interrupted: bool, stopped_early: bool,
               collected: int, ran: int) -> RunInfo:
    record.ended_at = utc_now()
    record.exit_status = int(exit_status)
    record.tests = {"selected": collected, "ran_not_skipped": ran}
    if interrupted:
        record.ended = RunEnd.INTERRUPTED
    elif exit_status == 3:
        record.ended = RunEnd.INTERNAL_ERROR
    elif exit_status == 4:
        record.ended = RunEnd.USAGE_ERROR
    elif stopped_early:
        record.ended = RunEnd.STOPPED_EARLY
    else:
        record.ended = RunEnd.COMPLETED
    return record


def archive_previous(reports: Path) -> Path | None:
    """Move the previous run's signoff.json/.md into reports/history/<its run id>/. Returns where."""
    present = [reports / name for name in REPORT_FILES if (reports / name).is_file()]
    if not present:
        return None
    run_id = _run_id_of(reports / "signoff.json")
    if not run_id:  # a report from before run records, or not readable: name it by its time
        mtime = dt.datetime.fromtimestamp(present[0].stat().st_mtime, dt.UTC)
        run_id = f"{mtime:%Y%m%dT%H%M%SZ}-unrecorded"
    target = reports / "history" / str(run_id)
    while target.exists():
        target = target.with_name(target.name + "+")
    target.mkdir(parents=True)
    for path in present:
        shutil.move(str(path), target / path.name)
    return target


def _run_id_of(signoff: Path) -> str | None:
    """The run id of a signoff.json of any schema version, or None: archiving never fails on an old file."""
    try:
        run = json.loads(signoff.read_text(encoding="utf-8")).get("run", {})
        return str(run["run_id"]) if isinstance(run, dict) and run.get("run_id") else None
    except (OSError, ValueError, AttributeError):
        return None
