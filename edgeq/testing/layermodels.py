"""Small float graphs for the per-layer mapping of ArmNN's profile onto TFLite nodes (advise/nodemap.py):
not in the odd-model corpus, built the same way (edgeq/testing/oddmodels.py's builders)."""

from __future__ import annotations

import numpy as np

from edgeq.testing.oddmodels import _conv_options, _Graph, _Model, _Op, _rng, schema


def _conv(g: _Graph, name: str, source: int, shape: list[int], kernel: int, relu: bool) -> int:
    """A float CONV_2D (SAME, stride 1) from `source` (NHWC `shape`) to `shape[:3] + [out]`, ReLU fused or not."""
    cout, cin = shape[3], g.tensors[source].shape[3]
    w = g.const(f"{name}/weights", (0.3 * _rng().standard_normal((cout, kernel, kernel, cin))).astype(np.float32))
    b = g.const(f"{name}/bias", np.full(cout, 0.1, np.float32))
    y = g.tensor(name, shape, np.float32)
    kind, options = _conv_options()
    options.fusedActivationFunction = schema.ActivationFunctionType.RELU if relu else 0
    g.op(_Op.CONV_2D, [source, w, b], [y], (kind, options))
    return y


def residual_concat() -> bytearray:
    """A branched graph (not in the corpus: for the per-layer mapping): a stem convolution feeds a
    residual ADD (stem + a 3x3 convolution, ReLU fused) and a light 1x1 branch; CONCATENATION joins them."""
    m = _Model()
    g = _Graph(m, "main")
    x = g.tensor("image", [1, 16, 16, 3], np.float32)
    stem = _conv(g, "stem", x, [1, 16, 16, 8], 3, True)
    heavy = _conv(g, "residual/conv3x3", stem, [1, 16, 16, 8], 3, True)
    light = _conv(g, "side/conv1x1", stem, [1, 16, 16, 2], 1, False)
    added = g.tensor("residual/add", [1, 16, 16, 8], np.float32)
    g.op(_Op.ADD, [stem, heavy], [added], (schema.BuiltinOptions.AddOptions,
                                           schema.AddOptionsT(fusedActivationFunction=schema.ActivationFunctionType.RELU)))
    joined = g.tensor("joined", [1, 16, 16, 10], np.float32)
    g.op(_Op.CONCATENATION, [added, light], [joined], (schema.BuiltinOptions.ConcatenationOptions,
                                                       schema.ConcatenationOptionsT(axis=3)))
    m.add(g, {"image": x}, {"joined": joined}, "serving_default")
    return m.bytes("branched: residual ADD and a two-branch CONCATENATION")


def conv_chain() -> bytearray:
    """Two convolutions in a chain, the first with a fused ReLU (not in the corpus: for the per-layer mapping)."""
    m = _Model()
    g = _Graph(m, "main")
    x = g.tensor("image", [1, 16, 16, 3], np.float32)
    y = _conv(g, "second", _conv(g, "first", x, [1, 16, 16, 8], 3, True), [1, 16, 16, 4], 3, False)
    m.add(g, {"image": x}, {"second": y}, "serving_default")
    return m.bytes("chain: two convolutions")


def dense_on_image() -> bytearray:
    """ADD of a constant tensor, then FULLY_CONNECTED (ReLU6 fused) on the 4-D sum: ArmNN adds a layer
    for the constant and a Reshape before the dense layer (not in the corpus: for the per-layer mapping)."""
    m = _Model()
    g = _Graph(m, "main")
    x = g.tensor("image", [1, 4, 4, 2], np.float32)
    offset = g.const("offset", np.full((1, 4, 4, 2), 0.5, np.float32))
    shifted = g.tensor("shifted", [1, 4, 4, 2], np.float32)
    g.op(_Op.ADD, [x, offset], [shifted], (schema.BuiltinOptions.AddOptions, schema.AddOptionsT()))
    w = g.const("dense/weights", (0.2 * _rng().standard_normal((3, 32))).astype(np.float32))
    b = g.const("dense/bias", np.zeros(3, np.float32))
    y = g.tensor("logits", [1, 3], np.float32)
    g.op(_Op.FULLY_CONNECTED, [shifted, w, b], [y], (schema.BuiltinOptions.FullyConnectedOptions,
                                                     schema.FullyConnectedOptionsT(
                                                         fusedActivationFunction=schema.ActivationFunctionType.RELU6)))
    m.add(g, {"image": x}, {"logits": y}, "serving_default")
    return m.bytes("dense on an image")
