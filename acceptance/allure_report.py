"""Allure integration: labels per test, run-level files, and attachments.

Labels: epic = PRD area, feature = category, story = criterion id; required criteria are critical.
Run-level files (environment.properties, categories.json, executor.json) are written once, by the
controller, after the verdict is known.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from acceptance.verdict import unmet

EPICS = {
    "integration": "Integration", "latency": "Performance", "throughput": "Performance",
    "parity": "Quality", "retrieval": "Quality", "norm": "Quality", "quality": "Quality", "edge": "Quality",
    "resources": "Resources", "tensorrt": "Resources",
}
INTEGRATION_CATEGORIES = ("init", "functional", "errors", "performance", "quality")

CATEGORIES = [
    {"name": "Provider fell back", "matchedStatuses": ["failed", "broken"],
     "messageRegex": ".*(fell back|strict mode|ProviderError).*"},
    {"name": "Model or config error", "matchedStatuses": ["broken"],
     "messageRegex": ".*(ManifestError|ModelFileError|ProfileError|not a loadable ONNX).*"},
    {"name": "Threshold missed", "matchedStatuses": ["failed"], "messageRegex": ".*misses.*"},
    {"name": "Measurement invalid", "matchedStatuses": ["failed"], "messageRegex": ".*INVALID.*"},
    {"name": "Machine busy: not judged (counts as not met)", "matchedStatuses": ["broken"],
     "messageRegex": ".*machine busy.*"},
    {"name": "Cannot be measured here (counts as not met)", "matchedStatuses": ["skipped"]},
    {"name": "Test defect", "matchedStatuses": ["broken"]},
]


def add_labels(item: pytest.Item, criterion_id: str, required: bool | None) -> None:
    area = criterion_id.split(".", 1)[0]
    feature = next((c for c in INTEGRATION_CATEGORIES if item.get_closest_marker(c)), "") if area == "integration" \
        else area
    for value, kind in ((EPICS.get(area, area), "epic"), (feature or area, "feature"), (criterion_id, "story")):
        item.add_marker(pytest.mark.allure_label(value, label_type=kind))
    if required:
        item.add_marker(pytest.mark.allure_label("critical", label_type="severity"))


def record(criterion, measured: float, details: dict[str, Any], baseline: float | None = None) -> None:
    """Measured value and threshold as parameters (excluded from the history id, so a changed
    threshold keeps the test's history), the baseline run's value and the change when comparing with
    one, and the metric JSON as an attachment."""
    import allure

    allure.dynamic.parameter("measured", f"{measured:.8g} {criterion.unit}".strip(), excluded=True)
    allure.dynamic.parameter("target", criterion.target_text, excluded=True)
    if baseline is not None:
        allure.dynamic.parameter("baseline", f"{baseline:.8g} {criterion.unit}".strip(), excluded=True)
        change = f"{100 * (measured - baseline) / abs(baseline):+.2f}%" if baseline else f"{measured - baseline:+.6g}"
        allure.dynamic.parameter("change vs baseline", change, excluded=True)
    slim = {k: v for k, v in details.items() if k != "cosines"}
    allure.attach(json.dumps({"criterion": criterion.id, "measured": measured, "target": criterion.target_text,
                              "details": slim}, indent=2, default=str),
                  name=f"{criterion.id}.json", attachment_type=allure.attachment_type.JSON)


def record_contention(figures: dict[str, Any]) -> None:
    """How busy the machine was while a timing figure was taken, as parameters (history-excluded)."""
    import allure

    allure.dynamic.parameter("others' CPU share", f"{100 * figures['others_share']:.1f}%", excluded=True)
    allure.dynamic.parameter("steal", f"{100 * figures['steal_share']:.1f}%", excluded=True)
    allure.dynamic.parameter("attempts", str(figures["attempts"]), excluded=True)


def attach_json(name: str, data: Any) -> None:
    import allure

    allure.attach(json.dumps(data, indent=2, default=str), name=name, attachment_type=allure.attachment_type.JSON)


def attach_file(path: Path, name: str | None = None) -> None:
    import allure

    kinds = {".png": allure.attachment_type.PNG, ".csv": allure.attachment_type.CSV,
             ".json": allure.attachment_type.JSON, ".md": allure.attachment_type.TEXT}
    if path.is_file():
        allure.attach.file(str(path), name=name or path.name, attachment_type=kinds.get(path.suffix))


def write_run_files(results_dir: Path, verdict: dict[str, Any], profile: str, report_md: Path | None = None,
                    extra_attachments: Sequence[Path] = ()) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    env = verdict["environment"]
    model = verdict["model"]
    props = {
        "Device": env.get("gpu") if not str(env.get("gpu", "")).startswith("none") else f"CPU only ({env.get('host')})",
        "OS": env.get("os"), "CPU": f"{env.get('cpu')} x{env.get('cpu_cores')}", "GPU": env.get("gpu"),
        "Driver": env.get("gpu_driver", "n/a"), "CUDA": env.get("cuda_driver", "n/a"), "TensorRT": env.get("tensorrt"),
        "onnxruntime": env.get("onnxruntime"), "Providers.available": ", ".join(env.get("providers_available", [])),
        "Providers.used": ", ".join(env.get("providers_used", [])),
        **{f"Providers.skipped.{name}": why for name, why in (env.get("providers_skipped") or {}).items()},
        "Model": model.get("id"),
        "Model.sha256": model.get("onnx_sha256"), "Model.verified_against": ", ".join(model.get("verified_against") or [])
        or "nothing recorded", "Tokenizer.sha256": model.get("tokenizer_sha256"), "Profile": profile,
        "Verdict": verdict["verdict"], "Run": verdict.get("run", {}).get("run_id"),
        "Run.ended": verdict.get("run", {}).get("ended"), "Run.command": verdict.get("run", {}).get("command"),
        "Suite.commit": verdict.get("run", {}).get("suite", {}).get("commit"),
    }
    errors = [(f"{c['id']}: {c['status']}" + (f" ({c['reason'][:200]})" if c.get("reason") else ""), None)
              for c in unmet(verdict)]
    write_globals(results_dir, verdict["verdict"].upper().replace("-", " "), report_md, errors, extra_attachments)
    (results_dir / "environment.properties").write_text(
        "\n".join(f"{k}={str(v).replace(chr(10), ' ')}" for k, v in props.items()) + "\n", encoding="utf-8")
    (results_dir / "categories.json").write_text(json.dumps(CATEGORIES, indent=2))
    (results_dir / "executor.json").write_text(json.dumps({
        "name": "embed-signoff", "type": "pytest", "buildName": f"{model.get('id')} / {profile}",
        "buildOrder": int(os.environ.get("BUILD_NUMBER", "0")) or None,
        "reportName": f"Sign-off: {model.get('id')} ({verdict['verdict']})", "host": platform.node(),
    }, indent=2))


#: Allure 3 reads run-level ("global") errors and attachments from files ending so; they show on the
#: report's first screen, so that is where the verdict goes.
GLOBALS_NAME = "-globals.json"
GLOBAL_ATTACHMENT_TYPES = {".md": "text/markdown", ".png": "image/png", ".svg": "image/svg+xml"}


def write_globals(results_dir: Path, headline: str, report_md: Path | None,
                  errors: list[tuple[str, str | None]], extra_attachments: Sequence[Path] = ()) -> None:
    """The verdict on the dashboard's first screen: the completion report as a global attachment and
    one global error per criterion that is not met (none when signed off), each a (message, Allure
    environment or None) pair: a fleet puts each device's errors under its environment."""
    for old in results_dir.glob(f"*{GLOBALS_NAME}"):
        old.unlink()  # written by an earlier call for this same results dir
    now = int(time.time() * 1000)
    attachments = []
    # The report under its file name, then the extras (e.g. the precision ladder's frontier plot) under their stem.
    named = ([(report_md, report_md.name)] if report_md is not None else []) + [(p, p.stem) for p in extra_attachments]
    for path, name in named:
        if path.is_file():
            source = f"{uuid.uuid4()}-attachment{path.suffix}"
            shutil.copy2(path, results_dir / source)
            attachments.append({"name": f"{headline}: {name}", "source": source, "timestamp": now,
                                "type": GLOBAL_ATTACHMENT_TYPES.get(path.suffix, "application/octet-stream")})
    records = [{"message": f"{headline}: {message}", "timestamp": now, **({"environment": env} if env else {})}
               for message, env in errors]
    (results_dir / f"{uuid.uuid4()}{GLOBALS_NAME}").write_text(
        json.dumps({"attachments": attachments, "errors": records}, indent=2), encoding="utf-8")
