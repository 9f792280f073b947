"""Tokenization with HF `tokenizers`: truncation, prompts, and padding done explicitly.

The tokenizer never pads by itself; `pad()` builds the int64 arrays with the side the model
needs (left for decoder models pooled on the last token, right for encoders), so padding is
a visible, tested decision rather than whatever tokenizer.json happened to say.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Encoding, Tokenizer

from runtime.errors import ConfigError, ModelFileError

#: A text longer than max_length x this many characters is cut before tokenizing (then checked).
CHARS_PER_TOKEN_BOUND = 16


@dataclass(frozen=True)
class Batch:
    input_ids: np.ndarray  # int64 (batch, seq)
    attention_mask: np.ndarray  # int64 (batch, seq), 1 for real tokens

    @property
    def token_count(self) -> int:
        return int(self.attention_mask.sum())

    def position_ids(self) -> np.ndarray:
        # Count real tokens only, so a left-padded text gets the positions it has alone.
        return np.clip(np.cumsum(self.attention_mask, axis=1) - 1, 0, None)

    def feeds(self, input_names: Sequence[str]) -> dict[str, np.ndarray]:
        """The arrays the graph asks for, by its input names."""
        makers = {
            "input_ids": lambda: self.input_ids,
            "attention_mask": lambda: self.attention_mask,
            "token_type_ids": lambda: np.zeros_like(self.input_ids),
            "position_ids": self.position_ids,
        }
        unknown = [n for n in input_names if n not in makers]
        if unknown:
            raise ModelFileError(
                f"the ONNX graph wants inputs {unknown} this runtime cannot make "
                f"(it makes {', '.join(makers)}); export with task feature-extraction and no cache"
            )
        return {name: makers[name]() for name in input_names}


class TextTokenizer:
    """Wraps a tokenizer.json. Immutable after construction, so threads may share it."""

    def __init__(self, path: str | Path, *, max_length: int, padding_side: str, pad_id: int | None = None):
        path = Path(path)
        if not path.is_file():
            raise ModelFileError(f"tokenizer not found at {path}: it ships next to model.onnx as tokenizer.json")
        try:
            self._tok = Tokenizer.from_file(str(path))
        except Exception as exc:  # the Rust side raises a bare Exception
            raise ModelFileError(f"{path} is not a valid tokenizer.json ({exc})") from None
        padding = self._tok.padding
        self.pad_id = pad_id if pad_id is not None else (padding or {}).get("pad_id", 0)
        self._tok.no_padding()
        self._tok.enable_truncation(max_length)
        # User text is text: a literal "<|endoftext|>" inside a document must not become the EOS
        # token (it would end or empty the text). The template's own special tokens are unaffected.
        self._tok.encode_special_tokens = True
        self.max_length = max_length
        self.padding_side = padding_side
        self.path = path

    def with_max_length(self, max_length: int) -> TextTokenizer:
        """The same tokenizer truncating at another length (a new object: this one stays as it is)."""
        return TextTokenizer(self.path, max_length=max_length, padding_side=self.padding_side, pad_id=self.pad_id)

    def encode_text(self, text: str) -> Encoding:
        """One text, tokenized whole (no cut before tokenizing), truncated at max_length."""
        return self._tok.encode(text, add_special_tokens=True)

    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size(with_added_tokens=True)

    def token(self, token_id: int) -> str | None:
        """The vocabulary entry of an id (for reports that show which tokens differ)."""
        return self._tok.id_to_token(int(token_id))

    def special_tokens(self) -> dict[int, str]:
        """id -> content of the tokenizer's special tokens."""
        return {i: t.content for i, t in self._tok.get_added_tokens_decoder().items() if t.special}

    def encode(self, texts: Sequence[str]) -> list[Encoding]:
        """Truncated, unpadded encodings (special tokens included).

        Memory follows the truncated size, not the raw input: a text far longer than max_length is cut
        before it is tokenized (a 1 MB text would otherwise be tokenized whole, overflow and all), at a
        bound that cannot change what truncation keeps (see _encode_cut).
        """
        texts = list(texts)
        bound = self.max_length * CHARS_PER_TOKEN_BOUND
        long = [i for i, t in enumerate(texts) if len(t) > bound]
        if not long:
            return self._tok.encode_batch(texts, add_special_tokens=True)
        cut = [t[:bound] if len(t) > bound else t for t in texts]
        encodings = self._tok.encode_batch(cut, add_special_tokens=True)
        for i in long:
            encodings[i] = self._encode_cut(texts[i], encodings[i], bound)
        return encodings

    def _encode_cut(self, text: str, encoding: Encoding, bound: int) -> Encoding:
        """The encoding of text[:bound] is the encoding of the whole text when (1) truncation dropped
        tokens of the cut text, so there were more than max_length, and (2) whitespace lies between
        the last kept token and the cut: tokenizers split words at whitespace first, so no kept token
        can depend on what follows it. Otherwise the bound grows, up to the whole text (a long text
        without whitespace, e.g. unspaced CJK, may be tokenized whole)."""
        while True:
            kept = [end for (_, end), special in zip(encoding.offsets, encoding.special_tokens_mask, strict=True)
                    if not special]
            if encoding.overflowing and kept and any(c.isspace() for c in text[max(kept):bound]):
                return encoding
            bound *= 4
            if bound >= len(text):
                return self.encode_text(text)
            encoding = self.encode_text(text[:bound])

    def pad(self, encodings: Sequence[Encoding], pad_to: int | None = None) -> Batch:
        """Pad to the longest encoding, or to `pad_to` (a fixed-shape bucket)."""
        lengths = [len(e.ids) for e in encodings]
        width = max(lengths)
        if pad_to is not None:
            if pad_to < width:
                raise ConfigError(f"pad_to={pad_to} is shorter than the longest text ({width} tokens)")
            width = pad_to
        ids = np.full((len(encodings), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, (enc, n) in enumerate(zip(encodings, lengths, strict=True)):
            cols = slice(width - n, width) if self.padding_side == "left" else slice(0, n)
            ids[row, cols] = enc.ids
            mask[row, cols] = 1
        return Batch(input_ids=ids, attention_mask=mask)

    def __call__(self, texts: Sequence[str], pad_to: int | None = None) -> Batch:
        return self.pad(self.encode(texts), pad_to)
