"""ArmNN's per-layer latencies as Model Explorer node data keyed by the graph's own nodes.

What ArmNN gives, seen with pyarmnn 20.08 (libarmnn22) CpuRef on branched models:

- The profiler names an event after its workload alone (`RefConvolution2dWorkload_Execute_#10`):
  no layer, no operator. 23.08 puts ArmNN's own layer name before it (not seen on this host).
- ArmNN's TfLite parser names each layer after the operator's index: `Conv2D:0:1` (subgraph 0,
  operator 1), `Add:0:3:RELU` for the Activation layer it adds for a fused activation, and
  `FullyConnected:0:5` again for the Reshape it adds in front of a dense layer on a 4-D input.
  Layers for constant tensors are `Constant:<tensor name>`; optimizer passes name theirs freely.
- The runtime makes one workload per layer of the optimized graph (Input and Output aside) in
  the graph's topological order, and runs them in that order; on a branch that order is not the
  .tflite's (a residual block's two convolutions run before the first one's ReLU). The optimized
  network's dot dump lists its layers in that order, with names and types. So the agent
  (agent/backends/armnn.py) names each workload by that list where the two agree kind for kind,
  and sends every workload's median summed per layer name (`layers.by_layer`).

The rule here: a layer whose name is the parser's `<Op>:0:<index>` (with an optional
`:<ACTIVATION>` tail, and an optional `<LayerType>:` head in case a later ArmNN adds one) belongs
to operator <index>; so does one named exactly after one operator's output tensor. The operator's
node gets the sum of all its layers' workloads (its own, its fused activation, a reshape the
parser put in for it). That works for any graph shape. A layer whose name carries no operator index (a constant, a layer an optimizer
pass made or merged from two operators) is kept apart under `unmapped`, with its time and why;
an operator no workload names is listed under `no_workload`. The node values plus the unmapped
times are the sum of the workloads; ArmNN's own work between them (copies, memory) is in no node.

Without names (a profile from before the agent read the graph, one whose workloads did not line
up with the graph's layers, or names that carry no operator at all) the old rule stands: when the model is one chain (every operator
reads the previous one's output) and the workloads, in execution order, are exactly the layer kinds
the operators predict, workload i belongs to operator j. Anything else (a branch, a kind this
table does not know, a profile cut to its top entries) is not guessed: the node data then keeps
ArmNN's own workload ids, and says why.
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


_KEY = re.compile(r"^(?:[A-Za-z0-9]+:)?(?P<op>[A-Za-z0-9]+):(?P<subgraph>\d+):(?P<index>\d+)(?::[A-Z0-9_]+)?$")


def _operator_of(layer: str, ops: list[dict[str, Any]]) -> tuple[int | None, str]:
    """The .tflite operator an ArmNN layer name carries (its index, or its output tensor's name
    after an optional `<LayerType>:`), or None and why not."""
    found = _KEY.match(layer)
    if found is None or found.group("op") == "Constant" or layer.startswith("Constant:"):
        nodes = [op["node"] for op in ops]
        for name in (layer, layer.partition(":")[2]):
            if name and nodes.count(name) == 1:
                return nodes.index(name), ""
        return None, "its ArmNN layer name names no .tflite operator (a constant, or a layer ArmNN made)"
    if found.group("subgraph") != "0" or int(found.group("index")) >= len(ops):
        return None, f"its ArmNN layer name points past subgraph 0's {len(ops)} operators"
    return int(found.group("index")), ""


def _named(profile: LayerProfile) -> dict[str, float] | None:
    """Every workload's median per ArmNN layer name, where the profile holds them all."""
    if profile.by_layer:
        return dict(profile.by_layer)
    top = list(profile.top)
    if top and len(top) == profile.count and all(t.layer and t.median_us is not None for t in top):
        named: dict[str, float] = {}
        for t in top:
            named[str(t.layer)] = named.get(str(t.layer), 0.0) + float(t.median_us or 0.0)
        return named
    return None


def _by_name(named: dict[str, float], ops: list[dict[str, Any]]) -> tuple[dict[str, float] | None, str, dict[str, Any]]:
    times: dict[str, float] = {}
    unmapped = []
    for layer, us in named.items():
        index, why = _operator_of(layer, ops)
        if index is None:
            unmapped.append({"layer": layer, "median_us": us, "why": why})
            continue
        node = ops[index]["node"]
        times[node] = round(times.get(node, 0.0) + us, 3)
    missing = [{"node": op["node"], "op": op["op"], "index": i, "why": "no ArmNN workload carries its operator index"}
               for i, op in enumerate(ops) if op["node"] not in times]
    if not times:
        return None, f"none of the {len(named)} ArmNN layer names carries a .tflite operator index", {}
    why = (f"mapped by the operator index in ArmNN's layer names: {len(named)} layers onto {len(times)} of "
           f"{len(ops)} operators")
    if unmapped:
        why += f"; {len(unmapped)} layer{'s' if len(unmapped) > 1 else ''} name no operator and stay apart"
    return times, why, {"unmapped": unmapped, "no_workload": missing}


def map_to_nodes(profile: LayerProfile, model: Path) -> tuple[dict[str, float] | None, str, dict[str, Any]]:
    """node name -> median µs (summed over the operator's workloads), or None and why not; and what
    stayed apart (`unmapped` workloads, operators with `no_workload`) when mapped by name."""
    if profile.source != "armnn-profiler":
        return None, f"per-layer times from {profile.source}, not ArmNN's profiler", {}
    named = _named(profile)
    if named is not None:
        times, why, apart = _by_name(named, _operators(model))
        if times:
            return times, why, apart
        unnamed = why
    else:
        unnamed = "the workloads carry no ArmNN layer names" + (f" ({profile.named})" if profile.named else "")
    times, why = _by_order(profile, model)
    return (times, why, {}) if times else (None, f"{unnamed}; {why}", {})


def _by_order(profile: LayerProfile, model: Path) -> tuple[dict[str, float] | None, str]:
    top = list(profile.top)
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
