"""Build a directory beside its target and move it into place only when the build succeeded: a failed or
interrupted build never leaves a half-written model where a reader looks, and the directory it replaces
is kept until the new one is in place."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def build_into(target: Path, build: Callable[[Path], object], *, replace: bool) -> None:
    """Run build(tmp) in a fresh directory beside `target`, then move it to `target`. An existing target is
    replaced only when `replace` says so (the caller decides whose directory it is); otherwise it must not
    exist. The temporary directory is removed whatever happens; the replaced one once the new one is in place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not replace:
        raise FileExistsError(f"{target} exists and is not to be replaced")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.building.", dir=target.parent))
    try:
        build(tmp)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.replaced.", dir=target.parent))
            target.rename(old / target.name)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)  # the replaced directory, which the caller said it may replace
        else:
            tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # only the temporary build directory
