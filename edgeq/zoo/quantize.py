"""Post-training int8 quantization with the TFLite converter's conventions.

Weights are symmetric (zero point 0, values in [-127, 127]), per output channel
for convolutions and per tensor for fully connected layers; biases are int32
with scale input_scale * weight_scale so the kernels can add them to the
accumulator directly; activations are asymmetric int8 from calibrated ranges.
Ops that only move data (pooling, reshape) must keep their input's parameters:
the int8 kernels check it instead of requantizing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeq.zoo.graph import Graph, Node

INT8_MIN, INT8_MAX = -128, 127


@dataclass(frozen=True)
class QParams:
    """Per-tensor affine parameters: real = scale * (q - zero_point)."""

    scale: float
    zero_point: int


# Outputs whose range the int8 kernels fix regardless of the data.
FIXED_OUTPUT_QPARAMS: dict[str, QParams] = {
    "softmax": QParams(1.0 / 256.0, -128),
    "l2_normalization": QParams(1.0 / 128.0, 0),
}
_SAME_AS_INPUT = frozenset({"average_pool", "reshape"})


@dataclass(frozen=True)
class QuantizedConstant:
    """Integer weights or biases, symmetric: one scale per slice along axis (or one in all)."""

    values: np.ndarray
    scales: np.ndarray
    axis: int


def activation_qparams(low: float, high: float) -> QParams:
    """Asymmetric int8 parameters that cover [low, high] and represent 0.0 exactly."""
    low, high = min(low, 0.0), max(high, 0.0)
    # The file stores float32 scales: derive the zero point from the stored value.
    scale = float(np.float32((high - low) / (INT8_MAX - INT8_MIN) or 1.0))
    zero_point = int(np.clip(round(INT8_MIN - low / scale), INT8_MIN, INT8_MAX))
    return QParams(scale, zero_point)


def plan_activations(graph: Graph, ranges: list[tuple[float, float]]) -> list[QParams]:
    """Quantization parameters of every node's output tensor, in node order."""
    plan: list[QParams] = []
    for node, (low, high) in zip(graph.nodes, ranges):
        if node.op in FIXED_OUTPUT_QPARAMS:
            plan.append(FIXED_OUTPUT_QPARAMS[node.op])
        elif node.op in _SAME_AS_INPUT:
            plan.append(plan[node.inputs[0]])
        else:
            plan.append(activation_qparams(low, high))
    return plan


def quantize_weights(node: Node) -> QuantizedConstant:
    """Symmetric int8 weights: per channel along the output axis of convolutions."""
    if node.op == "fully_connected":
        return _symmetric(node.weights, axis=None)
    axis = 3 if node.op == "depthwise_conv2d" else 0
    return _symmetric(node.weights, axis=axis)


def quantize_bias(bias: np.ndarray, input_scale: float, weight_scales: np.ndarray) -> QuantizedConstant:
    scales = (np.float32(input_scale) * weight_scales).astype(np.float32)
    values = np.round(bias / scales).clip(np.iinfo(np.int32).min, np.iinfo(np.int32).max)
    return QuantizedConstant(values.astype(np.int32), scales, axis=0)


def _symmetric(weights: np.ndarray, axis: int | None) -> QuantizedConstant:
    magnitude = np.abs(weights)
    if axis is None:
        peak = magnitude.max().reshape(1)
    else:
        peak = magnitude.max(axis=tuple(i for i in range(weights.ndim) if i != axis))
    scales = np.where(peak > 0, peak / INT8_MAX, 1.0).astype(np.float32)
    layout = [1] * weights.ndim
    if axis is not None:
        layout[axis] = -1
    values = np.round(weights / scales.reshape(layout)).clip(-INT8_MAX, INT8_MAX)
    return QuantizedConstant(values.astype(np.int8), scales, axis=axis or 0)
