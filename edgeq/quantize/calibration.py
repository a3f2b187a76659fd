"""Calibration, training and evaluation data: .npy/.npz arrays or a folder of images.

Loading happens where the model's input shape is known (the worker for Keras and
SavedModel sources), so image folders are resized to the model's input there.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np

from edgeq.errors import ConfigError, InputDataError

RANDOM = "random"
RANDOM_SAMPLES = 32
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm")


class CalibrationWarning(UserWarning):
    """Calibration data that gives int8 ranges with no meaning (random data)."""


def check_spec(calib: str | None) -> None:
    """Fail early, in the host, on a calibration source that does not exist."""
    if calib is None or calib == RANDOM:
        return
    path = Path(calib)
    if not path.exists():
        raise ConfigError(f"calibration data {calib}: no such file or folder (give .npy, .npz, an image folder or 'random')")
    if path.is_file() and path.suffix not in (".npy", ".npz"):
        raise ConfigError(f"calibration data {calib}: unknown type '{path.suffix}'. Choose from: .npy, .npz, an image folder, random")


def warn_random() -> None:
    warnings.warn("calibrating on random data: int8 ranges from random data are not meaningful; "
                  "pass real samples (--calib DATA) for a variant you mean to ship", CalibrationWarning, stacklevel=3)


def digest(array: np.ndarray) -> str:
    """sha256 of what the engine was fed (dtype, shape and values), so a sidecar names it exactly."""
    h = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


def load(calib: str, input_shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Samples shaped like the model's input without its batch axis, as float32."""
    sample_shape = tuple(input_shape[1:])
    open_dims = any(d is None or d < 0 for d in sample_shape)  # a Keras Input((None, 3)): any length fits
    dims = ["?" if d is None or d < 0 else str(d) for d in sample_shape]
    shown = f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"
    if open_dims and (calib == RANDOM or Path(calib).is_dir()):
        what = "random calibration" if calib == RANDOM else "images"
        raise InputDataError(f"the model takes {shown}, with open dims; {what} cannot choose them: pass "
                             "--calib DATA.npz with samples of the sizes you will run")
    if calib == RANDOM:
        return np.random.default_rng(seed).uniform(-1, 1, (RANDOM_SAMPLES, *sample_shape)).astype(np.float32)
    path = Path(calib)
    x = load_images(path, sample_shape) if path.is_dir() else load_arrays(path)[0]
    fits = x.ndim == len(sample_shape) + 1 and all(d is None or d < 0 or d == have
                                                   for d, have in zip(sample_shape, x.shape[1:]))
    if not fits:
        raise InputDataError(f"{calib}: samples have shape {tuple(x.shape[1:])}, the model takes {shown}")
    return x.astype(np.float32)


def load_arrays(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(x, y): an .npz gives x and y by name (or its only array as x); an .npy is x alone."""
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False), None
        with np.load(path, allow_pickle=False) as data:
            if "x" in data.files:
                return data["x"], data["y"] if "y" in data.files else None
            if len(data.files) == 1:
                return data[data.files[0]], None
            raise InputDataError(f"{path}: an .npz needs arrays named x (and y for labels); it has {', '.join(data.files)}")
    except (OSError, ValueError, EOFError) as exc:  # EOFError: an empty file
        raise InputDataError(f"{path}: cannot read arrays: {exc or 'the file is empty'}") from None


def load_images(folder: Path, sample_shape: tuple[int, ...]) -> np.ndarray:
    """Images resized to the model's height and width, scaled to [0, 1]."""
    from PIL import Image

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputDataError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
    if len(sample_shape) != 3 or sample_shape[-1] not in (1, 3):
        raise InputDataError(f"{folder}: images need a model input of height x width x 1 or 3, not {sample_shape}")
    height, width, channels = sample_shape
    rows = []
    for file in files:
        with Image.open(file) as image:
            image = image.convert("L" if channels == 1 else "RGB").resize((width, height), Image.BILINEAR)
            rows.append(np.asarray(image, np.float32).reshape(sample_shape) / 255.0)
    return np.stack(rows)
