"""Every profile's outputs checked against a reference computed on the host.

The reference is the float model when the user names one (`--reference`), else the
same model on the host's CPU with TFLite's reference kernels (XNNPACK off). A
backend that is fast and wrong, or that quietly ran something else, shows here.

The floors are set by what correct implementations differ by, measured on the zoo
models on every backend this host runs (docs/correctness.md has the rule and the
figures):
- same model, quantized outputs: compared in their integer domain. Correct kernels
  round differently (XNNPACK, the reference kernels, ArmNN, the GPU), and the
  differences carry through the layers, so a value off by 1 LSB is normal; a share
  of values off by more than 1 LSB, or a largest difference, above the floor is not.
  SQNR and cosine are shown beside them, without a floor: a softmax output whose
  values sit near zero loses SQNR to one rounding step (24.8 dB for a correct
  MobileNet) although no value is off by more than 2 LSB.
- same model, float outputs: relative error (largest error over the largest reference
  value) and cosine; GPUs may compute in fp16, so they get the fp16 floor.
- float reference: quantization error, judged by SQNR and cosine.
A bit-exact match is reported as such ("same model, bit-exact"), not as infinite dB.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edgeq.agent.records import BackendResult
from edgeq.agent.sections import Check, Correctness
from edgeq.model.reader import ModelInfo, TensorSpec, inspect_model

# Floors per (reference kind, output kind); see the module docstring and docs/correctness.md.
THRESHOLDS: dict[tuple[str, str], dict[str, float]] = {
    ("same-model", "float"): {"max_rel_error": 1e-4, "min_cosine": 0.99999},
    ("same-model", "quantized"): {"max_share_over_1_lsb": 0.05, "max_lsb": 8},
    # Integer inside, float at the ends (converter's float interface, dynamic range): the grid is not known
    # at the outputs, so a few steps of an 8-bit grid over the output's range.
    ("same-model", "quantized-float-io"): {"max_rel_error": 0.05, "min_cosine": 0.99},
    ("float-model", "float"): {"min_sqnr_db": 30.0, "min_cosine": 0.999},
    ("float-model", "quantized"): {"min_sqnr_db": 15.0, "min_cosine": 0.95},
}
# GPUs may compute in fp16 (LiteRT and the GPU delegate allow it by default).
GPU_ACCELERATORS = ("litert-gpu", "gpu-delegate")
GPU_FLOAT = {"max_rel_error": 5e-2, "min_cosine": 0.999}
WHY_SAME_MODEL = ("same model: each backend against this file on the host's reference kernels. It cannot see "
                  "quantization error, but it catches a runtime that computes something else (a wrong kernel, "
                  "a misread model, a broken delegate).")


def _dequantize(array: np.ndarray, spec: TensorSpec) -> np.ndarray:
    if not _quantized(spec):
        return array.astype(np.float64)
    return (array.astype(np.float64) - spec.zero_point) * spec.scale


def _quantized(spec: TensorSpec) -> bool:
    return spec.scale is not None and np.dtype(spec.dtype).kind in "iu"


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


def reference_outputs(model: Path, arrays: list[np.ndarray], signature: str | None = None) -> list[np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_path=str(model), num_threads=1,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    if signature:  # by name, sorted, as the board's SignatureSession feeds and reads them
        runner = interpreter.get_signature_runner(signature)
        got = runner(**dict(zip(sorted(runner.get_input_details()), arrays)))
        return [np.array(got[name]) for name in sorted(runner.get_output_details())]
    for detail, array in zip(interpreter.get_input_details(), arrays):
        if tuple(detail["shape"]) != tuple(array.shape):  # a dynamic dim given with --input-shape
            interpreter.resize_tensor_input(detail["index"], list(array.shape), strict=True)
    interpreter.allocate_tensors()
    for detail, array in zip(interpreter.get_input_details(), arrays):
        interpreter.set_tensor(detail["index"], array)
    interpreter.invoke()
    return [np.array(interpreter.get_tensor(d["index"])) for d in interpreter.get_output_details()]


def compare_outputs(reference: np.ndarray, got: np.ndarray) -> Check:
    """Float figures of `got` against `reference` (both dequantized): SQNR, cosine, errors, top-1."""
    ref, out = reference.astype(np.float64).ravel(), got.astype(np.float64).ravel()
    error = out - ref
    noise = float(np.sum(error**2))
    signal = float(np.sum(ref**2))
    norms = float(np.linalg.norm(ref) * np.linalg.norm(out))
    largest = float(np.max(np.abs(ref))) if ref.size else 0.0
    worst = float(np.max(np.abs(error))) if error.size else 0.0
    agree = None
    if reference.ndim >= 1 and reference.shape[-1] > 1:
        agree = bool(np.all(np.argmax(reference, axis=-1) == np.argmax(got, axis=-1)))
    return Check(
        max_abs_error=worst,
        rel_error=worst / largest if largest > 0 else (0.0 if worst == 0 else float("inf")),
        sqnr_db=float("inf") if noise == 0 else (10 * np.log10(signal / noise) if signal > 0 else float("-inf")),
        cosine=float(np.dot(ref, out) / norms) if norms > 0 else float(noise == 0),
        bit_exact=bool(noise == 0), top1_agree=agree)


def compare_lsb(reference: np.ndarray, got: np.ndarray, spec: TensorSpec) -> tuple[int, float]:
    """Integer-domain figures of a quantized output, the largest difference in LSB and the share of values off
    by more than 1: `reference` in float is put on the output's grid first."""
    info = np.iinfo(np.dtype(spec.dtype))
    grid = np.clip(np.round(reference.astype(np.float64) / spec.scale + spec.zero_point), info.min, info.max)
    diff = np.abs(got.astype(np.int64).ravel() - grid.astype(np.int64).ravel())
    return (int(diff.max()) if diff.size else 0), (float(np.mean(diff > 1)) if diff.size else 0.0)


