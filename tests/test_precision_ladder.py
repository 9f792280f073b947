"""The precision ladder (acceptance/precision_ladder.py): its plumbing with its subprocesses replaced. The
ladder with real ModelOpt variants of qwen3-tiny is in tests/test_quantization.py; `make signoff` runs it on
the default model."""

from __future__ import annotations

import io

from acceptance import precision_ladder
from acceptance.report.ladder import PrecisionLadder, Speed
from acceptance.report.render import render
from acceptance.report.signoff import SignoffReport
from acceptance.report.vocabulary import Status, Verdict
from modelprep.progress import StepLog
from tests.test_report_model import criterion, sample_report


def _run(invocation, parity, status=Status.PASS, verdict=Verdict.NOT_SIGNED_OFF) -> SignoffReport:
    report = sample_report(Status.PASS, invocation=invocation)
    report.verdict = verdict
    parity_result = criterion("parity.min_cosine", status, parity)
    parity_result.details = {"mean": parity}
    report.criteria = [parity_result, criterion("latency.p95_ms.batch_1", Status.NOT_RUN, None)]
    return report


def test_a_variant_is_judged_on_its_quality_criteria_and_a_miss_is_not_signed_off(tmp_path, monkeypatch):
    """And a variant's report from another `make signoff` is never merged (robustness row 46). The ladder
    writes its own file only: signoff.json is left as the run wrote it, and the renderer draws the table."""
    reports = tmp_path / "reports"
    main_run = _run("inv-1", 1.0, verdict=Verdict.SIGNED_OFF)
    main_run.write(reports / "signoff.json")
    before = (reports / "signoff.json").read_bytes()
    runs = {"all-minilm-l6-v2-fp16": _run("inv-1", 0.9999), "all-minilm-l6-v2-int8": _run("inv-1", 0.976, Status.FAIL),
            "all-minilm-l6-v2-bf16": _run("inv-0", 0.9999)}
    monkeypatch.setattr(precision_ladder, "judge_variant",
                        lambda variant, *a: precision_ladder.QualityRun(runs[variant.model]))
    monkeypatch.setattr(precision_ladder, "unavailable_reason", lambda provider: None, raising=False)
    speed = {"m": 40.0, "all-minilm-l6-v2-fp16": 20.0, "all-minilm-l6-v2-int8": 60.0}
    monkeypatch.setattr(precision_ladder, "measure_in_subprocess", lambda model, provider, threads, work: Speed(
        speed[model], 128, 32, 2, 4.0, 5.0, 200, 90.0, "CPUExecutionProvider"))
    ladder = precision_ladder.build_ladder(reports, "p", "cpu", list(runs), threads=2,
                                           log=StepLog("ladder", stream=io.StringIO(), live=False))
    rows = {r.model: r for r in ladder.rows}
    assert rows["m"].verdict == "SIGNED OFF" and rows["m"].main
    assert rows["all-minilm-l6-v2-fp16"].verdict == "quality criteria met (1)"
    assert rows["all-minilm-l6-v2-int8"].verdict == "NOT SIGNED OFF"
    assert rows["all-minilm-l6-v2-int8"].missed == ["parity.min_cosine"]
    assert rows["all-minilm-l6-v2-bf16"].verdict.startswith("NOT RUN (its report is not from this make signoff")
    assert rows["all-minilm-l6-v2-bf16"].speed is None
    ladder.write(reports)
    table = render(reports).markdown.read_text()
    assert "## Precision ladder" in table and "| 60.0 | 4.00 / 5.00 | 0.976000 |" in table
    assert "NOT SIGNED OFF: parity.min_cosine" in table and "precision_frontier.png" in table
    assert (reports / "plots" / "precision_frontier.png").is_file()
    assert (reports / "signoff.json").read_bytes() == before
    assert PrecisionLadder.read(reports).rows[2].min_cosine == 0.976 and PrecisionLadder.read(reports).base == "m"


def test_without_a_main_verdict_there_is_no_ladder(tmp_path, capsys):
    assert precision_ladder.main(["--reports-dir", str(tmp_path), "all-minilm-l6-v2-fp16"]) == 2
    assert "signoff.json is missing" in capsys.readouterr().err


def test_an_unknown_variant_is_one_line_not_a_traceback(tmp_path, capsys):
    _run("inv-1", 1.0, verdict=Verdict.SIGNED_OFF).write(tmp_path / "signoff.json")
    assert precision_ladder.main(["--reports-dir", str(tmp_path), "all-minilm-l6-v2-int4"]) == 2
    err = capsys.readouterr().err
    assert "precision ladder: no model manifest at" in err and "all-minilm-l6-v2-int8" in err  # the known ones
    assert "Traceback" not in err


def test_a_variant_that_cannot_run_here_says_why_without_starting_a_run(tmp_path):
    """Its provider cannot run on this machine (strict: TensorRT, which this CPU has not): the row says so
    with the provider's own reason, and no pytest run is started."""
    variant = precision_ladder.Variant("all-minilm-l6-v2-fp16", "fp16", "tensorrt", strict=True)
    run = precision_ladder.judge_variant(variant, "cpu-default", tmp_path)
    assert run.report is None and run.not_run.startswith("not available on this machine: ")
    assert "not in onnxruntime.get_available_providers() of this build" in run.not_run
    assert not (tmp_path / "pytest.log").exists()


def test_a_variant_whose_every_criterion_broke_for_one_reason_says_that_reason_once():
    """A build that failed (ModelOpt's venv missing, say) breaks every test the same way: the row names the
    cause, not a list of eleven criteria that "failed"."""
    run = _run("inv-1", None, Status.ERROR)
    run.criteria = [criterion(cid, Status.ERROR, None) for cid in ("parity.min_cosine", "edge.deterministic")]
    for c in run.criteria:
        c.reason = "DeploymentError: model or config error: ExportError: run make quant-venv"
    line = precision_ladder.row("m-int8", "int8", precision_ladder.QualityRun(run), "no speed", main=False)
    assert line.verdict == "NOT SIGNED OFF (every criterion broke: DeploymentError: model or config error: " \
                           "ExportError: run make quant-venv)" and not line.signed_off and line.missed == []
