"""The inputs a profile feeds every backend: fixed-seed data, or the user's .npy/.npz.

They are made on the host and shipped with the job, so the host keeps the exact
inputs it later checks outputs against.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from edgeq.errors import InputDataError
from edgeq.model.reader import ModelInfo, TensorSpec


INDEX_RANGE = 16
"""Plain (unquantized) int16/32/64 inputs are usually indices, token ids or counts: values in
[0, INDEX_RANGE) are valid for most; the whole int64 range overflows the first CAST or GATHER."""


def generate(spec: TensorSpec, rng: np.random.Generator) -> np.ndarray:
    """Data in the input's valid range: [-1, 1) for floats, the whole range for quantized integers and
    bytes, [0, INDEX_RANGE) for plain wider integers, False/True for bools."""
    dtype = np.dtype(spec.dtype)
    if dtype.kind == "f":
        return rng.uniform(-1.0, 1.0, size=spec.shape).astype(dtype)
    if dtype.kind in "iu" and spec.scale is None and dtype.itemsize > 1:
        return rng.integers(0, INDEX_RANGE, size=spec.shape, dtype=dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=spec.shape, endpoint=True, dtype=dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, size=spec.shape).astype(bool)
    raise InputDataError(f"input {spec.name!r}: cannot generate data of type {dtype.name}; pass --inputs")


def _check(spec: TensorSpec, array: np.ndarray, source: str) -> np.ndarray:
    if tuple(array.shape) != spec.shape:
        raise InputDataError(
            f"{source}: input {spec.name!r} needs shape {list(spec.shape)}, found {list(array.shape)}"
        )
    wanted = np.dtype(spec.dtype)
    if array.dtype != wanted:
        if not np.can_cast(array.dtype, wanted, casting="same_kind"):
            raise InputDataError(f"{source}: input {spec.name!r} needs {wanted.name}, found {array.dtype.name}")
        array = array.astype(wanted)
    return array


def _read(path: Path) -> dict[str, np.ndarray] | np.ndarray:
    try:
        loaded = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputDataError(f"{path}: no such input file") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise InputDataError(f"{path}: not a readable .npy/.npz file ({exc})") from None
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        return {name: loaded[name] for name in loaded.files}


def load_user(path: Path, model: ModelInfo) -> list[np.ndarray]:
    """A .npy feeds a one-input model; a .npz is matched by input name, else by order."""
    data = _read(path)
    if isinstance(data, np.ndarray):
        if len(model.inputs) != 1:
            raise InputDataError(f"{path}: a .npy holds one array but the model has {len(model.inputs)} inputs; use .npz")
        return [_check(model.inputs[0], data, str(path))]
    names = [spec.name for spec in model.inputs]
    if set(names) <= set(data):
        return [_check(spec, data[spec.name], str(path)) for spec in model.inputs]
    if len(data) != len(names):
        hint = "; labelled samples (x, y) go to --eval, --inputs takes one batch per input" if {"x", "y"} <= set(data) \
            else ""
        raise InputDataError(
            f"{path}: holds {len(data)} arrays ({', '.join(data)}) but the model has inputs {', '.join(names)}{hint}"
        )
    return [_check(spec, array, str(path)) for spec, array in zip(model.inputs, data.values())]


def make_inputs(model: ModelInfo, user_file: Path | None = None, seed: int = 0) -> list[np.ndarray]:
    if user_file is not None:
        return load_user(user_file, model)
    rng = np.random.default_rng(seed)
    return [generate(spec, rng) for spec in model.inputs]


def save(arrays: list[np.ndarray], path: Path) -> None:
    """Written in input order; the agent feeds them in that order."""
    np.savez(path, **{f"input_{i}": a for i, a in enumerate(arrays)})


def load_eval(path: Path, model: ModelInfo) -> tuple[np.ndarray, np.ndarray]:
    """Labelled data (.npz with `x` and `y`) in the model's input type, one sample per row.

    Float samples meet an integer input through the input's own scale and zero point,
    as the model would have been fed on the board.
    """
    data = _read(path)
    if isinstance(data, np.ndarray) or not {"x", "y"} <= set(data):
        raise InputDataError(f"{path}: evaluation data must be an .npz with arrays 'x' (samples) and 'y' (labels)")
    if len(model.inputs) != 1:
        raise InputDataError(f"{path}: --eval supports models with one input; this one has {len(model.inputs)}")
    spec, x, y = model.inputs[0], data["x"], data["y"].reshape(-1)
    if tuple(x.shape[1:]) != spec.shape[1:] or len(x) != len(y) or len(x) == 0:
        raise InputDataError(f"{path}: x must be [N, {', '.join(map(str, spec.shape[1:]))}] with one label per "
                             f"row in y; found x {list(x.shape)} and y {list(y.shape)}")
    wanted = np.dtype(spec.dtype)
    if wanted.kind in "iu" and x.dtype.kind == "f":
        if not spec.scale:
            raise InputDataError(f"{path}: float samples for an integer input without a quantization scale")
        info = np.iinfo(wanted)
        x = np.clip(np.round(x / spec.scale + spec.zero_point), info.min, info.max)
    return x.astype(wanted), y.astype(np.int64)
