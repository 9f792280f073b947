"""ONNX graph files as the project writes them: over protobuf's 2 GB, the weights go to `<name>_data` beside
the graph (a name runtime.artifact hashes and verifies, and ModelOpt's worker copies along); a graph is copied
with its weights under the destination's name; and a copy can have intermediate tensors marked as graph
outputs with Polygraphy, so ONNX Runtime returns them (in their declared types)."""

from __future__ import annotations

import shutil
from pathlib import Path

#: Above this a graph cannot be one protobuf: its weights go to external data.
PROTOBUF_LIMIT = 2**31 - 2**20


def save_graph(model, path: Path) -> Path:
    """onnx.save, with the weights in `<name>_data` when the graph is too large for one protobuf."""
    import onnx

    large = model.ByteSize() > PROTOBUF_LIMIT
    onnx.save(model, str(path), save_as_external_data=large, location=f"{path.name}_data" if large else None)
    return path


def copy_graph(src: Path, dst: Path) -> Path:
    """`src` as `dst`, its external weights (whatever their file is called) moved under dst's name."""
    import onnx
    from onnx.external_data_helper import uses_external_data

    if any(uses_external_data(t) for t in onnx.load(str(src), load_external_data=False).graph.initializer):
        return save_graph(onnx.load(str(src)), dst)
    shutil.copy2(src, dst)
    return dst


def marked_graph(src: Path, tensors: list[str], dst: Path) -> list[str]:
    """`src` with `tensors` marked as outputs (Polygraphy) saved as `dst`; the tensors it could mark (a
    renamed graph output cannot be)."""
    import onnx
    from polygraphy.backend.onnx import modify_outputs
    from polygraphy.backend.onnx.util import all_tensor_names

    model = onnx.load(str(src))
    known = set(all_tensor_names(model, include_inputs=True))
    marked = [t for t in tensors if t in known]
    save_graph(modify_outputs(model, outputs=marked), dst)
    return marked
