"""Precision variants of an exported graph. Every variant is judged by the same quality criteria.

fp16: ONNX Runtime's float16 converter (inputs and outputs stay fp32/int64, so the runtime does not
change). FP8 is not a runtime flag of ONNX Runtime or TensorRT: it needs explicit
QuantizeLinear/DequantizeLinear nodes in the graph (opset >= 19), which NVIDIA ModelOpt inserts after
calibration. Caveats: FP8 kernels need a GPU with FP8 tensor cores (Hopper, Blackwell/Thor); ORT's CPU
provider cannot run FP8 Q/DQ graphs, so an FP8 export can only be signed off on such a device.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from runtime.errors import ExportError


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
