"""Exceptions the runtime raises. Each message says what is wrong and what to do about it.

They share one base class so that a CLI can print the message alone instead of a stack trace.
"""

from __future__ import annotations


class EmbeddingError(Exception):
    """Base of every error the runtime raises on purpose."""


class InputError(EmbeddingError, ValueError):
    """The texts handed to encode() cannot be embedded as they are."""


class ManifestError(EmbeddingError):
    """A model manifest is missing, malformed, or disagrees with the model it describes."""


class ModelFileError(EmbeddingError):
    """A model or tokenizer file is missing, corrupt, or incompatible with its partner."""


class ProviderError(EmbeddingError):
    """The session did not get the execution provider that was asked for (strict mode)."""


class ExportError(EmbeddingError):
    """An export failed, or its output missed the accuracy gate."""


class ConfigError(EmbeddingError, ValueError):
    """An argument or setting is out of range (batch_size, dim, pooling, provider options)."""


class EmptyBatchError(InputError):
    """encode() got no texts at all."""


class EmptyTextError(InputError):
    """A text has nothing to embed: empty, whitespace, or only invisible (format/control) characters."""


class TextTypeError(InputError, TypeError):
    """An item is not a str, or not valid Unicode text (a lone surrogate)."""


class DegenerateOutputError(EmbeddingError):
    """The model produced a vector that cannot be normalized (zero, NaN or Inf)."""


def first_line(error: BaseException | str, limit: int = 300) -> str:
    """One line for a user: the first line of an error's message (with its type, for an exception), cut to
    `limit` characters. Tracebacks go to logs; this is what a table cell or a one-line error shows."""
    if isinstance(error, BaseException):
        text = str(error).strip()
        head = text.splitlines()[0] if text else ""
        line = f"{type(error).__name__}: {head}" if head else type(error).__name__
    else:
        line = (str(error).strip().splitlines() or [""])[0]
    return line[:limit]
