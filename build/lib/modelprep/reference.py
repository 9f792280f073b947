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
from runtime.errors import ModelFileError
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

    def _load(self):
        if self._loaded is None:
            import torch
            from transformers import AutoModel, AutoTokenizer

            # split_special_tokens: like the runtime, a literal special-token string in user text stays text.
            # local_files_only: nothing is fetched from a hub; a checkpoint must be on this machine.
            try:
                tokenizer = AutoTokenizer.from_pretrained(
                    self.checkpoint, trust_remote_code=self.trust_remote_code, split_special_tokens=True,
                    local_files_only=True,
                )
                model = AutoModel.from_pretrained(
                    self.checkpoint, dtype=torch.float32, trust_remote_code=self.trust_remote_code,
                    local_files_only=True,
                ).eval()
            except OSError as exc:
                raise ModelFileError(
                    f"the PyTorch baseline checkpoint {self.checkpoint!r} is not on this machine (nothing is fetched "
                    f"from a hub): download it elsewhere and point the manifest's [source] checkpoint at the "
                    f"directory ({str(exc).splitlines()[0][:200]})"
                ) from None
            tokenizer.padding_side = self.manifest.padding_side
            self._accepts = set(inspect.signature(model.forward).parameters)
            self._loaded = (torch, tokenizer, model)
        return self._loaded

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

    def encode_cached(self, texts: Sequence[str], kind: str = "document") -> np.ndarray:
        """encode(), cached on disk by (weights sha256, manifest settings, texts hash): the baseline is
        computed once per model and text set, not once per run."""
        m = self.manifest
        key = hashlib.sha256(json.dumps(
            [self.fingerprint, m.pooling, m.padding_side, m.max_length, m.prompt(kind), m.normalize, list(texts)]
        ).encode()).hexdigest()[:32]
        path = cache_root() / "baselines" / f"{m.id}-{key}.npy"
        if path.is_file():
            return np.load(path)
        vectors = self.encode(texts, kind=kind)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, vectors)
        os.replace(tmp, path)
        return vectors

    def encode(self, texts: Sequence[str], kind: str = "document", batch_size: int = 16) -> np.ndarray:
        torch, tokenizer, model = self._load()
        template = self.manifest.prompt(kind)
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                chunk = [template.replace("{text}", t) for t in texts[i:i + batch_size]]
                enc = tokenizer(
                    chunk, padding=True, truncation=True, max_length=self.manifest.max_length, return_tensors="pt"
                )
                feeds = {k: v for k, v in enc.items() if k in self._accepts}
                hidden = model(**feeds).last_hidden_state
                vectors = self._pool(hidden, enc["attention_mask"])
                if self.manifest.normalize:
                    vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
                out.append(vectors.float().numpy())
        return np.concatenate(out)
