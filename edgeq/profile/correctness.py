"""Every profile's outputs checked against a reference computed on the host.

The reference is the float model when the user names one (`--reference`), else the
same model on the host's CPU with TFLite's reference kernels (XNNPACK off). A
backend that is fast and wrong, or that quietly ran something else, shows here.
Quantized outputs are dequantized before comparing; thresholds depend on what is
compared with what (section `correctness`, schema wire.CORRECTNESS).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeq.agent.wire import CORRECTNESS
from edgeq.model.reader import ModelInfo, TensorSpec, inspect_model

SCHEMA = CORRECTNESS.tag
# (reference kind, model kind) -> thresholds. Same model: runtimes may differ by summation
# order (float) or by one or two rounding steps (integer). Float reference: quantization error.
THRESHOLDS: dict[tuple[str, str], dict[str, float]] = {
    ("same-model", "float"): {"min_sqnr_db": 60.0, "max_abs_error": 1e-3},
    ("same-model", "quantized"): {"min_sqnr_db": 25.0, "max_steps": 2.0},
    ("float-model", "float"): {"min_sqnr_db": 30.0},
    ("float-model", "quantized"): {"min_sqnr_db": 15.0},
}
# GPUs may compute in fp16 (LiteRT and the GPU delegate allow it by default).
GPU_ACCELERATORS = ("litert-gpu", "gpu-delegate")
GPU_FLOAT = {"min_sqnr_db": 40.0, "max_abs_error": 1e-2}


def _dequantize(array: np.ndarray, spec: TensorSpec) -> np.ndarray:
    if spec.scale is None or np.dtype(spec.dtype).kind == "f":
        return array.astype(np.float64)
    return (array.astype(np.float64) - spec.zero_point) * spec.scale


def _requantize_inputs(arrays: list[np.ndarray], specs: tuple[TensorSpec, ...],
                       ref_specs: tuple[TensorSpec, ...]) -> list[np.ndarray]:
    """Feed a float reference the same values the quantized model was fed."""
    fed = []
    for array, spec, ref in zip(arrays, specs, ref_specs):
        values = _dequantize(array, spec)
        wanted = np.dtype(ref.dtype)
        if wanted.kind in "iu" and ref.scale:
            info = np.iinfo(wanted)
            values = np.clip(np.round(values / ref.scale + ref.zero_point), info.min, info.max)
        fed.append(values.astype(wanted))
    return fed


def reference_outputs(model: Path, arrays: list[np.ndarray]) -> list[np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_path=str(model), num_threads=1,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    for detail, array in zip(interpreter.get_input_details(), arrays):
        interpreter.set_tensor(detail["index"], array)
    interpreter.invoke()
    return [np.array(interpreter.get_tensor(d["index"])) for d in interpreter.get_output_details()]


def compare(reference: np.ndarray, got: np.ndarray) -> dict[str, Any]:
    ref, out = reference.astype(np.float64).ravel(), got.astype(np.float64).ravel()
    error = out - ref
    noise = float(np.sum(error**2))
    signal = float(np.sum(ref**2))
    norms = float(np.linalg.norm(ref) * np.linalg.norm(out))
    metrics: dict[str, Any] = {
        "max_abs_error": float(np.max(np.abs(error))) if error.size else 0.0,
        "sqnr_db": float("inf") if noise == 0 else (10 * np.log10(signal / noise) if signal > 0 else float("-inf")),
        "cosine": float(np.dot(ref, out) / norms) if norms > 0 else float(noise == 0),
    }
    if reference.ndim >= 1 and reference.shape[-1] > 1:
        metrics["top1_agree"] = bool(np.all(np.argmax(reference, axis=-1) == np.argmax(got, axis=-1)))
    return metrics


def _judge(metrics: dict[str, Any], limits: dict[str, float], step: float | None) -> list[str]:
    why = []
    if metrics["sqnr_db"] < limits["min_sqnr_db"]:
        why.append(f"SQNR {metrics['sqnr_db']:.1f} dB < {limits['min_sqnr_db']:g} dB")
    if "max_abs_error" in limits and metrics["max_abs_error"] > limits["max_abs_error"]:
        why.append(f"max abs error {metrics['max_abs_error']:.3g} > {limits['max_abs_error']:g}")
    if "max_steps" in limits and step and metrics["max_abs_error"] > limits["max_steps"] * step + 1e-12:
        why.append(f"max abs error {metrics['max_abs_error'] / step:.1f} quantization steps > {limits['max_steps']:g}")
    return why


def check_run(info: ModelInfo, arrays: list[np.ndarray], backends: list[dict[str, Any]], outputs_dir: Path,
              reference_model: Path | None = None) -> dict[str, Any]:
    """The `correctness` section of result.json: metrics and a verdict per backend."""
    kind = "float-model" if reference_model else "same-model"
    ref_info = inspect_model(reference_model) if reference_model else info
    fed = _requantize_inputs(arrays, info.inputs, ref_info.inputs) if reference_model else arrays
    expected = [_dequantize(a, s) for a, s in zip(reference_outputs(ref_info.path, fed), ref_info.outputs)]
    limits = THRESHOLDS[(kind, "quantized" if info.quantized else "float")]
    section: dict[str, Any] = {
        "schema": SCHEMA,
        "reference": {"kind": kind, "model": str(ref_info.path), "sha256": ref_info.sha256,
                      "runtime": "ai_edge_litert on the host, reference kernels"},
        "thresholds": limits,
        "backends": {},
    }
    for entry in backends:
        if entry.get("status") != "ok" or not entry.get("outputs"):
            continue
        with np.load(outputs_dir / entry["outputs"]) as saved:
            got = [_dequantize(saved[f"output_{i}"], spec) for i, spec in enumerate(info.outputs)]
        per_output = [compare(r, g) for r, g in zip(expected, got)]
        worst = min(per_output, key=lambda m: m["sqnr_db"])
        steps = [s.scale for s in info.outputs if s.scale]
        own = limits
        if (entry.get("info") or {}).get("accelerator") in GPU_ACCELERATORS and limits.get("min_sqnr_db", 0) > 40:
            own = dict(limits, **GPU_FLOAT)
        why = _judge(worst, own, max(steps) if steps else None)
        section["backends"][entry["label"]] = dict(worst, passed=not why, why="; ".join(why) or None,
                                                   thresholds=own)
    return section


def mismatches(section: dict[str, Any]) -> list[str]:
    return [f"{label}: {verdict['why']}" for label, verdict in section["backends"].items() if not verdict["passed"]]
