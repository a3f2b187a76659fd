"""TensorFlow's TFLite converter, for Keras and SavedModel sources. Runs only in the worker child."""

from __future__ import annotations

import functools
import json
import zipfile
from typing import Any

import numpy as np

from edgeq.quantize import aiq
from edgeq.quantize.engines import EngineJob, register


def keras_3_file(path: str) -> bool:
    """A `.keras` or `.h5` file written by Keras 3 (`tf.keras` since TensorFlow 2.16), not by tf_keras
    (Keras 2): a .keras file's metadata.json says which, an .h5's keras_version attribute. A file that
    does not say is taken as tf_keras's."""
    try:
        if path.endswith(".h5"):
            import h5py

            with h5py.File(path, "r") as h5:
                version = h5.attrs.get("keras_version", b"")
            version = version.decode() if isinstance(version, bytes) else str(version)
        else:
            with zipfile.ZipFile(path) as archive:
                version = str(json.loads(archive.read("metadata.json")).get("keras_version", ""))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return False
    return version.startswith("3.")


@functools.lru_cache(maxsize=2)
def load_keras(path: str) -> Any:
    """Load with tf_keras (the worker sets TF_USE_LEGACY_KERAS=1, which tfmot needs too), or with
    Keras 3 when Keras 3 saved the file: tf_keras cannot rebuild Keras 3's classes."""
    if keras_3_file(path):
        import keras

        return keras.saving.load_model(path, compile=False)
    import tf_keras

    return tf_keras.models.load_model(path, compile=False)


def _batch_of_one(model: Any) -> Any:
    """A converter for `model` traced with batch size 1.

    from_keras_model keeps Keras's dynamic batch (-1 in shape_signature), and LiteRT's GPU
    accelerator refuses dynamic shapes ("only supports static-sized tensors"); boards run
    one input at a time anyway.
    """
    import tensorflow as tf

    # Named as the Keras inputs are, so that the .tflite's signature says `image`, not the lambda's `xs_0`.
    specs = [tf.TensorSpec([1, *tensor.shape[1:]], tensor.dtype, name=str(tensor.name).partition(":")[0])
             for tensor in model.inputs]
    call = tf.function(lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False))
    owner = model
    if type(model).__module__.startswith("keras."):  # Keras 3: TensorFlow's tracking does not see its variables,
        owner = tf.Module()                          # which then stay READ_VARIABLE ops and fail at invoke
        owner.variables_ = [variable.value for variable in model.variables]
    return tf.lite.TFLiteConverter.from_concrete_functions([call.get_concrete_function(*specs)], owner)


def converter_for(job: EngineJob, model: Any = None) -> Any:
    import tensorflow as tf

    if model is not None:
        return _batch_of_one(model)
    if job.kind == "savedmodel":
        return tf.lite.TFLiteConverter.from_saved_model(str(job.source))
    return _batch_of_one(load_keras(str(job.source)))


def representative(calib: np.ndarray) -> Any:
    def batches() -> Any:
        for row in calib:
            yield [row[None].astype(np.float32)]
    return batches


def set_integer_io(converter: Any, io: str) -> None:
    import tensorflow as tf

    if io != "float":
        kind = {"int8": tf.int8, "uint8": tf.uint8}[io]
        converter.inference_input_type = kind
        converter.inference_output_type = kind


@register("tf-converter", sources=("keras", "savedmodel"),
          modes=("fp32", "fp16", "dynamic", "int8", "int16x8", "int4-weights"), package="tensorflow")
def convert(job: EngineJob, model: Any = None) -> bytes:
    """int4-weights: the converter has no int4, so its fp32 model goes through ai-edge-quantizer."""
    import tensorflow as tf

    converter = converter_for(job, model)
    # Dense layers per tensor: pyarmnn 20.08 rejects per-channel FullyConnected weights.
    converter._experimental_disable_per_channel_quantization_for_dense_layers = job.per_tensor_dense
    if job.mode == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif job.mode == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif job.mode in ("int8", "int16x8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative(job.calib)
        ops = tf.lite.OpsSet
        converter.target_spec.supported_ops = (
            [ops.TFLITE_BUILTINS_INT8] if job.mode == "int8"
            else [ops.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8])
        if job.mode == "int8":
            set_integer_io(converter, job.io)
    data = bytes(converter.convert())
    if job.mode == "int4-weights":
        return aiq.quantize_buffer(data, "int4-weights", None, job.per_tensor_dense)
    return data
