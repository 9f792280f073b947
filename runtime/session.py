"""Session factory: an onnxruntime InferenceSession from a provider preference list.

It reports what the session really got, and for every provider it asked for and did not get, why.
`onnxruntime.get_available_providers()` describes the build, not the machine: an onnxruntime-gpu wheel
lists TensorRT and CUDA on a machine without their libraries. So before a GPU provider is asked for,
its provider library is loaded the way ORT would load it, and the loader's own message (the library
that is missing) becomes the reason. A provider that loads but cannot be created (no device) is
caught at creation. Neither reaches the console: ORT's Python wrapper would print an "EP Error"
banner and retry on the CPU by itself, so the factory turns that retry off and does its own, quietly,
keeping the reason. `strict=True` turns any fallback into a ProviderError that names the library.
"""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import onnxruntime as ort

from runtime.errors import ConfigError, ModelFileError, ProviderError

#: Short names users type, in the order "auto" prefers them.
PROVIDER_NAMES: dict[str, str] = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "cpu": "CPUExecutionProvider",
}

#: The shared library each GPU provider lives in (inside onnxruntime/capi/), loaded on first use by ORT.
PROVIDER_LIBRARIES: dict[str, str] = {
    "CUDAExecutionProvider": "onnxruntime_providers_cuda",
    "TensorrtExecutionProvider": "onnxruntime_providers_tensorrt",
}

#: What to install or check when a provider's library does not load.
PROVIDER_HINTS: dict[str, str] = {
    "CUDAExecutionProvider": (
        "install the CUDA runtime, cuBLAS and cuDNN of the major version this onnxruntime-gpu build was made for "
        "(pip install 'onnxruntime-gpu[cuda,cudnn]' brings them as wheels); on a Jetson they come with JetPack: "
        "put /usr/local/cuda/lib64 on LD_LIBRARY_PATH"),
    "TensorrtExecutionProvider": (
        "install TensorRT (libnvinfer) of the version this onnxruntime-gpu build was made for, with CUDA and cuDNN; "
        "on a Jetson it comes with JetPack: check that libnvinfer is on LD_LIBRARY_PATH (ldconfig -p | grep nvinfer)"),
}

GRAPH_OPTIMIZATION = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


@dataclass(frozen=True)
class TensorRTOptions:
    device_id: int = 0
    fp16: bool = False
    engine_cache: bool = True
    engine_cache_path: str | None = None
    timing_cache: bool = True
    timing_cache_path: str | None = None
    max_workspace_bytes: int | None = None
    builder_optimization_level: int | None = None  # 0-5, TensorRT's default is 3
    # "input_ids:1x1,attention_mask:1x1" style strings, as the provider takes them.
    profile_min_shapes: str | None = None
    profile_opt_shapes: str | None = None
    profile_max_shapes: str | None = None

    def to_ort(self) -> dict[str, str]:
        opts: dict[str, Any] = {
            "device_id": self.device_id,
            "trt_fp16_enable": self.fp16,
            "trt_engine_cache_enable": self.engine_cache,
            "trt_timing_cache_enable": self.timing_cache,
        }
        optional = {
            "trt_engine_cache_path": self.engine_cache_path,
            "trt_timing_cache_path": self.timing_cache_path,
            "trt_max_workspace_size": self.max_workspace_bytes,
            "trt_builder_optimization_level": self.builder_optimization_level,
            "trt_profile_min_shapes": self.profile_min_shapes,
            "trt_profile_opt_shapes": self.profile_opt_shapes,
            "trt_profile_max_shapes": self.profile_max_shapes,
        }
        opts |= {k: v for k, v in optional.items() if v is not None}
        if self.builder_optimization_level is not None and not 0 <= self.builder_optimization_level <= 5:
            raise ConfigError("TensorRT builder_optimization_level must be within 0-5")
        shapes = [self.profile_min_shapes, self.profile_opt_shapes, self.profile_max_shapes]
        if any(shapes) and not all(shapes):
            raise ConfigError("TensorRT shape profiles need all three of min, opt and max shapes")
        return {k: _ort_value(v) for k, v in opts.items()}


@dataclass(frozen=True)
class CUDAOptions:
    device_id: int = 0
    gpu_mem_limit: int | None = None  # bytes
    # kSameAsRequested keeps the arena at what was asked for, so memory figures are tight.
    arena_extend_strategy: str = "kSameAsRequested"

    def to_ort(self) -> dict[str, str]:
        if self.arena_extend_strategy not in ("kNextPowerOfTwo", "kSameAsRequested"):
            raise ConfigError("CUDA arena_extend_strategy must be kNextPowerOfTwo or kSameAsRequested")
        opts: dict[str, Any] = {"device_id": self.device_id, "arena_extend_strategy": self.arena_extend_strategy}
        if self.gpu_mem_limit is not None:
            opts["gpu_mem_limit"] = self.gpu_mem_limit
        return {k: _ort_value(v) for k, v in opts.items()}


