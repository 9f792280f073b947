"""The session factory against a fake provider list and a fake ORT session class."""

from __future__ import annotations

import warnings

import pytest

from runtime.errors import ModelFileError, ProviderError
from runtime.session import (
    CUDAOptions,
    SessionConfig,
    TensorRTOptions,
    create_session,
    plan_providers,
)

GPU_BUILD = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
CPU_BUILD = ["CPUExecutionProvider"]


def loads(provider):  # a fake GPU build whose provider libraries all load
    return None


class FakeSession:
    """Mimics ORT: keeps the providers it 'could load'; the rest fall back silently."""

    loadable = ("CPUExecutionProvider",)

    def __init__(self, path, sess_options, providers, provider_options, enable_fallback=1):
        self.enable_fallback = enable_fallback
        self.asked = providers
        self.options = provider_options
        self.sess_options = sess_options
        got = [p for p in providers if p in self.loadable]
        if len(got) < len(providers):
            warnings.warn("fallback", UserWarning, stacklevel=2)
        self._got = got or ["CPUExecutionProvider"]

    def get_providers(self):
        return self._got


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"fake")
    return path


def test_tensorrt_options_map_to_ort_names():
    opts = TensorRTOptions(
        fp16=True, engine_cache_path="/c", max_workspace_bytes=1 << 30, builder_optimization_level=5,
        profile_min_shapes="input_ids:1x1", profile_opt_shapes="input_ids:8x128", profile_max_shapes="input_ids:32x512",
    ).to_ort()
    assert opts == {
        "device_id": "0", "trt_fp16_enable": "1", "trt_engine_cache_enable": "1", "trt_timing_cache_enable": "1",
        "trt_engine_cache_path": "/c", "trt_max_workspace_size": str(1 << 30), "trt_builder_optimization_level": "5",
        "trt_profile_min_shapes": "input_ids:1x1", "trt_profile_opt_shapes": "input_ids:8x128",
        "trt_profile_max_shapes": "input_ids:32x512",
    }
    assert not any("fp8" in k for k in opts), "there is no FP8 provider option; FP8 needs Q/DQ nodes"


def test_bad_provider_options_are_rejected():
    with pytest.raises(ValueError, match="all three"):
        TensorRTOptions(profile_min_shapes="input_ids:1x1").to_ort()
    with pytest.raises(ValueError, match="0-5"):
        TensorRTOptions(builder_optimization_level=7).to_ort()
    with pytest.raises(ValueError, match="arena"):
        CUDAOptions(arena_extend_strategy="kHuge").to_ort()
    assert CUDAOptions(gpu_mem_limit=2 << 30).to_ort() == {
        "device_id": "0", "arena_extend_strategy": "kSameAsRequested", "gpu_mem_limit": str(2 << 30)}


def test_plan_leaves_out_unavailable_providers_and_says_why():
    plan, requested, skipped = plan_providers(SessionConfig(providers=("auto",)), CPU_BUILD)
    assert requested[0] == "TensorrtExecutionProvider"
    assert [p for p, _ in plan] == ["CPUExecutionProvider"]
    assert set(skipped) == {"TensorrtExecutionProvider", "CUDAExecutionProvider", "CoreMLExecutionProvider",
                            "OpenVINOExecutionProvider"}
    assert "get_available_providers" in skipped["CUDAExecutionProvider"]
    assert "plugin package onnxruntime-ep-openvino is not installed" in skipped["OpenVINOExecutionProvider"]


def test_plan_orders_gpu_providers_with_their_options():
    plan, _, skipped = plan_providers(SessionConfig(providers=("auto",)), GPU_BUILD, loads)
    assert [p for p, _ in plan] == GPU_BUILD
    assert plan[0][1]["trt_engine_cache_enable"] == "1" and plan[1][1]["arena_extend_strategy"] == "kSameAsRequested"
    assert list(skipped) == ["CoreMLExecutionProvider", "OpenVINOExecutionProvider"]


def test_a_plugin_provider_runs_first_or_not_at_all():
    """ORT adds a plugin provider (the OpenVINO package) through its devices, which cannot be mixed with
    a providers list: first, it is planned with its load_config; behind a GPU provider, left out with why."""
    openvino_build = ["OpenVINOExecutionProvider", "CPUExecutionProvider"]
    is_plugin = lambda p: p == "OpenVINOExecutionProvider"  # noqa: E731
    plan, _, skipped = plan_providers(SessionConfig(providers=("openvino",)), openvino_build, loads, is_plugin)
    assert [p for p, _ in plan] == openvino_build
    assert plan[0][1] == {"load_config": '{"CPU": {"INFERENCE_PRECISION_HINT": "f32"}}'} and not skipped
    plan, _, skipped = plan_providers(SessionConfig(providers=("cuda", "openvino")),
                                      GPU_BUILD + ["OpenVINOExecutionProvider"], loads, is_plugin)
    assert [p for p, _ in plan] == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert "runs only as the first provider" in skipped["OpenVINOExecutionProvider"]


