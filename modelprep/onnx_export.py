"""HF checkpoint -> ONNX with optimum-onnx, then onnx.checker, then a parity gate.

optimum's own validation only warns when outputs miss its tolerance, so the gate here embeds
real sentences with the exported graph and with the PyTorch baseline and fails the export when
the minimum cosine is below the manifest's `export_min_cosine`. The command line is modelprep.export.
"""

from __future__ import annotations

import shutil
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from modelprep.progress import StepLog
from modelprep.reference import Reference
from modelprep.staging import build_into
from runtime.artifact import RECORD_VERSION, file_hashes, write_record
from runtime.embedder import Embedder
from runtime.errors import ExportError
from runtime.manifest import ModelManifest
from runtime.paths import corpora_dir, read_lines

PROBE_TEXTS = corpora_dir() / "probe.txt"

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
    import onnx  # heavy imports on first export only: loading a built model must not pay for optimum
    import torch
    from optimum.exporters.onnx import main_export

    out_dir = Path(out_dir)
    # library_name="transformers": a sentence-transformers checkpoint would otherwise be exported
    # with its pooling baked in, hiding the pooling this suite must check.
    with warnings.catch_warnings():
        # The tracer's warnings about Python values in transformers' masking code say nothing a user can
        # act on: the parity gate below is what judges the graph, at every padding and length it serves.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=r".*aten::index.*", category=UserWarning)
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


def graph_facts(onnx_path: Path) -> dict:
    """What the serving runtime checks at load without parsing ONNX itself (it imports only
    onnxruntime): the graph's inputs and outputs, and the rows of its token-embedding table."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    inits = {i.name: i for i in graph.initializer}
    rows = None
    for node in graph.node:
        if node.op_type == "Gather" and len(node.input) == 2 and node.input[1] == "input_ids":
            table = inits.get(node.input[0])
            if table is not None and table.dims:
                rows = int(table.dims[0])
                break
    return {"inputs": [i.name for i in graph.input if i.name not in inits],
            "outputs": [o.name for o in graph.output], "embedding_rows": rows}


def parity_check(manifest: ModelManifest, checkpoint: str | Path, texts: list[str]) -> ParityResult:
    """Min/mean cosine between the ONNX runtime and the PyTorch baseline, documents and queries."""
    embedder = Embedder.load(manifest)
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
        "model": manifest.id, "record_version": RECORD_VERSION, **record,
        **file_hashes(out_dir / manifest.onnx_file, out_dir / manifest.tokenizer_file),
        "graph": graph_facts(out_dir / manifest.onnx_file),
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
    probe: str | Path = PROBE_TEXTS, record: dict | None = None, log: StepLog | None = None,
) -> ParityResult:
    """Export into out_dir, then gate_and_record(); `record` adds fields to artifact.json. Each step is said
    on `log` (default: its own line on stderr, never silent in a log)."""
    with nullcontext(log) if log is not None else StepLog(f"export {manifest.id}") as steps:
        steps.step(f"exporting {manifest.id} to ONNX (opset {opset}; onnx.checker after it)")
        onnx_export(checkpoint, out_dir, opset=opset)
        steps.step(f"parity gate for {manifest.id} vs PyTorch fp32")
        return gate_and_record(manifest, checkpoint, Path(out_dir),
                               {"checkpoint": str(checkpoint), "opset": opset, **(record or {})}, probe=probe)


def export_to_directory(manifest: ModelManifest, checkpoint: str, out: Path, *, opset: int, replace_existing: bool):
    """The command line's export: built in a temporary directory beside `out`, moved into place only
    when it passed the gate. An existing non-empty `out` is never overwritten unless asked."""
    if out.exists() and any(out.iterdir()) and not replace_existing:
        raise ExportError(f"{out} already holds files: pass a new --out, or --replace to replace that export")
    # The recipe the cache would record: a later load through the manifest sees a current export,
    # and cache_entry = false: the cache never rebuilds or deletes it.
    record = {"recipe": manifest.recipe(), "cache_entry": False}
    results: list[ParityResult] = []
    build_into(out, lambda tmp: results.append(export_and_gate(manifest, checkpoint, tmp, opset=opset, record=record)),
               replace=out.exists())
    return results[0]
