"""The typed report model (acceptance/report/): the JSON round-trip, schema versions (an older signoff.json
is read, a newer one refused with what to do), strict reading, and the one renderer, which draws every
human-facing file from the data files and edits none of them."""

from __future__ import annotations

import json

import pytest

from acceptance.report.allure_files import GLOBALS_NAME, categories
from acceptance.report.ladder import LadderRow, PrecisionLadder, Speed
from acceptance.report.render import render
from acceptance.report.serial import ReportFormatError
from acceptance.report.signoff import (
    SCHEMA_VERSION,
    CpuInfo,
    CriterionResult,
    Environment,
    RunInfo,
    SignoffReport,
    TestedModel,
)
from acceptance.report.vocabulary import FAILURE_KINDS, RunEnd, Status, Verdict


def criterion(cid: str, status: Status, measured: float | None = 1.0, required: bool = True) -> CriterionResult:
    return CriterionResult(id=cid, title=cid, prd_ref="PRD", target=0.5, comparator=">", unit="", required=required,
                           target_text="> 0.5", status=status, measured=measured,
                           reason="" if status is Status.PASS else f"{cid} is {status}")


def sample_report(*statuses: Status, invocation: str = "inv-1") -> SignoffReport:
    criteria = [criterion(f"c.{i}", s) for i, s in enumerate(statuses or (Status.PASS,))]
    return SignoffReport(
        verdict=Verdict.of(all(c.met for c in criteria)), profile="cpu-default",
        model=TestedModel(id="m", name="M", dimension=4, pooling="mean", padding_side="right", max_length=8,
                          precision="fp32", manifest="m.toml", onnx="/x/model.onnx", onnx_sha256="ab" * 32),
        environment=Environment(host="h", os="Linux", cpu=CpuInfo("AuthenticAMD", "AMD EPYC", 2, vnni=True),
                                memory_gb=24.0, python="3.11", onnxruntime="1.32.0",
                                providers_available=["CPUExecutionProvider"], providers_used=["CPUExecutionProvider"],
                                gpu_reason="no NVIDIA GPU here"),
        criteria=criteria,
        run=RunInfo(run_id="r-1", started_at="2026-12-05T10:00:00Z", command="pytest acceptance", selection={},
                    suite={"commit": "abc"}, host="h", invocation=invocation, ended_at="2026-12-05T10:05:00Z",
                    exit_status=0, ended=RunEnd.COMPLETED))


def test_a_report_round_trips_through_json_and_tests_true_only_when_signed_off(tmp_path):
    report = sample_report(Status.PASS)
    path = report.write(tmp_path / "signoff.json")
    again = SignoffReport.read(path)
    assert again == report and bool(again) and again.schema_version == SCHEMA_VERSION
    failed = sample_report(Status.PASS, Status.SKIPPED)
    assert not failed and [c.id for c in failed.unmet()] == ["c.1"]
    assert failed.headline == "Sign-off m / cpu-default: NOT SIGNED OFF (1 criteria not met)"
    assert json.loads(path.read_text())["environment"]["gpu"] is None  # no sentinel string as data


def test_a_version_1_file_is_read_and_a_newer_one_refused_with_what_to_do(tmp_path):
    old = sample_report(Status.PASS).to_json()
    del old["schema_version"]
    old["environment"] |= {"gpu": "none (NVMLError)", "cpu": "Intel Xeon", "cpu_cores": 2, "tensorrt": "not installed"}
    old["baseline"], old["comparison"] = None, []
    old["measurements"] = {"latency_cells": [], "plots": ["reports/plots/x.png"]}
    (tmp_path / "v1.json").write_text(json.dumps(old))
    read = SignoffReport.read(tmp_path / "v1.json")
    assert read.environment.gpu is None and read.environment.gpu_reason == "NVMLError"
    assert read.environment.cpu.model == "Intel Xeon" and read.environment.tensorrt is None
    newer = sample_report().to_json() | {"schema_version": SCHEMA_VERSION + 1}
    (tmp_path / "v9.json").write_text(json.dumps(newer))
    with pytest.raises(ReportFormatError, match=f"schema version {SCHEMA_VERSION + 1}, written by a newer"):
        SignoffReport.read(tmp_path / "v9.json")


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d.update(surprise=1), "unknown field 'surprise'"),
    (lambda d: d["criteria"][0].update(status="passed"), "'passed' is not one of pass, fail"),
    (lambda d: d["criteria"][0].update(measured="fast"), "expected a number"),
    (lambda d: d.pop("run"), "lacks 'run'"),
])
def test_reading_is_strict_and_names_the_field(tmp_path, edit, message):
    data = sample_report().to_json()
    edit(data)
    (tmp_path / "signoff.json").write_text(json.dumps(data))
    with pytest.raises(ReportFormatError, match=message):
        SignoffReport.read(tmp_path)


