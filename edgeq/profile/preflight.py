"""What is known before anything is sent: which requested backends cannot run this model.

A custom op that no runtime on the board has is certain to fail, so those backends are
refused here with the ops named; when none is left the profile stops with exit 2
(ModelError) and nothing reaches the board. The other rule tables' verdicts are
predictions: they go into result.json beside what the board then did, and a refused
prediction becomes a warning, since a newer runtime on the board may do better.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgeq.errors import ModelError
from edgeq.model import shapes
from edgeq.model.reader import ModelInfo
from edgeq.model.rules import REFUSED, Prediction, predict, table_for
from edgeq.profile import customops

_RUNTIME_OPTION = {"tflite_runtime": "tflite_runtime", "ai_edge_litert": "ai_edge_litert"}


@dataclass
class Preflight:
    run: list[dict[str, Any]] = field(default_factory=list)
    """Requests that go to the board."""
    refused: list[dict[str, Any]] = field(default_factory=list)
    """Backend entries for result.json (status "refused"), never sent."""
    predicted: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Backend label -> the prediction of its rule table."""
    warnings: list[str] = field(default_factory=list)


def _prediction(info: ModelInfo, request: dict[str, Any]) -> Prediction | None:
    runtime = _RUNTIME_OPTION.get(str(request["options"].get("runtime", "")))
    try:
        table = table_for(request["name"], runtime)
    except KeyError:
        return None
    if info.card is None:
        return None
    # A tflite_runtime backend given --custom-op-library: its custom ops are the library's to register.
    registered = frozenset(info.card.custom_ops) if customops.takes_library(request) else frozenset()
    return predict(info.card, table, registered)


# Backends that take inputs of another shape than the stored one (a dynamic dim given with
# --input-shape): the Interpreter resizes, and so does LiteRT's CompiledModel on the GPU
# accelerator (resize_input_tensor; on lavapipe a batch of 3 for a stored 1 stays fully on the
# GPU, tests/test_gpu.py). pyarmnn's parser binds the stored shapes.
_RESIZES = ("tflite-cpu", "tflite-gpu")
# Backends that run a signature other than the first: the Interpreter's SignatureRunner.
_SIGNATURES = ("tflite-cpu",)


def check(info: ModelInfo, requests: list[dict[str, Any]], reshaped: list[str] | None = None) -> Preflight:  # noqa: C901
    """Split `requests` into those to run and those refused; ModelError (exit 2) when none is left.

    `reshaped`: inputs given a shape other than the model's stored one (--input-shape)."""
    found = Preflight()
    signatures = info.card.signatures if info.card is not None else ()
    if info.signature:
        found.warnings.append(f"profiled signature {info.signature} (--signature) of "
                              f"{', '.join(s.key for s in signatures)}")
    elif len(signatures) > 1:
        found.warnings.append(f"the model has {len(signatures)} signatures "
                              f"({', '.join(s.key for s in signatures)}); profiled the first, {signatures[0].key} "
                              "(--signature NAME for another)")
    for request in requests:
        if info.signature and request["name"] not in _SIGNATURES:
            found.refused.append({"label": request["label"], "backend": request["name"], "status": "refused",
                                  "reason": "refused before upload: this backend runs the model's main subgraph "
                                            f"only, not signature {info.signature}"})
            continue
        if info.signature:
            request = dict(request, options={**request["options"], "signature": info.signature})
        if reshaped and request["name"] not in _RESIZES:
            found.refused.append({"label": request["label"], "backend": request["name"], "status": "refused",
                                  "reason": "refused before upload: this backend runs only the input shapes stored "
                                            f"in the model, and --input-shape changed {', '.join(reshaped)}"})
            continue
        prediction = _prediction(info, request)
        if prediction is None:
            found.run.append(request)
            continue
        found.predicted[request["label"]] = prediction.as_dict()
        certain = [(rule, what) for rule, what in prediction.reasons if rule.certain and rule.verdict == REFUSED]
        if certain:
            reason = "; ".join(rule.says.format(found=what) for rule, what in certain)
            found.refused.append({"label": request["label"], "backend": request["name"], "status": "refused",
                                  "reason": f"refused before upload: {reason}"})
            continue
        found.run.append(request)
        if prediction.verdict != "runs":
            found.warnings.append(f"{request['label']} predicted: {prediction.text()} "
                                  f"({prediction.table.key} rules; `edgeq inspect` explains)")
    if not found.run:
        reasons = "; ".join(f"{e['label']}: {e['reason'].removeprefix('refused before upload: ')}"
                            for e in found.refused)
        raise ModelError(f"{info.path}: no requested backend can run this model, nothing was sent: {reasons}")
    return found


def prepare(info: ModelInfo, requests: list[dict[str, Any]], input_shapes: dict[str, tuple[int, ...]],
            signature: str | None = None) -> tuple[ModelInfo, Preflight]:
    """The model as its signature takes it (`--signature`), its input shapes resolved (model/shapes.py),
    and the requests checked against it."""
    if signature:
        info = shapes.signature_view(info, signature)
    resolved, notes = shapes.resolve(info, input_shapes)
    found = check(resolved, requests, reshaped=shapes.reshaped(resolved, info))
    found.warnings[:0] = notes
    return resolved, found
