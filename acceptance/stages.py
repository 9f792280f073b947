"""Where a deployment diverges from its baseline, stage by stage (Polygraphy-style).

1. Tokenizer: the deployed tokenizer.json's ids and attention mask against the baseline checkpoint's own
   (transformers) tokenizer, text by text and in padded batches: exact match or not.
2. Hidden states: the graph's token states for a text alone against PyTorch's last_hidden_state
   (max/mean absolute difference, cosine per token).
3. Pooled vector: cosine of the final embeddings (the parity criterion itself).

When parity fails, the report names the first stage that diverges.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from acceptance.metrics import cosines

#: How many differing texts a report shows.
SHOWN = 5


@dataclass
class TokenizerParity:
    texts: int = 0
    matched: int = 0
    differing: list[dict[str, Any]] = field(default_factory=list)  # the first SHOWN, with their tokens

    @property
    def share(self) -> float:
        return self.matched / self.texts if self.texts else 1.0

    def add(self, other: TokenizerParity) -> TokenizerParity:
        return TokenizerParity(self.texts + other.texts, self.matched + other.matched,
                               (self.differing + other.differing)[:SHOWN])

    def summary(self) -> str:
        if not self.differing:
            return f"all {self.texts} texts tokenize exactly as the baseline's tokenizer does"
        first = self.differing[0]
        return (f"{self.texts - self.matched} of {self.texts} texts tokenize differently from the baseline's "
                f"tokenizer; first: {first['text'][:60]!r} ({first['where']}: deployed {first['deployed'][:4]} "
                f"vs baseline {first['baseline'][:4]})")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"share": self.share}


def _tokens(ids: list[int], name) -> list[str]:
    return [f"{i}:{name(i)}" for i in ids]


def _first_difference(deployed: list[int], baseline: list[int]) -> int:
    for position, (a, b) in enumerate(zip(deployed, baseline, strict=False)):
        if a != b:
            return position
    return min(len(deployed), len(baseline))


def compare_tokenizers(embedder, reference, texts: list[str], kind: str, *, batch: int = 8) -> TokenizerParity:
    """Exact match of ids (each text alone) and of ids and attention mask (in padded batches of `batch`)."""
    template = embedder.manifest.prompt(kind)
    ours = [e.ids for e in embedder.tokenizer.encode([template.replace("{text}", t) for t in texts])]
    theirs = reference.tokenize(texts, kind)["input_ids"]
    bad: dict[int, dict[str, Any]] = {}
    base_tok = reference.tokenizer().convert_ids_to_tokens
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        if list(a) != list(b):
            at = _first_difference(list(a), list(b))
            bad[i] = {"text": texts[i], "kind": kind, "where": f"token {at} of {len(a)} vs {len(b)}",
                      "deployed": _tokens(list(a)[at:at + 4], embedder.tokenizer.token),
                      "baseline": _tokens(list(b)[at:at + 4], lambda t: base_tok(int(t)))}
    for start in range(0, len(texts), batch):
        chunk = list(range(start, min(start + batch, len(texts))))
        if any(i in bad for i in chunk):
            continue
        prompted = [template.replace("{text}", texts[i]) for i in chunk]
        padded = embedder.tokenizer.pad(embedder.tokenizer.encode(prompted))
        base = reference.tokenize([texts[i] for i in chunk], kind, pad=True)
        for row, i in enumerate(chunk):
            if (padded.input_ids[row].tolist() != base["input_ids"][row]
                    or padded.attention_mask[row].tolist() != base["attention_mask"][row]):
                bad[i] = {"text": texts[i], "kind": kind,
                          "where": f"padded batch of {len(chunk)} ({embedder.manifest.padding_side} padding deployed, "
                                   f"{reference.manifest.padding_side} in the baseline)",
                          "deployed": padded.input_ids[row].tolist()[:8], "baseline": base["input_ids"][row][:8]}
    return TokenizerParity(texts=len(texts), matched=len(texts) - len(bad),
                           differing=[bad[i] for i in sorted(bad)][:SHOWN])


@dataclass
class HiddenStates:
    texts: int
    compared: int  # texts whose tokens matched, so their states are comparable position by position
    max_abs_diff: float
    mean_abs_diff: float
    min_token_cosine: float
    mean_token_cosine: float
    worst_text: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_hidden_states(embedder, reference, texts: list[str], kind: str) -> HiddenStates:
    """The graph's token states for each text alone against PyTorch's last_hidden_state."""
    theirs = reference.hidden_states_cached(texts, kind)
    diffs, cos_all, worst = [], [], (2.0, "")
    for text, base in zip(texts, theirs, strict=True):
        ours = embedder.token_states(text, kind).astype(np.float64)
        if ours.shape != base.shape:
            continue  # the tokenizer stage already differs for this text
        diffs.append(np.abs(ours - base))
        token_cos = cosines(ours, base.astype(np.float64))
        cos_all.append(token_cos)
        if token_cos.min() < worst[0]:
            worst = (float(token_cos.min()), text)
    if not diffs:
        return HiddenStates(len(texts), 0, float("nan"), float("nan"), float("nan"), float("nan"), "")
    flat, cos = np.concatenate([d.ravel() for d in diffs]), np.concatenate(cos_all)
    return HiddenStates(len(texts), len(diffs), float(flat.max()), float(flat.mean()), float(np.nanmin(cos)),
                        float(np.nanmean(cos)), worst[1])


def first_divergence(tokenizer: TokenizerParity, hidden: HiddenStates | None, pooled_min: float,
                     target: float) -> str | None:
    """The first stage whose agreement is below the parity target (cosine stages) or not exact (tokens)."""
    if tokenizer.share < 1.0:
        return f"tokenizer: {tokenizer.summary()}"
    if hidden is not None and hidden.compared and not hidden.min_token_cosine >= target:
        return (f"hidden states (the graph): min cosine per token {hidden.min_token_cosine:.6f}, max abs diff "
                f"{hidden.max_abs_diff:.3g} on {hidden.worst_text[:60]!r}")
    if not pooled_min >= target:
        agreed = hidden is not None and hidden.compared
        detail = f"hidden states agree (min token cosine {hidden.min_token_cosine:.6f}); " if agreed else ""
        return f"pooling and normalization: {detail}pooled vectors reach only {pooled_min:.6f}"
    return None


def sample(texts_by_class: dict[str, tuple[str, ...]], per_class: int = 2) -> list[str]:
    """A few texts of every class of the corpus, for the hidden-state stage (run text by text)."""
    return [t for texts in texts_by_class.values() for t in texts[:per_class]]