def measure(reference: np.ndarray, got_raw: np.ndarray, spec: TensorSpec) -> Check:
    """Every figure of one output: float ones always, integer-domain ones when the output is quantized."""
    figures = compare_outputs(reference, _dequantize(got_raw, spec))
    if _quantized(spec):
        max_lsb, share = compare_lsb(reference, got_raw, spec)
        figures = replace(figures, max_lsb=max_lsb, share_over_1_lsb=share)
    return figures


def _judge(figures: Check, limits: dict[str, float]) -> list[str]:
    why = []
    if "min_sqnr_db" in limits and figures.sqnr_db < limits["min_sqnr_db"]:
        why.append(f"SQNR {figures.sqnr_db:.1f} dB < {limits['min_sqnr_db']:g} dB")
    if "min_cosine" in limits and figures.cosine < limits["min_cosine"]:
        why.append(f"cosine {figures.cosine:.5f} < {limits['min_cosine']:g}")
    if "max_rel_error" in limits and figures.rel_error > limits["max_rel_error"]:
        why.append(f"relative error {figures.rel_error:.2g} > {limits['max_rel_error']:g}")
    share, lsb = figures.share_over_1_lsb or 0, figures.max_lsb or 0
    if "max_share_over_1_lsb" in limits and share > limits["max_share_over_1_lsb"]:
        why.append(f"{100 * share:.1f}% of values off by > 1 LSB > {100 * limits['max_share_over_1_lsb']:g}%")
    if "max_lsb" in limits and lsb > limits["max_lsb"]:
        why.append(f"largest difference {lsb} LSB > {limits['max_lsb']:g} LSB")
    return why


