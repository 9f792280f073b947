"""The decoder of real size on this machine: Qwen3-Embedding-0.6B's exact shape with random weights
(fixtures/models/qwen3-embedding-0.6b-random.toml), and what scales with model size, measured:

- the build (random checkpoint, optimum export, onnx checker, the export's parity gate): time and peak memory;
- the PyTorch fp32 baseline: time per text and peak memory;
- the ONNX Runtime session: creation time and the process's memory after it;
- latency and throughput: the acceptance suite's LoadGen slice (tests/real-size-profile.toml), as a user
  runs it.

Minutes and gigabytes: marked `real_size`, outside `make test` (tests/conftest.py skips it unless selected);
`make real-size` runs it. The figures go to reports/real-size/figures.json and docs/thor.md extrapolates
from them. Nothing here is judged on a time; the test checks that each figure was measured.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import textwrap
from pathlib import Path

import pytest

from acceptance.device_check import BUILD_CODE, Step, run_step
from acceptance.environment import cpu_info
from tests.test_mutants import ROOT, run_suite

MODEL = "qwen3-embedding-0.6b-random"
OUT = ROOT / "reports" / "real-size"
pytestmark = pytest.mark.real_size

BASELINE_CODE = textwrap.dedent("""
    import json, resource, sys, time
    from modelprep.assets import checkpoint_dir
    from modelprep.reference import Reference
    from modelprep.texts import corpus
    from runtime.manifest import load_manifest
    m = load_manifest(sys.argv[1])
    t = time.perf_counter()
    ref = Reference(m, checkpoint_dir(m))
    ref.encode(["warm-up"])
    load_s = time.perf_counter() - t
    texts = corpus(32, low=30, high=60, seed=3)
    t = time.perf_counter()
    ref.encode(texts, batch_size=8)
    encode_s = time.perf_counter() - t
    print(json.dumps({"load_s": load_s, "texts": len(texts), "words_per_text": "30-60", "encode_s": encode_s,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""")

SESSION_CODE = textwrap.dedent("""
    import json, sys, time, psutil
    from runtime.embedder import Embedder
    from runtime.manifest import load_manifest
    m = load_manifest(sys.argv[1]); before = psutil.Process().memory_info().rss
    t = time.perf_counter(); emb = Embedder.load(m); load_s = time.perf_counter() - t
    t = time.perf_counter(); emb.encode(["a first query"]); first_s = time.perf_counter() - t
    print(json.dumps({"session_s": load_s, "first_encode_s": first_s,
                      "rss_mib": (psutil.Process().memory_info().rss - before) / 2**20,
                      "report": emb.report.as_dict()}))
""")


def _child(name: str, code: str, logs: Path) -> tuple[Step, dict]:
    step = run_step(Step(name, [sys.executable, "-c", code, MODEL]), logs, os.environ | {"PYTHONUNBUFFERED": "1"})
    assert step.exit_code == 0, (logs / step.log).read_text()[-3000:]
    return step, json.loads((logs / step.log).read_text().strip().splitlines()[-1])


def test_the_real_size_decoder_is_built_and_measured():
    logs = OUT / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    build = run_step(Step("build", [sys.executable, "-c", BUILD_CODE, MODEL]), logs, os.environ.copy())
    assert build.exit_code == 0, (logs / build.log).read_text()[-3000:]
    _, baseline = _child("baseline", BASELINE_CODE, logs)
    _, session = _child("session", SESSION_CODE, logs)
    reports = OUT / "suite"
    signoff, out = run_suite(
        [sys.executable, "-m", "pytest", "acceptance", "-p", "no:cacheprovider", "-q", "--model", MODEL,
         "--reports-dir", str(reports), "--accept-profile", str(ROOT / "tests" / "real-size-profile.toml"),
         "-m", "latency or throughput", "-k", "batch_1 or threads_1 or offline"], reports)
    measured = {c["id"]: c["measured"] for c in signoff["criteria"] if c["measured"] is not None}
    figures = {
        "model": MODEL, "machine": f"{platform.node()}: {cpu_info().summary}",
        "build": {"seconds": build.seconds, "peak_rss_mib": build.peak_rss_mib},
        "baseline": baseline,
        "session": {k: v for k, v in session.items() if k != "report"},
        "criteria": measured,
        "load_runs": signoff["measurements"]["load_runs"],
    }
    (OUT / "figures.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps({k: v for k, v in figures.items() if k != "load_runs"}, indent=2))
    assert build.seconds > 0 and baseline["encode_s"] > 0 and session["session_s"] > 0
    for criterion in ("latency.p95_ms.batch_1", "throughput.qps.threads_1", "throughput.offline_texts_per_s"):
        assert criterion in measured, f"{criterion} was not measured: {out[-3000:]}"
