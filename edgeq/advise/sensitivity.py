"""Host side of the per-layer sensitivity: ask the worker, keep the table, export Model Explorer node data.

Model Explorer (google-ai-edge/model-explorer) overlays per-node values on a graph from a
JSON file in its documented node-data format (one graph's `GraphNodeData`): `results`
maps a node key to `{"value": number}`, and `gradient` lists colour stops from 0 (the
smallest value) to 1 (the largest). A node key may be one of the node's output tensor
names, which is what is written here, so the file matches the .tflite whatever adapter
names the nodes. Values are the one-layer int8 SQNR in dB: red nodes cost the most.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgeq.agent.wire import SENSITIVITY
from edgeq.quantize import worker

SCHEMA = SENSITIVITY.tag
INFINITE_DB = 200.0
"""Node data must be a number: a layer whose int8 output was identical to float is drawn at this many dB."""


def measure(fp32: Path, calib: str, out: Path, stem: str, ks: list[int],
            per_tensor_dense: bool = False, kinds: list[str] | None = None) -> dict[str, Any]:
    """Rows per layer and the mixed variants (k most sensitive layers kept in a higher precision,
    one family per kind in edgeq.advise.layers.KINDS), cached in `out`."""
    cached = out / "sensitivity.json"
    if cached.exists():
        data = json.loads(cached.read_text())
        if data.get("schema") == SCHEMA and all(Path(m["path"]).exists() for m in data["mixed"] if "path" in m):
            return data
    out.mkdir(parents=True, exist_ok=True)
    result = worker.call({"task": "edgeq.advise.layers:layers_job", "fp32": str(fp32.resolve()), "calib": calib,
                          "out": str(out.resolve()), "stem": stem, "ks": ks,
                          "per_tensor_dense": per_tensor_dense, "kinds": list(kinds or ["float"])})
    data = {"schema": SCHEMA, "method": "one layer at a time in int8 (and int4 weights), output SQNR vs float "
            "on the calibration data; full_int8_mse from ai-edge-quantizer validate(); mixed variants keep the k "
            "most sensitive layers in float, int16 (16x8) or int8 weights (over int4)", **result}
    cached.write_text(json.dumps(data, indent=1))
    return data


def node_data(sensitivity: dict[str, Any]) -> dict[str, Any]:
    """Model Explorer per-node data (GraphNodeData): output tensor name -> int8 SQNR, red (low) to green."""
    results: dict[str, dict[str, float]] = {}
    for row in sensitivity["layers"]:
        if row["error"]:
            continue
        value = row["sqnr_int8_db"] if row["sqnr_int8_db"] is not None else INFINITE_DB
        for name in row["outputs"]:
            results[name] = {"value": float(value)}
    return {"results": results, "gradient": [{"stop": 0, "bgColor": "#d73027"}, {"stop": 0.5, "bgColor": "#fee08b"},
                                             {"stop": 1, "bgColor": "#1a9850"}]}


def latency_node_data(layers: dict[str, Any] | None, model: Path | None = None) -> dict[str, Any] | None:
    """ArmNN profiler per-layer medians (µs) as node data: keyed by the graph's node names (output
    tensor names, as the sensitivity) where edgeq.advise.nodemap can tell which operator each
    workload ran, else by ArmNN's own workload ids. `layers["mapping"]` is set to say which, and why."""
    from edgeq.advise.nodemap import map_to_nodes
    from edgeq.agent.sections import LayerProfile

    profile = LayerProfile.read(layers)
    if layers is None or profile is None or not profile.top:
        return None
    mapped, why, apart = map_to_nodes(profile, model) if model is not None else (None, "no model to map onto", {})
    layers["mapping"] = {"by": "graph node" if mapped else "ArmNN workload id", "why": why, **apart}
    results = {node: {"value": us} for node, us in mapped.items()} if mapped else \
        {str(t.id): {"value": float(t.median_us)} for t in profile.top if t.median_us is not None}
    return {"results": results, "gradient": [{"stop": 0, "bgColor": "#ffffff"}, {"stop": 1, "bgColor": "#d73027"}]}
