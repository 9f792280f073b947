"""The whole GPU sign-off in one prepared command: build each model where it runs, sign each off with the
acceptance suite under one provider (strictly) and one profile, and bundle what a device window must bring
back (every signoff.json, the latency grid, the NVML memory figures, each session's node placement) with
the time every step took.

    python -m acceptance.device_check --provider cuda --profile thor-week2 --out OUT MODEL ...

`make device-check` runs it (tools/device_check/run.sh sets up a lent GPU machine first); a test runs the
same command here with the CPU provider on qwen3-tiny, so it cannot rot between GPU windows. Each build and
each sign-off runs in a child process: a build's peak memory is its own, and one model's failure does not
stop the rest. A step that prints nothing for 30 s gets a line saying it is still running.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tarfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from acceptance.environment import describe_environment
from acceptance.report.serial import ReportFormatError, to_jsonable
from acceptance.report.signoff import SignoffReport
from modelprep.progress import StepLog

BUILD_CODE = (
    "import sys, time; t = time.perf_counter()\n"
    "from modelprep.assets import ensure_artifacts\n"
    "from runtime.manifest import load_manifest\n"
    "m = load_manifest(sys.argv[1]); ensure_artifacts(m)\n"
    "print(f'built {m.id} in {time.perf_counter() - t:.1f} s: {m.onnx_path}')\n"
)


@dataclass
class Step:
    """One timed child process: a build or a sign-off."""

    name: str
    command: list[str]
    seconds: float = 0.0
    exit_code: int | None = None
    peak_rss_mib: float | None = None  # the child's own peak (getrusage of children, per step)
    log: str = ""


@dataclass
class ModelCheck:
    model: str
    build: Step
    signoff: Step | None = None
    verdict: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def say(line: str) -> None:
    print(f"device-check: {line}", flush=True)


def run_step(step: Step, log_dir: Path, env: dict[str, str]) -> Step:
    """Run the step's command, its output to a log and echoed; a step silent for 30 s gets a line."""
    log_path = log_dir / f"{step.name}.log"
    step.log = log_path.name
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    with log_path.open("w", encoding="utf-8") as log, StepLog(step.name, stream=sys.stdout, live=False) as lines:
        child = subprocess.Popen(step.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                 bufsize=1)
        for line in child.stdout:
            log.write(line)
            lines.note(line.rstrip()[:300])
        step.exit_code = child.wait()
    step.seconds = round(time.perf_counter() - start, 1)
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest child so far: it names this step's peak only when it grew.
    step.peak_rss_mib = round(after / 1024, 1) if after > before else None
    say(f"{step.name}: exit {step.exit_code} in {step.seconds:.1f} s")
    return step


def signoff_summary(report: SignoffReport) -> dict[str, Any]:
    """The figures a GPU window exists to bring back, read from one run's report."""
    gpu_memory = report.criterion("resources.gpu_memory_mb")
    return {
        "verdict": report.verdict.value,
        "provider_used": report.environment.providers_used,
        "gpu": report.environment.gpu,
        "onnx_sha256": report.model.onnx_sha256,
        "criteria": {c.id: {"status": c.status.value, "measured": c.measured, "reason": c.reason}
                     for c in report.criteria},
        "gpu_memory_mib": gpu_memory.details.get("gpu_memory_mib") if gpu_memory else None,
        "latency_cells": len(report.measurements.latency_cells),
        "load_runs": {r.name: {"valid": r.valid, "p95_ms": r.p95_ms, "early_stopping_p95_ms": r.early_stopping_p95_ms,
                               "queries_per_s": r.queries_per_s} for r in report.measurements.load_runs},
    }


def placement(reports: Path) -> dict[str, Any]:
    """Each session's node placement (runtime.session's report, written by every worker of the run)."""
    sessions = sorted((reports / ".run").glob("session-*.json"))
    return {p.stem: json.loads(p.read_text()).get("placement") for p in sessions}


def check_model(model: str, args: argparse.Namespace, out: Path, env: dict[str, str]) -> ModelCheck:
    logs = out / "logs"
    build = run_step(Step(f"build-{model}", [sys.executable, "-c", BUILD_CODE, model]), logs, env)
    check = ModelCheck(model, build)
    if build.exit_code != 0:
        check.verdict = "not run: the build failed (see its log)"
        return check
    reports = out / "runs" / model
    command = [sys.executable, "-m", "pytest", "acceptance", "-p", "no:cacheprovider", "--model", model,
               "--provider", args.provider, "--accept-profile", args.profile, "--reports-dir", str(reports),
               *(["--strict-provider"] if args.strict else []), *args.pytest_args]
    check.signoff = run_step(Step(f"signoff-{model}", command), logs, env)
    try:
        check.summary = signoff_summary(SignoffReport.read(reports)) | {"placement": placement(reports)}
        check.verdict = check.summary["verdict"]
    except ReportFormatError as exc:
        check.verdict = f"no verdict: the run stopped before one (exit {check.signoff.exit_code}; {exc})"
    return check


def bundle(out: Path) -> Path:
    """Everything under `out` in one archive: a GPU window brings back few files (device tool limits)."""
    archive = out.parent / f"{out.name}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(out, arcname=out.name)
    return archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="manifest names or paths, signed off one after another")
    parser.add_argument("--provider", default="cuda")
    parser.add_argument("--profile", default="thor-week2")
    parser.add_argument("--no-strict", dest="strict", action="store_false", help="allow a provider fallback")
    parser.add_argument("--out", type=Path, required=True, help="a new directory for the results")
    parser.add_argument("--pytest-args", default="", type=shlex.split,
                        help="one string, split as a shell would, for every sign-off run: \"-m 'not slow'\"")
    args = parser.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"{args.out} is not empty: give a new directory (nothing there is overwritten)")
    (args.out / "logs").mkdir(parents=True, exist_ok=True)
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    started = time.perf_counter()
    say(f"{len(args.models)} models on {args.provider} ({'strict' if args.strict else 'fallback allowed'}), "
        f"profile {args.profile}")
    checks = [check_model(model, args, args.out, env) for model in args.models]
    summary = {
        "provider": args.provider, "strict": args.strict, "profile": args.profile,
        "pytest_args": args.pytest_args, "environment": to_jsonable(describe_environment()),
        "total_s": round(time.perf_counter() - started, 1),
        "models": [asdict(c) for c in checks],
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    archive = bundle(args.out)
    for c in checks:
        say(f"{c.model}: {c.verdict} (build {c.build.seconds:.0f} s, sign-off "
            f"{c.signoff.seconds if c.signoff else 0:.0f} s)")
    say(f"done in {summary['total_s']:.0f} s: {args.out / 'summary.json'}, {archive}")
    return 0 if all(c.signoff is not None and c.summary for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
