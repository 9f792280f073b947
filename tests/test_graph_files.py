"""Graph files over protobuf's 2 GB (a 4B or 8B model's fp16 and fp8 variants): their weights live in
`<name>_data`, and a variant copied into the cache keeps them under the graph's new name, where
runtime.artifact finds, hashes and verifies them. The 2 GB limit is lowered here so a small graph takes
that path."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from modelprep import graph_files
from modelprep.graph_files import copy_graph, marked_graph, save_graph
from runtime.artifact import external_data_files


def _graph() -> onnx.ModelProto:
    weight = numpy_helper.from_array(np.arange(64 * 64, dtype=np.float32).reshape(64, 64) / 4096, "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="/layer/MatMul"),
             helper.make_node("Relu", ["h"], ["y"], name="/layer/Relu")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])], [weight])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(path, outputs=None) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(outputs, {"x": np.ones((1, 64), dtype=np.float32)})


def test_a_large_graph_keeps_its_weights_under_the_copied_name(tmp_path, monkeypatch):
    monkeypatch.setattr(graph_files, "PROTOBUF_LIMIT", 0)
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir(), cache.mkdir()
    built = save_graph(_graph(), work / "keep3.onnx")
    assert external_data_files(built) == [work / "keep3.onnx_data"]
    copied = copy_graph(built, cache / "model.onnx")
    assert external_data_files(copied) == [cache / "model.onnx_data"] and not (cache / "keep3.onnx_data").exists()
    np.testing.assert_array_equal(_run(copied)[0], _run(built)[0])


def test_a_small_graph_is_copied_byte_for_byte(tmp_path):
    built = save_graph(_graph(), tmp_path / "keep0.onnx")
    copied = copy_graph(built, tmp_path / "model.onnx")
    assert copied.read_bytes() == built.read_bytes() and not external_data_files(copied)


def test_marked_tensors_come_back_and_unknown_ones_are_left_out(tmp_path):
    src = save_graph(_graph(), tmp_path / "model.onnx")
    marked = marked_graph(src, ["h", "no-such-tensor"], tmp_path / "marked.onnx")
    assert marked == ["h"]
    (h,) = _run(tmp_path / "marked.onnx", ["h"])  # the marked tensors are the graph's outputs now
    weight = numpy_helper.to_array(_graph().graph.initializer[0])
    np.testing.assert_allclose(h, np.ones((1, 64), dtype=np.float32) @ weight, rtol=1e-6)