def _ort_value(value: Any) -> str:
    return ("1" if value else "0") if isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class SessionConfig:
    providers: tuple[str, ...] = ("cpu",)  # short names, most preferred first; ("auto",) for all
    tensorrt: TensorRTOptions = field(default_factory=TensorRTOptions)
    cuda: CUDAOptions = field(default_factory=CUDAOptions)
    graph_optimization: str = "all"
    intra_op_threads: int = 0  # 0: onnxruntime's default (one per physical core)
    strict: bool = False
    record_placement: bool = True  # which provider runs each node, where this ORT can say

    def preference(self) -> list[str]:
        if isinstance(self.providers, str):
            raise ConfigError(f"providers takes a tuple of names, e.g. ({self.providers!r},), not a str")
        names = list(PROVIDER_NAMES) if "auto" in self.providers else list(self.providers)
        unknown = [n for n in names if n not in PROVIDER_NAMES]
        if unknown:
            raise ProviderError(f"unknown provider {unknown[0]!r}: use one of auto, {', '.join(PROVIDER_NAMES)}")
        return names


@dataclass(frozen=True)
class SessionReport:
    """What was asked for, what was possible, and what the session really runs on."""

    requested: list[str]
    available: list[str]
    skipped: dict[str, str]  # provider -> why it was left out
    got: list[str]
    provider_options: dict[str, dict[str, str]]
    create_s: float
    placement: dict[str, int] | str = "not recorded"  # nodes per provider, or why it is unknown
    ort_version: str = ort.__version__

    @property
    def primary(self) -> str:
        return self.got[0] if self.got else "none"

    @property
    def fell_back(self) -> bool:
        return bool(self.requested) and self.primary != self.requested[0]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"primary": self.primary, "fell_back": self.fell_back}


def provider_library_problem(provider: str) -> str | None:
    """Why a GPU provider's library cannot be loaded here (the dynamic loader's message, which names the
    missing dependency), or None when it loads or the provider has no library of its own."""
    name = PROVIDER_LIBRARIES.get(provider)
    if name is None:
        return None
    capi = Path(ort.__file__).parent / "capi"
    file = capi / (f"{name}.dll" if os.name == "nt" else f"lib{name}.so")
    if not file.is_file():
        return f"this onnxruntime build lists it but has no {file.name} in {capi}"
    try:
        shared = capi / ("onnxruntime_providers_shared.dll" if os.name == "nt" else "libonnxruntime_providers_shared.so")
        if shared.is_file():  # what every provider library links against; ORT loads it first as well
            ctypes.CDLL(str(shared), mode=getattr(ctypes, "RTLD_GLOBAL", 0))
        ctypes.CDLL(str(file))
    except OSError as exc:
        return f"its library {file.name} failed to load: {exc}"
    return None


def _strict_error(provider: str, why: str, hint: str | None = None) -> ProviderError:
    hint = hint or PROVIDER_HINTS.get(provider, "install an onnxruntime build that has it")
    return ProviderError(f"strict mode: {provider} was asked for and cannot run here ({why}). To use it: {hint}. "
                         "Or drop strict mode (--strict-provider) to allow the fallback.")


def plan_providers(
    config: SessionConfig, available: Sequence[str],
    load_problem: Callable[[str], str | None] = provider_library_problem,
) -> tuple[list[tuple[str, dict[str, str]]], list[str], dict[str, str]]:
    """Pick the providers to ask ORT for. Unit tests pass a fake `available` list and `load_problem`."""
    plan: list[tuple[str, dict[str, str]]] = []
    skipped: dict[str, str] = {}
    requested = [PROVIDER_NAMES[n] for n in config.preference()]
    for short, full in zip(config.preference(), requested):
        if full not in available:
            skipped[full] = f"not in onnxruntime.get_available_providers() of this build ({', '.join(available)})"
            continue
        problem = load_problem(full)
        if problem:
            skipped[full] = f"listed by this build but not usable on this machine: {problem}"
            continue
        options = {"tensorrt": config.tensorrt, "cuda": config.cuda}.get(short)
        plan.append((full, options.to_ort() if options else {}))
    if config.strict and skipped.get(requested[0]):
        raise _strict_error(requested[0], skipped[requested[0]])
    if "CPUExecutionProvider" not in [p for p, _ in plan]:
        # Listed even in strict mode: ORT puts shape computations (Shape, Gather on int64, ...) on the
        # CPU by design, next to a GPU provider, so a real model cannot run with the CPU disabled
        # (measured on an H200: qwen3-tiny under CUDA with session.disable_cpu_ep_fallback=1 fails to
        # create). Strict mode checks the session's primary provider instead, and the report gives
        # the node placement per provider.
        plan.append(("CPUExecutionProvider", {}))
    return plan, requested, skipped


