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
import importlib.util
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import onnxruntime as ort

from runtime.errors import ConfigError, ModelFileError, ProviderError, first_line

#: Short names users type, in the order "auto" prefers them.
PROVIDER_NAMES: dict[str, str] = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "cpu": "CPUExecutionProvider",
}

#: Providers that also ship as ONNX Runtime plugin packages (ORT >= 1.23's EP ABI) instead of inside an
#: onnxruntime build: (the package's module, found but never imported; its library; what to pip install).
PLUGIN_PACKAGES: dict[str, tuple[str, str, str]] = {
    "OpenVINOExecutionProvider": (
        "onnxruntime_ep_openvino", "libonnxruntime_providers_openvino_plugin.so", "onnxruntime-ep-openvino"),
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
    "OpenVINOExecutionProvider": (
        "pip install onnxruntime-ep-openvino (the OpenVINO plugin for this onnxruntime, x86-64 Linux and Windows), "
        "or use an onnxruntime-openvino build"),
    "TensorrtExecutionProvider": (
        "install TensorRT (libnvinfer) of the version this onnxruntime-gpu build was made for, with CUDA and cuDNN; "
        "on a Jetson it comes with JetPack: check that libnvinfer is on LD_LIBRARY_PATH (ldconfig -p | grep nvinfer)"),
}

#: What to check when a provider's library loads but its session cannot be created (no device for it).
_GPU_DEVICE_HINT = ("check that this process sees the GPU (nvidia-smi; in a container, the NVIDIA runtime) and that "
                    "the provider options are valid for it")
