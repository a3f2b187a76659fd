"""ArmNN's per-layer latencies as Model Explorer node data keyed by the graph's own nodes.

ArmNN's profiler does not name the .tflite operator a workload ran: 20.08 names an event
after the workload alone (`RefConvolution2dWorkload_Execute_#10`), 23.08 puts its own layer
name before it. What can be matched is the order: ArmNN's TfLite parser adds, for each
operator in graph order, one layer, plus an Activation layer when the operator has a fused
activation, and a chain of layers executes in that order. So when the model is one chain
(every operator reads the previous one's output) and the workloads, in execution order, are
exactly the layer kinds the operators predict, workload i belongs to operator j, and the
operator's node gets the sum of its workloads' medians. Anything else (a branch, a layer
ArmNN split or merged, a kind this table does not know, a profile cut to its top entries)
is not guessed: the node data then keeps ArmNN's own workload ids, and says why.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from edgeq.agent.sections import Layer, LayerProfile

# TFLite builtin op -> the ArmNN layer kind its workload is named after (backend prefix removed).
ARMNN_KIND = {
    "CONV_2D": "Convolution2d", "DEPTHWISE_CONV_2D": "DepthwiseConvolution2d", "FULLY_CONNECTED": "FullyConnected",
    "RESHAPE": "Reshape", "SOFTMAX": "Softmax", "QUANTIZE": "Quantize", "DEQUANTIZE": "Dequantize",
    "MAX_POOL_2D": "Pooling2d", "AVERAGE_POOL_2D": "Pooling2d", "MEAN": "Mean", "CONCATENATION": "Concat",
    "RELU": "Activation", "RELU6": "Activation", "LOGISTIC": "Activation", "TANH": "Activation",
    "ADD": ("Addition", "ElementwiseBinary"), "MUL": ("Multiplication", "ElementwiseBinary"),
    "PAD": "Pad", "TRANSPOSE_CONV": "TransposeConvolution2d",
}
_PREFIX = re.compile(r"^(Ref|Neon|Cl)")
_ORDER = re.compile(r"_#(\d+)$")


def _operators(model: Path) -> list[dict[str, Any]]:
    """Subgraph 0's operators in order: op name, first output tensor name, fused activation, inputs/outputs."""
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    flat = schema.ModelT.InitFromPackedBuf(Path(model).read_bytes(), 0)
    graph = flat.subgraphs[0]
    found = []
    for op in graph.operators or []:
        code = flat.operatorCodes[op.opcodeIndex]
        fused = getattr(op.builtinOptions, "fusedActivationFunction", 0) or 0
        outputs = [int(t) for t in (op.outputs if op.outputs is not None else ()) if t >= 0]
        found.append({"op": names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM"),
                      "node": graph.tensors[outputs[0]].name.decode() if outputs else None, "fused": fused != 0,
                      "inputs": [int(t) for t in (op.inputs if op.inputs is not None else ()) if t >= 0],
                      "outputs": outputs})
    return found


def _chain(ops: list[dict[str, Any]]) -> bool:
    """Every operator after the first reads the previous one's output: one order of execution."""
    return all(set(prev["outputs"]) & set(op["inputs"]) for prev, op in zip(ops, ops[1:]))


def _kind(workload: str) -> str:
    return _PREFIX.sub("", workload).removesuffix("Workload")


def _order(layer: Layer) -> int:
    found = _ORDER.search(str(layer.id or ""))
    return int(found.group(1)) if found else -1


def map_to_nodes(profile: LayerProfile, model: Path) -> tuple[dict[str, float] | None, str]:
    """node name -> median µs (summed over the operator's workloads), or None and why not."""
    top = list(profile.top)
    if profile.source != "armnn-profiler":
        return None, f"per-layer times from {profile.source}, not ArmNN's profiler"
    if len(top) != profile.count:
        return None, f"the profile kept the {len(top)} slowest of {profile.count} workloads"
    if any(t.median_us is None for t in top):
        return None, "a workload has no median time"
    ordered = sorted(top, key=_order)
    ops = _operators(model)
    if not _chain(ops):
        return None, "the graph is not one chain of operators, so execution order does not name them"
    expected: list[tuple[int, tuple[str, ...]]] = []
    for index, op in enumerate(ops):
        kind = ARMNN_KIND.get(op["op"])
        if kind is None:
            return None, f"operator #{index} {op['op']} has no known ArmNN layer kind"
        expected.append((index, kind if isinstance(kind, tuple) else (kind,)))
        if op["fused"]:
            expected.append((index, ("Activation",)))
    if len(expected) != len(ordered):
        return None, f"{len(ordered)} workloads for {len(expected)} predicted layers"
    times: dict[str, float] = {}
    for (index, kinds), workload in zip(expected, ordered):
        if not _kind(str(workload.name)).startswith(kinds):
            return None, (f"workload {workload.id} is not the {'/'.join(kinds)} layer operator #{index} "
                          f"{ops[index]['op']} predicts")
        node = ops[index]["node"]
        times[node] = round(times.get(node, 0.0) + float(workload.median_us or 0.0), 3)
    return times, f"mapped by execution order: {len(ordered)} workloads onto {len(times)} operators"
