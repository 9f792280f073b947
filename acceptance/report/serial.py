"""JSON for the report dataclasses: one way out (`to_jsonable`) and one way in (`from_jsonable`), driven by
the dataclasses' own type hints, so a field is declared once and read back as the type it was written.

Reading is strict: a key the class does not have, or a value of the wrong kind, is a ReportFormatError
that names the file and the field (a file of another schema version is told apart before this, by the
caller's version check)."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


class ReportFormatError(Exception):
    """A report file that is missing, unreadable, of another schema version, or not what it says it is."""


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):  # numpy's scalars (np.float32 is no float): their Python value
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):  # JSON has no NaN or inf: null says "no number"
        return None
    return value


def from_jsonable(cls: type[T], data: Any, where: str) -> T:
    """`data` (parsed JSON) as an instance of the dataclass `cls`, checked field by field."""
    return _convert(cls, data, where)


def _convert(hint: Any, data: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if hint is Any:
        return data
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if data is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _convert(option, data, where)
            except ReportFormatError as exc:
                errors.append(str(exc))
        raise ReportFormatError(errors[0] if errors else f"{where}: unexpected null")
    if dataclasses.is_dataclass(hint):
        return _dataclass(hint, data, where)
    if isinstance(hint, type) and issubclass(hint, Enum):
        try:
            return hint(data)
        except ValueError:
            known = ", ".join(str(m.value) for m in hint)
            raise ReportFormatError(f"{where}: {data!r} is not one of {known}") from None
    if origin in (list, tuple):
        _expect(data, list, where)
        (item,) = typing.get_args(hint)[:1] or (Any,)
        return [_convert(item, v, f"{where}[{i}]") for i, v in enumerate(data)]
    if origin is dict:
        _expect(data, dict, where)
        value_hint = typing.get_args(hint)[1] if typing.get_args(hint) else Any
        return {k: _convert(value_hint, v, f"{where}.{k}") for k, v in data.items()}
    if hint is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise ReportFormatError(f"{where}: expected a number, got {type(data).__name__}")
        return float(data)
    if hint in (int, str, bool):
        _expect(data, hint, where)
        return data
    return data


def _expect(data: Any, kind: type, where: str) -> None:
    if not isinstance(data, kind) or (kind is int and isinstance(data, bool)):
        raise ReportFormatError(f"{where}: expected {kind.__name__}, got {type(data).__name__}")


def _dataclass(cls: type, data: Any, where: str) -> Any:
    _expect(data, dict, where)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ReportFormatError(f"{where}: unknown field {unknown[0]!r} for {cls.__name__}")
    required = [name for name, f in fields.items() if name not in data
                and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if required:
        raise ReportFormatError(f"{where}: {cls.__name__} lacks {required[0]!r}")
    return cls(**{name: _convert(hints[name], value, f"{where}.{name}") for name, value in data.items()})


def read_json(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from `path`; a missing or broken file is a ReportFormatError saying which."""
    if not path.is_file():
        raise ReportFormatError(f"{path}: no {what} there")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportFormatError(f"{path}: not a readable {what} ({exc})") from None
    if not isinstance(data, dict):
        raise ReportFormatError(f"{path}: not a {what} (it holds no JSON object)")
    return data


def write_json(path: Path, data: dict[str, Any]) -> Path:
    """Written whole or not at all: to a temporary file beside it, then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str, allow_nan=False), encoding="utf-8")
    os.replace(tmp, path)
    return path


def check_version(data: dict[str, Any], path: Path, what: str, current: int) -> int:
    """The file's schema version; a newer one than this code reads is refused with what to do."""
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or version < 1:
        raise ReportFormatError(f"{path}: schema_version {version!r} is not a version number")
    if version > current:
        raise ReportFormatError(
            f"{path}: a {what} of schema version {version}, written by a newer embed-signoff; this one reads "
            f"versions up to {current}: update the suite (git pull) to read it")
    return version
