"""How much of the model each backend really ran, and which ops fell back to the CPU.

The runtimes say it in different places: LiteRT's GPU accelerator and the classic
GPU delegate log the ops they refuse ("Following operations are not supported by
GPU delegate:" then one `OP: reason` line each); the session reports whether the
compiled model is fully accelerated; ArmNN's Optimize returns messages naming
layers that a preferred backend could not take. This module reads those after the
backend's child has finished, so no runtime needs to be imported here.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List

_GPU_REFUSED = "Following operations are not supported by GPU delegate:"
_OP_LINE = re.compile(r"^([A-Z][A-Z0-9_]+): (.+)$")
_GPU_SPLIT = re.compile(r"(\d+) operations will run on the GPU, and the remaining (\d+) operations? will run on the CPU")
_ARMNN_LAYER = re.compile(r"Layer of type (\w+) is not supported on (?:requested|any preferred) backend")


def _gpu_fallback_ops(log: str) -> List[Dict[str, str]]:
    ops: List[Dict[str, str]] = []
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if _GPU_REFUSED not in line:
            continue
        for follow in lines[i + 1:]:
            match = _OP_LINE.match(follow.strip())
            if not match:
                break
            entry = {"op": match.group(1), "reason": match.group(2)}
            if entry not in ops:
                ops.append(entry)
    return ops


def coverage(info: Dict[str, Any], log: str) -> Dict[str, Any]:
    """The `coverage` entry of one backend: fully delegated or not, and the ops that were not."""
    accelerator = info.get("accelerator")
    if accelerator in ("litert-gpu", "gpu-delegate"):
        ops = _gpu_fallback_ops(log)
        split = _GPU_SPLIT.search(log)
        full = info.get("fully_accelerated")
        if full is None:
            full = not ops and not (split and int(split.group(2)) > 0)
        found: Dict[str, Any] = {"fully_delegated": bool(full) and not ops, "fallback_ops": ops}
        if split:
            found["nodes_delegated"], found["nodes_on_cpu"] = int(split.group(1)), int(split.group(2))
        return found
    if info.get("runtime") == "pyarmnn":
        layers = sorted({m.group(1) for m in _ARMNN_LAYER.finditer("\n".join(info.get("optimizer_messages", [])))})
        return {"fully_delegated": not layers, "fallback_ops": [{"op": layer, "reason": "not supported on the "
                                                                 "preferred ArmNN backend"} for layer in layers],
                "armnn_backends": info.get("armnn_backends")}
    # A CPU interpreter runs every op itself: nothing to delegate, nothing to fall back.
    return {"fully_delegated": True, "fallback_ops": []}
