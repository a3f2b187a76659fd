"""Real TFLite models made without TensorFlow, for tests and benchmarks that need one.

The models have random but calibrated weights: they classify nothing useful,
yet they run the same kernels, with the same shapes, sizes and int8 parameters
as trained ones, so latency, memory and delegate coverage measured on them carry
over.  A seed fixes a model down to the byte.
"""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Callable

import numpy as np

from edgeq.errors import ConfigError
from edgeq.outpaths import make_folder
from edgeq.zoo.calibrate import activation_ranges, calibration_batch, fold_batch_norm
from edgeq.zoo.graph import Graph
from edgeq.zoo.keras_models import KERAS_MODELS, build_keras
from edgeq.zoo.models import FALLBACK_OP, mobilenet_v1, tiny_cnn
from edgeq.zoo.quantize import plan_activations
from edgeq.zoo.writer import SIGNATURE_KEY, serialize

__all__ = ["DTYPES", "FALLBACK_OP", "IO_TYPES", "KERAS_MODELS", "MODELS", "SIGNATURE_KEY", "build", "build_keras", "float_graph"]

ModelFactory = Callable[..., Graph]

MODELS: dict[str, ModelFactory] = {
    "tiny-cnn": tiny_cnn,
    "tiny-cnn-fallback": functools.partial(tiny_cnn, fallback=True),
    "mobilenet_v1": mobilenet_v1,
}
DTYPES = ("float32", "int8")
# Type of the model's input and output tensors; None means the model's dtype.
IO_TYPES = ("float", "int8")


def float_graph(name: str, *, seed: int = 0, **params: object) -> Graph:
    """The calibrated float graph behind a zoo model: its forward pass is the reference output."""
    graph, _ = _calibrated_graph(name, seed, params)
    return graph


def build(name: str, out: Path, *, dtype: str = "float32", seed: int = 0,
          io: str | None = None, **params: object) -> Path:
    """Write zoo model `name` to `out` as .tflite and return the path.

    int8 models are fully integer (int8 input and output) unless io="float",
    which adds QUANTIZE/DEQUANTIZE at the ends like the converter's float interface.
    """
    _check_choice(dtype, DTYPES, "dtype")
    if io is not None:
        _check_choice(io, IO_TYPES, "io")
        if io == "int8" and dtype != "int8":
            raise ConfigError("io 'int8' needs dtype int8")
    graph, batch = _calibrated_graph(name, seed, params)
    plan = plan_activations(graph, activation_ranges(graph, batch)) if dtype == "int8" else None
    description = _description(name, dtype, seed, {**params, **({"io": io} if io else {})})
    data = serialize(graph, description, plan, float_io=io == "float")
    out = Path(out)
    make_folder(out.parent, "out")
    out.write_bytes(data)
    return out


def _calibrated_graph(name: str, seed: int, params: dict[str, object]) -> tuple[Graph, np.ndarray]:
    _check_choice(name, tuple(MODELS), "zoo model")
    factory = MODELS[name]
    _check_params(name, factory, params)
    graph = factory(np.random.default_rng(seed), **params)
    batch = calibration_batch(graph.shape(graph.input), seed)
    fold_batch_norm(graph, batch)
    return graph, batch


def _check_choice(value: str, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise ConfigError(f"unknown {what} '{value}'. Choose from: {', '.join(choices)}")


def _check_params(name: str, factory: ModelFactory, params: dict[str, object]) -> None:
    accepted = [p for p in inspect.signature(factory).parameters.values()
                if p.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(params) - {p.name for p in accepted})
    if unknown:
        takes = ", ".join(p.name for p in accepted) or "no parameters"
        raise ConfigError(f"zoo model '{name}' has no parameter {', '.join(unknown)}. It takes: {takes}")


def _description(name: str, dtype: str, seed: int, options: dict[str, object]) -> str:
    listed = "".join(f" {key}={options[key]}" for key in sorted(options))
    return f"edgeq zoo {name}{listed} {dtype} seed={seed}"