def test_strict_refuses_a_provider_this_build_lacks(model_file):
    with pytest.raises(ProviderError, match="strict mode: TensorrtExecutionProvider"):
        create_session(model_file, SessionConfig(providers=("tensorrt",), strict=True), available=CPU_BUILD,
                       session_factory=FakeSession)


def test_silent_fallback_is_reported_and_strict_turns_it_into_an_error(model_file):
    config = SessionConfig(providers=("cuda",))
    with pytest.warns(UserWarning):
        session, report = create_session(model_file, config, available=GPU_BUILD, session_factory=FakeSession,
                                         load_problem=loads)
    assert report.fell_back and report.primary == "CPUExecutionProvider"
    assert report.requested[0] == "CUDAExecutionProvider"
    with pytest.raises(ProviderError, match="asked for CUDAExecutionProvider but the session runs on CPU"):
        with pytest.warns(UserWarning):
            create_session(model_file, SessionConfig(providers=("cuda",), strict=True), available=GPU_BUILD,
                           session_factory=FakeSession, load_problem=loads)


def test_strict_keeps_the_cpu_for_shape_ops_and_checks_the_primary_provider(model_file):
    class GpuSession(FakeSession):
        loadable = ("CUDAExecutionProvider", "CPUExecutionProvider")

    session, report = create_session(
        model_file, SessionConfig(providers=("cuda",), strict=True), available=GPU_BUILD, session_factory=GpuSession,
        load_problem=loads)
    # ORT places shape computations on the CPU next to a GPU provider by design: disabling the CPU
    # makes a real decoder graph fail to create (seen on an H200), so strict mode checks the primary.
    assert session.asked == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    with pytest.raises(RuntimeError, match="does not have configuration"):  # the CPU is not disabled
        session.sess_options.get_session_config_entry("session.disable_cpu_ep_fallback")
    assert not report.fell_back and report.primary == "CUDAExecutionProvider" and report.create_s >= 0


def test_a_provider_whose_library_does_not_load_is_skipped_with_the_loader_message(model_file):
    missing = ("its library libonnxruntime_providers_cuda.so failed to load: libcublasLt.so.13: cannot open shared "
               "object file")
    config = SessionConfig(providers=("cuda",))
    session, report = create_session(model_file, config, available=GPU_BUILD, session_factory=FakeSession,
                                     load_problem=lambda p: missing if p == "CUDAExecutionProvider" else None)
    assert session.asked == ["CPUExecutionProvider"], "ORT is never asked for a provider that cannot load"
    assert session.enable_fallback == 0, "ORT's own print-and-retry fallback stays off"
    assert report.fell_back and "libcublasLt.so.13" in report.skipped["CUDAExecutionProvider"]
    with pytest.raises(ProviderError, match=r"(?s)CUDAExecutionProvider.*libcublasLt\.so\.13.*cuDNN"):
        create_session(model_file, SessionConfig(providers=("cuda",), strict=True), available=GPU_BUILD,
                       session_factory=FakeSession, load_problem=lambda p: missing)


def test_a_provider_that_loads_but_cannot_be_created_is_skipped_with_ort_s_message(model_file):
    class NoDevice(FakeSession):
        def __init__(self, path, sess_options, providers, provider_options, enable_fallback=1):
            if providers[0] == "CUDAExecutionProvider":
                raise RuntimeError("CUDA failure 100: no CUDA-capable device is detected")
            super().__init__(path, sess_options, providers, provider_options, enable_fallback)

    session, report = create_session(model_file, SessionConfig(providers=("cuda",)), available=GPU_BUILD,
                                     session_factory=NoDevice, load_problem=loads)
    assert report.primary == "CPUExecutionProvider"
    assert "could not be created on this machine" in report.skipped["CUDAExecutionProvider"]
    assert "no CUDA-capable device" in report.skipped["CUDAExecutionProvider"]
    with pytest.raises(ProviderError, match="strict mode: CUDAExecutionProvider.*no CUDA-capable device"):
        create_session(model_file, SessionConfig(providers=("cuda",), strict=True), available=GPU_BUILD,
                       session_factory=NoDevice, load_problem=loads)


def test_unknown_provider_and_missing_model(tmp_path):
    with pytest.raises(ProviderError, match="unknown provider 'rocm'"):
        SessionConfig(providers=("rocm",)).preference()
    with pytest.raises(ModelFileError, match="ONNX model not found"):
        create_session(tmp_path / "missing.onnx")


def test_corrupt_onnx_file_gets_a_clear_error(model_file):
    model_file.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ModelFileError, match="not a loadable ONNX model"):
        create_session(model_file)
