"""The session factory against the real onnxruntime-gpu wheel on a machine without a GPU or CUDA.

`make test-gpu-build` runs this file in a virtualenv of its own (.venv-gpu: onnxruntime-gpu, numpy,
tokenizers, pytest; `--noconftest`, since the suite's plugin and the build tooling are not there).
The wheel lists TensorRT and CUDA in get_available_providers() (that list describes the build), and
their libraries fail to load for real here: these tests check that the reason reaches the report,
that strict mode fails with one clear ProviderError, and that nothing floods the terminal. Under
the CPU build of `make test` they skip.
"""

from __future__ import annotations

import base64

import onnxruntime as ort
import pytest

from runtime.errors import ProviderError
from runtime.session import SessionConfig, create_session

pytestmark = pytest.mark.skipif(
    "CUDAExecutionProvider" not in ort.get_available_providers(),
    reason="needs the onnxruntime-gpu wheel (make test-gpu-build installs it in .venv-gpu)")

#: y = x + x on a [1, 4] float input: a graph every provider can take (made with onnx.helper, opset 17).
TINY_ONNX = base64.b64decode(
    "CAg6QAoOCgF4CgF4EgF5IgNBZGQSBHRpbnlaEwoBeBIOCgwIARIICgIIAQoCCARiEwoBeRIOCgwIARIICgIIAQoCCARCBAoAEBE=")
GPU = {"tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider"}


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "tiny.onnx"
    path.write_bytes(TINY_ONNX)
    return path


def _quiet(capfd) -> None:
    out, err = capfd.readouterr()
    for noise in ("EP Error", "Falling back", "Failed to load library", "[E:onnxruntime"):
        assert noise not in out + err, f"{noise!r} reached the terminal:\n{out}{err}"


@pytest.mark.parametrize("short", ["tensorrt", "cuda"])
def test_fallback_keeps_the_reason_and_the_terminal_quiet(model, short, capfd):
    session, report = create_session(model, SessionConfig(providers=(short,)))
    assert report.primary == "CPUExecutionProvider" and report.fell_back
    reason = report.skipped[GPU[short]]
    assert "listed by this build but not usable on this machine" in reason
    assert ".so" in reason and ("cannot open shared object file" in reason or "failed to load" in reason), reason
    _quiet(capfd)


@pytest.mark.parametrize("short", ["tensorrt", "cuda"])
def test_strict_mode_fails_with_one_provider_error_naming_the_library(model, short, capfd):
    with pytest.raises(ProviderError) as caught:
        create_session(model, SessionConfig(providers=(short,), strict=True))
    message = str(caught.value)
    assert message.startswith(f"strict mode: {GPU[short]} was asked for and cannot run here")
    assert ".so" in message and "LD_LIBRARY_PATH" in message, message
    assert "Conflicting session configuration" not in message and "fallback to CPU EP" not in message
    _quiet(capfd)


def test_auto_lands_on_the_cpu_with_a_reason_for_each_gpu_provider(model, capfd):
    session, report = create_session(model, SessionConfig(providers=("auto",)))
    assert report.primary == "CPUExecutionProvider"
    assert {"TensorrtExecutionProvider", "CUDAExecutionProvider"} <= set(report.skipped)
    assert all(".so" in report.skipped[p] for p in GPU.values())
    assert session.run(None, {"x": [[1.0, 2.0, 3.0, 4.0]]})[0].tolist() == [[2.0, 4.0, 6.0, 8.0]]
    _quiet(capfd)
