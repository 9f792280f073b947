"""Precision variants of an exported graph, each made by the field's own tool from the manifest's recipe
([source.recipe]), and each judged afterwards by the same quality criteria.

- fp16: ONNX Runtime's float16 converter (inputs and outputs stay fp32/int64, so the runtime does not change).
- int8 and fp8 (E4M3): explicit QuantizeLinear/DequantizeLinear nodes, the way TensorRT takes them (explicit
  quantization, strongly typed networks), inserted by NVIDIA ModelOpt's ONNX post-training quantization
  after calibration on text. FP8 is not a runtime flag of ONNX Runtime or TensorRT. ModelOpt runs in its
  own venv (modelprep/modelopt_worker.py). ONNX Runtime's CPU provider runs these graphs with the
  quantization simulated where it has no integer kernel (FP8: everywhere), so their quality is judged on
  any CPU, and FP8's speed only where TensorRT runs it.
- int8 "ort-dynamic": ONNX Runtime's dynamic quantization (activation scales computed per batch at run
  time). Kept as a recipe, but batch-variant by construction: the graph audit flags it.

The layers kept in higher precision (`fp32_layers`) are found by bisection against the embedding criteria
on a dev set (modelprep/layer_bisect.py) and recorded, so a rebuild quantizes once and checks the dev set.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from modelprep.graph_files import copy_graph, marked_graph, save_graph
from runtime.errors import ExportError, ManifestError, first_line

#: Precisions whose speed only TensorRT gives: on a CPU their Q/DQ graph runs as simulated quantization
#: (dequantized to fp32 before each MatMul), so a CPU time of it says nothing about that precision's speed.
SPEED_ONLY_ON_TENSORRT = {
    "fp8": "FP8's speed is TensorRT's alone (FP8 tensor cores on Hopper, Blackwell, Thor): on a CPU the Q/DQ graph "
           "is simulated, so its time is never reported as FP8 speed",
}
TOOLS = {"fp16": ("ort-float16",), "int8": ("modelopt", "ort-dynamic"), "fp8": ("modelopt",)}
#: An fp16 recipe may keep any node in fp32 (an empty op_types list): a value can leave fp16's range at a
#: product, a sum, a norm's square or a cast, not only at the MatMuls a quantization touches.
FP16_OP_TYPES: tuple[str, ...] = ()
#: The ModelOpt venv's Python: EMBED_SIGNOFF_QUANT_PYTHON, else the checkout's .venv-quant (make quant-venv).
QUANT_PYTHON_ENV = "EMBED_SIGNOFF_QUANT_PYTHON"
WORKER = Path(__file__).resolve().parent / "modelopt_worker.py"


@dataclass(frozen=True)
class Recipe:
    """How a precision variant is made, from the manifest's [source.recipe]; recorded in its artifact.json."""

    tool: str
    calibration_method: str = "max"  # ModelOpt: max or entropy
    calibration_texts: int = 128  # synthetic texts of the fixture vocabulary, seed 1 (never a criterion's corpus)
    high_precision_dtype: str = "fp32"  # what ModelOpt leaves unquantized runs in (fp16 as on a Thor)
    op_types: tuple[str, ...] = ("MatMul", "Gemm")
    fp32_layers: tuple[str, ...] | None = None  # an earlier bisection's choice; None: bisect
    target_min_cosine: float = 0.99  # on the dev set, against the fp32 graph
    target_recall_at_10: float = 0.95  # top-10 agreement with the fp32 graph on the dev set
    dev_texts: int = 64  # synthetic texts, seed 2

    @classmethod
    def from_options(cls, precision: str, options: dict) -> Recipe:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ManifestError(f"unknown {precision} recipe option {unknown[0]!r}: use {', '.join(sorted(known))}")
        tool = options.get("tool", TOOLS.get(precision, ("?",))[0])
        if tool not in TOOLS.get(precision, ()):
            raise ManifestError(f"{precision} recipe: tool {tool!r}: use {', '.join(TOOLS.get(precision, ()))}")
        layers = options.get("fp32_layers")
        if layers is not None and (not isinstance(layers, list) or not all(isinstance(n, str) for n in layers)):
            raise ManifestError(f"{precision} recipe: fp32_layers is a list of node names (an earlier build's "
                                "artifact.json lists them under recipe_result.fp32_layers)")
        tuples = {k: tuple(options[k]) for k in ("fp32_layers", "op_types") if options.get(k) is not None}
        defaults = {"op_types": FP16_OP_TYPES} if precision == "fp16" else {}
        return cls(**{**defaults, **options, "tool": tool, **tuples})


