"""What precision a graph really has, read from the graph itself (onnx), never from a flag or a name.

- Q/DQ pairs and the precisions they quantize to (int8, uint8, fp8 E4M3), and the compute nodes they feed;
- initializer tensors by element type (fp32, fp16, bf16, int8, fp8, ...);
- dynamic quantization (DynamicQuantizeLinear, MatMulInteger with scales computed at run time), which
  makes a text's vector depend on the texts batched with it;
- the precision all that adds up to, and whether a manifest's claim agrees with it;
- with ONNX Runtime: how many quantized MatMuls its CPU provider runs on integer kernels after its own
  graph optimizations (the rest are dequantized to fp32: simulated, not int8 speed).
"""

from __future__ import annotations

import collections
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

#: ONNX element type -> the name reports use.
ELEMENT_TYPES = {1: "fp32", 10: "fp16", 16: "bf16", 3: "int8", 2: "uint8", 6: "int32", 7: "int64", 11: "fp64",
                 17: "fp8e4m3fn", 18: "fp8e4m3fnuz", 19: "fp8e5m2", 20: "fp8e5m2fnuz", 9: "bool"}
QUANT_TYPES = {"int8": "int8", "uint8": "int8", "fp8e4m3fn": "fp8", "fp8e4m3fnuz": "fp8", "fp8e5m2": "fp8",
               "fp8e5m2fnuz": "fp8"}
DYNAMIC_OPS = ("DynamicQuantizeLinear", "DynamicQuantizeMatMul", "MatMulInteger", "ConvInteger")
INTEGER_KERNELS = ("QLinearMatMul", "MatMulIntegerToFloat", "MatMulInteger", "DynamicQuantizeMatMul", "QGemm")
COMPUTE_OPS = ("MatMul", "Gemm", "Conv")


@dataclass
class GraphAudit:
    path: str
    nodes: int
    qdq_pairs: int  # QuantizeLinear -> DequantizeLinear, or a DequantizeLinear of a quantized constant
    quantized_to: dict[str, int]  # quantized precision (int8, fp8) -> DequantizeLinear nodes of it
    tensor_types: dict[str, int]  # initializers by element type
    quantized_nodes: list[str]  # compute nodes (MatMul, Gemm, Conv) fed by a DequantizeLinear
    compute_nodes: int  # every MatMul, Gemm and Conv
    dynamic_quantization: list[str]  # nodes that compute activation scales at run time
    precision: str  # what the graph is: fp8, int8, fp16 or fp32
    # After ONNX Runtime's CPU optimizations (None: not checked): quantized MatMuls on integer kernels.
    integer_kernels: int | None = None
    executed_ops: dict[str, int] = field(default_factory=dict)

    @property
    def batch_variant(self) -> bool:
        """Dynamic activation scales: a text's vector depends on the batch it is in."""
        return bool(self.dynamic_quantization)

    def summary(self) -> str:
        quant = ", ".join(f"{n} {t}" for t, n in sorted(self.quantized_to.items())) or "none"
        text = (f"{self.precision} graph: {self.qdq_pairs} Q/DQ pairs (DequantizeLinear by precision: {quant}), "
                f"{len(self.quantized_nodes)} of {self.compute_nodes} MatMul/Gemm/Conv nodes fed quantized")
        if self.dynamic_quantization:
            text += f"; DYNAMIC quantization in {len(self.dynamic_quantization)} nodes (batch-variant)"
        if self.integer_kernels is not None:
            text += f"; {self.integer_kernels} run on ONNX Runtime's CPU integer kernels"
        return text

    def claim_error(self, claimed: str) -> str | None:
        """Why a manifest's precision disagrees with the graph, or None. bf16 is how a provider executes an
        fp32 graph, so a bf16 claim needs an fp32 graph."""
        expected = "fp32" if claimed == "bf16" else claimed
        if expected == self.precision:
            return None
        return (f"the manifest says precision = {claimed!r} but the graph {self.path} is {self.precision} "
                f"({self.summary()}); fix the manifest's precision, or build the {claimed} variant")


def _tensor_types(graph) -> dict[str, int]:
    counts = collections.Counter(ELEMENT_TYPES.get(t.data_type, str(t.data_type)) for t in graph.initializer)
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    counts[ELEMENT_TYPES.get(attr.t.data_type, str(attr.t.data_type))] += 1
    return dict(counts)


def _dq_precision(node, types: dict[str, int], producers: dict, initializers: dict) -> str | None:
    """The precision a DequantizeLinear dequantizes from: its zero point's type, else its input's."""
    for name in (node.input[2] if len(node.input) > 2 else "", node.input[0]):
        if name in initializers:
            return QUANT_TYPES.get(ELEMENT_TYPES.get(initializers[name].data_type, ""))
        producer = producers.get(name)
        if producer is not None and producer.op_type == "QuantizeLinear" and len(producer.input) > 2:
            zero = initializers.get(producer.input[2])
            if zero is not None:
                return QUANT_TYPES.get(ELEMENT_TYPES.get(zero.data_type, ""))
    return None


def audit_graph(onnx_path: str | Path) -> GraphAudit:
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    initializers = {i.name: i for i in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    types = _tensor_types(graph)
    dq_nodes = [n for n in graph.node if n.op_type == "DequantizeLinear"]
    quantized_to = collections.Counter(p for n in dq_nodes if (p := _dq_precision(n, types, producers, initializers)))
    dq_outputs = {n.output[0] for n in dq_nodes}
    compute = [n for n in graph.node if n.op_type in COMPUTE_OPS]
    quantized = [n.name for n in compute if any(i in dq_outputs for i in n.input)]
    dynamic = [n.name for n in graph.node if n.op_type in DYNAMIC_OPS]
    if quantized_to.get("fp8"):
        precision = "fp8"
    elif quantized_to.get("int8") or dynamic:
        precision = "int8"
    elif types.get("fp16", 0) > types.get("fp32", 0):
        precision = "fp16"
    else:
        precision = "fp32"
    return GraphAudit(path=str(onnx_path), nodes=len(graph.node), qdq_pairs=len(dq_nodes),
                      quantized_to=dict(quantized_to), tensor_types=types, quantized_nodes=quantized,
                      compute_nodes=len(compute), dynamic_quantization=dynamic, precision=precision)


def with_executed_kernels(audit: GraphAudit) -> GraphAudit:
    """The audit, with what ONNX Runtime's CPU provider makes of the graph after its own optimizations: the
    op types it runs, and how many quantized MatMuls became integer kernels."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="graph-audit-") as tmp:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        options.log_severity_level = 3
        ort.InferenceSession(audit.path, options, providers=["CPUExecutionProvider"])
        graph = onnx.load(options.optimized_model_filepath, load_external_data=False).graph
    ops = collections.Counter(n.op_type for n in graph.node)
    audit.executed_ops = {op: n for op, n in ops.items() if op in (*INTEGER_KERNELS, *COMPUTE_OPS, "DequantizeLinear")}
    audit.integer_kernels = sum(ops[op] for op in INTEGER_KERNELS)
    return audit
