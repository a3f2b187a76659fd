"""The zoo's architectures, as functions from a weight generator (and options) to a Graph."""

from __future__ import annotations

import numpy as np

from edgeq.errors import ConfigError
from edgeq.zoo.graph import Graph

TINY_CNN_CLASSES = 10
IMAGENET_CLASSES = 1001  # index 0 is "background", as in the published MobileNets

MOBILENET_V1_ALPHAS = (0.25, 0.5, 0.75, 1.0)
MOBILENET_V1_RESOLUTIONS = (128, 160, 192, 224)
# (pointwise channels at alpha 1, depthwise stride) of the 13 separable blocks.
_MOBILENET_V1_BLOCKS = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)

# What LiteRT's GPU accelerators leave to the CPU: neither the classic GPU
# delegate nor the ML Drift (WebGPU/OpenCL) accelerator has a parser for it.
FALLBACK_OP = "L2_NORMALIZATION"


def tiny_cnn(rng: np.random.Generator, *, fallback: bool = False) -> Graph:
    """A 16x16 classifier that builds in milliseconds, for tests and smoke runs.

    With fallback, an L2_NORMALIZATION sits before the classifier so that a GPU
    run is only partly delegated.
    """
    g = Graph((1, 16, 16, 3), rng)
    x = g.conv2d(g.input, 8, kernel=3)
    x = g.depthwise_conv2d(x, kernel=3, stride=2)
    x = g.conv2d(x, 16, kernel=1)
    x = g.global_average_pool(x)
    x = g.reshape(x, (1, 16))
    if fallback:
        x = g.l2_normalization(x)
    x = g.fully_connected(x, TINY_CNN_CLASSES)
    g.softmax(x)
    return g


def mobilenet_v1(rng: np.random.Generator, *, alpha: float = 1.0, resolution: int = 224) -> Graph:
    """MobileNetV1 as published in TFLite form: batch norm folded, ReLU6 fused, 1x1 conv logits."""
    alpha = _choice(alpha, MOBILENET_V1_ALPHAS, "alpha", float)
    resolution = _choice(resolution, MOBILENET_V1_RESOLUTIONS, "resolution", int)
    g = Graph((1, resolution, resolution, 3), rng)
    x = g.conv2d(g.input, int(32 * alpha), kernel=3, stride=2)
    for channels, stride in _MOBILENET_V1_BLOCKS:
        x = g.depthwise_conv2d(x, kernel=3, stride=stride)
        x = g.conv2d(x, int(channels * alpha), kernel=1)
    x = g.global_average_pool(x)
    x = g.conv2d(x, IMAGENET_CLASSES, kernel=1, activation="none", batch_norm=False)
    x = g.reshape(x, (1, IMAGENET_CLASSES))
    g.softmax(x)
    return g


def _choice(value: object, choices: tuple, what: str, kind: type) -> float | int:
    """Accept a value from choices, also when it arrives as text from a CLI or YAML."""
    try:
        parsed = float(value)
    except (TypeError, ValueError):
        parsed = None
    if parsed not in choices:
        listed = ", ".join(str(c) for c in choices)
        raise ConfigError(f"{what} {value!r} is not supported. Choose from: {listed}")
    return kind(parsed)
