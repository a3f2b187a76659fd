"""ai-edge-quantizer, for float .tflite sources. Needs no TensorFlow, but runs in the worker like the rest."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeq.errors import ConfigError
from edgeq.quantize.engines import EngineJob, register

# mode -> name of ai-edge-quantizer's recipe function
RECIPES = {
    "int8-weights": "weight_only_wi8_afp32",
    "int4-weights": "weight_only_wi4_afp32",
    "dynamic": "dynamic_wi8_afp32",
    "dynamic-int4": "dynamic_wi4_afp32",
    "int8": "static_wi8_ai8",
    "int16x8": "static_wi8_ai16",
}


FP16 = "fp16"
"""Weights stored as float16 with DEQUANTIZE before their ops, as TensorFlow's fp16 post-training
quantization makes them: ai-edge-quantizer's FLOAT_CASTING of weights to 16 bits (it has no recipe
function for it)."""


def _recipe(mode: str) -> Any:
    from ai_edge_quantizer import recipe, recipe_manager

    if mode != FP16:
        return getattr(recipe, RECIPES[mode])()
    manager = recipe_manager.RecipeManager()
    manager.add_weight_only_config(regex=".*", operation_name=recipe.TFLOperationName.ALL_SUPPORTED, num_bits=16,
                                   algorithm_key=recipe.AlgorithmName.FLOAT_CASTING)
    return manager.get_quantization_recipe()


def quantize_buffer(model: bytes, mode: str, calib: np.ndarray | None, per_tensor_dense: bool) -> bytes:
    """Quantize a float model held in memory; export_model would refuse an existing file."""
    from ai_edge_quantizer import quantizer, recipe

    q = quantizer.Quantizer(bytearray(model), _recipe(mode))
    if per_tensor_dense and mode in ("dynamic", "dynamic-int4"):
        # Per-channel FullyConnected weights give wrong answers in tflite-runtime 2.14.
        q.add_dynamic_config(regex=".*", operation_name=recipe.TFLOperationName.FULLY_CONNECTED,
                             num_bits=4 if mode == "dynamic-int4" else 8,
                             granularity=recipe.QuantGranularity.TENSORWISE)
    calibration = q.calibrate(_calibration_data(model, calib)) if q.need_calibration else None
    result = q.quantize(calibration, enable_progress_report=False)
    return with_legacy_op_codes(bytes(result.quantized_model))


def with_legacy_op_codes(model: bytes) -> bytes:
    """The model with every op code below 127 also in the flatbuffer's old `deprecated_builtin_code` field.

    ai-edge-quantizer 0.10 writes the QUANTIZE/DEQUANTIZE op codes it adds only in the new
    `builtin_code` field; the old one stays 0, which is ADD, and ArmNN 20.08's TfLite parser reads
    the old one ("Failed to parse operator #5 ... ParseAdd"). TensorFlow's converter fills both, as
    the schema asks; this does the same. A model that needs nothing is returned as it is.
    """
    from ai_edge_litert import schema_py_generated as schema
    import flatbuffers

    flat = schema.ModelT.InitFromPackedBuf(model, 0)
    missing = [c for c in flat.operatorCodes or [] if c.deprecatedBuiltinCode == 0 and 0 < c.builtinCode < 127]
    if not missing or any((b.offset or 0) > 1 for b in flat.buffers or []):
        return model  # weights stored after the flatbuffer (models over 2 GB) would not survive a repack
    for code in missing:
        code.deprecatedBuiltinCode = code.builtinCode
    builder = flatbuffers.Builder(len(model) + 1024)
    builder.Finish(flat.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _calibration_data(model: bytes, calib: np.ndarray | None) -> dict[str, list[dict[str, np.ndarray]]]:
    """ai-edge-quantizer keys calibration samples by signature and by the signature's input name."""
    if calib is None:
        raise ConfigError("static quantization needs calibration data")
    from ai_edge_litert.interpreter import Interpreter

    signatures: dict[str, Any] = Interpreter(model_content=model).get_signature_list()
    if len(signatures) != 1:
        raise ConfigError(f"the model has {len(signatures)} signatures; edgeq calibrates models with exactly one")
    (key, spec), = signatures.items()
    if len(spec["inputs"]) != 1:
        raise ConfigError("edgeq calibrates models with one input only")
    name = spec["inputs"][0]
    return {key: [{name: row[None].astype(np.float32)} for row in calib]}


@register("ai-edge-quantizer", sources=("tflite",), modes=("fp32", FP16, *RECIPES), package="ai-edge-quantizer")
def quantize_tflite(job: EngineJob) -> bytes:
    """fp32 from a float .tflite is the source itself: a baseline row for the analysis."""
    if job.io != "float":
        raise ConfigError(f"io '{job.io}' needs a Keras or SavedModel source; ai-edge-quantizer keeps float inputs")
    model = job.source.read_bytes()
    if job.mode == "fp32":
        return model
    return quantize_buffer(model, job.mode, job.calib, job.per_tensor_dense)
