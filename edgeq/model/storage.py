"""How a model stores its weights, and the quantization type that follows from it.

The type is judged per weighted op (convolutions, fully connected, ...) from two facts
the flatbuffer holds: the type of the activation it reads and where its weights come
from (a constant, or a DEQUANTIZE of fp16/int8 constants). One kind for every such op
names the model (fp32, fp16, dynamic, int8, int16x8, int4-weights, int8-weights); two
or more make it `mixed`. The names are `edgeq quantize --mode`'s, so a model labelled
from its content and one labelled by its sidecar land in the same report row.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

WEIGHTED_OPS = frozenset({
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "CONV_3D", "CONV_3D_TRANSPOSE",
    "BATCH_MATMUL", "EMBEDDING_LOOKUP", "UNIDIRECTIONAL_SEQUENCE_LSTM", "LSTM",
})
# TensorType numbers of the schema used below.
_F32, _F16, _I32, _U8, _I64, _I16, _I8, _I4 = 0, 1, 2, 3, 4, 7, 9, 17
TF_MIN_QUANTIZED_ELEMENTS = 1024
"""TensorFlow's converter leaves weights with fewer elements in float (min_elements_for_weights)."""

_KIND_TYPE = {"f32": "fp32", "f16": "fp16", "dyn": "dynamic", "w8": "int8-weights", "i8": "int8",
              "u8": "uint8", "i16": "int16x8", "w4": "int4-weights", "i4": "int4-weights"}


@dataclass(frozen=True)
class Stored:
    weights: dict[str, dict[str, int]]
    layers: dict[str, int]
    quantization: str
    from_dequantize: tuple[str, ...]
    weight_bytes: int
    after_flatbuffer: bool


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")


def _buffer_bytes(buffer: Any) -> int:
    if buffer is None:
        return 0
    if buffer.offset and buffer.offset > 1:  # stored after the flatbuffer (models over 2 GB, or asked for)
        return int(buffer.size)
    return len(buffer.data) if buffer.data is not None else 0


def _storage_kind(tensor: Any, feeds_dequantize: bool) -> str:
    scales = tensor.quantization.scale if tensor.quantization is not None else None
    count = len(scales) if scales is not None else 0
    names = {_F32: "fp32", _F16: "fp16", _I8: "int8", _U8: "uint8", _I16: "int16", _I4: "int4",
             _I32: "int32", _I64: "int64"}
    name = names.get(tensor.type, f"type {tensor.type}")
    if count > 1:
        name += " per-channel"
    elif count == 1:
        name += " per-tensor"
    return name + (" via DEQUANTIZE" if feeds_dequantize else "")


def _layer_kind(input_type: int, weight_type: int | None, dequantized_from: int | None) -> str:
    if input_type == _I16:
        return "i16"
    if input_type in (_I8, _U8):
        return "i4" if weight_type == _I4 else ("u8" if input_type == _U8 else "i8")
    if dequantized_from == _F16:
        return "f16"
    if dequantized_from in (_I8, _U8):
        return "w8"
    if dequantized_from == _I4 or weight_type == _I4:
        return "w4"
    if weight_type in (_I8, _U8):
        return "dyn"
    return "f32"


def read(model: Any, data: bytes, op_names: tuple[str, ...]) -> Stored:
    """Weight storage, layer kinds and the quantization type of a parsed model."""
    buffers = model.buffers or []
    weights: dict[str, dict[str, int]] = {}
    layers: Counter[str] = Counter()
    from_dequantize: list[str] = []
    total = 0
    after = any(b.offset and b.offset > 1 for b in buffers)
    activation_types: set[int] = set()
    small_float = 0  # float layers whose weights are too small for TensorFlow's dynamic range to quantize
    for graph in model.subgraphs:
        tensors = graph.tensors or []
        ops = graph.operators or []
        dequantized = {}  # tensor produced by DEQUANTIZE -> the constant's type
        for op in ops:
            if op_names[op.opcodeIndex] == "DEQUANTIZE" and op.inputs is not None and len(op.inputs):
                source = tensors[op.inputs[0]]
                if _buffer_bytes(buffers[source.buffer] if source.buffer < len(buffers) else None):
                    for out in op.outputs if op.outputs is not None else []:
                        dequantized[int(out)] = source.type
        feeding = {int(op.inputs[0]) for op in ops if op_names[op.opcodeIndex] == "DEQUANTIZE"
                   and op.inputs is not None and len(op.inputs)}
        for index, tensor in enumerate(tensors):
            size = _buffer_bytes(buffers[tensor.buffer]) if 0 < tensor.buffer < len(buffers) else 0
            if size:
                kind = _storage_kind(tensor, index in feeding)
                entry = weights.setdefault(kind, {"tensors": 0, "bytes": 0})
                entry["tensors"] += 1
                entry["bytes"] += size
                total += size
        for op in ops:  # what the ops compute in: quantized outputs say int8/int16, float ones fp32/fp16
            for out in (op.outputs if op.outputs is not None else []):
                tensor = tensors[out] if 0 <= out < len(tensors) else None
                quantized = tensor is not None and tensor.quantization is not None and \
                    tensor.quantization.scale is not None and len(tensor.quantization.scale) > 0
                if tensor is not None and (quantized or tensor.type in (_F32, _F16)):
                    activation_types.add(tensor.type)
        for op in ops:
            name = op_names[op.opcodeIndex]
            inputs = [int(i) for i in (op.inputs if op.inputs is not None else [])]
            if name not in WEIGHTED_OPS or len(inputs) < 2 or inputs[0] < 0 or inputs[1] < 0:
                continue
            weight = tensors[inputs[1]]
            constant = 0 < weight.buffer < len(buffers) and _buffer_bytes(buffers[weight.buffer]) > 0
            source = dequantized.get(inputs[1])
            if not constant and source is not None:
                from_dequantize.append(name if op.outputs is None or not len(op.outputs) else
                                       f"{name} {_text(tensors[op.outputs[0]].name)}")
            if not constant and source is None:
                continue  # weights computed at run time (a matmul of two activations): no storage to judge
            kind = _layer_kind(tensors[inputs[0]].type, weight.type if constant else None, source)
            layers[kind] += 1
            if kind == "f32" and constant and math.prod(int(d) for d in (weight.shape if weight.shape is not None else [])) < \
                    TF_MIN_QUANTIZED_ELEMENTS:
                small_float += 1
    return Stored(weights, dict(layers), quantization_type(layers, activation_types, small_float), tuple(from_dequantize),
                  total, bool(after))


def quantization_type(layers: Counter[str] | dict[str, int], activation_types: set[int], small_float: int = 0) -> str:
    """small_float: how many of the float layers have fewer weights than TF_MIN_QUANTIZED_ELEMENTS; when they are
    all the float layers beside dynamic ones, the model is what TensorFlow's dynamic range makes: `dynamic`."""
    kinds = {_KIND_TYPE[k] for k in layers}
    if kinds == {"dynamic", "fp32"} and layers.get("f32", 0) == small_float:
        return "dynamic"
    if len(kinds) == 1:
        return kinds.pop()
    if kinds:
        return "mixed"
    # No weighted op (a pure elementwise model): the activations say it.
    if _I16 in activation_types:
        return "int16x8"
    if _I8 in activation_types or _U8 in activation_types:
        return "int8"
    return "fp16" if _F16 in activation_types else "fp32"
