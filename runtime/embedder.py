"""The embedder: texts in, unit vectors out, in the caller's order.

It tokenizes every text once, sorts by token length so that each batch pads little, runs the
session, pools, normalizes, and puts rows back in the original order. Its three stages (tokenizer,
session, post-processing) are given at construction and never reassigned, and it holds no mutable
state, so one instance serves many threads (ORT's run() is thread-safe).
"""

from __future__ import annotations

import json
import os
import re
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

import numpy as np

from runtime.artifact import ArtifactIdentity, recorded_graph, verify_artifacts
from runtime.errors import (
    ConfigError,
    EmbeddingError,
    EmptyBatchError,
    EmptyTextError,
    ManifestError,
    ModelFileError,
    ProviderError,
    TextTypeError,
)
from runtime.manifest import ModelManifest, cache_root, load_manifest
from runtime.normalize import check_dim, l2_normalize, truncate
from runtime.pool import pool
from runtime.session import SessionConfig, SessionReport, create_session
from runtime.tokenize import TextTokenizer


@dataclass(frozen=True)
class ExecutedPrecision:
    """A precision that is how a provider executes the graph, not the graph's own types."""

    provider: str  # the short name (--provider)
    provider_name: str  # ONNX Runtime's name of it
    openvino_hint: str  # OpenVINO's INFERENCE_PRECISION_HINT for it


#: A bf16 deployment is the fp32 graph run by OpenVINO with INFERENCE_PRECISION_HINT=bf16 (AMX/AVX512-BF16 on
#: the CPU). On any other provider it would run at fp32, and its figures would not be bf16's.
EXECUTED_PRECISIONS: dict[str, ExecutedPrecision] = {
    "bf16": ExecutedPrecision(provider="openvino", provider_name="OpenVINOExecutionProvider", openvino_hint="bf16"),
}


@dataclass(frozen=True)
class Placement:
    """Where a deployment runs: the provider (short name), and whether only there (strictly)."""

    provider: str
    strict: bool


def executing_provider(precision: str, default: str = "cpu") -> Placement:
    """The provider a deployment of this precision runs on: an executed precision's own provider, which
    alone runs it at that precision (strictly); else `default`."""
    needs = EXECUTED_PRECISIONS.get(precision)
    return Placement(needs.provider, True) if needs else Placement(default, False)


def session_config_for(manifest: ModelManifest, config: SessionConfig | None = None) -> SessionConfig:
    """The session config a deployment runs with: `config` (default: the CPU provider, or for an
    executed precision its provider, strictly), with OpenVINO's precision hint taken from the
    manifest unless the config sets one (f32 for every precision OpenVINO does not execute itself)."""
    if config is None:
        placed = executing_provider(manifest.precision)
        config = SessionConfig(providers=(placed.provider,), strict=placed.strict)
    if config.openvino.precision is None:
        executed = EXECUTED_PRECISIONS.get(manifest.precision)
        hint = executed.openvino_hint if executed else "f32"
        config = replace(config, openvino=replace(config.openvino, precision=hint))
    return config


@dataclass(frozen=True)
class Usage:
    texts: int
    tokens: int
    batches: int
    duration_ms: float
    tokenize_ms: float
    inference_ms: float
    pool_ms: float  # pooling + normalization


@dataclass(frozen=True)
class Embeddings:
    vectors: np.ndarray  # float32 (n, dim), unit rows
    usage: Usage
    token_counts: np.ndarray  # tokens per text after truncation, in input order


@dataclass(frozen=True)
class ModelInfo:
    id: str
    name: str
    dimension: int
    native_dimension: int
    max_tokens: int
    pooling: str
    padding_side: str
    providers: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Health:
    ok: bool
    latency_ms: float
    provider: str


# Characters that render as nothing: controls (\x00), format characters (zero-width space and joiners,
# BOM, word joiner, soft hyphen, bidi marks) and separators. A text made only of them has nothing to
# embed; tokenizers drop them and the model would see an empty text ([CLS][SEP] or a lone EOS).
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})
_SURROGATE = re.compile("[\ud800-\udfff]")


def has_visible_character(text: str) -> bool:
    """Whether a text holds anything to embed: a character that is neither whitespace nor invisible."""
    return any(not ch.isspace() and unicodedata.category(ch) not in _INVISIBLE_CATEGORIES for ch in text)


