"""Strict checks for TOML data (manifests here, criteria profiles in acceptance/): an unknown key is
an error with the closest known key as a hint, and every value has the type it must have. A typo
must never be silently ignored: `extend = ...` for `extends`, `normalise = false` for `normalize`.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: Precisions a deployed graph may have.
PRECISIONS = ("fp32", "fp16", "bf16", "int8", "fp8")

_TYPE_NAMES = {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "a string",
               dict: "a table", list: "an array"}


def read_toml(path: Path, error: type[Exception]) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML ({exc}); fix the syntax at that line") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot be read ({exc})") from None


def check_keys(table: dict[str, Any], known: Iterable[str], where: str, error: type[Exception]) -> None:
    known = list(known)
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
            raise error(f"{where}: unknown key {key!r}{hint}")


def check_type(value: Any, kinds: type | tuple[type, ...], where: str, error: type[Exception]) -> Any:
    """bool is not a number here, and an int is a fine float."""
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    ok = any(
        (isinstance(value, bool) if k is bool else
         isinstance(value, (int, float)) and not isinstance(value, bool) if k is float else
         isinstance(value, int) and not isinstance(value, bool) if k is int else isinstance(value, k))
        for k in kinds
    )
    if not ok:
        wanted = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
        raise error(f"{where} must be {wanted}, got {value!r}")
    return value


def check_choice(value: Any, choices: Iterable[str], where: str, error: type[Exception]) -> str:
    choices = list(choices)
    if value not in choices:
        raise error(f"{where} is {value!r}: use one of {', '.join(choices)}")
    return value
