"""The HuggingFace PyTorch fp32 baseline: transformers AutoModel, written independently of the
numpy runtime (torch pooling, the HF tokenizer) so that agreement between the two means something.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from runtime.artifact import sha256_file
from runtime.errors import ModelFileError, first_line
from runtime.manifest import ModelManifest, cache_root


def checkpoint_fingerprint(checkpoint: str | Path) -> str:
    """sha256 over the checkpoint's weight files (names and contents)."""
    files = sorted(p for p in Path(checkpoint).glob("*") if p.suffix in (".safetensors", ".bin"))
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + sha256_file(path).encode())
    return digest.hexdigest()


class Reference:
    def __init__(self, manifest: ModelManifest, checkpoint: str | Path, *, trust_remote_code: bool = False):
        self.manifest = manifest
        self.checkpoint = str(checkpoint)
        self.trust_remote_code = trust_remote_code
        self.fingerprint = checkpoint_fingerprint(checkpoint) if Path(self.checkpoint).is_dir() else self.checkpoint
        self._loaded = None  # torch, tokenizer, model: loaded on the first cache miss only
        self._tokenizer = None  # the checkpoint's own tokenizer, loaded without the model

    def _not_here(self, exc: OSError) -> ModelFileError:
        return ModelFileError(
            f"the PyTorch baseline checkpoint {self.checkpoint!r} is not on this machine (nothing is fetched "
            f"from a hub): download it elsewhere and point the manifest's [source] checkpoint at the "
            f"directory ({first_line(str(exc), 200)})"
        )

    def tokenizer(self):
        """The checkpoint's own (transformers) tokenizer, set up as the baseline uses it: the manifest's
        padding side, and a literal special-token string in user text kept as text (as the runtime does)."""
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            # local_files_only: nothing is fetched from a hub; a checkpoint must be on this machine.
            try:
                tokenizer = AutoTokenizer.from_pretrained(
                    self.checkpoint, trust_remote_code=self.trust_remote_code, split_special_tokens=True,
                    local_files_only=True,
                )
            except OSError as exc:
                raise self._not_here(exc) from None
            tokenizer.padding_side = self.manifest.padding_side
            self._tokenizer = tokenizer
        return self._tokenizer

    def _load(self):
        if self._loaded is None:
            import torch
            from transformers import AutoModel

            tokenizer = self.tokenizer()
            try:
                model = AutoModel.from_pretrained(
                    self.checkpoint, dtype=torch.float32, trust_remote_code=self.trust_remote_code,
                    local_files_only=True,
                ).eval()
            except OSError as exc:
                raise self._not_here(exc) from None
            self._accepts = set(inspect.signature(model.forward).parameters)
            self._loaded = (torch, tokenizer, model)
        return self._loaded

    def tokenize(self, texts: Sequence[str], kind: str = "document", *, pad: bool = False) -> dict[str, list]:
        """input_ids and attention_mask as the baseline makes them: prompt, truncation at max_length and,
        with pad=True, one batch padded on the manifest's side."""
        template = self.manifest.prompt(kind)
        enc = self.tokenizer()([template.replace("{text}", t) for t in texts], padding=pad, truncation=True,
                               max_length=self.manifest.max_length)
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def _pool(self, hidden, mask):
        torch = self._load()[0]
        strategy = self.manifest.pooling
        if strategy == "mean":
            m = mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * m).sum(1) / m.sum(1)
        rows = torch.arange(hidden.shape[0])
        if strategy == "cls":
            first = mask.int().argmax(dim=1)
            return hidden[rows, first]
        # last_token, as in the Qwen3-Embedding model card
        if bool(mask[:, -1].all()):
            return hidden[:, -1]
        return hidden[rows, mask.sum(dim=1) - 1]

    def _cache_path(self, what: str, texts: Sequence[str], kind: str) -> Path:
        """Keyed by (weights sha256, manifest settings, texts): computed once per model and text set."""
        m = self.manifest
        key = hashlib.sha256(json.dumps(
            [what, self.fingerprint, m.pooling, m.padding_side, m.max_length, m.prompt(kind), m.normalize, list(texts)]
        ).encode()).hexdigest()[:32]
        return cache_root() / "baselines" / f"{m.id}-{what}-{key}.npz"

    @staticmethod
    def _save(path: Path, arrays: dict[str, np.ndarray]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)

    def encode_cached(self, texts: Sequence[str], kind: str = "document") -> np.ndarray:
        """encode(), cached on disk: the baseline is computed once per model and text set, not once per run."""
        path = self._cache_path("vectors", texts, kind)
        if path.is_file():
            return np.load(path)["vectors"]
        return self._baseline_pass(texts, kind)[0]

    def activation_maxima_cached(self, texts: Sequence[str], kind: str = "document") -> dict[str, float]:
        """The largest |value| each module of the model outputs over `texts` (in the baseline's padded
        batches), from the same pass as encode_cached's vectors and cached beside them: a run that has the
        vectors cached has these too, and pays nothing for them."""
        path = self._cache_path("maxima", texts, kind).with_suffix(".json")
        if path.is_file():
            return json.loads(path.read_text(encoding="utf-8"))
        return self._baseline_pass(texts, kind)[1]

    def _baseline_pass(self, texts: Sequence[str], kind: str) -> tuple[np.ndarray, dict[str, float]]:
        maxima: dict[str, float] = {}
        vectors = self.encode(texts, kind=kind, maxima=maxima)
        self._save(self._cache_path("vectors", texts, kind), {"vectors": vectors})
        self._cache_path("maxima", texts, kind).with_suffix(".json").write_text(json.dumps(maxima), encoding="utf-8")
        return vectors, maxima

    def hidden_states_cached(self, texts: Sequence[str], kind: str = "document") -> list[np.ndarray]:
        """The model's last_hidden_state (seq, hidden) for each text alone (no padding), cached on disk:
        the per-stage comparison's reference for the graph itself, before pooling."""
        path = self._cache_path("hidden", texts, kind)
        if path.is_file():
            saved = np.load(path)
            return [saved[f"t{i}"] for i in range(len(texts))]
        torch, tokenizer, model = self._load()
        template = self.manifest.prompt(kind)
        states = []
        with torch.inference_mode():
            for text in texts:
                enc = tokenizer([template.replace("{text}", text)], truncation=True,
                                max_length=self.manifest.max_length, return_tensors="pt")
                feeds = {k: v for k, v in enc.items() if k in self._accepts}
                states.append(model(**feeds).last_hidden_state[0].float().numpy())
        self._save(path, {f"t{i}": s for i, s in enumerate(states)})
        return states

    def _record_maxima(self, model, maxima: dict[str, float]) -> list:
        """Forward hooks that keep, per module, the largest |value| of its (first) output tensor."""
        torch = self._load()[0]

        def hook(name: str):
            def record(module, inputs, output):
                tensor = output[0] if isinstance(output, (tuple, list)) else output
                if torch.is_tensor(tensor) and tensor.is_floating_point() and tensor.numel():
                    maxima[name] = max(maxima.get(name, 0.0), float(tensor.detach().abs().max()))
            return record

        return [module.register_forward_hook(hook(name)) for name, module in model.named_modules() if name]

    def module_names(self) -> list[str]:
        """Every module of the model, in its order (named_modules)."""
        return [name for name, _ in self._load()[2].named_modules() if name]

    def module_outputs(self, text: str, kind: str, modules: Sequence[str]) -> dict[str, np.ndarray]:
        """What each named module outputs (seq, hidden) for one text alone, through forward hooks."""
        torch, tokenizer, model = self._load()
        named = dict(model.named_modules())
        captured: dict[str, np.ndarray] = {}

        def hook(name: str):
            def keep(module, inputs, output):
                tensor = output[0] if isinstance(output, (tuple, list)) else output
                captured[name] = tensor.detach()[0].float().numpy()
            return keep

        handles = [named[m].register_forward_hook(hook(m)) for m in modules if m in named]
        try:
            enc = tokenizer([self.manifest.prompt(kind).replace("{text}", text)], truncation=True,
                            max_length=self.manifest.max_length, return_tensors="pt")
            with torch.inference_mode():
                model(**{k: v for k, v in enc.items() if k in self._accepts})
        finally:
            for handle in handles:
                handle.remove()
        return captured

    def encode(self, texts: Sequence[str], kind: str = "document", batch_size: int = 16,
               maxima: dict[str, float] | None = None) -> np.ndarray:
        """The baseline's vectors; with `maxima`, the largest |value| each module outputs is kept in it."""
        torch, tokenizer, model = self._load()
        template = self.manifest.prompt(kind)
        out = []
        handles = self._record_maxima(model, maxima) if maxima is not None else []
        try:
            with torch.inference_mode():
                for i in range(0, len(texts), batch_size):
                    chunk = [template.replace("{text}", t) for t in texts[i:i + batch_size]]
                    enc = tokenizer(chunk, padding=True, truncation=True, max_length=self.manifest.max_length,
                                    return_tensors="pt")
                    hidden = model(**{k: v for k, v in enc.items() if k in self._accepts}).last_hidden_state
                    vectors = self._pool(hidden, enc["attention_mask"])
                    if self.manifest.normalize:
                        vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
                    out.append(vectors.float().numpy())
        finally:
            for handle in handles:
                handle.remove()
        return np.concatenate(out)