def _worst(per_output: list[Check]) -> Check:
    """One figure set for a backend: each figure at its worst over the outputs."""
    def pick(name: str, how: Any) -> Any:
        values = [getattr(m, name) for m in per_output if getattr(m, name) is not None]
        return how(values) if values else None

    agree = [m.top1_agree for m in per_output if m.top1_agree is not None]
    return replace(min(per_output, key=lambda m: m.sqnr_db), cosine=pick("cosine", min),
                   rel_error=pick("rel_error", max), max_abs_error=pick("max_abs_error", max),
                   max_lsb=pick("max_lsb", max), share_over_1_lsb=pick("share_over_1_lsb", max),
                   bit_exact=all(m.bit_exact for m in per_output), top1_agree=all(agree) if agree else None)


def limits_for(kind: str, info: ModelInfo, entry: BackendResult | None = None) -> dict[str, float]:
    """The floors a backend's outputs are held to: by reference kind, output kind, and fp16 GPUs."""
    quantized_out = any(_quantized(s) for s in info.outputs)
    if kind == "float-model":
        return dict(THRESHOLDS[(kind, "quantized" if info.quantized else "float")])
    if quantized_out:
        return dict(THRESHOLDS[(kind, "quantized")])
    if info.quantized:
        return dict(THRESHOLDS[(kind, "quantized-float-io")])
    on_gpu = entry is not None and entry.info.accelerator in GPU_ACCELERATORS
    return dict(GPU_FLOAT if on_gpu else THRESHOLDS[(kind, "float")])


def check_run(info: ModelInfo, arrays: list[np.ndarray], backends: list[BackendResult], outputs_dir: Path,
              reference_model: Path | None = None, custom_ops: dict[str, Any] | None = None) -> Correctness:
    """The `correctness` section of result.json: figures, the floors applied, and a verdict per backend.

    custom_ops: the run's --custom-op-library (customops.CustomOps.as_dict), which the same-model
    reference then needs too."""
    kind = "float-model" if reference_model else "same-model"
    ref_info = inspect_model(reference_model) if reference_model else info
    fed = _requantize_inputs(arrays, info.inputs, ref_info.inputs) if reference_model else arrays
    runtime = "ai_edge_litert on the host, reference kernels"
    if custom_ops and not reference_model:
        from edgeq.profile import customops

        outputs = customops.reference_outputs(ref_info.path, fed, custom_ops)
        runtime = f"tflite_runtime on the host, reference kernels, with {Path(custom_ops['library']).name}"
    else:
        outputs = reference_outputs(ref_info.path, fed, None if reference_model else info.signature)
    expected = [_dequantize(a, s) for a, s in zip(outputs, ref_info.outputs)]
    checks: dict[str, Check] = {}
    for entry in backends:
        if not entry.ok or not entry.outputs:
            continue
        with np.load(outputs_dir / entry.outputs) as saved:
            per_output = [measure(r, saved[f"output_{i}"], spec)
                          for i, (r, spec) in enumerate(zip(expected, info.outputs))]
        worst = _worst(per_output)
        own = limits_for(kind, info, entry)
        why = _judge(worst, own)
        checks[entry.label] = replace(worst, passed=not why, why="; ".join(why) or None, thresholds=own)
    return Correctness(kind, str(ref_info.path), WHY_SAME_MODEL if kind == "same-model" else None, checks,
                       has_reference=True, reference_sha256=ref_info.sha256, reference_runtime=runtime,
                       thresholds=limits_for(kind, info))


def no_reference(error: BaseException, reference_model: Path | None) -> Correctness:
    """The section of a run whose reference could not be computed on the host: no verdicts, and why."""
    why = f"{type(error).__name__}: {' '.join(str(error).split())}"[:400]
    return Correctness("none", str(reference_model or ""), why, has_reference=True, why=why)


def mismatches(section: Correctness | dict[str, Any]) -> list[str]:
    """`label: why` for each backend whose outputs failed the check; a section as read from result.json is typed first."""
    typed = section if isinstance(section, Correctness) else Correctness.read(section)
    return [f"{label}: {check.why}" for label, check in typed.checks.items() if not check.passed]