def compute_nodes(onnx_path: Path, op_types: tuple[str, ...] = ("MatMul", "Gemm"),
                  weights_only: bool = True) -> list[str]:
    """The nodes a recipe may quantize (or keep in fp32), in graph order: of `op_types` (empty: every named
    node, Constants too, whose values the fp16 converter would otherwise narrow), with a constant weight if
    `weights_only`."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    constants = {i.name for i in graph.initializer} | {n.output[0] for n in graph.node if n.op_type == "Constant"}
    return [n.name for n in graph.node if (n.op_type in op_types if op_types else n.name)
            and (not weights_only or any(name in constants for name in n.input[1:2]))]


def to_fp16(src: str | Path, dst: str | Path, keep_fp32: tuple[str, ...] = ()) -> Path:
    """ONNX Runtime's float16 converter; `keep_fp32` nodes stay fp32 (casts around them)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True, node_block_list=list(keep_fp32))
    if keep_fp32:  # the converter appends the casts it puts around kept nodes: ORT's own sort puts them in place
        from onnxruntime.transformers.onnx_model import OnnxModel

        OnnxModel(model).topological_sort()
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_graph(model, dst)
    onnx.checker.check_model(str(dst))
    return dst


#: |values| this large in an fp32 graph are sentinels (an attention mask's "minus infinity"), not activations.
SENTINEL = 1e30


def fp16_overflows(graph: Path, reference: Path, nodes: list[str], feeds: list[dict[str, np.ndarray]]) -> list[str]:
    """The nodes among `nodes` whose fp16 output is not finite on `feeds` where the fp32 `reference` graph's is
    an ordinary finite value. Their outputs are marked as graph outputs (Polygraphy), so ONNX Runtime must
    store them in their declared type: its CPU provider computes most fp16 ops in fp32 in between, which hides
    an overflow an fp16 engine (TensorRT) would hit."""
    import onnx

    model = onnx.load(str(graph))
    wanted = set(nodes)
    produced = {node.output[0]: node.name for node in model.graph.node
                if node.name in wanted and node.output and node.op_type not in ("Constant", "Identity")}  # activations
    types = {v.name: v.type.tensor_type.elem_type for v in onnx.shape_inference.infer_shapes(model).graph.value_info}
    halves = [t for t in produced if types.get(t) == onnx.TensorProto.FLOAT16]
    if not halves:
        return []
    ours, theirs = (_marked_outputs(path, halves, feeds) for path in (graph, reference))
    bad = {produced[t] for t in set(ours) & set(theirs) for a, b in zip(ours[t], theirs[t], strict=True)
           if not np.isfinite(a).all() and np.isfinite(b).all() and np.abs(b).max(initial=0.0) < SENTINEL}
    return [n for n in nodes if n in bad]


def _marked_outputs(graph: Path, tensors: list[str], feeds: list[dict[str, np.ndarray]]) -> dict[str, list]:
    """`tensors` of the graph, marked as outputs with Polygraphy, for each feed (CPU provider)."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="marked-") as tmp:
        path = Path(tmp) / "marked.onnx"
        tensors = marked_graph(graph, tensors, path)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        runs = [session.run(tensors, feed) for feed in feeds]
    return {t: [run[i] for run in runs] for i, t in enumerate(tensors)}


def quant_python() -> Path:
    """The Python of the venv ModelOpt lives in; an ExportError that says how to make it when there is none."""
    configured = os.environ.get(QUANT_PYTHON_ENV)
    checkout = Path(__file__).resolve().parent.parent
    python = Path(configured) if configured else checkout / ".venv-quant" / "bin" / "python"
    if not python.is_file():
        raise ExportError(
            f"int8 and fp8 variants are built by NVIDIA ModelOpt, which lives in its own venv, and there is none at "
            f"{python}: run `make quant-venv` (or set {QUANT_PYTHON_ENV} to a Python with nvidia-modelopt)")
    return python


def save_calibration(feeds: list[dict[str, np.ndarray]], path: Path) -> str:
    """The calibration feeds (one text each, unpadded) as ModelOpt's worker reads them; their sha256."""
    arrays = {f"{name}/{i}": array for i, feed in enumerate(feeds) for name, array in feed.items()}
    np.savez(path, **arrays)
    digest = hashlib.sha256()
    for key in sorted(arrays):
        digest.update(key.encode() + np.ascontiguousarray(arrays[key]).tobytes())
    return digest.hexdigest()


def modelopt_quantize(src: Path, dst: Path, precision: str, recipe: Recipe, calibration: Path,
                      keep_fp32: tuple[str, ...]) -> dict:
    """One ModelOpt quantization of `src` into `dst`, `keep_fp32` left unquantized; ModelOpt's own record."""
    options = {"quantize_mode": precision, "calibration_method": recipe.calibration_method,
               "high_precision_dtype": recipe.high_precision_dtype, "op_types_to_quantize": list(recipe.op_types),
               "nodes_to_exclude": list(keep_fp32) or None}
    with tempfile.TemporaryDirectory(prefix="modelopt-call-") as tmp:
        (Path(tmp) / "options.json").write_text(json.dumps(options))
        record = Path(tmp) / "record.json"
        # -P: the worker's folder (modelprep/) is not put on sys.path, where it would shadow nothing but
        # could shadow everything.
        done = subprocess.run([str(quant_python()), "-P", str(WORKER), "--src", str(src), "--out", str(dst),
                               "--calibration", str(calibration), "--options", str(Path(tmp) / "options.json"),
                               "--record", str(record)], capture_output=True, text=True)
        if done.returncode != 0 or not record.is_file():
            lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()] or ["no output"]
            raise ExportError(f"ModelOpt's {precision} quantization of {src.name} failed (exit {done.returncode}): "
                              f"{first_line(lines[-1], 400)}")
        return json.loads(record.read_text())


