"""A feed-forward graph of TFLite-shaped ops, with the numpy forward pass that defines it.

The numpy pass is the ground truth twice over: it calibrates the weights and
activation ranges before anything is written, and it is the reference the
written .tflite file must reproduce.  So every kernel here follows the TFLite
conventions exactly: NHWC activations, OHWI conv filters, 1HWC depthwise
filters, (out, in) fully connected weights and TFLite's SAME padding, which puts
the odd padding row/column at the bottom/right.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np

Activation = Literal["none", "relu", "relu6"]

# TFLite clamps an L2 norm from below by this before dividing.
L2_NORM_EPSILON = 1e-6


@dataclass
class Node:
    """One op and the tensor it produces; graph inputs are nodes too (op "input")."""

    op: str
    name: str
    inputs: tuple[int, ...]
    shape: tuple[int, ...]
    activation: Activation = "none"
    stride: int = 1
    weights: np.ndarray | None = None
    bias: np.ndarray | None = None
    # A folded batch norm follows this layer; calibration re-estimates its statistics.
    batch_norm: bool = False

    @property
    def has_weights(self) -> bool:
        return self.weights is not None


class Graph:
    """A single-input, single-output graph with batch size 1, built op by op.

    Builder methods take and return node indices.  Weights are drawn from the
    generator as layers are added, so a seed fixes the whole model.
    """

    def __init__(self, input_shape: tuple[int, ...], rng: np.random.Generator) -> None:
        self.nodes: list[Node] = [Node("input", "input", (), tuple(input_shape))]
        self._rng = rng

    @property
    def input(self) -> int:
        return 0

    @property
    def output(self) -> int:
        return len(self.nodes) - 1

    def shape(self, x: int) -> tuple[int, ...]:
        return self.nodes[x].shape

    def conv2d(self, x: int, filters: int, kernel: int, stride: int = 1, *,
               activation: Activation = "relu6", batch_norm: bool = True) -> int:
        _, h, w, c = self.shape(x)
        weights = self._he_normal((filters, kernel, kernel, c), fan_in=kernel * kernel * c)
        shape = (1, _same_size(h, stride), _same_size(w, stride), filters)
        return self._add("conv2d", (x,), shape, activation=activation, stride=stride,
                         weights=weights, bias=self._initial_bias(filters, batch_norm),
                         batch_norm=batch_norm)

    def depthwise_conv2d(self, x: int, kernel: int, stride: int = 1, *,
                         activation: Activation = "relu6") -> int:
        _, h, w, c = self.shape(x)
        weights = self._he_normal((1, kernel, kernel, c), fan_in=kernel * kernel)
        shape = (1, _same_size(h, stride), _same_size(w, stride), c)
        return self._add("depthwise_conv2d", (x,), shape, activation=activation, stride=stride,
                         weights=weights, bias=self._initial_bias(c, True), batch_norm=True)

    def global_average_pool(self, x: int) -> int:
        """An AVERAGE_POOL_2D whose window is the whole feature map, as in MobileNet."""
        return self._add("average_pool", (x,), (1, 1, 1, self.shape(x)[-1]))

    def reshape(self, x: int, shape: tuple[int, ...]) -> int:
        if np.prod(shape) != np.prod(self.shape(x)):
            raise ValueError(f"cannot reshape {self.shape(x)} to {shape}")
        return self._add("reshape", (x,), tuple(shape))

    def fully_connected(self, x: int, units: int, *, activation: Activation = "none",
                        batch_norm: bool = False) -> int:
        features = self.shape(x)[-1]
        weights = self._he_normal((units, features), fan_in=features)
        return self._add("fully_connected", (x,), (1, units), activation=activation,
                         weights=weights, bias=self._initial_bias(units, batch_norm),
                         batch_norm=batch_norm)

    def add(self, a: int, b: int, *, activation: Activation = "none") -> int:
        if self.shape(a) != self.shape(b):
            raise ValueError(f"ADD needs equal shapes, got {self.shape(a)} and {self.shape(b)}")
        return self._add("add", (a, b), self.shape(a), activation=activation)

    def l2_normalization(self, x: int) -> int:
        return self._add("l2_normalization", (x,), self.shape(x))

    def softmax(self, x: int) -> int:
        return self._add("softmax", (x,), self.shape(x))

    def forward(self, batch: np.ndarray) -> list[np.ndarray]:
        """Every node's output for a batch stacked along axis 0 (the model itself has batch 1)."""
        values: list[np.ndarray] = [np.asarray(batch, np.float32)]
        for node in self.nodes[1:]:
            values.append(evaluate(node, [values[i] for i in node.inputs]))
        return values

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self.forward(batch)[-1]

    def _add(self, op: str, inputs: tuple[int, ...], shape: tuple[int, ...], **fields) -> int:
        self.nodes.append(Node(op, f"{op}_{len(self.nodes)}", inputs, shape, **fields))
        return self.output

    def _he_normal(self, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        return (self._rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    def _initial_bias(self, channels: int, batch_norm: bool) -> np.ndarray:
        # Behind a batch norm the bias is the BN offset (beta).  A clearly positive
        # mean keeps most units in ReLU6's linear range.  Centred betas make the
        # random network chaotic: int8 rounding noise is amplified layer after
        # layer, and MobileNet's int8 probabilities end up 0.15-0.6 off instead
        # of 0.01-0.04.
        mean = 1.5 if batch_norm else 0.0
        return (mean + 0.25 * self._rng.standard_normal(channels)).astype(np.float32)


def _same_size(size: int, stride: int) -> int:
    return -(-size // stride)


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    total = max((_same_size(size, stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _patches(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """SAME-padded sliding windows, shaped (N, out_h, out_w, kernel*kernel, C)."""
    _, h, w, _ = x.shape
    padded = np.pad(x, ((0, 0), _same_padding(h, kernel, stride),
                        _same_padding(w, kernel, stride), (0, 0)))
    out_h, out_w = _same_size(h, stride), _same_size(w, stride)
    windows = [padded[:, i:i + stride * out_h:stride, j:j + stride * out_w:stride, :]
               for i in range(kernel) for j in range(kernel)]
    return np.stack(windows, axis=3)


def _conv2d(node: Node, x: np.ndarray) -> np.ndarray:
    filters, kernel, _, channels = node.weights.shape
    if kernel == 1 and node.stride == 1:
        return x @ node.weights.reshape(filters, channels).T + node.bias
    cols = _patches(x, kernel, node.stride)
    cols = cols.reshape(*cols.shape[:3], kernel * kernel * channels)
    return cols @ node.weights.reshape(filters, -1).T + node.bias


def _depthwise_conv2d(node: Node, x: np.ndarray) -> np.ndarray:
    _, kernel, _, channels = node.weights.shape
    cols = _patches(x, kernel, node.stride)
    return np.einsum("nhwkc,kc->nhwc", cols, node.weights.reshape(kernel * kernel, channels),
                     optimize=True) + node.bias


def _l2_normalization(x: np.ndarray) -> np.ndarray:
    norm = np.sqrt(np.sum(np.square(x), axis=-1, keepdims=True))
    return x / np.maximum(norm, L2_NORM_EPSILON)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


_KERNELS: dict[str, Callable[..., np.ndarray]] = {
    "conv2d": _conv2d,
    "depthwise_conv2d": _depthwise_conv2d,
    "average_pool": lambda node, x: x.mean(axis=(1, 2), keepdims=True),
    "reshape": lambda node, x: x.reshape(len(x), *node.shape[1:]),
    "fully_connected": lambda node, x: x @ node.weights.T + node.bias,
    "add": lambda node, a, b: a + b,
    "l2_normalization": lambda node, x: _l2_normalization(x),
    "softmax": lambda node, x: _softmax(x),
}

_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none": lambda y: y,
    "relu": lambda y: np.maximum(y, 0.0),
    "relu6": lambda y: np.clip(y, 0.0, 6.0),
}


def pre_activation(node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    """The op's output before its fused activation, in float32."""
    return _KERNELS[node.op](node, *inputs).astype(np.float32, copy=False)


def activate(node: Node, y: np.ndarray) -> np.ndarray:
    return _ACTIVATIONS[node.activation](y)


def evaluate(node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    return activate(node, pre_activation(node, inputs))
