"""TensorRT provider settings derived from the manifest: shape profiles and a cache that is never stale.

The engine cache directory is keyed by (model sha256, TensorRT version, precision, shape profile):
a new export, a TensorRT upgrade, a precision or a profile change each gets its own engine instead
of silently reusing an old one. The profiles cover batch 1..max_batch and sequence 1..max_length,
so no request shape forces a rebuild at serving time.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.artifact import recorded_graph, verified_sha256
from runtime.errors import ConfigError, ModelFileError
from runtime.manifest import ModelManifest
from runtime.manifest import cache_root as default_cache_root
from runtime.session import TensorRTOptions

TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "position_ids")


@dataclass(frozen=True)
class ShapeProfile:
    min: str
    opt: str
    max: str

    def key(self) -> str:
        return hashlib.sha256(f"{self.min}|{self.opt}|{self.max}".encode()).hexdigest()[:10]

    @staticmethod
    def batch_and_seq(shapes: str) -> tuple[int, int]:
        """(batch, sequence) of one of min/opt/max: "input_ids:8x128,attention_mask:8x128" -> (8, 128)."""
        batch, seq = shapes.split(",")[0].split(":")[1].split("x")
        return int(batch), int(seq)


def shape_profile(
    manifest: ModelManifest, input_names: list[str], *, max_batch: int | None = None, opt_batch: int = 8,
    opt_seq: int = 128,
) -> ShapeProfile:
    """min/opt/max for every (batch, sequence) input of the graph, from batch 1 x 1 token to
    max_batch (the manifest's unless given) x manifest.max_length."""
    max_batch = manifest.max_batch if max_batch is None else max_batch
    inputs = [n for n in input_names if n in TOKEN_INPUTS]
    unknown = [n for n in input_names if n not in TOKEN_INPUTS]
    if unknown:
        raise ConfigError(f"cannot derive TensorRT shapes for inputs {unknown}: set the profile by hand")
    opt_seq = min(opt_seq, manifest.max_length)

    def shapes(batch: int, seq: int) -> str:
        return ",".join(f"{name}:{batch}x{seq}" for name in inputs)

    return ShapeProfile(shapes(1, 1), shapes(opt_batch, opt_seq), shapes(max_batch, manifest.max_length))


def engine_cache_dir(root: Path, onnx_sha256: str, trt_version: str | None, precision: str,
                     profile: ShapeProfile) -> Path:
    # Without TensorRT no engine is built: the key names that instead of a version.
    return Path(root) / f"{onnx_sha256[:16]}-trt{trt_version or 'absent'}-{precision}-{profile.key()}"


def tensorrt_options(
    manifest: ModelManifest, input_names: list[str], *, onnx_sha256: str, trt_version: str | None, cache_root: Path,
    fp16: bool = False, device_id: int = 0, max_batch: int | None = None, **extra: Any,
) -> TensorRTOptions:
    profile = shape_profile(manifest, input_names, max_batch=max_batch)
    cache = engine_cache_dir(cache_root, onnx_sha256, trt_version, "fp16" if fp16 else "fp32", profile)
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "key.json").write_text(json.dumps({
        "onnx_sha256": onnx_sha256, "tensorrt": trt_version, "fp16": fp16,
        "profile": {"min": profile.min, "opt": profile.opt, "max": profile.max},
    }, indent=2))
    return TensorRTOptions(
        device_id=device_id, fp16=fp16, engine_cache=True, engine_cache_path=str(cache), timing_cache=True,
        timing_cache_path=str(cache), profile_min_shapes=profile.min, profile_opt_shapes=profile.opt,
        profile_max_shapes=profile.max, **extra,
    )


def installed_tensorrt_version() -> str | None:
    """TensorRT's version from the installed distribution's metadata (no import of tensorrt), or None
    where it is not installed. The one place the version is read: the engine cache key and the report use it."""
    for dist in ("tensorrt", "tensorrt-cu12", "tensorrt-cu13", "tensorrt-libs"):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def options_for(manifest: ModelManifest, cache_root: Path, *, fp16: bool = False, **extra: Any) -> TensorRTOptions:
    """TensorRT options for a manifest's model, from the graph's inputs (recorded at export) and the
    model's sha256.

    The engine cache key uses the verified hash of the file that will be loaded (hashed, or remembered
    for its size and mtime), never a recorded one: a changed graph can never reuse an old engine."""
    inputs = recorded_graph(manifest.artifact_dir).get("inputs")
    if not inputs:
        raise ModelFileError(
            f"{manifest.artifact_dir}: no artifact.json with the graph's inputs, which the TensorRT shape profiles "
            "need; export the model with python -m modelprep.export"
        )
    sha, _ = verified_sha256(manifest.onnx_path, default_cache_root() / "verified")
    return tensorrt_options(manifest, inputs, onnx_sha256=sha,
                            trt_version=installed_tensorrt_version(), cache_root=cache_root, fp16=fp16, **extra)