def ort_dynamic_quantize(src: Path, dst: Path, recipe: Recipe, keep_fp32: tuple[str, ...]) -> dict:
    """ONNX Runtime's dynamic int8 quantization (per-channel weights; activation scales per batch)."""
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), op_types_to_quantize=list(recipe.op_types), per_channel=True,
                     weight_type=QuantType.QInt8, nodes_to_exclude=list(keep_fp32),
                     extra_options={"MatMulConstBOnly": True})
    return {"tool": "onnxruntime.quantization.quantize_dynamic", "version": onnxruntime.__version__}


@dataclass(frozen=True)
class VariantBuild:
    """How to make one variant with some layers kept in fp32, and how to judge it on the dev set."""

    make: Callable[[Path, tuple[str, ...]], dict]  # (destination, fp32 layers) -> the tool's record
    judge: Callable[[Path], tuple[float, float]]  # graph -> (dev min cosine, dev recall@10)


def build_with_recipe(src: Path, dst: Path, precision: str, recipe: Recipe, build: VariantBuild,
                      step: Callable[[str], None] = lambda text: None) -> dict:
    """The variant of `src` into `dst`: with the recipe's fp32_layers once (and a check of the dev set), or, when
    there are none or they miss the targets, with the layers a bisection finds. Returns the record."""
    from modelprep.layer_bisect import Judgement, bisect_fp32_layers

    # Every node of the recipe's op types the tool may change: ModelOpt also quantizes the attention products
    # (MatMuls of two activations), ONNX Runtime's dynamic recipe only MatMuls with a constant weight.
    candidates = compute_nodes(src, recipe.op_types, weights_only=recipe.tool == "ort-dynamic")
    unknown = [n for n in recipe.fp32_layers or () if n not in candidates]
    if unknown:
        raise ManifestError(
            f"{precision} recipe: fp32_layers names {unknown[0]!r}, which is not a layer of {src.name} (the export's "
            "node names changed?): remove fp32_layers to bisect again, then copy the new list from the build's record "
            "(artifact.json)")
    work = Path(tempfile.mkdtemp(prefix=f".{precision}.", dir=dst.parent))
    records: dict[tuple[str, ...], dict] = {}

    def judged(kept: tuple[str, ...]) -> Judgement:
        path = work / f"keep{len(records)}.onnx"
        records[kept] = build.make(path, kept) | {"graph": str(path)}
        cosine, recall = build.judge(path)
        passed = cosine >= recipe.target_min_cosine and recall >= recipe.target_recall_at_10
        return Judgement(kept, cosine, recall, passed)

    try:
        history: list[dict] = []
        if recipe.fp32_layers is not None:
            step(f"{precision} ({recipe.tool}): the recipe's {len(recipe.fp32_layers)} fp32 layer(s), the other "
                 f"{len(candidates) - len(recipe.fp32_layers)} {precision}")
            first = judged(recipe.fp32_layers)
            history.append({"from": "the recipe's fp32_layers", **asdict(first)})
            if first.passed:
                return _result(recipe, first, history, records, candidates, dst)
            step(f"{precision}: the recipe's fp32 layers give dev min cosine {first.min_cosine:.4f}, recall@10 "
                 f"{first.recall_at_10:.3f}: bisecting again (put the new fp32_layers from artifact.json in the "
                 "manifest)")
        found = bisect_fp32_layers(candidates, judged, step)
        history += [asdict(s) for s in found.steps]
        final = next(s for s in reversed(found.steps) if set(s.kept) == set(found.kept)) if found.steps else judged(())
        return _result(recipe, final, history, records, candidates, dst) | {"bisection": found.as_record()}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _result(recipe: Recipe, chosen, history: list[dict], records: dict, candidates: list[str], dst: Path) -> dict:
    tool_record = records[chosen.kept]
    copy_graph(Path(tool_record.pop("graph")), dst)
    return {
        "recipe": asdict(recipe), "tool": tool_record, "fp32_layers": list(chosen.kept),
        "quantized_layers": len(candidates) - len(chosen.kept), "dev_min_cosine": chosen.min_cosine,
        "dev_recall_at_10": chosen.recall_at_10, "target_met": chosen.passed,
        "history": [{k: v for k, v in h.items() if k != "kept"} | {"fp32_layers": len(h["kept"])} for h in history],
    }
