"""Allure during the run: labels per test, measured values as parameters, and attachments.

Labels: epic = PRD area, feature = category, story = criterion id; required criteria are critical.
The run-level files (environment, categories, the first screen) are the renderer's:
acceptance/report/allure_files.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

EPICS = {
    "integration": "Integration", "latency": "Performance", "throughput": "Performance",
    "parity": "Quality", "retrieval": "Quality", "norm": "Quality", "quality": "Quality", "edge": "Quality",
    "resources": "Resources", "tensorrt": "Resources",
}
INTEGRATION_CATEGORIES = ("init", "functional", "errors", "performance", "quality")


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


def attach_file(path: Path | None, name: str | None = None) -> None:
    import allure

    kinds = {".png": allure.attachment_type.PNG, ".csv": allure.attachment_type.CSV,
             ".json": allure.attachment_type.JSON, ".md": allure.attachment_type.TEXT}
    if path is not None and path.is_file():
        allure.attach.file(str(path), name=name or path.name, attachment_type=kinds.get(path.suffix))
