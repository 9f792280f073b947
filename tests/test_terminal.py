"""What a person watching a sign-off sees: progress lines for the long phases (one line each when
the output is not a terminal), the verdict, one line per failed criterion with its reason, and no
fixture reprs or tracebacks (those go to reports/failures.log and Allure)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_failing_run_prints_progress_the_verdict_and_one_line_per_failure(tmp_path):
    reports = tmp_path / "reports"
    # Every session.run stalls 40 ms: P95 at batch 1 is >= 40 ms against cpu-default's 30 ms.
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "acceptance", "-p", "no:cacheprovider", "--reports-dir", str(reports),
         "--accept-profile", str(ROOT / "tests" / "meta-timing-profile.toml"), "--intra-op-threads", "1",
         "-m", "latency", "-k", "batch_1", "--inject-fault", "sleep:40"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    out = done.stdout
    assert done.returncode == 1, out[-3000:] + done.stderr[-2000:]
    assert "VERDICT: NOT SIGNED OFF" in out
    # Progress, as a CI log shows it: a line when a phase starts, one when it ends.
    assert "latency grid (LoadGen SingleStream) ..." in out, out[-3000:]
    assert "latency grid (LoadGen SingleStream): batch 1 x 50 tokens: P95" in out, out[-3000:]
    assert "session on cpu: runs on CPUExecutionProvider, done in" in out
    # One line for the failure, naming the criterion and why; no fixture reprs, no traceback.
    failure_lines = [line for line in out.splitlines()
                     if "latency.p95_ms.batch_1: measured" in line and "misses" in line]
    assert failure_lines, out[-3000:]
    assert "latency_grid = {" not in out and "LatencyCell(" not in out and "Traceback" not in out
    assert "def test_latency_p95" not in out, "pytest's long traceback (source lines) should not show"
    log = (reports / "failures.log").read_text()
    assert "def test_latency_p95" in log and "latency.p95_ms.batch_1" in log, "the full traceback is kept"
    assert f"full tracebacks: {reports / 'failures.log'}" in out


def test_a_phase_that_reports_nothing_still_speaks_in_a_log(monkeypatch):
    """A session's engine build, or a LoadGen run of long queries, calls no update() for minutes: the
    phase's heartbeat says it is still running (every HEARTBEAT_S; shortened here)."""
    import time

    from acceptance import progress

    lines = []

    class Log:  # a reporter writing to a log: every line it is handed
        def draw(self, line, *, final, paced=False):
            lines.append((line, paced))

    monkeypatch.setattr(progress, "HEARTBEAT_S", 0.02)
    phase = progress.Phase("session on tensorrt", Log())
    with phase.heartbeat():
        waited = time.monotonic()
        while not lines and time.monotonic() - waited < 60:  # a busy machine may be slow to run the thread
            time.sleep(0.01)
    assert lines and all(paced and line.startswith("session on tensorrt: still running (") for line, paced in lines)
