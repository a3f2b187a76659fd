"""The child process that does all TensorFlow work: `python -m edgeq.quantize.worker JOB.json RESULT.json`.

tflite-runtime fails with bad_alloc once TensorFlow has been imported in the same
process, so the host never imports TensorFlow: it writes a job, runs this module,
and reads the result. One child does a whole job (all modes), because importing
TensorFlow alone costs about 5 s.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgeq import errors
from edgeq.errors import BackendError, EdgeqError


def call(job: dict[str, Any]) -> dict[str, Any]:
    """Run `job` in a fresh child; an EdgeqError raised there is raised here with its class and message."""
    with tempfile.TemporaryDirectory(prefix="edgeq-worker-") as tmp:
        job_file, result_file, log = Path(tmp, "job.json"), Path(tmp, "result.json"), Path(tmp, "log")
        job_file.write_text(json.dumps(job))
        env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
        with log.open("wb") as sink:
            done = subprocess.run([sys.executable, "-m", "edgeq.quantize.worker", str(job_file), str(result_file)],
                                  stdout=sink, stderr=subprocess.STDOUT, env=env)
        if not result_file.exists():
            last = (log.read_text(errors="replace").strip().splitlines() or ["no output"])[-1]
            raise BackendError(f"quantize worker exited {done.returncode}: {last}")
        result = json.loads(result_file.read_text())
    if "error" in result:
        raise getattr(errors, result["kind"], BackendError)(result["error"])
    return result


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

    signature = tf.saved_model.load(source).signatures["serving_default"]
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
    made = []
    for mode in job["modes"]:
        engine = engine_for(kind, mode)
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

        y = tf.saved_model.load(job["source"]).signatures["serving_default"](tf.constant(x))
        y = next(iter(y.values())).numpy()
    np.save(job["out"], np.asarray(y, np.float32))
    return {"out": job["out"]}


def zoo_job(job: dict[str, Any]) -> dict[str, Any]:
    from edgeq.zoo import keras_models

    return {"files": keras_models.build_here(job["name"], Path(job["out"]), **job["params"])}


def advise_layers_job(job: dict[str, Any]) -> dict[str, Any]:
    """Per-layer sensitivity and mixed-precision variants for `edgeq advise` (edgeq/advise/layers.py)."""
    from edgeq.advise import layers

    return layers.layers_job(job)


TASKS = {"quantize": quantize_job, "predict": predict_job, "zoo": zoo_job, "advise-layers": advise_layers_job}


def main(job_file: str, result_file: str) -> None:
    job = json.loads(Path(job_file).read_text())
    try:
        result = TASKS[job["task"]](job)
    except EdgeqError as exc:
        result = {"error": str(exc), "kind": type(exc).__name__}
    except Exception as exc:  # an engine's own failure, reported as one line
        message = " ".join(str(exc).split())[:500]
        result = {"error": f"{job['task']} failed: {type(exc).__name__}: {message}", "kind": "BackendError"}
    Path(result_file).write_text(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:3])
