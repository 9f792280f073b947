"""NVIDIA ModelOpt's ONNX post-training quantization, run in its own venv (.venv-quant: ModelOpt pins an onnx
and an onnxruntime the project does not use). modelprep.precision runs this file with that venv's Python;
it imports nothing of the project.

    .venv-quant/bin/python modelprep/modelopt_worker.py --src model.onnx --out quant.onnx \\
        --calibration calib.npz --options options.json --record record.json

The calibration file holds one text per feed, unpadded (`<input name>/<index>` arrays): padding would put
pad positions' activations into the ranges. ModelOpt rewrites the graph it is given, so it gets a copy.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path


def feeds(calibration: Path) -> list[dict]:
    import numpy as np

    data = np.load(calibration)
    by_index: dict[int, dict] = {}
    for key in data.files:
        name, _, index = key.rpartition("/")
        by_index.setdefault(int(index), {})[name] = data[key]
    return [by_index[i] for i in sorted(by_index)]


def reader(calibration: Path):
    """ModelOpt's reader interface (ONNX Runtime's, plus get_first and rewind) over the texts, one per feed."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._all = feeds(calibration)
            self._feeds = iter(self._all)

        def get_next(self):
            return next(self._feeds, None)

        def get_first(self):
            return self._all[0]

        def rewind(self):
            self._feeds = iter(self._all)

    return Reader()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--calibration", type=Path, required=True)
    parser.add_argument("--options", type=Path, required=True,
                        help="JSON: modelopt.onnx.quantization.quantize's options")
    parser.add_argument("--record", type=Path, required=True)
    args = parser.parse_args(argv)
    import modelopt
    import onnx
    import onnxruntime
    from modelopt.onnx.quantization import quantize

    options = json.loads(args.options.read_text())
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="modelopt-") as tmp:
        source = Path(tmp) / args.src.name
        shutil.copy2(args.src, source)  # ModelOpt writes into the graph it quantizes: never the caller's
        for data in args.src.parent.glob(f"{args.src.name}_data*"):
            shutil.copy2(data, Path(tmp) / data.name)
        quantize(onnx_path=str(source), calibration_data_reader=reader(args.calibration), calibration_eps=["cpu"],
                 output_path=str(args.out), log_level="ERROR", **options)
    args.record.write_text(json.dumps({
        "tool": "nvidia-modelopt", "version": modelopt.__version__, "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__, "calibration_eps": ["cpu"], "options": options,
        "seconds": round(time.perf_counter() - started, 1),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
