"""Keras reference models for the quantization pipeline, built in the TensorFlow worker child.

`build_keras` (host) runs `build_here` (child) so the host never imports TensorFlow.
Nothing is downloaded: MobileNetV1 gets deterministic weights, digits-cnn trains on
scikit-learn's bundled digits, which is real data and gives real accuracy numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgeq.extras import require
from edgeq.errors import ConfigError
from edgeq.outpaths import make_folder
from edgeq.zoo.models import MOBILENET_V1_ALPHAS, MOBILENET_V1_RESOLUTIONS, _choice

DIGITS_EVAL_FRACTION = 0.2
DIGITS_EPOCHS = 30


def keras_mobilenet_v1(out: Path, *, alpha: float = 1.0, resolution: int = 224, seed: int = 0) -> dict[str, str]:
    """MobileNetV1 with BatchNorm statistics re-estimated on one batch.

    Without that step the untrained net's activations collapse to about 1e-9 deep
    down, and int8 scales computed from them break.
    """
    import tf_keras

    from edgeq.quantize.worker import step  # the child's live line (imported here: no zoo -> quantize edge at load)

    alpha = _choice(alpha, MOBILENET_V1_ALPHAS, "alpha", float)
    resolution = _choice(resolution, MOBILENET_V1_RESOLUTIONS, "resolution", int)
    tf_keras.utils.set_random_seed(int(seed))
    model = tf_keras.applications.MobileNet(input_shape=(resolution, resolution, 3), alpha=alpha,
                                            weights=None, classes=1000)
    batch = np.random.default_rng(seed).uniform(-1, 1, (8, resolution, resolution, 3)).astype(np.float32)
    norms = [layer for layer in model.layers if isinstance(layer, tf_keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = 0.0  # moving statistics := this batch's statistics
    step(f"setting {len(norms)} batch-norm layers' statistics from a seeded batch")
    model(batch, training=True)
    for layer in norms:
        layer.momentum = 0.99
    step(f"writing {out.name}")
    model.save(out)
    return {"model": str(out)}


def digits_cnn(out: Path, *, seed: int = 0) -> dict[str, str]:
    """A small CNN on the 8x8 digits; also writes `<stem>.train.npz` and `<stem>.eval.npz` (x, y)."""
    import tf_keras
    from sklearn.datasets import load_digits

    from edgeq.quantize.worker import step

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    cut = int(len(x) * (1 - DIGITS_EVAL_FRACTION))
    train, test = order[:cut], order[cut:]
    tf_keras.utils.set_random_seed(int(seed))
    layers = tf_keras.layers
    model = tf_keras.Sequential([
        layers.Input((8, 8, 1)),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=tf_keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    every = max(1, DIGITS_EPOCHS // 5)  # a log gets six lines, not thirty; a terminal redraws one
    epoch_said = tf_keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: (
        step(f"training on {len(train)} digits: epoch {epoch + 1} of {DIGITS_EPOCHS}")
        if epoch == 0 or (epoch + 1) % every == 0 else None))
    model.fit(x[train], y[train], epochs=DIGITS_EPOCHS, batch_size=64, verbose=0, callbacks=[epoch_said])
    step(f"writing {out.name} and its train/eval data")
    model.save(out)
    files = {"model": str(out)}
    for part, rows in (("train", train), ("eval", test)):
        path = out.with_name(f"{out.stem}.{part}.npz")
        np.savez(path, x=x[rows], y=y[rows])
        files[part] = str(path)
    return files


KERAS_MODELS: dict[str, Callable[..., dict[str, str]]] = {
    "keras-mobilenet_v1": keras_mobilenet_v1,
    "digits-cnn": digits_cnn,
}


def build_here(name: str, out: Path, **params: Any) -> dict[str, str]:
    """Runs in the worker child (it imports TensorFlow)."""
    make_folder(out.parent, "out")
    return KERAS_MODELS[name](out, **params)


def keras_modules(name: str) -> tuple[str, ...]:
    """What building Keras zoo model `name` imports (digits-cnn trains on scikit-learn's digits)."""
    return ("tensorflow", "tf_keras", *(("sklearn",) if name == "digits-cnn" else ()))


def zoo_job(job: dict[str, Any]) -> dict[str, Any]:
    """The worker task (edgeq.quantize.worker) that builds a Keras zoo model."""
    return {"files": build_here(job["name"], Path(job["out"]), **job["params"])}


def build_keras(name: str, out: Path, on_step: Callable[[str], None] | None = None,
                **params: Any) -> dict[str, Path]:
    """Build Keras zoo model `name` into `out` (.keras); returns the files written by role (model, train, eval).
    `on_step` is told what the TensorFlow child is doing (training epochs, writing)."""
    from edgeq.quantize import worker

    if name not in KERAS_MODELS:
        raise ConfigError(f"unknown Keras zoo model '{name}'. Choose from: {', '.join(KERAS_MODELS)}")
    out = Path(out)
    if out.suffix not in (".keras", ".h5"):
        raise ConfigError(f"{out}: a Keras zoo model is written as .keras or .h5")
    require(f"zoo model {name}", keras_modules(name))
    result = worker.call({"task": "edgeq.zoo.keras_models:zoo_job", "name": name, "out": str(out.resolve()), "params": params},
                         on_step=on_step)
    return {role: Path(path) for role, path in result["files"].items()}
