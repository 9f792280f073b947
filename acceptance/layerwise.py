"""Where it breaks: the deployed ONNX graph against the PyTorch fp32 baseline, layer by layer.

The HF modules to compare are the manifest's [layers] (embeddings, each layer's attention and FFN block, the
final norm); their outputs are caught with forward hooks. Each module's tensor in the graph is the last
output of the export's scope for that module (optimum names nodes by module path: `encoder.layer.3.output`
-> `/encoder/layer.3/output/...`), marked as a graph output with Polygraphy (never hand-made surgery) and
run through ONNX Runtime on the deployment's own provider. Per layer: the minimum cosine, token by token,
on the texts whose parity failed, the largest |value| (an fp16 overflow shows as inf), and the first layer
below the parity target: where it breaks.

On a Thor, TensorRT's own layer outputs come from Polygraphy directly (docs/thor.md).
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from acceptance.metrics import cosines


@dataclass
class LayerParity:
    index: int  # 0: the embeddings; then each module in the model's order
    module: str  # the HF module
    tensor: str | None  # its output in the graph (None: not found there)
    min_cosine: float | None  # per token, over the texts compared (None: not compared)
    max_abs: float | None  # the largest finite |value| the deployed graph gives there
    finite: bool = True  # False: the deployed graph gave inf or NaN there (an overflow)


@dataclass
class LayerwiseReport:
    texts: list[str]
    target: float  # below it, a layer has diverged (the parity criterion's target)
    provider: str
    layers: list[LayerParity] = field(default_factory=list)
    first_divergent_layer: dict | None = None  # index, module, min_cosine_before, min_cosine_after

    def summary(self) -> str:
        first = self.first_divergent_layer
        if first is None:
            return f"every compared layer stays at or above {self.target:g} on {len(self.texts)} text(s)"
        return (f"first divergent layer: #{first['index']} {first['module']} (min cosine {first['min_cosine_before']} "
                f"before it, {first['min_cosine_after']:.6f} after it)")


def modules_of(layers: dict[str, str], names: list[str]) -> list[str]:
    """The model's modules the manifest's [layers] patterns name, in the model's order. A pattern is a
    module path; `{i}` stands for the layer index."""
    patterns = [re.compile("^" + re.escape(p).replace(re.escape("{i}"), r"\d+") + "$") for p in layers.values()]
    return [name for name in names if any(p.match(name) for p in patterns)]


def scope_of(module: str) -> str:
    """The export's node-name scope of a module path: `encoder.layer.3.output` -> `/encoder/layer.3/output/`
    (a ModuleList index stays joined to its list's name, as optimum names nodes)."""
    return "/" + re.sub(r"\.(?!\d)", "/", module) + "/"


#: Nodes a precision conversion adds around a module's own: their outputs are the module's, re-typed.
ADDED_BY_CONVERSION = ("QuantizeLinear", "DequantizeLinear", "Cast")


def tensors_of(graph, modules: list[str]) -> dict[str, str]:
    """Each module's output in the graph: the first output of the last node of its own in its scope."""
    found: dict[str, str] = {}
    for node in graph.node:
        if node.op_type in ADDED_BY_CONVERSION or not node.output:
            continue
        for module in modules:
            if node.name.startswith(scope_of(module)):
                found[module] = node.output[0]
    return found


def _session(onnx_path: Path, tensors: list[str], provider_config, work: Path):
    """An ORT session of the graph with `tensors` marked as outputs (Polygraphy), on the deployment's provider."""
    from modelprep.graph_files import marked_graph
    from runtime.session import create_session

    marked_graph(onnx_path, tensors, work / "marked.onnx")
    return create_session(work / "marked.onnx", provider_config)


def layerwise_parity(embedder, reference, texts: list[str], kind: str, target: float, layers: dict[str, str],
                     provider_config) -> LayerwiseReport:
    """The graph and the baseline, layer by layer, on `texts` (each alone)."""
    import onnx

    modules = modules_of(layers, reference.module_names())
    graph = onnx.load(str(embedder.manifest.onnx_path), load_external_data=False).graph
    tensors = tensors_of(graph, modules)
    report = LayerwiseReport(texts=list(texts), target=target, provider=provider_config.providers[0])
    worst: dict[str, float] = dict.fromkeys(modules, 1.0)
    largest: dict[str, float] = dict.fromkeys(modules, 0.0)
    overflowed: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="layerwise-") as tmp:
        session, _ = _session(embedder.manifest.onnx_path, list(tensors.values()), provider_config, Path(tmp))
        names = [o.name for o in session.get_outputs()]
        for text in texts:
            ours = dict(zip(names, session.run(names, embedder.tokenizer(
                [embedder.manifest.prompt(kind).replace("{text}", text)]).feeds(embedder.input_names)), strict=True))
            theirs = reference.module_outputs(text, kind, list(tensors))
            for module, tensor in tensors.items():
                deployed = np.asarray(ours[tensor], dtype=np.float64).reshape(-1, theirs[module].shape[-1])
                base = theirs[module].astype(np.float64).reshape(-1, theirs[module].shape[-1])
                cos = cosines(np.nan_to_num(deployed, nan=0.0, posinf=0.0, neginf=0.0), base)
                finite = np.isfinite(deployed)
                if not finite.all():
                    overflowed.add(module)
                worst[module] = min(worst[module], float(np.nan_to_num(cos, nan=-1.0).min()) if finite.all() else -1.0)
                largest[module] = max(largest[module], float(np.abs(deployed[finite]).max(initial=0.0)))
    report.layers = [LayerParity(i, m, tensors.get(m), worst[m] if m in tensors else None,
                                 largest[m] if m in tensors else None, m not in overflowed)
                     for i, m in enumerate(modules)]
    report.layers.append(LayerParity(len(modules), "pooled vector", embedder.manifest.output,
                                     _pooled_min_cosine(embedder, reference, texts, kind), None))
    report.first_divergent_layer = _first_divergent(report.layers, target)
    return report


def _pooled_min_cosine(embedder, reference, texts: list[str], kind: str) -> float:
    """The final vectors' min cosine; a text the deployment gives no finite vector for counts as -1."""
    from runtime.errors import DegenerateOutputError

    theirs = reference.encode(texts, kind=kind)
    worst = 1.0
    for text, base in zip(texts, theirs, strict=True):
        try:
            worst = min(worst, float(cosines(embedder.encode([text], kind=kind), base[None])[0]))
        except DegenerateOutputError:
            return -1.0
    return worst


def _first_divergent(layers: list[LayerParity], target: float) -> dict | None:
    compared = [layer for layer in layers if layer.min_cosine is not None]
    for position, layer in enumerate(compared):
        if layer.min_cosine < target:
            before = compared[position - 1].min_cosine if position else None
            return {"index": layer.index, "module": layer.module, "min_cosine_before": before,
                    "min_cosine_after": layer.min_cosine, "max_abs": layer.max_abs, "finite": layer.finite}
    return None
