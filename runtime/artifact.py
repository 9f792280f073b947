"""What was really loaded: the artifact record (artifact.json) and the hashes of the files behind it.

This module is the one owner of artifact.json, the record an export or a cache build writes beside
model.onnx: what it was built from, the sha256 of the graph, its external data and its tokenizer, and
whether the directory is a cache entry (only cache entries may ever be replaced by a rebuild).

At load, `verify_artifacts` hashes the files that are about to be served and refuses them when they
differ from the record or from the manifest's `files.onnx_sha256` / `files.tokenizer_sha256`. An 8 GB
graph is not re-hashed on every load: a hash is remembered per (path, inode, size, mtime, ctime) under the cache
root, and the report says which way each file was verified.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from runtime.errors import ModelFileError

RECORD_NAME = "artifact.json"
#: Bumped when a record gains what loading relies on (2: file hashes and the graph's facts); the
#: cache rebuilds its own entries of an older version, and never touches anyone else's.
RECORD_VERSION = 2


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_record(directory: str | Path) -> dict[str, Any] | None:
    """The directory's artifact.json, or None when it has none."""
    path = Path(directory) / RECORD_NAME
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path} is not valid JSON ({exc}): re-export the model or remove the broken "
                             "record") from None
    if not isinstance(record, dict):
        raise ModelFileError(f"{path} must hold a JSON object: re-export the model")
    return record


def recorded_graph(directory: str | Path) -> dict[str, Any]:
    """What the export recorded of the graph (inputs, outputs, embedding rows), or {} without a record:
    the serving runtime learns these without parsing ONNX itself."""
    return (read_record(directory) or {}).get("graph") or {}


def write_record(directory: str | Path, record: dict[str, Any]) -> None:
    path = Path(directory) / RECORD_NAME
    tmp = path.with_name(f".{RECORD_NAME}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


def is_cache_entry(record: dict[str, Any] | None) -> bool:
    """Whether the directory was made by the artifact cache (and so may be rebuilt in place).

    Records written before `cache_entry` existed: the cache always wrote a `recipe`, exports from the
    command line never did.
    """
    if record is None:
        return False
    if "cache_entry" in record:
        return record["cache_entry"] is True
    return "recipe" in record


def external_data_files(onnx_path: Path) -> list[Path]:
    """External-data files of a graph over 2 GB, by the names exporters give them."""
    names = {f"{onnx_path.name}_data", f"{onnx_path.name}.data", f"{onnx_path.stem}.onnx_data"}
    return sorted(p for p in onnx_path.parent.iterdir() if p.name in names) if onnx_path.parent.is_dir() else []


def file_hashes(onnx_path: Path, tokenizer_path: Path) -> dict[str, Any]:
    """The hashes a record carries for a graph and its tokenizer (written at export)."""
    return {
        "onnx_sha256": sha256_file(onnx_path),
        "external_data": {p.name: sha256_file(p) for p in external_data_files(onnx_path)},
        "tokenizer_sha256": sha256_file(tokenizer_path) if tokenizer_path.is_file() else None,
    }


# ---------------------------------------------------------------- hashing once per (path, size, mtime)

def _memo_path(path: Path, memo_dir: Path) -> Path:
    return memo_dir / (hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:24] + ".json")


