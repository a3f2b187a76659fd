"""Input shapes of models with dynamic dims: `--input-shape NAME=1,224,224,3`, or the model's defaults.

Converters mark a dynamic dim with -1 in a tensor's shape signature and store a default
(usually 1) in its shape; that default is what runs when the user says nothing, and the
run says so. A dim with no usable default (0 or -1 in the shape itself) needs the
user's value. Only dynamic dims may be changed: a fixed dim is the model's own.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from edgeq.errors import ConfigError, ModelError
from edgeq.model.reader import ModelInfo, TensorSpec

MAX_INPUT_BYTES = 1 << 30
"""Generated inputs above this are refused: a damaged or mistyped shape must not eat the host's memory."""


def parse(texts: list[str] | None) -> dict[str, tuple[int, ...]]:
    """`NAME=1,224,224,3` (repeatable) -> {NAME: shape}."""
    shapes: dict[str, tuple[int, ...]] = {}
    for text in texts or []:
        name, sep, dims = text.rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.split(",") if d.strip())
        except ValueError:
            shape = ()
        if not sep or not name or not shape or any(d < 1 for d in shape):
            raise ConfigError(f"--input-shape {text!r}: expected NAME=1,224,224,3 (positive dims)")
        shapes[name] = shape
    return shapes


def _fit(spec: TensorSpec, wanted: tuple[int, ...], said: str) -> TensorSpec:
    """`said`: the input's name as the user knows it (the signature's, which `edgeq inspect` shows)."""
    if len(wanted) != len(spec.shape):
        raise ModelError(f"--input-shape {said}: the input has {len(spec.shape)} dims, not {len(wanted)}")
    for axis, (have, want) in enumerate(zip(spec.shape, wanted)):
        if axis not in spec.dynamic_dims and have != want:
            raise ModelError(f"--input-shape {said}: dim {axis} is fixed at {have} by the model, not {want}")
    return dataclasses.replace(spec, shape=wanted)


def _signed(info: ModelInfo) -> dict[str, str]:
    """{signature name: graph tensor name} of the inputs named otherwise in the graph. `edgeq inspect`
    shows the signature's names (what Keras called the input); a user copies either."""
    names = [spec.name for spec in info.inputs]
    return {t.name: t.tensor for s in (info.card.signatures[:1] if info.card else ()) for t in s.inputs
            if t.tensor in names and t.name not in names}


def resolve(info: ModelInfo, given: dict[str, tuple[int, ...]]) -> tuple[ModelInfo, list[str]]:
    """The model with concrete input shapes, and notes on the defaults taken; ModelError if it cannot be."""
    names = [spec.name for spec in info.inputs]
    signed = _signed(info)
    given = {signed.get(name, name): shape for name, shape in given.items()}
    unknown = sorted(set(given) - set(names))
    if unknown:
        shown = [name + "".join(f" (or {alias})" for alias, tensor in signed.items() if tensor == name)
                 for name in names]
        raise ModelError(f"--input-shape {unknown[0]}: the model has no such input; inputs: {', '.join(shown)}")
    called = {tensor: alias for alias, tensor in signed.items()}  # the name inspect showed, in what we say
    specs, notes = [], []
    for spec in info.inputs:
        said = called.get(spec.name, spec.name)
        if spec.name in given:
            spec = _fit(spec, given[spec.name], said)
        elif any(d < 1 for d in spec.shape):
            shown = ",".join("?" if d < 1 else str(d) for d in spec.shape)
            raise ModelError(f"{info.path}: input {said} has dims the model leaves open [{shown}]; "
                             f"give them with --input-shape {said}=" + ",".join(
                                 "1" if d < 1 else str(d) for d in spec.shape))
        elif spec.dynamic_dims:
            notes.append(f"input {said} is dynamic in dims {list(spec.dynamic_dims)}; profiled with the "
                         f"model's default shape {list(spec.shape)} (--input-shape {said}=... for another)")
        size = int(np.prod(spec.shape, dtype=np.float64)) * np.dtype(spec.dtype).itemsize
        if size > MAX_INPUT_BYTES:
            raise ModelError(f"{info.path}: input {spec.name} of shape {list(spec.shape)} would need "
                             f"{size / 2**30:.1f} GiB; edgeq generates at most {MAX_INPUT_BYTES >> 30} GiB")
        specs.append(spec)
    return dataclasses.replace(info, inputs=tuple(specs)), notes


def reshaped(info: ModelInfo, original: ModelInfo) -> list[str]:
    """Inputs whose shape differs from the one stored in the model."""
    called = {tensor: alias for alias, tensor in _signed(original).items()}
    return [f"{called.get(a.name, a.name)} {list(a.shape)}" for a, b in zip(info.inputs, original.inputs)
            if a.shape != b.shape]


def signature_view(info: ModelInfo, key: str) -> ModelInfo:
    """The model as its signature `key` takes and gives it (`--signature`): tensors by signature name,
    sorted by name as the Interpreter's SignatureRunner lists them."""
    from edgeq.model.card import TensorCard

    signature = info.card.signature(key)

    def spec(t: TensorCard) -> TensorSpec:
        if t.dtype == "string":
            raise ModelError(f"{info.path}: signature {key}: tensor {t.name!r} holds strings; edgeq feeds numbers only")
        scale, zero = (t.scales[0], t.zero_points[0] if t.zero_points else 0) if len(t.scales) == 1 else (None, None)
        stored = t.stored if len(t.stored) == len(t.shape) else tuple(max(d, 1) for d in t.shape)
        return TensorSpec(t.name, stored, t.dtype, scale, zero, tuple(i for i, d in enumerate(t.shape) if d < 0))

    return dataclasses.replace(info, inputs=tuple(spec(t) for t in sorted(signature.inputs, key=lambda t: t.name)),
                               outputs=tuple(spec(t) for t in sorted(signature.outputs, key=lambda t: t.name)),
                               signature=key)
