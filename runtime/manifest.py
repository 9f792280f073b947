"""Model manifests: one TOML file per model, the only place a model's facts live.

A manifest says where the ONNX graph and tokenizer are, how to pool and pad, the
embedding dimension, prompts, and optionally how to build the artifacts when they
are missing (the `[source]` table). Code never hard-codes a model.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.errors import ManifestError

POOLINGS = ("mean", "last_token", "cls")
PADDING_SIDES = ("left", "right")
INPUT_KINDS = ("query", "document")

#: Built-in manifests ship with the project under fixtures/models.
BUILTIN_MANIFEST_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "models"


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
    onnx_file: str = "model.onnx"
    tokenizer_file: str = "tokenizer.json"
    output: str = "last_hidden_state"
    normalize: bool = True
    prompts: dict[str, str] = field(default_factory=lambda: {k: "{text}" for k in INPUT_KINDS})
    matryoshka_min_dim: int | None = None
    trained: bool = True  # False for random-weight models: semantic criteria skip on them
    onnx_sha256: str | None = None
    export_min_cosine: float = 0.9999  # the export parity gate's tolerance
    source: Source | None = None
    # The manifest (name or path) of the original model this deployment must match; None: itself.
    # A re-export or quantization of a model points here so parity is judged against the true baseline.
    baseline: str | None = None
    precision: str = "fp32"  # of the deployed graph: fp32 | fp16 | fp8; profiles may set tolerances per precision
    path: Path | None = None  # the TOML file it came from

    @property
    def onnx_path(self) -> Path:
        return self.artifact_dir / self.onnx_file

    @property
    def tokenizer_path(self) -> Path:
        return self.artifact_dir / self.tokenizer_file

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


def _require(data: dict[str, Any], key: str, kind: type, where: Path) -> Any:
    if key not in data:
        raise ManifestError(f"{where}: missing required key {key!r}")
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ManifestError(f"{where}: {key!r} must be {kind.__name__}, got {value!r}")
    return value


def _parse_source(table: dict[str, Any], where: Path) -> Source:
    kind = _require(table, "kind", str, where)
    return Source(kind=kind, options={k: v for k, v in table.items() if k != "kind"})


def parse_manifest(data: dict[str, Any], where: Path) -> ModelManifest:
    """Validate a manifest's TOML table; every message names the file and the key."""
    pooling = _require(data, "pooling", str, where)
    if pooling not in POOLINGS:
        raise ManifestError(f"{where}: pooling {pooling!r} is not one of {', '.join(POOLINGS)}")
    padding_side = _require(data, "padding_side", str, where)
    if padding_side not in PADDING_SIDES:
        raise ManifestError(f"{where}: padding_side {padding_side!r} is not 'left' or 'right'")
    dimension = _require(data, "dimension", int, where)
    max_length = _require(data, "max_length", int, where)
    if dimension <= 0 or max_length <= 0:
        raise ManifestError(f"{where}: dimension and max_length must be positive")
    prompts = {k: "{text}" for k in INPUT_KINDS} | dict(data.get("prompts", {}))
    for kind, template in prompts.items():
        if "{text}" not in template:
            raise ManifestError(f"{where}: prompts.{kind} must contain '{{text}}', got {template!r}")
    files = data.get("files", {})
    source = data.get("source")
    return ModelManifest(
        id=_require(data, "id", str, where),
        name=_require(data, "name", str, where),
        dimension=dimension,
        pooling=pooling,
        padding_side=padding_side,
        max_length=max_length,
        artifact_dir=_expand(files.get("dir", "{cache}/" + data["id"]), where.parent),
        onnx_file=files.get("onnx", "model.onnx"),
        tokenizer_file=files.get("tokenizer", "tokenizer.json"),
        output=data.get("output", "last_hidden_state"),
        normalize=data.get("normalize", True),
        prompts=prompts,
        matryoshka_min_dim=data.get("matryoshka_min_dim"),
        trained=data.get("trained", True),
        onnx_sha256=files.get("onnx_sha256"),
        export_min_cosine=data.get("export_min_cosine", 0.9999),
        source=_parse_source(source, where) if source else None,
        baseline=data.get("baseline"),
        precision=data.get("precision", "fp32"),
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
    """Load a manifest by built-in name (fixtures/models/NAME.toml) or by path."""
    candidate = Path(name_or_path)
    if candidate.suffix != ".toml":
        candidate = BUILTIN_MANIFEST_DIR / f"{name_or_path}.toml"
    if not candidate.is_file():
        known = ", ".join(sorted(p.stem for p in BUILTIN_MANIFEST_DIR.glob("*.toml")))
        raise ManifestError(
            f"no model manifest at {candidate}: pass a path to a .toml manifest or one of: {known}"
        )
    try:
        data = tomllib.loads(candidate.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{candidate}: not valid TOML ({exc})") from None
    return parse_manifest(data, candidate)