def verified_sha256(path: Path, memo_dir: Path | None) -> tuple[str, str]:
    """(sha256, how it was obtained). The hash is remembered for the file's inode, size, mtime and ctime: a
    changed file (even a few bytes flipped in place) is hashed again, also when its mtime was put back
    (`touch -r`, `cp -p`), since no user call can set a file's ctime."""
    stat = path.stat()
    key = {"path": str(path.resolve()), "inode": stat.st_ino, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
           "ctime_ns": stat.st_ctime_ns}
    memo = _memo_path(path, memo_dir) if memo_dir else None
    if memo is not None and memo.is_file():
        try:
            saved = json.loads(memo.read_text(encoding="utf-8"))
            if {k: saved.get(k) for k in key} == key:
                return saved["sha256"], ("hash remembered for this file's inode, size, mtime and ctime "
                                         f"(hashed {saved['hashed_at']})")
        except (json.JSONDecodeError, KeyError, OSError):
            pass  # a broken memo only costs a re-hash
    start = time.perf_counter()
    digest = sha256_file(path)
    how = f"hashed at load ({time.perf_counter() - start:.2f} s)"
    if memo is not None:
        try:
            memo.parent.mkdir(parents=True, exist_ok=True)
            tmp = memo.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(key | {"sha256": digest, "hashed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                          time.gmtime())}))
            os.replace(tmp, memo)
        except OSError:
            pass  # a read-only cache still verifies, it just hashes every time
    return digest, how


@dataclass(frozen=True)
class ArtifactIdentity:
    """What a session was really built from, and how that was established."""

    onnx_path: str
    onnx_sha256: str
    tokenizer_path: str
    tokenizer_sha256: str
    external_data: dict[str, str] = field(default_factory=dict)
    checked_against: list[str] = field(default_factory=list)  # which recorded hashes agreed
    verification: dict[str, str] = field(default_factory=dict)  # file -> how its hash was obtained
    unchecked: list[str] = field(default_factory=list)  # what had no recorded hash to compare with

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _compare(what: Path, got: str, expected: dict[str, str | None], fix: str) -> list[str]:
    agreed = []
    for source, want in expected.items():
        if not want:
            continue
        if want.lower() != got:
            raise ModelFileError(
                f"{what} has sha256 {got} but {source} says {want}: the file is not the one that was "
                f"exported and gated (a partial copy, a corrupted file, or another model). {fix}"
            )
        agreed.append(source)
    return agreed


def verify_artifacts(
    onnx_path: Path, tokenizer_path: Path, *, manifest_onnx_sha256: str | None = None,
    manifest_tokenizer_sha256: str | None = None, memo_dir: Path | None = None,
) -> ArtifactIdentity:
    """Hash the files about to be served and check them against every recorded hash."""
    record = read_record(onnx_path.parent) or {}
    fix = "Re-export it (python -m modelprep.export), or delete the cache entry so it is rebuilt."
    how: dict[str, str] = {}
    onnx_sha, how[onnx_path.name] = verified_sha256(onnx_path, memo_dir)
    agreed = _compare(onnx_path, onnx_sha, {
        f"{onnx_path.parent / RECORD_NAME}": record.get("onnx_sha256"),
        "the manifest's files.onnx_sha256": manifest_onnx_sha256,
    }, fix)
    unchecked = [] if agreed else [f"{onnx_path.name}: no recorded hash (no artifact.json, no files.onnx_sha256)"]
    external: dict[str, str] = {}
    recorded_external = record.get("external_data") or {}
    for path in external_data_files(onnx_path):
        external[path.name], how[path.name] = verified_sha256(path, memo_dir)
        recorded = {f"{RECORD_NAME} external_data": recorded_external.get(path.name)}
        agreed += _compare(path, external[path.name], recorded,
                           fix)
    missing = sorted(set(recorded_external) - set(external))
    if missing:
        raise ModelFileError(f"{onnx_path}: external data {missing} recorded at export is missing; "
                             "copy it beside the graph")
    tok_sha, how[tokenizer_path.name] = verified_sha256(tokenizer_path, memo_dir)
    tok_agreed = _compare(tokenizer_path, tok_sha, {
        f"{onnx_path.parent / RECORD_NAME} tokenizer_sha256": record.get("tokenizer_sha256"),
        "the manifest's files.tokenizer_sha256": manifest_tokenizer_sha256,
    }, "The tokenizer must be the one the model was exported with: copy the model's own tokenizer.json.")
    if not tok_agreed:
        unchecked.append(f"{tokenizer_path.name}: no recorded hash (exported before tokenizer hashes were recorded)")
    return ArtifactIdentity(
        onnx_path=str(onnx_path), onnx_sha256=onnx_sha, tokenizer_path=str(tokenizer_path),
        tokenizer_sha256=tok_sha, external_data=external, checked_against=agreed + tok_agreed,
        verification=how, unchecked=unchecked,
    )
