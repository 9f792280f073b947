"""The HuggingFace PyTorch fp32 baseline: transformers AutoModel, written independently of the
numpy runtime (torch pooling, the HF tokenizer) so that agreement between the two means something.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from runtime.manifest import ModelManifest


class Reference:
    def __init__(self, manifest: ModelManifest, checkpoint: str | Path, *, trust_remote_code: bool = False):
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.manifest = manifest
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(checkpoint), trust_remote_code=trust_remote_code)
        self.tokenizer.padding_side = manifest.padding_side
        self.model = AutoModel.from_pretrained(
            str(checkpoint), dtype=torch.float32, trust_remote_code=trust_remote_code
        ).eval()
        self._accepts = set(inspect.signature(self.model.forward).parameters)

    def _pool(self, hidden, mask):
        torch = self.torch
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

    def encode(self, texts: Sequence[str], kind: str = "document", batch_size: int = 16) -> np.ndarray:
        torch = self.torch
        template = self.manifest.prompt(kind)
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                chunk = [template.replace("{text}", t) for t in texts[i:i + batch_size]]
                enc = self.tokenizer(
                    chunk, padding=True, truncation=True, max_length=self.manifest.max_length, return_tensors="pt"
                )
                feeds = {k: v for k, v in enc.items() if k in self._accepts}
                hidden = self.model(**feeds).last_hidden_state
                vectors = self._pool(hidden, enc["attention_mask"])
                if self.manifest.normalize:
                    vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
                out.append(vectors.float().numpy())
        return np.concatenate(out)