def validate_texts(texts: Sequence[str]) -> list[str]:
    """Reject what cannot be embedded, naming the offending item."""
    if isinstance(texts, str):
        raise TextTypeError("encode() takes a list of texts, not one str: wrap it as [text]")
    try:
        texts = list(texts)
    except TypeError:
        raise TextTypeError(f"encode() takes a list of str, got {type(texts).__name__}") from None
    if not texts:
        raise EmptyBatchError("no texts to embed: pass a non-empty list of strings")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TextTypeError(f"item {i} is a {type(text).__name__}, not a str: convert it or drop it")
        if not text.strip():
            raise EmptyTextError(
                f"item {i} is empty or whitespace-only ({text[:20]!r}): there is nothing to embed; "
                "filter such texts out before calling encode()"
            )
        if not has_visible_character(text):
            raise EmptyTextError(
                f"item {i} holds only invisible characters ({text[:20]!r}: control, zero-width or format "
                "characters): there is nothing to embed; filter such texts out before calling encode()"
            )
        bad = _SURROGATE.search(text)
        if bad:
            raise TextTypeError(
                f"item {i} is not valid Unicode: a lone surrogate {bad.group()!r} at character {bad.start()} "
                "(text decoded with errors='surrogateescape' or cut inside a UTF-16 pair); re-decode it as UTF-8"
            )
    return texts


