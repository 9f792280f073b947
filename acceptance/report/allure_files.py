"""The Allure dashboard's run-level files, from the typed report: environment.properties, categories.json,
executor.json, and the "globals" (Allure 3's first screen: the completion report as an attachment and one
error per criterion not met). The headline the dashboard's title shows is computed here too, and read by
tools/allure/allurerc.mjs from HEADLINE_FILE."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from acceptance.report.signoff import SignoffReport
from acceptance.report.vocabulary import FAILURE_KINDS

#: Allure 3 reads run-level ("global") errors and attachments from files ending so.
GLOBALS_NAME = "-globals.json"
GLOBAL_ATTACHMENT_TYPES = {".md": "text/markdown", ".png": "image/png", ".svg": "image/svg+xml"}
#: The dashboard's title, one line, beside the results it names (allurerc.mjs reads it).
HEADLINE_FILE = "headline.txt"


def categories() -> list[dict]:
    """Allure's failure categories, from the vocabulary's failure kinds (the messages carry the markers)."""
    return [{"name": kind.category, "matchedStatuses": list(kind.statuses),
             **({"messageRegex": f".*{re.escape(kind.marker)}.*"} if kind.marker else {})} for kind in FAILURE_KINDS]


def environment_properties(report: SignoffReport) -> dict[str, str]:
    env, model, run = report.environment, report.model, report.run
    props = {
        "Device": env.gpu or f"CPU only ({env.host})", "OS": env.os, "CPU": env.cpu.summary,
        "GPU": env.gpu or f"none ({env.gpu_reason})", "Driver": env.gpu_driver or "n/a",
        "CUDA": env.cuda_driver or "n/a",
        "TensorRT": env.tensorrt or "not installed", "onnxruntime": env.onnxruntime,
        "Providers.available": ", ".join(env.providers_available), "Providers.used": env.providers_text,
        **{f"Providers.skipped.{name}": why for name, why in env.providers_skipped.items()},
        "Model": model.id, "Model.sha256": model.onnx_sha256 or "no model file was loaded",
        "Model.verified_against": ", ".join(model.verified_against) or "nothing recorded",
        "Tokenizer.sha256": model.tokenizer_sha256 or "n/a", "Profile": report.profile, "Verdict": report.verdict.value,
        "Run": run.run_id, "Run.ended": run.ended.value, "Run.command": run.command,
        "Suite.commit": str(run.suite.get("commit")),
    }
    return {k: str(v).replace("\n", " ") for k, v in props.items()}


def write_run_files(results_dir: Path, report: SignoffReport, attachments: Sequence[Path]) -> None:
    """Everything run-level the dashboard shows, for one run's allure-results."""
    results_dir.mkdir(parents=True, exist_ok=True)
    errors = [(f"{c.id}: {c.status}" + (f" ({c.reason[:200]})" if c.reason else ""), None) for c in report.unmet()]
    write_globals(results_dir, report.verdict.headline, attachments, errors)
    props = environment_properties(report)
    (results_dir / "environment.properties").write_text(
        "\n".join(f"{k}={v}" for k, v in props.items()) + "\n", encoding="utf-8")
    (results_dir / "categories.json").write_text(json.dumps(categories(), indent=2))
    (results_dir / "executor.json").write_text(json.dumps({
        "name": "embed-signoff", "type": "pytest", "buildName": f"{report.model.id} / {report.profile}",
        "buildOrder": int(os.environ.get("BUILD_NUMBER", "0")) or None,
        "reportName": report.headline, "host": platform.node(),
    }, indent=2))


def write_headline(reports_dir: Path, headline: str) -> Path:
    path = reports_dir / HEADLINE_FILE
    path.write_text(headline + "\n", encoding="utf-8")
    return path


def write_globals(results_dir: Path, headline: str, attachments: Sequence[Path],
                  errors: list[tuple[str, str | None]]) -> None:
    """The verdict on the dashboard's first screen: the attachments (the completion report first, under its
    file name; then e.g. plots, under their stem) and one global error per criterion not met, each a
    (message, Allure environment or None) pair: a fleet puts each device's errors under its environment."""
    for old in results_dir.glob(f"*{GLOBALS_NAME}"):
        old.unlink()  # written by an earlier render of this same results dir
    now = int(time.time() * 1000)
    records = []
    for i, path in enumerate(p for p in attachments if p.is_file()):
        source = f"{uuid.uuid4()}-attachment{path.suffix}"
        shutil.copy2(path, results_dir / source)
        records.append({"name": f"{headline}: {path.name if i == 0 else path.stem}", "source": source, "timestamp": now,
                        "type": GLOBAL_ATTACHMENT_TYPES.get(path.suffix, "application/octet-stream")})
    messages = [{"message": f"{headline}: {message}", "timestamp": now, **({"environment": env} if env else {})}
                for message, env in errors]
    (results_dir / f"{uuid.uuid4()}{GLOBALS_NAME}").write_text(
        json.dumps({"attachments": records, "errors": messages}, indent=2), encoding="utf-8")