CREATION_HINTS: dict[str, str] = {
    "CUDAExecutionProvider": _GPU_DEVICE_HINT,
    "TensorrtExecutionProvider": _GPU_DEVICE_HINT,
    "OpenVINOExecutionProvider": (
        "OpenVINO's ONNX Runtime plugin offers a CPU device only on CPUs it supports (Intel's); on this CPU run "
        "the deployment on the CPU provider (--provider cpu), or choose a variant that runs there (fp32, int8)"),
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


@dataclass(frozen=True)
class OpenVINOOptions:
    device_type: str = "CPU"
    # OpenVINO's INFERENCE_PRECISION_HINT: "f32", "bf16" or "f16". None means f32: OpenVINO's own default
    # on CPUs with AMX or AVX512-BF16 is bf16, which would change an fp32 model's numbers without a word.
    # The Embedder sets it from the manifest's precision.
    precision: str | None = None
    num_streams: int | None = None
    cache_dir: str | None = None  # where OpenVINO keeps compiled blobs between sessions

    def to_ort(self, plugin: bool = False) -> dict[str, str]:
        precision = self.precision or "f32"
        if precision not in ("f32", "bf16", "f16"):
            raise ConfigError(f"OpenVINO precision {precision!r}: use f32, bf16 or f16")
        config: dict[str, str] = {"INFERENCE_PRECISION_HINT": precision}
        if self.num_streams is not None:
            config["NUM_STREAMS"] = str(self.num_streams)
        opts = {"load_config": json.dumps({self.device_type: config})}
        if self.cache_dir:
            opts["cache_dir"] = self.cache_dir
        # The plugin takes its device from the EP device it is added for; the in-build EP from device_type.
        return opts if plugin else {"device_type": self.device_type} | opts


def _ort_value(value: Any) -> str:
    return ("1" if value else "0") if isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class SessionConfig:
    providers: tuple[str, ...] = ("cpu",)  # short names, most preferred first; ("auto",) for all
    tensorrt: TensorRTOptions = field(default_factory=TensorRTOptions)
    cuda: CUDAOptions = field(default_factory=CUDAOptions)
    openvino: OpenVINOOptions = field(default_factory=OpenVINOOptions)
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
        shared = capi / ("onnxruntime_providers_shared.dll" if os.name == "nt"
                         else "libonnxruntime_providers_shared.so")
        if shared.is_file():  # what every provider library links against; ORT loads it first as well
            ctypes.CDLL(str(shared), mode=getattr(ctypes, "RTLD_GLOBAL", 0))
        ctypes.CDLL(str(file))
    except OSError as exc:
        return f"its library {file.name} failed to load: {exc}"
    return None


def plugin_library(provider: str) -> Path | None:
    """The plugin library of a provider installed as a plugin package, or None. The package is found,
    not imported: the runtime imports nothing but numpy, tokenizers and onnxruntime."""
    module, library, _ = PLUGIN_PACKAGES.get(provider, ("", "", ""))
    spec = importlib.util.find_spec(module) if module else None
    if spec is None or not spec.submodule_search_locations:
        return None
    file = Path(list(spec.submodule_search_locations)[0]) / library
    return file if file.is_file() else None


def is_plugin(provider: str) -> bool:
    """Whether this provider comes from a plugin package here rather than from the onnxruntime build
    (which has its provider library in onnxruntime/capi). Asked of the files, not of
    ort.get_available_providers(), which lists a plugin once it is registered."""
    if provider not in PLUGIN_PACKAGES or plugin_library(provider) is None:
        return False
    short = provider.removesuffix("ExecutionProvider").lower()
    built_in = Path(ort.__file__).parent / "capi" / f"libonnxruntime_providers_{short}.so"
    return not built_in.is_file()


def available_providers() -> list[str]:
    """What this onnxruntime build lists, plus the providers installed as plugin packages."""
    listed = [p for p in ort.get_available_providers() if not is_plugin(p.split(".")[0])]
    plugins = [p for p in PLUGIN_PACKAGES if is_plugin(p)]
    return listed[:-1] + plugins + listed[-1:] if listed[-1:] == ["CPUExecutionProvider"] else listed + plugins


#: Plugin libraries this process registered with ORT. ORT keeps the registry and refuses a second
#: registration; a plugin with no device here (OpenVINO on an AMD CPU) lists no device to tell it by.
_REGISTERED: set[str] = set()


def plugin_devices(provider: str, device_type: str) -> list[Any]:
    """Register a plugin provider's library with ORT (once per process) and return its devices of
    `device_type`."""
    if provider not in _REGISTERED and not any(d.ep_name == provider for d in ort.get_ep_devices()):
        ort.register_execution_provider_library(provider, str(plugin_library(provider)))
    _REGISTERED.add(provider)
    devices = [d for d in ort.get_ep_devices() if d.ep_name == provider]
    wanted = [d for d in devices if d.ep_metadata.get("ov_device", device_type) == device_type]
    if not wanted:
        found = ", ".join(sorted({d.ep_metadata.get("ov_device", "?") for d in devices})) or "none"
        raise ProviderError(f"{provider} has no {device_type} device here (devices: {found})")
    return wanted


def unavailable_reason(provider: str, config: SessionConfig | None = None) -> str | None:
    """Why `provider` (a short name) cannot run a session on this machine, found without creating one:
    not in this build, its library does not load, or (a plugin) it offers no device here. None when it can."""
    config = config or SessionConfig(providers=(provider,))
    full = PROVIDER_NAMES[provider]
    _, _, skipped = plan_providers(replace(config, providers=(provider,), strict=False), available_providers())
    if full in skipped:
        return skipped[full]
    if is_plugin(full):
        try:
            plugin_devices(full, config.openvino.device_type)
        except ProviderError as exc:
            return str(exc)
    return None


def _strict_error(provider: str, why: str, hint: str | None = None) -> ProviderError:
    hint = hint or PROVIDER_HINTS.get(provider, "install an onnxruntime build that has it")
    return ProviderError(f"strict mode: {provider} was asked for and cannot run here ({why}). To use it: {hint}. "
                         "Or drop strict mode (--strict-provider) to allow the fallback.")


def plan_providers(
    config: SessionConfig, available: Sequence[str],
    load_problem: Callable[[str], str | None] = provider_library_problem,
    plugin: Callable[[str], bool] = is_plugin,
) -> tuple[list[tuple[str, dict[str, str]]], list[str], dict[str, str]]:
    """Pick the providers to ask ORT for. Unit tests pass a fake `available` list, `load_problem` and
    `plugin` (whether a provider comes from a plugin package)."""
    plan: list[tuple[str, dict[str, str]]] = []
    skipped: dict[str, str] = {}
    requested = [PROVIDER_NAMES[n] for n in config.preference()]
    for short, full in zip(config.preference(), requested, strict=True):
        if full not in available:
            package = PLUGIN_PACKAGES.get(full)
            skipped[full] = (f"not in onnxruntime.get_available_providers() of this build ({', '.join(available)})"
                             + (f" and its plugin package {package[2]} is not installed" if package else ""))
            continue
        problem = load_problem(full)
        if problem:
            skipped[full] = f"listed by this build but not usable on this machine: {problem}"
            continue
        if plugin(full):
            if plan:  # ORT adds a plugin provider through its devices, which cannot be mixed with a providers list
                skipped[full] = (f"installed as a plugin, which runs only as the first provider that can run "
                                 f"(here {plan[0][0]} comes first)")
                continue
            plan.append((full, config.openvino.to_ort(plugin=True)))
            continue
        options = {"tensorrt": config.tensorrt, "cuda": config.cuda, "openvino": config.openvino}.get(short)
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
    """An ORT session on the most preferred provider that runs here, and the honest report of it."""
    model_path = Path(model_path)
    if not model_path.is_file():
        raise ModelFileError(f"ONNX model not found at {model_path}: export it first (python -m modelprep.export)")
    _check_settings(config)
    available = list(available_providers() if available is None else available)
    plan, requested, skipped = plan_providers(config, available, load_problem)
    start = time.perf_counter()
    session, plan = _create_falling_back(model_path, config, plan, skipped, session_factory)
    create_s = time.perf_counter() - start
    got = list(session.get_providers())
    if requested and requested[0] not in got and requested[0] not in skipped:
        skipped[requested[0]] = "asked for, but ONNX Runtime created the session without it (it took no node)"
    report = SessionReport(
        requested=requested, available=available, skipped=skipped, got=got,
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


def _check_settings(config: SessionConfig) -> None:
    if config.graph_optimization not in GRAPH_OPTIMIZATION:
        raise ConfigError(f"graph_optimization {config.graph_optimization!r}: use one of "
                          f"{', '.join(GRAPH_OPTIMIZATION)}")
    if config.intra_op_threads < 0:
        raise ConfigError(f"intra_op_threads must be 0 (one per core) or more, got {config.intra_op_threads}")


def _session_options(config: SessionConfig) -> ort.SessionOptions:
    options = ort.SessionOptions()  # a new one per try: adding a plugin's devices changes it
    options.graph_optimization_level = GRAPH_OPTIMIZATION[config.graph_optimization]
    options.intra_op_num_threads = config.intra_op_threads
    if config.record_placement:
        options.add_session_config_entry("session.record_ep_graph_assignment_info", "1")
    options.log_severity_level = 3  # errors only: what a provider says on failure goes into the report
    return options


def _create(model_path: Path, config: SessionConfig, plan: list[tuple[str, dict[str, str]]], factory) -> Any:
    """One try at the plan's first provider (and the ones after it, for a providers list)."""
    options = _session_options(config)
    if plan and is_plugin(plan[0][0]):
        # A plugin provider is added for its devices; ORT keeps the CPU provider for what it leaves.
        options.add_provider_for_devices(plugin_devices(plan[0][0], config.openvino.device_type), plan[0][1])
        return factory(str(model_path), sess_options=options, enable_fallback=0)
    # enable_fallback=0: ORT's wrapper would print an "EP Error" banner and retry on the CPU by itself
    # (colliding with strict mode); the caller's retry keeps the reason instead.
    return factory(str(model_path), sess_options=options, providers=[p for p, _ in plan],
                   provider_options=[o for _, o in plan], enable_fallback=0)


def _create_falling_back(model_path: Path, config: SessionConfig, plan: list[tuple[str, dict[str, str]]],
                         skipped: dict[str, str], factory) -> tuple[Any, list[tuple[str, dict[str, str]]]]:
    """Create the session; a provider that cannot be created is left out with ORT's reason (in `skipped`)
    and the next one tried, quietly, unless strict mode says fail. Returns the session and the plan it took."""
    while True:
        try:
            return _create(model_path, config, plan, factory), plan
        except Exception as exc:  # ORT raises its own untyped errors
            if "protobuf" in str(exc).lower() or "load model" in str(exc).lower():
                raise ModelFileError(
                    f"{model_path} is not a loadable ONNX model ({type(exc).__name__}: {str(exc)[:200]}). "
                    "Re-export it (python -m modelprep.export) or check the file was copied whole."
                ) from None
            failed = plan[0][0] if plan else "CPUExecutionProvider"
            if failed == "CPUExecutionProvider":
                raise
            skipped[failed] = f"listed by this build but could not be created on this machine: {first_line(exc, 600)}"
            if config.strict:
                raise _strict_error(failed, skipped[failed], hint=CREATION_HINTS.get(failed)) from None
            plan = plan[1:] if len(plan) > 1 else [("CPUExecutionProvider", {})]


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