def create_session(
    model_path: str | Path,
    config: SessionConfig = SessionConfig(),
    *,
    available: Sequence[str] | None = None,
    session_factory: Callable[..., Any] = ort.InferenceSession,
    load_problem: Callable[[str], str | None] = provider_library_problem,
) -> tuple[Any, SessionReport]:
    model_path = Path(model_path)
    if not model_path.is_file():
        raise ModelFileError(f"ONNX model not found at {model_path}: export it first (python -m modelprep.export)")
    available = list(ort.get_available_providers() if available is None else available)
    plan, requested, skipped = plan_providers(config, available, load_problem)
    if config.graph_optimization not in GRAPH_OPTIMIZATION:
        raise ConfigError(f"graph_optimization {config.graph_optimization!r}: use one of {', '.join(GRAPH_OPTIMIZATION)}")
    if config.intra_op_threads < 0:
        raise ConfigError(f"intra_op_threads must be 0 (one per core) or more, got {config.intra_op_threads}")
    options = ort.SessionOptions()
    options.graph_optimization_level = GRAPH_OPTIMIZATION[config.graph_optimization]
    options.intra_op_num_threads = config.intra_op_threads
    if config.record_placement:
        options.add_session_config_entry("session.record_ep_graph_assignment_info", "1")
    options.log_severity_level = 3  # errors only: what a provider says on failure goes into the report
    start = time.perf_counter()
    while True:
        try:
            # enable_fallback=0: ORT's wrapper would print an "EP Error" banner and retry on the CPU by
            # itself (colliding with strict mode); the retry below keeps the reason instead.
            session = session_factory(
                str(model_path), sess_options=options,
                providers=[p for p, _ in plan], provider_options=[o for _, o in plan], enable_fallback=0,
            )
            break
        except Exception as exc:  # ORT raises its own untyped errors
            if "protobuf" in str(exc).lower() or "load model" in str(exc).lower():
                raise ModelFileError(
                    f"{model_path} is not a loadable ONNX model ({type(exc).__name__}: {str(exc)[:200]}). "
                    "Re-export it (python -m modelprep.export) or check the file was copied whole."
                ) from None
            failed = plan[0][0] if plan else "CPUExecutionProvider"
            if failed == "CPUExecutionProvider":
                raise
            why = f"listed by this build but could not be created on this machine: {type(exc).__name__}: {exc}"
            skipped[failed] = why[:600]
            if config.strict:
                raise _strict_error(failed, skipped[failed], hint=(
                    "check that this process sees the GPU (nvidia-smi; in a container, the NVIDIA runtime) "
                    "and that the provider options are valid for it")) from None
            plan = plan[1:] if len(plan) > 1 else [("CPUExecutionProvider", {})]
    create_s = time.perf_counter() - start
    report = SessionReport(
        requested=requested, available=available, skipped=skipped, got=list(session.get_providers()),
        provider_options=dict(plan), create_s=create_s,
        placement=node_placement(session) if config.record_placement else "not recorded",
    )
    if config.strict and (report.fell_back or (isinstance(report.placement, dict)
                                               and not report.placement.get(requested[0]))):
        raise ProviderError(
            f"strict mode: asked for {requested[0]} but the session runs on {report.primary} "
            f"(nodes per provider: {report.placement}). "
            "Check the provider's libraries (CUDA, cuDNN, TensorRT) are installed and visible."
        )
    return session, report


def node_placement(session: Any) -> dict[str, int] | str:
    """Nodes assigned to each execution provider (ORT's session.record_ep_graph_assignment_info)."""
    getter = getattr(session, "get_provider_graph_assignment_info", None)
    if getter is None:
        return (f"unknown: onnxruntime {ort.__version__} cannot record graph assignment; "
                "use SessionOptions.enable_profiling and read each node's provider from the trace")
    counts: dict[str, int] = {}
    for subgraph in getter():
        counts[subgraph.ep_name] = counts.get(subgraph.ep_name, 0) + len(subgraph.get_nodes())
    return counts
