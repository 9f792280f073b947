"""Precision variants of an exported graph. Every variant is judged by the same quality criteria.

fp16: ONNX Runtime's float16 converter (inputs and outputs stay fp32/int64, so the runtime does not
change). FP8 is not a runtime flag of ONNX Runtime or TensorRT: it needs explicit
QuantizeLinear/DequantizeLinear nodes in the graph (opset >= 19), which NVIDIA ModelOpt inserts after
calibration. Caveats: FP8 kernels need a GPU with FP8 tensor cores (Hopper, Blackwell/Thor); ORT's CPU
provider cannot run FP8 Q/DQ graphs, so an FP8 export can only be signed off on such a device.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from runtime.errors import ExportError, ManifestError

#: Precisions whose speed only TensorRT gives: on a CPU their Q/DQ graph runs as simulated quantization
#: (dequantized to fp32 before each MatMul), so a CPU time of it says nothing about that precision's speed.
SPEED_ONLY_ON_TENSORRT = {
    "fp8": "FP8's speed is TensorRT's alone (FP8 tensor cores on Hopper, Blackwell, Thor): on a CPU the Q/DQ graph "
           "is simulated, so its time is never reported as FP8 speed",
}


def to_fp16(src: str | Path, dst: str | Path) -> Path:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst), save_as_external_data=model.ByteSize() > 2**31 - 2**20)
    onnx.checker.check_model(str(dst))
    return dst


def to_fp8_qdq(src: str | Path, dst: str | Path, calibration: dict[str, np.ndarray]) -> Path:
    """FP8 Q/DQ export through NVIDIA ModelOpt (the `fp8` extra). `calibration` maps graph input names
    to arrays of real tokenized text (a few hundred rows), never random ids."""
    try:
        from modelopt.onnx.quantization import quantize
    except ImportError:
        raise ExportError(
            "FP8 needs NVIDIA ModelOpt: pip install -e '.[fp8]' (nvidia-modelopt[onnx]) on a machine with CUDA; "
            "there is no FP8 flag in ONNX Runtime or TensorRT to use instead"
        ) from None
    quantize(onnx_path=str(src), quantize_mode="fp8", calibration_data=calibration, output_path=str(dst),
             high_precision_dtype="fp16")
    return Path(dst)


# --- int8: static Q/DQ with calibration, and a per-layer sensitivity sweep ---------------------------

@dataclass(frozen=True)
class Int8Recipe:
    """How an int8 variant is made; every field is recorded in the variant's artifact.json.

    Weights int8 per output channel, activations uint8 (asymmetric: the GELU and softmax outputs are
    one-sided), MinMax ranges from real text. Only MatMuls with a constant weight are quantized by
    default (the two attention products have two activations and cost the most accuracy)."""

    target_min_cosine: float = 0.99  # the sweep keeps layers in fp32 until its dev set clears this
    # "static": Q/DQ with ranges calibrated on text; "dynamic": activation ranges computed per batch at
    # run time (ORT's DynamicQuantizeLinear + MatMulInteger), no calibration.
    mode: str = "static"
    per_channel: bool = True
    activation_type: str = "uint8"
    weight_type: str = "int8"
    calibration_method: str = "minmax"
    weights_only_matmuls: bool = True
    calibration_texts: int = 128
    dev_texts: int = 64
    max_fp32_layers: int = 24  # the sweep stops here: past it, int8 buys little speed
    # The layers to keep in fp32, as an earlier sweep chose them (its artifact.json's "fp32_layers"):
    # the build then quantizes once and checks the dev set instead of sweeping (48 quantizations of
    # MiniLM, about two minutes on 2 cores). None: sweep. A list that misses the target is swept again.
    fp32_layers: tuple[str, ...] | None = None

    @classmethod
    def from_options(cls, options: dict) -> Int8Recipe:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ManifestError(f"unknown int8 recipe option {unknown[0]!r}: use {', '.join(sorted(known))}")
        layers = options.get("fp32_layers")
        if layers is not None and (not isinstance(layers, list) or not all(isinstance(n, str) for n in layers)):
            raise ManifestError("int8 recipe: fp32_layers is a list of node names (an earlier build's "
                                "artifact.json lists them under int8.fp32_layers)")
        return cls(**{**options, **({"fp32_layers": tuple(layers)} if layers is not None else {})})


def _quant_types(recipe: Int8Recipe):
    from onnxruntime.quantization import CalibrationMethod, QuantType

    types = {"int8": QuantType.QInt8, "uint8": QuantType.QUInt8}
    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    try:
        return types[recipe.activation_type], types[recipe.weight_type], methods[recipe.calibration_method]
    except KeyError as exc:
        raise ManifestError(f"int8 recipe: unknown type or calibration method {exc.args[0]!r}") from None


def quantizable_nodes(onnx_path: Path, weights_only: bool) -> list[str]:
    """The MatMul/Gemm nodes the quantizer would touch, in graph order."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    constants = {i.name for i in graph.initializer} | {
        n.output[0] for n in graph.node if n.op_type == "Constant"}
    return [n.name for n in graph.node if n.op_type in ("MatMul", "Gemm")
            and (not weights_only or any(name in constants for name in n.input[1:2]))]


