"""Make randomly initialised weights behave like trained ones, and measure activation ranges.

Random He-initialised weights let the activation scale drift layer after layer;
thirty layers into MobileNet the signal has either vanished or exploded, every
class gets the same probability and int8 scales are meaningless.  Re-estimating
the batch-norm statistics on a calibration batch (what BN does in training, then
folded into weights and biases) pins each layer's output to a unit spread.
"""

from __future__ import annotations

import numpy as np

from edgeq.zoo.graph import Graph, Node, activate, pre_activation

# Spread given to the logits of layers without batch norm (the classifiers):
# wide enough that softmax has a clear winner, so top-1 comparisons mean something.
LOGIT_STD = 3.0

# Channels whose output barely moves on the calibration batch are left unscaled
# rather than blown up by dividing by almost zero.
_MIN_STD = 1e-3


def calibration_batch(shape: tuple[int, ...], seed: int, size: int = 4) -> np.ndarray:
    """Inputs uniform in [-1, 1], the range MobileNet's preprocessing produces."""
    rng = np.random.default_rng([seed, 1])
    return rng.uniform(-1.0, 1.0, size=(size, *shape[1:])).astype(np.float32)


def fold_batch_norm(graph: Graph, batch: np.ndarray) -> None:
    """Rescale every weighted layer in place, front to back, on one batch."""
    values: list[np.ndarray] = [batch]
    for node in graph.nodes[1:]:
        inputs = [values[i] for i in node.inputs]
        y = pre_activation(node, inputs)
        if node.has_weights:
            y = _normalize(node, y)
        values.append(activate(node, y))


def activation_ranges(graph: Graph, batch: np.ndarray) -> list[tuple[float, float]]:
    """(min, max) of every node's output, the input included, over the batch."""
    return [(float(v.min()), float(v.max())) for v in graph.forward(batch)]


def _normalize(node: Node, y: np.ndarray) -> np.ndarray:
    """Fold new statistics into the node's weights and return its rescaled output."""
    if node.batch_norm:
        beta = node.bias
        z = (y - beta).reshape(-1, y.shape[-1])
        mean, std = z.mean(axis=0), z.std(axis=0)
        gain = np.where(std > _MIN_STD, 1.0 / np.maximum(std, _MIN_STD), 1.0).astype(np.float32)
        node.weights = node.weights * _per_output_channel(node, gain)
        node.bias = (beta - mean * gain).astype(np.float32)
        return (y - beta - mean) * gain + beta
    gain = np.float32(LOGIT_STD / max(float(y.std()), _MIN_STD))
    node.weights = node.weights * gain
    node.bias = node.bias * gain
    return y * gain


def _per_output_channel(node: Node, gain: np.ndarray) -> np.ndarray:
    """Broadcast a per-channel factor over the weight layout of this op."""
    if node.op == "depthwise_conv2d":
        return gain  # 1HWC: output channels are the last axis
    return gain.reshape(-1, *([1] * (node.weights.ndim - 1)))  # OHWI / (out, in)
