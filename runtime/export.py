"""HF checkpoint -> ONNX with optimum-onnx, then onnx.checker, then a parity gate.

optimum's own validation only warns when outputs miss its tolerance, so the gate here embeds
real sentences with the exported graph and with the PyTorch baseline and fails the export when
the minimum cosine is below the manifest's `export_min_cosine`.

    python -m runtime.export --model qwen3-embedding-4b --checkpoint /models/Qwen3-Embedding-4B
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from runtime.artifact import file_hashes, sha256_file, write_record  # noqa: F401  (sha256_file: re-exported)
from runtime.errors import EmbeddingError, ExportError
from runtime.manifest import ModelManifest, load_manifest

PROBE_TEXTS = Path(__file__).resolve().parent.parent / "fixtures" / "corpora" / "probe.txt"


def read_lines(path: str | Path) -> list[str]:
    return [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass(frozen=True)
class ParityResult:
    min_cosine: float
    mean_cosine: float
    texts: int
    threshold: float

    @property
    def passed(self) -> bool:
        return self.min_cosine >= self.threshold


def onnx_export(checkpoint: str | Path, out_dir: str | Path, *, opset: int = 18) -> Path:
    """Export a feature-extraction graph (outputs last_hidden_state; pooling is the runtime's job)."""
    import onnx
    from optimum.exporters.onnx import main_export

    out_dir = Path(out_dir)
    # library_name="transformers": a sentence-transformers checkpoint would otherwise be exported
    # with its pooling baked in, hiding the pooling this suite must check.
    main_export(
        str(checkpoint), out_dir, task="feature-extraction", opset=opset, library_name="transformers",
        do_validation=False, local_files_only=True,
    )
    model = out_dir / "model.onnx"
    src = Path(checkpoint) / "tokenizer.json"
    if not (out_dir / "tokenizer.json").is_file() and src.is_file():
        shutil.copy2(src, out_dir / "tokenizer.json")  # the gate then checks the tokenizer that ships
    onnx.checker.check_model(str(model))  # by path: works for graphs with external data (> 2 GB)
    return model


def parity_check(manifest: ModelManifest, checkpoint: str | Path, texts: list[str]) -> ParityResult:
    """Min/mean cosine between the ONNX runtime and the PyTorch baseline, documents and queries."""
    from runtime.embedder import Embedder
    from runtime.reference import Reference

    embedder = Embedder(manifest)
    reference = Reference(manifest, checkpoint)
    cosines = []
    for kind in ("document", "query"):
        ours, theirs = embedder.encode(texts, batch_size=8, kind=kind), reference.encode(texts, kind=kind)
        cosines.append(np.sum(ours * theirs, axis=1))
    cos = np.concatenate(cosines)
    return ParityResult(float(cos.min()), float(cos.mean()), len(texts), manifest.export_min_cosine)


def gate_and_record(
    manifest: ModelManifest, checkpoint: str | Path, out_dir: Path, record: dict, *, probe: str | Path = PROBE_TEXTS,
) -> ParityResult:
    """The parity gate for the graph in out_dir: writes artifact.json (record, the sha256 of the graph,
    its external data and its tokenizer, parity), then raises ExportError if the minimum cosine
    against PyTorch fp32 misses the manifest's tolerance."""
    result = parity_check(replace(manifest, artifact_dir=out_dir), checkpoint, read_lines(probe))
    write_record(out_dir, {
        "model": manifest.id, **record, **file_hashes(out_dir / manifest.onnx_file, out_dir / manifest.tokenizer_file),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "parity": result.__dict__,
    })
    if not result.passed:
        raise ExportError(
            f"{manifest.id}: ONNX vs PyTorch minimum cosine {result.min_cosine:.6f} is below the gate "
            f"{result.threshold} on {result.texts} probe texts; the export is not faithful (check opset, "
            "precision, and that the graph takes attention_mask and position_ids)"
        )
    return result


def export_and_gate(
    manifest: ModelManifest, checkpoint: str | Path, out_dir: str | Path, *, opset: int = 18,
    probe: str | Path = PROBE_TEXTS, record: dict | None = None,
) -> ParityResult:
    """Export into out_dir, then gate_and_record(); `record` adds fields to artifact.json."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    out_dir = Path(out_dir)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  transient=True, disable=not sys.stderr.isatty()) as progress:
        step = progress.add_task(f"exporting {manifest.id} to ONNX (opset {opset})", total=None)
        onnx_export(checkpoint, out_dir, opset=opset)
        progress.update(step, description=f"parity gate for {manifest.id} vs PyTorch fp32")
        return gate_and_record(manifest, checkpoint, out_dir,
                               {"checkpoint": str(checkpoint), "opset": opset, **(record or {})}, probe=probe)


def export_to_directory(manifest: ModelManifest, checkpoint: str, out: Path, *, opset: int, replace_existing: bool):
    """The command line's export: built in a temporary directory beside `out`, moved into place only
    when it passed the gate. An existing non-empty `out` is never overwritten unless asked."""
    if out.exists() and any(out.iterdir()) and not replace_existing:
        raise ExportError(f"{out} already holds files: pass a new --out, or --replace to replace that export")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.export.", dir=out.parent))
    try:
        # The recipe the cache would record: a later load through the manifest sees a current export,
        # and cache_entry = false: the cache never rebuilds or deletes it.
        record = {"recipe": manifest.recipe(), "cache_entry": False}
        result = export_and_gate(manifest, checkpoint, tmp, opset=opset, record=record)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.replaced.", dir=out.parent))
            out.rename(old / out.name)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)  # the user asked for --replace
        else:
            tmp.rename(out)
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="manifest name or path")
    parser.add_argument("--checkpoint", help="HF checkpoint dir or hub id (default: the manifest's [source])")
    parser.add_argument("--out", help="output dir (default: the manifest's artifact dir)")
    parser.add_argument("--opset", type=int, default=18)
    parser.add_argument("--replace", action="store_true", help="replace an earlier export in --out")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an unexpected error")
    args = parser.parse_args(argv)
    try:
        manifest = load_manifest(args.model)
        if args.checkpoint is None:
            from runtime.assets import ensure_artifacts

            ensure_artifacts(manifest, rebuild=True)
            print(f"exported {manifest.id} to {manifest.artifact_dir}")
            return 0
        out = Path(args.out) if args.out else manifest.artifact_dir
        result = export_to_directory(manifest, args.checkpoint, out, opset=args.opset, replace_existing=args.replace)
    except EmbeddingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # optimum, torch, I/O: one line for the user, the traceback on request
        if args.debug:
            raise
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        print(f"error: the export failed: {type(exc).__name__}: {first} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1
    print(f"exported {manifest.id} to {out}: min cosine {result.min_cosine:.6f} (gate {result.threshold})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
