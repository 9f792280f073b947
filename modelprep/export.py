"""The export command: HF checkpoint -> ONNX, gated on cosine against PyTorch (optimum only warns).

    python -m modelprep.export --model qwen3-embedding-4b --checkpoint /models/Qwen3-Embedding-4B --out DIR
    python -m modelprep.export --model all-minilm-l6-v2      # (re)build an embedded model's cache entry
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from modelprep.assets import ensure_artifacts
from modelprep.onnx_export import export_to_directory
from runtime.errors import EmbeddingError, first_line
from runtime.manifest import load_manifest


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
        print(f"error: the export failed: {first_line(exc)} (rerun with --debug for the traceback)", file=sys.stderr)
        return 1
    print(f"exported {manifest.id} to {out}: min cosine {result.min_cosine:.6f} (gate {result.threshold})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
