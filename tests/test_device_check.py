"""The device check (tools/device_check/run.sh -> acceptance.device_check) cannot rot between GPU windows:
the same script, run here with the CPU provider on qwen3-tiny and its fp16 variant (the decoder path's fp32
and fp16, as the GPU window runs the 0.6B-shaped model and MiniLM), must build, sign off and bring back
what a window exists to bring back."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile

from tests.test_mutants import ROOT

MODELS = ("qwen3-tiny", "qwen3-tiny-fp16")


def test_the_device_check_script_builds_signs_off_and_bundles_each_model(tmp_path):
    env = os.environ | {
        "OUT": str(tmp_path), "PROVIDER": "cpu", "PY": str(ROOT / ".venv" / "bin" / "python"),
        "PROFILE": str(ROOT / "tests" / "meta-timing-profile.toml"), "MODELS": " ".join(MODELS),
        # One slice with a timing phase (the one-cell latency grid) and a quality criterion; one intra-op
        # thread, as every meta run beside another xdist worker.
        "PYTEST_ARGS": "-m 'norm or latency' --intra-op-threads 1",
    }
    done = subprocess.run(["bash", "tools/device_check/run.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)
    out = done.stdout[-4000:] + done.stderr[-2000:]
    assert done.returncode == 0, out
    (result,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    summary = json.loads((result / "summary.json").read_text())
    assert summary["provider"] == "cpu" and summary["strict"] and summary["environment"]["cpu"]["cores"] >= 1
    assert [m["model"] for m in summary["models"]] == list(MODELS)
    for model in summary["models"]:
        assert model["build"]["exit_code"] == 0 and model["build"]["seconds"] > 0, model
        assert model["signoff"]["exit_code"] == 0, model
        figures = model["summary"]
        assert figures["provider_used"] == ["CPUExecutionProvider"] and figures["gpu"] is None
        assert figures["criteria"]["norm.max_deviation"]["status"] == "pass"
        assert figures["criteria"]["latency.p95_ms.batch_1"]["measured"] is not None
        assert figures["latency_cells"] == 1 and "singlestream-b1-t50" in figures["load_runs"]
        assert figures["placement"], "each session's node placement comes back"
        assert (result / "runs" / model["model"] / "signoff.json").is_file()
        assert (result / "logs" / f"build-{model['model']}.log").is_file()
    with tarfile.open(result.with_suffix(".tar.gz")) as archive:
        names = archive.getnames()
    assert f"{result.name}/summary.json" in names
    assert f"{result.name}/runs/qwen3-tiny-fp16/signoff.json" in names
    assert "device-check: done in" in done.stdout


def test_a_results_folder_that_is_not_empty_is_refused_and_left_as_it_is(tmp_path):
    """A GPU window's earlier results are never overwritten: a non-empty --out is a usage error (exit 2)."""
    earlier = tmp_path / "summary.json"
    earlier.write_text("an earlier window's results")
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "acceptance.device_check", "--out",
                           str(tmp_path), "qwen3-tiny"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "is not empty: give a new directory" in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and earlier.read_text() == "an earlier window's results"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]