def to_int8(src: str | Path, dst: str | Path, *, calibration: list[dict[str, np.ndarray]], evaluate,
            recipe: Int8Recipe = Int8Recipe(), step=lambda text: None) -> dict:
    """int8 of `src` into `dst` (recipe.mode: static Q/DQ or dynamic), keeping the layers that cost the
    most cosine in fp32.

    `calibration` (static only): input feeds of real text, one text each (padding would widen the ranges);
    `evaluate(path) -> cosines` on the dev set against the fp32 graph. The sweep quantizes each
    layer alone and measures what it costs, then keeps the costliest layers in fp32, one at a time,
    until the dev set's minimum cosine clears recipe.target_min_cosine or max_fp32_layers is reached.
    With recipe.fp32_layers (an earlier sweep's choice) it quantizes once and sweeps only if that misses.
    Returns the record: the recipe, the cost of each layer (None without a sweep), and each step."""
    import logging

    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_dynamic, quantize_static

    if recipe.mode not in ("static", "dynamic"):
        raise ManifestError(f"int8 recipe: mode {recipe.mode!r}: use static or dynamic")
    # The quantizer asks on the root logger, at every call, for a pre-processing step that would rewrite
    # the graph the sweep measures; the recipe leaves the graph as exported. Quiet for the sweep only.
    root, root_level = logging.getLogger(), logging.getLogger().level
    src, dst = Path(src), Path(dst)
    activation, weight, method = _quant_types(recipe)
    nodes = quantizable_nodes(src, recipe.weights_only_matmuls)  # before the work dir: a bad graph leaves none
    work = Path(tempfile.mkdtemp(prefix=".int8.", dir=dst.parent))
    cache = work / "calibration.json"

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._feeds = iter(calibration)

        def get_next(self):
            return next(self._feeds, None)

    def quantize(path: Path, *, include=None, exclude=()) -> Path:
        if recipe.mode == "dynamic":
            quantize_dynamic(str(src), str(path), op_types_to_quantize=["MatMul", "Gemm"],
                             per_channel=recipe.per_channel, weight_type=weight,
                             nodes_to_quantize=include or nodes, nodes_to_exclude=list(exclude),
                             extra_options={"MatMulConstBOnly": recipe.weights_only_matmuls})
            return path
        quantize_static(
            str(src), str(path), Reader() if not cache.exists() else None, quant_format=QuantFormat.QDQ,
            op_types_to_quantize=["MatMul", "Gemm"], per_channel=recipe.per_channel,
            activation_type=activation, weight_type=weight, calibrate_method=method,
            nodes_to_quantize=include or nodes, nodes_to_exclude=list(exclude),
            calibration_cache_path=str(cache),
            extra_options={"MatMulConstBOnly": recipe.weights_only_matmuls},
        )
        return path

    def result(kept: list[str], steps: list[dict], cost: dict[str, float] | None, best: Path) -> dict:
        shutil.copy2(best, dst)
        return {
            "recipe": asdict(recipe), "quantized_layers": len(nodes) - len(kept), "fp32_layers": kept,
            "layer_cost": None if cost is None else dict(sorted(cost.items(), key=lambda kv: kv[1], reverse=True)),
            "sweep": steps, "dev_min_cosine": steps[-1]["dev_min_cosine"],
            "target_met": steps[-1]["dev_min_cosine"] >= recipe.target_min_cosine,
        }

    root.setLevel(logging.ERROR)
    try:
        if recipe.fp32_layers is not None:
            unknown = [n for n in recipe.fp32_layers if n not in nodes]
            if unknown:
                raise ManifestError(
                    f"int8 recipe: fp32_layers names {unknown[0]!r}, which is not a quantizable layer of {src.name} "
                    f"(the export's node names changed?): remove fp32_layers to sweep again, then copy the new "
                    f"list from the build's artifact.json")
            kept = list(recipe.fp32_layers)
            step(f"int8 ({recipe.mode}): the recipe's {len(kept)} layer(s) kept in fp32, "
                 f"the other {len(nodes) - len(kept)} quantized")
            best = quantize(work / "recipe.onnx", exclude=kept)
            reached = float(np.min(evaluate(best)))
            recorded = [{"fp32_layers": len(kept), "from": "the recipe's fp32_layers", "dev_min_cosine": reached}]
            if reached >= recipe.target_min_cosine:
                return result(kept, recorded, None, best)
            step(f"int8: the recipe's fp32 layers give dev min cosine {reached:.4f} < {recipe.target_min_cosine}: "
                 "sweeping again (put the new fp32_layers from artifact.json in the manifest)")
        else:
            recorded = []
        step(f"int8 ({recipe.mode}): " + (f"calibrating on {len(calibration)} texts" if recipe.mode == "static"
                                         else "quantizing every layer"))
        full = float(np.min(evaluate(quantize(work / "all.onnx"))))
        cost: dict[str, float] = {}
        for i, node in enumerate(nodes):
            step(f"int8 sensitivity sweep: layer {i + 1}/{len(nodes)} ({node})")
            cost[node] = 1.0 - float(np.min(evaluate(quantize(work / "one.onnx", include=[node]))))
        ranked = sorted(nodes, key=lambda n: cost[n], reverse=True)
        steps = recorded + [{"fp32_layers": 0, "dev_min_cosine": full}]
        kept = []
        best = work / "all.onnx"
        limit = min(recipe.max_fp32_layers, len(nodes))
        while steps[-1]["dev_min_cosine"] < recipe.target_min_cosine and len(kept) < limit:
            kept.append(ranked[len(kept)])
            step(f"int8: {len(kept)} layer(s) kept in fp32, dev min cosine so far {steps[-1]['dev_min_cosine']:.4f}")
            best = quantize(work / f"keep{len(kept)}.onnx", exclude=kept)
            steps.append({"fp32_layers": len(kept), "kept": kept[-1], "dev_min_cosine": float(np.min(evaluate(best)))})
        return result(kept, steps, cost, best)
    finally:
        root.setLevel(root_level)
        shutil.rmtree(work, ignore_errors=True)
