"""Model manifests: one TOML file per model, the only place a model's facts live.

A manifest says where the ONNX graph and tokenizer are, how to pool and pad, the
embedding dimension, prompts, and optionally how to build the artifacts when they
are missing (the `[source]` table). Code never hard-codes a model.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.errors import ManifestError
from runtime.paths import manifests_dir
from runtime.schema import PRECISIONS, check_choice, check_keys, check_type, read_toml

POOLINGS = ("mean", "last_token", "cls")
PADDING_SIDES = ("left", "right")
INPUT_KINDS = ("query", "document")



def cache_root() -> Path:
    """Where generated artifacts (exports, built models) go. Override with EMBED_SIGNOFF_CACHE."""
    env = os.environ.get("EMBED_SIGNOFF_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "embed-signoff"


@dataclass(frozen=True)
class Source:
    """How to (re)build a model's artifacts when they are missing.

    kind:
      - "python-package": a HF checkpoint shipped inside an installed Python package.
      - "random-qwen3": a small random-weight Qwen3 built locally (no trained semantics).
      - "hf": a HF checkpoint by hub id or local directory (needs a hub or a local copy).
    """

    kind: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelManifest:
    id: str
    name: str  # the upstream model's name, reported by model_info()
    dimension: int
    pooling: str
    padding_side: str
    max_length: int
    artifact_dir: Path
    # The largest batch the deployment serves: the TensorRT profile's max shape, and the largest batch
    # edge.shape_invariance checks (every size from 1 up to it).
    max_batch: int = 32
    onnx_file: str = "model.onnx"
    tokenizer_file: str = "tokenizer.json"
    output: str = "last_hidden_state"
    normalize: bool = True
    prompts: dict[str, str] = field(default_factory=lambda: {k: "{text}" for k in INPUT_KINDS})
    matryoshka_min_dim: int | None = None
    trained: bool = True  # False for random-weight models: semantic criteria skip on them
    onnx_sha256: str | None = None  # when given, the loaded graph must hash to it
    tokenizer_sha256: str | None = None  # likewise for tokenizer.json
    export_min_cosine: float = 0.9999  # the export parity gate's tolerance
    source: Source | None = None
    # The manifest (name or path) of the original model this deployment must match; None: itself.
    # A re-export or quantization of a model points here so parity is judged against the true baseline.
    baseline: str | None = None
    # Of the deployed graph: fp32 | fp16 | bf16 | int8 | fp8; profiles may set tolerances per precision.
    precision: str = "fp32"
    # The HF modules the layer-wise parity compares: name -> module path pattern ({i}: a layer's index), e.g.
    # {"attention": "encoder.layer.{i}.attention"}. The suite's diagnosis reads it; the runtime does not.
    layers: dict[str, str] = field(default_factory=dict)
    path: Path | None = None  # the TOML file it came from

    @property
    def onnx_path(self) -> Path:
        return self.artifact_dir / self.onnx_file

    @property
    def tokenizer_path(self) -> Path:
        return self.artifact_dir / self.tokenizer_file

    @property
    def compute_precisions(self) -> set[str]:
        """The precisions the deployed graph computes in: its own, and the one a quantization recipe leaves
        the unquantized layers in (fp16 for an FP8 graph built as a TensorRT engine would run it)."""
        recipe = (self.source.options.get("recipe") or {}) if self.source else {}
        return {self.precision} | ({recipe["high_precision_dtype"]} if "high_precision_dtype" in recipe else set())

    def recipe(self) -> dict[str, Any]:
        """What the artifacts are built from (the [source] table): a change to it makes a cache entry stale."""
        return {"kind": self.source.kind, **self.source.options} if self.source else {}

    def prompt(self, kind: str) -> str:
        if kind not in INPUT_KINDS:
            raise ManifestError(f"unknown input kind {kind!r}: use one of {', '.join(INPUT_KINDS)}")
        return self.prompts.get(kind, "{text}")


def _expand(value: str, manifest_dir: Path) -> Path:
    """Paths may use {cache}, ~, $VAR and ${VAR:-default} (the default used when VAR is unset)."""
    value = value.replace("{cache}", str(cache_root()))
    value = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: os.environ.get(m[1]) or m[2], value)
    text = os.path.expandvars(os.path.expanduser(value))
    path = Path(text)
    return path if path.is_absolute() else (manifest_dir / path).resolve()


# key -> type(s); required keys have no default in ModelManifest.
_TOP = {
    "id": str, "name": str, "dimension": int, "pooling": str, "padding_side": str, "max_length": int, "max_batch": int,
    "output": str, "normalize": bool, "prompts": dict, "matryoshka_min_dim": int, "trained": bool,
    "export_min_cosine": float, "files": dict, "source": dict, "baseline": str, "precision": str, "layers": dict,
}
_REQUIRED = ("id", "name", "dimension", "pooling", "padding_side", "max_length")
_FILES = {"dir": str, "onnx": str, "tokenizer": str, "onnx_sha256": str, "tokenizer_sha256": str}
SOURCE_KINDS = ("python-package", "random-qwen3", "hf", "precision-of")


def _table(data: dict[str, Any], schema: dict[str, type], where: str) -> dict[str, Any]:
    check_keys(data, schema, where, ManifestError)
    for key, value in data.items():
        check_type(value, schema[key], f"{where}: {key!r}", ManifestError)
    return data


def parse_manifest(data: dict[str, Any], where: Path) -> ModelManifest:
    """Validate a manifest's TOML table; every message names the file and the key. Unknown keys are
    errors (with the closest known key as a hint), never silently ignored."""
    _table(data, _TOP, str(where))
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ManifestError(f"{where}: missing required key {missing[0]!r}")
    check_choice(data["pooling"], POOLINGS, f"{where}: pooling", ManifestError)
    check_choice(data["padding_side"], PADDING_SIDES, f"{where}: padding_side", ManifestError)
    check_choice(data.get("precision", "fp32"), PRECISIONS, f"{where}: precision", ManifestError)
    dimension, max_length, max_batch = data["dimension"], data["max_length"], data.get("max_batch", 32)
    if dimension <= 0 or max_length <= 0 or max_batch <= 0:
        raise ManifestError(f"{where}: dimension, max_length and max_batch must be positive")
    min_dim = data.get("matryoshka_min_dim")
    if min_dim is not None and not 1 <= min_dim <= dimension:
        raise ManifestError(f"{where}: matryoshka_min_dim {min_dim} must be within 1..dimension ({dimension})")
    gate = data.get("export_min_cosine", 0.9999)
    if not -1 <= gate <= 1:
        raise ManifestError(f"{where}: export_min_cosine {gate} is not a cosine (-1..1)")
    given = _table(data.get("prompts", {}), dict.fromkeys(INPUT_KINDS, str), f"{where} [prompts]")
    prompts = {k: "{text}" for k in INPUT_KINDS} | given
    for kind, template in prompts.items():
        if "{text}" not in template:
            raise ManifestError(f"{where}: prompts.{kind} must contain '{{text}}', got {template!r}")
    files = _table(data.get("files", {}), _FILES, f"{where} [files]")
    source = data.get("source")
    if source is not None:
        check_type(source.get("kind"), str, f"{where}: [source] kind", ManifestError)
        check_choice(source["kind"], SOURCE_KINDS, f"{where}: [source] kind", ManifestError)
    return ModelManifest(
        id=data["id"],
        name=data["name"],
        dimension=dimension,
        pooling=data["pooling"],
        padding_side=data["padding_side"],
        max_length=max_length,
        max_batch=max_batch,
        artifact_dir=_expand(files.get("dir", "{cache}/" + data["id"]), where.parent),
        onnx_file=files.get("onnx", "model.onnx"),
        tokenizer_file=files.get("tokenizer", "tokenizer.json"),
        output=data.get("output", "last_hidden_state"),
        normalize=data.get("normalize", True),
        prompts=prompts,
        matryoshka_min_dim=min_dim,
        trained=data.get("trained", True),
        onnx_sha256=files.get("onnx_sha256"),
        tokenizer_sha256=files.get("tokenizer_sha256"),
        export_min_cosine=float(gate),
        source=Source(kind=source["kind"], options={k: v for k, v in source.items() if k != "kind"})
        if source else None,
        baseline=data.get("baseline"),
        precision=data.get("precision", "fp32"),
        layers=_table(data.get("layers", {}), dict.fromkeys(data.get("layers", {}), str), f"{where} [layers]"),
        path=where,
    )


def baseline_manifest(manifest: ModelManifest) -> ModelManifest:
    """The manifest whose PyTorch checkpoint, pooling, padding and prompts define the right answer."""
    if manifest.baseline is None:
        return manifest
    target = Path(manifest.baseline)
    if not target.is_absolute() and target.suffix == ".toml" and manifest.path is not None:
        target = manifest.path.parent / target
    return load_manifest(target if target.suffix == ".toml" else manifest.baseline)


def load_manifest(name_or_path: str | os.PathLike[str]) -> ModelManifest:
    """Load a manifest by built-in name (fixtures/models/NAME.toml, see runtime.paths) or by path."""
    candidate = Path(name_or_path)
    if candidate.suffix != ".toml":
        candidate = manifests_dir() / f"{name_or_path}.toml"
    if not candidate.is_file():
        known = ", ".join(sorted(p.stem for p in manifests_dir().glob("*.toml")))
        raise ManifestError(
            f"no model manifest at {candidate}: pass a path to a .toml manifest or one of: {known}"
        )
    return parse_manifest(read_toml(candidate, ManifestError), candidate)
