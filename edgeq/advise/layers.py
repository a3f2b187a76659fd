"""Per-layer sensitivity and mixed-precision variants. Runs in the quantize worker child.

A layer's sensitivity is measured one layer at a time: the float model with only that
layer quantized (int8 weights and activations, or int4 weights alone), compared with
the float model's output on the calibration data (SQNR in dB; lower = more sensitive).
Errors do not accumulate from earlier layers, so the ranking says which layer itself
costs accuracy. ai-edge-quantizer's `validate()` of the whole int8 model is kept beside
it (per-tensor MSE, which does accumulate).

A mixed variant keeps the k most sensitive layers in a higher precision than its base,
with ai-edge-quantizer per-op recipes (one family per `KINDS` entry):
- `int8-mixed-kK`: int8, the k layers most sensitive to int8 left in float (`no_quantize`);
- `int8-mixed16-kK`: int8, those k layers with int16 activations and int8 weights (16x8);
  ai-edge-quantizer puts QUANTIZE ops between the int8 and int16 parts;
- `int4-weights-mixed-kK`: int4 weights, the k weighted layers most sensitive to int4 kept
  at int8 weights. On digits, int4 weights cost accuracy and int8 does not: this family is
  the one whose variants sit between int4 and int8 in size and recover the accuracy.
A family the quantizer refuses for a k is recorded with its error, not built.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

# Ops whose constant weights int4 can shrink; other ops have nothing for weight-only to do.
WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "BATCH_MATMUL",
                "EMBEDDING_LOOKUP")
CALIB_ROWS = 64
KINDS = {"float": ("int8", "int8-mixed"), "int16": ("int8", "int8-mixed16"),
         "int8-weights": ("int4-weights", "int4-weights-mixed")}
"""Mixed-variant family -> (the mode it starts from, its variant name prefix)."""


def graph_ops(model: bytes) -> list[dict[str, Any]]:
    """Each op of the main graph: index, op name, output tensor names and the scope string
    ai-edge-quantizer matches per-op recipes against (its outputs joined by ';', plus ';')."""
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    flat = schema.ModelT.InitFromPackedBuf(model, 0)
    graph = flat.subgraphs[0]
    found = []
    for index, op in enumerate(graph.operators or []):
        code = flat.operatorCodes[op.opcodeIndex]
        outputs = [graph.tensors[t].name.decode() for t in op.outputs if t >= 0]
        found.append({"index": index, "op": names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM"),
                      "outputs": outputs, "scope": ";".join(outputs) + ";" if outputs else ""})
    return found


def _scope_regex(op: dict[str, Any]) -> str:
    return "^" + re.escape(op["scope"]) + "$"


def _calibration(model: bytes, x: np.ndarray) -> dict[str, list[dict[str, np.ndarray]]]:
    from ai_edge_litert.interpreter import Interpreter

    (key, spec), = Interpreter(model_content=model).get_signature_list().items()
    return {key: [{spec["inputs"][0]: row[None].astype(np.float32)} for row in x]}


def quantized(model: bytes, recipe_name: str, float_ops: list[dict[str, Any]], data: Any,
              per_tensor_dense: bool = False, kept_as: str = "float") -> Any:
    """A quantizer for `model` with `recipe_name` everywhere but `float_ops`, which are kept
    `kept_as`: float, int16 (int16 activations, int8 weights) or int8-weights (weight-only int8).

    per_tensor_dense: FullyConnected weights per tensor, as pyarmnn needs them (see quantize/compat.py).
    """
    from ai_edge_quantizer import quantizer, recipe

    q = quantizer.Quantizer(bytearray(model), getattr(recipe, recipe_name)())
    tensorwise = recipe.QuantGranularity.TENSORWISE
    if per_tensor_dense and recipe_name == "static_wi8_ai8":
        q.add_static_config(".*", recipe.TFLOperationName.FULLY_CONNECTED, 8, 8, tensorwise)
    for op in float_ops:
        scope, every = _scope_regex(op), recipe.TFLOperationName.ALL_SUPPORTED
        if kept_as == "int16":
            granularity = tensorwise if per_tensor_dense and op["op"] == "FULLY_CONNECTED" \
                else recipe.QuantGranularity.CHANNELWISE
            q.add_static_config(scope, every, activation_num_bits=16, weight_num_bits=8,
                                weight_granularity=granularity)
        elif kept_as == "int8-weights":
            q.add_weight_only_config(scope, every, num_bits=8)
        else:
            q.update_quantization_recipe(regex=scope, operation_name=every, algorithm_key="no_quantize")
    calibration = q.calibrate(data) if q.need_calibration else None
    return q, q.quantize(calibration)


def _outputs(model: bytes, x: np.ndarray) -> np.ndarray:
    import tempfile

    from edgeq.quantize.analysis import run_tflite

    with tempfile.NamedTemporaryFile(suffix=".tflite") as file:
        file.write(model)
        file.flush()
        return run_tflite(Path(file.name), x).reshape(len(x), -1)


def _sqnr(reference: np.ndarray, other: np.ndarray) -> float | None:
    """dB; None for identical outputs (JSON has no infinity)."""
    noise = float(np.sum((reference - other) ** 2))
    return None if noise == 0 else round(10 * math.log10(float(np.sum(reference ** 2)) / noise), 2)


def _one_layer(model: bytes, ops: list[dict[str, Any]], op: dict[str, Any], recipe_name: str, data: Any,
               x: np.ndarray, reference: np.ndarray) -> tuple[float | None, str | None]:
    try:
        _, result = quantized(model, recipe_name, [o for o in ops if o is not op], data)
        return _sqnr(reference, _outputs(bytes(result.quantized_model), x)), None
    except Exception as exc:  # noqa: BLE001 - one layer ai-edge-quantizer cannot do alone is reported, not fatal
        return None, f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"


def _validate_mse(model: bytes, data: Any) -> dict[str, float]:
    """ai-edge-quantizer's own per-tensor comparison of the full int8 model (MSE, accumulated)."""
    q, _ = quantized(model, "static_wi8_ai8", [], data)
    results = q.validate(data).get_all_tensor_results()
    return {name: float(values["mse"]) for name, values in results.items() if "mse" in values}