def test_the_renderer_draws_every_file_from_the_data_and_edits_none(tmp_path):
    report = sample_report(Status.PASS, Status.FAIL)
    report.write(tmp_path / "signoff.json")
    (tmp_path / "allure-results").mkdir()
    before = (tmp_path / "signoff.json").read_bytes()
    first = render(tmp_path)
    md = (tmp_path / "signoff.md").read_text()
    assert "❌ NOT SIGNED OFF" in md and "| `c.1` |" in md and "❌ FAIL" in md
    assert (tmp_path / "headline.txt").read_text().strip() == first.headline == report.headline
    props = (tmp_path / "allure-results" / "environment.properties").read_text()
    assert "GPU=none (no NVIDIA GPU here)" in props and "CPU=AMD EPYC (AuthenticAMD), 2 cores; VNNI" in props
    globals_file = next((tmp_path / "allure-results").glob(f"*{GLOBALS_NAME}"))
    errors = json.loads(globals_file.read_text())["errors"]
    assert [e["message"] for e in errors] == ["NOT SIGNED OFF: c.1: fail (c.1 is fail)"]
    render(tmp_path)  # again: the same files, one globals file, and the data untouched
    assert (tmp_path / "signoff.md").read_text() == md
    assert len(list((tmp_path / "allure-results").glob(f"*{GLOBALS_NAME}"))) == 1
    assert (tmp_path / "signoff.json").read_bytes() == before


def test_a_ladder_of_the_same_invocation_is_rendered_beside_the_run_and_another_is_not(tmp_path):
    sample_report(Status.PASS).write(tmp_path / "signoff.json")
    speed = Speed(40.0, 128, 32, 2, 4.0, 5.0, 200, 90.0, "CPUExecutionProvider")
    rows = [LadderRow("m", "fp32", True, signed_off=True, judged=1, min_cosine=1.0, speed=speed),
            LadderRow("m-int8", "int8", False, judged=11, missed=["edge.batch_invariance"], min_cosine=0.99,
                      speed=speed),
            LadderRow("m-bf16", "bf16", False, not_run="not available on this machine: no OpenVINO device")]
    ladder = PrecisionLadder("m", "cpu-default", "inv-1", 2, "h: AMD EPYC", "2026-12-05T10:06:00Z", rows)
    ladder.write(tmp_path)
    assert PrecisionLadder.read(tmp_path) == ladder
    md = render(tmp_path).markdown.read_text()
    assert "## Precision ladder" in md and "NOT SIGNED OFF: edge.batch_invariance" in md
    assert "NOT RUN (not available on this machine: no OpenVINO device)" in md and "precision_frontier.png" in md
    PrecisionLadder("m", "cpu-default", "inv-0", 2, "h", "t", rows).write(tmp_path)  # another make signoff's
    assert "## Precision ladder" not in render(tmp_path).markdown.read_text()


def test_every_failure_kind_is_an_allure_category_matched_by_its_marker():
    cats = {c["name"]: c for c in categories()}
    assert list(cats) == [k.category for k in FAILURE_KINDS]
    for kind in FAILURE_KINDS:
        if kind.marker:
            assert kind.marker in kind.message("x") and kind.message(kind.message("x")) == kind.message("x")
            assert cats[kind.category]["messageRegex"].startswith(".*")
