"""The fleet merge (acceptance/fleet.py) on small run dirs made here: the verdict, the table, the
merged Allure results with each device kept apart, and the refusals. The merge of two real runs,
rendered in a browser, is in tests/test_report_browser.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from acceptance import fleet
from acceptance.report.vocabulary import Status, Verdict
from tests.test_report_model import criterion, sample_report


def make_run(directory: Path, *, verdict: str, host: str, latency: float, status: str = "pass") -> Path:
    results = directory / "allure-results"
    results.mkdir(parents=True)
    report = sample_report(Status.PASS)
    report.verdict, report.environment.host, report.run.run_id = Verdict(verdict), host, f"run-{host}"
    latency_result = criterion("latency.p95_ms.batch_1", Status(status), latency)
    latency_result.unit, latency_result.target_text = "ms", "< 30 ms"
    latency_result.reason = "" if status == "pass" else "measured misses < 30 ms"
    report.criteria = [latency_result, criterion("parity.min_cosine", Status.PASS, 0.99999)]
    report.write(directory / "signoff.json")
    (results / "1111-result.json").write_text(json.dumps({"uuid": "1111", "name": "test_latency", "labels": []}))
    (results / "2222-attachment.json").write_text("{}")
    (results / "environment.properties").write_text(f"Device=CPU only ({host})\n")
    (results / "old-globals.json").write_text(json.dumps({"errors": [{"message": "this run's own verdict"}]}))
    return directory


@pytest.fixture
def two_runs(tmp_path):
    good = make_run(tmp_path / "thor", verdict="signed-off", host="thor-01", latency=12.0)
    bad = make_run(tmp_path / "orin", verdict="not-signed-off", host="orin-07", latency=41.5, status="fail")
    return good, bad


def test_fleet_signs_off_only_if_every_device_does(two_runs, tmp_path, capsys):
    good, bad = two_runs
    out = tmp_path / "fleet"
    assert fleet.main([str(good), str(bad), "--out", str(out)]) == 1
    summary = json.loads((out / "fleet.json").read_text())
    assert summary["verdict"] == "not-signed-off"
    assert [d["label"] for d in summary["devices"]] == ["thor", "orin"]
    assert summary["devices"][1]["failing"] == ["latency.p95_ms.batch_1"]
    assert summary["criteria"]["latency.p95_ms.batch_1"]["orin"]["measured"] == 41.5
    md = (out / "fleet.md").read_text()
    assert "NOT SIGNED OFF" in md and "| criterion | thor | orin |" in md and "41.5 ms (fail)" in md
    assert "FLEET VERDICT: NOT SIGNED OFF" in capsys.readouterr().out
    assert fleet.main([f"thor={good}", "--out", str(tmp_path / "one")]) == 0


def test_merged_results_keep_each_device_apart(two_runs, tmp_path):
    good, bad = two_runs
    out = tmp_path / "fleet"
    fleet.main([f"thor-01={good}", f"orin-07={bad}", "--out", str(out)])
    merged = out / "allure-results"
    result = json.loads((merged / "1111-result.json").read_text())
    assert {"name": "device", "value": "orin-07"} in result["labels"]  # both runs wrote 1111: the last one stays
    globals_files = list(merged.glob("*-globals.json"))
    assert len(globals_files) == 1, "each run's own verdict is replaced by the fleet's"
    errors = json.loads(globals_files[0].read_text())["errors"]
    assert errors == [{"message": "Fleet NOT SIGNED OFF: orin-07: latency.p95_ms.batch_1 (fail)",
                       "timestamp": errors[0]["timestamp"], "environment": "orin-07"}]
    assert not (merged / "environment.properties").exists()
    assert (good / "allure-results" / "old-globals.json").is_file(), "a run dir is never changed"


@pytest.mark.parametrize("problem", ["missing", "same-label", "out-is-a-run"])
def test_refusals_are_one_line_and_delete_nothing(two_runs, tmp_path, capsys, problem):
    good, bad = two_runs
    args = {"missing": [str(tmp_path / "nowhere")],
            "same-label": [f"x={good}", f"x={bad}"],
            "out-is-a-run": [str(good), "--out", str(good)]}[problem]
    assert fleet.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("fleet: ") and err.count("\n") == 1 and "Traceback" not in err
    assert (good / "allure-results" / "1111-result.json").is_file() and (good / "signoff.json").is_file()
