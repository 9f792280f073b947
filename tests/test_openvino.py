"""The OpenVINO provider through its ONNX Runtime plugin package, and the bf16 deployment it executes.
Skips where the plugin is not installed (it has wheels for x86-64 only), and where it offers no device on
this CPU (it registers one on Intel's CPUs only, none on AMD's): the planning is covered by
tests/test_session.py either way, and the refusal on a CPU without a device is tested here on any machine."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest

from acceptance.environment import cpu_info
from runtime.embedder import Embedder
from runtime.errors import ProviderError
from runtime.manifest import load_manifest
from runtime.session import SessionConfig, is_plugin, plugin_library, unavailable_reason

pytestmark = pytest.mark.skipif(plugin_library("OpenVINOExecutionProvider") is None,
                                reason="onnxruntime-ep-openvino is not installed (pip install -e '.[openvino]')")


@pytest.fixture(scope="module")
def bf16():
    from modelprep.assets import ensure_artifacts

    why = unavailable_reason("openvino")
    if why is not None:
        pytest.skip(f"OpenVINO is not available on this CPU ({cpu_info().summary}): {why}")
    manifest = load_manifest("all-minilm-l6-v2-bf16")
    ensure_artifacts(manifest)
    return manifest


def _hint(embedder: Embedder) -> str:
    options = embedder.report.provider_options["OpenVINOExecutionProvider"]
    return json.loads(options["load_config"])["CPU"]["INFERENCE_PRECISION_HINT"]


def test_bf16_runs_on_openvino_at_bf16_and_says_so(bf16):
    embedder = Embedder.load(bf16)  # no config: the manifest's precision asks for OpenVINO, strictly
    assert is_plugin("OpenVINOExecutionProvider")
    assert embedder.report.primary == "OpenVINOExecutionProvider" and _hint(embedder) == "bf16"
    assert set(embedder.report.placement) == {"OpenVINOExecutionProvider"}
    fp32 = Embedder.load(load_manifest("all-minilm-l6-v2"), SessionConfig(providers=("openvino",)))
    assert _hint(fp32) == "f32"  # OpenVINO's own default on an AMX CPU would be bf16
    texts = ["The cat sits on the mat.", "Quarterly revenue rose by 12%."]
    cosine = np.sum(embedder.encode(texts) * fp32.encode(texts), axis=1)
    assert cosine.min() > 0.99 and cosine.max() < 1 - 1e-7  # close, and really another precision


def test_bf16_on_another_provider_is_refused_with_the_provider_to_use(bf16):
    with pytest.raises(ProviderError, match="bf16 deployment.*--provider openvino"):
        Embedder.load(bf16, SessionConfig(providers=("cpu",)))


def test_a_cpu_without_an_openvino_device_gets_cpu_advice_not_gpu_advice(minilm, monkeypatch):
    """As on an AMD EPYC, where the plugin registers no device: the error names the device list and says
    what to do on a CPU (no nvidia-smi)."""
    monkeypatch.setattr(ort, "get_ep_devices", lambda: [])
    monkeypatch.setattr(ort, "register_execution_provider_library", lambda name, path: None)
    assert unavailable_reason("openvino") == "OpenVINOExecutionProvider has no CPU device here (devices: none)"
    with pytest.raises(ProviderError) as error:
        Embedder.load(minilm.manifest, SessionConfig(providers=("openvino",), strict=True))
    message = str(error.value)
    assert "no CPU device here (devices: none)" in message and "--provider cpu" in message
    assert "nvidia-smi" not in message and "GPU" not in message


def test_asking_twice_in_one_process_registers_the_plugin_once():
    """ORT refuses a second registration of a plugin library ("EP library is already registered"); where the
    plugin offers no device (an AMD CPU) no device shows it was registered, so the runtime remembers."""
    first, second = unavailable_reason("openvino"), unavailable_reason("openvino")
    assert first == second