def plan_batches(lengths: np.ndarray, batch_size: int, max_batch_tokens: int | None = None) -> Iterator[np.ndarray]:
    """Indices per batch, longest texts first, so each batch pads little.

    With a token budget, a batch holds at most max_batch_tokens // (its longest text) texts,
    which keeps memory flat when long and short texts mix.
    """
    order = np.argsort(-lengths, kind="stable")
    start = 0
    while start < len(order):
        size = batch_size
        if max_batch_tokens:
            size = max(1, min(size, max_batch_tokens // int(lengths[order[start]])))
        yield order[start:start + size]
        start += size


def _check_executed_precision(manifest: ModelManifest, report: SessionReport) -> None:
    """A precision only one provider executes (bf16: OpenVINO) is refused on any other, where it would
    silently run at fp32."""
    needs = EXECUTED_PRECISIONS.get(manifest.precision)
    if needs and report.primary != needs.provider_name:
        raise ProviderError(
            f"{manifest.id} is a {manifest.precision} deployment, which only {needs.provider_name} executes at "
            f"{manifest.precision}; this session runs on {report.primary}, where it would run at fp32. Use the "
            f"provider {needs.provider!r} (--provider {needs.provider})"
            + "".join(f"; {name} was left out: {why}" for name, why in report.skipped.items()
                      if name == needs.provider_name))


class Session(Protocol):
    """What the embedder needs of a session: ONNX Runtime's InferenceSession, or anything that wraps one."""

    def run(self, output_names: list[str], input_feed: dict[str, np.ndarray], run_options: Any = None) -> list: ...
    def get_inputs(self) -> list: ...
    def get_outputs(self) -> list: ...
    def io_binding(self) -> Any: ...
    def run_with_iobinding(self, binding: Any, run_options: Any = None) -> None: ...


#: Token states (batch, seq, hidden) and the attention mask -> output rows.
PostProcess = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Stages:
    """An embedder's three named steps (fastembed's tokenize, run, post-process): given at construction,
    never reassigned. A deployment that differs in one step is another Embedder (`with_stages`)."""

    tokenizer: TextTokenizer
    session: Session
    postprocess: PostProcess


def postprocessor(manifest: ModelManifest, dim: int) -> PostProcess:
    """The manifest's post-processing: pool from the mask, L2-normalize, Matryoshka-truncate to `dim`."""

    def postprocess(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if hidden.ndim != 3:
            raise ModelFileError(f"output {manifest.output!r} has shape {hidden.shape}; expected (batch, seq, hidden)")
        vectors = pool(manifest.pooling, hidden.astype(np.float32, copy=False), mask)
        if manifest.normalize:
            vectors = l2_normalize(vectors)
        if dim != vectors.shape[1]:
            vectors = truncate(vectors, dim, manifest.matryoshka_min_dim)
        return vectors

    return postprocess


def _checked_dim(manifest: ModelManifest, dim: int | None) -> int:
    dim = manifest.dimension if dim is None else dim
    if dim != manifest.dimension and manifest.matryoshka_min_dim is None:
        raise ConfigError(
            f"dim={dim}: {manifest.id}'s manifest declares no matryoshka_min_dim, so its vectors are not "
            f"known to survive truncation; use the native {manifest.dimension}, or set matryoshka_min_dim in "
            f"{manifest.path} if the model was trained for it"
        )
    check_dim(dim, manifest.dimension, manifest.matryoshka_min_dim)
    return dim


class Embedder:
    """Texts in, unit vectors out, from its three stages. `Embedder.load` builds the stages of a manifest's
    deployment (verifying its files, creating the session); the constructor takes stages already built."""

    def __init__(
        self,
        manifest: ModelManifest,
        stages: Stages,
        report: SessionReport,
        *,
        identity: ArtifactIdentity | None = None,
        dim: int | None = None,
        batch_size: int = 32,
        max_batch_tokens: int | None = None,
        io_binding: bool | None = None,
    ):
        self.manifest = manifest
        self.stages = stages
        self.report = report  # what the session asked for and got (runtime.session)
        self.identity = identity  # what was really loaded, and how it was verified
        self.dim = _checked_dim(manifest, dim)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be a whole number of at least 1, got {batch_size!r}")
        if max_batch_tokens is not None and (not isinstance(max_batch_tokens, int) or max_batch_tokens < 1):
            raise ConfigError(f"max_batch_tokens must be a positive whole number or None, got {max_batch_tokens!r}")
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.input_names = [i.name for i in stages.session.get_inputs()]
        # IO binding on GPU providers: inputs are copied to the device once and the output lands in a
        # buffer ORT allocates, instead of run()'s per-call staging. None: on when a GPU provider runs.
        gpu = report.primary in ("CUDAExecutionProvider", "TensorrtExecutionProvider")
        self.io_binding = gpu if io_binding is None else io_binding
        self._check_graph()

    @classmethod
    def load(cls, model: str | os.PathLike[str] | ModelManifest, session_config: SessionConfig | None = None, *,
             dim: int | None = None, verify: bool = True, **options: Any) -> Embedder:
        """The deployment a manifest (by name, path, or loaded) describes. Its files must exist: build them
        with `python -m modelprep.export --model NAME` (the serving runtime never builds or downloads).

        verify: hash model.onnx (and its external data) and tokenizer.json and check them against
        artifact.json and the manifest before serving (remembered per inode, size, mtime and ctime)."""
        manifest = model if isinstance(model, ModelManifest) else load_manifest(model)
        dim = _checked_dim(manifest, dim)
        for path in (manifest.onnx_path, manifest.tokenizer_path):
            if not path.is_file():
                raise ModelFileError(f"{path} not found: build or export the model first (python -m modelprep.export "
                                     f"--model {manifest.id}), or fix [files] in {manifest.path}")
        identity = verify_artifacts(
            manifest.onnx_path, manifest.tokenizer_path, manifest_onnx_sha256=manifest.onnx_sha256,
            manifest_tokenizer_sha256=manifest.tokenizer_sha256, memo_dir=cache_root() / "verified",
        ) if verify else None
        tokenizer = TextTokenizer(manifest.tokenizer_path, max_length=manifest.max_length,
                                  padding_side=manifest.padding_side)
        session, report = create_session(manifest.onnx_path, session_config_for(manifest, session_config))
        _check_executed_precision(manifest, report)
        stages = Stages(tokenizer=tokenizer, session=session, postprocess=postprocessor(manifest, dim))
        return cls(manifest, stages, report, identity=identity, dim=dim, **options)

    def with_stages(self, embedder_class: type[Embedder] | None = None, **stages: Any) -> Embedder:
        """The same deployment with some stages replaced (a wrapped session, another tokenizer or
        post-processing), as a new Embedder (of `embedder_class`, if given); this one is unchanged."""
        return (embedder_class or type(self))(
            self.manifest, replace(self.stages, **stages), self.report, identity=self.identity, dim=self.dim,
            batch_size=self.batch_size, max_batch_tokens=self.max_batch_tokens, io_binding=self.io_binding)

    @property
    def tokenizer(self) -> TextTokenizer:
        return self.stages.tokenizer

    @property
    def session(self) -> Session:
        return self.stages.session

    def postprocess(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Token states (batch, seq, hidden) and the attention mask -> output rows (the post-process stage)."""
        return self.stages.postprocess(hidden, mask)

    def _check_graph(self) -> None:
        m = self.manifest
        outputs = {o.name: o for o in self.session.get_outputs()}
        if m.output not in outputs:
            raise ManifestError(
                f"{m.path}: output {m.output!r} is not in the graph's outputs {list(outputs)}; fix 'output'"
            )
        width = outputs[m.output].shape[-1]
        if isinstance(width, int) and width != m.dimension:
            raise ManifestError(
                f"{m.path}: dimension = {m.dimension} but the graph's {m.output!r} has {width} features; "
                "the manifest or the model file is wrong"
            )
        # The export recorded the token-embedding table's rows (the runtime does not parse ONNX itself).
        rows = recorded_graph(m.artifact_dir).get("embedding_rows")
        if rows is not None and self.tokenizer.vocab_size > rows:
            raise ModelFileError(
                f"{m.tokenizer_path} has {self.tokenizer.vocab_size} tokens but the model's embedding table "
                f"has {rows} rows: the tokenizer belongs to another model; ship the model's own tokenizer.json"
            )
        self._check_model_config()

    def _check_model_config(self) -> None:
        """Against the exported config.json: the position limit, and the special tokens' ids (a foreign
        tokenizer maps them to other tokens)."""
        m = self.manifest
        path = m.artifact_dir / "config.json"
        if not path.is_file():
            return
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelFileError(f"{path} is not valid JSON ({exc}); re-export the model") from None
        limit = config.get("max_position_embeddings")
        if isinstance(limit, int) and m.max_length > limit:
            raise ManifestError(
                f"{m.path}: max_length = {m.max_length} but the model has {limit} positions ({path}); "
                f"set max_length to at most {limit}"
            )
        specials = self.tokenizer.special_tokens()
        for key in ("pad_token_id", "bos_token_id", "eos_token_id", "cls_token_id", "sep_token_id"):
            ids = config.get(key)
            for token_id in ids if isinstance(ids, list) else [ids]:
                if isinstance(token_id, int) and token_id not in specials:
                    raise ModelFileError(
                        f"{m.tokenizer_path} has no special token at id {token_id}, the model's {key} ({path}): "
                        "the tokenizer belongs to another model; ship the model's own tokenizer.json"
                    )

    def embed(self, texts: Sequence[str], batch_size: int | None = None, kind: str = "document") -> Embeddings:
        texts = validate_texts(texts)
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                       or batch_size < 1):
            raise ConfigError(f"batch_size must be a whole number of at least 1, got {batch_size!r}")
        template = self.manifest.prompt(kind)
        t0 = time.perf_counter()
        encodings = self.tokenizer.encode([template.replace("{text}", t) for t in texts])
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        tokenize_s = time.perf_counter() - t0
        infer_s = pool_s = 0.0
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        batches = 0
        for idx in plan_batches(lengths, batch_size or self.batch_size, self.max_batch_tokens):
            t1 = time.perf_counter()
            batch = self.tokenizer.pad([encodings[i] for i in idx])
            t2 = time.perf_counter()
            hidden = self._run(batch.feeds(self.input_names))
            t3 = time.perf_counter()
            out[idx] = self.postprocess(hidden, batch.attention_mask)
            t4 = time.perf_counter()
            tokenize_s += t2 - t1
            infer_s += t3 - t2
            pool_s += t4 - t3
            batches += 1
        usage = Usage(
            texts=len(texts), tokens=int(lengths.sum()), batches=batches,
            duration_ms=(time.perf_counter() - t0) * 1e3,
            tokenize_ms=tokenize_s * 1e3, inference_ms=infer_s * 1e3, pool_ms=pool_s * 1e3,
        )
        return Embeddings(vectors=out, usage=usage, token_counts=lengths)

    def _run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        if not self.io_binding:
            return self.session.run([self.manifest.output], feeds)[0]
        binding = self.session.io_binding()  # one per call: bindings are not shared between threads
        for name, array in feeds.items():
            binding.bind_cpu_input(name, array)
        binding.bind_output(self.manifest.output)  # ORT allocates it on the provider's device
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0]

    def token_states(self, text: str, kind: str = "document") -> np.ndarray:
        """The graph's output (seq, hidden) for one text alone, before pooling: for comparing the model
        itself with a reference stage by stage."""
        texts = validate_texts([text])
        batch = self.tokenizer([self.manifest.prompt(kind).replace("{text}", texts[0])])
        return self._run(batch.feeds(self.input_names))[0]

    def encode(self, texts: Sequence[str], batch_size: int | None = None, kind: str = "document") -> np.ndarray:
        """float32 (n, dim) unit vectors, rows in the order of `texts`."""
        return self.embed(texts, batch_size=batch_size, kind=kind).vectors

    def model_info(self) -> ModelInfo:
        m = self.manifest
        return ModelInfo(
            id=m.id, name=m.name, dimension=self.dim, native_dimension=m.dimension, max_tokens=m.max_length,
            pooling=m.pooling, padding_side=m.padding_side, providers=self.report.got,
        )

    def health_check(self) -> Health:
        """Embed a probe and check it end to end; raises EmbeddingError if anything is off."""
        start = time.perf_counter()
        vectors = self.encode(["health check probe"])
        latency_ms = (time.perf_counter() - start) * 1e3
        norm = float(np.linalg.norm(vectors[0]))
        if vectors.shape != (1, self.dim) or not np.isfinite(vectors).all() or abs(norm - 1) > 1e-3:
            raise EmbeddingError(f"health check failed: shape {vectors.shape}, norm {norm:.6f}")
        return Health(ok=True, latency_ms=latency_ms, provider=self.report.primary)
