"""The quantize stage's work in the TensorFlow child (worker.py runs these): make variants,
and the outputs of a Keras or SavedModel source for the analysis table."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from edgeq import errors
from edgeq.errors import ConfigError


def serving_signature(loaded: Any, source: str) -> Any:
    """The SavedModel's `serving_default`, else its only signature; a choice among several is the user's."""
    signatures = loaded.signatures
    if "serving_default" in signatures:
        return signatures["serving_default"]
    if len(signatures) == 1:
        return next(iter(signatures.values()))
    names = ", ".join(sorted(signatures)) or "none"
    raise ConfigError(f"{source}: a SavedModel with {len(signatures)} signatures ({names}) and no serving_default; "
                      "edgeq calibrates and evaluates models with one: save the one you mean as serving_default")


@functools.lru_cache(maxsize=4)
def input_shape(source: str, kind: str) -> tuple[int, ...]:
    """The model's input shape, batch axis first, from the model itself."""
    if kind == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        (spec,) = Interpreter(model_path=source).get_input_details()
        return tuple(int(d) for d in spec["shape"])
    from edgeq.quantize import tf_converter

    if kind == "keras":
        return tuple(tf_converter.load_keras(source).input_shape)
    import tensorflow as tf

    signature = serving_signature(tf.saved_model.load(source), source)
    (spec,) = signature.structured_input_signature[1].values()
    return tuple(spec.shape)


def quantize_job(job: dict[str, Any]) -> dict[str, Any]:
    from edgeq.quantize import calibration
    from edgeq.quantize.engines import CALIBRATED_MODES, EngineJob, engine_for

    source, kind = Path(job["source"]), job["kind"]
    calib = None
    if job["calib"] and any(m in CALIBRATED_MODES or m == "qat" for m in job["modes"]):
        calib = calibration.load(job["calib"], input_shape(str(source), kind))
    train = None
    if job.get("train"):
        x, y = calibration.load_arrays(Path(job["train"]))
        if y is None:
            raise errors.InputDataError(f"{job['train']}: training data needs labels (an array y)")
        train = (x.astype(np.float32), y)
    from edgeq.quantize.worker import step

    made = []
    for number, mode in enumerate(job["modes"], 1):
        engine = engine_for(kind, mode)
        step(f"{mode} ({number} of {len(job['modes'])}, {engine.name})")
        uses_calib = mode in CALIBRATED_MODES or mode == "qat"
        data = engine.run(EngineJob(source, kind, mode, calib if uses_calib else None, train,
                                    job["io"] if mode in ("int8", "qat") else "float",
                                    job["per_tensor_dense"], job.get("options", {})))
        out = Path(job["out"]) / f"{job['stem']}.{mode}.tflite"
        out.write_bytes(data)
        made.append({"path": str(out), "mode": mode, "engine": engine.name, "engine_version": engine.version(),
                     "calib_sha256": calibration.digest(calib) if uses_calib and calib is not None else None})
    return {"variants": made}


def predict_job(job: dict[str, Any]) -> dict[str, Any]:
    """Outputs of a Keras or SavedModel source, for the analysis's "original model" row."""
    from edgeq.quantize import tf_converter

    x = np.load(job["x"])
    if job["kind"] == "keras":
        y = tf_converter.load_keras(job["source"]).predict(x, batch_size=64, verbose=0)
    else:
        import tensorflow as tf

        y = serving_signature(tf.saved_model.load(job["source"]), job["source"])(tf.constant(x))
        y = next(iter(y.values())).numpy()
    np.save(job["out"], np.asarray(y, np.float32))
    return {"out": job["out"]}