def layers_job(job: dict[str, Any]) -> dict[str, Any]:
    """Worker task `advise-layers`: sensitivity rows and the mixed variants for job['ks']."""
    from edgeq.quantize import calibration

    source = Path(job["fp32"])
    model = source.read_bytes()
    ops = graph_ops(model)
    from ai_edge_litert.interpreter import Interpreter

    shape = tuple(int(d) for d in Interpreter(model_content=model).get_input_details()[0]["shape"])
    x = calibration.load(job["calib"], shape)[:CALIB_ROWS].astype(np.float32)
    data = _calibration(model, x)
    reference = _outputs(model, x)
    mse = _validate_mse(model, data)
    rows = []
    for op in ops:
        int8, why = _one_layer(model, ops, op, "static_wi8_ai8", data, x, reference)
        int4 = None
        if op["op"] in WEIGHTED_OPS:
            int4, _ = _one_layer(model, ops, op, "weight_only_wi4_afp32", data, x, reference)
        rows.append({**op, "sqnr_int8_db": int8, "sqnr_int4w_db": int4, "error": why,
                     "full_int8_mse": next((mse[n] for n in op["outputs"] if n in mse), None)})
    out = Path(job["out"])
    mixed = []
    for kind in job.get("kinds", ["float"]):
        mixed += _family(model, ops, rows, kind, job, data, x, reference, out)
    return {"layers": rows, "mixed": mixed, "calib_rows": int(len(x))}


def ranking(rows: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """Layers most sensitive first, for a family: by int4-weight SQNR for int8-weights (weighted
    layers only), by int8 SQNR otherwise. A layer with identical outputs (None) cannot rank."""
    column = "sqnr_int4w_db" if kind == "int8-weights" else "sqnr_int8_db"
    return sorted((r for r in rows if r[column] is not None), key=lambda r: r[column])


def _family(model: bytes, ops: list[dict[str, Any]], rows: list[dict[str, Any]], kind: str, job: dict[str, Any],
            data: Any, x: np.ndarray, reference: np.ndarray, out: Path) -> list[dict[str, Any]]:
    base, prefix = KINDS[kind]
    from edgeq.quantize.aiq import RECIPES, with_legacy_op_codes

    ranked = ranking(rows, kind)
    made = []
    for k in job["ks"]:
        if k >= len(ranked):
            continue  # keeping every ranked layer is not mixed any more (it is the float or int8-weights model)
        keep = ranked[:k]
        chosen = [o for o in ops if any(o["index"] == r["index"] for r in keep)]
        name = f"{prefix}-k{k}"
        entry: dict[str, Any] = {"k": k, "kind": kind, "base": base, "name": name,
                                 "kept_layers": [r["index"] for r in keep]}
        try:
            _, result = quantized(model, RECIPES[base], chosen, data,
                                  bool(job.get("per_tensor_dense")) and base == "int8", kept_as=kind)
            data_out = with_legacy_op_codes(bytes(result.quantized_model))
        except Exception as exc:  # noqa: BLE001 - the refusal is the answer for this variant
            entry["error"] = f"ai-edge-quantizer refused it: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
            made.append(entry)
            continue
        path = out / f"{job['stem']}.{name}.tflite"
        path.write_bytes(data_out)
        made.append({**entry, "path": str(path), "size_bytes": len(data_out),
                     "sqnr_db": _sqnr(reference, _outputs(data_out, x))})
    return made
